"""The neutral definition: golden values, each convention against an independent formula, containers."""

from __future__ import annotations

import collections
import math
import types

import numpy as np
import pytest

import polyprop
from polyprop import RMSPropConfig
from polyprop.chapter.trace import f_2d, grad_rotated, trace_2d

# D2L's rmsprop_2d / train_2d run verbatim in float64 (NATIVE_RMSPROP.md, "D2L check").
D2L_X20 = (-0.01059867213411372, 1.0362121337275157e-14)


def d2l_trace(steps=20, eta=0.4, gamma=0.9, eps=1e-6):
    """The chapter's code, transcribed: plain Python floats."""
    x1, x2, s1, s2 = -5.0, -2.0, 0.0, 0.0
    for _ in range(steps):
        g1, g2 = 0.2 * x1, 4 * x2
        s1 = gamma * s1 + (1 - gamma) * g1**2
        s2 = gamma * s2 + (1 - gamma) * g2**2
        x1 -= eta / math.sqrt(s1 + eps) * g1
        x2 -= eta / math.sqrt(s2 + eps) * g2
    return x1, x2


def test_transcribed_chapter_code_gives_the_recorded_golden_point():
    assert d2l_trace() == D2L_X20


def test_chapter_trace_on_every_backend(backend):
    trace = trace_2d(backend)
    assert trace.chapter_line() == "epoch 20, x1: -0.010599, x2: 0.000000"
    x1, x2 = trace.final
    # Same formula, operations in a different order than D2L's: a few ulps apart at most.
    assert x1 == pytest.approx(D2L_X20[0], rel=1e-13)
    assert abs(x2) < 1e-13
    assert trace.points.shape == (21, 2)
    assert f_2d(*trace.points[-1]) < 1e-4 < f_2d(*trace.points[0])


def test_chapter_trace_float32_still_prints_the_chapter_line(backend):
    assert trace_2d(backend, dtype="float32").chapter_line() == "epoch 20, x1: -0.010599, x2: 0.000000"


def test_rotated_problem_converges_more_slowly_than_the_axis_aligned_one():
    axis_aligned = trace_2d("numpy", steps=20)
    rotated = trace_2d("numpy", steps=20, gradient=grad_rotated)
    assert np.linalg.norm(rotated.points[-1]) > 10 * np.linalg.norm(axis_aligned.points[-1])


def reference_step(x, g, st, c: RMSPropConfig, lr, decay):
    """An independent float64 transcription of the family (NATIVE_RMSPROP.md section 2)."""
    t = st["t"] = st.get("t", 0) + 1
    if c.maximize:
        g = -g
    if c.weight_decay and not c.decoupled_weight_decay:
        g = g + c.weight_decay * x
    if c.weight_decay and c.decoupled_weight_decay:
        x = x - x * c.weight_decay * lr
    nu = st["nu"] = decay * st.get("nu", np.full_like(x, c.initial_scale)) + (1 - decay) * g * g
    mu = st["mu"] = decay * st.get("mu", np.zeros_like(x)) + (1 - decay) * g
    bc = 1 - decay**t if c.bias_correction else 1.0
    var = nu / bc - (mu / bc) ** 2 if c.centered else nu / bc
    den = np.sqrt(var + c.eps) if c.eps_in_sqrt else np.sqrt(var) + c.eps
    u = g / den
    if not c.momentum:
        return x - lr * u
    m_prev = st.get("m", np.zeros_like(x))
    if c.lr_inside_momentum:  # Keras / TF kernel / Optax: m = mu*m + lr*u
        m = st["m"] = c.momentum * m_prev + lr * u
        return x - (lr * u + c.momentum * m if c.nesterov else m)
    m = st["m"] = c.momentum * m_prev + u  # PyTorch: b = mu*b + u; x -= lr*b
    return x - lr * (u + c.momentum * m if c.nesterov else m)


CONVENTIONS = {
    "d2l": RMSPropConfig(learning_rate=0.05, decay=0.9, eps=1e-6),
    "torch_eps": RMSPropConfig(learning_rate=0.05, decay=0.99, eps=1e-3, eps_in_sqrt=False),
    "tf1_start": RMSPropConfig(learning_rate=0.05, initial_scale=1.0, eps=1e-10),
    "centered": RMSPropConfig(learning_rate=0.05, centered=True),
    "momentum_in": RMSPropConfig(learning_rate=lambda t: 0.05 / (1 + t), momentum=0.9),
    "momentum_out": RMSPropConfig(learning_rate=lambda t: 0.05 / (1 + t), momentum=0.9, lr_inside_momentum=False),
    "nesterov": RMSPropConfig(learning_rate=0.05, momentum=0.5, nesterov=True),
    "l2": RMSPropConfig(learning_rate=0.05, weight_decay=0.3),
    "decoupled": RMSPropConfig(learning_rate=0.05, weight_decay=0.3, decoupled_weight_decay=True),
    "maximize": RMSPropConfig(learning_rate=0.05, maximize=True),
    # eps well above the rounding of var: centered + bias correction makes var exactly 0 at step 1.
    "bias_correction": RMSPropConfig(learning_rate=0.05, decay=0.9, eps=0.1, centered=True, bias_correction=True),
    "decay_schedule": RMSPropConfig(learning_rate=0.05, decay=lambda t: 0.5 + 0.4 * min(t, 10) / 10),
}


