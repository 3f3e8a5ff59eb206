"""polyprop.backends.torch.RMSprop against torch.optim.RMSprop, step for step.

Every combination of momentum, centered, weight decay and maximize, float32 and
float64, 120 steps on random shapes, with and without a learning-rate scheduler,
plus 60 steps of random configurations on large and small tensors.  The default
drop-in runs the traced update fused into torch's own ops in torch's order
(polyprop.expression.fuse), and is asserted **bit-identical** to the native
optimizer (single-tensor and foreach) in float32 and float64.

The torch preset on NumPy runs the same matrix with plain ops.  Tolerances: each
tensor's largest difference over the run divided by its largest magnitude;
float64 1e-12, float32 1e-6 (measured maxima are printed at the end).  There,
centered float32 gets 2e-5 (measured 7.8e-6): torch's kernels fuse multiply-adds
(addcmul_, lerp_, addcdiv_) and so round once where plain ops round twice, and
centered RMSProp computes v - m^2, a cancellation that magnifies those ulps by
v / (v - m^2) -- an expression torch evaluates as one fused addcmul.  fused=True
(torch.compile) keeps those tolerances too.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest

import polyprop
from conftest import require_backend

STEPS = 120
TOL = {"float64": 1e-12, "float32": 1e-6}
TOL_CENTERED_F32 = 2e-5


def tolerance(dtype, centered):
    return TOL_CENTERED_F32 if centered and dtype == "float32" else TOL[dtype]
MEASURED: dict[str, float] = {}

COMBOS = [
    dict(momentum=m, centered=c, weight_decay=wd, maximize=mx)
    for m, c, wd, mx in itertools.product([0.0, 0.9], [False, True], [0.0, 0.1], [False, True])
]


def shapes(seed):
    rng = np.random.default_rng(seed)
    return [tuple(int(d) for d in rng.integers(1, 5, size=rng.integers(0, 4))) for _ in range(3)]


def gradients(seed, shapes_, dtype):
    rng = np.random.default_rng(seed + 1000)
    return [[rng.standard_normal(s).astype(dtype) for s in shapes_] for _ in range(STEPS)]


def rel_error(a, b):
    """max|a - b| / max|b|: over a whole trajectory when given stacked steps."""
    return float(np.max(np.abs(a - b), initial=0.0)) / max(float(np.max(np.abs(b), initial=0.0)), 1e-300)


def run_pair(torch, make_native, make_ours, params0, grads, scheduler=None):
    """Drive both optimizers with the same gradients; the worst relative difference."""
    native_params = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params0]
    our_params = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params0]
    native, ours = make_native(native_params), make_ours(our_params)
    schedulers = [scheduler(native), scheduler(ours)] if scheduler else []
    trajectory, ours_trajectory = [], []
    for gs in grads:
        for ps, opt in ((native_params, native), (our_params, ours)):
            for p, g in zip(ps, gs):
                p.grad = torch.from_numpy(g.copy())
            opt.step()
        for s in schedulers:
            s.step()
        trajectory.append([p.detach().numpy().copy() for p in native_params])
        ours_trajectory.append([p.detach().numpy().copy() for p in our_params])
    worst = max(
        rel_error(np.stack([s[i] for s in ours_trajectory]), np.stack([s[i] for s in trajectory]))
        for i in range(len(params0))
    )
    for p_state, n_state in zip(ours.state.values(), native.state.values()):
        for key in n_state:
            if key != "step":
                worst = max(worst, rel_error(p_state[key].numpy(), n_state[key].numpy()))
            else:
                assert float(p_state[key]) == float(n_state[key]) == len(grads)
    return worst, trajectory


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kwargs", COMBOS, ids=lambda k: "-".join(f"{n}={v}" for n, v in k.items()))
def test_matches_native_step_for_step(kwargs, dtype):
    ops = require_backend("torch")
    import torch

    seed = COMBOS.index(kwargs)
    shp = shapes(seed)
    params0 = [np.random.default_rng(seed).standard_normal(s).astype(dtype) for s in shp]
    grads = gradients(seed, shp, dtype)
    hyper = dict(lr=0.01, alpha=0.9, eps=1e-6, **kwargs)
    worst, native_traj = run_pair(
        torch, lambda p: torch.optim.RMSprop(p, **hyper), lambda p: ops.RMSprop(p, **hyper), params0, grads
    )
    assert worst == 0.0, worst  # the default path runs torch's own ops in torch's order
    # The preset on the NumPy backend (plain ops) follows the same native trajectory.
    config = polyprop.presets.torch(**hyper)
    xs, state = list(params0), polyprop.init(list(params0), config)
    preset_traj = []
    for gs in grads:
        xs, state = polyprop.step(xs, gs, state, config)
        preset_traj.append(xs)
    for i in range(len(params0)):
        got = np.stack([s[i] for s in preset_traj])
        error = rel_error(got, np.stack([s[i] for s in native_traj]))
        key = f"numpy preset {dtype}{' centered' if kwargs['centered'] else ''}"
        MEASURED[key] = max(MEASURED.get(key, 0.0), error)
        assert error <= tolerance(dtype, kwargs["centered"]), i


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    ("name", "factory"),
    [
        ("StepLR", lambda opt: __import__("torch").optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)),
        ("CosineAnnealingLR", lambda opt: __import__("torch").optim.lr_scheduler.CosineAnnealingLR(opt, T_max=STEPS)),
        ("ExponentialLR", lambda opt: __import__("torch").optim.lr_scheduler.ExponentialLR(opt, gamma=0.97)),
    ],
)
def test_lr_schedulers_with_momentum_and_centered(name, factory, dtype):
    ops = require_backend("torch")
    import torch

    shp = shapes(99)
    params0 = [np.random.default_rng(5).standard_normal(s).astype(dtype) for s in shp]
    hyper = dict(lr=0.02, alpha=0.95, momentum=0.8, centered=True, weight_decay=0.01)
    worst, _ = run_pair(
        torch, lambda p: torch.optim.RMSprop(p, **hyper), lambda p: ops.RMSprop(p, **hyper),
        params0, gradients(99, shp, dtype), scheduler=factory,
    )
    assert worst == 0.0, (name, worst)


def test_parameter_groups_closures_and_state_dict_interchange():
    ops = require_backend("torch")
    import torch

    torch.manual_seed(0)
    data, target = torch.randn(32, 4, dtype=torch.float64), torch.randn(32, 1, dtype=torch.float64)

    def model_and_groups():
        torch.manual_seed(1)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
        groups = [
            {"params": model[0].parameters(), "momentum": 0.9},
            {"params": model[2].parameters(), "lr": 0.001, "centered": True},
        ]
        return model, groups

    def train(model, opt, steps):
        losses = []
        for _ in range(steps):
            def closure():
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(data), target)
                loss.backward()
                return loss
            losses.append(opt.step(closure).item())
        return losses

    native_model, groups = model_and_groups()
    native = torch.optim.RMSprop(groups, lr=0.01, alpha=0.9)
    our_model, groups = model_and_groups()
    ours = ops.RMSprop(groups, lr=0.01, alpha=0.9)
    native_losses, our_losses = train(native_model, native, 30), train(our_model, ours, 30)
    np.testing.assert_allclose(our_losses, native_losses, rtol=1e-12)
    assert our_losses[-1] < our_losses[0]

    # Native state_dict -> polyprop, and back: training continues identically.
    resumed_model, _ = model_and_groups()
    resumed_model.load_state_dict(native_model.state_dict())
    resumed = ops.RMSprop(
        [{"params": resumed_model[0].parameters(), "momentum": 0.9},
         {"params": resumed_model[2].parameters(), "lr": 0.001, "centered": True}], lr=0.01, alpha=0.9)
    # state_dict() returns references to the live buffers (torch's own behaviour): copy it.
    resumed.load_state_dict(copy.deepcopy(native.state_dict()))
    np.testing.assert_allclose(train(resumed_model, resumed, 10), train(native_model, native, 10), rtol=1e-12)
    back = torch.optim.RMSprop(
        [{"params": our_model[0].parameters(), "momentum": 0.9},
         {"params": our_model[2].parameters(), "lr": 0.001, "centered": True}], lr=0.01, alpha=0.9)
    back.load_state_dict(copy.deepcopy(ours.state_dict()))
    assert set(back.state_dict()["state"][0]) == {"step", "square_avg", "momentum_buffer"}


@pytest.mark.filterwarnings("error:polyprop.fast_step:RuntimeWarning")  # a failed compile fails here
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fused_follows_the_native_optimizer_under_a_scheduler(dtype):
    """fused=True: polyprop.fast_step (torch.compile, in place); the scheduler's lr changes compile nothing."""
    ops = require_backend("torch")
    import torch
    from torch._dynamo.utils import counters

    shp = shapes(7)
    params0 = [np.random.default_rng(7).standard_normal(s).astype(dtype) for s in shp]
    hyper = dict(lr=0.02, alpha=0.95, momentum=0.8, centered=True, weight_decay=0.01)
    graphs = counters["stats"]["unique_graphs"]
    worst, _ = run_pair(
        torch, lambda p: torch.optim.RMSprop(p, **hyper), lambda p: ops.RMSprop(p, fused=True, **hyper),
        params0, gradients(7, shp, dtype),
        scheduler=lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.97),
    )
    MEASURED[f"fused {dtype} centered"] = max(MEASURED.get(f"fused {dtype} centered", 0.0), worst)
    assert worst <= tolerance(dtype, True), worst
    # The first step compiles one graph per kind of tensor (polyprop.backends.torch._chunks), at most
    # one per tensor here; the other STEPS - 1 steps, whose learning rate changes, compile nothing.
    first = counters["stats"]["unique_graphs"] - graphs
    assert 1 <= first <= len(shp)
    again, _ = run_pair(
        torch, lambda p: torch.optim.RMSprop(p, **hyper), lambda p: ops.RMSprop(p, fused=True, **hyper),
        params0, gradients(8, shp, dtype),
    )
    assert again <= tolerance(dtype, True), again
    assert counters["stats"]["unique_graphs"] - graphs == first  # same shapes: no new graph


