"""JAX adapter: ``jax.numpy`` ops, usable eagerly and inside ``jax.jit``.

float64 needs JAX's 64-bit mode (``JAX_ENABLE_X64=1`` or
``jax.config.update("jax_enable_x64", True)``); without it JAX would silently
compute in float32, so asking for float64 raises instead.
"""

from __future__ import annotations

import functools

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


def scalar(value: float, like: jax.Array) -> jax.Array:
    if isinstance(value, float):
        return _constant(value, like.dtype)
    return jnp.asarray(value, dtype=_checked_dtype(like.dtype))  # a traced value under jit


@functools.lru_cache(maxsize=1024)
def _constant(value: float, dtype: np.dtype) -> jax.Array:
    """Hyperparameter constants are immutable, so each (value, dtype) is built once."""
    return jnp.asarray(value, dtype=_checked_dtype(dtype))


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
