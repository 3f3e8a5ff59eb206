"""torch's own RMSprop test data, run on a candidate RMSprop against ``torch.optim.RMSprop``.

torch's ``test/test_optim.py`` is not in the wheel; the data it runs on is:
``torch/testing/_internal/common_optimizers.py`` holds RMSprop's ``OptimizerInfo``
(every config of ``optim_inputs_func_rmsprop``, every error input of
``optim_error_inputs_func_rmsprop`` with its error type, regex and whether it is
raised at construction or at step).  This module imports them from site-packages
and checks the candidate (fixture ``candidate``, from the plugin torch_dropin.py):

* every config, float32 and float64: trajectories (parameters and every state
  tensor, after every step) equal the native's from the same start with the same
  gradients, to 1e-6 / 1e-12 relative per tensor (max|diff| / max|native|);
* every error input: the same error type (or warning), message matching upstream's regex;
* the generic behaviours test_optim checks, each compared with the native.

Importing ``torch.testing._internal`` changes global torch state (it calls
``torch.backends.disable_global_flags()``), so tests/test_upstream_torch.py runs this
module in a subprocess through tests/upstream/runner.py.  Cases that do not apply are
listed, with their reason, in ``[torch]`` of tests/upstream/excluded.toml.
"""

from __future__ import annotations

import copy
import io
import warnings

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler
from torch.testing._internal.common_optimizers import (
    OptimizerErrorEnum,
    _get_optim_inputs_including_global_cliquey_kwargs,
    optim_db,
)

NATIVE = torch.optim.RMSprop
INFO = next(info for info in optim_db if info.optim_cls is NATIVE)
DTYPES = {"float32": torch.float32, "float64": torch.float64}
COMPLEX = {"float32": torch.complex64, "float64": torch.complex128}
TOL = {"float32": 1e-6, "float64": 1e-12}
SHAPES = [(3,), (2, 4), (), (5, 1, 2)]
STEPS = 24
TORCH_OPTIMINFO_MEASURED: dict[str, float] = {}


def configs(skip=()):
    """Every CPU config, with the cliquey flags (differentiable) as test_optim adds them."""
    return _get_optim_inputs_including_global_cliquey_kwargs("cpu", None, INFO, skip=skip)


def cuda_only_configs():
    """The configs upstream runs only on accelerators (capturable, tensor lr with capturable)."""
    cpu = {c.desc for c in INFO.optim_inputs_func("cpu")}
    return [c for c in INFO.optim_inputs_func("cuda") if c.desc not in cpu]


def by_desc(inputs):
    return pytest.mark.parametrize("config", inputs, ids=[c.desc for c in inputs])


BASE = configs(skip=("differentiable",))
ALL = configs()
ERRORS = INFO.optim_error_inputs_func("cpu", torch.float32)
dtypes = pytest.mark.parametrize("dtype", list(DTYPES))


# --------------------------------------------------------------------------------------
# Helpers: the same start, the same gradients, a snapshot of everything after each step.


def start(dtype, shapes=SHAPES, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=generator, dtype=dtype) for s in shapes]


def gradient_stream(params0, steps=STEPS, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return [[torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in params0] for _ in range(steps)]


def two_groups(params):
    """Two parameter groups: the second overrides alpha and eps."""
    return [{"params": params[:2]}, {"params": params[2:], "alpha": 0.9, "eps": 1e-6}]


def snapshot(optimizer, params):
    """Every parameter and every state entry, copied: {name: tensor}."""
    out = {}
    for i, p in enumerate(params):
        out[f"param{i}"] = p.detach().clone()
        for key, value in optimizer.state[p].items():
            out[f"{key}{i}"] = value.detach().clone() if torch.is_tensor(value) else torch.tensor(value)
    return out


def feed(optimizer, params, grads):
    """A closure that sets ``grads`` as the gradients and returns a loss; step(closure)."""

    def closure():
        optimizer.zero_grad()
        for p, g in zip(params, grads):
            p.grad = g.clone()
        return torch.stack([(p.detach() * g).sum().real for p, g in zip(params, grads)]).sum()

    loss = optimizer.step(closure)
    assert loss is not None, "step(closure) must return the closure's loss"
    assert torch.is_tensor(loss), "step(closure) must return the closure's loss"
    return loss


def trajectory(make, params0, grads, schedule=None, on_step=None, differentiable=False):
    """Snapshots after each step of ``make(params)`` fed ``grads``.

    ``differentiable``: the parameters are non-leaf tensors, as torch's differentiable
    mode needs (it updates them in place inside the autograd graph).
    """
    if differentiable:
        params = [p.clone().requires_grad_().clone() for p in params0]
        for p in params:
            p.retain_grad()
    else:
        params = [torch.nn.Parameter(p.clone()) for p in params0]
    optimizer = make(params)
    scheduler = schedule(optimizer) if schedule else None
    record = []
    for step_grads in grads:
        loss = feed(optimizer, params, step_grads)
        if scheduler is not None:
            scheduler.step(loss) if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau) else scheduler.step()
        if on_step:
            on_step(optimizer)
        record.append(snapshot(optimizer, params))
    return record


