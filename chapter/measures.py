"""The numbers behind the chapter's figures and prose (plain NumPy, testable without a plot).

Nothing here runs an experiment or draws: each function reads traces and runs
already made (:mod:`.run`, :mod:`.trace`, :mod:`.airfoil`, :mod:`.fashion`) and
returns numbers the figures (:mod:`.plots`), the explanations (:mod:`.explain`) and
the report (:mod:`.report`) show.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ..config import RMSPropConfig
from .results import AirfoilRun, DecaySweep, FashionRun
from .run import UNIT_DECAY_CONFIG
from .trace import Gradient, Trace

SCHEDULES: tuple[str, ...] = ("constant", "step", "cosine")
"""Exercise 3's learning-rate schedules, in the order they are shown."""

GAMMAS: tuple[float, ...] = (0.95, 0.9, 0.8, 0.7)
"""The decays of D2L's leaky-average figure."""

TRACE_BOX: tuple[float, float, float, float] = (-5.5, 1.0, -3.0, 1.5)
"""(x1 min, x1 max, x2 min, x2 max) of the contour plots (D2L's ``show_trace_2d`` range)."""

CURVATURES: tuple[float, float] = (0.2, 4.0)
"""The Hessian's diagonal of f(x) = 0.1 x1^2 + 2 x2^2: the gradient is (0.2 x1, 4 x2)."""


# --- the leaky average (D2L's weights figure) ---------------------------------------------


def leaky_weights(gamma: float, steps: int = 40) -> np.ndarray:
    """w_t = (1 - gamma) gamma^t, t = 0..steps-1: the weight of the gradient t steps back."""
    return (1.0 - gamma) * gamma ** np.arange(steps, dtype=np.float64)


def horizon(gamma: float) -> float:
    """The leaky average's effective horizon 1 / (1 - gamma), in steps."""
    return 1.0 / (1.0 - gamma)


def weights_summary(gammas: Sequence[float] = GAMMAS, steps: int = 40) -> list[dict[str, float]]:
    """Per gamma: the weights' sum over ``steps`` (= 1 - gamma^steps) and the horizon."""
    return [
        {
            "gamma": float(gamma),
            "steps": steps,
            "sum": float(leaky_weights(gamma, steps).sum()),
            "closed_form_sum": 1.0 - float(gamma) ** steps,
            "horizon": horizon(gamma),
        }
        for gamma in gammas
    ]


# --- the 2-D traces (exercises 1 and 2) ---------------------------------------------------


def distance_to_optimum(trace: Trace) -> float:
    """||x_T|| after the last step: both chapter functions have their minimum at 0."""
    return float(np.hypot(*trace.points[-1]))


def backend_spread(traces: Mapping[str, Trace]) -> float:
    """max |x_t(backend) - x_t(first backend)| over all points: 0 when all backends agree."""
    paths = [np.asarray(trace.points) for trace in traces.values()]
    if len(paths) < 2:
        return 0.0
    return float(max(np.max(np.abs(path - paths[0])) for path in paths[1:]))


def growth_factors(trace: Trace) -> tuple[float, float]:
    """Measured x_{t+1} / x_t per coordinate (the median over the steps where it is defined)."""
    points = np.asarray(trace.points, dtype=np.float64)
    before, after = points[:-1], points[1:]
    with np.errstate(all="ignore"):
        ratios = after / before
    usable = np.isfinite(ratios) & (before != 0)

    def median(i: int) -> float:
        return float(np.median(ratios[usable[:, i], i])) if usable[:, i].any() else math.nan

    return median(0), median(1)


def frozen_step_gain(config: RMSPropConfig = UNIT_DECAY_CONFIG) -> float:
    """lr / sqrt(s0 + eps): the step per unit gradient while the accumulator stays at s0 (decay = 1).

    With lr 0.4, s0 = 0 and eps 1e-6 it is 400.  With eps outside the root (PyTorch): lr / (sqrt(s0) + eps).
    A learning-rate schedule has no single gain: TypeError.
    """
    lr = config.learning_rate
    if callable(lr):
        raise TypeError("frozen_step_gain needs a constant learning rate, not a schedule")
    if config.eps_in_sqrt:
        return lr / math.sqrt(config.initial_scale + config.eps)
    return lr / (math.sqrt(config.initial_scale) + config.eps)


