"""The core's behaviour pinned down where mutation testing (scripts/mutation) found it loose.

Each test states a documented behaviour with values computed independently:
the presets' fields, the parity matrix's schedules and comparison, checkpoint
metadata and errors, backend precedence, and the exact wording of the errors
that name an offending tensor or value.  NumPy only, a few milliseconds each.

Configs are built inside the tests, not at import, so that the code that
validates them runs while each test runs.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import types

import numpy as np
import pytest

import polyprop
from polyprop import CheckpointError, RMSPropConfig, presets
from polyprop.config import check_decay, check_learning_rate
from polyprop.parity import SHAPES, VARIANTS, Difference, compare, random_problem, trajectory
from polyprop.validation import dtype_name

FLOAT_LIST = "float16, bfloat16, float32, float64"


def f32(value):
    """``value`` rounded to float32, computed with NumPy (the presets use struct)."""
    return float(np.float32(value))


def message(excinfo):
    return str(excinfo.value)


class RecordingOps:
    """The NumPy adapter, counting every op it is asked for: shows which adapter ran."""

    def __init__(self):
        self._numpy = polyprop.get_ops("numpy")
        self.NAME = "numpy"
        self.calls = collections.Counter()

    def __getattr__(self, name):
        op = getattr(self._numpy, name)

        def recorded(*args, **kwargs):
            self.calls[name] += 1
            return op(*args, **kwargs)

        return recorded


class Array:
    """Looks like a jax.Array to polyprop, which reads a tensor's framework from its type's module."""

    __module__ = "jax._src.array"

    def __init__(self, shape=(2,), dtype="float64"):
        self.shape = shape
        self.dtype = np.dtype(dtype)


# -- presets: each framework's defaults and argument names --------------------------------


def test_torch_preset_defaults_are_torch_optim_rmsprop_defaults():
    assert presets.torch() == RMSPropConfig(
        learning_rate=0.01, decay=0.99, eps=1e-8, eps_in_sqrt=False, lr_inside_momentum=False,
    )


def test_torch_preset_maps_every_argument():
    config = presets.torch(lr=0.02, alpha=0.95, eps=1e-6, weight_decay=0.1, momentum=0.3, centered=True, maximize=True)
    assert config == RMSPropConfig(
        learning_rate=0.02, decay=0.95, eps=1e-6, eps_in_sqrt=False, weight_decay=0.1,
        decoupled_weight_decay=False, momentum=0.3, lr_inside_momentum=False, centered=True, maximize=True,
    )


def test_keras_preset_defaults_round_the_learning_rate_to_float32():
    config = presets.keras()
    assert config == RMSPropConfig(
        learning_rate=f32(0.001), decay=0.9, eps=1e-7, eps_in_sqrt=True, momentum=0.0,
        lr_inside_momentum=True, centered=False, weight_decay=0.0, decoupled_weight_decay=True,
        lr_before_divide=True,
    )
    assert config.learning_rate != 0.001  # 0.001 is not a float32


def test_keras_preset_maps_every_argument_and_keeps_a_schedule():
    config = presets.keras(learning_rate=0.1, rho=0.8, momentum=0.5, epsilon=1e-5, centered=True, weight_decay=0.004)
    assert config == RMSPropConfig(
        learning_rate=f32(0.1), decay=0.8, eps=1e-5, eps_in_sqrt=True, momentum=0.5,
        lr_inside_momentum=True, centered=True, weight_decay=0.004, decoupled_weight_decay=True,
        lr_before_divide=True,
    )

    def schedule(count):
        return 0.1 / (1 + count)

    assert presets.keras(learning_rate=schedule).learning_rate is schedule


def test_tf1_preset_starts_the_accumulator_at_one_and_rounds_every_scalar():
    assert presets.tf1(0.1) == RMSPropConfig(
        learning_rate=f32(0.1), decay=f32(0.9), eps=f32(1e-10), eps_in_sqrt=True, initial_scale=1.0,
        momentum=0.0, lr_inside_momentum=True, centered=False,
    )
    config = presets.tf1(0.3, decay=0.95, momentum=0.7, epsilon=1e-6, centered=True)
    assert config == RMSPropConfig(
        learning_rate=f32(0.3), decay=f32(0.95), eps=f32(1e-6), eps_in_sqrt=True, initial_scale=1.0,
        momentum=f32(0.7), lr_inside_momentum=True, centered=True,
    )
    assert config.momentum != 0.7 and config.decay != 0.95


def test_mxnet_preset_uses_gamma2_as_momentum_only_when_centered():
    assert presets.mxnet() == RMSPropConfig(
        learning_rate=f32(0.001), decay=f32(0.9), eps=f32(1e-8), eps_in_sqrt=True, centered=False,
        momentum=0.0, lr_inside_momentum=True, weight_decay=0.0,
    )
    config = presets.mxnet(learning_rate=0.05, gamma1=0.95, gamma2=0.8, epsilon=1e-6, centered=True, wd=0.01)
    assert config == RMSPropConfig(
        learning_rate=f32(0.05), decay=f32(0.95), eps=f32(1e-6), eps_in_sqrt=True, centered=True,
        momentum=f32(0.8), lr_inside_momentum=True, weight_decay=f32(0.01),
        weight_before_square=True, lr_before_divide=True,
    )
    assert presets.mxnet(gamma2=0.8, centered=False).momentum == 0.0
    assert presets.mxnet(centered=True).momentum == f32(0.9)  # gamma2's default


def test_optax_preset_defaults_and_arguments():
    assert presets.optax(0.1) == RMSPropConfig(
        learning_rate=0.1, decay=0.9, eps=1e-8, eps_in_sqrt=True, initial_scale=0.0, centered=False,
        momentum=0.0, lr_inside_momentum=True, nesterov=False, bias_correction=False,
    )
    config = presets.optax(
        0.2, decay=0.8, eps=1e-4, initial_scale=0.5, eps_in_sqrt=False, centered=True,
        momentum=0.9, nesterov=True, bias_correction=True,
    )
    assert config == RMSPropConfig(
        learning_rate=0.2, decay=0.8, eps=1e-4, eps_in_sqrt=False, initial_scale=0.5, centered=True,
        momentum=0.9, lr_inside_momentum=True, nesterov=True, bias_correction=True,
    )


def test_d2l_preset_is_the_chapter_code():
    assert presets.d2l(0.4, 0.9) == RMSPropConfig(learning_rate=0.4, decay=0.9, eps=1e-6, eps_in_sqrt=True)
    assert presets.d2l(0.1, 0.5) == RMSPropConfig(learning_rate=0.1, decay=0.5, eps=1e-6, eps_in_sqrt=True)


@pytest.mark.parametrize("value", [0.1, 1e-10, 0.9, 0.001, 1.0, 0.0, 3.0e38])
def test_float32_rounding_of_the_presets_is_numpys(value):
    assert presets._f32(value) == f32(value)


# -- the parity matrix's schedules and problems ----------------------------------------


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
    assert decay(49) == 0.99 and decay(60) == 0.99 and decay(1000) == 0.99


def test_random_problem_is_the_documented_draw_from_one_seed():
    problem = random_problem(3)
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(shape) for shape in SHAPES]
    grads = [[rng.standard_normal(shape) * rng.uniform(0.1, 3.0) for shape in SHAPES] for _ in range(3)]
    assert len(problem.params) == len(SHAPES) and len(problem.grads) == 3
    for got, want in zip(problem.params, params):
        assert got.dtype == np.float64 and got.shape == want.shape and np.array_equal(got, want)
    for got_step, want_step in zip(problem.grads, grads):
        assert [g.shape for g in got_step] == list(SHAPES)
        for got, want in zip(got_step, want_step):
            assert got.dtype == np.float64 and np.array_equal(got, want)


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
    assert len(snapshots) == 2 and set(snapshots[0]) == {"params", "nu"}


# -- parity.compare --------------------------------------------------------------------


def _run(*steps, name="params"):
    return [{name: [np.asarray(value, dtype=np.float64)]} for value in steps]


def test_compare_of_nothing_is_no_difference():
    assert compare([], []) == Difference(0.0, 0.0, "")


def test_compare_names_leaves_that_differ():
    ref = [{"params": [np.ones(2)], "nu": [np.ones(2)]}]
    with pytest.raises(ValueError) as excinfo:
        compare([{"params": [np.ones(2)], "mu": [np.ones(2)], "nu": [np.ones(2)]}], ref)
    assert message(excinfo) == "leaves ['mu', 'nu', 'params'] against ['nu', 'params']"


def test_compare_names_a_dtype_or_shape_mismatch_with_the_leaf_shape():
    ref = [{"params": [np.ones((2, 3))]}] * 2
    with pytest.raises(ValueError) as excinfo:
        compare([{"params": [np.ones((2, 3), np.float32)]}] * 2, ref)
    assert message(excinfo) == "params[0]: float32(2, 3) against float64(2, 3)"
    with pytest.raises(ValueError) as excinfo:
        compare([{"params": [np.ones((3, 2))]}] * 2, ref)
    assert message(excinfo) == "params[0]: float64(3, 2) against float64(2, 3)"


def test_compare_is_relative_to_the_largest_magnitude_even_below_one():
    diff = compare(_run([0.5, 0.25], [0.5, 0.2501]), _run([0.5, 0.25], [0.5, 0.25]))
    assert diff.max_abs == pytest.approx(1e-4, rel=1e-9)
    assert diff.max_rel == pytest.approx(2e-4, rel=1e-9)
    assert diff.where == "params[0] step 2"


def test_compare_of_a_zero_reference():
    zeros = _run([0.0, 0.0], [0.0, 0.0])
    assert compare(zeros, zeros).max_rel == 0.0
    diff = compare(_run([0.0, 0.0], [0.0, 1e-300]), zeros)
    assert diff.max_rel == math.inf and diff.max_abs == 1e-300 and diff.where == "params[0] step 2"


def test_compare_accepts_empty_leaves():
    empty = _run(np.zeros(0), np.zeros(0))
    assert compare(empty, empty).max_rel == 0.0
    assert compare(empty, empty).max_abs == 0.0


def test_compare_puts_a_nan_at_the_step_where_it_appears():
    ref = _run([1.0, 2.0], [1.0, 4.0], [1.0, 4.0])
    got = _run([1.0, 2.0], [1.0, 4.0], [np.nan, 4.0])
    diff = compare(got, ref)
    assert diff.max_rel == math.inf and diff.max_abs == math.inf
    assert diff.where == "params[0] step 3"


def test_compare_reports_the_worst_of_several_leaves():
    ref = [{"params": [np.ones(2), np.ones(3)], "nu": [np.full(2, 2.0), np.full(3, 4.0)]}]
    got = [{"params": [np.ones(2), np.ones(3)], "nu": [np.full(2, 2.0), np.array([4.0, 4.2, 4.0])]}]
    diff = compare(got, ref)
    assert diff.where == "nu[1] step 1"
    assert diff.max_rel == pytest.approx(0.05) and diff.max_abs == pytest.approx(0.2)
    # the largest absolute difference is kept even where the relative one is not the worst
    got[0]["params"][1] = np.array([1.0, 1.1, 1.0])
    ref[0]["nu"][1] = np.full(3, 40.0)
    got[0]["nu"][1] = np.array([40.0, 40.3, 40.0])
    diff = compare(got, ref)
    assert diff.where == "params[1] step 1"
    assert diff.max_rel == pytest.approx(0.1) and diff.max_abs == pytest.approx(0.3)


# -- backend precedence: the argument, then the tensors, then the context ----------------


def test_explicit_adapter_runs_init_and_step():
    ops = RecordingOps()
    config = RMSPropConfig(learning_rate=0.1, momentum=0.5, centered=True)
    params = [np.ones(2), np.ones(3)]
    state = polyprop.init(params, config, ops)
    assert ops.calls["full_like"] == 2 and ops.calls["zeros_like"] == 4  # mu and momentum: a buffer each
    polyprop.step(params, [np.ones(2), np.ones(3)], state, config, ops)
    assert ops.calls["sqrt"] == 2


def test_the_tensors_beat_the_context_in_init_step_save_and_load(tmp_path):
    """Inside use_backend("torch") NumPy tensors still run on NumPy (torch is never loaded)."""
    config = RMSPropConfig(learning_rate=0.1)
    params = [np.array([1.0, 2.0])]
    with polyprop.use_backend("torch"):
        state = polyprop.init(params, config)
        new, state = polyprop.step(params, [np.array([1.0, -1.0])], state, config)
        assert isinstance(new[0], np.ndarray) and isinstance(state.nu[0], np.ndarray)
        # no gradient at all: the parameters alone decide
        same, later = polyprop.step(new, [None], state, config)
        assert same[0] is new[0] and later.count == 2
        polyprop.save(tmp_path / "c.npz", new, state, config)
        loaded, _, _ = polyprop.load(tmp_path / "c.npz", backend="numpy")
    np.testing.assert_array_equal(loaded[0], new[0])
    with np.load(tmp_path / "c.npz") as archive:
        assert json.loads(str(archive["metadata"]))["backend"] == "numpy"


def test_save_and_load_use_the_given_adapter(tmp_path):
    config = RMSPropConfig(momentum=0.5)
    params = [np.ones(2)]
    state = polyprop.init(params, config)
    ops = RecordingOps()
    polyprop.save(tmp_path / "c.npz", params, state, config, ops)
    assert ops.calls["to_numpy"] == 3  # params, nu, momentum
    ops = RecordingOps()
    polyprop.load(tmp_path / "c.npz", backend=ops)
    assert ops.calls["from_numpy"] == 3


def test_tensors_of_two_frameworks_are_named_without_importing_either():
    with pytest.raises(TypeError) as excinfo:
        polyprop.infer_backend([np.ones(2)], {"g": Array()}, [np.zeros(1)])
    assert message(excinfo) == "tensors of two frameworks in one call: numpy (ndarray) and jax (Array)"
    assert polyprop.infer_backend([Array(), Array()]) == "jax"


def test_a_step_with_params_and_grads_of_two_frameworks_names_both():
    params = [np.ones(2)]
    config = RMSPropConfig()
    state = polyprop.init(params, config)
    with pytest.raises(TypeError) as excinfo:
        polyprop.step(params, [Array()], state, config)
    assert message(excinfo) == "tensors of two frameworks in one call: numpy (ndarray) and jax (Array)"


# -- every leaf checked, by name ----------------------------------------------------------


def test_a_gradient_of_another_framework_is_named_when_the_backend_is_given():
    params = [np.ones(2)]
    config = RMSPropConfig()
    state = polyprop.init(params, config)
    with pytest.raises(TypeError) as excinfo:
        polyprop.step(params, [Array()], state, config, "numpy")
    assert message(excinfo) == "grads[0] is a jax tensor (Array) but params[0] is a numpy tensor"


def test_a_parameter_of_another_framework_is_named():
    with pytest.raises(TypeError) as excinfo:
        polyprop.init([np.ones(1), Array()], RMSPropConfig(), "numpy")
    assert message(excinfo) == "params[1] is a jax tensor (Array) but the backend is numpy"


def test_a_parameter_needs_both_shape_and_dtype():
    class NoShape:
        dtype = np.dtype("float64")

    class NoDtype:
        shape = (2,)

    for thing, kind in ((NoShape(), "NoShape"), (NoDtype(), "NoDtype")):
        with pytest.raises(TypeError) as excinfo:
            polyprop.init([thing], RMSPropConfig(), "numpy")
        assert message(excinfo) == f"params[0] must be a tensor, got {kind}"


def test_a_gradient_needs_both_shape_and_dtype():
    class ShapeOnly:
        shape = (2,)

    class DtypeOnly:
        dtype = np.dtype("float64")

    params = [np.ones(2)]
    config = RMSPropConfig()
    state = polyprop.init(params, config)
    for thing, kind in ((ShapeOnly(), "ShapeOnly"), (DtypeOnly(), "DtypeOnly")):
        with pytest.raises(TypeError) as excinfo:
            polyprop.step(params, [thing], state, config, "numpy")
        assert message(excinfo) == f"grads[0] must be a tensor or None, got {kind}"


def test_integer_parameters_at_step_name_the_parameter_and_the_float_dtypes():
    config = RMSPropConfig()
    state = polyprop.init([np.ones(2)], config)
    with pytest.raises(TypeError) as excinfo:
        polyprop.step([np.arange(2)], [np.ones(2)], state, config)
    assert message(excinfo) == f"params[0] has dtype int64: RMSProp needs floating-point parameters ({FLOAT_LIST})"


def test_a_state_leaf_of_the_wrong_shape_is_named_with_its_field():
    config = RMSPropConfig(centered=True, momentum=0.5)
    params = [np.ones(2)]
    state = polyprop.init(params, config)
    for field in ("nu", "mu", "momentum"):
        bad = state._replace(**{field: [np.ones(3)]})
        with pytest.raises(ValueError) as excinfo:
            polyprop.step(params, [np.ones(2)], bad, config)
        assert message(excinfo) == f"state.{field}[0] has shape (3,) but params[0] has shape (2,)"


def test_a_state_built_for_another_config_names_the_missing_field():
    params = [np.ones(2)]
    state = polyprop.init(params, RMSPropConfig())
    with pytest.raises(ValueError) as excinfo:
        polyprop.step(params, [np.ones(2)], state, RMSPropConfig(centered=True))
    assert message(excinfo) == "state.mu is None but the config needs it; build the state with init()"


def test_step_names_params_that_are_not_a_container():
    config = RMSPropConfig()
    state = polyprop.init([np.ones(2)], config)
    with pytest.raises(TypeError) as excinfo:
        polyprop.step(np.ones(2), [np.ones(2)], state, config)
    assert message(excinfo) == "params must be a list, tuple or dict of tensors, got ndarray"


def test_gradients_in_another_kind_of_container_are_named():
    params = [np.ones(2)]
    config = RMSPropConfig()
    state = polyprop.init(params, config)
    with pytest.raises(TypeError) as excinfo:
        polyprop.step(params, {"a": np.ones(2)}, state, config)
    assert message(excinfo) == "grads must be a list like params, got dict"


def test_dtype_name_reads_an_unhashable_dtype_object():
    class Unhashable:
        __hash__ = None

        def __str__(self):
            return "<dtype: 'float32'>"

    tensor = types.SimpleNamespace(dtype=Unhashable(), shape=(1,))
    assert dtype_name(tensor) == "float32"


# -- containers and None gradients ---------------------------------------------------------


def test_a_none_gradient_first_still_updates_the_parameters_after_it():
    config = RMSPropConfig(learning_rate=0.1, decay=0.9, eps=1e-8)
    params = [np.array([1.0]), np.array([1.0])]
    state = polyprop.init(params, config)
    new, state = polyprop.step(params, [None, np.array([2.0])], state, config)
    assert new[0] is params[0] and state.nu[0][0] == 0.0
    # nu = 0.1 * 4 = 0.4; x = 1 - 0.1 * 2 / sqrt(0.4 + 1e-8)
    assert new[1][0] == pytest.approx(1.0 - 0.2 / math.sqrt(0.4 + 1e-8), rel=1e-15)
    assert state.nu[1][0] == pytest.approx(0.4, rel=1e-15)


def test_containers_keep_their_kind():
    config = RMSPropConfig(momentum=0.5, centered=True)
    for params in ([np.ones(1)], (np.ones(1),)):
        new, state = polyprop.step(params, type(params)([np.ones(1)]), polyprop.init(params, config), config)
        for tree in (new, state.nu, state.mu, state.momentum):
            assert type(tree) is type(params)
    ordered = collections.OrderedDict([("b", np.ones(1)), ("a", np.ones(2))])
    new, state = polyprop.step(ordered, {"a": np.ones(2), "b": np.ones(1)}, polyprop.init(ordered, config), config)
    assert type(new) is collections.OrderedDict and type(state.nu) is collections.OrderedDict
    assert list(new) == ["b", "a"]


def test_a_read_only_mapping_of_params_gives_plain_dicts():
    config = RMSPropConfig(learning_rate=0.1)
    params = types.MappingProxyType({"w": np.ones(2), "b": np.zeros(1)})
    state = polyprop.init(params, config)
    assert type(state.nu) is dict and list(state.nu) == ["w", "b"]
    new, state = polyprop.step(params, {"w": np.ones(2), "b": np.ones(1)}, state, config)
    assert type(new) is dict and list(new) == ["w", "b"]
    assert new["w"].shape == (2,) and new["b"].shape == (1,)
    assert np.all(new["w"] < 1.0) and np.all(new["b"] < 0.0)


# -- one formula not covered by the convention tests --------------------------------------


def test_nesterov_with_lr_outside_momentum_matches_the_formula():
    """PyTorch's form with Nesterov: m = beta m + u;  x -= lr (u + beta m)."""
    lr, decay, eps, beta = 0.1, 0.9, 1e-8, 0.5
    config = RMSPropConfig(learning_rate=lr, decay=decay, eps=eps, momentum=beta, nesterov=True, lr_inside_momentum=False)
    params = [np.array([1.0, -2.0])]
    state = polyprop.init(params, config)
    x, nu, m = [1.0, -2.0], [0.0, 0.0], [0.0, 0.0]
    for g in ([0.5, 3.0], [-1.0, 2.0], [0.25, -4.0]):
        params, state = polyprop.step(params, [np.array(g)], state, config)
        for i in range(2):
            nu[i] = decay * nu[i] + (1 - decay) * g[i] ** 2
            u = g[i] / math.sqrt(nu[i] + eps)
            m[i] = beta * m[i] + u
            x[i] = x[i] - lr * (u + beta * m[i])
        np.testing.assert_allclose(params[0], x, rtol=1e-14)
        np.testing.assert_allclose(state.momentum[0], m, rtol=1e-14)


