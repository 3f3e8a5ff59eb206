"""NumPy adapter: the embedded default and the reference every other backend is tested against."""

from __future__ import annotations

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
    return np.add(a, b)


def sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.subtract(a, b)


def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.multiply(a, b)


def div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b)


def sqrt(x: np.ndarray) -> np.ndarray:
    return np.sqrt(x)


def square(x: np.ndarray) -> np.ndarray:
    return np.square(x)


def cast(x: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "bfloat16":  # NumPy knows bfloat16 through ml_dtypes (it comes with JAX and TensorFlow)
        import ml_dtypes

        return np.asarray(x).astype(ml_dtypes.bfloat16)
    return np.asarray(x).astype(dtype)


def to_numpy(x: np.ndarray) -> np.ndarray:
    return np.array(x, copy=True)


def from_numpy(array: np.ndarray) -> np.ndarray:
    return np.array(array, copy=True)
