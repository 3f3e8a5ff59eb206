"""JAX backend: ``jax.numpy`` ops, usable eagerly and inside ``jax.jit``, and the optax drop-ins.

=============== ===================================================================
:mod:`.ops`     the ops (:class:`polyprop.ops.Ops`)
:mod:`.optim`   :func:`rmsprop`, :func:`scale_by_rms`, :func:`scale_by_stddev` (optax's)
:mod:`.fast`    the fast path: one ``jax.jit`` with parameters and state donated
=============== ===================================================================
"""

from __future__ import annotations

from .. import missing_framework

try:
    import jax  # noqa: F401  (first: a missing JAX names the extra that installs it)
except ImportError as error:  # pragma: no cover - exercised only without jax
    raise missing_framework("jax") from error

from .fast import compile_update
from .ops import (
    NAME,
    add,
    cast,
    div,
    framework_version,
    from_numpy,
    full_like,
    memory_spans,
    mul,
    scalar,
    sqrt,
    square,
    sub,
    to_numpy,
    zeros_like,
)
from .optim import MOMENTUM_STAND_IN, rmsprop, scale_by_rms, scale_by_stddev

__all__ = [
    "MOMENTUM_STAND_IN", "NAME", "add", "cast", "compile_update", "div", "framework_version", "from_numpy",
    "full_like", "memory_spans", "mul", "rmsprop", "scalar", "scale_by_rms", "scale_by_stddev", "sqrt",
    "square", "sub", "to_numpy", "zeros_like",
]
