"""Framework backends, one package each, imported only when a backend is asked for.

:data:`REGISTRY` describes every backend without importing it.  ``load("torch")``
imports :mod:`polyprop.backends.torch` (and so PyTorch); importing this package
imports no framework.  Each backend package re-exports its ``ops`` module (the
functions named in :data:`polyprop.ops.OPS_NAMES`, ``NAME`` and
``framework_version()``), its fast path (``compile_update``, see
:mod:`polyprop.fast`) and its drop-in optimizer and checkpoint converters.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class Backend:
    """One backend, as polyprop knows it before importing anything."""

    name: str
    """The backend's name, and its package: ``polyprop.backends.<name>``."""
    module: str
    """The framework's import name."""
    distributions: tuple[str, ...]
    """Names its pip distribution may carry, for the version lookup."""
    tensor_modules: tuple[str, ...]
    """Top-level modules of its tensors' types (``type(x).__module__``), to infer the backend."""
    extra: str | None
    """The polyprop extra that installs it (None: always installed)."""
    color: str
    """Its colour in the chapter's figures."""
    dropin_modules: tuple[str, ...] = ()
    """Modules its drop-in optimizer imports on first use, besides the framework."""


REGISTRY: tuple[Backend, ...] = (
    Backend("numpy", "numpy", ("numpy",), ("numpy",), None, "#1f77b4"),  # blue
    Backend("torch", "torch", ("torch",), ("torch",), "torch", "#d62728"),  # red
    Backend("mxnet", "mxnet", ("mxnet", "mxnet-mkl", "mxnet-native"), ("mxnet",), "mxnet", "#2ca02c"),  # green
    Backend(
        "tensorflow", "tensorflow", ("tensorflow", "tensorflow-cpu", "tensorflow-intel"), ("tensorflow",),
        "tensorflow", "#ff7f0e", dropin_modules=("keras",),
    ),  # orange
    Backend("jax", "jax", ("jax",), ("jax", "jaxlib"), "jax", "#9467bd", dropin_modules=("optax",)),  # purple
)
"""Every backend polyprop knows, the embedded default first."""

BACKENDS: tuple[str, ...] = tuple(backend.name for backend in REGISTRY)
"""Every backend's name, in :data:`REGISTRY`'s order."""

FRAMEWORKS: dict[str, Backend] = {backend.name: backend for backend in REGISTRY}
"""Backend name -> its :class:`Backend` entry."""

_TENSOR_MODULES: dict[str, str] = {module: backend.name for backend in REGISTRY for module in backend.tensor_modules}
"""Top-level module of a tensor's type -> backend name."""


def check_name(name: str, source: str = "backend") -> str:
    """``name`` if it is a known backend, else a ValueError listing the known ones."""
    if name not in FRAMEWORKS:
        raise ValueError(f"unknown {source} {name!r}; known backends: {', '.join(BACKENDS)}")
    return name


def load(name: str) -> Any:
    """The backend package for ``name`` (it satisfies :class:`polyprop.ops.Ops`), importing its framework on first use.

    Raises ValueError for an unknown name and ImportError, naming the extra to
    install, when the framework is missing.
    """
    check_name(name)
    module: ModuleType = importlib.import_module(f"{__name__}.{name}")
    return module


def backend_of(tensor: object) -> str | None:
    """The backend whose tensor type ``tensor`` has, or None; imports nothing."""
    kind: type = type(tensor)  # (as type[object], mypy finds it unhashable)
    return _backend_of_type(kind)


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
    """The ImportError a backend package raises when its framework is not installed."""
    framework = FRAMEWORKS[name]
    return ImportError(
        f"polyprop's {name} backend needs {framework.module}, which is not installed; "
        f"install it with: pip install 'polyprop[{framework.extra}]'"
    )
