"""Drop-ins for optax.rmsprop, optax.scale_by_rms and optax.scale_by_stddev, driven by the neutral definition.

The update is :mod:`polyprop.rmsprop`'s.  Hyperparameters may be Python or NumPy numbers,
0-d arrays, schedules, or traced values (optax.inject_hyperparams, jax.jit): concrete
ones are range-checked by RMSPropConfig, traced ones used as they are.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, cast

import jax
import jax.numpy as jnp


def rmsprop(
    learning_rate: Any,
    decay: Any = 0.9,
    eps: Any = 1e-8,
    initial_scale: Any = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: Any = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> Any:
    """``optax.rmsprop`` with the same signature and semantics, as an ``optax.GradientTransformationExtraArgs``.

    ``init`` and ``update`` call :func:`polyprop.init` / :func:`polyprop.step` with
    :func:`polyprop.presets.optax` on the flattened pytree; both are pure and run
    under ``jax.jit``.  ``update(updates, state, params=None, **extra_args)``
    ignores ``params`` and ``extra_args``, as optax's does.  ``learning_rate`` may be
    an optax schedule (a callable of the step count).  Complex parameters work as
    in optax: ``nu`` accumulates ``|g|^2``.  As in optax, a momentum that is not
    None keeps a momentum buffer (``t = u + momentum * t``), whatever its value.
    The state is a :class:`polyprop.RMSPropState` whose tensor fields have the
    parameters' tree structure and whose count is an int32 array.
    """
    import optax

    from ...presets import optax as optax_preset

    config = optax_preset(
        learning_rate, decay, eps, initial_scale, eps_in_sqrt, centered, momentum, nesterov, bias_correction
    )
    init_fn, update_fn = _transformation(config, momentum is not None, negate=False)

    def update_with_extra_args(updates: Any, state: Any, params: Any = None, **extra_args: Any) -> Any:
        del params, extra_args  # optax.rmsprop uses neither
        return update_fn(updates, state)

    return optax.GradientTransformationExtraArgs(init_fn, update_with_extra_args)


def scale_by_rms(
    decay: Any = 0.9,
    eps: Any = 1e-8,
    initial_scale: Any = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> Any:
    """``optax.scale_by_rms``: ``updates -> g / sqrt(nu + eps)`` (a :func:`polyprop.step` with lr 1, negated)."""
    return _scaling(False, decay, eps, initial_scale, eps_in_sqrt, bias_correction)


def scale_by_stddev(
    decay: Any = 0.9,
    eps: Any = 1e-8,
    initial_scale: Any = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> Any:
    """``optax.scale_by_stddev``: ``updates -> g / sqrt(nu - |mu|^2 + eps)`` (centered, lr 1, negated)."""
    return _scaling(True, decay, eps, initial_scale, eps_in_sqrt, bias_correction)


def _scaling(centered: bool, decay: Any, eps: Any, initial_scale: Any, eps_in_sqrt: bool, bias_correction: bool) -> Any:
    import optax

    from ...presets import optax as optax_preset

    config = optax_preset(1.0, decay, eps, initial_scale, eps_in_sqrt, centered, None, False, bias_correction)
    init_fn, update_fn = _transformation(config, False, negate=True)

    def scale_update(updates: Any, state: Any, params: Any = None) -> Any:
        del params
        return update_fn(updates, state)

    return optax.GradientTransformation(init_fn, scale_update)


MOMENTUM_STAND_IN = 0.5
"""The momentum that fixes the state's structure when the real one is traced or 0.