# -- config: ranges and messages -----------------------------------------------------------


def test_a_closed_interval_is_written_with_a_bracket():
    with pytest.raises(ValueError) as excinfo:
        RMSPropConfig(decay=1.5, allow_unit_decay=True)
    assert message(excinfo) == "decay must be in [0, 1], got 1.5"
    assert RMSPropConfig(decay=1.0, allow_unit_decay=True).decay == 1.0


def test_unit_decay_hint_only_for_decay_one():
    with pytest.raises(ValueError) as excinfo:
        RMSPropConfig(decay=1.5)
    assert message(excinfo) == "decay must be in [0, 1), got 1.5"
    with pytest.raises(ValueError) as excinfo:
        RMSPropConfig(decay=1.0)
    assert message(excinfo) == (
        "decay must be in [0, 1), got 1.0; decay = 1 freezes the accumulator at initial_scale, "
        "pass allow_unit_decay=True to run it as an experiment"
    )


def test_check_decay_refuses_one_unless_allowed():
    assert check_decay(0.5) == 0.5 and check_decay(0) == 0.0
    with pytest.raises(ValueError, match="allow_unit_decay=True"):
        check_decay(1.0)
    assert check_decay(1, allow_unit_decay=True) == 1.0
    assert check_learning_rate(0) == 0.0 and check_learning_rate(np.float32(0.5)) == 0.5


