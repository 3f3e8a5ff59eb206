"""Each preset reproduces its framework's real RMSProp (float64, 100 steps).

The natives: torch.optim.RMSprop, keras.optimizers.RMSprop (TensorFlow backend),
tf.compat.v1.train.RMSPropOptimizer, optax.rmsprop and MXNet's rmsprop_update /
rmspropalex_update kernels.  polyprop runs the preset from the same start with
the same gradients twice: on the framework's own tensors and on NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest

import polyprop
from conftest import require_backend

STEPS = 100
SHAPES = [(), (4,), (3, 2), (2, 2, 3)]
# The formulas are the same; the operation order differs by a few roundings per step
# (torch fuses multiply-adds, Keras computes (lr*g)/den, optax uses rsqrt), so the
# trajectories agree to a few ulps, not bit for bit.
RTOL = 1e-12


def problem(seed=0):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(STEPS)]
    return params, grads


def polyprop_run(ops, config, params, grads):
    """polyprop on ``ops``' tensors, checked against the same preset on NumPy; the trajectory."""
    ours = _run(ops, config, params, grads)
    assert_same_trajectory(_run(polyprop.get_ops("numpy"), config, params, grads), ours)
    return ours


def _run(ops, config, params, grads):
    xs = [ops.from_numpy(p) for p in params]
    state = polyprop.init(xs, config)
    out = []
    for gs in grads:
        xs, state = polyprop.step(xs, [ops.from_numpy(g) for g in gs], state, config)
        out.append([ops.to_numpy(x) for x in xs])
    return out


def assert_same_trajectory(native, ours):
    for t, (a_step, b_step) in enumerate(zip(native, ours), start=1):
        for i, (a, b) in enumerate(zip(a_step, b_step)):
            scale = max(1.0, float(np.max(np.abs(a), initial=0.0)))
            assert np.max(np.abs(a - b), initial=0.0) <= RTOL * scale, f"step {t}, tensor {i}"


TORCH = [
    dict(lr=0.01, alpha=0.99, eps=1e-8),
    dict(lr=0.01, alpha=0.9, eps=1e-6, momentum=0.9),
    dict(lr=0.01, alpha=0.95, eps=1e-8, centered=True, momentum=0.5),
    dict(lr=0.005, alpha=0.99, eps=1e-8, weight_decay=0.1, maximize=True),
    dict(lr=0.01, alpha=0.9, eps=1e-8, momentum=0.9, schedule=True),
]


def decaying_lr(count):
    """A learning rate that changes every step: where lr sits in momentum then matters."""
    return 0.01 * 0.95**count


@pytest.mark.parametrize("kwargs", TORCH, ids=lambda k: ",".join(k))
def test_torch_rmsprop(kwargs):
    ops = require_backend("torch")
    import torch

    kwargs = dict(kwargs)
    schedule = decaying_lr if kwargs.pop("schedule", False) else None
    config = polyprop.presets.torch(**{**kwargs, "lr": schedule or kwargs["lr"]})
    params, grads = problem(1)
    xs = [torch.tensor(p, requires_grad=True) for p in params]
    opt = torch.optim.RMSprop(xs, **kwargs)
    native = []
    for count, gs in enumerate(grads):
        if schedule is not None:
            opt.param_groups[0]["lr"] = schedule(count)
        for x, g in zip(xs, gs):
            x.grad = torch.from_numpy(g)
        opt.step()
        native.append([x.detach().numpy().copy() for x in xs])
    assert_same_trajectory(native, polyprop_run(ops, config, params, grads))


KERAS = [
    dict(learning_rate=0.01, rho=0.9, epsilon=1e-7),
    dict(learning_rate=0.01, rho=0.9, epsilon=1e-7, momentum=0.9),
    dict(learning_rate=0.01, rho=0.8, epsilon=1e-6, centered=True, momentum=0.5),
]


@pytest.mark.parametrize("kwargs", KERAS, ids=lambda k: ",".join(k))
def test_keras_rmsprop_on_tensorflow(kwargs):
    ops = require_backend("tensorflow")
    import keras
    import tensorflow as tf

    # The preset rounds the learning rate to float32, as Keras's float32 variable does.
    config = polyprop.presets.keras(**kwargs)
    params, grads = problem(2)
    xs = [tf.Variable(p) for p in params]
    opt = keras.optimizers.RMSprop(**kwargs)
    native = []
    for gs in grads:
        opt.apply_gradients([(tf.constant(g), x) for g, x in zip(gs, xs)])
        native.append([x.numpy().copy() for x in xs])
    assert_same_trajectory(native, polyprop_run(ops, config, params, grads))


