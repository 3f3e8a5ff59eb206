"""TensorFlow ops: eager ``tf`` ops; tf.Variable inputs are read, results are tensors."""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

NAME = "tensorflow"


def framework_version() -> str:
    return str(tf.__version__)


def zeros_like(x: tf.Tensor) -> tf.Tensor:
    return tf.zeros_like(x)


def full_like(x: tf.Tensor, value: float) -> tf.Tensor:
    return tf.fill(tf.shape(x), tf.constant(value, dtype=x.dtype))


def scalar(value: float, like: tf.Tensor) -> tf.Tensor:
    if isinstance(value, float) and tf.executing_eagerly():
        return _eager_constant(value, like.dtype)
    if isinstance(value, tf.Tensor):
        return tf.cast(value, like.dtype)  # e.g. a learning-rate variable read in a tf.function
    return tf.constant(np.asarray(value, dtype=like.dtype.as_numpy_dtype))


@functools.lru_cache(maxsize=1024)
def _eager_constant(value: float, dtype: tf.DType) -> tf.Tensor:
    """Eager constants are immutable, so each (value, dtype) is built once.

    (Inside a tf.function a constant belongs to that graph and must not be cached.)
    """
    return tf.constant(np.asarray(value, dtype=dtype.as_numpy_dtype))


def add(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    return tf.add(a, b)


def sub(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    return tf.subtract(a, b)


def mul(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    return tf.multiply(a, b)


def div(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    return tf.divide(a, b)


def sqrt(x: tf.Tensor) -> tf.Tensor:
    return tf.sqrt(x)


def square(x: tf.Tensor) -> tf.Tensor:
    return tf.square(x)


def cast(x: tf.Tensor, dtype: str) -> tf.Tensor:
    return tf.cast(x, tf.dtypes.as_dtype(dtype))


def to_numpy(x: tf.Tensor) -> np.ndarray:
    return np.array(tf.convert_to_tensor(x).numpy(), copy=True)


def from_numpy(array: np.ndarray) -> tf.Tensor:
    return tf.constant(np.array(array, copy=True))
