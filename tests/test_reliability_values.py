"""Every concrete hyperparameter value is checked, and its error is one the user can act on.

The values come from a config, a preset (in the framework's own names, checked
before and after rounding to float32) or a schedule at any step, as Python and
NumPy scalars, 0-d arrays of any framework, None or strings.  A bad one raises an
error naming the parameter as the user wrote it, polyprop's name for it, the
range, the value as given and (for a step) the step count.  A traced value (jit,
tf.function) is used unchecked.

The NumPy tests come first and are fast (mutation testing runs them); the other
backends' tests carry the backend's name first in their ids, so the mutation
run's ``-k`` leaves them out.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import polyprop
from conftest import require_backend
from polyprop import RMSPropConfig, presets
from polyprop.config import real_value, shown
from polyprop.rmsprop import hyperparameters

UNIT_HINT = "; decay = 1 freezes the accumulator at initial_scale, "
PRESET_HINT = UNIT_HINT + "on the preset's config, .replace(decay=1.0, allow_unit_decay=True) runs it as an experiment"
REAL = "must be a real number in"


def message(excinfo):
    return str(excinfo.value)


def run(config, steps, params=None, grads=None, step=polyprop.step):
    """``steps`` steps of ``config`` from x = [1, -2] with g = [0.5, 1] (NumPy unless given)."""
    params = [np.array([1.0, -2.0])] if params is None else params
    grads = [np.array([0.5, 1.0])] if grads is None else grads
    state = polyprop.init(params, config)
    for _ in range(steps):
        params, state = step(params, grads, state, config)
    return params, state


# -- presets: the framework's names --------------------------------------------------------

PRESET_ERRORS = [
    (lambda: presets.torch(alpha=1.5), ValueError, "alpha must be in [0, 1), got 1.5 (alpha is polyprop's decay)"),
    (lambda: presets.torch(alpha=1.0), ValueError,
     "alpha must be in [0, 1), got 1.0 (alpha is polyprop's decay)" + PRESET_HINT),
    (lambda: presets.torch(lr=-0.1), ValueError, "lr must be in [0, inf), got -0.1 (lr is polyprop's learning_rate)"),
    (lambda: presets.torch(lr="0.1"), TypeError,
     f"lr {REAL} [0, inf) (a number or a 0-d array), got '0.1' (lr is polyprop's learning_rate)"),
    (lambda: presets.torch(eps=0.0), ValueError, "eps must be in (0, inf), got 0.0"),
    (lambda: presets.torch(momentum=1.0), ValueError, "momentum must be in [0, 1), got 1.0"),
    (lambda: presets.torch(weight_decay=-1e-4), ValueError, "weight_decay must be in [0, inf), got -0.0001"),
    (lambda: presets.torch(centered=1), TypeError, "centered must be True or False, got 1"),
    (lambda: presets.keras(rho=1.5), ValueError, "rho must be in [0, 1), got 1.5 (rho is polyprop's decay)"),
    (lambda: presets.keras(epsilon=0.0), ValueError,
     "epsilon must be in (0, inf), got 0.0 (epsilon is polyprop's eps)"),
    (lambda: presets.keras(weight_decay=-1.0), ValueError, "weight_decay must be in [0, inf), got -1.0"),
    (lambda: presets.keras(learning_rate=-0.5), ValueError, "learning_rate must be in [0, inf), got -0.5"),
    (lambda: presets.tf1(0.1, decay=1.5), ValueError, "decay must be in [0, 1), got 1.5"),
    (lambda: presets.tf1(0.1, epsilon=-1.0), ValueError,
     "epsilon must be in (0, inf), got -1.0 (epsilon is polyprop's eps)"),
    (lambda: presets.mxnet(gamma1=1.5), ValueError, "gamma1 must be in [0, 1), got 1.5 (gamma1 is polyprop's decay)"),
    (lambda: presets.mxnet(gamma2=1.0, centered=True), ValueError,
     "gamma2 must be in [0, 1), got 1.0 (gamma2 is polyprop's momentum)"),
    (lambda: presets.mxnet(wd=-0.1), ValueError, "wd must be in [0, inf), got -0.1 (wd is polyprop's weight_decay)"),
    (lambda: presets.optax(0.1, decay=1.5), ValueError, "decay must be in [0, 1), got 1.5"),
    (lambda: presets.optax(0.1, initial_scale=-1.0), ValueError, "initial_scale must be in [0, inf), got -1.0"),
    (lambda: presets.d2l(-0.1, 0.9), ValueError, "eta must be in [0, inf), got -0.1 (eta is polyprop's learning_rate)"),
    (lambda: presets.d2l(0.1, 1.0), ValueError,
     "gamma must be in [0, 1), got 1.0 (gamma is polyprop's decay)" + PRESET_HINT),
    (lambda: presets.d2l(0.1, math.nan), ValueError, "gamma must be in [0, 1), got nan (gamma is polyprop's decay)"),
]


@pytest.mark.parametrize(
    ("make", "error", "text"),
    PRESET_ERRORS,
    ids=[e[2].split(" must")[0] + f"-{i}" for i, e in enumerate(PRESET_ERRORS)],
)
def test_a_preset_names_the_argument_as_the_user_wrote_it(make, error, text):
    with pytest.raises(error) as excinfo:
        make()
    assert message(excinfo) == text


def test_a_plain_config_keeps_its_own_names_and_the_unit_decay_hint():
    with pytest.raises(ValueError, match="allow_unit_decay=True to run it as an experiment") as excinfo:
        RMSPropConfig(decay=1.0)
    assert message(excinfo) == (
        "decay must be in [0, 1), got 1.0" + UNIT_HINT + "pass allow_unit_decay=True to run it as an experiment"
    )
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\], got 1\.5") as excinfo:
        RMSPropConfig(eps=1.0, decay=1.5, allow_unit_decay=True)
    assert message(excinfo) == "decay must be in [0, 1], got 1.5"  # no hint: 1 is allowed
    with pytest.raises(ValueError, match=r"eps must be in \(0, inf\), got 0\.0") as excinfo:
        RMSPropConfig(eps=0.0)
    assert message(excinfo) == "eps must be in (0, inf), got 0.0"  # no decay hint on another field


# -- presets: rounding to float32 ------------------------------------------------------------

ROUNDING_ERRORS = [
    (lambda: presets.mxnet(epsilon=1e-50), "epsilon must be in (0, inf), got 1e-50, which rounds to 0.0 in float32 "
     "(epsilon is polyprop's eps)"),
    (lambda: presets.mxnet(epsilon=np.float64(1e-50)),
     "epsilon must be in (0, inf), got np.float64(1e-50), which rounds "
     "to 0.0 in float32 (epsilon is polyprop's eps)"),
    (lambda: presets.mxnet(gamma1=0.99999999),
     "gamma1 must be in [0, 1), got 0.99999999, which rounds to 1.0 in float32 "
     "(gamma1 is polyprop's decay)" + PRESET_HINT),
    (lambda: presets.mxnet(learning_rate=1e39),
     "learning_rate must be in [0, inf), got 1e+39, which rounds to inf in float32"),
    (lambda: presets.mxnet(wd=1e39), "wd must be in [0, inf), got 1e+39, which rounds to inf in float32 "
     "(wd is polyprop's weight_decay)"),
    (lambda: presets.mxnet(gamma2=0.99999999, centered=True),
     "gamma2 must be in [0, 1), got 0.99999999, which rounds to "
     "1.0 in float32 (gamma2 is polyprop's momentum)"),
    (lambda: presets.tf1(1e39), "learning_rate must be in [0, inf), got 1e+39, which rounds to inf in float32"),
    (lambda: presets.tf1(0.1, decay=0.99999999),
     "decay must be in [0, 1), got 0.99999999, which rounds to 1.0 in float32"
     + PRESET_HINT),
    (lambda: presets.tf1(0.1, epsilon=1e-46), "epsilon must be in (0, inf), got 1e-46, which rounds to 0.0 in float32 "
     "(epsilon is polyprop's eps)"),
    (lambda: presets.tf1(0.1, momentum=0.999999999),
     "momentum must be in [0, 1), got 0.999999999, which rounds to 1.0 in "
     "float32"),
    (lambda: presets.keras(learning_rate=1e39),
     "learning_rate must be in [0, inf), got 1e+39, which rounds to inf in float32"),
]


@pytest.mark.parametrize(("make", "text"), ROUNDING_ERRORS, ids=[f"rounding-{i}" for i in range(len(ROUNDING_ERRORS))])
def test_a_value_legal_as_given_that_rounds_out_of_range_in_float32_is_refused_as_given(make, text):
    with pytest.raises(ValueError, match=re.escape(text)) as excinfo:
        make()
    assert message(excinfo) == text


def test_a_value_out_of_range_as_given_is_reported_as_given_not_rounded():
    with pytest.raises(ValueError, match="momentum must be in") as excinfo:
        presets.tf1(0.1, momentum=-1e-50)  # rounds to -0.0, which would pass
    assert message(excinfo) == "momentum must be in [0, 1), got -1e-50"
    with pytest.raises(ValueError, match="epsilon must be in") as excinfo:
        presets.mxnet(epsilon=-1e-50)
    assert message(excinfo) == "epsilon must be in (0, inf), got -1e-50 (epsilon is polyprop's eps)"


def test_values_in_range_are_rounded_to_float32_as_numpy_rounds_them():
    config = presets.mxnet(learning_rate=0.1, gamma1=0.95, epsilon=1e-45, wd=3e38, gamma2=0.8, centered=True)
    assert config.learning_rate == float(np.float32(0.1)) != 0.1
    assert config.decay == float(np.float32(0.95))
    assert config.momentum == float(np.float32(0.8))
    assert config.eps == float(np.float32(1e-45)) > 0  # the smallest subnormal: legal once rounded
    assert config.weight_decay == float(np.float32(3e38))
    halfway = 2.0**128 - 2.0**103  # between float32's max and 2**128: rounds up (to even), to inf
    below = math.nextafter(halfway, 0.0)
    for value in (1e39, -1e39, halfway, -halfway, below, -below, 3.4028235e38, 1e-46, -1e-46):
        with np.errstate(over="ignore"):
            assert presets._f32(value) == float(np.float32(value)), value
    assert presets._f32(halfway) == math.inf
    assert presets._f32(below) == float(np.finfo(np.float32).max)
    assert presets.keras(learning_rate=np.array(0.1)).learning_rate == float(np.float32(0.1))


STRINGS_AND_NONE = [
    (lambda: presets.mxnet(epsilon=None),
     f"epsilon {REAL} (0, inf) (a number or a 0-d array), got None (epsilon is polyprop's eps)"),
    (lambda: presets.mxnet(learning_rate="0.1"), f"learning_rate {REAL} [0, inf) (a number or a 0-d array), got '0.1'"),
    (lambda: presets.mxnet(gamma1="0.9"),
     f"gamma1 {REAL} [0, 1) (a number or a 0-d array), got '0.9' (gamma1 is polyprop's decay)"),
    (lambda: presets.mxnet(wd=None),
     f"wd {REAL} [0, inf) (a number or a 0-d array), got None (wd is polyprop's weight_decay)"),
    (lambda: presets.tf1(None), f"learning_rate {REAL} [0, inf) (a number or a 0-d array), got None"),
    (lambda: presets.tf1(0.1, decay="0.9"), f"decay {REAL} [0, 1) (a number or a 0-d array), got '0.9'"),
    (lambda: presets.tf1(0.1, momentum=None), f"momentum {REAL} [0, 1) (a number or a 0-d array), got None"),
    (lambda: presets.keras(learning_rate=None), f"learning_rate {REAL} [0, inf) (a number or a 0-d array), got None"),
    (lambda: presets.keras(rho=None),
     f"rho {REAL} [0, 1) (a number or a 0-d array), got None (rho is polyprop's decay)"),
]


@pytest.mark.parametrize(("make", "text"), STRINGS_AND_NONE, ids=[f"type-{i}" for i in range(len(STRINGS_AND_NONE))])
def test_strings_and_none_given_to_a_preset_name_the_argument(make, text):
    with pytest.raises(TypeError) as excinfo:
        make()
    assert message(excinfo) == text


def test_keras_weight_decay_none_is_zero_and_a_zero_array_is_kept():
    assert presets.keras(weight_decay=None).weight_decay == 0.0
    zero = np.array(0.0)
    assert presets.keras(weight_decay=zero).weight_decay is zero


# -- the names field -------------------------------------------------------------------------


def test_a_preset_config_equals_and_hashes_as_the_plain_one_and_carries_its_names():
    config = presets.torch(lr=0.1, alpha=0.9)
    plain = RMSPropConfig(learning_rate=0.1, decay=0.9, eps=1e-8, eps_in_sqrt=False, lr_inside_momentum=False)
    assert config == plain
    assert hash(config) == hash(plain)
    assert repr(config) == repr(plain)
    assert plain.names == ()
    assert dict(config.names) == {
        "learning_rate": "lr", "decay": "alpha", "eps": "eps", "weight_decay": "weight_decay",
        "momentum": "momentum", "centered": "centered", "maximize": "maximize",
    }
    assert dict(presets.d2l(0.1, 0.5).names) == {"learning_rate": "eta", "decay": "gamma"}
    assert dict(presets.mxnet().names)["momentum"] == "gamma2"
    assert dict(presets.keras().names)["eps"] == "epsilon"
    assert dict(presets.tf1(0.1).names)["eps"] == "epsilon"
    assert dict(presets.optax(0.1).names)["initial_scale"] == "initial_scale"


def test_names_are_normalised_from_json_lists_or_a_mapping_and_kept_by_replace():
    from_json = RMSPropConfig(names=[["decay", "alpha"], ["learning_rate", "lr"]])
    assert from_json.names == (("decay", "alpha"), ("learning_rate", "lr"))
    assert RMSPropConfig(names={"decay": "rho"}).names == (("decay", "rho"),)
    with pytest.raises(ValueError, match="alpha must be in") as excinfo:
        from_json.replace(decay=1.5)
    assert message(excinfo) == "alpha must be in [0, 1), got 1.5 (alpha is polyprop's decay)"
    assert from_json.replace(decay=0.5).names == from_json.names


@pytest.mark.parametrize(
    ("names", "error", "text"),
    [
        (5, TypeError, "names must be (field, name) pairs, got 5"),
        ("ab", TypeError, "names must be (field, name) pairs, got 'ab'"),
        ([("decay", "a", "b")], TypeError, "names must be (field, name) pairs, got [('decay', 'a', 'b')]"),
        ([("alpha", "decay")], ValueError, "names: 'alpha' is not a field of RMSPropConfig (learning_rate, decay, eps, "
         "eps_in_sqrt, initial_scale, centered, momentum, lr_inside_momentum, nesterov, weight_decay, "
         "decoupled_weight_decay, maximize, bias_correction, allow_unit_decay, nonfinite, state_dtype, "
         "weight_before_square, lr_before_divide)"),
        ([("names", "x")], ValueError, "names: 'names' is not a field of RMSPropConfig"),
        ([("decay", "")], TypeError, "names: the name for decay must be a non-empty string, got ''"),
        ([("decay", 3)], TypeError, "names: the name for decay must be a non-empty string, got 3"),
        ([("decay", "alpha"), ("decay", "rho")], ValueError, "names: decay is named twice"),
    ],
    ids=["number", "string", "triple", "unknown-field", "names-itself", "empty", "not-a-string", "twice"],
)
def test_bad_names_are_refused(names, error, text):
    with pytest.raises(error) as excinfo:
        RMSPropConfig(names=names)
    assert message(excinfo).startswith(text)
    if text.endswith(")"):
        assert message(excinfo) == text


def test_the_public_checks_take_the_names_too():
    from polyprop.config import check_decay, check_learning_rate

    assert check_learning_rate(np.array(0.5)) == 0.5
    assert check_decay(np.float32(0.5)) == 0.5
    assert check_decay(1.0, allow_unit_decay=True) == 1.0
    with pytest.raises(ValueError, match="lr must be in") as excinfo:
        check_learning_rate(-1.0, names=(("learning_rate", "lr"),))
    assert message(excinfo) == "lr must be in [0, inf), got -1.0 (lr is polyprop's learning_rate)"
    with pytest.raises(ValueError, match="rho must be in") as excinfo:
        check_decay(1.5, True, names=(("decay", "rho"),))
    assert message(excinfo) == "rho must be in [0, 1], got 1.5 (rho is polyprop's decay)"


def test_a_flag_is_named_as_the_user_wrote_it():
    with pytest.raises(TypeError) as excinfo:
        RMSPropConfig(centered="yes", names=[("centered", "use_centered")])
    assert message(excinfo) == "use_centered must be True or False, got 'yes' (use_centered is polyprop's centered)"


# -- schedules on NumPy ----------------------------------------------------------------------


def steps_until_error(config, steps, error):
    """Run ``steps`` good steps, then the next must raise ``error``; its message."""
    params, state = run(config, steps)
    with pytest.raises(error) as excinfo:
        polyprop.step(params, [np.array([0.5, 1.0])], state, config)
    return message(excinfo)


def bad_at(value, at=2):
    """A schedule that gives 0.1 until count ``at``, then ``value``."""
    return lambda count: 0.1 if count < at else value


SCHEDULE_ERRORS = [
    ("learning_rate", np.array(-0.1), ValueError, "learning_rate must be in [0, inf), got array(-0.1)"),
    ("learning_rate", np.array(math.nan), ValueError, "learning_rate must be in [0, inf), got array(nan)"),
    ("learning_rate", np.array(math.inf), ValueError, "learning_rate must be in [0, inf), got array(inf)"),
    ("learning_rate", np.float32(-1.0), ValueError, "learning_rate must be in [0, inf), got np.float32(-1.0)"),
    ("learning_rate", -1, ValueError, "learning_rate must be in [0, inf), got -1"),
    ("learning_rate", None, TypeError, f"learning_rate {REAL} [0, inf) (a number or a 0-d array), got None"),
    ("learning_rate", "0.1", TypeError, f"learning_rate {REAL} [0, inf) (a number or a 0-d array), got '0.1'"),
    ("learning_rate", np.array([0.1]), TypeError,
     f"learning_rate {REAL} [0, inf) (a number or a 0-d array), got array([0.1])"),
    ("learning_rate", True, TypeError, f"learning_rate {REAL} [0, inf) (a number or a 0-d array), got True"),
    ("learning_rate", np.array(0.1j), TypeError,
     f"learning_rate {REAL} [0, inf) (a number or a 0-d array), got array(0.+0.1j)"),
    ("decay", np.array(1.5), ValueError, "decay must be in [0, 1), got array(1.5)"),
    ("decay", np.array(1.0), ValueError, "decay must be in [0, 1), got array(1.)" + UNIT_HINT
     + "pass allow_unit_decay=True to run it as an experiment"),
    ("decay", np.array(-0.5), ValueError, "decay must be in [0, 1), got array(-0.5)"),
    ("decay", None, TypeError, f"decay {REAL} [0, 1) (a number or a 0-d array), got None"),
]


@pytest.mark.parametrize(
    ("field", "value", "error", "text"), SCHEDULE_ERRORS, ids=[f"{f}={shown(v)}" for f, v, _, _ in SCHEDULE_ERRORS]
)
def test_a_bad_schedule_value_is_refused_at_its_step_naming_value_and_count(field, value, error, text):
    config = RMSPropConfig(**{field: bad_at(value)})
    assert steps_until_error(config, 2, error) == f"schedule at step count 2: {text}"


def test_fast_step_checks_schedule_values_too():
    config = RMSPropConfig(learning_rate=bad_at(np.array(-0.1), at=1))
    params, state = run(config, 1, step=polyprop.fast_step)
    with pytest.raises(ValueError, match="schedule at step count 1: learning_rate must be in") as excinfo:
        polyprop.fast_step(params, [np.array([0.5, 1.0])], state, config)
    assert message(excinfo) == "schedule at step count 1: learning_rate must be in [0, inf), got array(-0.1)"


def test_a_preset_schedule_is_named_as_the_user_wrote_it():
    config = presets.torch(lr=bad_at(np.array(-0.1)))
    assert steps_until_error(config, 2, ValueError) == (
        "schedule at step count 2: lr must be in [0, inf), got array(-0.1) (lr is polyprop's learning_rate)"
    )
    config = presets.keras(learning_rate=bad_at("0.1", at=0))
    assert steps_until_error(config, 0, TypeError) == (
        f"schedule at step count 0: learning_rate {REAL} [0, inf) (a number or a 0-d array), got '0.1'"
    )
    config = presets.d2l(0.1, 0.5).replace(decay=bad_at(1.0, at=1))
    assert steps_until_error(config, 1, ValueError) == (
        "schedule at step count 1: gamma must be in [0, 1), got 1.0 (gamma is polyprop's decay)" + PRESET_HINT
    )


def test_a_decay_schedule_may_reach_one_only_when_allowed():
    config = RMSPropConfig(decay=lambda count: np.array(1.0), allow_unit_decay=True)
    assert hyperparameters(config, 4).decay == 1.0
    with pytest.raises(ValueError, match="schedule at step count 4: decay must be in") as excinfo:
        hyperparameters(config.replace(allow_unit_decay=False), 4)
    assert message(excinfo).startswith("schedule at step count 4: decay must be in [0, 1), got array(1.)" + UNIT_HINT)


def test_the_step_count_is_shown_as_a_number_whatever_its_type():
    config = RMSPropConfig(learning_rate=bad_at(None, at=0))
    params = [np.array([1.0, -2.0])]
    for count in (12, np.int64(12), np.array(12, np.int32)):
        state = polyprop.init(params, config)._replace(count=count)
        with pytest.raises(TypeError) as excinfo:
            polyprop.step(params, [np.array([0.5, 1.0])], state, config)
        assert message(excinfo).startswith("schedule at step count 12: learning_rate must be a real number")


def test_a_valid_0d_schedule_value_is_used_as_a_python_float_with_its_exact_value():
    values = {0: np.array(0.25), 1: np.float32(0.1), 2: np.array(0.3, np.float16), 3: np.array(2, np.int64)}
    config = RMSPropConfig(learning_rate=values.__getitem__, decay=lambda count: np.array(0.5 + 0.1 * count))
    for count, value in values.items():
        hyper = hyperparameters(config, count)
        assert type(hyper.lr) is float
        assert hyper.lr == float(value)
        assert type(hyper.decay) is float
        assert hyper.decay == 0.5 + 0.1 * count
        assert hyper.keep == 1 - hyper.decay
    floats = RMSPropConfig(learning_rate=lambda count: float(values[count]), decay=lambda count: 0.5 + 0.1 * count)
    got, want = run(config, 4), run(floats, 4)
    assert np.array_equal(got[0][0], want[0][0])
    assert np.array_equal(got[1].nu[0], want[1].nu[0])


def test_a_0d_array_in_the_config_is_checked_again_at_every_step_and_used_as_it_is():
    lr = np.array(0.1)
    config = RMSPropConfig(learning_rate=lr, decay=np.array(0.5))
    assert hyperparameters(config, 0).lr is lr
    params, state = run(config, 1)
    lr[...] = -1.0  # changed in place after the config checked it
    with pytest.raises(ValueError, match="at step count 1: learning_rate must be in") as excinfo:
        polyprop.step(params, [np.array([0.5, 1.0])], state, config)
    assert message(excinfo) == "at step count 1: learning_rate must be in [0, inf), got array(-1.)"
    config.decay[...] = 1.5
    lr[...] = 0.1
    with pytest.raises(ValueError, match="at step count 3: decay must be in") as excinfo:
        hyperparameters(config, 3)
    assert message(excinfo) == "at step count 3: decay must be in [0, 1), got array(1.5)"


def test_bias_correction_uses_the_checked_decay():
    config = RMSPropConfig(decay=lambda count: np.array(0.5), bias_correction=True)
    hyper = hyperparameters(config, 2)
    assert hyper.correction == 1 - 0.5**3
    assert type(hyper.correction) is float


class NoComplex:
    """A 0-d array type without ``__complex__`` whose value ``asnumpy()`` reads (as MXNet's NDArray)."""

    shape = ()
    dtype = "float32"

    def __init__(self, value):
        self.value = value

    def asnumpy(self):
        return np.array(self.value, np.float32)

    def __repr__(self):
        return f"\nNoComplex\n{self.value}\n"


def test_an_array_read_through_asnumpy_is_checked_and_its_repr_kept_on_one_line():
    assert real_value(NoComplex(0.5)) == 0.5
    config = RMSPropConfig(learning_rate=bad_at(NoComplex(-0.5), at=0))
    assert steps_until_error(config, 0, ValueError) == (
        "schedule at step count 0: learning_rate must be in [0, inf), got NoComplex -0.5"
    )
    assert hyperparameters(RMSPropConfig(learning_rate=lambda count: NoComplex(0.5)), 0).lr == 0.5
    assert shown("a  b") == "'a  b'"  # one line already: kept as it is


# -- other backends: framework scalars through polyprop.step with a schedule ------------------

OTHER = ["torch", "tensorflow", "jax", "mxnet"]


def scalar(backend, value, dtype="float32"):
    """A 0-d tensor of ``backend``'s framework holding ``value``."""
    require_backend(backend)
    if backend == "torch":
        import torch

        return torch.tensor(value, dtype=getattr(torch, dtype))
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.constant(value, getattr(tf, dtype))
    if backend == "jax":
        import jax.numpy as jnp

        return jnp.asarray(value, getattr(jnp, dtype))
    import mxnet as mx

    with mx.util.np_shape(True):  # a legacy NDArray of shape () needs NumPy shape semantics
        return mx.nd.array(value, dtype=dtype)


def backend_run(backend, config, steps, step=polyprop.step):
    ops = require_backend(backend)
    params = [ops.from_numpy(np.array([1.0, -2.0], np.float32))]
    grads = [ops.from_numpy(np.array([0.5, 1.0], np.float32))]
    return ops, run(config, steps, params, grads, step)


FRAMEWORK_CASES = [
    ("negative", "learning_rate", -0.1, ValueError, "learning_rate must be in [0, inf), got {}"),
    ("nan", "learning_rate", math.nan, ValueError, "learning_rate must be in [0, inf), got {}"),
    ("inf", "learning_rate", math.inf, ValueError, "learning_rate must be in [0, inf), got {}"),
    ("decay-above-one", "decay", 1.5, ValueError, "decay must be in [0, 1), got {}"),
    ("decay-negative", "decay", -0.5, ValueError, "decay must be in [0, 1), got {}"),
]


@pytest.mark.parametrize("backend", OTHER)
@pytest.mark.parametrize(
    ("case", "field", "value", "error", "text"), FRAMEWORK_CASES, ids=[c[0] for c in FRAMEWORK_CASES]
)
@pytest.mark.parametrize("stepper", ["step", "fast_step"])
def test_a_framework_scalar_from_a_schedule_is_checked_on_every_backend(
    backend, case, field, value, error, text, stepper
):
    bad = scalar(backend, value)
    config = RMSPropConfig(**{field: bad_at(bad, at=1)})
    step = getattr(polyprop, stepper)
    ops, (params, state) = backend_run(backend, config, 1, step)
    grads = [ops.from_numpy(np.array([0.5, 1.0], np.float32))]
    with pytest.raises(error) as excinfo:
        step(params, grads, state, config)
    assert message(excinfo) == "schedule at step count 1: " + text.format(" ".join(repr(bad).split()))


@pytest.mark.parametrize("backend", OTHER)
def test_a_framework_vector_or_bool_from_a_schedule_is_refused_on_every_backend(backend):
    ops = require_backend(backend)
    values = [scalar(backend, True, "bool"), ops.from_numpy(np.array([0.1], np.float32))]
    for bad in values:
        config = RMSPropConfig(learning_rate=bad_at(bad, at=0))
        _, (params, state) = backend_run(backend, config, 0)
        with pytest.raises(TypeError) as excinfo:
            polyprop.step(params, [ops.from_numpy(np.array([0.5, 1.0], np.float32))], state, config)
        assert message(excinfo) == (
            f"schedule at step count 0: learning_rate {REAL} [0, inf) (a number or a 0-d array), got "
            + " ".join(repr(bad).split())
        )


@pytest.mark.parametrize("backend", OTHER)
def test_a_valid_framework_scalar_from_a_schedule_steps_as_its_float_does(backend):
    lrs = [scalar(backend, 0.25), scalar(backend, 0.125, "float16"), scalar(backend, 0.5, "float64")]
    config = RMSPropConfig(learning_rate=lambda count: lrs[count], decay=lambda count: scalar(backend, 0.75))
    floats = RMSPropConfig(learning_rate=lambda count: (0.25, 0.125, 0.5)[count], decay=0.75)
    for count in range(3):
        hyper = hyperparameters(config, count)
        assert type(hyper.lr) is float
        assert hyper.lr == (0.25, 0.125, 0.5)[count]
        assert hyper.decay == 0.75
    ops, (got, got_state) = backend_run(backend, config, 3)
    _, (want, want_state) = backend_run(backend, floats, 3)
    assert np.array_equal(ops.to_numpy(got[0]), ops.to_numpy(want[0]))
    assert np.array_equal(ops.to_numpy(got_state.nu[0]), ops.to_numpy(want_state.nu[0]))


@pytest.mark.parametrize("backend", OTHER)
def test_a_framework_scalar_given_to_a_float32_preset_is_checked_as_given(backend):
    with pytest.raises(ValueError, match="epsilon must be in") as excinfo:
        presets.mxnet(epsilon=scalar(backend, 1e-50, "float64"))
    given = " ".join(repr(scalar(backend, 1e-50, "float64")).split())
    assert message(excinfo) == (
        f"epsilon must be in (0, inf), got {given}, which rounds to 0.0 in float32 (epsilon is polyprop's eps)"
    )
    with pytest.raises(ValueError, match="alpha must be in") as excinfo:
        presets.torch(alpha=scalar(backend, 1.5))
    assert message(excinfo) == f"alpha must be in [0, 1), got {' '.join(repr(scalar(backend, 1.5)).split())} " \
        "(alpha is polyprop's decay)"


@pytest.mark.parametrize("backend", ["jax"])
def test_a_traced_schedule_value_under_jit_is_used_unchecked(backend):
    require_backend(backend)
    import jax
    import jax.numpy as jnp

    config = RMSPropConfig(learning_rate=lambda count: -0.1 * (count + 1), decay=0.5, eps=1e-8)
    x, g = jnp.asarray([1.0, -2.0]), jnp.asarray([0.5, 1.0])

    @jax.jit
    def one_step(count):
        state = polyprop.init([x], config)._replace(count=count)
        return polyprop.step([x], [g], state, config)[0][0]

    got = np.asarray(one_step(jnp.asarray(1)))
    lr = -0.2  # the schedule at count 1, negative: a tracer has no value to check
    want = np.array([1.0, -2.0]) - lr * np.array([0.5, 1.0]) / np.sqrt(0.5 * np.array([0.25, 1.0]) + 1e-8)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    with pytest.raises(ValueError, match=r"^schedule at step count 1: learning_rate must be in \[0, inf\), got -0.2"):
        polyprop.step([x], [g], polyprop.init([x], config)._replace(count=1), config)  # concrete: checked


@pytest.mark.parametrize("backend", ["tensorflow"])
def test_a_symbolic_schedule_value_under_tf_function_is_used_unchecked(backend):
    require_backend(backend)
    import tensorflow as tf

    x, g = tf.constant([1.0, -2.0], tf.float64), tf.constant([0.5, 1.0], tf.float64)

    @tf.function
    def one_step(lr):
        config = RMSPropConfig(learning_rate=lambda count: lr, decay=0.5)
        return polyprop.step([x], [g], polyprop.init([x], config), config)[0][0]

    got = one_step(tf.constant(-0.5, tf.float64)).numpy()
    want = np.array([1.0, -2.0]) + 0.5 * np.array([0.5, 1.0]) / np.sqrt(0.5 * np.array([0.25, 1.0]) + 1e-8)
    np.testing.assert_allclose(got, want, rtol=1e-12)


# -- the drop-ins: a value set after the constructor, or a scheduler's, at its step count ----------


@pytest.mark.parametrize("backend", ["torch"])
def test_torch_dropin_names_the_group_and_the_step_count(backend):
    torch = require_backend(backend).torch
    from polyprop.backends.torch import RMSprop

    p = torch.nn.Parameter(torch.ones(3))
    optimizer = RMSprop([p], lr=0.1)
    for _ in range(2):
        p.grad = torch.ones(3)
        optimizer.step()
    before = p.detach().clone()
    for key, value, error, text in [
        ("lr", -0.1, ValueError, "lr must be in [0, inf), got -0.1 (lr is polyprop's learning_rate)"),
        ("alpha", 1.5, ValueError, "alpha must be in [0, 1), got 1.5 (alpha is polyprop's decay)"),
        ("eps", None, TypeError, f"eps {REAL} (0, inf) (a number or a 0-d array), got None"),
    ]:
        group = dict(optimizer.param_groups[0])
        optimizer.param_groups[0][key] = value
        with pytest.raises(error) as excinfo:
            optimizer.step()
        assert message(excinfo) == f"param_groups[0] at step count 2: {text}"
        optimizer.param_groups[0].update(group)
    assert torch.equal(p.detach(), before)  # nothing was written
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0 if epoch < 1 else -1.0)
    optimizer.step()
    scheduler.step()
    with pytest.raises(ValueError, match=r"param_groups\[0\] at step count 3: lr must be in") as excinfo:
        optimizer.step()
    assert message(excinfo) == "param_groups[0] at step count 3: lr must be in [0, inf), got -0.1 " \
        "(lr is polyprop's learning_rate)"


