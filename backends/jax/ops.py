"""JAX ops: ``jax.numpy`` ops, usable eagerly and inside ``jax.jit``.

float64 needs JAX's 64-bit mode (``JAX_ENABLE_X64=1`` or
``jax.config.update("jax_enable_x64", True)``); without it JAX would silently
compute in float32, so asking for float64 raises instead.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

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
    except Exception:  # sharded over devices, deleted (donated) or not on a device
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
