"""JAX adapter: ``jax.numpy`` ops, usable eagerly and inside ``jax.jit``.

float64 needs JAX's 64-bit mode (``JAX_ENABLE_X64=1`` or
``jax.config.update("jax_enable_x64", True)``); without it JAX would silently
compute in float32, so asking for float64 raises instead.
"""

from __future__ import annotations

import functools
import sys
import warnings
from typing import Any

import numpy as np

from . import missing_framework

try:
    import jax
    import jax.numpy as jnp
except ImportError as error:  # pragma: no cover - exercised only without jax
    raise missing_framework("jax") from error

NAME = "jax"


def framework_version() -> str:
    return str(jax.__version__)


def zeros_like(x: jax.Array) -> jax.Array:
    return jnp.zeros_like(x)


def full_like(x: jax.Array, value: float) -> jax.Array:
    return jnp.full_like(x, value)


def scalar(value: float, like: jax.Array) -> Any:
    if isinstance(value, float):
        return _constant(value, np.dtype(like.dtype))
    return jnp.asarray(value, dtype=_checked_dtype(like.dtype))  # a traced value under jit


@functools.lru_cache(maxsize=1024)
def _constant(value: float, dtype: np.dtype) -> np.ndarray:
    """A read-only NumPy 0-d array: JAX takes it as a typed constant, eagerly and under jit.

    (A jnp array made while tracing would be a tracer, which must never be cached.)
    """
    constant = np.asarray(value, dtype=_checked_dtype(dtype))
    constant.setflags(write=False)
    return constant


def add(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.add(a, b)


def sub(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.subtract(a, b)


def mul(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.multiply(a, b)


def div(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.divide(a, b)


def sqrt(x: jax.Array) -> jax.Array:
    return jnp.sqrt(x)


def square(x: jax.Array) -> jax.Array:
    """``x * x``; for complex ``x`` optax's ``abs_sq``, ``(conj(x) * x).real``, kept in the dtype of ``x``."""
    if jnp.iscomplexobj(x):
        return (x.conj() * x).real.astype(x.dtype)
    return jnp.square(x)


def cast(x: jax.Array, dtype: str) -> jax.Array:
    target = _checked_dtype(np.dtype(dtype))
    if jnp.iscomplexobj(x) and not np.issubdtype(target, np.complexfloating):
        raise TypeError(
            f"casting {x.dtype} to {target} would drop the imaginary part: complex parameters take no state_dtype"
        )
    return jnp.asarray(x, dtype=target)


def to_numpy(x: jax.Array) -> np.ndarray:
    return np.array(x, copy=True)


def from_numpy(array: np.ndarray) -> jax.Array:
    return jnp.asarray(array, dtype=_checked_dtype(array.dtype))


def memory_spans(xs: list[Any]) -> list[tuple[Any, int, int] | None]:
    """For polyprop.validation.check_memory: ``(device, start, end)`` of each array's device buffer.

    JAX arrays are immutable, but two of them may hold one buffer (``jax.device_put(x)``
    may return ``x``'s), and fast_step donates the parameters and state: PJRT refuses a
    buffer donated twice, or donated and also read.  None for tracers (under ``jax.jit``
    only the same tracer twice is seen) and for arrays over several devices.
    """
    return [_buffer_span(x) for x in xs]


def _buffer_span(x: Any) -> tuple[Any, int, int] | None:
    if isinstance(x, jax.core.Tracer) or not isinstance(x, jax.Array):
        return None
    try:
        start = x.unsafe_buffer_pointer()
        return x.device, start, start + x.nbytes
    except Exception:  # noqa: BLE001 - sharded over devices, deleted (donated) or not on a device
        return None


def _checked_dtype(dtype: np.dtype) -> np.dtype:
    """``dtype``, or a ValueError if JAX would silently narrow it to 32 bits (float64, complex128 ...)."""
    if jax.dtypes.canonicalize_dtype(dtype) != np.dtype(dtype):
        raise ValueError(
            f"JAX is running without 64-bit types, so {np.dtype(dtype).name} would silently "
            "become 32-bit: set JAX_ENABLE_X64=1 before importing jax, or call "
            "jax.config.update('jax_enable_x64', True)"
        )
    return dtype


# --------------------------------------------------------------------------------------
# Drop-ins for optax.rmsprop, optax.scale_by_rms and optax.scale_by_stddev, driven by the
# neutral definition (polyprop.rmsprop).  Hyperparameters may be Python or NumPy numbers,
# 0-d arrays, schedules, or traced values (optax.inject_hyperparams, jax.jit): concrete
# ones are range-checked by RMSPropConfig, traced ones used as they are.


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

    from ..presets import optax as optax_preset

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

    from ..presets import optax as optax_preset

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

    from ..config import is_traced
    from ..rmsprop import RMSPropState, apply_each, hyperparameters, init, run_step

    structure = config
    if momentum_buffer and (is_traced(config.momentum) or not config.momentum > 0):
        structure = config.replace(momentum=MOMENTUM_STAND_IN)
    ops = sys.modules[__name__]
    apply = functools.partial(apply_each, ops, config)

    def init_fn(params: Any) -> RMSPropState:
        leaves, treedef = jax.tree_util.tree_flatten(params)
        flat = init(list(leaves), structure, ops)
        return RMSPropState(
            count=jnp.zeros([], jnp.int32),
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
    compiled = [jax.jit(traced_update)] if static else []
    scheduled = callable(config.learning_rate) or callable(config.decay)

    def update_fn(updates: Any, state: RMSPropState) -> tuple[Any, RMSPropState]:
        if compiled and not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves((updates, state))):
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


def _flatten(tree: Any) -> Any:
    return None if tree is None else list(jax.tree_util.tree_leaves(tree))


def _unflatten(treedef: Any, leaves: Any) -> Any:
    return None if leaves is None else jax.tree_util.tree_unflatten(treedef, list(leaves))


def compile_update(config: Any, update: Any, plain: Any) -> Any:
    """The fast path (polyprop.fast): one ``jax.jit`` over every tensor, parameters and state donated.

    The per-step scalars are traced arguments, so schedules never recompile;
    XLA fuses each tensor's update into one loop and writes it into the donated
    buffers.  Returns the same leaves as the plain path.
    """
    from polyprop.rmsprop import Leaves

    module = sys.modules[__name__]

    def apply_all(xs: list[Any], nus: list[Any], mus: Any, ms: Any, gs: list[Any], hyper: Any) -> Any:
        out = [
            update(
                module, x, g, nus[i], None if mus is None else mus[i], None if ms is None else ms[i], hyper
            )
            for i, (x, g) in enumerate(zip(xs, gs))
        ]
        return Leaves(
            [leaf.x for leaf in out],
            [leaf.nu for leaf in out],
            None if mus is None else [leaf.mu for leaf in out],
            None if ms is None else [leaf.m for leaf in out],
        )

    jitted = jax.jit(apply_all, donate_argnums=(0, 1, 2, 3))

    def apply(gs: list[Any], leaves: Any, hyper: Any) -> Any:
        if not all(isinstance(x, jax.Array) for x in leaves.x):
            return plain(gs, leaves, hyper)
        with warnings.catch_warnings():  # a buffer XLA cannot reuse is copied, with a warning
            warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
            return jitted(leaves.x, leaves.nu, leaves.mu, leaves.m, gs, hyper)

    apply.path = "jax.jit (donated)"  # type: ignore[attr-defined]
    return apply
