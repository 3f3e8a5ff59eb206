# Set-up entry point used by README.md and .ci/run.
#   make setup   create .venv/ with polyprop and all five frameworks (pinned in constraints.txt)
#   make test    set up, then lint (ruff), type-check core/ (mypy --strict) and run the tests
#   make chapter set up, then write the chapter report for every backend into $(OUT)
#                (DATA_DIR=folder with airfoil_self_noise.dat; default: download it)
#   make trace   set up, then run the chapter's 2-D experiment on every backend
#   make benchmarks  set up, then regenerate benchmarks/README.md (step and training times)
#   make docs    set up, then build the documentation site into site/ (warnings are errors)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.polyprop-installed
OUT ?= chapter-report
DATA_DIR ?=
FASHION_DIR := /usr/share/datasets/fashion-mnist
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup test docs chapter trace parity benchmarks fashion-mnist compiler clean

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c constraints.txt -e '.[all,test,docs]'
	$(PIP) install -q -c constraints.txt --no-deps mxnet==1.9.1
	touch $@

test: setup fashion-mnist compiler
	$(PY) -m ruff check .
	scripts/typecheck
	$(PY) -m pytest

# the documentation site, into site/ (every warning is an error)
docs: setup
	$(VENV)/bin/mkdocs build --strict

chapter: setup fashion-mnist
	$(VENV)/bin/polyprop chapter --backend all --out $(OUT) $(if $(DATA_DIR),--data-dir $(DATA_DIR))

# benchmarks/README.md and benchmarks/step_time.png, regenerated from a full run (about 25 min)
benchmarks: setup compiler
	$(PY) -m benchmarks.report $(if $(DATA_DIR),--data-dir $(DATA_DIR))

# torch.compile (the torch fast path of polyprop.fast_step) builds C++ with g++.
compiler:
	@command -v g++ >/dev/null || $(SUDO) apt-get install -y -q g++ \
		|| ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q g++)

# Exercise 3's data: Debian's dataset-fashion-mnist (MIT licence). Without it the
# report says that exercise was skipped and why.
fashion-mnist:
	@test -d $(FASHION_DIR) || $(SUDO) apt-get install -y -q dataset-fashion-mnist \
		|| ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q dataset-fashion-mnist) \
		|| echo "dataset-fashion-mnist could not be installed: exercise 3 will be skipped"

trace: setup
	$(VENV)/bin/polyprop trace --backend all

parity: setup
	$(VENV)/bin/polyprop parity --backend all

clean:
	rm -rf $(VENV) build *.egg-info $(OUT) site
