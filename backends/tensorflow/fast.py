"""The TensorFlow fast path (polyprop.fast): the plain path under ``tf.function(jit_compile=True)``.

Variables are assigned in place.
"""

from __future__ import annotations

import functools
from typing import Any

import tensorflow as tf


def compile_update(config: Any, update: Any, plain: Any) -> Any:
    """The fast path (:class:`polyprop.ops.FastPath`): ``plain`` under ``tf.function(jit_compile=True)``.

    The per-step scalars enter as float64 tensors, so schedules never retrace, and
    XLA fuses each tensor's update into one loop.  When the parameters are
    ``tf.Variable`` s the step assigns them in place, as Keras does, and the state
    leaves become variables too (the returned state holds them); otherwise the
    results are new tensors, as on the plain path.
    """
    from ...fast import write_back
    from ...ops import FastUpdate
    from ...rmsprop import Leaves

    def updated(xs: list[Any], nus: list[Any], mus: Any, ms: Any, gs: list[Any], hyper: Any) -> Any:
        leaves = (None if ts is None else [tf.convert_to_tensor(t) for t in ts] for ts in (xs, nus, mus, ms))
        return plain(gs, Leaves._make(leaves), hyper)

    def assign(xs: list[Any], nus: list[Any], mus: Any, ms: Any, gs: list[Any], hyper: Any) -> None:
        write_back(Leaves(xs, nus, mus, ms), updated(xs, nus, mus, ms, gs, hyper), _assign)

    compiled = tf.function(updated, jit_compile=True)
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
            captured = functools.partial(assign, state.x, state.nu, state.mu, state.momentum)
            entry = bound[key] = (variables, tf.function(captured, jit_compile=True))
        return entry[1]

    def apply(gs: list[Any], leaves: Any, hyper: Any) -> Any:
        h = type(hyper)(*(None if v is None else _float64(v) for v in hyper))
        if not all(isinstance(x, tf.Variable) for x in leaves.x):
            return Leaves(*compiled(leaves.x, leaves.nu, leaves.mu, leaves.momentum, gs, h))
        variables = [None if s is None else [_variable(t) for t in s] for s in leaves[1:]]
        state = Leaves._make([leaves.x, *variables])
        assigner(state)(gs, h)
        return state

    return FastUpdate(apply, "tf.function(jit_compile=True) (variables assigned in place)")


def _assign(variable: tf.Variable, value: Any) -> None:
    variable.assign(value)


def _variable(value: Any) -> tf.Variable:
    """``value`` itself if it is a variable, else a new variable holding it."""
    return value if isinstance(value, tf.Variable) else tf.Variable(value, trainable=False)


def _float64(value: Any) -> tf.Tensor:
    """A scalar as a float64 tensor (a Python float converted directly, never through float32)."""
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return tf.cast(value, tf.float64)
    return tf.constant(float(value), dtype=tf.float64)
