"""Keras RMSprop (native or polyprop's) <-> polyprop checkpoint files."""

from __future__ import annotations

from typing import Any

import keras

from ...config import RMSPropConfig
from ...presets import keras as keras_preset
from ...rmsprop import RMSPropState
from ...validation import dtype_name
from .optim import adapter


def save_optimizer(path: Any, optimizer: Any, variables: Any) -> None:
    """Write a Keras RMSprop (native or polyprop's) and its model ``variables`` as a polyprop checkpoint.

    ``velocity``, ``average_gradient`` and ``momentum`` become ``nu``, ``mu`` and
    ``momentum``; the hyperparameters become :func:`polyprop.presets.keras`.
    """
    from ...checkpoint import save

    if not optimizer.built:
        optimizer.build(variables)
    index = [optimizer._get_variable_index(v) for v in variables]
    read = keras.ops.convert_to_tensor

    def slots(variables: Any) -> list[Any]:
        return [read(variables[i]) for i in index]

    state = RMSPropState(
        count=int(keras.ops.convert_to_numpy(optimizer.iterations)),
        nu=slots(optimizer._velocities),
        mu=slots(optimizer._average_gradients) if optimizer.centered else None,
        momentum=slots(optimizer._momentums) if optimizer.momentum > 0 else None,
    )
    save(path, [read(v) for v in variables], state, keras_config(optimizer), adapter())


def load_optimizer(path: Any, optimizer: Any, variables: Any) -> None:
    """Load a polyprop checkpoint into Keras ``variables`` and the RMSprop ``optimizer``'s slots."""
    from ...checkpoint import CheckpointError, load

    if not optimizer.built:
        optimizer.build(variables)
    ops = adapter()
    params, state, config = load(path, ops)
    if config != keras_config(optimizer):
        raise CheckpointError(f"the checkpoint's config {config} is not this optimizer's {keras_config(optimizer)}")
    if len(params) != len(variables):
        raise CheckpointError(f"the checkpoint has {len(params)} parameters, the model {len(variables)}")
    for i, (variable, saved) in enumerate(zip(variables, params)):
        saved_dtype = dtype_name(saved)
        if tuple(variable.shape) != tuple(saved.shape) or variable.dtype != saved_dtype:
            raise CheckpointError(
                f"variable {i} is {variable.dtype}{tuple(variable.shape)}, "
                f"the checkpoint's {saved_dtype}{tuple(saved.shape)}"
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


def keras_config(optimizer: Any) -> RMSPropConfig:
    """:func:`polyprop.presets.keras` with a Keras RMSprop's hyperparameters (its current learning rate)."""
    return keras_preset(
        learning_rate=float(keras.ops.convert_to_numpy(optimizer.learning_rate)),
        rho=optimizer.rho,
        momentum=optimizer.momentum,
        epsilon=optimizer.epsilon,
        centered=optimizer.centered,
        weight_decay=optimizer.weight_decay,
    )