@pytest.mark.parametrize("backend", ["jax"])
def test_jax_dropin_checks_a_schedule_value_when_called_eagerly_and_not_under_jit(backend):
    require_backend(backend)
    import jax
    import jax.numpy as jnp

    from polyprop.backends.jax import rmsprop

    def schedule(count):
        return jnp.where(count < 2, 0.1, -0.1)

    params = {"w": jnp.ones(3)}
    eager, traced = rmsprop(schedule), rmsprop(schedule)
    state = eager.init(params)
    for _ in range(2):
        _, state = eager.update({"w": jnp.ones(3)}, state)
    with pytest.raises(ValueError, match="schedule at step count 2: learning_rate must be in") as excinfo:
        eager.update({"w": jnp.ones(3)}, state)
    dtype = jnp.asarray(0.1).dtype  # (float64 where the test session enables x64)
    assert message(excinfo) == (
        f"schedule at step count 2: learning_rate must be in [0, inf), got Array(-0.1, dtype={dtype}, weak_type=True)"
    )
    update = jax.jit(traced.update)
    state = traced.init(params)
    for _ in range(3):
        updates, state = update({"w": jnp.ones(3)}, state)
    assert float(updates["w"][0]) > 0  # lr -0.1 used as optax uses it: the update has the gradient's sign


