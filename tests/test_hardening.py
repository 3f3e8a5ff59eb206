"""Hardening: bad input named clearly, non-finite gradients on request, low precision."""

from __future__ import annotations

import numpy as np
import pytest

import polyprop
from conftest import require_backend
from polyprop import RMSPropConfig

LOW = ["float16", "bfloat16"]
NONFINITE = [np.nan, np.inf, -np.inf]
BAD_INPUTS: list[str] = []
"""Every bad input tried below, by description (counted for the closing note)."""


def tensors(ops, arrays):
    return [ops.from_numpy(a) for a in arrays]


# -- non-finite gradients --------------------------------------------------------------


EXPECTED_FP_WARNINGS = [
    "ignore:invalid value encountered:RuntimeWarning",  # NumPy notes the NaN/Inf these tests feed in
    "ignore:overflow encountered:RuntimeWarning",
]


@pytest.mark.filterwarnings(*EXPECTED_FP_WARNINGS)
@pytest.mark.parametrize("value", NONFINITE, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("mode", ["propagate", "skip", "raise"])
def test_nonfinite_gradient_in_one_element_of_one_tensor(backend, mode, value):
    ops = backend
    config = RMSPropConfig(learning_rate=0.1, momentum=0.5, centered=True, nonfinite=mode)
    params = tensors(ops, [np.ones(3), np.ones((2, 2))])
    state = polyprop.init(params, config)
    params, state = polyprop.step(params, tensors(ops, [np.full(3, 0.5), np.full((2, 2), 0.5)]), state, config)
    bad = np.full((2, 2), 0.5)
    bad[1, 0] = value
    grads = tensors(ops, [np.full(3, 0.5), bad])
    before = [ops.to_numpy(p) for p in params], [ops.to_numpy(n) for n in state.nu]
    if mode == "raise":
        with pytest.raises(FloatingPointError, match=r"grads\[1\] holds NaN or Inf at step count 1"):
            polyprop.step(params, grads, state, config)
        return
    new, new_state = polyprop.step(params, grads, state, config)
    if mode == "skip":
        assert new_state.skipped == 1
        assert new_state.count == 1
        for a, b in zip([ops.to_numpy(p) for p in new], before[0]):
            assert np.array_equal(a, b)
        assert all(np.array_equal(ops.to_numpy(a), b) for a, b in zip(new_state.nu, before[1]))
        # The next good step proceeds from the unchanged state.
        good, after = polyprop.step(new, tensors(ops, [np.full(3, 0.5), np.full((2, 2), 0.5)]), new_state, config)
        assert after.count == 2
        assert after.skipped == 1
        assert np.all(np.isfinite(ops.to_numpy(good[1])))
    else:  # propagate: as the native optimizers, the bad value reaches the parameter
        assert not np.all(np.isfinite(ops.to_numpy(new[1])))
        assert np.all(np.isfinite(ops.to_numpy(new[0])))


def test_nonfinite_option_is_validated():
    BAD_INPUTS.append("nonfinite='ignore'")
    with pytest.raises(ValueError, match="nonfinite must be one of 'propagate', 'skip', 'raise', got 'ignore'"):
        RMSPropConfig(nonfinite="ignore")


# -- low precision ---------------------------------------------------------------------


def _low(ops, dtype):
    """``dtype``, or None where the framework has no such type (then its clear refusal is checked)."""
    if dtype == "bfloat16":  # NumPy arrays of bfloat16 need ml_dtypes (installed with JAX and TensorFlow)
        ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 NumPy arrays need ml_dtypes")
        if ops.NAME == "mxnet":
            with pytest.raises(TypeError, match=r"MXNet 1\.9\.1 has no bfloat16 NDArray"):
                ops.from_numpy(np.ones(2, dtype=ml_dtypes.bfloat16))
            return None
    return dtype


@pytest.mark.parametrize("dtype", LOW)
def test_low_precision_parameters_keep_their_dtype_and_state_can_be_float32(backend, dtype):
    ops, dtype = backend, _low(backend, dtype)
    if dtype is None:
        return
    params = tensors(ops, [np.array([1.0, -2.0, 0.5], dtype=dtype)])
    for state_dtype in (None, "float32"):
        config = RMSPropConfig(learning_rate=0.01, momentum=0.9, state_dtype=state_dtype)
        state = polyprop.init(params, config)
        new, state = polyprop.step(params, tensors(ops, [np.array([0.5, 0.5, -0.5], dtype=dtype)]), state, config)
        assert ops.to_numpy(new[0]).dtype.name == dtype
        assert ops.to_numpy(state.nu[0]).dtype.name == (state_dtype or dtype)
        assert ops.to_numpy(state.momentum[0]).dtype.name == (state_dtype or dtype)


@pytest.mark.parametrize("dtype", LOW)
def test_low_precision_matches_numpy(backend, dtype):
    ops, dtype = backend, _low(backend, dtype)
    if dtype is None:
        return
    config = RMSPropConfig(learning_rate=0.01, decay=0.9, eps=1e-3, state_dtype="float32")
    rng = np.random.default_rng(0)
    start = rng.standard_normal((4, 3)).astype(dtype)
    grads = [rng.standard_normal((4, 3)).astype(dtype) for _ in range(20)]

    def run(o):
        params = [o.from_numpy(start)]
        state = polyprop.init(params, config)
        for g in grads:
            params, state = polyprop.step(params, [o.from_numpy(g)], state, config)
        return o.to_numpy(params[0]).astype(np.float64)

    # Each op is correctly rounded in float32; the cast back to the low dtype may land
    # on the other side of a rounding boundary: at most one ulp of the low dtype.
    ulp = {"float16": 2.0**-10, "bfloat16": 2.0**-7}[dtype]
    np.testing.assert_allclose(run(ops), run(polyprop.get_ops("numpy")), rtol=2 * ulp)


@pytest.mark.filterwarnings(*EXPECTED_FP_WARNINGS)
@pytest.mark.parametrize("accumulator", ["float16", "float32"])
def test_float16_gradient_of_300_overflows_a_float16_accumulator(backend, accumulator):
    """300^2 = 90000 > 65504, float16's largest value: the accumulator becomes Inf and the
    step g / sqrt(Inf) is 0, so training silently stops; a float32 accumulator keeps going."""
    ops = backend
    config = RMSPropConfig(learning_rate=0.01, decay=0.9, state_dtype=None if accumulator == "float16" else "float32")
    params = tensors(ops, [np.array([1.0, 1.0], dtype="float16")])
    state = polyprop.init(params, config)
    new, state = polyprop.step(params, tensors(ops, [np.array([300.0, 1.0], dtype="float16")]), state, config)
    moved = ops.to_numpy(new[0]).astype(np.float64) - 1.0
    nu = ops.to_numpy(state.nu[0]).astype(np.float64)
    if accumulator == "float16":
        assert np.isinf(nu[0])
        assert moved[0] == 0.0  # the update collapsed to 0
    else:
        # float16 holds 1 - 0.0316 to within half an ulp of 1 (2^-11)
        assert nu[0] == pytest.approx(9000.0)
        assert moved[0] == pytest.approx(-0.01 / np.sqrt(0.1), abs=2.0**-11)
    assert moved[1] == pytest.approx(-0.01 / np.sqrt(0.1), abs=2.0**-11)  # the other element trains either way


# -- bad input -------------------------------------------------------------------------


def _step(params, grads, config=None, state=None):
    config = config or RMSPropConfig()
    return polyprop.step(params, grads, state or polyprop.init(params, config), config)


BAD_STEPS = [
    ("integer parameters", [np.arange(3)], [np.ones(3)], TypeError,
     r"params\[0\] has dtype int64: RMSProp needs floating-point"),
    ("boolean parameters", [np.ones(2, bool)], [np.ones(2)], TypeError, r"params\[0\] has dtype bool"),
    ("gradient of another shape", [np.ones(3)], [np.ones(4)], ValueError,
     r"grads\[0\] has shape \(4,\) but params\[0\] has shape \(3,\)"),
    ("gradient of another dtype", [np.ones(3)], [np.ones(3, np.float32)], TypeError,
     r"grads\[0\] has dtype float32 but float64 is needed"),
    ("a list where a tensor belongs", [np.ones(3)], [[1.0, 2.0, 3.0]], TypeError,
     r"grads\[0\] must be a tensor or None, got list"),
    ("a Python float as parameter", [1.0], [np.ones(())], TypeError, r"params\[0\] must be a tensor, got float"),
]


@pytest.mark.parametrize(("what", "params", "grads", "error", "message"), BAD_STEPS, ids=[b[0] for b in BAD_STEPS])
def test_bad_tensors_are_named(what, params, grads, error, message):
    BAD_INPUTS.append(what)
    if what.startswith(("integer", "boolean", "a Python")):  # refused by init already
        with pytest.raises(error, match=message):
            polyprop.init(params, RMSPropConfig())
    with pytest.raises(error, match=message):
        _step(params, grads)


def test_state_of_another_shape_or_dtype_is_named():
    params = {"w": np.ones((2, 2)), "b": np.ones(2)}
    config = RMSPropConfig(momentum=0.5)
    state = polyprop.init(params, config)
    BAD_INPUTS.extend(["state leaf of another shape", "state leaf of another dtype", "state for other keys"])
    with pytest.raises(ValueError, match=r"state.nu\['b'\] has shape \(3,\) but params\['b'\] has shape \(2,\)"):
        polyprop.step(params, params, state._replace(nu={"w": np.ones((2, 2)), "b": np.ones(3)}), config)
    with pytest.raises(TypeError, match=r"state.momentum\['w'\] has dtype float32 but float64 is needed"):
        polyprop.step(
            params, params, state._replace(momentum={"w": np.ones((2, 2), np.float32), "b": np.ones(2)}), config
        )
    with pytest.raises(ValueError, match=r"state.nu keys differ from params: missing \['b'\], extra \['c'\]"):
        polyprop.step(params, params, state._replace(nu={"w": np.ones((2, 2)), "c": np.ones(2)}), config)


def test_tensors_of_another_framework_than_the_backend_are_named():
    torch_ops = require_backend("torch")
    BAD_INPUTS.extend(["numpy params on the torch backend", "torch gradient for numpy params"])
    with pytest.raises(TypeError, match=r"params\[0\] is a numpy tensor \(ndarray\) but the backend is torch"):
        polyprop.init([np.ones(2)], RMSPropConfig(), "torch")
    params = [np.ones(2)]
    with pytest.raises(TypeError, match=r"grads\[0\] is a torch tensor \(Tensor\) but params\[0\] is a numpy tensor"):
        polyprop.step(
            params, [torch_ops.from_numpy(np.ones(2))], polyprop.init(params, RMSPropConfig()), RMSPropConfig(), "numpy"
        )


def test_state_dtype_is_validated():
    BAD_INPUTS.append("state_dtype='float8'")
    with pytest.raises(
        ValueError, match="state_dtype must be None or one of 'float16', 'bfloat16', 'float32', 'float64', got 'float8'"
    ):
        RMSPropConfig(state_dtype="float8")


def test_zz_report_bad_input_count(capsys):
    with capsys.disabled():
        print(f"\nhardening: {len(BAD_INPUTS)} bad inputs tried here")