def test_a_decay_schedule_is_accepted_and_checked_at_each_step():
    config = RMSPropConfig(learning_rate=0.1, decay=lambda count: 0.9 if count == 0 else 1.0)
    params = [np.array([1.0])]
    state = polyprop.init(params, config)
    params, state = polyprop.step(params, [np.array([1.0])], state, config)
    with pytest.raises(ValueError) as excinfo:
        polyprop.step(params, [np.array([1.0])], state, config)
    assert message(excinfo).startswith("schedule at step count 1: decay must be in [0, 1), got 1.0; decay = 1 freezes")


def test_a_decay_schedule_may_reach_one_when_allowed():
    config = RMSPropConfig(learning_rate=0.1, decay=lambda count: 1.0 if count else 1.5, allow_unit_decay=True)
    params = [np.array([1.0])]
    state = polyprop.init(params, config)
    with pytest.raises(ValueError) as excinfo:
        polyprop.step(params, [np.array([1.0])], state, config)
    assert message(excinfo) == "schedule at step count 0: decay must be in [0, 1], got 1.5"
    state = state._replace(count=1)
    new, state = polyprop.step(params, [np.array([2.0])], state, config)
    assert state.nu[0][0] == 0.0  # decay 1 freezes the accumulator at initial_scale


def test_nesterov_message():
    with pytest.raises(ValueError) as excinfo:
        RMSPropConfig(nesterov=True)
    assert message(excinfo) == "nesterov=True needs momentum in (0, 1), got momentum=0"


