"""polyprop.backends.mxnet.RMSProp against mx.optimizer.RMSProp, step for step.

Every combination of centered, weight decay, clip_gradient, clip_weights and
rescale_grad, 120 steps on random shapes through MXNet's Updater, float32 (the
native class cannot run float64 weights: its state is always float32); float64
is checked against the native kernel itself in test_native.py.  Then the Gluon
Trainer, float16 with multi_precision, and save_states/load_states interchange.
Tolerance: float32 1e-6 relative to each weight's largest magnitude (MXNet's
kernel computes lr*g/sqrt(n+eps) in one expression; the same roundings here give
identical numbers in most cases; 2e-5 centered, where n - g^2 cancels).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from conftest import require_backend

STEPS = 120
MEASURED: dict[str, float] = {}
CASES = [
    dict(centered=c, wd=wd, clip_gradient=cg, clip_weights=cw, rescale_grad=r)
    for c, wd, cg, cw, r in itertools.product([False, True], [0.0, 0.01], [None, 0.5], [None, 2.0], [1.0, 0.5])
]


def run(mx, optimizer, start, grads):
    updater = mx.optimizer.get_updater(optimizer)
    weights = [mx.nd.array(p, dtype=p.dtype) for p in start]
    trajectory = []
    for gs in grads:
        for i, (w, g) in enumerate(zip(weights, gs)):
            updater(i, mx.nd.array(g, dtype=g.dtype), w)
        trajectory.append([w.asnumpy() for w in weights])
    return trajectory, updater


@pytest.mark.parametrize("kwargs", CASES, ids=lambda k: "-".join(f"{n}={v}" for n, v in k.items()))
def test_matches_native_step_for_step(kwargs):
    ops = require_backend("mxnet")
    mx = ops.mx
    rng = np.random.default_rng(CASES.index(kwargs))
    shapes = [(5,), (3, 4), (2, 2, 3)]
    start = [rng.standard_normal(s).astype("float32") for s in shapes]
    grads = [[(3 * rng.standard_normal(s)).astype("float32") for s in shapes] for _ in range(STEPS)]
    hyper = dict(learning_rate=0.01, gamma1=0.9, gamma2=0.8, epsilon=1e-6, **kwargs)
    native, native_updater = run(mx, mx.optimizer.RMSProp(**hyper), start, grads)
    ours, our_updater = run(mx, ops.RMSProp(**hyper), start, grads)
    worst = max(
        float(np.max(np.abs(np.stack([s[i] for s in ours]) - np.stack([s[i] for s in native]))))
        / float(np.max(np.abs(np.stack([s[i] for s in native]))))
        for i in range(len(shapes))
    )
    key = "centered" if kwargs["centered"] else "plain"
    MEASURED[key] = max(MEASURED.get(key, 0.0), worst)
    assert worst <= (2e-5 if kwargs["centered"] else 1e-6), worst
    if kwargs["clip_weights"]:
        assert max(np.max(np.abs(w)) for w in ours[-1]) <= kwargs["clip_weights"]
    # The states have MXNet's layout and agree too (delta = -momentum included).
    def leaves(state):
        return list(state) if isinstance(state, tuple) else [state]

    for i in range(len(shapes)):
        ours_state, native_state = leaves(our_updater.states[i]), leaves(native_updater.states[i])
        assert len(ours_state) == len(native_state) == (3 if kwargs["centered"] else 1)
        for x, y in zip(ours_state, native_state):
            np.testing.assert_allclose(x.asnumpy(), y.asnumpy(), rtol=1e-4, atol=1e-6)


def test_gluon_trainer_by_name_and_state_files_interchange(tmp_path):
    ops = require_backend("mxnet")
    mx = ops.mx
    x = mx.nd.array(np.random.default_rng(0).standard_normal((64, 3)))
    y = mx.nd.dot(x, mx.nd.array([[1.0], [-2.0], [0.5]])) + 0.3
    results = {}
    for name in ("rmsprop", "polyprop_rmsprop"):
        net = mx.gluon.nn.Dense(1, in_units=3)
        net.initialize(mx.init.Constant(0.0))
        trainer = mx.gluon.Trainer(
            net.collect_params(), name, {"learning_rate": 0.01, "gamma1": 0.9, "wd": 1e-3, "clip_gradient": 5.0}
        )
        losses = []
        for _ in range(300):
            with mx.autograd.record():
                loss = ((net(x) - y) ** 2).mean()
            loss.backward()
            trainer.step(1)
            losses.append(float(loss.asscalar()))
        trainer.save_states(str(tmp_path / f"{name}.states"))
        results[name] = (losses, net.weight.data().asnumpy(), trainer)
    # The same operations in the same order as MXNet's kernel: bit for bit.
    np.testing.assert_array_equal(results["polyprop_rmsprop"][0], results["rmsprop"][0])
    np.testing.assert_array_equal(results["polyprop_rmsprop"][1], results["rmsprop"][1])
    assert results["polyprop_rmsprop"][0][-1] < 0.01 * results["polyprop_rmsprop"][0][0]
    # The native trainer's state file loads into ours (same layout).
    results["polyprop_rmsprop"][2].load_states(str(tmp_path / "rmsprop.states"))


def test_float16_with_multi_precision_matches_native():
    ops = require_backend("mxnet")
    mx = ops.mx
    rng = np.random.default_rng(3)
    start = [rng.standard_normal((4, 4)).astype("float16")]
    grads = [[rng.standard_normal((4, 4)).astype("float16")] for _ in range(50)]
    hyper = dict(learning_rate=0.01, gamma1=0.9, multi_precision=True)
    native, _ = run(mx, mx.optimizer.RMSProp(**hyper), start, grads)
    ours, _ = run(mx, ops.RMSProp(**hyper), start, grads)
    assert ours[-1][0].dtype == np.float16
    np.testing.assert_array_equal(ours[-1][0], native[-1][0])


def test_float64_weights_work_unlike_the_native_class():
    ops = require_backend("mxnet")
    mx = ops.mx
    w = mx.nd.array(np.ones(3), dtype="float64")
    updater = mx.optimizer.get_updater(ops.RMSProp(learning_rate=0.1, gamma1=0.9))
    updater(0, mx.nd.array(np.ones(3), dtype="float64"), w)
    # lr*g/sqrt((1-0.9)*1 + eps), with MXNet's float32-rounded scalars.
    f32 = lambda v: float(np.float32(v))  # noqa: E731
    expected = 1 - f32(0.1) * 1 / np.sqrt((1 - f32(0.9)) * 1 + f32(1e-8))
    np.testing.assert_allclose(w.asnumpy(), expected, rtol=1e-15)


def test_bad_values_are_refused():
    ops = require_backend("mxnet")
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\), got 1.0"):
        ops.RMSProp(gamma1=1.0)


def test_zz_report_measured_maxima(capsys):
    if not MEASURED:
        pytest.skip("the matrix did not run in this session")
    with capsys.disabled():
        print(f"\nmxnet drop-in vs mx.optimizer.RMSProp (float32), max relative difference: {MEASURED}")
