"""MXNet's hooks for the chapter (:mod:`polyprop.chapter`): ``mx.autograd`` and Gluon's ``rmsprop`` trainer.

The hooks and what they return are listed in :mod:`polyprop.backends.numpy.chapter`.
``ops.mx`` is MXNet itself, imported by the backend after it restored the numpy names MXNet reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def airfoil_model(ops: Any, X_all: Any, y_all: Any) -> tuple[Any, Any]:
    """``mx.autograd.record`` on copies of ``[w, b]`` with ``attach_grad``."""
    mx = ops.mx

    def loss(w: Any, b: Any, X: Any, y: Any) -> Any:
        return mx.nd.mean(mx.nd.square(mx.nd.dot(X, w) + b - y) / 2)

    def gradients(params: list[Any], X: Any, y: Any) -> list[Any]:
        w, b = params[0].copy(), params[1].copy()
        w.attach_grad()
        b.attach_grad()
        with mx.autograd.record():
            value = loss(w, b, X, y)
        value.backward()
        return [w.grad, b.grad]

    return gradients, lambda params: float(loss(params[0], params[1], X_all, y_all).asscalar())


def airfoil_native(
    ops: Any, w0: np.ndarray, b0: np.ndarray, X_all: Any, y_all: Any, lr: float, decay: float
) -> tuple[Any, Any]:
    """``gluon.nn.Dense(1)`` + ``gluon.Trainer(..., 'rmsprop', gamma1=decay)`` on ``L2Loss`` as D2L."""
    mx = ops.mx

    net = mx.gluon.nn.Dense(1, in_units=w0.shape[0])
    net.initialize()
    net.weight.set_data(ops.from_numpy(w0.T))
    net.bias.set_data(ops.from_numpy(b0))
    trainer = mx.gluon.Trainer(net.collect_params(), "rmsprop", {"learning_rate": lr, "gamma1": decay})
    loss = mx.gluon.loss.L2Loss()  # (y_hat - y)^2 / 2

    def train_batch(X: Any, y: Any) -> None:
        with mx.autograd.record():
            value = loss(net(X), y)
        value.backward()
        trainer.step(X.shape[0])

    return train_batch, lambda: float(loss(net(X_all), y_all).mean().asscalar())


def fashion_model(ops: Any) -> tuple[Any, Any]:
    """``mx.autograd.record`` of the mean cross-entropy (``mx.nd.log_softmax``), gradients attached to the params."""
    mx = ops.mx

    def logits(params: Sequence[Any], X: Any) -> Any:
        return mx.nd.broadcast_add(mx.nd.dot(X, params[0]), params[1].reshape((1, -1)))

    def loss_and_grads(params: Sequence[Any], X: Any, Y: Any) -> tuple[float, list[Any]]:
        for p in params:
            p.attach_grad()
        with mx.autograd.record():
            log_p = mx.nd.log_softmax(logits(params, X), axis=1)
            loss = -(Y * log_p).sum(axis=1).mean()
        loss.backward()
        return float(loss.asscalar()), [p.grad for p in params]

    return loss_and_grads, logits
