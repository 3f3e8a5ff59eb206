"""The config refuses bad hyperparameters with an error naming the parameter and its range."""

from __future__ import annotations

import math

import numpy as np
import pytest

import polyprop
from polyprop import RMSPropConfig

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


@pytest.mark.parametrize("field,value,message", BAD, ids=[f"{f}={v}" for f, v, _ in BAD])
def test_bad_value_names_parameter_value_and_range(field, value, message):
    with pytest.raises(ValueError, match=message):
        RMSPropConfig(**{field: value})


@pytest.mark.parametrize("field,value", [("learning_rate", "0.1"), ("decay", None), ("eps", True), ("centered", 1)])
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


def test_config_is_frozen_and_replace_validates():
    config = RMSPropConfig()
    with pytest.raises(AttributeError):
        config.decay = 0.5  # type: ignore[misc]
    assert config.replace(decay=0.5).decay == 0.5
    with pytest.raises(ValueError, match="decay"):
        config.replace(decay=2.0)