# -- checkpoints: metadata and errors ------------------------------------------------------


def _saved(tmp_path, config=None, params=None):
    config = config or RMSPropConfig(centered=True, momentum=0.5)
    params = params if params is not None else [np.ones(3), np.ones((2, 2))]
    state = polyprop.init(params, config)
    path = tmp_path / "c.npz"
    polyprop.save(path, params, state, config)
    return path


def _rewrite(path, change):
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    change(arrays)
    np.savez(path, **arrays)


def _change_metadata(path, change):
    def rewrite(arrays):
        meta = json.loads(str(arrays["metadata"]))
        change(meta)
        arrays["metadata"] = np.array(json.dumps(meta))

    _rewrite(path, rewrite)


def test_the_metadata_is_the_documented_json(tmp_path):
    config = RMSPropConfig(learning_rate=0.05, centered=True, momentum=0.5)
    params = {"w": np.ones(2), "b": np.zeros(1)}
    state = polyprop.init(params, config)
    params, state = polyprop.step(params, {"w": np.ones(2), "b": np.ones(1)}, state, config)
    polyprop.save(tmp_path / "c.npz", params, state, config)
    with np.load(tmp_path / "c.npz") as archive:
        metadata = json.loads(str(archive["metadata"]))
    assert metadata == {
        "format": "polyprop-checkpoint",
        "version": 2,
        "container": "dict",
        "keys": ["w", "b"],
        "count": 1,
        "skipped": 0,
        "fields": ["nu", "mu", "momentum"],
        "dtypes": {name: ["float64", "float64"] for name in ("params", "nu", "mu", "momentum")},
        "config": json.loads(json.dumps(dataclasses.asdict(config))),
        "backend": "numpy",
        "polyprop": polyprop.__version__,
    }