@pytest.mark.parametrize("backend", ["mxnet"])
def test_mxnet_dropin_names_the_step_count_of_a_scheduler_or_a_changed_value(backend):
    mxo = require_backend(backend)
    mx = mxo.mx

    class Negative(mx.lr_scheduler.LRScheduler):
        def __call__(self, num_update):
            return 0.1 if num_update < 3 else -0.1

    for make, change, text in [
        (lambda: mxo.RMSProp(lr_scheduler=Negative()), None,
         "the learning rate of parameter 0 (learning_rate, lr_scheduler, lr_mult) must be in [0, inf], got -0.1 "
         "(MXNet reads it as the C++ float -0.10000000149011612)"),
        (lambda: mxo.RMSProp(learning_rate=0.1), ("gamma1", 1.5), "gamma1 must be in [0, 1), got 1.5"),
    ]:
        optimizer = make()
        weight, grad = mx.nd.ones(3), mx.nd.ones(3)
        state = optimizer.create_state(0, weight)
        for _ in range(2):
            optimizer.update(0, weight, grad, state)
        if change:
            setattr(optimizer, *change)
        before = weight.asnumpy()
        with pytest.raises(ValueError, match=re.escape(f"at step count 2: {text}")) as excinfo:
            optimizer.update(0, weight, grad, state)
        assert message(excinfo) == f"at step count 2: {text}"
        np.testing.assert_array_equal(weight.asnumpy(), before)


