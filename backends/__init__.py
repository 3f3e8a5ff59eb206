"""Framework adapters, one module each, imported only when a backend is asked for.

``load("torch")`` imports :mod:`polyprop.backends.torch` (and so PyTorch);
importing this package imports no framework.  Each adapter module defines the
functions named in :data:`polyprop.ops.OPS_NAMES` plus ``NAME`` and
``framework_version()``.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
from types import ModuleType
from typing import Any, NamedTuple

BACKENDS: tuple[str, ...] = ("numpy", "torch", "mxnet", "tensorflow", "jax")
"""Every backend polyprop knows, the embedded default first."""


class Framework(NamedTuple):
    module: str
    """The framework's import name."""
    distributions: tuple[str, ...]
    """Names its pip distribution may carry, for the version lookup."""
    extra: str | None
    """The polyprop extra that installs it (None: always installed)."""


FRAMEWORKS: dict[str, Framework] = {
    "numpy": Framework("numpy", ("numpy",), None),
    "torch": Framework("torch", ("torch",), "torch"),
    "mxnet": Framework("mxnet", ("mxnet", "mxnet-mkl", "mxnet-native"), "mxnet"),
    "tensorflow": Framework("tensorflow", ("tensorflow", "tensorflow-cpu", "tensorflow-intel"), "tensorflow"),
    "jax": Framework("jax", ("jax",), "jax"),
}

_TENSOR_MODULES: dict[str, str] = {
    "numpy": "numpy",
    "torch": "torch",
    "mxnet": "mxnet",
    "tensorflow": "tensorflow",
    "jax": "jax",
    "jaxlib": "jax",
}
"""Top-level module of a tensor's type -> backend name."""


def check_name(name: str, source: str = "backend") -> str:
    """``name`` if it is a known backend, else a ValueError listing the known ones."""
    if name not in FRAMEWORKS:
        raise ValueError(f"unknown {source} {name!r}; known backends: {', '.join(BACKENDS)}")
    return name


def load(name: str) -> Any:
    """The adapter module for ``name``, importing its framework on first use.

    Raises ValueError for an unknown name and ImportError, naming the extra to
    install, when the framework is missing.
    """
    check_name(name)
    module: ModuleType = importlib.import_module(f"{__name__}.{name}")
    return module


def backend_of(tensor: object) -> str | None:
    """The backend whose tensor type ``tensor`` has, or None; imports nothing."""
    return _backend_of_type(type(tensor))


@functools.lru_cache(maxsize=256)
def _backend_of_type(kind: type) -> str | None:
    return _TENSOR_MODULES.get(kind.__module__.partition(".")[0])


def framework_version(name: str) -> str | None:
    """The installed version of ``name``'s framework, or None; imports nothing."""
    framework = FRAMEWORKS[check_name(name)]
    if importlib.util.find_spec(framework.module) is None:
        return None
    for distribution in framework.distributions:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def available_backends() -> dict[str, str | None]:
    """Every known backend mapped to its framework's installed version (None: not installed)."""
    return {name: framework_version(name) for name in BACKENDS}


def missing_framework(name: str) -> ImportError:
    """The ImportError an adapter raises when its framework is not installed."""
    framework = FRAMEWORKS[name]
    return ImportError(
        f"polyprop's {name} backend needs {framework.module}, which is not installed; "
        f"install it with: pip install 'polyprop[{framework.extra}]'"
    )
