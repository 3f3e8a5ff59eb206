"""What a NaN or Inf in a gradient does to a step: ``RMSPropConfig(nonfinite=...)``.

``"propagate"``: nothing is read, the values flow into parameters and state (as
every native optimizer does).  ``"skip"``: the step is dropped (the caller keeps
parameters and state and counts it in ``state.skipped``).  ``"raise"``:
FloatingPointError naming the first offending gradient.  The last two read the
gradients' values, so they need concrete tensors.
"""

from __future__ import annotations

from typing import Any

from .ops import Ops

POLICIES = ("propagate", "skip", "raise")
"""The values ``nonfinite`` takes."""


def skips_step(policy: str, ops: Ops, keys: list[Any], gs: list[Any], count: int) -> bool:
    """Whether ``policy`` drops the step after ``count`` steps; ``"raise"`` raises instead."""
    if policy == "propagate":
        return False
    bad = first_nonfinite(ops, keys, gs)
    if bad is not None and policy == "raise":
        raise FloatingPointError(f"grads[{bad!r}] holds NaN or Inf at step count {count} (nonfinite='raise')")
    return bad is not None


def first_nonfinite(ops: Ops, keys: list[Any], gs: list[Any]) -> Any:
    """The key of the first gradient holding NaN or Inf (None gradients skipped), or None."""
    import numpy as np

    for key, g in zip(keys, gs):
        if g is None:
            continue
        values = ops.to_numpy(g)  # complex: a NaN in the imaginary part counts too
        if not np.all(np.isfinite(values if np.iscomplexobj(values) else values.astype(np.float64))):
            return key
    return None