def relative(ours, native):
    """max|ours - native| / max|native| (complex tensors through their real view)."""
    if ours.is_complex():
        ours, native = torch.view_as_real(ours), torch.view_as_real(native)
    ours, native = ours.double(), native.double()
    diff = float((ours - native).abs().max()) if ours.numel() else 0.0
    scale = float(native.abs().max()) if native.numel() else 0.0
    return diff / scale if scale > 0 else diff


def assert_same(ours, native, dtype, label):
    """Same entries, dtypes and shapes after every step; each tensor's largest difference over
    the run, divided by its largest magnitude over the run, within TOL[dtype]."""
    assert len(ours) == len(native)
    for step, (a, b) in enumerate(zip(ours, native)):
        assert a.keys() == b.keys(), f"{label}: step {step}: state entries {sorted(a)} != native {sorted(b)}"
        for name in b:
            detail = (
                f"{label}: step {step}: {name} is {a[name].dtype}{tuple(a[name].shape)}, "
                f"native {b[name].dtype}{tuple(b[name].shape)}"
            )
            assert a[name].dtype == b[name].dtype, detail
            assert a[name].shape == b[name].shape, detail
    worst = 0.0
    for name in native[0] if native else ():
        error = relative(torch.stack([a[name] for a in ours]), torch.stack([b[name] for b in native]))
        assert error <= TOL[dtype], f"{label}: {name} differs by {error:.3g} (relative, over {len(native)} steps)"
        worst = max(worst, error)
    key = f"{label.split('[')[0]} {dtype}"
    TORCH_OPTIMINFO_MEASURED[key] = max(TORCH_OPTIMINFO_MEASURED.get(key, 0.0), worst)
    return worst


def kwargs_of(config):
    return copy.deepcopy(config.kwargs)  # a tensor lr must not be shared (schedulers write into it)


# --------------------------------------------------------------------------------------
# Every config (test_optim's foreach_matches_forloop / correctness tests, against the native).


@dtypes
@by_desc(ALL)
def test_config_matches_native(candidate, config, dtype):
    params0 = start(DTYPES[dtype])
    grads = gradient_stream(params0)
    differentiable = config.kwargs.get("differentiable", False)
    native = trajectory(
        lambda ps: NATIVE(two_groups(ps), **kwargs_of(config)), params0, grads, differentiable=differentiable
    )
    ours = trajectory(
        lambda ps: candidate(two_groups(ps), **kwargs_of(config)), params0, grads, differentiable=differentiable
    )
    assert_same(ours, native, dtype, f"config[{config.desc}]")


@dtypes
@by_desc(BASE)
def test_config_with_foreach_matches_native_foreach(candidate, config, dtype):
    """foreach=True runs torch's multi-tensor path on CPU too (upstream adds foreach only on accelerators)."""
    params0 = start(DTYPES[dtype])
    grads = gradient_stream(params0)
    kwargs = {**kwargs_of(config), "foreach": True}
    native = trajectory(lambda ps: NATIVE(two_groups(ps), **copy.deepcopy(kwargs)), params0, grads)
    ours = trajectory(lambda ps: candidate(two_groups(ps), **copy.deepcopy(kwargs)), params0, grads)
    assert_same(ours, native, dtype, f"foreach[{config.desc}]")


@dtypes
@by_desc(cuda_only_configs())
def test_accelerator_config_on_cpu(candidate, config, dtype):
    """capturable=True: on CPU the native refuses at step (AssertionError: CPU cannot capture);
    the candidate runs the step as without capturable, so it is compared with that."""
    params0 = start(DTYPES[dtype])
    grads = gradient_stream(params0)
    param = torch.nn.Parameter(params0[0].clone())
    with pytest.raises(AssertionError, match="capturable=True, params and state_steps must be on supported devices"):
        feed(NATIVE([param], **kwargs_of(config)), [param], grads[0][:1])
    plain = {k: v for k, v in kwargs_of(config).items() if k != "capturable"}
    native = trajectory(lambda ps: NATIVE(two_groups(ps), **copy.deepcopy(plain)), params0, grads)
    ours = trajectory(lambda ps: candidate(two_groups(ps), **kwargs_of(config)), params0, grads)
    assert_same(ours, native, dtype, f"capturable-on-cpu[{config.desc}]")


