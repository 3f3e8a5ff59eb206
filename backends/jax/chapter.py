"""JAX's hooks for the chapter (:mod:`polyprop.chapter`): ``jax.grad`` under ``jit`` and ``optax.rmsprop``.

The hooks and what they return are listed in :mod:`polyprop.backends.numpy.chapter`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def airfoil_model(ops: Any, X_all: Any, y_all: Any) -> tuple[Any, Any]:
    """``jax.grad`` of the minibatch loss, jit-compiled once per run."""

    def loss(params: list[Any], X: Any, y: Any) -> Any:
        w, b = params
        return jnp.mean(jnp.square(X @ w + b - y) / 2)

    grad, mean_loss = jax.jit(jax.grad(loss)), jax.jit(loss)
    return (
        lambda params, X, y: list(grad(list(params), X, y)),
        lambda params: float(mean_loss(list(params), X_all, y_all)),
    )


def airfoil_native(
    ops: Any, w0: np.ndarray, b0: np.ndarray, X_all: Any, y_all: Any, lr: float, decay: float
) -> tuple[Any, Any]:
    """``optax.rmsprop(lr, decay=decay)`` on ``X w + b``, trained on the mean squared error."""
    import optax

    def mse(params: dict[str, Any], X: Any, y: Any) -> Any:
        return jnp.mean(jnp.square(X @ params["w"] + params["b"] - y))

    optimizer = optax.rmsprop(lr, decay=decay)

    @jax.jit
    def update(params: dict[str, Any], opt_state: Any, X: Any, y: Any) -> tuple[Any, Any]:
        updates, opt_state = optimizer.update(jax.grad(mse)(params, X, y), opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    evaluate_mse = jax.jit(mse)
    params = {"w": ops.from_numpy(w0), "b": ops.from_numpy(b0)}
    opt_state = optimizer.init(params)

    def train_batch(X: Any, y: Any) -> None:
        nonlocal params, opt_state
        params, opt_state = update(params, opt_state, X, y)

    return train_batch, lambda: float(evaluate_mse(params, X_all, y_all)) / 2


def fashion_model(ops: Any) -> tuple[Any, Any]:
    """``jax.value_and_grad`` of the mean cross-entropy (``jax.nn.log_softmax``), jit-compiled."""

    def logits(params: Sequence[jax.Array], X: jax.Array) -> jax.Array:
        return X @ params[0] + params[1]

    def loss(params: Sequence[jax.Array], X: jax.Array, Y: jax.Array) -> jax.Array:
        return -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(logits(params, X), axis=1), axis=1))

    value_and_grad = jax.jit(jax.value_and_grad(loss))  # compiled once per batch shape

    def loss_and_grads(params: Sequence[jax.Array], X: jax.Array, Y: jax.Array) -> tuple[float, list[jax.Array]]:
        value, grads = value_and_grad(list(params), X, Y)
        return float(value), list(grads)

    return loss_and_grads, jax.jit(logits)
