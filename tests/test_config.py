"""The config refuses bad hyperparameters with an error naming the parameter and its range."""

from __future__ import annotations

import math

import numpy as np
import pytest

import polyprop
from polyprop import RMSPropConfig
from polyprop.config import check_decay, check_learning_rate

BAD = [
    ("learning_rate", -0.1, r"learning_rate must be in \[0, inf\), got -0.1"),
    ("learning_rate", math.inf, r"learning_rate must be in \[0, inf\), got inf"),
    ("learning_rate", math.nan, r"learning_rate must be in \[0, inf\), got nan"),
    ("decay", 1.0, r"decay must be in \[0, 1\), got 1.0.*allow_unit_decay=True"),
    ("decay", 1.5, r"decay must be in \[0, 1\), got 1.5"),
    ("decay", -0.1, r"decay must be in \[0, 1\), got -0.1"),
    ("eps", 0.0, r"eps must be in \(0, inf\), got 0.0"),
    ("eps", -1e-8, r"eps must be in \(0, inf\)"),
    ("momentum", 1.0, r"momentum must be in \[0, 1\), got 1.0"),
    ("momentum", -0.5, r"momentum must be in \[0, 1\)"),
    ("weight_decay", -1e-4, r"weight_decay must be in \[0, inf\)"),
    ("initial_scale", -1.0, r"initial_scale must be in \[0, inf\)"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD, ids=[f"{f}={v}" for f, v, _ in BAD])
def test_bad_value_names_parameter_value_and_range(field, value, message):
    with pytest.raises(ValueError, match=message):
        RMSPropConfig(**{field: value})


@pytest.mark.parametrize(
    ("field", "value"), [("learning_rate", "0.1"), ("decay", None), ("eps", True), ("centered", 1)]
)
def test_wrong_types_are_refused(field, value):
    with pytest.raises(TypeError, match=field):
        RMSPropConfig(**{field: value})


def test_numpy_scalars_are_accepted():
    config = RMSPropConfig(learning_rate=np.float32(0.1), decay=np.float64(0.9))
    assert config.learning_rate == np.float32(0.1)


def test_nesterov_needs_momentum():
    with pytest.raises(ValueError, match="nesterov=True needs momentum"):
        RMSPropConfig(nesterov=True)


def test_unit_decay_only_with_opt_in_and_then_the_accumulator_stays_put():
    config = RMSPropConfig(learning_rate=0.1, decay=1.0, eps=1e-6, allow_unit_decay=True)
    params = [np.array([1.0])]
    state = polyprop.init(params, config)
    new, state = polyprop.step(params, [np.array([2.0])], state, config)
    assert state.nu[0][0] == 0.0
    # With s stuck at 0 the step is lr * g / sqrt(eps) = 0.1 * 2 / 1e-3 = 200.
    assert new[0][0] == pytest.approx(1.0 - 200.0, rel=1e-12)


def test_a_schedule_returning_a_bad_value_is_caught_at_that_step():
    config = RMSPropConfig(learning_rate=lambda count: 0.1 if count < 2 else -1.0)
    params = [np.array([1.0])]
    state = polyprop.init(params, config)
    for _ in range(2):
        params, state = polyprop.step(params, [np.array([1.0])], state, config)
    with pytest.raises(ValueError, match=r"schedule at step count 2: learning_rate must be in \[0, inf\), got -1.0"):
        polyprop.step(params, [np.array([1.0])], state, config)


def test_a_closed_interval_is_written_with_a_bracket():
    with pytest.raises(ValueError, match="decay must be in") as excinfo:
        RMSPropConfig(decay=1.5, allow_unit_decay=True)
    assert str(excinfo.value) == "decay must be in [0, 1], got 1.5"
    assert RMSPropConfig(decay=1.0, allow_unit_decay=True).decay == 1.0


def test_unit_decay_hint_only_for_decay_one():
    with pytest.raises(ValueError, match="decay must be in") as excinfo:
        RMSPropConfig(decay=1.5)
    assert str(excinfo.value) == "decay must be in [0, 1), got 1.5"
    with pytest.raises(ValueError, match="allow_unit_decay=True to run it as an experiment") as excinfo:
        RMSPropConfig(decay=1.0)
    assert str(excinfo.value) == (
        "decay must be in [0, 1), got 1.0; decay = 1 freezes the accumulator at initial_scale, "
        "pass allow_unit_decay=True to run it as an experiment"
    )


def test_check_decay_refuses_one_unless_allowed():
    assert check_decay(0.5) == 0.5
    assert check_decay(0) == 0.0
    with pytest.raises(ValueError, match="allow_unit_decay=True"):
        check_decay(1.0)
    assert check_decay(1, allow_unit_decay=True) == 1.0
    assert check_learning_rate(0) == 0.0
    assert check_learning_rate(np.float32(0.5)) == 0.5


def test_a_decay_schedule_is_accepted_and_checked_at_each_step():
    config = RMSPropConfig(learning_rate=0.1, decay=lambda count: 0.9 if count == 0 else 1.0)
    params = [np.array([1.0])]
    state = polyprop.init(params, config)
    params, state = polyprop.step(params, [np.array([1.0])], state, config)
    with pytest.raises(ValueError, match="schedule at step count 1: decay must be in") as excinfo:
        polyprop.step(params, [np.array([1.0])], state, config)
    assert str(excinfo.value).startswith(
        "schedule at step count 1: decay must be in [0, 1), got 1.0; decay = 1 freezes"
    )


def test_a_decay_schedule_may_reach_one_when_allowed():
    config = RMSPropConfig(learning_rate=0.1, decay=lambda count: 1.0 if count else 1.5, allow_unit_decay=True)
    params = [np.array([1.0])]
    state = polyprop.init(params, config)
    with pytest.raises(ValueError, match="schedule at step count 0: decay must be in") as excinfo:
        polyprop.step(params, [np.array([1.0])], state, config)
    assert str(excinfo.value) == "schedule at step count 0: decay must be in [0, 1], got 1.5"
    state = state._replace(count=1)
    _, state = polyprop.step(params, [np.array([2.0])], state, config)
    assert state.nu[0][0] == 0.0  # decay 1 freezes the accumulator at initial_scale


def test_nesterov_message():
    with pytest.raises(ValueError, match="nesterov=True needs momentum") as excinfo:
        RMSPropConfig(nesterov=True)
    assert str(excinfo.value) == "nesterov=True needs momentum in (0, 1), got momentum=0"



def test_config_is_frozen_and_replace_validates():
    config = RMSPropConfig()
    with pytest.raises(AttributeError):
        config.decay = 0.5  # type: ignore[misc]
    assert config.replace(decay=0.5).decay == 0.5
    with pytest.raises(ValueError, match="decay"):
        config.replace(decay=2.0)


def test_numpy_bools_are_accepted_and_stored_as_bools():
    config = RMSPropConfig(centered=np.True_, nesterov=np.True_, momentum=0.5, maximize=np.False_)
    assert config.centered is True
    assert config.nesterov is True
    assert config.maximize is False


def test_numpy_scalars_are_stored_as_floats_and_0d_arrays_as_they_are():
    lr = np.array(0.25)
    config = RMSPropConfig(learning_rate=lr, decay=np.float32(0.9), momentum=np.int64(0), eps=np.float16(1e-3))
    assert type(config.decay) is float
    assert config.decay == float(np.float32(0.9))
    assert type(config.momentum) is float
    assert type(config.eps) is float
    assert config.learning_rate is lr


@pytest.mark.parametrize(
    ("field", "value", "error", "message"),
    [
        ("decay", np.float32(1.5), ValueError, r"decay must be in \[0, 1\), got np.float32\(1.5\)"),
        ("learning_rate", np.array(-1.0), ValueError, r"learning_rate must be in \[0, inf\), got array\(-1.\)"),
        ("eps", np.array([1e-8]), TypeError, r"eps must be a real number in \(0, inf\) \(a number or a 0-d array\)"),
        ("momentum", np.True_, TypeError, r"momentum must be a real number in \[0, 1\)"),
        ("weight_decay", np.array(1j), TypeError, r"weight_decay must be a real number"),
        ("centered", np.array(True), TypeError, r"centered must be True or False"),
    ],
    ids=["np-float32-out-of-range", "0d-array-out-of-range", "vector", "np-bool-number", "complex", "0d-bool-flag"],
)
def test_bad_concrete_values_are_refused_by_name(field, value, error, message):
    with pytest.raises(error, match=message):
        RMSPropConfig(**{field: value})


def test_traced_jax_values_are_used_unchecked():
    from conftest import require_backend

    require_backend("jax")
    import jax

    seen = {}

    @jax.jit
    def build(value):
        config = RMSPropConfig(learning_rate=value, decay=value, eps=value, momentum=value, nesterov=True)
        seen["traced"] = polyprop.config.is_traced(config.decay)
        return config.decay * 2

    assert float(build(5.0)) == 10.0  # out of range, but a tracer has no value to check
    assert seen["traced"] is True
    assert not polyprop.config.is_traced(jax.numpy.asarray(0.5))
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\)"):
        RMSPropConfig(decay=jax.numpy.asarray(5.0))  # a concrete jax array is checked


def test_symbolic_tensorflow_values_are_used_unchecked():
    from conftest import require_backend

    require_backend("tensorflow")
    import tensorflow as tf

    @tf.function
    def build(value):
        config = RMSPropConfig(learning_rate=value, decay=value)
        assert polyprop.config.is_traced(config.decay)
        return config.decay * 2.0

    assert float(build(tf.constant(5.0))) == 10.0
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\)"):
        RMSPropConfig(decay=tf.constant(5.0))  # an eager tensor is checked
