"""Cross-backend parity: the same problem, the same gradients, every backend against NumPy.

A problem is a list of tensors from a scalar to a 4-D tensor and a fixed
sequence of random gradients, all drawn from one NumPy seed.  Each backend runs
every step from the same start; after each step its parameters and every state
leaf are compared with the NumPy reference's.

The difference of a leaf is ``max|a - ref|`` (absolute) and
``max|a - ref| / max|ref|`` (relative, normwise, so a component that crosses
zero does not blow it up).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from .config import RMSPropConfig
from .fast import fast_step
from .ops import Ops
from .rmsprop import Params, RMSPropState, init, step
from .selection import get_ops

SHAPES: tuple[tuple[int, ...], ...] = ((), (1,), (7,), (3, 5), (2, 3, 4), (2, 1, 3, 4))
"""From a scalar to a 4-D tensor, with a broadcast-prone size-1 axis."""

TOLERANCES = {"float64": 1e-12, "float32": 1e-5}
"""Max relative difference allowed against NumPy.

float64: every op is correctly rounded in NumPy; other backends differ by at
most an ulp in a few ops (torch.sqrt on CPU, XLA's fused kernels), about 1e-16
per step, and RMSProp does not amplify them: 200 steps stay near 1e-14.
float32: the same ulp-level differences at 6e-8 each give about 1e-6 after 200
steps; 1e-5 leaves a margin of ten while still catching any change of formula
(the smallest, eps inside versus outside the root, moves parameters by 1e-4 and more).
"""


def _cosine_lr(count: int) -> float:
    return 0.01 * 0.5 * (1 + math.cos(math.pi * min(count, 200) / 200))


def _step_lr(count: int) -> float:
    return 0.02 * 0.5 ** (count // 50)


def _warm_decay(count: int) -> float:
    return min(0.99, 0.5 + 0.01 * count)


VARIANTS: dict[str, RMSPropConfig] = {
    "plain": RMSPropConfig(learning_rate=0.01, decay=0.9, eps=1e-6),
    "eps_outside_sqrt": RMSPropConfig(learning_rate=0.01, decay=0.99, eps=1e-8, eps_in_sqrt=False),
    "initial_scale": RMSPropConfig(learning_rate=0.01, decay=0.9, eps=1e-10, initial_scale=1.0),
    "centered": RMSPropConfig(learning_rate=0.01, decay=0.9, eps=1e-7, centered=True),
    "momentum_lr_inside": RMSPropConfig(learning_rate=0.01, momentum=0.9),
    "momentum_lr_outside": RMSPropConfig(
        learning_rate=0.01, momentum=0.9, lr_inside_momentum=False, eps_in_sqrt=False
    ),
    "nesterov": RMSPropConfig(learning_rate=0.01, momentum=0.8, nesterov=True),
    "nesterov_lr_outside": RMSPropConfig(
        learning_rate=0.01, momentum=0.8, nesterov=True, lr_inside_momentum=False
    ),
    "weight_decay": RMSPropConfig(learning_rate=0.01, weight_decay=0.05),
    "decoupled_weight_decay": RMSPropConfig(
        learning_rate=0.01, weight_decay=0.05, decoupled_weight_decay=True
    ),
    "maximize": RMSPropConfig(learning_rate=0.01, maximize=True, eps=1e-6),
    "bias_correction": RMSPropConfig(learning_rate=0.01, decay=0.95, bias_correction=True),
    "schedules": RMSPropConfig(
        learning_rate=_step_lr, decay=_warm_decay, momentum=0.5, lr_inside_momentum=False
    ),
    "everything": RMSPropConfig(
        learning_rate=_cosine_lr,
        decay=0.95,
        eps=1e-6,
        eps_in_sqrt=False,
        initial_scale=0.1,
        centered=True,
        momentum=0.7,
        nesterov=True,
        weight_decay=0.01,
        maximize=True,
        bias_correction=True,
    ),
    "rounding_order": RMSPropConfig(  # MXNet's centered kernel order; Keras's lr order
        learning_rate=0.01, decay=0.9, centered=True, momentum=0.9, weight_before_square=True, lr_before_divide=True
    ),
}
"""The parity matrix's configurations: every field of RMSPropConfig is exercised."""


class Problem(NamedTuple):
    params: list[np.ndarray]
    grads: list[list[np.ndarray]]
    """One list of gradients per step."""


def random_problem(steps: int, dtype: str = "float64", seed: int = 0) -> Problem:
    """Parameters of :data:`SHAPES` and ``steps`` gradient lists, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]
    grads = [
        [(rng.standard_normal(shape) * rng.uniform(0.1, 3.0)).astype(dtype) for shape in SHAPES]
        for _ in range(steps)
    ]
    return Problem(params, grads)


def state_leaves(state: RMSPropState) -> Iterator[tuple[str, Any]]:
    """``(name, leaves)`` for each tensor field of the state that is present."""
    for name in ("nu", "mu", "momentum"):
        value = getattr(state, name)
        if value is not None:
            yield name, value


def trajectory(
    backend: Ops | str, config: RMSPropConfig, problem: Problem, fast: bool = False
) -> list[dict[str, list[np.ndarray]]]:
    """Every step's parameters and state leaves, as NumPy arrays, on ``backend``.

    ``fast=True`` steps with :func:`polyprop.fast_step` (the backend's fast path).
    """
    ops = get_ops(backend)
    step_fn = fast_step if fast else step
    params: Params = [ops.from_numpy(p) for p in problem.params]
    state = init(params, config, ops)
    snapshots = []
    for grads in problem.grads:
        params, state = step_fn(params, [ops.from_numpy(g) for g in grads], state, config, ops)
        snapshot = {"params": [ops.to_numpy(p) for p in params]}
        for name, leaves in state_leaves(state):
            snapshot[name] = [ops.to_numpy(leaf) for leaf in leaves]
        snapshots.append(snapshot)
    return snapshots


class Difference(NamedTuple):
    max_abs: float
    max_rel: float
    where: str
    """The leaf with the largest relative difference, and the step where it peaks."""


def compare(
    result: list[dict[str, list[np.ndarray]]], reference: list[dict[str, list[np.ndarray]]]
) -> Difference:
    """The largest difference of any leaf over the whole run; shapes and dtypes must match.

    A leaf's relative difference is its largest absolute difference at any step
    divided by its largest magnitude at any step of the reference.
    """
    if len(result) != len(reference):
        raise ValueError(f"{len(result)} steps against {len(reference)} in the reference")
    if reference and result[0].keys() != reference[0].keys():
        raise ValueError(f"leaves {sorted(result[0])} against {sorted(reference[0])}")
    worst = Difference(0.0, 0.0, "")
    for name, ref_leaves in (reference[0].items() if reference else ()):
        for i in range(len(ref_leaves)):
            got = np.stack([snap[name][i] for snap in result])
            ref = np.stack([snap[name][i] for snap in reference])
            if got.shape != ref.shape or got.dtype != ref.dtype:
                raise ValueError(f"{name}[{i}]: {got.dtype}{got.shape[1:]} against {ref.dtype}{ref.shape[1:]}")
            err = np.abs(got.astype(np.float64) - ref).reshape(len(ref), -1).max(axis=1, initial=0.0)
            if not np.all(np.isfinite(err)):
                err = np.where(np.isfinite(err), err, math.inf)
            scale = float(np.max(np.abs(ref), initial=0.0))
            peak = float(err.max(initial=0.0))
            rel = peak / scale if scale > 0 else (0.0 if peak == 0 else math.inf)
            if rel >= worst.max_rel:
                where = f"{name}[{i}] step {int(err.argmax()) + 1}"
                worst = Difference(max(worst.max_abs, peak), rel, where)
            else:
                worst = worst._replace(max_abs=max(worst.max_abs, peak))
    return worst
