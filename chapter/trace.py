"""The chapter's 2-D experiment: RMSProp on f(x) = 0.1 x1^2 + 2 x2^2 from (-5, -2).

"Dive into Deep Learning", section "RMSProp" (``rmsprop_2d`` with
``d2l.train_2d``): lr 0.4, decay 0.9, eps 1e-6 (inside the square root), 20
steps; it prints ``epoch 20, x1: -0.010599, x2: 0.000000``.  The gradient is
computed on the backend with the ops interface, so the whole run stays there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ..config import RMSPropConfig
from ..containers import Params
from ..ops import Ops, Tensor
from ..rmsprop import init, step
from ..selection import get_ops

CHAPTER_CONFIG = RMSPropConfig(learning_rate=0.4, decay=0.9, eps=1e-6, eps_in_sqrt=True)
"""The chapter's settings (D2L's ``rmsprop_2d``: eta 0.4, gamma 0.9, eps 1e-6)."""

START = (-5.0, -2.0)
STEPS = 20

Gradient = Callable[[Ops, Tensor, Tensor], "tuple[Tensor, Tensor]"]


def f_2d(x1: Any, x2: Any) -> Any:
    """f(x) = 0.1 x1^2 + 2 x2^2, the chapter's ill-conditioned quadratic."""
    return 0.1 * x1**2 + 2 * x2**2


def grad_2d(ops: Ops, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
    """The gradient of :func:`f_2d`: (0.2 x1, 4 x2), on the backend."""
    return ops.mul(ops.scalar(0.2, x1), x1), ops.mul(ops.scalar(4.0, x2), x2)


def f_rotated(x1: Any, x2: Any) -> Any:
    """f(x) = 0.1 (x1 + x2)^2 + 2 (x1 - x2)^2, the chapter's rotated exercise."""
    return 0.1 * (x1 + x2) ** 2 + 2 * (x1 - x2) ** 2


def grad_rotated(ops: Ops, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
    """The gradient of :func:`f_rotated`: (4.2 x1 - 3.8 x2, 4.2 x2 - 3.8 x1)."""
    a, b = ops.scalar(4.2, x1), ops.scalar(3.8, x1)
    return ops.sub(ops.mul(a, x1), ops.mul(b, x2)), ops.sub(ops.mul(a, x2), ops.mul(b, x1))


class Trace(NamedTuple):
    backend: str
    points: np.ndarray
    """(steps + 1, 2) float64: the start and the point after each step."""

    @property
    def final(self) -> tuple[float, float]:
        return float(self.points[-1, 0]), float(self.points[-1, 1])

    def chapter_line(self) -> str:
        """The line D2L's ``train_2d`` prints after the last step."""
        x1, x2 = self.final
        return f"epoch {len(self.points) - 1}, x1: {x1:f}, x2: {x2:f}"


def trace_2d(
    backend: Ops | str | None = None,
    config: RMSPropConfig = CHAPTER_CONFIG,
    start: tuple[float, float] = START,
    steps: int = STEPS,
    gradient: Gradient = grad_2d,
    dtype: str = "float64",
) -> Trace:
    """Run ``steps`` RMSProp steps on a 2-D function, each coordinate a 0-d tensor."""
    ops = get_ops(backend)
    params: Params = [ops.from_numpy(np.asarray(value, dtype=dtype)) for value in start]
    state = init(params, config, ops)
    points = [[float(ops.to_numpy(x)) for x in params]]
    for _ in range(steps):
        grads = list(gradient(ops, params[0], params[1]))
        params, state = step(params, grads, state, config, ops)
        points.append([float(ops.to_numpy(x)) for x in params])
    return Trace(ops.NAME, np.asarray(points, dtype=np.float64))
