"""TensorFlow adapter: eager ``tf`` ops; tf.Variable inputs are read, results are tensors."""

from __future__ import annotations

import functools
import sys
from typing import Any

import numpy as np

from . import missing_framework

try:
    import tensorflow as tf
except ImportError as error:  # pragma: no cover - exercised only without tensorflow
    raise missing_framework("tensorflow") from error

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


# --------------------------------------------------------------------------------------
# Keras 3: the drop-in and its checkpoints live in polyprop.backends.keras (any Keras
# backend); these names stay here for TensorFlow users (the same class and functions).


def __getattr__(name: str) -> Any:
    if name == "RMSprop":  # imported on first use: importing this adapter imports no Keras
        from .keras import RMSprop

        globals()["RMSprop"] = RMSprop
        return RMSprop
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def save_optimizer(path: Any, optimizer: Any, variables: Any) -> None:
    """:func:`polyprop.backends.keras.save_optimizer`: a Keras RMSprop and its ``variables`` as a polyprop checkpoint."""
    from .keras import save_optimizer

    save_optimizer(path, optimizer, variables)


def load_optimizer(path: Any, optimizer: Any, variables: Any) -> None:
    """:func:`polyprop.backends.keras.load_optimizer`: a polyprop checkpoint into Keras ``variables`` and slots."""
    from .keras import load_optimizer

    load_optimizer(path, optimizer, variables)


def _keras_config(optimizer: Any) -> Any:
    from .keras import keras_config

    return keras_config(optimizer)


def compile_update(config: Any, update: Any, plain: Any) -> Any:
    """The fast path (polyprop.fast): ``tf.function(jit_compile=True)`` over every tensor.

    The per-step scalars enter as float64 tensors, so schedules never retrace, and
    XLA fuses each tensor's update into one loop.  When the parameters are
    ``tf.Variable`` s the step assigns them in place, as Keras does, and the state
    leaves become variables too (the returned state holds them); otherwise the
    results are new tensors, as on the plain path.
    """
    from polyprop.rmsprop import Leaves

    module = sys.modules[__name__]

    def updated(xs: list[Any], nus: list[Any], mus: Any, ms: Any, gs: list[Any], hyper: Any) -> list[Any]:
        return [
            update(
                module, tf.convert_to_tensor(x), g, tf.convert_to_tensor(nus[i]),
                None if mus is None else tf.convert_to_tensor(mus[i]),
                None if ms is None else tf.convert_to_tensor(ms[i]),
                hyper,
            )
            for i, (x, g) in enumerate(zip(xs, gs))
        ]

    def new_tensors(xs: list[Any], nus: list[Any], mus: Any, ms: Any, gs: list[Any], hyper: Any) -> Any:
        out = updated(xs, nus, mus, ms, gs, hyper)
        return (
            [leaf.x for leaf in out],
            [leaf.nu for leaf in out],
            None if mus is None else [leaf.mu for leaf in out],
            None if ms is None else [leaf.m for leaf in out],
        )

    def assign(xs: list[Any], nus: list[Any], mus: Any, ms: Any, gs: list[Any], hyper: Any) -> None:
        for i, leaf in enumerate(updated(xs, nus, mus, ms, gs, hyper)):
            xs[i].assign(leaf.x)
            nus[i].assign(leaf.nu)
            if mus is not None:
                mus[i].assign(leaf.mu)
            if ms is not None:
                ms[i].assign(leaf.m)

    compiled = tf.function(new_tensors, jit_compile=True)
    # One compiled function per set of variables, which it captures: a step then passes
    # only the gradients and scalars (a few recent sets are kept, with their variables).
    bound: dict[tuple[int, ...], tuple[list[Any], Any]] = {}

    def assigner(state: Any) -> Any:
        variables = [v for leaves in state if leaves is not None for v in leaves]
        key = tuple(id(v) for v in variables)
        entry = bound.get(key)
        if entry is None or any(a is not b for a, b in zip(entry[0], variables)):
            if len(bound) >= 8:
                bound.pop(next(iter(bound)))
            captured = functools.partial(assign, state.x, state.nu, state.mu, state.m)
            entry = bound[key] = (variables, tf.function(captured, jit_compile=True))
        return entry[1]

    def apply(gs: list[Any], leaves: Any, hyper: Any) -> Any:
        h = type(hyper)(*(None if v is None else _float64(v) for v in hyper))
        if not all(isinstance(x, tf.Variable) for x in leaves.x):
            return Leaves(*compiled(leaves.x, leaves.nu, leaves.mu, leaves.m, gs, h))
        state = Leaves(leaves.x, *(None if s is None else [_variable(t) for t in s] for s in leaves[1:]))
        assigner(state)(gs, h)
        return state

    apply.path = "tf.function(jit_compile=True) (variables assigned in place)"  # type: ignore[attr-defined]
    return apply


def _variable(value: Any) -> tf.Variable:
    """``value`` itself if it is a variable, else a new variable holding it."""
    return value if isinstance(value, tf.Variable) else tf.Variable(value, trainable=False)


def _float64(value: Any) -> tf.Tensor:
    """A scalar as a float64 tensor (a Python float converted directly, never through float32)."""
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return tf.cast(value, tf.float64)
    return tf.constant(float(value), dtype=tf.float64)