def test_a_schedule_without_a_qualname_is_recorded_by_its_repr(tmp_path):
    class Warmup:
        def __call__(self, count):
            return 0.01 * min(1.0, (count + 1) / 10)

        def __repr__(self):
            return "Warmup(10)"

    def cosine(count):
        return 0.9

    config = RMSPropConfig(learning_rate=Warmup(), decay=cosine)
    path = _saved(tmp_path, config)
    with np.load(path) as archive:
        saved = json.loads(str(archive["metadata"]))["config"]
    assert saved["learning_rate"] == {"schedule": "Warmup(10)"}
    assert saved["decay"]["schedule"].endswith("cosine")
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.load(path)
    assert message(excinfo) == (
        f"the checkpoint was saved with schedules for ['decay', 'learning_rate'] "
        f"({saved['decay']['schedule']}, Warmup(10)); pass config= to load it"
    )


def test_a_config_field_from_the_future_is_named(tmp_path):
    path = _saved(tmp_path)
    _change_metadata(path, lambda meta: meta["config"].update(lookahead=5, amsgrad=True))
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.load(path)
    assert message(excinfo) == "the checkpoint's config has fields this polyprop does not know: ['amsgrad', 'lookahead']"


def test_a_foreign_format_is_named(tmp_path):
    path = _saved(tmp_path)
    _change_metadata(path, lambda meta: meta.update(format="other-tool"))
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.load(path)
    assert message(excinfo) == f"{path} is not a polyprop checkpoint (format 'other-tool')"