KERAS_SCHEDULE = """
import numpy as np
import keras
from polyprop.backends.keras import RMSprop

class Negative(keras.optimizers.schedules.LearningRateSchedule):
    def __call__(self, step):
        return keras.ops.where(step < 2, 0.1, -0.1)

v = keras.Variable(np.ones(3, np.float32))
optimizer = RMSprop(learning_rate=Negative())
for _ in range(2):
    optimizer.apply([np.ones(3, np.float32)], [v])
before = keras.ops.convert_to_numpy(v).tolist()
try:
    optimizer.apply([np.ones(3, np.float32)], [v])
except ValueError as error:
    print("ValueError:", " ".join(str(error).split()))
print("kept:", keras.ops.convert_to_numpy(v).tolist() == before)
"""
"""Keras fixes its backend at import: each Keras backend runs this in a subprocess."""


@pytest.mark.parametrize("keras_backend", ["tensorflow", "jax", "torch"])
def test_keras_dropin_checks_a_schedule_value_at_its_step_count(keras_backend):
    import os
    import subprocess
    import sys

    require_backend(keras_backend)
    pytest.importorskip("keras")
    done = subprocess.run([sys.executable, "-c", KERAS_SCHEDULE], env={**os.environ, "KERAS_BACKEND": keras_backend},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    refused, kept = done.stdout.strip().splitlines()[-2:]
    shown_value = {
        "tensorflow": "<tf.Tensor: shape=(), dtype=float32, numpy=-0.10000000149011612>",
        "jax": "Array(-0.1, dtype=float32)",
        "torch": "tensor(-0.1000)",
    }[keras_backend]
    assert refused == f"ValueError: schedule at step count 2: learning_rate must be in [0, inf), got {shown_value}"
    assert kept == "kept: True"
