"""MXNet ops: legacy ``mx.nd`` NDArray ops (MXNet 1.9.1, on numpy 2).

Two MXNet quirks are handled here and nowhere else:

* MXNet 1.9.1 reads names that numpy 2 removed (``np.bool``, ``np.PZERO``,
  ``np.alltrue``, ...).  :func:`_restore_numpy_names` puts back only the missing
  ones before ``import mxnet``; it never replaces anything numpy defines.
* Legacy NDArrays of shape ``()`` fail in every operator unless NumPy shape
  semantics are on.  An op given a 0-d tensor runs inside
  ``mx.util.np_shape(True)``, which is restored when the op returns, so no
  global MXNet setting is changed.

Hyperparameter scalars are Python floats already rounded to the tensor's dtype:
MXNet's ``*_scalar`` operators then give the same bits as a 0-d tensor would.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from .. import missing_framework

NAME = "mxnet"

__all__ = [  # the ops, and mx: the other modules take MXNet from here (imported after _restore_numpy_names)
    "NAME", "add", "cast", "div", "framework_version", "from_numpy", "full_like", "memory_spans", "mul", "mx",
    "scalar", "sqrt", "square", "sub", "to_numpy", "zeros_like",
]

_F = TypeVar("_F", bound=Callable[..., Any])


def _restore_numpy_names() -> None:
    """Give numpy 2 back the names MXNet 1.9.1 reads, only where they are missing."""

    def removed(name: str) -> Callable[..., Any]:
        def stub(*args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError(f"numpy.{name} was removed in numpy 2")

        return stub

    def sort_rows(a: Any) -> Any:
        return np.sort(a, axis=0)

    names: dict[str, Any] = {
        "bool": bool, "int": int, "float": float, "complex": complex, "object": object, "str": str,
        "PZERO": 0.0, "NZERO": -0.0, "PINF": math.inf, "NINF": -math.inf,
        "NAN": math.nan, "NaN": math.nan, "Inf": math.inf,
        "alltrue": np.all, "sometrue": np.any, "product": np.prod, "cumproduct": np.cumprod,
        "round_": np.round, "in1d": np.isin, "msort": sort_rows, "trapz": np.trapezoid,
    }
    names.update({name: removed(name) for name in ("mirr", "npv", "pmt", "ppmt", "pv", "rate")})
    with warnings.catch_warnings():
        # numpy 2 warns (FutureWarning/DeprecationWarning) when np.str etc. are probed.
        warnings.simplefilter("ignore")
        for name, value in names.items():
            if not hasattr(np, name):
                setattr(np, name, value)


_restore_numpy_names()
try:
    import mxnet as mx
except ImportError as error:  # pragma: no cover - exercised only without mxnet
    raise missing_framework("mxnet") from error


def _np_shape(op: _F) -> _F:
    """Run ``op`` with NumPy shape semantics when one of its arguments has shape () or no elements.

    (Legacy semantics read a 0 in a shape as "unknown": an empty NDArray fails in every operator.)
    """

    @functools.wraps(op)
    def wrapper(*args: Any) -> Any:
        if any(_needs_np_shape(getattr(arg, "shape", None)) for arg in args):
            with mx.util.np_shape(True):
                return op(*args)
        return op(*args)

    return wrapper  # type: ignore[return-value]


def _needs_np_shape(shape: Any) -> bool:
    """Shape ``()`` or a shape with a 0: legacy NDArray semantics cannot run an operator on it."""
    return shape is not None and (shape == () or 0 in shape)


def framework_version() -> str:
    return str(mx.__version__)


@_np_shape
def zeros_like(x: mx.nd.NDArray) -> mx.nd.NDArray:
    return mx.nd.zeros_like(x)


@_np_shape
def full_like(x: mx.nd.NDArray, value: float) -> mx.nd.NDArray:
    return mx.nd.full(x.shape, scalar(value, x), ctx=x.context, dtype=x.dtype)


def scalar(value: float, like: mx.nd.NDArray) -> float:
    return float(np.asarray(value, dtype=like.dtype))


@_np_shape
def add(a: Any, b: Any) -> mx.nd.NDArray:
    return a + b


@_np_shape
def sub(a: Any, b: Any) -> mx.nd.NDArray:
    return a - b


@_np_shape
def mul(a: Any, b: Any) -> mx.nd.NDArray:
    return a * b


@_np_shape
def div(a: Any, b: Any) -> mx.nd.NDArray:
    return a / b


@_np_shape
def sqrt(x: mx.nd.NDArray) -> mx.nd.NDArray:
    return mx.nd.sqrt(x)


@_np_shape
def square(x: mx.nd.NDArray) -> mx.nd.NDArray:
    return mx.nd.square(x)


@_np_shape
def cast(x: mx.nd.NDArray, dtype: str) -> mx.nd.NDArray:
    if dtype == "bfloat16":
        raise TypeError("MXNet 1.9.1 has no bfloat16 NDArray; use float16, float32 or float64")
    return x.astype(dtype)


@_np_shape
def to_numpy(x: mx.nd.NDArray) -> np.ndarray:
    return np.array(x.asnumpy(), copy=True).reshape(x.shape)


@_np_shape
def from_numpy(array: np.ndarray) -> mx.nd.NDArray:
    if array.dtype.name == "bfloat16":
        raise TypeError("MXNet 1.9.1 has no bfloat16 NDArray; use float16, float32 or float64")
    return mx.nd.array(array, dtype=array.dtype)


def memory_spans(xs: list[Any]) -> list[tuple[Any, int, int] | None]:
    """For polyprop.validation.check_memory: ``(context, start, end)``, the addresses of each NDArray's bytes.

    NDArrays are compact, and slicing (``a[1:3]``) or reshaping gives a view into the same
    memory: the data pointer (``MXNDArrayGetData``) and the size place it.  None for sparse
    storage and for arrays whose pointer MXNet does not give.
    """
    return [_data_span(x) for x in xs]


def _data_span(x: Any) -> tuple[Any, int, int] | None:
    import ctypes

    if not isinstance(x, mx.nd.NDArray) or x.stype != "default":
        return None
    x.wait_to_read()  # the engine may still be allocating or writing it on another thread
    pointer = ctypes.c_void_p()
    if mx.base._LIB.MXNDArrayGetData(x.handle, ctypes.byref(pointer)) != 0 or not pointer.value:
        return None
    start = pointer.value
    return (x.context.device_type, x.context.device_id), start, start + x.size * np.dtype(x.dtype).itemsize
