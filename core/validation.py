"""Checks on the tensors a step receives: kind, shape, dtype and framework, by name.

Every framework's tensor has ``.shape`` and ``.dtype``; the dtype's name is read
from its text (``torch.float32``, ``<dtype: 'float32'>``, ``float32``, ...), so
nothing here imports a framework or needs an extra op.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from . import backends as _backends

_DTYPE = re.compile(r"(bfloat16|float16|float32|float64|complex64|complex128|u?int8|u?int16|u?int32|u?int64|bool)")
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


@functools.lru_cache(maxsize=256)
def _name_of(dtype: Any) -> str:
    match = _DTYPE.search(str(dtype)) or _DTYPE.search(getattr(dtype, "__name__", ""))
    return match.group(1) if match else str(dtype)


def dtype_name(tensor: Any) -> str:
    """``"float32"`` and the like, for a tensor of any framework."""
    dtype = tensor.dtype
    try:
        return _name_of(dtype)
    except TypeError:  # an unhashable dtype object
        return _name_of.__wrapped__(dtype)


def shape_of(tensor: Any) -> tuple[Any, ...]:
    """The tensor's shape as a tuple."""
    return tuple(tensor.shape)


def check_param(name: str, x: Any, backend: str) -> None:
    """A parameter must be a floating-point tensor of ``backend``'s framework."""
    framework = _backends.backend_of(x)
    if framework is not None and framework != backend:
        raise TypeError(f"{name} is a {framework} tensor ({type(x).__qualname__}) but the backend is {backend}")
    if not hasattr(x, "dtype") or not hasattr(x, "shape"):
        raise TypeError(f"{name} must be a tensor, got {type(x).__name__}")
    if dtype_name(x) not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} has dtype {dtype_name(x)}: RMSProp needs floating-point parameters "
            f"({', '.join(FLOAT_DTYPES)})"
        )


def check_like(name: str, value: Any, param_name: str, x: Any, backend: str, dtype: str | None = None) -> None:
    """``value`` (a gradient or state leaf) must match its parameter's shape, dtype and framework."""
    framework = _backends.backend_of(value)
    if framework is not None and framework != backend:
        raise TypeError(
            f"{name} is a {framework} tensor ({type(value).__qualname__}) but {param_name} is a {backend} tensor"
        )
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        raise TypeError(f"{name} must be a tensor or None, got {type(value).__name__}")
    if shape_of(value) != shape_of(x):
        raise ValueError(f"{name} has shape {shape_of(value)} but {param_name} has shape {shape_of(x)}")
    expected = dtype or dtype_name(x)
    if dtype_name(value) != expected:
        raise TypeError(f"{name} has dtype {dtype_name(value)} but {expected} is needed (the dtype of {param_name})")
