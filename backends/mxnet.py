"""MXNet adapter: legacy ``mx.nd`` NDArray ops (MXNet 1.9.1, on numpy 2).

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
from typing import Any, Callable, TypeVar

import numpy as np

from . import missing_framework

NAME = "mxnet"

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
    """Run ``op`` with NumPy shape semantics when one of its arguments has shape ()."""

    @functools.wraps(op)
    def wrapper(*args: Any) -> Any:
        if any(getattr(arg, "shape", None) == () for arg in args):
            with mx.util.np_shape(True):
                return op(*args)
        return op(*args)

    return wrapper  # type: ignore[return-value]


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
    return x.astype(dtype)


@_np_shape
def to_numpy(x: mx.nd.NDArray) -> np.ndarray:
    return np.array(x.asnumpy(), copy=True).reshape(x.shape)


@_np_shape
def from_numpy(array: np.ndarray) -> mx.nd.NDArray:
    return mx.nd.array(array, dtype=array.dtype)