OPTAX = [
    dict(decay=0.9, eps=1e-8),
    dict(decay=0.9, eps=1e-8, eps_in_sqrt=False, initial_scale=1.0),
    dict(decay=0.95, eps=1e-6, centered=True, momentum=0.9, nesterov=True),
    dict(decay=0.9, eps=1e-6, momentum=0.5, bias_correction=True),
    dict(decay=0.9, eps=1e-8, momentum=0.9, schedule=True),
]


@pytest.mark.parametrize("kwargs", OPTAX, ids=lambda k: ",".join(k))
def test_optax_rmsprop(kwargs):
    ops = require_backend("jax")
    optax = pytest.importorskip("optax", reason="optax is installed with polyprop[jax]")
    import jax.numpy as jnp

    kwargs = dict(kwargs)
    learning_rate = decaying_lr if kwargs.pop("schedule", False) else 0.01
    config = polyprop.presets.optax(learning_rate, **kwargs)
    params, grads = problem(3)
    xs = [jnp.asarray(p) for p in params]
    opt = optax.rmsprop(learning_rate, **kwargs)
    state = opt.init(xs)
    native = []
    for gs in grads:
        updates, state = opt.update([jnp.asarray(g) for g in gs], state, xs)
        xs = optax.apply_updates(xs, updates)
        native.append([np.asarray(x) for x in xs])
    assert_same_trajectory(native, polyprop_run(ops, config, params, grads))


@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_mxnet_rmsprop_update(wd):
    ops = require_backend("mxnet")
    mx = ops.mx
    lr, gamma1, eps = 0.01, 0.9, 1e-8
    config = polyprop.presets.mxnet(learning_rate=lr, gamma1=gamma1, epsilon=eps, wd=wd)
    params, grads = problem(4)
    params = [p for p in params if p.ndim]  # MXNet's fused kernels take no 0-d weights
    grads = [[g for g in gs if g.ndim] for gs in grads]
    ws = [mx.nd.array(p, dtype="float64") for p in params]
    ns = [mx.nd.zeros(p.shape, dtype="float64") for p in params]
    native = []
    for gs in grads:
        for w, n, g in zip(ws, ns, gs):
            mx.nd.rmsprop_update(w, mx.nd.array(g, dtype="float64"), n, lr=lr, gamma1=gamma1, epsilon=eps, wd=wd, out=w)
        native.append([w.asnumpy() for w in ws])
    assert_same_trajectory(native, polyprop_run(ops, config, params, grads))


def test_mxnet_centered_rmspropalex_update_is_centered_with_lr_inside_momentum():
    ops = require_backend("mxnet")
    mx = ops.mx
    lr, gamma1, gamma2, eps = 0.01, 0.95, 0.9, 1e-8
    config = polyprop.presets.mxnet(learning_rate=lr, gamma1=gamma1, gamma2=gamma2, epsilon=eps, centered=True)
    params, grads = problem(5)
    params = [p for p in params if p.ndim]
    grads = [[g for g in gs if g.ndim] for gs in grads]
    ws = [mx.nd.array(p, dtype="float64") for p in params]
    states = [[mx.nd.zeros(p.shape, dtype="float64") for _ in range(3)] for p in params]
    native = []
    for gs in grads:
        for w, (n, g_avg, delta), g in zip(ws, states, gs):
            mx.nd.rmspropalex_update(
                w, mx.nd.array(g, dtype="float64"), n, g_avg, delta,
                lr=lr, gamma1=gamma1, gamma2=gamma2, epsilon=eps, out=w,
            )
        native.append([w.asnumpy() for w in ws])
    assert_same_trajectory(native, polyprop_run(ops, config, params, grads))


@pytest.mark.parametrize("kwargs", [dict(), dict(momentum=0.5, centered=True)], ids=["plain", "centered-momentum"])
def test_tf1_rmsprop_optimizer(kwargs):
    ops = require_backend("tensorflow")
    import tensorflow as tf

    config = polyprop.presets.tf1(0.01, **kwargs)
    params, grads = problem(6)
    xs = [tf.Variable(p) for p in params]
    opt = tf.compat.v1.train.RMSPropOptimizer(0.01, **kwargs)
    native = []
    for gs in grads:
        opt.apply_gradients([(tf.constant(g), x) for g, x in zip(gs, xs)])
        native.append([x.numpy().copy() for x in xs])
    assert_same_trajectory(native, polyprop_run(ops, config, params, grads))


def test_d2l_preset_is_the_chapter_formula():
    from polyprop.chapter.trace import CHAPTER_CONFIG

    assert polyprop.presets.d2l(0.4, 0.9) == CHAPTER_CONFIG
