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
# Drop-in for keras.optimizers.RMSprop (Keras 3), driven by the neutral definition.
# Built on first access of ``polyprop.backends.tensorflow.RMSprop``.


def __getattr__(name: str) -> Any:
    if name == "RMSprop":
        globals()["RMSprop"] = cls = _keras_rmsprop_class()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _keras_rmsprop_class() -> Any:
    import keras

    from ..config import check_learning_rate
    from ..presets import keras as keras_preset
    from ..rmsprop import RMSPropState, step
    from ..selection import get_ops

    class RMSprop(keras.optimizers.RMSprop):
        """``keras.optimizers.RMSprop`` whose update step is :func:`polyprop.step`.

        Same constructor, defaults, variables (``velocity``, ``momentum``,
        ``average_gradient``) and ``get_config``, so it works in ``model.compile()``,
        ``model.fit()`` and custom ``tf.GradientTape`` loops and its variables load
        into the native optimizer and back.  Keras's base class still applies
        loss scaling, gradient accumulation, clipping (``clipnorm``, ``clipvalue``,
        ``global_clipnorm``), decoupled weight decay and EMA, exactly as for the native
        optimizer; the RMSProp update itself is :func:`polyprop.presets.keras`.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # Refuse bad hyperparameters now, with polyprop's messages (rho=1.5 -> "decay must be ...").
            keras_preset(rho=self.rho, momentum=self.momentum, epsilon=self.epsilon, centered=self.centered)
            if isinstance(kwargs.get("learning_rate", args[0] if args else None), (int, float)):
                check_learning_rate(kwargs.get("learning_rate", args[0] if args else None))

        def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
            ops = get_ops(keras.backend.backend())
            lr = keras.ops.cast(learning_rate, variable.dtype)
            gradient = keras.ops.cast(gradient, variable.dtype)
            index = self._get_variable_index(variable)
            config = keras_preset(
                learning_rate=lambda count: lr,
                rho=self.rho,
                momentum=self.momentum,
                epsilon=self.epsilon,
                centered=self.centered,
            )
            velocity = self._velocities[index]
            average = self._average_gradients[index] if self.centered else None
            momentum = self._momentums[index] if self.momentum > 0 else None
            read = keras.ops.convert_to_tensor
            state = RMSPropState(
                count=0,  # Keras's RMSprop uses no step count
                nu=[read(velocity)],
                mu=[read(average)] if average is not None else None,
                momentum=[read(momentum)] if momentum is not None else None,
            )
            (new_value,), new_state = step([read(variable)], [gradient], state, config, ops)
            self.assign(velocity, new_state.nu[0])
            if average is not None:
                self.assign(average, new_state.mu[0])
            if momentum is not None:
                self.assign(momentum, new_state.momentum[0])
            self.assign(variable, new_value)

    RMSprop.__module__ = __name__
    return RMSprop


def save_optimizer(path: Any, optimizer: Any, variables: Any) -> None:
    """Write a Keras RMSprop (native or polyprop's) and its model ``variables`` as a polyprop checkpoint.

    ``velocity``, ``average_gradient`` and ``momentum`` become ``nu``, ``mu`` and
    ``momentum``; the hyperparameters become :func:`polyprop.presets.keras`.
    """
    from ..checkpoint import save
    from ..rmsprop import RMSPropState

    if not optimizer.built:
        optimizer.build(variables)
    config = _keras_config(optimizer)
    index = [optimizer._get_variable_index(v) for v in variables]

    def read(slots: Any) -> list[Any]:
        return [tf.convert_to_tensor(slots[i]) for i in index]

    state = RMSPropState(
        count=int(optimizer.iterations.numpy()),
        nu=read(optimizer._velocities),
        mu=read(optimizer._average_gradients) if optimizer.centered else None,
        momentum=read(optimizer._momentums) if optimizer.momentum > 0 else None,
    )
    save(path, [tf.convert_to_tensor(v) for v in variables], state, config, sys.modules[__name__])


def load_optimizer(path: Any, optimizer: Any, variables: Any) -> None:
    """Load a polyprop checkpoint into Keras ``variables`` and the RMSprop ``optimizer``'s slots."""
    from ..checkpoint import CheckpointError, load

    if not optimizer.built:
        optimizer.build(variables)
    params, state, config = load(path, sys.modules[__name__])
    if config != _keras_config(optimizer):
        raise CheckpointError(f"the checkpoint's config {config} is not this optimizer's {_keras_config(optimizer)}")
    if len(params) != len(variables):
        raise CheckpointError(f"the checkpoint has {len(params)} parameters, the model {len(variables)}")
    for i, (variable, saved) in enumerate(zip(variables, params)):
        if tuple(variable.shape) != tuple(saved.shape) or variable.dtype != saved.dtype.name:
            raise CheckpointError(
                f"variable {i} is {variable.dtype}{tuple(variable.shape)}, the checkpoint's {saved.dtype.name}{tuple(saved.shape)}"
            )
    optimizer.iterations.assign(state.count)
    for i, (variable, saved) in enumerate(zip(variables, params)):
        slot = optimizer._get_variable_index(variable)
        variable.assign(saved)
        optimizer._velocities[slot].assign(state.nu[i])
        if state.mu is not None:
            optimizer._average_gradients[slot].assign(state.mu[i])
        if state.momentum is not None:
            optimizer._momentums[slot].assign(state.momentum[i])


def _keras_config(optimizer: Any) -> Any:
    from ..presets import keras as keras_preset

    return keras_preset(
        learning_rate=float(optimizer.learning_rate.numpy()),
        rho=optimizer.rho,
        momentum=optimizer.momentum,
        epsilon=optimizer.epsilon,
        centered=optimizer.centered,
        weight_decay=optimizer.weight_decay,
    )



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
