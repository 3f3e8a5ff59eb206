"""The torch state_dict and the Keras optimizer variables convert to and from the checkpoint format."""

from __future__ import annotations

import numpy as np
import pytest

import polyprop
from conftest import require_backend

STEPS = 30


def grads_for(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s) for s in shapes] for _ in range(2 * STEPS)]


@pytest.mark.parametrize("resume_on", ["torch", "numpy", "jax"])
def test_torch_optimizer_to_checkpoint_and_back(resume_on, tmp_path):
    ops = require_backend("torch")
    other = require_backend(resume_on)
    import torch

    shapes = [(3,), (2, 2)]
    grads = grads_for(shapes)
    hyper = dict(lr=0.01, alpha=0.9, momentum=0.8, centered=True, weight_decay=0.01)

    def native_run(steps, params=None, opt=None):
        params = params or [torch.nn.Parameter(torch.ones(s, dtype=torch.float64)) for s in shapes]
        opt = opt or torch.optim.RMSprop(params, **hyper)
        for gs in steps:
            for p, g in zip(params, gs):
                p.grad = torch.from_numpy(g)
            opt.step()
        return params, opt

    full, _ = native_run(grads)
    _, native_opt = native_run(grads[:STEPS])
    ops.save_optimizer(tmp_path / "torch.npz", native_opt)

    if resume_on == "torch":  # into polyprop's drop-in, then on with torch semantics
        params = [torch.nn.Parameter(torch.zeros(s, dtype=torch.float64)) for s in shapes]
        ours = ops.RMSprop(params, **hyper)
        ops.load_optimizer(tmp_path / "torch.npz", ours)
        assert float(ours.state[params[0]]["step"]) == STEPS
        resumed, _ = native_run(grads[STEPS:], params, ours)
        got = [p.detach().numpy() for p in resumed]
    else:  # the neutral state on another backend, with the torch preset
        params, state, config = polyprop.load(tmp_path / "torch.npz", backend=resume_on)
        assert config == polyprop.presets.torch(**hyper)
        assert state.count == STEPS
        for gs in grads[STEPS:]:
            params, state = polyprop.step(params, [other.from_numpy(g) for g in gs], state, config)
        got = [other.to_numpy(p) for p in params]
    for a, b in zip(got, full):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-12)


def test_torch_refuses_a_foreign_config_and_multiple_groups(tmp_path):
    ops = require_backend("torch")
    import torch

    params = [torch.nn.Parameter(torch.ones(2, dtype=torch.float64))]
    opt = torch.optim.RMSprop(params, lr=0.01)
    ops.save_optimizer(tmp_path / "a.npz", opt)
    with pytest.raises(polyprop.CheckpointError, match="is not this optimizer's"):
        ops.load_optimizer(tmp_path / "a.npz", torch.optim.RMSprop(params, lr=0.02))
    two = torch.optim.RMSprop([{"params": params}, {"params": [torch.nn.Parameter(torch.ones(1))]}])
    with pytest.raises(ValueError, match="2 parameter groups"):
        ops.save_optimizer(tmp_path / "b.npz", two)


@pytest.mark.parametrize("resume_on", ["tensorflow", "numpy", "torch"])
def test_keras_optimizer_to_checkpoint_and_back(resume_on, tmp_path):
    ops = require_backend("tensorflow")
    other = require_backend(resume_on)
    import keras
    import tensorflow as tf

    shapes = [(3,), (2, 2)]
    grads = grads_for(shapes, seed=1)
    hyper = dict(learning_rate=0.01, rho=0.9, momentum=0.8, centered=True)

    def run(steps, variables=None, opt=None):
        variables = variables or [tf.Variable(np.ones(s)) for s in shapes]
        opt = opt or keras.optimizers.RMSprop(**hyper)
        for gs in steps:
            opt.apply_gradients(zip([tf.constant(g) for g in gs], variables))
        return variables, opt

    full, _ = run(grads)
    half, native_opt = run(grads[:STEPS])
    ops.save_optimizer(tmp_path / "keras.npz", native_opt, half)

    if resume_on == "tensorflow":  # into a fresh Keras optimizer (polyprop's drop-in)
        variables = [tf.Variable(np.zeros(s)) for s in shapes]
        ours = ops.RMSprop(**hyper)
        ops.load_optimizer(tmp_path / "keras.npz", ours, variables)
        assert int(ours.iterations.numpy()) == STEPS
        resumed, _ = run(grads[STEPS:], variables, ours)
        got = [v.numpy() for v in resumed]
    else:
        params, state, config = polyprop.load(tmp_path / "keras.npz", backend=resume_on)
        assert config == polyprop.presets.keras(**hyper)
        for gs in grads[STEPS:]:
            params, state = polyprop.step(params, [other.from_numpy(g) for g in gs], state, config)
        got = [other.to_numpy(p) for p in params]
    for a, b in zip(got, full):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-12)
