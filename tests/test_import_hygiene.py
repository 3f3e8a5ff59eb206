"""Importing polyprop imports no framework; a backend imports only its own."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import require_backend

FRAMEWORK_MODULES = ["numpy", "torch", "tensorflow", "jax", "jaxlib", "mxnet", "keras", "optax"]


def _loaded_after(code: str) -> list[str]:
    probe = (
        f"import sys\n{code}\nimport json\n"
        f"print(json.dumps(sorted(m for m in {FRAMEWORK_MODULES!r} if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_polyprop_imports_no_framework_not_even_numpy():
    code = "import polyprop, polyprop.backends, polyprop.rmsprop, polyprop.selection, polyprop.config"
    assert _loaded_after(code) == []


def test_configuring_and_listing_backends_imports_nothing():
    code = (
        "import polyprop\n"
        "polyprop.RMSPropConfig(learning_rate=0.1, momentum=0.9)\n"
        "polyprop.available_backends()\n"
        "with polyprop.use_backend('torch'): pass\n"
    )
    assert _loaded_after(code) == []


@pytest.mark.parametrize(
    "name,framework", [("torch", "torch"), ("tensorflow", "tensorflow"), ("jax", "jax"), ("mxnet", None)]
)
def test_loading_one_backend_imports_only_what_its_framework_imports(name, framework):
    """polyprop adds no import of its own: Keras (with TensorFlow) may bring JAX, we may not."""
    require_backend(name)
    loaded = set(_loaded_after(f"import polyprop\npolyprop.get_ops({name!r})"))
    assert name in loaded
    if framework is not None:
        assert loaded <= set(_loaded_after(f"import {framework}")) | {"numpy"}
    else:  # MXNet needs numpy's removed names back first, so it cannot be imported alone
        assert loaded <= {"mxnet", "numpy"}
    out = subprocess.run(
        [sys.executable, "-c", f"import sys, polyprop\npolyprop.get_ops({name!r})\n"
         "print(sorted(m for m in sys.modules if m.startswith('polyprop.backends.')))"],
        capture_output=True, text=True, check=True,
    )
    assert out.stdout.split() == [f"['polyprop.backends.{name}']"]


def test_missing_framework_gives_importerror_naming_the_extra():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import polyprop\n"
        "try:\n    polyprop.get_ops('torch')\n"
        "except ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'polyprop[torch]'" in out.stdout
