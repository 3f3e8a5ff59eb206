"""NumPy's hooks for the chapter (:mod:`polyprop.chapter`): the analytic gradients.

Every backend's ``chapter`` module holds the same hooks, found by name
(``polyprop.backends.<name>.chapter``) and imported only when the chapter runs on
that backend; each returns plain functions, which the chapter wraps:

* ``airfoil_model(ops, X_all, y_all)``: ``(gradients, evaluate)`` of the from-scratch
  airfoil run (:class:`polyprop.chapter.airfoil.LinearRegression`);
* ``airfoil_native(ops, w0, b0, X_all, y_all, lr, decay)``: ``(train_batch, evaluate)``
  of the run with the framework's own RMSProp (:class:`polyprop.chapter.airfoil.NativeTrainer`);
  absent where the framework has none, as here;
* ``fashion_model(ops)``: ``(loss_and_grads, logits)`` of Fashion-MNIST's softmax
  regression (:class:`polyprop.chapter.fashion.Model`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np


def airfoil_model(ops: Any, X_all: np.ndarray, y_all: np.ndarray) -> tuple[Any, Any]:
    """The analytic gradient: ``r = X w + b - y``, ``dL/dw = X^T r / m``, ``dL/db = mean(r)``."""

    def gradients(params: list[np.ndarray], X: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        w, b = params
        residual = X @ w + b - y
        return [X.T @ residual / len(y), residual.mean(axis=0)]

    def evaluate(params: list[np.ndarray]) -> float:
        w, b = params
        return float(np.mean(np.square(X_all @ w + b - y_all) / 2))

    return gradients, evaluate


def cross_entropy(logits: np.ndarray, one_hot_labels: np.ndarray) -> float:
    """-mean_i sum_k Y_ik log softmax(z_i)_k, with the stable log-softmax z - max z - log sum exp(z - max z)."""
    return float(-np.mean(np.sum(one_hot_labels * log_softmax(logits), axis=1)))


def log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=1, keepdims=True)
    return cast(np.ndarray, shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True)))


def fashion_model(ops: Any) -> tuple[Any, Any]:
    """The analytic gradient: with P = softmax(XW + b), dZ = (P - Y) / n, dW = X^T dZ, db = sum_i dZ_i."""

    def logits(params: Sequence[np.ndarray], X: np.ndarray) -> np.ndarray:
        return cast(np.ndarray, X @ params[0] + params[1])

    def loss_and_grads(params: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        log_p = log_softmax(logits(params, X))
        d_z = (np.exp(log_p) - Y) / np.float32(len(X))
        loss = float(-np.mean(np.sum(Y * log_p, axis=1)))
        return loss, [X.T @ d_z, d_z.sum(axis=0)]

    return loss_and_grads, logits
