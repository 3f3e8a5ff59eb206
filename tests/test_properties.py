"""Property-based tests (hypothesis): random configs, shapes and values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import polyprop
from polyprop import RMSPropConfig
from polyprop.parity import Problem, compare, trajectory

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)
# TensorFlow flushes subnormal numbers to zero on CPU (its ops run with FTZ/DAZ); values are
# kept where no intermediate (g*g, wd*x) can become subnormal, so that difference stays out.
finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, allow_subnormal=False).filter(
    lambda v: v == 0 or abs(v) > 1e-30
)


@st.composite
def configs(draw):
    momentum = draw(st.sampled_from([0.0, 0.5, 0.9]))
    return RMSPropConfig(
        learning_rate=draw(st.floats(1e-4, 0.5)),
        decay=draw(st.floats(0.0, 0.999, allow_subnormal=False)),  # MXNet refuses subnormal scalars
        eps=draw(st.sampled_from([1e-10, 1e-8, 1e-6, 1e-3])),
        eps_in_sqrt=draw(st.booleans()),
        initial_scale=draw(st.sampled_from([0.0, 0.1, 1.0])),
        centered=draw(st.booleans()),
        momentum=momentum,
        lr_inside_momentum=draw(st.booleans()),
        nesterov=momentum > 0 and draw(st.booleans()),
        weight_decay=draw(st.sampled_from([0.0, 1e-3, 0.1])),
        decoupled_weight_decay=draw(st.booleans()),
        maximize=draw(st.booleans()),
        bias_correction=draw(st.booleans()),
    )


def centered_variance_kept(snapshots, config) -> float:
    """The smallest ``var / nu_hat`` over a centered run (``var = nu_hat - mu_hat**2``).

    A ratio r means the subtraction cancelled all but r of ``nu_hat``: an ulp of
    difference in ``nu`` or ``mu`` becomes a relative difference of about ulp / r in
    the variance.  decay near 0 gives ``nu = g**2``, ``mu = g``, so r is ~decay.
    """
    smallest = 1.0
    for t, snap in enumerate(snapshots, start=1):
        correction = 1 - config.decay**t if config.bias_correction else 1.0
        for nu, mu in zip(snap["nu"], snap["mu"]):
            nu_hat, mu_hat = nu / correction, mu / correction
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(nu_hat > 0, (nu_hat - mu_hat**2) / nu_hat, 1.0)
            smallest = min(smallest, float(np.min(ratio, initial=1.0)))
    return smallest


@st.composite
def problems(draw, steps=5):
    shape = draw(shapes)
    params = [draw(hnp.arrays(np.float64, shape, elements=finite))]
    grads = [[draw(hnp.arrays(np.float64, shape, elements=finite))] for _ in range(steps)]
    return Problem(params, grads)


@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt:RuntimeWarning")
@pytest.mark.parametrize("name", ["torch", "mxnet", "tensorflow", "jax"])
@SETTINGS
@given(config=configs(), problem=problems())
def test_every_backend_agrees_with_numpy_on_random_configs(name, config, problem):
    from conftest import require_backend

    ops = require_backend(name)
    # centered + bias correction from s = 0 makes the first step's variance g^2 - g^2,
    # exactly 0: its sign is rounding noise, so no two implementations need agree.
    assume(not (config.centered and config.bias_correction and config.initial_scale == 0))
    reference = trajectory("numpy", config, problem)
    # Centered variance can cancel to (almost) nothing; then the step is ~lr*g/sqrt(eps)
    # and ulp-level differences are amplified. Compare only well-conditioned runs.
    if not all(np.all(np.isfinite(leaf)) for snap in reference for leaves in snap.values() for leaf in leaves):
        return
    assume(not config.centered or centered_variance_kept(reference, config) >= 1e-8)
    diff = compare(trajectory(ops, config, problem), reference)
    limit = 1e-12 if not config.centered else 1e-6
    assert diff.max_rel <= limit, (diff, config)


@SETTINGS
@given(config=configs(), problem=problems(steps=8))
def test_accumulator_is_non_negative_when_not_centered(config, problem):
    config = config.replace(centered=False)
    params, state = problem.params, polyprop.init(problem.params, config)
    for grads in problem.grads:
        params, state = polyprop.step(params, grads, state, config)
        assert np.all(state.nu[0] >= 0)


@SETTINGS
@given(config=configs(), problem=problems(steps=1))
def test_zero_gradient_without_weight_decay_or_momentum_leaves_parameters_alone(config, problem):
    config = config.replace(weight_decay=0.0, momentum=0.0, nesterov=False)
    zero = [np.zeros_like(problem.params[0])]
    new, _ = polyprop.step(problem.params, zero, polyprop.init(problem.params, config), config)
    assert np.array_equal(new[0], problem.params[0])


@SETTINGS
@given(
    lr=st.floats(1e-4, 1.0),
    decay=st.floats(0.0, 0.99),
    g=hnp.arrays(np.float64, shapes, elements=st.floats(-1e6, 1e6).filter(lambda v: abs(v) > 1e-3)),
    scale=st.sampled_from([1e-3, 0.5, 7.0, 1e4]),
)
def test_first_step_is_invariant_to_gradient_scale_as_eps_goes_to_zero(lr, decay, g, scale):
    config = RMSPropConfig(learning_rate=lr, decay=decay, eps=1e-300)
    x = [np.zeros_like(g)]
    a, _ = polyprop.step(x, [g], polyprop.init(x, config), config)
    b, _ = polyprop.step(x, [g * scale], polyprop.init(x, config), config)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-12)
    # ... and each coordinate moves by lr / sqrt(1 - decay) against the gradient's sign.
    np.testing.assert_allclose(a[0], -np.sign(g) * lr / np.sqrt(1 - decay), rtol=1e-12)


@SETTINGS
@given(config=configs(), problem=problems(steps=1))
def test_single_step_size_is_bounded(config, problem):
    """Plain RMSProp from s = initial_scale: |dx| <= lr |g| / sqrt((1-decay) g^2 + initial_scale*decay + eps)."""
    config = config.replace(centered=False, momentum=0.0, nesterov=False, weight_decay=0.0, bias_correction=False)
    x, g = problem.params[0], problem.grads[0][0]
    new, _ = polyprop.step([x], [g], polyprop.init([x], config), config)
    bound = config.learning_rate / np.sqrt(1 - config.decay) + 1e-12 * np.abs(x)
    assert np.all(np.abs(new[0] - x) <= bound * (1 + 1e-12))