# --------------------------------------------------------------------------------------
# Every error input (test_optim's test_errors).


@dtypes
@pytest.mark.parametrize("index", range(len(ERRORS)), ids=[e.optimizer_error_input.desc for e in ERRORS])
def test_error_input(candidate, index, dtype):
    for cls in (NATIVE, candidate):  # the native first: the data must describe it
        error = INFO.optim_error_inputs_func("cpu", DTYPES[dtype])[index]  # fresh parameters each time
        given = error.optimizer_error_input
        expect = pytest.warns if issubclass(error.error_type, Warning) else pytest.raises
        if error.error_on == OptimizerErrorEnum.CONSTRUCTION_ERROR:
            with expect(error.error_type, match=error.error_regex):
                cls(given.params, **given.kwargs)
        else:
            optimizer = cls(given.params, **given.kwargs)
            with expect(error.error_type, match=error.error_regex):
                optimizer.step()


# --------------------------------------------------------------------------------------
# Generic behaviours, each against the native.


def run_both(candidate, kwargs, dtype="float64", steps=STEPS, **options):
    params0 = start(DTYPES[dtype])
    grads = gradient_stream(params0, steps)
    native = trajectory(lambda ps: NATIVE(two_groups(ps), **copy.deepcopy(kwargs)), params0, grads, **options)
    ours = trajectory(lambda ps: candidate(two_groups(ps), **copy.deepcopy(kwargs)), params0, grads, **options)
    return ours, native