@pytest.mark.filterwarnings("error:polyprop.fast_step:RuntimeWarning")
def test_fused_shares_one_graph_among_chunks_of_different_sizes():
    """40 vectors of 40 different lengths: three chunks of one kind, one compiled graph (sizes symbolic)."""
    ops = require_backend("torch")
    import torch
    from torch._dynamo.utils import counters

    rng = np.random.default_rng(11)
    shp = [(int(n),) for n in rng.permutation(np.arange(2, 42))]
    params0 = [rng.standard_normal(s).astype("float64") for s in shp]
    hyper = dict(lr=0.01, alpha=0.9, momentum=0.5)
    graphs = counters["stats"]["unique_graphs"]
    worst, _ = run_pair(
        torch, lambda p: torch.optim.RMSprop(p, **hyper), lambda p: ops.RMSprop(p, fused=True, **hyper),
        params0, gradients(11, shp, "float64")[:5],
    )
    assert worst <= TOL["float64"], worst
    # several chunks, one shorter
    assert len(shp) > ops.COMPILE_CHUNK
    assert len(shp) % ops.COMPILE_CHUNK
    assert counters["stats"]["unique_graphs"] - graphs <= 2  # full chunks share one, the short one its own


def test_same_signature_and_defaults_as_native():
    ops = require_backend("torch")
    import inspect

    import torch

    native = inspect.signature(torch.optim.RMSprop.__init__).parameters
    ours = inspect.signature(ops.RMSprop.__init__).parameters
    assert list(ours) == [*native, "fused"]  # plus `fused`, as torch's Adam and SGD have
    for name in native:
        assert ours[name].default == native[name].default, name
    assert ours["fused"].default is None
    assert issubclass(ops.RMSprop, torch.optim.Optimizer)


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(lr=-1.0), r"^Invalid learning rate: -1.0$"),  # torch's own messages where torch refuses too
    (dict(momentum=-0.1), r"^Invalid momentum value: -0.1$"),
    (dict(alpha=1.5), r"^alpha must be < 1 for polyprop's RMSprop, got 1.5"),  # torch takes it, polyprop not
    (dict(differentiable=True), "differentiable=True is not supported"),
    (dict(fused="yes"), "fused must be True, False or None, got 'yes'"),
])
def test_bad_arguments_are_refused_at_construction(kwargs, message):
    ops = require_backend("torch")
    import torch

    with pytest.raises(ValueError, match=message):
        ops.RMSprop([torch.nn.Parameter(torch.zeros(2))], **kwargs)


