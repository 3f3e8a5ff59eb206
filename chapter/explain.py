"""The explanations that go with exercises 1 and 2, with the numbers measured on the runs.

Each function turns traces into a paragraph of prose (the report's and
``results.json``'s); the numbers come from :mod:`.measures`.  Only
:func:`rotation_explanation` without traces runs anything, and it asks
:func:`.run.rotation_traces` for the two NumPy runs.
"""

from __future__ import annotations

import math

import numpy as np

from ..config import RMSPropConfig
from .measures import (
    CURVATURES,
    distance_to_optimum,
    frozen_step_gain,
    gradient_at,
    growth_factors,
    predicted_growth_factors,
)
from .run import UNIT_DECAY_CONFIG, rotation_traces
from .trace import Trace, grad_rotated


def rotation_explanation(axis_aligned: Trace | None = None, rotated: Trace | None = None) -> str:
    """Why RMSProp does worse on the rotated problem, with the distances measured after the run.

    Without traces it runs both problems on NumPy (a few milliseconds, :func:`.run.rotation_traces`).
    """
    if axis_aligned is None or rotated is None:
        default_aligned, default_rotated = rotation_traces()
        axis_aligned = axis_aligned if axis_aligned is not None else default_aligned
        rotated = rotated if rotated is not None else default_rotated
    near, far = distance_to_optimum(axis_aligned), distance_to_optimum(rotated)
    g1, g2 = gradient_at(rotated, grad_rotated)
    ratio = max(abs(g1), abs(g2)) / min(abs(g1), abs(g2)) if min(abs(g1), abs(g2)) > 0 else math.inf
    slower = far > near
    return (
        "RMSProp divides each coordinate's step by that coordinate's own running gradient scale, "
        "which fits a Hessian that is diagonal in the coordinate axes, as for "
        f"f(x) = 0.1 x1² + 2 x2²: after {len(axis_aligned.points) - 1} steps the point is "
        f"{near:.4g} from the optimum. Rotated by 45 degrees, f(x) = 0.1 (x1 + x2)² + 2 (x1 − x2)² "
        "mixes x1 and x2 in both curvature directions, so the two per-coordinate accumulators see "
        f"gradients of similar size (at the last point ({g1:.3g}, {g2:.3g}), a ratio of {ratio:.2g}) "
        + (
            "and the rescaling no longer matches the curvature: after one step across the valley the "
            f"path only creeps along x1 = x2, and after {len(rotated.points) - 1} steps it is still "
            f"{far:.4g} from the optimum ({far / near:.0f} times farther)."
            if slower and near > 0
            else f"yet here the rotated run ends {far:.4g} from the optimum, no farther than the axis-aligned one."
        )
    )


def unit_decay_explanation(trace: Trace, config: RMSPropConfig = UNIT_DECAY_CONFIG) -> str:
    """Why decay = 1 from s = 0 diverges, with the growth factors measured on ``trace``."""
    measured = growth_factors(trace)
    predicted = predicted_growth_factors(config)
    gain = frozen_step_gain(config)
    last = np.asarray(trace.points)[-1]
    return (
        f"With decay = 1 the accumulator s = decay·s + (1 − decay)·g² never moves from its start "
        f"s = {config.initial_scale:g}, so every step is lr·g / sqrt(s + eps) = {gain:g}·g: a plain "
        f"gradient step with a learning rate far beyond the stable 2 / curvature "
        f"({2 / CURVATURES[0]:g} for x1, {2 / CURVATURES[1]:g} for x2). "
        f"Each step multiplies x1 by 1 − {gain:g}·{CURVATURES[0]:g} = {predicted[0]:g} "
        f"and x2 by 1 − {gain:g}·{CURVATURES[1]:g} = {predicted[1]:g}; "
        f"the {trace.backend} run measures {measured[0]:g} and {measured[1]:g}, "
        f"so after {len(trace.points) - 1} steps |x1| = {abs(last[0]):.3g} and |x2| = {abs(last[1]):.3g}."
    )


__all__ = ["rotation_explanation", "unit_decay_explanation"]
