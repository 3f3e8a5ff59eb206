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
COMPLEX_DTYPES = ("complex64", "complex128")
COMPLEX_BACKENDS = ("jax",)
"""Backends that take complex parameters, as optax does: their ``square`` is ``|x|^2 = (conj(x) x).real``."""


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


def _describe(name: str, tensor: Any, what: str) -> tuple[tuple[Any, ...], str]:
    """``(shape, dtype name)``, each read once (a framework call on some backends); TypeError if not a tensor."""
    try:
        shape, dtype = tensor.shape, tensor.dtype
    except AttributeError:
        raise TypeError(f"{name} must be {what}, got {type(tensor).__name__}") from None
    try:
        return tuple(shape), _name_of(dtype)
    except TypeError:  # an unhashable dtype object
        return tuple(shape), _name_of.__wrapped__(dtype)


def _check_framework(name: str, tensor: Any, backend: str, suffix: str) -> None:
    framework = _backends.backend_of(tensor)
    if framework is not None and framework != backend:
        raise TypeError(f"{name} is a {framework} tensor ({type(tensor).__qualname__}) but {suffix}")


def check_param(name: str, x: Any, backend: str) -> tuple[tuple[Any, ...], str]:
    """A parameter must be a floating-point tensor of ``backend``'s framework; returns its (shape, dtype).

    Complex parameters are allowed on the backends in COMPLEX_BACKENDS.
    """
    _check_framework(name, x, backend, f"the backend is {backend}")
    shape, dtype = _describe(name, x, "a tensor")
    if dtype in FLOAT_DTYPES or (dtype in COMPLEX_DTYPES and backend in COMPLEX_BACKENDS):
        return shape, dtype
    if dtype in COMPLEX_DTYPES:
        raise TypeError(
            f"{name} has dtype {dtype}: complex parameters are supported on the "
            f"{', '.join(COMPLEX_BACKENDS)} backend only (as optax defines them); the {backend} backend needs "
            f"floating-point parameters ({', '.join(FLOAT_DTYPES)})"
        )
    raise TypeError(
        f"{name} has dtype {dtype}: RMSProp needs floating-point parameters "
        f"({', '.join(FLOAT_DTYPES)}{', or ' + '/'.join(COMPLEX_DTYPES) if backend in COMPLEX_BACKENDS else ''})"
    )


def check_like(
    name: str, value: Any, param_name: str, x: Any, backend: str, dtype: str | None = None,
    described: tuple[tuple[Any, ...], str] | None = None,
) -> None:
    """``value`` (a gradient or state leaf) must match its parameter's shape, dtype and framework.

    ``described`` is the parameter's (shape, dtype) when the caller has it already.
    """
    _check_framework(name, value, backend, f"{param_name} is a {backend} tensor")
    shape, value_dtype = _describe(name, value, "a tensor or None")
    x_shape, x_dtype = described or _describe(param_name, x, "a tensor")
    if shape != x_shape:
        raise ValueError(f"{name} has shape {shape} but {param_name} has shape {x_shape}")
    expected = dtype or x_dtype
    if value_dtype != expected:
        raise TypeError(f"{name} has dtype {value_dtype} but {expected} is needed (the dtype of {param_name})")
