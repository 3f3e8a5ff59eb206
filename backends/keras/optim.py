"""Drop-in for ``keras.optimizers.RMSprop`` (Keras 3), registered with Keras as ``"polyprop>RMSprop"``."""

from __future__ import annotations

import contextlib
import inspect
import numbers
from typing import Any

import keras

from ...config import RMSPropConfig, check_learning_rate, is_traced
from ...ops import Ops
from ...presets import keras as keras_preset
from ...rmsprop import RMSPropState, step
from ...selection import get_ops

ADAPTERS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "numpy": "numpy"}
"""Keras backend -> the polyprop adapter that runs the update on its tensors."""

_KERAS_NAMES = {"decay": "rho", "eps": "epsilon"}
"""polyprop's names for Keras's hyperparameters, for error messages."""


def adapter() -> Ops:
    """The polyprop ops adapter for the active Keras backend (ValueError for one polyprop cannot run)."""
    name = keras.backend.backend()
    if name not in ADAPTERS:
        raise ValueError(
            f"polyprop's Keras RMSprop runs on the Keras backends {', '.join(ADAPTERS)}; "
            f"the active one (KERAS_BACKEND) is {name!r}"
        )
    return get_ops(ADAPTERS[name])


def _no_grad() -> contextlib.AbstractContextManager[Any]:
    """Under the torch backend, ``torch.no_grad()`` (the update is not part of the graph)."""
    if keras.backend.backend() == "torch":
        import torch  # already imported by Keras's torch backend

        return torch.no_grad()
    return contextlib.nullcontext()


@keras.saving.register_keras_serializable(package="polyprop")
class RMSprop(keras.optimizers.RMSprop):  # type: ignore[misc]
    """``keras.optimizers.RMSprop`` whose update is :func:`polyprop.step` (:func:`polyprop.presets.keras`)::

        v = rho * v + (1 - rho) * g**2;   mg = rho * mg + (1 - rho) * g   (centered; else mg = 0)
        m = momentum * m + lr * g / sqrt(v - mg**2 + eps);   x = x - m   (momentum 0: x -= lr * g / ...)

    Same constructor, defaults, variables (``velocity``, ``momentum``,
    ``average_gradient``) and ``get_config`` as the native, so it works in
    ``model.compile()``/``model.fit()``, custom training loops and
    ``tf.distribute``, and its variables load into the native optimizer and back.
    Keras's base class still applies loss scaling, gradient accumulation,
    clipping, decoupled weight decay and EMA, exactly as for the native.

    Saving: registered as ``"polyprop>RMSprop"``, so ``model.save("m.keras")`` and
    ``keras.models.load_model("m.keras")`` need no ``custom_objects`` once this
    module is imported.  A process that imports only ``keras`` and ``polyprop``
    cannot load such a file (Keras imports no third-party module named in a file:
    ``TypeError: Could not locate class 'RMSprop'``): import
    ``polyprop.backends.keras`` first, or pass
    ``custom_objects={"polyprop>RMSprop": RMSprop}``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._polyprop_check()
        learning_rate = kwargs.get("learning_rate", args[0] if args else None)
        if isinstance(learning_rate, numbers.Real):
            check_learning_rate(learning_rate)

    def _polyprop_check(self) -> RMSPropConfig:
        """polyprop's config for the current hyperparameters; a bad one raises, named as Keras names it."""
        try:
            return keras_preset(rho=self.rho, momentum=self.momentum, epsilon=self.epsilon, centered=self.centered)
        except (TypeError, ValueError) as error:
            name, _, rest = str(error).partition(" ")
            raise type(error)(f"{_KERAS_NAMES.get(name, name)} {rest}") from None

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        """One variable's update (Keras's hook; the TF backend calls it per variable, for tf.distribute)."""
        with _no_grad():
            self._polyprop_update([gradient], [variable], learning_rate)

    def _backend_update_step(self, grads: Any, trainable_variables: Any, learning_rate: Any) -> None:
        """Every variable in one :func:`polyprop.step` (on TF, Keras's per-variable tf.distribute path).

        A variable given twice is refused on every Keras backend (one step would read it
        twice and write it twice).
        """
        _check_distinct(list(trainable_variables))
        if keras.backend.backend() == "tensorflow":
            super()._backend_update_step(grads, trainable_variables, learning_rate)
            return
        with _no_grad():
            self._polyprop_update(list(grads), list(trainable_variables), learning_rate)

    def _polyprop_update(self, grads: list[Any], variables: list[Any], learning_rate: Any) -> None:
        """One :func:`polyprop.step` per variable dtype, with ``lr`` cast to that dtype (as Keras casts it)."""
        groups: dict[str, list[int]] = {}
        for j, variable in enumerate(variables):
            groups.setdefault(keras.backend.standardize_dtype(variable.dtype), []).append(j)
        for dtype, members in groups.items():
            lr = keras.ops.cast(learning_rate, dtype)
            self._polyprop_step(
                [keras.ops.cast(grads[j], dtype) for j in members], [variables[j] for j in members], lr
            )

    def _polyprop_step(self, grads: list[Any], variables: list[Any], lr: Any) -> None:
        read = keras.ops.convert_to_tensor
        config = self._polyprop_check().replace(learning_rate=lambda count: lr)
        index = [self._get_variable_index(v) for v in variables]
        state = RMSPropState(
            count=_concrete_count(self.iterations),  # (Keras's RMSprop uses no step count: for messages only)
            nu=[read(self._velocities[i]) for i in index],
            mu=[read(self._average_gradients[i]) for i in index] if config.centered else None,
            momentum=[read(self._momentums[i]) for i in index] if config.momentum > 0 else None,
        )
        new_xs, new = step([read(v) for v in variables], grads, state, config, adapter())
        for j, i in enumerate(index):
            self.assign(self._velocities[i], new.nu[j])
            if new.mu is not None:
                self.assign(self._average_gradients[i], new.mu[j])
            if new.momentum is not None:
                self.assign(self._momentums[i], new.momentum[j])
            self.assign(variables[j], new_xs[j])


def _concrete_count(iterations: Any) -> int:
    """The optimizer's step count as an int, for error messages; 0 when it is traced (tf.function, jax.jit)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly():  # a tf.function (tf.distribute's replica reads are no SymbolicTensor)
            return 0
    value = keras.ops.convert_to_tensor(iterations)
    return 0 if is_traced(value) else int(keras.ops.convert_to_numpy(value))


def _check_distinct(variables: list[Any]) -> None:
    """Each variable once (ValueError naming both positions and the variable)."""
    ids = [id(v) for v in variables]
    if len(set(ids)) == len(ids):
        return
    from ...validation import SHARED_MEMORY

    first: dict[int, int] = {}
    for j, key in enumerate(ids):
        if key in first:
            raise ValueError(
                f"trainable_variables[{j}] and trainable_variables[{first[key]}] are the same variable "
                f"({getattr(variables[j], 'path', None) or getattr(variables[j], 'name', '?')}) and so share memory: "
                f"{SHARED_MEMORY}"
            )
        first[key] = j


RMSprop.__init__.__signature__ = inspect.signature(keras.optimizers.RMSprop.__init__)  # type: ignore[attr-defined]
RMSprop.__module__ = __package__  # its public name: polyprop.backends.keras.RMSprop (saved models, reprs)