# --------------------------------------------------------------------------------------
# The default path (polyprop.backends.torch.inplace_step): random configurations, bit for bit.

RANDOM_STEPS = 60


def random_config(rng):
    """torch.optim.RMSprop's arguments drawn at random; each switch on about half the time."""
    return dict(
        lr=float(10 ** rng.uniform(-4, -1)),
        alpha=float(rng.uniform(0.5, 0.999)),
        eps=float(10 ** rng.uniform(-10, -4)),
        weight_decay=float(10 ** rng.uniform(-4, -1)) if rng.random() < 0.5 else 0.0,
        momentum=float(rng.uniform(0.1, 0.95)) if rng.random() < 0.5 else 0.0,
        centered=bool(rng.random() < 0.5),
        maximize=bool(rng.random() < 0.5),
    )


def run_random(torch, make_ours, seed, dtype, big, foreach):
    """60 steps of one random config on a large (blocked), a matrix, a vector and a 0-d tensor.

    Returns the worst relative difference and whether every parameter and state
    tensor was bit-identical to torch.optim.RMSprop's after every step.
    """
    rng = np.random.default_rng(seed)
    hyper = random_config(rng)
    if seed % 4 == 0:  # centered + momentum + weight decay, the case that differed most before
        hyper.update(centered=True, momentum=0.9, weight_decay=0.01)
    shapes_ = [(big,), (int(rng.integers(1, 40)), int(rng.integers(1, 40))), (int(rng.integers(1, 100)),), ()]
    params0 = [rng.standard_normal(s).astype(dtype) for s in shapes_]
    native_params = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params0]
    our_params = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params0]
    native = torch.optim.RMSprop(native_params, foreach=foreach, **hyper)
    ours = make_ours(our_params, hyper)
    identical, worst = True, 0.0
    peaks = [0.0] * len(params0)
    diffs = [0.0] * len(params0)
    for _ in range(RANDOM_STEPS):
        for a, b, s in zip(native_params, our_params, shapes_):
            g = torch.from_numpy(rng.standard_normal(s).astype(dtype))
            a.grad, b.grad = g.clone(), g.clone()
        native.step()
        ours.step()
        for i, (a, b) in enumerate(zip(native_params, our_params)):
            identical &= bool(torch.equal(a, b))
            diffs[i] = max(diffs[i], float((a - b).abs().max().detach()))
            peaks[i] = max(peaks[i], float(a.abs().max().detach()))
    for a, b in zip(native_params, our_params):
        for key, value in native.state[a].items():
            identical &= bool(torch.equal(value, ours.state[b][key]))
    worst = max(d / max(p, 1e-300) for d, p in zip(diffs, peaks))
    return worst, identical, hyper