@pytest.mark.parametrize("name", CONVENTIONS)
def test_each_convention_matches_an_independent_transcription(name):
    config = CONVENTIONS[name]
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4))
    params, state, ref_x, ref_state = [x], polyprop.init([x], config), x, {}
    for count in range(30):
        g = rng.standard_normal((3, 4))
        lr = config.learning_rate(count) if callable(config.learning_rate) else config.learning_rate
        decay = config.decay(count) if callable(config.decay) else config.decay
        params, state = polyprop.step(params, [g], state, config)
        ref_x = reference_step(ref_x, g, ref_state, config, lr, decay)
        np.testing.assert_allclose(params[0], ref_x, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(state.nu[0], ref_state["nu"], rtol=1e-13)
    assert state.count == 30


def test_the_conventions_really_differ():
    """Each field changes the trajectory; a test above could not pass by accident."""
    rng = np.random.default_rng(1)
    x0, grads = rng.standard_normal(5), [rng.standard_normal(5) for _ in range(20)]

    def run(config):
        params, state = [x0], polyprop.init([x0], config)
        for g in grads:
            params, state = polyprop.step(params, [g], state, config)
        return params[0]

    finals = {name: run(config) for name, config in CONVENTIONS.items()}
    names = list(finals)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert np.max(np.abs(finals[a] - finals[b])) > 1e-6, (a, b)


def test_lr_inside_and_outside_momentum_agree_for_a_constant_learning_rate():
    inside = RMSPropConfig(learning_rate=0.05, momentum=0.9)
    outside = inside.replace(lr_inside_momentum=False)
    rng = np.random.default_rng(2)
    p_in = p_out = [rng.standard_normal(4)]
    s_in, s_out = polyprop.init(p_in, inside), polyprop.init(p_out, outside)
    for _ in range(50):
        g = [rng.standard_normal(4)]
        p_in, s_in = polyprop.step(p_in, g, s_in, inside)
        p_out, s_out = polyprop.step(p_out, g, s_out, outside)
    np.testing.assert_allclose(p_in[0], p_out[0], rtol=1e-12)
    np.testing.assert_allclose(s_in.momentum[0], 0.05 * s_out.momentum[0], rtol=1e-12)


def test_nesterov_with_lr_outside_momentum_matches_the_formula():
    """PyTorch's form with Nesterov: m = beta m + u;  x -= lr (u + beta m)."""
    lr, decay, eps, beta = 0.1, 0.9, 1e-8, 0.5
    config = RMSPropConfig(
        learning_rate=lr, decay=decay, eps=eps, momentum=beta, nesterov=True, lr_inside_momentum=False
    )
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


def test_dict_params_keep_their_keys_and_a_none_gradient_leaves_its_parameter_alone():
    config = RMSPropConfig(learning_rate=0.1, centered=True, momentum=0.5)
    params = {"w": np.ones((2, 2)), "b": np.zeros(2)}
    state = polyprop.init(params, config)
    new, state = polyprop.step(params, {"w": np.full((2, 2), 0.5), "b": None}, state, config)
    assert list(new) == ["w", "b"]
    assert list(state.nu) == ["w", "b"]
    assert new["b"] is params["b"]
    assert state.nu["b"] is not None
    assert np.all(state.nu["b"] == 0)
    assert np.all(new["w"] < 1.0)
    assert isinstance(state.mu, dict)
    assert isinstance(state.momentum, dict)


def test_state_has_only_the_leaves_the_config_needs_with_the_param_dtype():
    params = (np.ones(3, np.float32),)
    plain = polyprop.init(params, RMSPropConfig())
    assert plain.mu is None
    assert plain.momentum is None
    assert plain.count == 0
    full = polyprop.init(params, RMSPropConfig(centered=True, momentum=0.1, initial_scale=1.0))
    assert isinstance(full.nu, tuple)
    assert full.nu[0].dtype == np.float32
    assert np.all(full.nu[0] == 1.0)
    assert np.all(full.mu[0] == 0)
    assert np.all(full.momentum[0] == 0)
    new, _ = polyprop.step(params, (np.ones(3, np.float32),), full, RMSPropConfig(centered=True, momentum=0.1))
    assert isinstance(new, tuple)
    assert new[0].dtype == np.float32


def test_a_none_gradient_first_still_updates_the_parameters_after_it():
    config = RMSPropConfig(learning_rate=0.1, decay=0.9, eps=1e-8)
    params = [np.array([1.0]), np.array([1.0])]
    state = polyprop.init(params, config)
    new, state = polyprop.step(params, [None, np.array([2.0])], state, config)
    assert new[0] is params[0]
    assert state.nu[0][0] == 0.0
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
    assert type(new) is collections.OrderedDict
    assert type(state.nu) is collections.OrderedDict
    assert list(new) == ["b", "a"]


def test_a_read_only_mapping_of_params_gives_plain_dicts():
    config = RMSPropConfig(learning_rate=0.1)
    params = types.MappingProxyType({"w": np.ones(2), "b": np.zeros(1)})
    state = polyprop.init(params, config)
    assert type(state.nu) is dict
    assert list(state.nu) == ["w", "b"]
    new, state = polyprop.step(params, {"w": np.ones(2), "b": np.ones(1)}, state, config)
    assert type(new) is dict
    assert list(new) == ["w", "b"]
    assert new["w"].shape == (2,)
    assert new["b"].shape == (1,)
    assert np.all(new["w"] < 1.0)
    assert np.all(new["b"] < 0.0)


@pytest.mark.parametrize(
    ("grads", "message"),
    [
        ([np.ones(2)], "grads has 1 tensors but params has 2"),
        ({"a": np.ones(2)}, "grads must be a list like params"),
        (np.ones(2), "grads must be a list, tuple or dict of tensors, got ndarray"),
    ],
)
def test_mismatched_gradients_are_named(grads, message):
    params = [np.ones(2), np.ones(2)]
    config = RMSPropConfig()
    with pytest.raises((ValueError, TypeError), match=message):
        polyprop.step(params, grads, polyprop.init(params, config), config)


def test_dict_key_mismatch_is_named():
    params = {"w": np.ones(2), "b": np.ones(1)}
    config = RMSPropConfig()
    with pytest.raises(ValueError, match=r"grads keys differ from params: missing \['b'\], extra \['c'\]"):
        polyprop.step(params, {"w": np.ones(2), "c": np.ones(1)}, polyprop.init(params, config), config)


def test_state_from_another_config_is_refused():
    params = [np.ones(2)]
    state = polyprop.init(params, RMSPropConfig())
    with pytest.raises(ValueError, match=r"state\.momentum is None but the config needs it"):
        polyprop.step(params, [np.ones(2)], state, RMSPropConfig(momentum=0.9))


def test_params_must_be_a_container():
    with pytest.raises(TypeError, match="params must be a list, tuple or dict of tensors, got ndarray"):
        polyprop.init(np.ones(3), RMSPropConfig())


def test_step_is_pure():
    params = [np.ones(3)]
    grads = [np.full(3, 2.0)]
    config = RMSPropConfig(momentum=0.5, centered=True)
    state = polyprop.init(params, config)
    snapshot = [a.copy() for a in (params[0], grads[0], state.nu[0], state.mu[0], state.momentum[0])]
    polyprop.step(params, grads, state, config)
    for before, after in zip(snapshot, (params[0], grads[0], state.nu[0], state.mu[0], state.momentum[0])):
        assert np.array_equal(before, after)


@pytest.mark.parametrize("weight_before_square", [False, True])
@pytest.mark.parametrize("lr_before_divide", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_rounding_order_flags_choose_the_order_of_the_products(weight_before_square, lr_before_divide, momentum):
    """float32 in numpy, one step: nu's new term and the lr term rounded in the order the flags name."""
    rng = np.random.default_rng(7)
    x, g = (rng.standard_normal(4096).astype(np.float32) for _ in range(2))
    config = RMSPropConfig(
        learning_rate=0.037, decay=0.71, eps=1e-3, momentum=momentum, centered=True,
        weight_before_square=weight_before_square, lr_before_divide=lr_before_divide,
    )
    (new_x,), state = polyprop.step([x], [g], polyprop.init([x], config), config)
    f = np.float32
    keep, decay, lr = f(1 - 0.71), f(0.71), f(0.037)
    nu = (keep * g) * g if weight_before_square else keep * (g * g)
    nu = f(0) * decay + nu
    mu = f(0) * decay + keep * g
    den = np.sqrt((nu - mu * mu) + f(1e-3))
    step = (lr * g) / den if lr_before_divide else lr * (g / den)
    if momentum:
        step = f(momentum) * np.zeros_like(x) + step
    np.testing.assert_array_equal(state.nu[0], nu)
    np.testing.assert_array_equal(new_x, x - step)
    other = (keep * g) * g if not weight_before_square else keep * (g * g)
    assert not np.array_equal(nu, other)  # the orders really round differently on these inputs
