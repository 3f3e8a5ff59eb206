"""NumPy ops: the embedded default and the reference every other backend is tested against."""

from __future__ import annotations

import typing
from typing import Any

import numpy as np

NAME = "numpy"


def framework_version() -> str:
    return np.__version__


def zeros_like(x: np.ndarray) -> np.ndarray:
    return np.zeros_like(x)


def full_like(x: np.ndarray, value: float) -> np.ndarray:
    return np.full_like(x, value)


def scalar(value: float, like: np.ndarray) -> np.ndarray:
    return np.asarray(value, dtype=like.dtype)


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return typing.cast(np.ndarray, np.add(a, b))


def sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return typing.cast(np.ndarray, np.subtract(a, b))


def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return typing.cast(np.ndarray, np.multiply(a, b))


def div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return typing.cast(np.ndarray, np.divide(a, b))


def sqrt(x: np.ndarray) -> np.ndarray:
    return typing.cast(np.ndarray, np.sqrt(x))


def square(x: np.ndarray) -> np.ndarray:
    return typing.cast(np.ndarray, np.square(x))


def cast(x: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "bfloat16":  # NumPy knows bfloat16 through ml_dtypes (it comes with JAX and TensorFlow)
        import ml_dtypes

        return np.asarray(x).astype(ml_dtypes.bfloat16)
    return np.asarray(x).astype(dtype)


def to_numpy(x: np.ndarray) -> np.ndarray:
    return np.array(x, copy=True)


def from_numpy(array: np.ndarray) -> np.ndarray:
    return np.array(array, copy=True)


def memory_spans(xs: list[np.ndarray]) -> list[tuple[int, int, int]]:
    """For polyprop.validation.check_memory: ``(buffer, start, end)``, the bytes each array's elements span.

    An array that owns its memory is its own buffer, ``[0, nbytes)`` (nothing to look up);
    a view is placed in the buffer it was cut from (its ``.base``, through memoryviews)
    by its address (``__array_interface__``).  Arrays that reach one memory through
    unrelated Python objects (two ctypes pointers, say) are not seen.
    """
    return [(id(x), 0, x.nbytes) if x.base is None else _view_span(x) for x in xs]


def _view_span(x: np.ndarray) -> tuple[int, int, int]:
    root: Any = x
    while True:
        below = root.obj if isinstance(root, memoryview) else getattr(root, "base", None)
        if below is None:
            break
        root = below
    lo, hi = _bounds(x)
    if isinstance(root, np.ndarray):  # offsets within the array that owns the memory
        origin = root.__array_interface__["data"][0]
        return id(root), lo - origin, hi - origin
    return id(root), lo, hi  # another object's memory (bytes, mmap): its addresses


def _bounds(x: np.ndarray) -> tuple[int, int]:
    """The addresses of ``x``'s lowest byte and one past its highest (equal if it is empty)."""
    start = x.__array_interface__["data"][0]
    if x.size == 0:
        return start, start
    low = sum((n - 1) * s for n, s in zip(x.shape, x.strides) if s < 0)
    high = sum((n - 1) * s for n, s in zip(x.shape, x.strides) if s > 0)
    return start + low, start + high + x.itemsize


def shares_memory(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` and ``b`` share a byte (exact: interleaved views share none)."""
    return bool(np.shares_memory(a, b))
