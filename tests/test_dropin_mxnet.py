"""polyprop.backends.mxnet.RMSProp against mx.optimizer.RMSProp (MXNet 1.9.1), step for step.

Random configurations (learning_rate, gamma1, gamma2, epsilon, centered, wd,
clip_gradient, clip_weights, rescale_grad), 60 steps each through MXNet's Updater.
Measure: per tensor, max |ours - native| / max |native| over the trajectory.

* float32, not centered: bit-identical.  The lowering is MXNet's own op order
  (``(1-g1)*(g*g) + g1*n``, ``w - lr*(g/sqrt(n+eps))``), and every scalar is the
  number MXNet's C++ parser reads (``_mx_float``).
* float32, centered: MXNet's centered kernel rounds ``((1-g1)*g)*g`` and ``(lr*g)/den``;
  the preset asks the neutral definition for that order (``weight_before_square``,
  ``lr_before_divide``).  Without it, for small gamma1, ``n - g_avg**2`` cancels and the
  two roundings differed by up to 9e-5.  With it: bit-identical for the power-of-two and
  small-gamma1 cases; in random ones an odd element is 1 ulp apart (within 1e-6).
* float64: the native class cannot run it (its state is always float32), so ours is
  compared with MXNet's own kernels given float64 state, and with the NumPy reference:
  within 1e-12.
Then every constructor argument of the native class and its base, the Gluon Trainer,
multi_precision, state files both ways, and the refusals.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from conftest import require_backend

STEPS = 60
SHAPES = [(5,), (3, 4)]
MEASURED: dict[str, float] = {}
KINDS = ["plain", "centered_pow2", "plain", "centered"]
CONFIGS = 60


def _config(i):
    """Random native arguments for case ``i`` (its kind: KINDS[i % 4])."""
    kind = KINDS[i % len(KINDS)]
    rng = np.random.default_rng(1000 + i)
    kw = dict(
        learning_rate=float(10 ** rng.uniform(-5, -1)),
        gamma1=float(rng.uniform(0.0, 0.999)),
        gamma2=float(rng.uniform(0.0, 0.99)) if rng.integers(4) else 0.0,
        epsilon=float(10 ** rng.uniform(-10, -3)),
        centered=kind != "plain",
        wd=float(10 ** rng.uniform(-5, -1)) if rng.integers(2) else 0.0,
        clip_gradient=float(rng.uniform(0.1, 3.0)) if rng.integers(2) else None,
        clip_weights=float(rng.uniform(0.5, 3.0)) if rng.integers(2) else None,
        rescale_grad=float(rng.uniform(0.1, 2.0)) if rng.integers(2) else 1.0,
    )
    if kind == "centered_pow2":
        kw["learning_rate"] = 2.0 ** -int(rng.integers(1, 16))
        kw["gamma1"] = float(rng.choice([0.0, 0.5, 0.75, 0.875, 0.9375]))
    if kind == "centered":
        kw["gamma1"] = float(rng.uniform(0.5, 0.999))
    return kind, kw


def _problem(seed, dtype, shapes=SHAPES, steps=STEPS):
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[(2 * rng.standard_normal(s)).astype(dtype) for s in shapes] for _ in range(steps)]
    return start, grads


def run(mx, optimizer, start, grads, updater=None):
    """The weights after each step; ``optimizer`` or an existing ``updater`` does the steps."""
    updater = updater or mx.optimizer.get_updater(optimizer)
    weights = [w.copy() if isinstance(w, mx.nd.NDArray) else mx.nd.array(w, dtype=w.dtype) for w in start]
    trajectory = []
    for gs in grads:
        for i, (w, g) in enumerate(zip(weights, gs)):
            updater(i, mx.nd.array(g, dtype=g.dtype), w)
        trajectory.append([w.asnumpy() for w in weights])
    return trajectory, updater


def relative(ours, native):
    """Per tensor max |ours - native| / max |native| over the trajectory; the worst tensor."""
    worst = 0.0
    for i in range(len(native[0])):
        a = np.stack([step[i] for step in ours]).astype(np.float64)
        b = np.stack([step[i] for step in native]).astype(np.float64)
        worst = max(worst, float(np.max(np.abs(a - b)) / np.max(np.abs(b))))
    return worst


def leaves(state):
    return list(state) if isinstance(state, (tuple, list)) else [state]


def _record(key, value):
    MEASURED[key] = max(MEASURED.get(key, 0.0), value)


@pytest.mark.parametrize("i", range(CONFIGS), ids=lambda i: f"{i}-{KINDS[i % len(KINDS)]}")
def test_random_configs_float32_match_native_step_for_step(i):
    ops = require_backend("mxnet")
    mx = ops.mx
    kind, kw = _config(i)
    start, grads = _problem(i, "float32")
    native, native_updater = run(mx, mx.optimizer.RMSProp(**kw), start, grads)
    ours, our_updater = run(mx, ops.RMSProp(**kw), start, grads)
    worst = relative(ours, native)
    _record(f"float32 {kind}", worst)
    if kind == "centered":  # MXNet's compiled kernel rounds an odd element (1 of 20 in 60 steps) 1 ulp apart
        assert worst <= 1e-6, (worst, kw)
    else:
        for a, b in zip(ours, native):
            for x, y in zip(a, b):
                np.testing.assert_array_equal(x, y)
    if kw["clip_weights"]:  # at the bound MXNet reads, which need not be the nearest float32
        assert max(np.max(np.abs(w)) for w in ours[-1]) <= ops.floats._mx_float(kw["clip_weights"])
    # The state has MXNet's layout, (n,) or (n, g, delta) with delta = -momentum, and agrees too.
    for index in range(len(SHAPES)):
        mine, theirs = our_updater.states[index], native_updater.states[index]
        assert type(mine) is type(theirs) is tuple
        assert len(mine) == len(theirs) == (3 if kw["centered"] else 1)
        for x, y in zip(mine, theirs):
            if kind == "centered":
                scale = max(float(np.max(np.abs(y.asnumpy()))), 1e-30)
                assert float(np.max(np.abs(x.asnumpy() - y.asnumpy()))) <= 1e-6 * scale
            else:
                np.testing.assert_array_equal(x.asnumpy(), y.asnumpy())


def test_centered_small_gamma1_is_bit_identical_to_native():
    """Where n - g_avg**2 cancels, any other rounding order is magnified (9e-5 before the preset's order flags)."""
    ops = require_backend("mxnet")
    mx = ops.mx
    worst = 0.0
    for i in range(8):
        _, kw = _config(4 * i + 3)
        kw.update(gamma1=0.01 * (i + 1), clip_gradient=0.5, epsilon=1e-8)  # saturated: g_avg**2 ~ n
        start, grads = _problem(500 + i, "float32")
        native, _ = run(mx, mx.optimizer.RMSProp(**kw), start, grads)
        ours, _ = run(mx, ops.RMSProp(**kw), start, grads)
        worst = max(worst, relative(ours, native))
        for a, b in zip(ours, native):
            for x, y in zip(a, b):
                np.testing.assert_array_equal(x, y)
    _record("float32 centered gamma1 < 0.5", worst)
    assert worst == 0.0


def _native_any_dtype(mx):
    """MXNet's own RMSProp.update (its kernels) with the state in the weight's dtype."""

    class Native(mx.optimizer.RMSProp):
        def create_state(self, index, weight):
            def zeros():
                return mx.nd.zeros(weight.shape, weight.context, dtype=weight.dtype)

            return (zeros(), zeros(), zeros()) if self.centered else (zeros(),)

    return Native


def _numpy_reference(ops, kw, start, grads):
    """polyprop.presets.mxnet on NumPy, with the gradient rescaled, decayed and clipped as MXNet does."""
    import polyprop

    read = ops.floats._mx_float
    config = polyprop.presets.mxnet(
        read(kw["learning_rate"]), read(kw["gamma1"]), read(kw["gamma2"]), read(kw["epsilon"]), kw["centered"]
    )
    xs = [x.astype(np.float64) for x in start]
    state = polyprop.init(xs, config, "numpy")
    trajectory = []
    for gs in grads:
        gs = [read(kw["rescale_grad"]) * g + read(kw["wd"]) * x for g, x in zip(gs, xs)]
        if kw["clip_gradient"]:
            gs = [np.clip(g, -read(kw["clip_gradient"]), read(kw["clip_gradient"])) for g in gs]
        xs, state = polyprop.step(xs, gs, state, config, "numpy")
        if kw["clip_weights"]:
            xs = [np.clip(x, -read(kw["clip_weights"]), read(kw["clip_weights"])) for x in xs]
        trajectory.append([x.copy() for x in xs])
    return trajectory


@pytest.mark.parametrize("i", range(CONFIGS // 2), ids=lambda i: f"{i}-{KINDS[i % len(KINDS)]}")
def test_random_configs_float64_match_mxnet_kernels_and_numpy(i):
    ops = require_backend("mxnet")
    mx = ops.mx
    kind, kw = _config(i)
    start, grads = _problem(i, "float64")
    with pytest.raises(mx.base.MXNetError):  # why the native class is not the reference here
        run(mx, mx.optimizer.RMSProp(**kw), start, grads[:1])
    kernels, _ = run(mx, _native_any_dtype(mx)(**kw), start, grads)
    ours, updater = run(mx, ops.RMSProp(**kw), start, grads)
    reference = _numpy_reference(ops, kw, start, grads)
    assert all(leaf.dtype == np.float64 for state in updater.states.values() for leaf in state)
    versus_kernels, versus_numpy = relative(ours, kernels), relative(ours, reference)
    _record(f"float64 {kind} vs kernels", versus_kernels)
    _record(f"float64 {kind} vs numpy", versus_numpy)
    assert versus_kernels <= 1e-12, (versus_kernels, kw)
    assert versus_numpy <= 1e-12, (versus_numpy, kw)


def test_mx_float_is_what_the_kernels_read():
    ops = require_backend("mxnet")
    mx = ops.mx
    rng = np.random.default_rng(7)
    values = [*10 ** rng.uniform(-38, 38, 800), *10 ** rng.uniform(-9, 3, 800), *rng.uniform(0, 1, 200)]
    values += [np.float32(1e-7), np.float32(0.01), np.float64(3.3e-5), 7, 123456789.5, 1e16, 1 + 2**-24, -2.5, -0.0]
    values += [1.2e-38, 1.17549435e-38, 3.4e38, math.inf, -math.inf, math.nan, "1.5f", ".5", "5."]
    refused = [1e-38, 1.1e-38, 3.5e38, 1e39, 1e-45, "abc", "1.5x"]  # MXNet raises: out of range, unreadable
    read = []
    for v in values + refused:  # w = 0 - lr * 1/sqrt(1 + 0): the lr the kernel read, exactly
        w, g, n = (mx.nd.array([x], dtype="float64") for x in (0.0, 1.0, 0.0))
        try:
            mx.nd.rmsprop_update(w, g, n, out=w, lr=v, gamma1=0.0, epsilon=0.0)
            read.append(float(-w.asnumpy()[0]))
        except mx.base.MXNetError:
            read.append("refused")
    assert read[len(values):] == ["refused"] * len(refused)
    for v in refused:
        with pytest.raises(ValueError, match=r"out of the range MXNet's C\+\+ float parser reads|MXNet cannot read"):
            ops.floats._mx_float(v)
    ours = [ops.floats._mx_float(v) for v in values]
    np.testing.assert_array_equal(np.array(ours), np.array(read[: len(values)]))
    # dmlc's parser is not the nearest float32 for many of these: plain rounding would not do.
    with np.errstate(over="ignore"):
        nearest = np.array([np.float32(v) for v in values[:1800]], dtype=np.float64)
    assert np.count_nonzero(nearest != np.array(read[:1800])) > 100


def test_centered_gamma2_zero_runs_and_matches_native():
    ops = require_backend("mxnet")
    mx = ops.mx
    start, grads = _problem(11, "float32")
    for kw in (
        dict(learning_rate=0.01, gamma1=0.9, gamma2=0.0, centered=True),
        dict(learning_rate=2**-6, gamma1=0.75, gamma2=0.0, centered=True, wd=1e-3, clip_gradient=1.0),
    ):
        native, native_updater = run(mx, mx.optimizer.RMSProp(**kw), start, grads)
        ours, our_updater = run(mx, ops.RMSProp(**kw), start, grads)
        worst = relative(ours, native)
        _record("float32 centered gamma2=0", worst)
        if kw["gamma1"] == 0.75:
            assert worst == 0.0
        assert worst <= 1e-6, worst
        # delta (the last step, as MXNet keeps it) is there and agrees
        for index in range(len(SHAPES)):
            for x, y in zip(our_updater.states[index], native_updater.states[index]):
                np.testing.assert_allclose(x.asnumpy(), y.asnumpy(), rtol=1e-5, atol=1e-8)


def _same_trajectories(mx, make_native, make_ours, start, grads):
    native, _ = run(mx, make_native(), start, grads)
    ours, _ = run(mx, make_ours(), start, grads)
    for a, b in zip(ours, native):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    return ours


@pytest.mark.parametrize(
    "kw",
    [
        dict(clip_gradient=0.0, clip_weights=0.0),  # falsy: the native class does not clip
        dict(clip_gradient=-1.0, clip_weights=-2.0),  # negative: MXNet's kernel does not clip
        dict(clip_gradient=1.1322275641815046e-05, rescale_grad=3.3e-5),  # read one ulp off by MXNet
        dict(learning_rate=1.0190969135237538e-07, wd=2.5e-5, epsilon=3e-9),
        dict(learning_rate=np.float32(0.01), gamma1=np.float32(0.9), epsilon=np.float32(1e-6),
             centered=np.bool_(False), wd=np.float32(1e-3), clip_gradient=np.float32(1.5),
             clip_weights=np.float64(2.0), rescale_grad=np.float32(0.7)),
        dict(learning_rate=np.float32(2**-7), gamma1=np.float64(0.75), gamma2=np.float32(0.6),
             centered=np.bool_(True), wd=np.float64(1e-3), rescale_grad=np.float32(0.7)),
        dict(learning_rate=7, gamma1=0, epsilon=1),  # integers
    ],
    ids=["clip-zero", "clip-negative", "misread-scalars", "tiny-lr", "numpy-scalars", "numpy-centered", "ints"],
)
def test_scalar_arguments_are_read_as_mxnet_reads_them(kw):
    ops = require_backend("mxnet")
    mx = ops.mx
    start, grads = _problem(3, "float32")
    kw = dict(dict(learning_rate=0.01, gamma1=0.9, epsilon=1e-6), **kw)
    _same_trajectories(mx, lambda: mx.optimizer.RMSProp(**kw), lambda: ops.RMSProp(**kw), start, grads)


def test_lr_scheduler_and_begin_num_update_match_native():
    ops = require_backend("mxnet")
    mx = ops.mx
    start, grads = _problem(4, "float32", steps=40)

    def make(cls, **extra):
        scheduler = mx.lr_scheduler.FactorScheduler(step=7, factor=0.6, base_lr=0.05, warmup_steps=3)
        return lambda: cls(learning_rate=None, lr_scheduler=scheduler, gamma1=0.95, **extra)

    ours = _same_trajectories(mx, make(mx.optimizer.RMSProp), make(ops.RMSProp), start, grads)
    later = _same_trajectories(
        mx, make(mx.optimizer.RMSProp, begin_num_update=20), make(ops.RMSProp, begin_num_update=20), start, grads
    )
    assert not np.array_equal(ours[-1][0], later[-1][0])  # the schedule did act


def test_per_parameter_multipliers_match_native():
    ops = require_backend("mxnet")
    mx = ops.mx
    start, grads = _problem(5, "float32", shapes=[(4,), (3,), (2, 2)], steps=30)
    sym = mx.sym.Group([mx.sym.Variable("a_weight", lr_mult=2.0, wd_mult=0.5), mx.sym.Variable("b_bias"),
                        mx.sym.Variable("c_weight")])
    names = {0: "a_weight", 1: "b_bias", 2: "c_weight"}
    common = dict(learning_rate=0.01, gamma1=0.9, wd=0.05)

    def by_index(cls):
        def make():
            opt = cls(**common)
            opt.set_lr_mult({0: 0.5, 2: 3.0})
            opt.set_wd_mult({1: 2.0})
            return opt

        return make

    def by_sym(cls):  # param_idx2name: wd_mult 0 for names not ending in _weight; sym: lr_mult/wd_mult attributes
        return lambda: cls(param_idx2name=names, sym=sym, **common)

    class Param:  # what gluon.Trainer puts in param_dict: objects with lr_mult and wd_mult
        def __init__(self, lr_mult, wd_mult):
            self.lr_mult, self.wd_mult = lr_mult, wd_mult

    params = {0: Param(1.5, 0.0), 1: Param(1.0, 3.0), 2: Param(0.25, 1.0)}

    def by_param_dict(cls):
        return lambda: cls(param_dict=params, **common)

    results = [
        _same_trajectories(mx, make(mx.optimizer.RMSProp), make(ops.RMSProp), start, grads)[-1]
        for make in (by_index, by_sym, by_param_dict)
    ]
    plain = _same_trajectories(
        mx, lambda: mx.optimizer.RMSProp(**common), lambda: ops.RMSProp(**common), start, grads
    )[-1]
    for result in results:  # the multipliers did act
        assert any(not np.array_equal(x, y) for x, y in zip(result, plain))


@pytest.mark.parametrize("centered", [False, True])
def test_float16_with_multi_precision_matches_native(centered):
    ops = require_backend("mxnet")
    mx = ops.mx
    start, grads = _problem(6, "float16", steps=50)
    kw = dict(learning_rate=2**-7, gamma1=0.75, gamma2=0.5, centered=centered, wd=1e-3, multi_precision=True)
    native, native_updater = run(mx, mx.optimizer.RMSProp(**kw), start, grads)
    ours, our_updater = run(mx, ops.RMSProp(**kw), start, grads)
    assert ours[-1][0].dtype == np.float16
    for a, b in zip(ours, native):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    for index in range(len(SHAPES)):  # (float32 master weights, MXNet's state)
        mine, theirs = our_updater.states[index], native_updater.states[index]
        assert mine[0].dtype == np.float32
        assert all(leaf.dtype == np.float32 for leaf in mine[1])
        np.testing.assert_array_equal(mine[0].asnumpy(), theirs[0].asnumpy())


def test_update_multi_precision_and_create_state_multi_precision_directly():
    ops = require_backend("mxnet")
    mx = ops.mx
    rng = np.random.default_rng(8)
    for dtype, mp in (("float16", True), ("float32", True), ("float32", False)):
        w0 = rng.standard_normal((3, 3)).astype(dtype)
        g = mx.nd.array(rng.standard_normal((3, 3)).astype(dtype), dtype=dtype)
        results = []
        for cls in (mx.optimizer.RMSProp, ops.RMSProp):
            opt = cls(learning_rate=0.01, gamma1=0.9, multi_precision=mp)
            w = mx.nd.array(w0, dtype=dtype)
            state = opt.create_state_multi_precision(0, w)
            for _ in range(3):
                opt.update_multi_precision(0, w, g, state)
            results.append(w.asnumpy())
        np.testing.assert_array_equal(results[1], results[0])


def test_float16_without_multi_precision_is_refused_clearly():
    ops = require_backend("mxnet")
    mx = ops.mx
    updater = mx.optimizer.get_updater(ops.RMSProp(learning_rate=0.1))
    w = mx.nd.ones((3,), dtype="float16")
    with (
        pytest.warns(UserWarning, match="Accumulating with float16 in optimizer"),
        pytest.raises(TypeError, match="float16 weights need multi_precision=True"),
    ):
        updater(0, mx.nd.ones((3,), dtype="float16"), w)
    # the native class fails too, later, inside MXNet's kernel
    native = mx.optimizer.get_updater(mx.optimizer.RMSProp(learning_rate=0.1))

    def native_step():
        native(0, mx.nd.ones((3,), dtype="float16"), w)
        w.wait_to_read()  # an asynchronous engine raises only when the result is read

    with pytest.warns(UserWarning, match="Accumulating with float16 in optimizer"), pytest.raises(mx.base.MXNetError):
        native_step()


def test_row_sparse_gradient_and_weight_match_native():
    ops = require_backend("mxnet")
    mx = ops.mx
    rng = np.random.default_rng(9)
    grads = [
        mx.nd.sparse.row_sparse_array(
            (rng.standard_normal((2, 3)).astype("float32"), [k % 4, (k + 2) % 4]), shape=(4, 3)
        )
        for k in range(10)
    ]
    w0 = rng.standard_normal((4, 3)).astype("float32")
    for stype in ("default", "row_sparse"):
        results = []
        for cls in (mx.optimizer.RMSProp, ops.RMSProp):
            updater = mx.optimizer.get_updater(cls(learning_rate=0.01, gamma1=0.9, wd=1e-3))
            w = mx.nd.array(w0).tostype(stype)
            for g in grads:
                updater(0, g, w)
            results.append((w.stype, w.asnumpy()))
        assert results[1][0] == results[0][0] == stype
        np.testing.assert_array_equal(results[1][1], results[0][1])


def test_float64_weights_work_unlike_the_native_class():
    ops = require_backend("mxnet")
    mx = ops.mx
    w = mx.nd.array(np.ones(3), dtype="float64")
    updater = mx.optimizer.get_updater(ops.RMSProp(learning_rate=0.1, gamma1=0.9))
    updater(0, mx.nd.array(np.ones(3), dtype="float64"), w)
    # lr*g/sqrt((1-0.9)*1 + eps), with MXNet's float32 scalars.
    f32 = lambda v: float(np.float32(v))  # noqa: E731
    expected = 1 - f32(0.1) * 1 / np.sqrt((1 - f32(0.9)) * 1 + f32(1e-8))
    np.testing.assert_allclose(w.asnumpy(), expected, rtol=1e-15)


def _train(mx, optimizer, params, steps, x, y, batch_size=4, net=None, trainer=None):
    """``steps`` Gluon steps on a linear model; the losses, the net and its trainer."""
    if net is None:
        net = mx.gluon.nn.Dense(1, in_units=3)
        net.initialize(mx.init.Constant(0.1))
        net.bias.lr_mult, net.weight.wd_mult = 2.0, 0.5  # reach the optimizer through param_dict
    trainer = trainer or mx.gluon.Trainer(net.collect_params(), optimizer, params)
    losses = []
    for _ in range(steps):
        with mx.autograd.record():
            loss = ((net(x) - y) ** 2).mean()
        loss.backward()
        trainer.step(batch_size)  # rescale_grad = rescale_grad / batch_size, set at each step
        losses.append(float(loss.asscalar()))
    return losses, net, trainer


def _gluon_problem(mx):
    x = mx.nd.array(np.random.default_rng(0).standard_normal((16, 3)).astype("float32"))
    return x, mx.nd.dot(x, mx.nd.array([[1.0], [-2.0], [0.5]])) + 0.3


@pytest.mark.parametrize("centered", [False, True])
def test_gluon_trainer_by_name_with_many_arguments(centered):
    ops = require_backend("mxnet")
    mx = ops.mx
    x, y = _gluon_problem(mx)

    def params():
        return {
            "learning_rate": 2**-5, "gamma1": 0.75, "gamma2": 0.5, "epsilon": 1e-6, "centered": centered,
            "wd": 1e-3, "clip_gradient": 1.0, "clip_weights": 1.5, "rescale_grad": 2.0,
            "lr_scheduler": mx.lr_scheduler.FactorScheduler(step=50, factor=0.5, base_lr=2**-5),
        }

    native, native_net, _ = _train(mx, "rmsprop", params(), 150, x, y)
    ours, our_net, trainer = _train(mx, "polyprop_rmsprop", params(), 150, x, y)
    assert type(trainer._optimizer) is ops.RMSProp
    np.testing.assert_array_equal(ours, native)
    np.testing.assert_array_equal(our_net.weight.data().asnumpy(), native_net.weight.data().asnumpy())
    assert np.all(np.isfinite(ours))
    assert ours[-1] < 0.2 * ours[0]
    assert our_net.weight.data().asnumpy().min() == -1.5  # clip_weights held the weight -2 back


def test_gluon_trainer_state_files_interchange(tmp_path):
    ops = require_backend("mxnet")
    mx = ops.mx
    x, y = _gluon_problem(mx)
    params = {"learning_rate": 0.01, "gamma1": 0.9, "wd": 1e-3, "clip_gradient": 5.0}
    reference, _, _ = _train(mx, "rmsprop", params, 60, x, y)
    for first, second in (("polyprop_rmsprop", "rmsprop"), ("rmsprop", "polyprop_rmsprop")):
        losses, net, trainer = _train(mx, first, params, 30, x, y)
        trainer.save_states(str(tmp_path / f"{first}.states"))
        resumed = mx.gluon.Trainer(net.collect_params(), second, params)
        resumed.load_states(str(tmp_path / f"{first}.states"))
        # Trainer.load_states adopts the optimizer pickled in the file (MXNet's rule): ours pickles
        assert type(resumed._optimizer) is (ops.RMSProp if first == "polyprop_rmsprop" else mx.optimizer.RMSProp)
        more, _, _ = _train(mx, None, None, 30, x, y, net=net, trainer=resumed)
        np.testing.assert_array_equal(losses + more, reference)


@pytest.mark.parametrize("centered", [False, True])
def test_updater_states_interchange_both_ways(centered):
    ops = require_backend("mxnet")
    mx = ops.mx
    kw = dict(learning_rate=2**-7, gamma1=0.75, gamma2=0.5, epsilon=1e-6, centered=centered, wd=1e-3, clip_gradient=1.0)
    start, grads = _problem(12, "float32")
    reference, _ = run(mx, mx.optimizer.RMSProp(**kw), start, grads)
    for first, second in ((ops.RMSProp, mx.optimizer.RMSProp), (mx.optimizer.RMSProp, ops.RMSProp)):
        head, updater = run(mx, first(**kw), start, grads[:30])
        blob = updater.get_states(dump_optimizer=False)
        resumed = mx.optimizer.get_updater(second(**kw))
        resumed.set_states(blob)
        weights = [mx.nd.array(w) for w in head[-1]]
        tail, _ = run(mx, None, weights, grads[30:], updater=resumed)
        for a, b in zip(head + tail, reference):
            for u, v in zip(a, b):
                np.testing.assert_array_equal(u, v)
    # a state written by an older polyprop (a bare n, not MXNet's (n,)) still loads
    if not centered:
        updater = mx.optimizer.get_updater(ops.RMSProp(**kw))
        updater.set_states(pickle.dumps({0: mx.nd.zeros(5), 1: mx.nd.zeros((3, 4))}))
        tail, _ = run(mx, None, start, grads[:1], updater=updater)
        np.testing.assert_array_equal(tail[0][0], reference[0][0])


def test_a_state_of_the_wrong_layout_is_refused_clearly():
    ops = require_backend("mxnet")
    mx = ops.mx
    plain = mx.optimizer.RMSProp(learning_rate=0.01)
    updater = mx.optimizer.get_updater(ops.RMSProp(learning_rate=0.01, centered=True))
    updater.states = {0: plain.create_state(0, mx.nd.zeros(3))}
    updater.states_synced = {0: True}
    with pytest.raises(ValueError, match=r"state must be MXNet's \(n, g, delta\) for centered=True, got 1 arrays"):
        updater(0, mx.nd.ones(3), mx.nd.zeros(3))


def test_fast_path_kernels_take_only_scalars_mxnet_reads_back_exactly():
    ops = require_backend("mxnet")
    import polyprop

    lr = 1.0190969135237538e-07  # a float32 that MXNet reads back one ulp away
    assert float(np.float32(lr)) == lr
    assert ops.floats._mx_float(lr) != lr
    config = polyprop.presets.mxnet(learning_rate=lr, gamma1=0.9)
    x, g = np.zeros(300, np.float32), np.random.default_rng(0).standard_normal(300).astype(np.float32)
    plain, _ = polyprop.step(
        [ops.from_numpy(x)], [ops.from_numpy(g)], polyprop.init([ops.from_numpy(x)], config), config
    )
    fast, _ = polyprop.fast_step(
        [ops.from_numpy(x)], [ops.from_numpy(g)], polyprop.init([ops.from_numpy(x)], config), config
    )
    np.testing.assert_array_equal(ops.to_numpy(fast[0]), ops.to_numpy(plain[0]))
    assert np.count_nonzero(ops.to_numpy(plain[0])) == 300


@pytest.mark.parametrize(
    ("kw", "error", "message"),
    [
        (dict(gamma1=1.0), ValueError, r"gamma1 must be in \[0, 1\), got 1.0"),
        (dict(gamma1=0.99999999), ValueError, r"gamma1 must be in \[0, 1\), got 0.99999999 \(MXNet reads it as"),
        (dict(gamma1=-0.1), ValueError, r"gamma1 must be in \[0, 1\), got -0.1"),
        (dict(gamma1="0.9"), TypeError, r"gamma1 must be a real number in \[0, 1\), got '0.9'"),
        (dict(gamma2=1.0, centered=True), ValueError, r"gamma2 must be in \[0, 1\), got 1.0"),
        (dict(epsilon=0.0), ValueError, r"epsilon must be in \(0, inf\], got 0.0"),
        (dict(epsilon=1e-50), ValueError, r"epsilon=1e-50 is out of the range MXNet reads"),
        (dict(clip_weights=1e39), ValueError, r"clip_weights=1e\+39 is out of the range MXNet reads"),
        (dict(learning_rate=3.5e38), ValueError, r"learning_rate=3.5e\+38 is out of the range MXNet reads"),
        (dict(learning_rate=-0.1), ValueError, r"learning_rate must be in \[0, inf\], got -0.1"),
        (dict(learning_rate=math.nan), ValueError, r"learning_rate must be a finite number"),
        (dict(wd=-1e-4), ValueError, r"wd must be in \[0, inf\], got -0.0001"),
        (dict(rescale_grad=math.inf), ValueError, r"rescale_grad must be a finite number"),
        (dict(clip_gradient=math.inf), ValueError, r"clip_gradient must be a finite number"),
        (dict(clip_weights="2"), TypeError, r"clip_weights must be a real number"),
        (dict(centered="yes"), TypeError, r"centered must be True or False, got 'yes'"),
        (dict(use_fused_step=True), TypeError, r"unexpected keyword argument 'use_fused_step'"),
        (dict(aggregate_num=4), TypeError, r"unexpected keyword argument 'aggregate_num'"),
    ],
)
def test_bad_arguments_are_refused_in_the_constructor(kw, error, message):
    ops = require_backend("mxnet")
    with pytest.raises(error, match=message):
        ops.RMSProp(**kw)


def test_gamma2_is_ignored_unless_centered_as_native():
    ops = require_backend("mxnet")
    mx = ops.mx
    start, grads = _problem(13, "float32", steps=10)
    _same_trajectories(
        mx, lambda: mx.optimizer.RMSProp(gamma2=5.0), lambda: ops.RMSProp(gamma2=5.0), start, grads
    )


def test_a_bad_learning_rate_from_a_schedule_is_a_clear_error_at_that_step():
    ops = require_backend("mxnet")
    mx = ops.mx

    class Negative(mx.lr_scheduler.LRScheduler):
        def __call__(self, num_update):
            return 0.01 if num_update < 2 else -0.01

    updater = mx.optimizer.get_updater(ops.RMSProp(learning_rate=None, lr_scheduler=Negative()))
    w = mx.nd.ones(3)
    updater(0, mx.nd.ones(3), w)
    with pytest.raises(ValueError, match=r"learning rate of parameter 0 \(learning_rate, lr_scheduler, lr_mult\) "
                                         r"must be in \[0, inf\], got -0.01"):
        updater(0, mx.nd.ones(3), w)


def test_zz_report_measured_maxima(capsys):
    if not MEASURED:
        pytest.skip("the matrix did not run in this session")
    with capsys.disabled():
        print("\nmxnet drop-in vs native, max relative difference over the trajectory:")
        for key, value in sorted(MEASURED.items()):
            print(f"  {key}: {value:.3g}")
