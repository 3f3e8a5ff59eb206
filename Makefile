# Set-up entry point used by README.md and .ci/run.
#   make setup   create .venv/ with polyprop and all five frameworks (pinned in constraints.txt)
#   make test    set up, then run the test suite
#   make trace   set up, then run the chapter's 2-D experiment on every backend
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.polyprop-installed

.PHONY: setup test trace parity clean

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c constraints.txt -e '.[all,test]'
	$(PIP) install -q -c constraints.txt --no-deps mxnet==1.9.1
	touch $@

test: setup
	$(PY) -m pytest

trace: setup
	$(VENV)/bin/polyprop trace --backend all

parity: setup
	$(VENV)/bin/polyprop parity --backend all

clean:
	rm -rf $(VENV) build *.egg-info
