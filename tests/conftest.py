"""Shared fixtures: one parameter per backend, skipped with its reason when not installed.

With POLYPROP_REQUIRE_ALL=1 (set by .ci/run) a missing backend or data set
fails the run instead of being skipped.
"""

from __future__ import annotations

import os

# JAX reads this at import: float64 tests need 64-bit types (float32 ones cast explicitly).
os.environ.setdefault("JAX_ENABLE_X64", "1")

import importlib.util  # noqa: E402

import pytest  # noqa: E402

from polyprop.backends import BACKENDS, FRAMEWORKS, framework_version  # noqa: E402

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
