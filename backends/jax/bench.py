"""JAX's variants for ``benchmarks.step``: ``optax.rmsprop`` under ``jit`` against polyprop's.

The hooks and their arguments are described in :mod:`polyprop.backends.numpy.bench`.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import jax

import polyprop

from .optim import rmsprop


def prepare_train(dtype: str) -> None:
    """float64 runs need JAX's 64-bit types (``jax_enable_x64``)."""
    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)


def variants(xs: list[Any], gs: list[Any], bench: Any) -> list[Any]:
    """optax.rmsprop under jit, then polyprop's optax transformation, polyprop.step (eager, jit) and fast_step."""
    jax.config.update("jax_enable_x64", True)  # float64 cases; float32 arrays stay float32
    import jax.numpy as jnp
    import optax

    LR, DECAY, EPS, Variant = bench.LR, bench.DECAY, bench.EPS, bench.Variant
    warnings.filterwarnings("ignore", message=".*[Dd]onat.*")
    grads = [jnp.array(g) for g in gs]

    def optax_variant(name: str, role: str, tx: Any) -> Any:
        params = [jnp.array(x) for x in xs]
        opt_state = tx.init(params)

        @functools.partial(jax.jit, donate_argnums=(0, 1))
        def update(params: Any, opt_state: Any, grads: Any) -> Any:
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        def run() -> None:
            nonlocal params, opt_state
            params, opt_state = update(params, opt_state, grads)
            jax.block_until_ready(params)

        return Variant(name, role, run)

    config = polyprop.presets.optax(LR, DECAY, EPS)

    def step_variant(name: str, jitted: bool) -> Any:
        params = [jnp.array(x) for x in xs]
        state = polyprop.init(params, config)
        if jitted:
            fn = jax.jit(lambda p, g, s: polyprop.step(p, g, s, config, "jax"), donate_argnums=(0, 2))
        else:
            fn = functools.partial(polyprop.step, config=config)

        def run() -> None:
            nonlocal params, state
            params, state = fn(params, grads, state)
            jax.block_until_ready(params)

        return Variant(name, "polyprop", run)

    return [
        optax_variant("optax.rmsprop jit", "native", optax.rmsprop(LR, DECAY, EPS)),
        optax_variant("polyprop.backends.jax.rmsprop jit", "polyprop", rmsprop(LR, DECAY, EPS)),
        step_variant("polyprop.step eager", jitted=False),
        step_variant("polyprop.step jit (donated)", jitted=True),
        bench.fast_variant(
            "polyprop.fast_step (jit, donated)", config, xs, gs, lambda a: jnp.array(a),
            wait=jax.block_until_ready, versus="optax.rmsprop jit",
        ),
    ]