:func:`polyprop.init` and :func:`polyprop.rmsprop.run_step` keep a momentum
buffer when ``config.momentum > 0``, which a traced value cannot answer; optax
keeps one whenever ``momentum`` is not None.  So init and run_step see this
stand-in, and the update itself (:func:`polyprop.rmsprop.update_leaf`, given the
buffer) the real momentum.
"""


def _transformation(config: Any, momentum_buffer: bool, negate: bool) -> tuple[Any, Any]:
    """``(init, update)`` over pytrees for ``config``; ``negate``: return ``lr * u``, not the step ``-lr * u``."""
    import optax

    from ...config import is_traced
    from ...rmsprop import RMSPropState, apply_each, hyperparameters, init, run_step

    structure = config
    if momentum_buffer and (is_traced(config.momentum) or not config.momentum > 0):
        structure = config.replace(momentum=MOMENTUM_STAND_IN)
    ops = sys.modules[__package__]  # the backend package (the ops load() returns)
    apply = functools.partial(apply_each, ops, config)

    def init_fn(params: Any) -> RMSPropState:
        leaves, treedef = jax.tree_util.tree_flatten(params)
        flat = init(list(leaves), structure, ops)
        return RMSPropState(
            count=cast(int, jnp.zeros([], jnp.int32)),  # (optax's state counts in an int32 array)
            nu=_unflatten(treedef, flat.nu),
            mu=_unflatten(treedef, flat.mu),
            momentum=_unflatten(treedef, flat.momentum),
        )

    def traced_update(updates: Any, state: RMSPropState) -> tuple[Any, RMSPropState]:
        grads, treedef = jax.tree_util.tree_flatten(updates)
        flat = RMSPropState(
            count=state.count,
            nu=_flatten(state.nu),
            mu=_flatten(state.mu),
            momentum=_flatten(state.momentum),
        )
        # Stepping from x = 0 gives x_new = 0 - delta = -delta exactly: the update.
        origin = [jnp.zeros_like(g) for g in grads]
        new_updates, new_flat = run_step(origin, list(grads), flat, structure, ops, apply)
        if negate:
            new_updates = [jnp.negative(u) for u in new_updates]
        new_state = RMSPropState(
            count=optax.safe_increment(state.count),
            nu=_unflatten(treedef, new_flat.nu),
            mu=_unflatten(treedef, new_flat.mu),
            momentum=_unflatten(treedef, new_flat.momentum),
        )
        return _unflatten(treedef, new_updates), new_state

    # Called eagerly, the update runs compiled: one dispatch, not one per op, and a traced
    # count, so bias correction's 1 - decay**t is lax.pow as in optax (which jits it), not
    # the lax.integer_pow a concrete count gives (ulps apart, amplified by the cancellation).
    # Not when a hyperparameter is an array (optax.inject_hyperparams called eagerly builds
    # a new transformation per step: each would compile), nor for a schedule that needs a
    # concrete count (Python control flow on it): those run op by op, as optax's update.
    static = all(
        callable(value) or isinstance(value, float)
        for value in (config.learning_rate, config.decay, config.eps, config.initial_scale, config.momentum)
    )
    compiled: list[Callable[[Any, RMSPropState], tuple[Any, RMSPropState]]] = [jax.jit(traced_update)] if static else []
    scheduled = callable(config.learning_rate) or callable(config.decay)

    def update_fn(updates: Any, state: RMSPropState) -> tuple[Any, RMSPropState]:
        if compiled and not _any_traced((updates, state)):
            if scheduled:  # the compiled step sees the schedule's value traced: check it here, concretely
                hyperparameters(config, int(state.count))
            try:
                return compiled[0](updates, state)
            except _CONCRETE_COUNT_NEEDED:
                compiled.clear()
        return traced_update(updates, state)

    return init_fn, update_fn


_CONCRETE_COUNT_NEEDED = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
    jax.errors.TracerArrayConversionError,
)


def _any_traced(tree: Any) -> bool:
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(tree))


def _flatten(tree: Any) -> Any:
    return None if tree is None else list(jax.tree_util.tree_leaves(tree))


def _unflatten(treedef: Any, leaves: Any) -> Any:
    return None if leaves is None else jax.tree_util.tree_unflatten(treedef, list(leaves))
