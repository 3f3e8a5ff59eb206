"""The JAX fast path (polyprop.fast): one ``jax.jit`` of the plain path over every tensor.

The parameters and the state are donated.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax


def compile_update(config: Any, update: Any, plain: Any) -> Any:
    """The fast path (:class:`polyprop.ops.FastPath`): ``plain`` under one ``jax.jit``, the leaves donated.

    The per-step scalars are traced arguments, so schedules never recompile;
    XLA fuses each tensor's update into one loop and writes it into the donated
    buffers (``donate_argnums``: parameters and state, never the gradients).
    Parameters that are not ``jax.Array`` s take the plain path.
    """
    from ...ops import FastUpdate

    jitted = jax.jit(plain, donate_argnums=(1,))

    def apply(gs: list[Any], leaves: Any, hyper: Any) -> Any:
        if not all(isinstance(x, jax.Array) for x in leaves.x):
            return None
        with warnings.catch_warnings():  # a buffer XLA cannot reuse is copied, with a warning
            warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
            return jitted(gs, leaves, hyper)

    return FastUpdate(apply, "jax.jit (donated)")
