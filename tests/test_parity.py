"""The parity matrix: every backend x every variant x float32/float64 x 200 steps against NumPy.

Parameters and every state leaf are compared after every step.  The
tolerances are polyprop.parity.TOLERANCES (1e-12 float64, 1e-5 float32,
relative to each leaf's largest magnitude); the reasons are given there.
The measured maxima are printed at the end of the run (conftest.py).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from conftest import RecordingOps
from polyprop.parity import SHAPES, TOLERANCES, VARIANTS, Difference, compare, random_problem, trajectory

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
    assert set(ref[0]) == expected
    assert len(result) == STEPS
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
    assert diff.max_abs == pytest.approx(0.004)
    assert diff.max_rel == pytest.approx(0.001)
    assert diff.where == "params[0] step 2"
    nan = [{"params": [np.array([1.0, 2.0])]}, {"params": [np.array([np.nan, 4.0])]}]
    assert compare(nan, ref).max_rel == float("inf")
    with pytest.raises(ValueError, match="float32"):
        compare([{"params": [a.astype(np.float32) for a in s["params"]]} for s in ref], ref)
    with pytest.raises(ValueError, match="1 steps against 2"):
        compare(got[:1], ref)


# -- the matrix's schedules and problems -----------------------------------------------


def test_the_cosine_schedule_goes_from_001_to_0_over_200_steps_then_stays_at_0():
    lr = VARIANTS["everything"].learning_rate
    assert lr(0) == pytest.approx(0.01, rel=1e-15)
    assert lr(50) == pytest.approx(0.005 * (1 + math.sqrt(0.5)), rel=1e-14)
    assert lr(100) == pytest.approx(0.005, rel=1e-14)
    assert lr(200) == pytest.approx(0.0, abs=1e-18)
    assert lr(300) == pytest.approx(0.0, abs=1e-18)


def test_the_step_schedule_halves_002_every_50_steps():
    lr = VARIANTS["schedules"].learning_rate
    expected = {0: 0.02, 25: 0.02, 49: 0.02, 50: 0.01, 99: 0.01, 100: 0.005, 175: 0.0025}
    assert {count: lr(count) for count in expected} == expected


def test_the_warm_decay_rises_from_05_by_001_a_step_to_099():
    decay = VARIANTS["schedules"].decay
    assert decay(0) == 0.5
    assert decay(10) == pytest.approx(0.6, rel=1e-15)
    assert decay(30) == pytest.approx(0.8, rel=1e-15)
    assert decay(49) == 0.99
    assert decay(60) == 0.99
    assert decay(1000) == 0.99


def test_random_problem_is_the_documented_draw_from_one_seed():
    problem = random_problem(3)
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(shape) for shape in SHAPES]
    grads = [[rng.standard_normal(shape) * rng.uniform(0.1, 3.0) for shape in SHAPES] for _ in range(3)]
    assert len(problem.params) == len(SHAPES)
    assert len(problem.grads) == 3
    for got, want in zip(problem.params, params):
        assert got.dtype == np.float64
        assert got.shape == want.shape
        assert np.array_equal(got, want)
    for got_step, want_step in zip(problem.grads, grads):
        assert [g.shape for g in got_step] == list(SHAPES)
        for got, want in zip(got_step, want_step):
            assert got.dtype == np.float64
            assert np.array_equal(got, want)


def test_random_problem_float32_and_seeds():
    single = random_problem(2, "float32", seed=3)
    double = random_problem(2, "float64", seed=3)
    assert all(p.dtype == np.float32 for p in single.params)
    assert all(g.dtype == np.float32 for grads in single.grads for g in grads)
    np.testing.assert_array_equal(single.params[2], double.params[2].astype(np.float32))
    assert not np.array_equal(random_problem(1, seed=1).params[2], random_problem(1).params[2])
    assert np.array_equal(random_problem(1, seed=0).params[2], random_problem(1).params[2])


def test_trajectory_runs_init_and_every_step_on_the_given_adapter():
    ops = RecordingOps()
    problem = random_problem(2)
    snapshots = trajectory(ops, VARIANTS["plain"], problem)
    leaves = len(SHAPES)
    assert ops.calls["full_like"] == leaves  # init: nu = initial_scale
    assert ops.calls["from_numpy"] == leaves * 3  # the parameters and two steps of gradients
    assert ops.calls["sub"] == leaves * 2  # x - delta, each step
    assert len(snapshots) == 2
    assert set(snapshots[0]) == {"params", "nu"}


# -- parity.compare --------------------------------------------------------------------


def _run(*steps, name="params"):
    return [{name: [np.asarray(value, dtype=np.float64)]} for value in steps]


def test_compare_of_nothing_is_no_difference():
    assert compare([], []) == Difference(0.0, 0.0, "")


def test_compare_names_leaves_that_differ():
    ref = [{"params": [np.ones(2)], "nu": [np.ones(2)]}]
    with pytest.raises(ValueError, match=r"^leaves \['mu', 'nu', 'params'\]") as excinfo:
        compare([{"params": [np.ones(2)], "mu": [np.ones(2)], "nu": [np.ones(2)]}], ref)
    assert str(excinfo.value) == "leaves ['mu', 'nu', 'params'] against ['nu', 'params']"


def test_compare_names_a_dtype_or_shape_mismatch_with_the_leaf_shape():
    ref = [{"params": [np.ones((2, 3))]}] * 2
    with pytest.raises(ValueError, match=r"params\[0\]: float32\(2, 3\)") as excinfo:
        compare([{"params": [np.ones((2, 3), np.float32)]}] * 2, ref)
    assert str(excinfo.value) == "params[0]: float32(2, 3) against float64(2, 3)"
    with pytest.raises(ValueError, match=r"params\[0\]: float64\(3, 2\)") as excinfo:
        compare([{"params": [np.ones((3, 2))]}] * 2, ref)
    assert str(excinfo.value) == "params[0]: float64(3, 2) against float64(2, 3)"


def test_compare_is_relative_to_the_largest_magnitude_even_below_one():
    diff = compare(_run([0.5, 0.25], [0.5, 0.2501]), _run([0.5, 0.25], [0.5, 0.25]))
    assert diff.max_abs == pytest.approx(1e-4, rel=1e-9)
    assert diff.max_rel == pytest.approx(2e-4, rel=1e-9)
    assert diff.where == "params[0] step 2"


def test_compare_of_a_zero_reference():
    zeros = _run([0.0, 0.0], [0.0, 0.0])
    assert compare(zeros, zeros).max_rel == 0.0
    diff = compare(_run([0.0, 0.0], [0.0, 1e-300]), zeros)
    assert diff.max_rel == math.inf
    assert diff.max_abs == 1e-300
    assert diff.where == "params[0] step 2"


def test_compare_accepts_empty_leaves():
    empty = _run(np.zeros(0), np.zeros(0))
    assert compare(empty, empty).max_rel == 0.0
    assert compare(empty, empty).max_abs == 0.0


def test_compare_puts_a_nan_at_the_step_where_it_appears():
    ref = _run([1.0, 2.0], [1.0, 4.0], [1.0, 4.0])
    got = _run([1.0, 2.0], [1.0, 4.0], [np.nan, 4.0])
    diff = compare(got, ref)
    assert diff.max_rel == math.inf
    assert diff.max_abs == math.inf
    assert diff.where == "params[0] step 3"


def test_compare_reports_the_worst_of_several_leaves():
    ref = [{"params": [np.ones(2), np.ones(3)], "nu": [np.full(2, 2.0), np.full(3, 4.0)]}]
    got = [{"params": [np.ones(2), np.ones(3)], "nu": [np.full(2, 2.0), np.array([4.0, 4.2, 4.0])]}]
    diff = compare(got, ref)
    assert diff.where == "nu[1] step 1"
    assert diff.max_rel == pytest.approx(0.05)
    assert diff.max_abs == pytest.approx(0.2)
    # the largest absolute difference is kept even where the relative one is not the worst
    got[0]["params"][1] = np.array([1.0, 1.1, 1.0])
    ref[0]["nu"][1] = np.full(3, 40.0)
    got[0]["nu"][1] = np.array([40.0, 40.3, 40.0])
    diff = compare(got, ref)
    assert diff.where == "params[1] step 1"
    assert diff.max_rel == pytest.approx(0.1)
    assert diff.max_abs == pytest.approx(0.3)