def predicted_growth_factors(config: RMSPropConfig = UNIT_DECAY_CONFIG) -> tuple[float, float]:
    """x_{t+1} / x_t = 1 - gain * c per coordinate, c its curvature (0.2, 4): -79 and -1599 for the chapter."""
    gain = frozen_step_gain(config)
    return 1.0 - gain * CURVATURES[0], 1.0 - gain * CURVATURES[1]


def gradient_at(trace: Trace, gradient: Gradient, index: int = -1) -> tuple[float, float]:
    """The gradient (evaluated with NumPy) at the ``index``-th point of ``trace``."""
    from ..selection import get_ops

    x1, x2 = (np.asarray(v, dtype=np.float64) for v in trace.points[index])
    g1, g2 = gradient(get_ops("numpy"), x1, x2)
    return float(g1), float(g2)


def trace_box(
    traces: Iterable[Trace], default: tuple[float, float, float, float] = TRACE_BOX, margin: float = 0.3
) -> tuple[float, float, float, float]:
    """``default`` widened to hold every finite point of every trace (plus ``margin``)."""
    x1_lo, x1_hi, x2_lo, x2_hi = default
    for trace in traces:
        points = np.asarray(trace.points, dtype=np.float64)
        points = points[np.isfinite(points).all(axis=1)]
        if len(points):
            x1_lo, x2_lo = min(x1_lo, points[:, 0].min() - margin), min(x2_lo, points[:, 1].min() - margin)
            x1_hi, x2_hi = max(x1_hi, points[:, 0].max() + margin), max(x2_hi, points[:, 1].max() + margin)
    return float(x1_lo), float(x1_hi), float(x2_lo), float(x2_hi)


# --- the training runs (airfoil, exercises 3 and 4) ----------------------------------------


def airfoil_label(run: AirfoilRun) -> str:
    """The legend entry of one airfoil run: backend, implementation and final loss."""
    return f"{run.backend} {run.impl}: {run.final_loss:.3f}"


def value_spread(values: Iterable[float]) -> float:
    """max - min of the finite values (0 for fewer than two): how far runs that should agree differ."""
    finite = [float(v) for v in values if math.isfinite(v)]
    return max(finite) - min(finite) if len(finite) > 1 else 0.0


def sweep_spread(sweeps: Iterable[DecaySweep]) -> float:
    """The largest spread of the final loss across backends at any one decay."""
    by_decay: dict[float, list[float]] = {}
    for sweep in sweeps:
        for decay, loss in zip(sweep.decays, sweep.final_losses):
            by_decay.setdefault(float(decay), []).append(loss)
    return max((value_spread(losses) for losses in by_decay.values()), default=0.0)


def final_accuracies(runs: Iterable[FashionRun]) -> dict[tuple[str, str], float]:
    """(backend, schedule) -> test accuracy after the last epoch."""
    return {(run.backend, run.schedule): run.test_accuracy[-1] for run in runs if run.test_accuracy}


def schedule_order(runs: Iterable[FashionRun]) -> list[str]:
    """The schedules present: constant, step, cosine first, then any other in order of appearance."""
    seen = list(dict.fromkeys(run.schedule for run in runs))
    return [s for s in SCHEDULES if s in seen] + [s for s in seen if s not in SCHEDULES]


def sweep_axis(sweeps: Iterable[DecaySweep]) -> bool:
    """True when every decay is below 1, so the x-axis can be 1 - decay on a log scale."""
    return all(d < 1.0 for sweep in sweeps for d in sweep.decays)


__all__ = [
    "CURVATURES",
    "GAMMAS",
    "SCHEDULES",
    "TRACE_BOX",
    "airfoil_label",
    "backend_spread",
    "distance_to_optimum",
    "final_accuracies",
    "frozen_step_gain",
    "gradient_at",
    "growth_factors",
    "horizon",
    "leaky_weights",
    "predicted_growth_factors",
    "schedule_order",
    "sweep_axis",
    "sweep_spread",
    "trace_box",
    "value_spread",
    "weights_summary",
]
