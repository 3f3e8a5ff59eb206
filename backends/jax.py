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
    return jnp.square(x)


def cast(x: jax.Array, dtype: str) -> jax.Array:
    return jnp.asarray(x, dtype=_checked_dtype(np.dtype(dtype)))


def to_numpy(x: jax.Array) -> np.ndarray:
    return np.array(x, copy=True)


def from_numpy(array: np.ndarray) -> jax.Array:
    return jnp.asarray(array, dtype=_checked_dtype(array.dtype))


def _checked_dtype(dtype: np.dtype) -> np.dtype:
    """``dtype``, or a ValueError if JAX would silently narrow it to 32 bits."""
    if np.dtype(dtype).itemsize == 8 and not jax.config.jax_enable_x64:
        raise ValueError(
            f"JAX is running without 64-bit types, so {np.dtype(dtype).name} would silently "
            "become 32-bit: set JAX_ENABLE_X64=1 before importing jax, or call "
            "jax.config.update('jax_enable_x64', True)"
        )
    return dtype


# --------------------------------------------------------------------------------------
# Drop-in for optax.rmsprop, driven by the neutral definition (polyprop.rmsprop).


def rmsprop(
    learning_rate: Any,
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: float | None = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> Any:
    """``optax.rmsprop`` with the same signature and semantics, as an ``optax.GradientTransformation``.

    ``init`` and ``update`` call :func:`polyprop.init` / :func:`polyprop.step` with
    :func:`polyprop.presets.optax` on the flattened pytree; both are pure and run
    under ``jax.jit``.  ``learning_rate`` may be an optax schedule (a callable of
    the step count).  The state is a :class:`polyprop.RMSPropState` whose tensor
    fields have the parameters' tree structure and whose count is an int32 array.
    """
    import optax

    from ..presets import optax as optax_preset
    from ..rmsprop import RMSPropState, init, step

    config = optax_preset(
        learning_rate, decay, eps, initial_scale, eps_in_sqrt, centered, momentum, nesterov, bias_correction
    )
    ops = sys.modules[__name__]

    def init_fn(params: Any) -> RMSPropState:
        leaves, treedef = jax.tree_util.tree_flatten(params)
        flat = init(list(leaves), config, ops)
        return RMSPropState(
            count=jnp.zeros([], jnp.int32),
            nu=_unflatten(treedef, flat.nu),
            mu=_unflatten(treedef, flat.mu),
            momentum=_unflatten(treedef, flat.momentum),
        )

    def update_fn(updates: Any, state: RMSPropState, params: Any = None) -> tuple[Any, RMSPropState]:
        del params  # optax.rmsprop does not use the parameters either
        grads, treedef = jax.tree_util.tree_flatten(updates)
        flat = RMSPropState(
            count=state.count,
            nu=_flatten(state.nu),
            mu=_flatten(state.mu),
            momentum=_flatten(state.momentum),
        )
        # Stepping from x = 0 gives x_new = 0 - delta = -delta exactly: the update.
        origin = [jnp.zeros_like(g) for g in grads]
        new_updates, new_flat = step(origin, list(grads), flat, config, ops)
        new_state = RMSPropState(
            count=optax.safe_increment(state.count),
            nu=_unflatten(treedef, new_flat.nu),
            mu=_unflatten(treedef, new_flat.mu),
            momentum=_unflatten(treedef, new_flat.momentum),
        )
        return _unflatten(treedef, new_updates), new_state

    return optax.GradientTransformation(init_fn, update_fn)


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
