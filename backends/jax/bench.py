"""JAX's variants for ``benchmarks.step``: ``optax.rmsprop`` under ``jit`` against polyprop's.

The hooks and their arguments are described in :mod:`polyprop.backends.numpy.bench`.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import jax

import polyprop

from ...containers import Params
from .optim import rmsprop

# JAX's own functions carry no annotations: typed here, so calling them is checked.
_set_config: Callable[[str, Any], None] = jax.config.update
_block_until_ready: Callable[[Any], Any] = jax.block_until_ready


def prepare_train(dtype: str) -> None:
    """float64 runs need JAX's 64-bit types (``jax_enable_x64``)."""
    if dtype == "float64":
        _set_config("jax_enable_x64", True)


def variants(xs: list[Any], gs: list[Any], bench: Any) -> list[Any]:
    """optax.rmsprop under jit, then polyprop's optax transformation, polyprop.step (eager, jit) and fast_step."""
    _set_config("jax_enable_x64", True)  # float64 cases; float32 arrays stay float32
    import jax.numpy as jnp
    import optax

    lr, decay, eps = bench.LR, bench.DECAY, bench.EPS
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
            _block_until_ready(params)

        return bench.Variant(name, role, run)

    config = polyprop.presets.optax(lr, decay, eps)

    def step_variant(name: str, jitted: bool) -> Any:
        params: Params = [jnp.array(x) for x in xs]
        state = polyprop.init(params, config)
        fn: Callable[[Any, Any, Any], Any]
        if jitted:
            fn = jax.jit(lambda p, g, s: polyprop.step(p, g, s, config, "jax"), donate_argnums=(0, 2))
        else:
            fn = functools.partial(polyprop.step, config=config)

        def run() -> None:
            nonlocal params, state
            params, state = fn(params, grads, state)
            _block_until_ready(params)

        return bench.Variant(name, "polyprop", run)

    return [
        optax_variant("optax.rmsprop jit", "native", optax.rmsprop(lr, decay, eps)),
        optax_variant("polyprop.backends.jax.rmsprop jit", "polyprop", rmsprop(lr, decay, eps)),
        step_variant("polyprop.step eager", jitted=False),
        step_variant("polyprop.step jit (donated)", jitted=True),
        bench.fast_variant(
            "polyprop.fast_step (jit, donated)", config, xs, gs, lambda a: jnp.array(a),
            wait=jax.block_until_ready, versus="optax.rmsprop jit",
        ),
    ]
