"""Every leaf checked, by name: the errors that name an offending tensor, state leaf or container.

polyprop.validation checks each parameter, gradient and state leaf and names the
one at fault with its path (params[1], grads[0], state.mu[1]); a step that
passed is remembered by its leaves' signatures, and any change is checked again.
NumPy only: the jax-looking tensors are fakes (conftest.Array).
"""

from __future__ import annotations

import types

import numpy as np
import pytest

import polyprop
from conftest import Array
from polyprop import RMSPropConfig
from polyprop.validation import dtype_name

FLOAT_LIST = "float16, bfloat16, float32, float64"


def test_a_gradient_of_another_framework_is_named_when_the_backend_is_given():
    params = [np.ones(2)]
    config = RMSPropConfig()
    state = polyprop.init(params, config)
    with pytest.raises(TypeError) as excinfo:
        polyprop.step(params, [Array()], state, config, "numpy")
    assert str(excinfo.value) == "grads[0] is a jax tensor (Array) but params[0] is a numpy tensor"


def test_a_parameter_of_another_framework_is_named():
    with pytest.raises(TypeError) as excinfo:
        polyprop.init([np.ones(1), Array()], RMSPropConfig(), "numpy")
    assert str(excinfo.value) == "params[1] is a jax tensor (Array) but the backend is numpy"


def test_a_parameter_needs_both_shape_and_dtype():
    class NoShape:
        dtype = np.dtype("float64")

    class NoDtype:
        shape = (2,)

    for thing, kind in ((NoShape(), "NoShape"), (NoDtype(), "NoDtype")):
        with pytest.raises(TypeError) as excinfo:
            polyprop.init([thing], RMSPropConfig(), "numpy")
        assert str(excinfo.value) == f"params[0] must be a tensor, got {kind}"


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
        assert str(excinfo.value) == f"grads[0] must be a tensor or None, got {kind}"


def test_integer_parameters_at_step_name_the_parameter_and_the_float_dtypes():
    config = RMSPropConfig()
    state = polyprop.init([np.ones(2)], config)
    with pytest.raises(TypeError) as excinfo:
        polyprop.step([np.arange(2)], [np.ones(2)], state, config)
    assert str(excinfo.value) == f"params[0] has dtype int64: RMSProp needs floating-point parameters ({FLOAT_LIST})"


def test_a_state_leaf_of_the_wrong_shape_is_named_with_its_field():
    config = RMSPropConfig(centered=True, momentum=0.5)
    params = [np.ones(2)]
    state = polyprop.init(params, config)
    for field in ("nu", "mu", "momentum"):
        bad = state._replace(**{field: [np.ones(3)]})
        with pytest.raises(ValueError, match=rf"state\.{field}\[0\] has shape") as excinfo:
            polyprop.step(params, [np.ones(2)], bad, config)
        assert str(excinfo.value) == f"state.{field}[0] has shape (3,) but params[0] has shape (2,)"


def test_a_state_built_for_another_config_names_the_missing_field():
    params = [np.ones(2)]
    state = polyprop.init(params, RMSPropConfig())
    with pytest.raises(ValueError, match="is None but the config needs it") as excinfo:
        polyprop.step(params, [np.ones(2)], state, RMSPropConfig(centered=True))
    assert str(excinfo.value) == "state.mu is None but the config needs it; build the state with init()"


def test_step_names_params_that_are_not_a_container():
    config = RMSPropConfig()
    state = polyprop.init([np.ones(2)], config)
    with pytest.raises(TypeError) as excinfo:
        polyprop.step(np.ones(2), [np.ones(2)], state, config)
    assert str(excinfo.value) == "params must be a list, tuple or dict of tensors, got ndarray"


def test_gradients_in_another_kind_of_container_are_named():
    params = [np.ones(2)]
    config = RMSPropConfig()
    state = polyprop.init(params, config)
    with pytest.raises(TypeError) as excinfo:
        polyprop.step(params, {"a": np.ones(2)}, state, config)
    assert str(excinfo.value) == "grads must be a list like params, got dict"


def test_dtype_name_reads_an_unhashable_dtype_object():
    class Unhashable:
        __hash__ = None

        def __str__(self):
            return "<dtype: 'float32'>"

    tensor = types.SimpleNamespace(dtype=Unhashable(), shape=(1,))
    assert dtype_name(tensor) == "float32"


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
