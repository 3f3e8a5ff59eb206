"""The parity matrix: every backend x every variant x float32/float64 x 200 steps against NumPy.

Parameters and every state leaf are compared after every step.  The
tolerances are polyprop.parity.TOLERANCES (1e-12 float64, 1e-5 float32,
relative to each leaf's largest magnitude); the reasons are given there.
The measured maxima are printed at the end of the run (conftest.py).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from polyprop.parity import SHAPES, TOLERANCES, VARIANTS, compare, random_problem, trajectory

STEPS = 200
MEASURED: dict[tuple[str, str], list[float]] = {}
"""(backend, dtype) -> max relative differences seen, for the end-of-run summary."""


@functools.cache
def reference(variant: str, dtype: str):
    problem = random_problem(STEPS, dtype, seed=sorted(VARIANTS).index(variant))
    return problem, trajectory("numpy", VARIANTS[variant], problem)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_backend_follows_the_numpy_trajectory(other_backend, variant, dtype):
    problem, ref = reference(variant, dtype)
    result = trajectory(other_backend, VARIANTS[variant], problem)
    diff = compare(result, ref)
    MEASURED.setdefault((other_backend.NAME, dtype), []).append(diff.max_rel)
    assert diff.max_rel <= TOLERANCES[dtype], diff
    # Every state leaf the variant needs was compared, at every step.
    expected = {"params", "nu"} | ({"mu"} if VARIANTS[variant].centered else set())
    expected |= {"momentum"} if VARIANTS[variant].momentum else set()
    assert set(ref[0]) == expected and len(result) == STEPS
    assert [leaf.shape for leaf in result[-1]["params"]] == list(SHAPES)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_matrix_tells_variants_apart(dtype):
    """A change of convention moves the trajectory far beyond the tolerance."""
    problem, ref = reference("plain", dtype)
    for change in ({"eps_in_sqrt": False}, {"decay": 0.91}, {"initial_scale": 1e-6}):
        other = trajectory("numpy", VARIANTS["plain"].replace(**change), problem)
        assert compare(other, ref).max_rel > 10 * TOLERANCES[dtype], change


def test_compare_reports_the_worst_leaf_and_step_and_refuses_mismatches():
    ref = [{"params": [np.array([1.0, 2.0])]}, {"params": [np.array([1.0, 4.0])]}]
    got = [{"params": [np.array([1.0, 2.0])]}, {"params": [np.array([1.0, 4.004])]}]
    diff = compare(got, ref)
    assert diff.max_abs == pytest.approx(0.004) and diff.max_rel == pytest.approx(0.001)
    assert diff.where == "params[0] step 2"
    nan = [{"params": [np.array([1.0, 2.0])]}, {"params": [np.array([np.nan, 4.0])]}]
    assert compare(nan, ref).max_rel == float("inf")
    with pytest.raises(ValueError, match="float32"):
        compare([{"params": [a.astype(np.float32) for a in s["params"]]} for s in ref], ref)
    with pytest.raises(ValueError, match="1 steps against 2"):
        compare(got[:1], ref)