@pytest.mark.parametrize("foreach", [False, True], ids=["native-single-tensor", "native-foreach"])
@pytest.mark.parametrize("layout", ["default", "all-blocks", "one-thread"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_default_path_is_bit_identical_to_native_on_random_configs(dtype, layout, foreach, monkeypatch):
    """Every random config, 60 steps: within 1e-6 (float32) / 1e-12 (float64), and in fact bit for bit.

    ``all-blocks`` cuts every tensor above one block into blocks shared by threads,
    ``one-thread`` is the path of ``torch.set_num_threads(1)`` (mid-sized tensors
    whole, as torch computes them, large ones in blocks on the calling thread).
    """
    ops = require_backend("torch")
    import torch

    itemsize = np.dtype(dtype).itemsize
    big = 70_000 if layout != "one-thread" else ops.WHOLE_BYTES // itemsize + 4099  # just above: in blocks
    if layout == "all-blocks":
        monkeypatch.setattr(ops.foreach, "WHOLE_BYTES", 0)
    if layout == "one-thread":
        monkeypatch.setattr(ops.foreach, "MAX_WORKERS", 1)
    seeds = range(8) if layout != "one-thread" else range(1)
    for seed in seeds:
        worst, identical, hyper = run_random(
            torch, lambda p, h: ops.RMSprop(p, **h), seed, dtype, big if seed % 2 == 0 else 3, foreach
        )
        key = f"default path {dtype}"
        MEASURED[key] = max(MEASURED.get(key, 0.0), worst)
        assert worst <= TOL[dtype], (hyper, worst)
        assert identical, hyper


def test_fused_forms_are_the_native_operations_in_the_native_order():
    """expression.fuse of the torch preset's update_leaf is torch.optim.RMSprop's op sequence."""
    from polyprop.expression import LEAVES, fuse, trace
    from polyprop.rmsprop import update_leaf

    def forms(**kwargs):
        config = polyprop.presets.torch(**kwargs)
        program = trace(lambda o, *leaf: update_leaf(o, config, *leaf), config.centered, config.momentum > 0, False)
        return [(form, LEAVES[out] if out < len(LEAVES) else "tmp") for form, out, _, _ in fuse(program).steps]

    # _single_tensor_rmsprop: square_avg.mul_(alpha).addcmul_(g, g, value=1-alpha); avg = sqrt; avg.add_(eps);
    # param.addcdiv_(g, avg, value=-lr)
    assert forms() == [("mul_s", "nu"), ("addcmul", "nu"), ("sqrt", "tmp"), ("add_s", "tmp"), ("addcdiv", "x")]
    # + grad.add(param, alpha=wd); grad_avg.lerp_(g, 1-alpha); avg = square_avg.addcmul(ga, ga, value=-1).sqrt_();
    # buf.mul_(momentum).addcdiv_(g, avg); param.add_(buf, alpha=-lr)
    assert forms(weight_decay=0.1, centered=True, momentum=0.9) == [
        ("mul_s", "nu"), ("add_alpha", "tmp"), ("addcmul", "nu"), ("lerp", "mu"), ("mul_s", "m"),
        ("addcmul", "tmp"), ("sqrt", "tmp"), ("add_s", "tmp"), ("addcdiv", "m"), ("add_alpha", "x"),
    ]


@pytest.mark.parametrize(("name", "kwargs"), [
    ("keras", dict(learning_rate=0.01, rho=0.9, momentum=0.5, centered=True, weight_decay=0.01)),
    # (eps 0.1: with bias correction the first centered step computes v - m^2 = 0 up to rounding, which a
    # small eps would magnify into a relative 1e-7 between any two roundings of the same formula)
    ("optax", dict(learning_rate=0.01, decay=0.9, eps=0.1, momentum=0.5, nesterov=True, bias_correction=True,
                   centered=True)),
    ("mxnet", dict(learning_rate=0.01, gamma1=0.9, centered=True, wd=0.01)),
    ("tf1", dict(learning_rate=0.01, momentum=0.5, centered=True)),
    ("torch", dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.01, maximize=True)),
])
def test_inplace_step_follows_polyprop_step_for_every_preset(name, kwargs):
    """The fused in-place path is polyprop.step's mathematics for any config (float64, 30 steps, 1e-12)."""
    ops = require_backend("torch")
    import torch

    config = polyprop.presets.PRESETS[name](**kwargs)
    rng = np.random.default_rng(3)
    shapes_ = [(70_000,), (5, 7), ()]
    xs = [torch.from_numpy(rng.standard_normal(s)) for s in shapes_]
    ours, ours_state = [x.clone() for x in xs], polyprop.init([x.clone() for x in xs], config)
    plain, plain_state = [x.clone() for x in xs], polyprop.init([x.clone() for x in xs], config)
    assert ops.inplace_update(config) is not None
    for _ in range(30):
        gs = [torch.from_numpy(rng.standard_normal(s)) for s in shapes_]
        ours, ours_state = ops.inplace_step(ours, gs, ours_state, config, ops)
        plain, plain_state = polyprop.step(plain, gs, plain_state, config, ops)
        for a, b in zip(ours, plain):
            assert rel_error(a.numpy(), b.numpy()) <= 1e-12


def test_default_path_never_compiles(monkeypatch):
    """No torch.compile, no Dynamo graph: the default step is plain eager torch ops."""
    ops = require_backend("torch")
    import torch
    from torch._dynamo.utils import counters

    def refuse(*args, **kwargs):
        raise AssertionError("torch.compile called on the default path")

    monkeypatch.setattr(torch, "compile", refuse)
    graphs = counters["stats"]["unique_graphs"]
    params = [torch.nn.Parameter(torch.randn(s)) for s in [(100_000,), (64, 32), (32,), ()]]
    opt = ops.RMSprop(params, lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)
    for _ in range(3):
        for p in params:
            p.grad = torch.randn_like(p)
        opt.step()
    assert counters["stats"]["unique_graphs"] == graphs
    # and the config has the fused in-place form (None would mean the per-tensor plain path)
    assert ops.inplace_update(polyprop.presets.torch(momentum=0.9, centered=True)) is not None


MEMORY_PROBE = """
import json, sys, torch
from benchmarks.step import peak_rss_growth
from polyprop.backends import torch as ops

def one_step(make):
    params = [torch.nn.Parameter(torch.randn(10_000_000))]
    params[0].grad = torch.randn(10_000_000)
    opt = make(params)
    opt.step()  # the state exists before the measured step
    return peak_rss_growth(opt.step)

kwargs = json.loads(sys.argv[1])
print(json.dumps([one_step(lambda p: torch.optim.RMSprop(p, **kwargs)), one_step(lambda p: ops.RMSprop(p, **kwargs))]))
"""


@pytest.mark.parametrize(
    "kwargs",
    [dict(lr=0.01), dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.01)],
    ids=["plain", "centered-momentum-wd"],
)
def test_default_path_extra_memory_is_below_the_natives(kwargs):
    """Peak RSS growth of one step on a 1e7 float32 tensor, measured as benchmarks.step does.

    torch's single-tensor step allocates ``avg`` (40 MB here; with weight decay also the
    decayed gradient); the blocked path only cache-sized scratch.  A fresh process, so that no
    freed heap of earlier tests hides an allocation: then the measure is deterministic.
    """
    require_backend("torch")
    import json
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, json.dumps(kwargs)], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    native, ours = json.loads(done.stdout.strip().splitlines()[-1])
    if native is None:
        pytest.skip("peak RSS cannot be reset on this system (/proc/self/clear_refs)")
    MEASURED[f"extra MiB native / default path (1e7 float32, {sorted(kwargs)})"] = (native / 2**20, ours / 2**20)  # type: ignore[assignment]
    assert native > 30 * 2**20  # the native's avg really was measured
    assert ours < native / 4


def test_zz_report_measured_maxima(capsys):
    """Prints the largest differences the matrix above measured (for the closing note)."""
    if not MEASURED:
        pytest.skip("the matrix did not run in this session")
    with capsys.disabled():
        print(f"\ntorch drop-in vs torch.optim.RMSprop, max relative difference: {MEASURED}")
    differences = {key: value for key, value in MEASURED.items() if not key.startswith("extra")}
    assert all(value <= tolerance(key.split()[-2 if "centered" in key else -1], "centered" in key)
               for key, value in differences.items())