@pytest.mark.parametrize("direction", ["candidate->native", "native->candidate"])
@by_desc(BASE)
def test_state_dict_round_trip(candidate, config, direction):
    """Steps on one class, state_dict() into the other, steps on: the same as the native throughout."""
    first, second = (candidate, NATIVE) if direction == "candidate->native" else (NATIVE, candidate)
    params0 = start(torch.float64)
    grads = gradient_stream(params0)
    reference = trajectory(lambda ps: NATIVE(two_groups(ps), **kwargs_of(config)), params0, grads)

    params = [torch.nn.Parameter(p.clone()) for p in params0]
    a = first(two_groups(params), **kwargs_of(config))
    for g in grads[: STEPS // 2]:
        feed(a, params, g)
    saved = copy.deepcopy(a.state_dict())
    native_saved = NATIVE(two_groups(params), **kwargs_of(config))
    native_saved.load_state_dict(copy.deepcopy(saved))
    assert_state_dicts_equal(saved, native_saved.state_dict())

    b = second(two_groups(params), **kwargs_of(config))
    b.load_state_dict(saved)
    assert_state_dicts_equal(b.state_dict(), saved)
    record = []
    for g in grads[STEPS // 2:]:
        feed(b, params, g)
        record.append(snapshot(b, params))
    assert_same(record, reference[STEPS // 2:], "float64", f"state_dict[{direction}]")


def assert_state_dicts_equal(a, b):
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for key in b["state"]:
        assert a["state"][key].keys() == b["state"][key].keys()
        for name, value in b["state"][key].items():
            assert torch.equal(a["state"][key][name], value), name
            assert a["state"][key][name].dtype == value.dtype, name


def test_state_dict_saves_and_loads_weights_only(candidate):
    """torch.save / torch.load(weights_only=True) of the candidate's state_dict, loaded by the native."""
    params = [torch.nn.Parameter(p.clone()) for p in start(torch.float32)]
    ours = candidate(params, momentum=0.5, centered=True, lr=torch.tensor(0.01))
    for g in gradient_stream(params, 3):
        feed(ours, params, g)
    buffer = io.BytesIO()
    torch.save(ours.state_dict(), buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    native = NATIVE(params, momentum=0.5, centered=True)
    native.load_state_dict(loaded)
    assert_state_dicts_equal(native.state_dict(), ours.state_dict())


def test_loads_an_older_state_dict(candidate):
    """A state_dict from before step became a tensor and before the later flags (RMSprop.__setstate__)."""
    params0 = start(torch.float64)
    grads = gradient_stream(params0)
    params = [torch.nn.Parameter(p.clone()) for p in params0]
    native = NATIVE(params, momentum=0.5, centered=True, weight_decay=0.1)
    for g in grads[:5]:
        feed(native, params, g)
    old = copy.deepcopy(native.state_dict())
    for group in old["param_groups"]:
        for key in ("foreach", "maximize", "differentiable", "capturable"):
            del group[key]
    for entry in old["state"].values():
        entry["step"] = float(entry["step"])

    records = {}
    for cls in (NATIVE, candidate):
        ps = [torch.nn.Parameter(p.detach().clone()) for p in params]
        optimizer = cls(ps, momentum=0.5, centered=True, weight_decay=0.1)
        optimizer.load_state_dict(copy.deepcopy(old))
        assert all(torch.is_tensor(s["step"]) for s in optimizer.state.values()), cls
        records[cls] = []
        for g in grads[5:]:
            feed(optimizer, ps, g)
            records[cls].append(snapshot(optimizer, ps))
    assert_same(records[candidate], records[NATIVE], "float64", "older_state_dict")


def test_named_parameters_state_dict(candidate):
    """Parameters given with names: state_dict carries param_names; loads across both classes."""
    torch.manual_seed(0)
    models = [torch.nn.Linear(3, 2).double() for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    ours, native = candidate(models[0].named_parameters()), NATIVE(models[1].named_parameters())
    x = torch.randn(4, 3, dtype=torch.float64)
    for optimizer, model in ((ours, models[0]), (native, models[1])):
        for _ in range(3):
            optimizer.zero_grad()
            model(x).square().sum().backward()
            optimizer.step()
    ours_state, native_state = ours.state_dict(), native.state_dict()
    assert ours_state["param_groups"] == native_state["param_groups"]
    for key, entry in native_state["state"].items():
        for name, value in entry.items():
            assert relative(ours_state["state"][key][name], value) <= TOL["float64"], name
    assert ours.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]
    NATIVE(models[0].named_parameters()).load_state_dict(ours.state_dict())
    candidate(models[1].named_parameters()).load_state_dict(native.state_dict())


def test_parameters_without_gradient_are_untouched(candidate):
    params0 = start(torch.float64)
    for cls in (NATIVE, candidate):
        params = [torch.nn.Parameter(p.clone()) for p in params0]
        optimizer = cls(params, momentum=0.9, centered=True, weight_decay=0.1)
        for g in gradient_stream(params0, 3):
            for p, gi in zip(params[1:], g[1:]):
                p.grad = gi.clone()
            params[0].grad = None
            optimizer.step()
        assert torch.equal(params[0].detach(), params0[0]), cls
        assert params[0] not in optimizer.state or not optimizer.state[params[0]], cls
        assert all(optimizer.state[p] for p in params[1:]), cls
        optimizer.zero_grad()
        optimizer.step()  # no gradient at all: a no-op
        assert torch.equal(params[0].detach(), params0[0]), cls


def test_step_without_closure_returns_none(candidate):
    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.ones(2)
    assert NATIVE([p]).step() is None
    assert candidate([p]).step() is None


@by_desc(BASE)
def test_zero_gradients(candidate, config):
    params0 = start(torch.float64)
    zeros = [[torch.zeros_like(p) for p in params0] for _ in range(5)]
    make = lambda cls: lambda ps: cls(two_groups(ps), **kwargs_of(config))  # noqa: E731
    assert_same(
        trajectory(make(candidate), params0, zeros), trajectory(make(NATIVE), params0, zeros), "float64", "zero_grads"
    )


def test_repr_is_the_natives(candidate):
    params = [torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(3))]
    for kwargs in ({}, {"lr": torch.tensor(0.01), "momentum": 0.5, "centered": True}):
        printed = [
            repr(cls([{"params": params[:1]}, {"params": params[1:], "lr": 0.5}], **copy.deepcopy(kwargs)))
            for cls in (candidate, NATIVE)
        ]
        assert printed[0] == printed[1]
        assert "Parameter Group 1" in printed[1]


def test_defaults_and_group_keys_are_the_natives(candidate):
    p = torch.nn.Parameter(torch.ones(2))
    ours, native = candidate([p]), NATIVE([p])
    assert ours.defaults == native.defaults
    assert ours.param_groups[0].keys() == native.param_groups[0].keys()


def test_deepcopy(candidate):
    """A deep copy has every public attribute and steps on as the original does, independently."""
    params0 = start(torch.float64)
    grads = gradient_stream(params0, 10)
    public = {}
    for cls in (NATIVE, candidate):
        params = [torch.nn.Parameter(p.clone()) for p in params0]
        optimizer = cls(two_groups(params), momentum=0.5, centered=True)
        for g in grads[:5]:
            feed(optimizer, params, g)
        clone = copy.deepcopy(optimizer)
        public[cls] = sorted(k for k in vars(clone) if not k.startswith("_"))
        assert public[cls] == sorted(k for k in vars(optimizer) if not k.startswith("_"))
        cloned_params = [p for group in clone.param_groups for p in group["params"]]
        assert all(a is not b for a, b in zip(cloned_params, params))
        for g in grads[5:]:
            feed(optimizer, params, g)
            feed(clone, cloned_params, g)
        assert_same([snapshot(clone, cloned_params)], [snapshot(optimizer, params)], "float64", "deepcopy")
    assert public[candidate] == public[NATIVE]


def hook_events(cls, install):
    """The calls each hook saw during two steps, state_dict() and load_state_dict()."""
    events = []
    params = [torch.nn.Parameter(torch.ones(3))]
    optimizer = cls(params, momentum=0.5)
    handles = install(optimizer, events)
    try:
        for _ in range(2):
            params[0].grad = torch.full((3,), 0.5)
            optimizer.step()
        state = optimizer.state_dict()
        optimizer.load_state_dict(state)
        events.append(("state", sorted(state)))
    finally:
        for handle in handles:
            handle.remove()
    return events


def test_step_hooks(candidate):
    def install(optimizer, events):
        def pre(opt, args, kwargs):
            events.append(
                ("pre", opt is optimizer, len(args), kwargs, float(opt.param_groups[0]["params"][0][0].detach()))
            )

        def post(opt, args, kwargs):
            events.append(("post", opt is optimizer, float(opt.param_groups[0]["params"][0][0].detach())))

        return [optimizer.register_step_pre_hook(pre), optimizer.register_step_post_hook(post)]

    ours, native = hook_events(candidate, install), hook_events(NATIVE, install)
    assert [e[0] for e in native].count("pre") == 2
    assert ours == native


def test_global_step_hooks(candidate):
    from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

    def install(optimizer, events):
        return [
            register_optimizer_step_pre_hook(lambda opt, args, kwargs: events.append(("global pre", opt is optimizer))),
            register_optimizer_step_post_hook(
                lambda opt, args, kwargs: events.append(("global post", opt is optimizer))
            ),
            optimizer.register_step_pre_hook(lambda opt, args, kwargs: events.append(("pre",))),
        ]

    ours, native = hook_events(candidate, install), hook_events(NATIVE, install)
    assert native[:3] == [("global pre", True), ("pre",), ("global post", True)]
    assert ours == native


def test_state_dict_hooks(candidate):
    def install(optimizer, events):
        def pre(opt):
            events.append(("sd pre", opt is optimizer))

        def post(opt, state_dict):
            events.append(("sd post", sorted(state_dict)))
            state_dict["extra"] = 1
            return state_dict

        return [optimizer.register_state_dict_pre_hook(pre), optimizer.register_state_dict_post_hook(post)]

    ours, native = hook_events(candidate, install), hook_events(NATIVE, install)
    assert ("state", ["extra", "param_groups", "state"]) in native
    assert ours == native


def test_load_state_dict_hooks(candidate):
    def install(optimizer, events):
        def pre(opt, state_dict):
            events.append(("load pre", sorted(state_dict)))
            state_dict = dict(state_dict)
            state_dict["param_groups"] = [{**g, "lr": 0.125} for g in state_dict["param_groups"]]
            return state_dict

        def pre_first(opt, state_dict):
            events.append(("load pre first",))

        def post(opt):
            events.append(("load post", opt.param_groups[0]["lr"]))

        def post_first(opt):
            events.append(("load post first",))

        return [
            optimizer.register_load_state_dict_pre_hook(pre),
            optimizer.register_load_state_dict_pre_hook(pre_first, prepend=True),
            optimizer.register_load_state_dict_post_hook(post),
            optimizer.register_load_state_dict_post_hook(post_first, prepend=True),
        ]

    ours, native = hook_events(candidate, install), hook_events(NATIVE, install)
    assert ("load post", 0.125) in native
    assert ours == native


def test_zero_grad(candidate):
    for set_to_none in (True, False):
        results = []
        for cls in (NATIVE, candidate):
            p = torch.nn.Parameter(torch.ones(3))
            p.grad = torch.full((3,), 2.0)
            cls([p]).zero_grad(set_to_none=set_to_none)
            results.append(None if p.grad is None else p.grad.clone())
        assert (results[0] is None) == (results[1] is None) == set_to_none
        if not set_to_none:
            assert torch.equal(results[0], results[1])
            assert not results[1].any()


def test_add_param_group(candidate):
    params0 = start(torch.float64)
    grads = gradient_stream(params0)

    records = {}
    for cls in (NATIVE, candidate):
        params = [torch.nn.Parameter(p.clone()) for p in params0]
        optimizer = cls(params[:2], centered=True)
        record = []
        for i, g in enumerate(grads):
            feed(optimizer, params, g)
            if i == 3:
                optimizer.add_param_group({"params": params[2:], "momentum": 0.5, "lr": 0.05})
            record.append(snapshot(optimizer, params))
        assert optimizer.param_groups[1]["centered"] is True
        assert optimizer.param_groups[1]["alpha"] == 0.99
        records[cls] = record
    assert_same(records[candidate], records[NATIVE], "float64", "add_param_group")


SCHEDULERS = {
    "StepLR": lambda opt: lr_scheduler.StepLR(opt, gamma=0.9, step_size=5),
    "ReduceLROnPlateau": lambda opt: lr_scheduler.ReduceLROnPlateau(opt, patience=1),
    "ExponentialLR": lambda opt: lr_scheduler.ExponentialLR(opt, gamma=0.9),
    "MultiStepLR": lambda opt: lr_scheduler.MultiStepLR(opt, milestones=[3, 8], gamma=0.5),
    "CosineAnnealingLR": lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=10),
    "LambdaLR": lambda opt: lr_scheduler.LambdaLR(opt, lambda epoch: 1 / (1 + epoch)),
    "LinearLR": lambda opt: lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=6),
    "PolynomialLR": lambda opt: lr_scheduler.PolynomialLR(opt, total_iters=10, power=2.0),
    "CyclicLR(cycle_momentum)": lambda opt: lr_scheduler.CyclicLR(
        opt, 0.001, 0.02, step_size_up=4, cycle_momentum=True
    ),
    "OneCycleLR(cycle_momentum)": lambda opt: lr_scheduler.OneCycleLR(
        opt, max_lr=0.05, total_steps=STEPS, cycle_momentum=True
    ),
    "SequentialLR": lambda opt: lr_scheduler.SequentialLR(
        opt,
        [lr_scheduler.ConstantLR(opt, factor=0.5, total_iters=3), lr_scheduler.ExponentialLR(opt, 0.9)],
        milestones=[4],
    ),
}


@pytest.mark.parametrize("lr", ["float", "tensor"])
@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_lr_scheduler(candidate, name, lr):
    """Each scheduler, with upstream's scheduler_inputs among them; lr and momentum follow it in both."""
    kwargs = {"lr": 0.01 if lr == "float" else torch.tensor(0.01), "centered": True, "momentum": 0.9}
    lrs = {}

    def record_lr(cls):
        def on_step(optimizer):
            lrs.setdefault(cls, []).append([(float(g["lr"]), g["momentum"]) for g in optimizer.param_groups])

        return on_step

    params0 = start(torch.float64)
    grads = gradient_stream(params0)
    native = trajectory(
        lambda ps: NATIVE(two_groups(ps), **copy.deepcopy(kwargs)), params0, grads, SCHEDULERS[name], record_lr(NATIVE)
    )
    ours = trajectory(
        lambda ps: candidate(two_groups(ps), **copy.deepcopy(kwargs)),
        params0, grads, SCHEDULERS[name], record_lr(candidate),
    )
    assert lrs[candidate] == lrs[NATIVE]
    assert len({x for step in lrs[NATIVE] for x in step}) > 1
    assert_same(ours, native, "float64", f"scheduler[{name}]")


def test_upstream_scheduler_inputs_are_covered():
    """Every scheduler upstream's OptimizerInfo lists for RMSprop is among SCHEDULERS."""
    p = torch.nn.Parameter(torch.ones(1))
    upstream = {type(make(NATIVE([p], momentum=0.5))).__name__ for inputs in INFO.scheduler_inputs for make in inputs}
    assert upstream
    assert upstream <= {name.split("(")[0] for name in SCHEDULERS}


# --------------------------------------------------------------------------------------
# Complex parameters (test_optim's test_complex, test_complex_2d), tensor lr, flags.


def complex_start(dtype):
    """Complex parameters of several shapes and one real one (mixed in one optimizer)."""
    generator = torch.Generator().manual_seed(3)
    shapes = [(4, 3), (5,), ()]
    params = [torch.randn(s, generator=generator, dtype=COMPLEX[dtype]) for s in shapes]
    return [*params, torch.randn(2, 2, generator=generator, dtype=DTYPES[dtype])]


@dtypes
@by_desc(BASE)
def test_complex_matches_native(candidate, config, dtype):
    params0 = complex_start(dtype)
    grads = gradient_stream(params0)
    native = trajectory(lambda ps: NATIVE(two_groups(ps), **kwargs_of(config)), params0, grads)
    ours = trajectory(lambda ps: candidate(two_groups(ps), **kwargs_of(config)), params0, grads)
    assert_same(ours, native, dtype, f"complex[{config.desc}]")


@dtypes
@by_desc(BASE)
def test_complex_equals_its_real_view(candidate, config, dtype):
    """A complex parameter steps as its view_as_real counterpart does (test_complex)."""
    params0 = complex_start(dtype)
    grads = gradient_stream(params0)
    as_real = lambda ts: [torch.view_as_real(t).clone() if t.is_complex() else t.clone() for t in ts]  # noqa: E731
    complex_run = trajectory(lambda ps: candidate(two_groups(ps), **kwargs_of(config)), params0, grads)
    real_run = trajectory(
        lambda ps: candidate(two_groups(ps), **kwargs_of(config)), as_real(params0), [as_real(g) for g in grads]
    )
    viewed = [{k: torch.view_as_real(v) if v.is_complex() else v for k, v in snap.items()} for snap in complex_run]
    assert_same(viewed, real_run, dtype, f"complex_as_real[{config.desc}]")


@dtypes
def test_complex_2d_equals_real_and_imaginary_parts(candidate, dtype):
    """One complex 2-D parameter steps as its real and imaginary parts as two parameters (test_complex_2d)."""
    generator = torch.Generator().manual_seed(5)
    z0 = torch.randn(3, 4, generator=generator, dtype=COMPLEX[dtype])
    z = torch.nn.Parameter(z0.clone())
    parts = [torch.nn.Parameter(z0.real.clone()), torch.nn.Parameter(z0.imag.clone())]
    one = candidate([z], momentum=0.5, weight_decay=0.1, centered=True)
    two = candidate(parts, momentum=0.5, weight_decay=0.1, centered=True)
    for _ in range(STEPS):
        for optimizer in (one, two):
            optimizer.zero_grad()
        (z.abs().square() * torch.arange(12.0, dtype=DTYPES[dtype]).view(3, 4)).sum().backward()
        (torch.complex(*parts).abs().square() * torch.arange(12.0, dtype=DTYPES[dtype]).view(3, 4)).sum().backward()
        one.step()
        two.step()
    assert relative(z.detach().real, parts[0].detach()) <= TOL[dtype]
    assert relative(z.detach().imag, parts[1].detach()) <= TOL[dtype]
    assert not torch.equal(z.detach(), z0)


@dtypes
@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("shape", [(), (1,)], ids=["0-d", "1-element"])
@by_desc(BASE)
def test_tensor_lr(candidate, config, dtype, foreach, shape):
    """lr=torch.tensor(x) (0-d or 1-element) steps as the native with the float lr x (test_tensor_lr)."""
    kwargs = {**kwargs_of(config), "foreach": foreach}
    value = float(kwargs.get("lr", 1e-2))
    params0 = start(DTYPES[dtype])
    grads = gradient_stream(params0)
    native = trajectory(lambda ps: NATIVE(two_groups(ps), **{**kwargs, "lr": value}), params0, grads)
    ours = trajectory(
        lambda ps: candidate(two_groups(ps), **{**kwargs, "lr": torch.full(shape, value, dtype=DTYPES[dtype])}),
        params0, grads,
    )
    assert_same(ours, native, dtype, f"tensor_lr[{config.desc}]")
    tensor_native = trajectory(
        lambda ps: NATIVE(two_groups(ps), **{**kwargs, "lr": torch.full(shape, value, dtype=DTYPES[dtype])}),
        params0, grads,
    )
    assert_same(ours, tensor_native, dtype, f"tensor_lr_vs_tensor_lr[{config.desc}]")


@by_desc(BASE)
def test_goes_right_direction(candidate, config):
    """The objective falls (rises when maximizing its negative) with each config (test_forloop_goes_right_direction)."""
    torch.manual_seed(0)
    target = torch.randn(5, 3)
    for cls in (NATIVE, candidate):
        weight = torch.nn.Parameter(torch.zeros(5, 3))
        optimizer = cls([weight], **kwargs_of(config))
        sign = -1.0 if config.kwargs.get("maximize") else 1.0
        first = float((weight.detach() - target).square().sum())
        for _ in range(30):
            optimizer.zero_grad()
            (sign * (weight - target).square().sum()).backward()
            optimizer.step()
        assert float((weight.detach() - target).square().sum()) < first, cls


@dtypes
def test_numpy_scalars_and_booleans(candidate, dtype):
    """Every argument as a NumPy scalar or boolean, as the native accepts them."""
    kwargs = dict(
        lr=np.float64(0.01), alpha=np.float32(0.875), eps=np.float64(1e-8), weight_decay=np.float64(0.1),
        momentum=np.float32(0.5), centered=np.True_, capturable=np.False_, foreach=np.False_,
        maximize=np.True_,
    )  # (not differentiable=np.False_: the native's step refuses it, torch.set_grad_enabled wants a bool)
    ours, native = run_both(candidate, kwargs, dtype)
    assert_same(ours, native, dtype, "numpy_scalars")


@dtypes
def test_python_ints(candidate, dtype):
    """Integer hyperparameters, as the native accepts them (its own default weight_decay is the int 0)."""
    kwargs = dict(lr=1, alpha=0, eps=1, weight_decay=0, momentum=0)
    ours, native = run_both(candidate, kwargs, dtype)
    assert_same(ours, native, dtype, "python_ints")


def test_mixed_dtypes_in_one_group(candidate):
    params0 = [p.to(dtype) for p, dtype in zip(start(torch.float64), [torch.float32, torch.float64] * 2)]
    grads = gradient_stream(params0)
    make = lambda cls: lambda ps: cls(ps, momentum=0.5, centered=True)  # noqa: E731
    ours, native = trajectory(make(candidate), params0, grads), trajectory(make(NATIVE), params0, grads)
    assert_same(ours, native, "float32", "mixed_dtypes")


def test_sparse_gradient_is_refused(candidate):
    for cls in (NATIVE, candidate):
        p = torch.nn.Parameter(torch.ones(3))
        p.grad = torch.ones(3).to_sparse()
        with pytest.raises(RuntimeError, match="RMSprop does not support sparse gradients"):
            cls([p]).step()


def test_differentiable_is_refused_at_construction(candidate):
    """The native builds with differentiable=True; the candidate refuses it in __init__, naming it and why."""
    p = torch.nn.Parameter(torch.ones(2))
    NATIVE([p], differentiable=True)
    with pytest.raises(ValueError, match=r"differentiable=True.*not supported"):
        candidate([p], differentiable=True)


def test_maximize_is_descent_on_the_negated_gradient(candidate):
    params0 = start(torch.float64)
    grads = gradient_stream(params0)
    negated = [[-g for g in step] for step in grads]
    ascend = trajectory(lambda ps: candidate(two_groups(ps), maximize=True, momentum=0.5), params0, grads)
    descend = trajectory(lambda ps: NATIVE(two_groups(ps), momentum=0.5), params0, negated)
    assert_same(ascend, descend, "float64", "maximize")


def test_same_warnings_as_native(candidate):
    """A default run of either emits the same warnings (none, today)."""
    caught = {}
    for cls in (NATIVE, candidate):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            run = trajectory(
                lambda ps, cls=cls: cls(ps), start(torch.float32), gradient_stream(start(torch.float32), 3)
            )
        caught[cls] = sorted({str(w.message) for w in record})
        assert run
    assert caught[candidate] == caught[NATIVE]


@pytest.mark.parametrize("kwargs", [dict(alpha=1.0), dict(alpha=1.5), dict(momentum=1.0), dict(eps=0.0)], ids=str)
def test_outside_polyprop_ranges_refused_at_construction(candidate, kwargs):
    """The native takes these; the candidate refuses them in __init__ (never inside step), naming the argument."""
    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.ones(2)
    NATIVE([p], **kwargs).step()
    (name,) = kwargs
    with pytest.raises(ValueError, match=f"^{name} must be .* for polyprop's RMSprop"):
        candidate([p], **kwargs)
