"""Shared fixtures: one parameter per backend, skipped with its reason when not installed.

With POLYPROP_REQUIRE_ALL=1 (set by .ci/run) a missing backend or data set
fails the run instead of being skipped.

Also two NumPy-only fakes the core's tests import: RecordingOps (the NumPy adapter,
counting the ops it is asked for) and Array (a tensor that polyprop reads as jax's).
"""

from __future__ import annotations

import os

# JAX reads this at import: float64 tests need 64-bit types (float32 ones cast explicitly).
os.environ.setdefault("JAX_ENABLE_X64", "1")

import collections
import importlib.util

import numpy as np
import pytest

from polyprop.backends import BACKENDS, FRAMEWORKS, framework_version

REQUIRE_ALL = os.environ.get("POLYPROP_REQUIRE_ALL") == "1"

# torch before TensorFlow: importing them the other way round can crash (ENVIRONMENT.md).
if importlib.util.find_spec("torch") is not None:
    import torch  # noqa: F401


def require_backend(name: str):
    """The adapter module for ``name``; skips (or fails in CI) when it cannot be loaded."""
    from polyprop.backends import load

    if framework_version(name) is None:
        reason = f"{FRAMEWORKS[name].module} is not installed (pip install 'polyprop[{FRAMEWORKS[name].extra}]')"
        if REQUIRE_ALL:
            pytest.fail(f"backend {name} is required (POLYPROP_REQUIRE_ALL=1): {reason}")
        pytest.skip(reason)
    return load(name)


def require_path(path, what: str):
    """``path`` if it exists; else skip (or fail under POLYPROP_REQUIRE_ALL=1) naming ``what``."""
    import pathlib

    path = pathlib.Path(path)
    if not path.exists():
        reason = f"{what} not found at {path}"
        if REQUIRE_ALL:
            pytest.fail(f"{reason} (required: POLYPROP_REQUIRE_ALL=1)")
        pytest.skip(reason)
    return path


class RecordingOps:
    """The NumPy adapter, counting every op it is asked for: shows which adapter ran."""

    def __init__(self):
        from polyprop import get_ops

        self._numpy = get_ops("numpy")
        self.NAME = "numpy"
        self.calls = collections.Counter()

    def __getattr__(self, name):
        op = getattr(self._numpy, name)

        def recorded(*args, **kwargs):
            self.calls[name] += 1
            return op(*args, **kwargs)

        return recorded


class Array:
    """Looks like a jax.Array to polyprop, which reads a tensor's framework from its type's module.

    Its class name is part of the messages the tests expect ("jax (Array)").
    """

    __module__ = "jax._src.array"

    def __init__(self, shape=(2,), dtype="float64"):
        self.shape = shape
        self.dtype = np.dtype(dtype)


@pytest.fixture(autouse=True)
def _fresh_caches_under_mutation():
    """Under ``scripts/mutation`` (POLYPROP_MUTATION=1) each test starts with polyprop's caches empty.

    mutmut forks every mutant's run from a process that already ran the tests once, so its
    cached executors, traced programs and validated signatures would serve the unmutated
    code, and a mutant of what builds them would never run.
    """
    if os.environ.get("POLYPROP_MUTATION") == "1":
        from polyprop import fast, validation

        fast._EXECUTORS.clear()
        validation._VALIDATED.clear()
        validation._name_of.cache_clear()


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Each backend's adapter module in turn."""
    return require_backend(request.param)


@pytest.fixture(params=[b for b in BACKENDS if b != "numpy"])
def other_backend(request):
    """Each backend except the NumPy reference."""
    return require_backend(request.param)


def pytest_terminal_summary(terminalreporter):
    """Print the parity matrix's measured maxima (the figures for the closing note)."""
    import sys

    parity = sys.modules.get("test_parity")
    if parity is None or not parity.MEASURED:
        return
    terminalreporter.section("parity: max relative difference against numpy over all variants")
    for (name, dtype), values in sorted(parity.MEASURED.items()):
        terminalreporter.write_line(f"{name:<11} {dtype}  {max(values):.3g}  ({len(values)} variants)")