def test_unreadable_metadata_is_named(tmp_path):
    path = _saved(tmp_path)
    _rewrite(path, lambda arrays: arrays.__setitem__("metadata", np.array("{not json")))
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.load(path)
    assert message(excinfo).startswith(f"{path}: unreadable metadata: ")


def test_a_missing_state_leaf_is_named(tmp_path):
    path = _saved(tmp_path)
    _rewrite(path, lambda arrays: arrays.pop("mu/1"))
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.load(path)
    assert message(excinfo) == "the checkpoint lacks mu[1]"


def test_save_names_what_cannot_be_saved(tmp_path):
    config = RMSPropConfig()
    params = {1: np.ones(2)}
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.save(tmp_path / "c.npz", params, polyprop.init(params, config), config)
    assert message(excinfo) == "params: dict keys must be strings to be saved, got [1]"

    params = {"w": np.ones(2)}
    state = polyprop.init(params, config)._replace(nu={"v": np.ones(2)})
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.save(tmp_path / "c.npz", params, state, config)
    assert message(excinfo) == "state.nu has keys ['v'], params has ['w']"

    with pytest.raises(CheckpointError) as excinfo:
        polyprop.save(tmp_path / "c.npz", np.ones(2), polyprop.init([np.ones(2)], config), config)
    assert message(excinfo) == "params must be a list, tuple or dict of tensors, got ndarray"
    assert not (tmp_path / "c.npz").exists()


