"""PyTorch's hooks for the chapter (:mod:`polyprop.chapter`): autograd and ``torch.optim.RMSprop``.

The hooks and what they return are listed in :mod:`polyprop.backends.numpy.chapter`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def airfoil_model(ops: Any, X_all: Any, y_all: Any) -> tuple[Any, Any]:
    """``torch.autograd.grad`` of the minibatch loss at detached copies of ``[w, b]``."""

    def loss(w: Any, b: Any, X: Any, y: Any) -> Any:
        return torch.mean(torch.square(X @ w + b - y) / 2)

    def gradients(params: list[Any], X: Any, y: Any) -> list[Any]:
        w, b = (p.detach().requires_grad_() for p in params)
        return list(torch.autograd.grad(loss(w, b, X, y), (w, b)))

    def evaluate(params: list[Any]) -> float:
        with torch.no_grad():
            return float(loss(params[0], params[1], X_all, y_all))

    return gradients, evaluate


def airfoil_native(
    ops: Any, w0: np.ndarray, b0: np.ndarray, X_all: Any, y_all: Any, lr: float, decay: float
) -> tuple[Any, Any]:
    """``nn.Linear`` + ``torch.optim.RMSprop(lr, alpha=decay)``, trained on ``MSELoss`` as D2L."""
    net = torch.nn.Linear(w0.shape[0], 1)
    with torch.no_grad():
        net.weight.copy_(ops.from_numpy(w0.T))
        net.bias.copy_(ops.from_numpy(b0))
    optimizer = torch.optim.RMSprop(net.parameters(), lr=lr, alpha=decay)
    loss = torch.nn.MSELoss(reduction="none")

    def train_batch(X: Any, y: Any) -> None:
        optimizer.zero_grad()
        loss(net(X), y).mean().backward()
        optimizer.step()

    def evaluate() -> float:
        with torch.no_grad():
            return float(loss(net(X_all), y_all).mean()) / 2

    return train_batch, evaluate


def fashion_model(ops: Any) -> tuple[Any, Any]:
    """``torch.autograd.grad`` of the mean cross-entropy (``log_softmax``) at detached copies of the params."""

    def logits(params: Sequence[torch.Tensor], X: torch.Tensor) -> torch.Tensor:
        return X @ params[0] + params[1]

    def loss_and_grads(
        params: Sequence[torch.Tensor], X: torch.Tensor, Y: torch.Tensor
    ) -> tuple[float, list[torch.Tensor]]:
        leaves = [p.detach().requires_grad_(True) for p in params]
        loss = -(Y * torch.log_softmax(logits(leaves, X), dim=1)).sum(dim=1).mean()
        grads = torch.autograd.grad(loss, leaves)
        return float(loss.detach()), list(grads)

    return loss_and_grads, logits
