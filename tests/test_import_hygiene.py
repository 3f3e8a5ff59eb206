"""Importing polyprop imports no framework; a backend imports only its own."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conftest import require_backend
from polyprop.backends import BACKENDS, FRAMEWORKS, REGISTRY

FRAMEWORK_MODULES = sorted(
    {module for b in REGISTRY for module in (b.module, *b.tensor_modules, *b.dropin_modules)}
)
"""Every framework module a backend or its drop-in may import (numpy, torch, ..., jaxlib, keras, optax)."""


def _loaded_after(code: str, env: dict[str, str] | None = None) -> list[str]:
    probe = (
        f"import sys\n{code}\nimport json\n"
        f"print(json.dumps(sorted(m for m in {FRAMEWORK_MODULES!r} if m in sys.modules)))"
    )
    return _run_probe(probe, env)[-1]


def _run_probe(probe: str, env: dict[str, str] | None = None) -> list[list[str]]:
    """Each JSON line the probe prints; a failed probe fails with its stderr."""
    environment = {**os.environ, **(env or {})}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=environment)
    assert out.returncode == 0, f"probe failed ({out.returncode}):\n{out.stderr[-4000:]}"
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("[")]


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


@pytest.mark.parametrize("name", [name for name in BACKENDS if name != "numpy"])
def test_loading_one_backend_imports_only_what_its_framework_imports(name):
    """polyprop adds no import of its own: Keras (with TensorFlow) may bring JAX, we may not."""
    require_backend(name)
    framework = FRAMEWORKS[name].module
    loaded = set(_loaded_after(f"import polyprop\npolyprop.get_ops({name!r})"))
    assert framework in loaded
    if name != "mxnet":
        assert loaded <= set(_loaded_after(f"import {framework}")) | {"numpy"}
    else:  # MXNet needs numpy's removed names back first, so it cannot be imported alone
        assert loaded <= {"mxnet", "numpy"}
    out = subprocess.run(
        [sys.executable, "-c", f"import json, sys, polyprop\npolyprop.get_ops({name!r})\n"
         "print(json.dumps(sorted(m for m in sys.modules if m.startswith('polyprop.backends.'))))"],
        capture_output=True, text=True, check=True,
    )
    package = f"polyprop.backends.{name}"
    modules = json.loads(out.stdout)
    assert package in modules
    assert f"{package}.ops" in modules
    assert [m for m in modules if m != package and not m.startswith(f"{package}.")] == []  # no other backend's


def test_missing_framework_gives_importerror_naming_the_extra():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import polyprop\n"
        "try:\n    polyprop.get_ops('torch')\n"
        "except ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'polyprop[torch]'" in out.stdout


KERAS_TRAINING = """
import json, sys
import numpy as np, keras
from {optimizer} import RMSprop

def mark():
    print(json.dumps(sorted(m for m in {frameworks!r} if m in sys.modules)))

model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
model.compile(optimizer=RMSprop(learning_rate=0.01, momentum=0.5, centered=True, weight_decay=0.01), loss="mse")
model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=1, verbose=0)
variable = keras.Variable(np.zeros(3, "float32"))
RMSprop().apply_gradients([(keras.ops.ones((3,)), variable)])
mark()
model.save({path!r})
keras.models.load_model({path!r})
mark()
"""


def test_the_keras_dropin_is_no_tensor_backend():
    """polyprop.backends.keras is a Keras optimizer, not an adapter: not in BACKENDS, never loaded by load()."""
    assert "keras" not in BACKENDS
    assert "keras" not in FRAMEWORKS


@pytest.mark.parametrize("keras_backend", ["jax", "torch"])
def test_keras_dropin_imports_no_tensorflow_under_jax_and_torch(keras_backend, tmp_path):
    """Importing polyprop.backends.keras, fit and apply_gradients load no TensorFlow, nor anything the native does not.

    Saving is another matter: Keras's own saving code imports TensorFlow when it is
    installed (it checks ``tf.available``), with the native optimizer too.
    """
    for module in ("keras", keras_backend):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    env = {"KERAS_BACKEND": keras_backend}

    def loaded(optimizer: str) -> list[list[str]]:
        code = KERAS_TRAINING.format(optimizer=optimizer, frameworks=FRAMEWORK_MODULES, path=str(tmp_path / "m.keras"))
        return _run_probe(code, env)

    (trained, saved), (native_trained, native_saved) = loaded("polyprop.backends.keras"), loaded("keras.optimizers")
    assert "tensorflow" not in trained
    assert keras_backend in trained
    assert trained == native_trained
    assert saved == native_saved