def test_the_validation_cache_never_lets_a_changed_leaf_through():
    """A step that passed is remembered by its leaves' types, shapes and dtypes; any change is checked again."""
    config = RMSPropConfig(learning_rate=0.1, momentum=0.5, centered=True)
    params = [np.ones(3), np.ones((2, 2))]
    state = polyprop.init(params, config, "numpy")
    grads = [np.ones(3), np.ones((2, 2))]
    params, state = polyprop.step(params, grads, state, config, "numpy")  # remembered
    bad_grads = [
        ([np.ones(4), np.ones((2, 2))], ValueError, r"grads\[0\] has shape \(4,\) but params\[0\] has shape \(3,\)"),
        ([np.ones(3, np.float32), np.ones((2, 2))], TypeError, r"grads\[0\] has dtype float32 but float64 is needed"),
        ([np.ones(3), Array((2, 2))], TypeError, r"grads\[1\] is a jax tensor"),
    ]
    for grads_now, error, message in bad_grads:
        with pytest.raises(error, match=message):
            polyprop.step(params, grads_now, state, config, "numpy")
    bad_state = state._replace(mu=[np.ones(3), np.ones((2, 3))])
    with pytest.raises(ValueError, match=r"state.mu\[1\] has shape \(2, 3\) but params\[1\] has shape \(2, 2\)"):
        polyprop.step(params, grads, bad_state, config, "numpy")
    with pytest.raises(TypeError, match=r"state.nu\[0\] has dtype float64 but float32 is needed"):
        polyprop.step(params, grads, state, config.replace(state_dtype="float32"), "numpy")
    params, state = polyprop.step(params, grads, state, config, "numpy")  # the good leaves still pass
    assert state.count == 2

