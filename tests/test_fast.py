"""polyprop.fast_step: each backend's fast path follows the plain path's trajectory.

The fast paths (blocked in-place ufuncs, torch.compile, XLA through tf.function and
jax.jit) execute the same ``update_leaf``, MXNet's fused kernels their own formula where
it is polyprop's; here they are run against the plain path on the same backend and
against the NumPy reference, parameters and every state leaf after every step, with the
parity tolerances.
"""

from __future__ import annotations

import numpy as np
import pytest

import polyprop
from conftest import require_backend
from polyprop import expression, parity, rmsprop
from polyprop.parity import TOLERANCES, VARIANTS

STEPS = 40
DTYPES = ("float32", "float64")

# torch.compile costs seconds per config and dtype, so torch gets a covering subset.
FAST_MATRIX = {
    "numpy": tuple(VARIANTS),
    "jax": tuple(VARIANTS),
    "tensorflow": ("plain", "eps_outside_sqrt", "centered", "nesterov_lr_outside", "schedules", "everything"),
    "torch": ("plain", "schedules", "everything"),
}

MXNET_CONFIGS = {
    "mxnet": polyprop.presets.mxnet(learning_rate=0.01, gamma1=0.9),
    "mxnet_wd": polyprop.presets.mxnet(learning_rate=0.01, gamma1=0.95, wd=0.01),
    "mxnet_centered": polyprop.presets.mxnet(learning_rate=0.001, gamma1=0.9, gamma2=0.5, centered=True, wd=0.01),
}


def _fast_vs_plain(backend, config, dtype):
    problem = parity.random_problem(STEPS, dtype)
    fast = parity.trajectory(backend, config, problem, fast=True)
    plain = parity.trajectory(backend, config, problem)
    reference = parity.trajectory("numpy", config, problem)
    return parity.compare(fast, plain), parity.compare(fast, reference)


@pytest.mark.filterwarnings("error:polyprop.fast_step:RuntimeWarning")  # a failed compile fails here
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("backend", "variant"), [(b, v) for b, variants in FAST_MATRIX.items() for v in variants]
)
def test_fast_path_follows_the_plain_trajectory(backend, variant, dtype):
    require_backend(backend)
    config = VARIANTS[variant]
    assert polyprop.fast_path(config, backend) != "plain"
    versus_plain, versus_numpy = _fast_vs_plain(backend, config, dtype)
    assert versus_plain.max_rel <= TOLERANCES[dtype], versus_plain
    assert versus_numpy.max_rel <= TOLERANCES[dtype], versus_numpy
    if backend == "numpy":  # the very same ufuncs, in the same order, block by block
        assert versus_plain.max_abs == 0.0, versus_plain


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(MXNET_CONFIGS))
def test_mxnet_fused_kernels_follow_the_plain_trajectory(name, dtype):
    require_backend("mxnet")
    config = MXNET_CONFIGS[name]
    kernel = "rmspropalex_update" if config.centered else "rmsprop_update"
    assert polyprop.fast_path(config, "mxnet") == f"mx.nd.{kernel} (fused kernel, in place)"
    versus_plain, versus_numpy = _fast_vs_plain("mxnet", config, dtype)
    assert versus_plain.max_rel <= TOLERANCES[dtype], versus_plain
    assert versus_numpy.max_rel <= TOLERANCES[dtype], versus_numpy
    if not config.centered:  # the same operations in the same order as NumPy: the same bits
        assert versus_numpy.max_abs == 0.0, versus_numpy


def test_mxnet_kernel_is_used_and_skipped_exactly_when_it_computes_the_config(monkeypatch):
    require_backend("mxnet")
    from polyprop.backends import mxnet as pmx

    calls = []
    original = pmx.mx.nd.rmsprop_update
    monkeypatch.setattr(pmx.mx.nd, "rmsprop_update", lambda *a, **k: calls.append(k) or original(*a, **k))
    config = MXNET_CONFIGS["mxnet"]
    params = [pmx.from_numpy(np.ones((2, 3), np.float32))]
    grads = [pmx.from_numpy(np.full((2, 3), 0.5, np.float32))]
    state = polyprop.init(params, config)
    params, state = polyprop.fast_step(params, grads, state, config)
    assert len(calls) == 1
    assert calls[0]["gamma1"] == config.decay
    assert calls[0]["lr"] == config.learning_rate
    # a learning rate float32 would round: the plain path, same numbers as polyprop.step
    rounded = config.replace(learning_rate=lambda count: 0.1)
    params16 = [pmx.from_numpy(np.ones(4, np.float16))]
    for cfg, ps in ((rounded, params), (config, params16)):
        polyprop.fast_step(ps, [p * 0.5 for p in ps], polyprop.init(ps, cfg), cfg)
        assert len(calls) == 1
    assert polyprop.fast_path(polyprop.RMSPropConfig(learning_rate=0.01, decay=0.9), "mxnet") == "plain"
    assert polyprop.fast_path(config.replace(centered=True, momentum=0.0), "mxnet") == "plain"


@pytest.mark.parametrize("backend", ["numpy", "torch", "mxnet"])
def test_in_place_backends_update_the_given_buffers_and_never_the_gradients(backend):
    require_backend(backend)
    ops = polyprop.get_ops(backend)
    config = polyprop.presets.mxnet(learning_rate=0.01, gamma1=0.9, gamma2=0.5, centered=True)
    if backend != "mxnet":
        config = config.replace(nesterov=True)
    rng = np.random.default_rng(3)
    start = [rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal(3).astype(np.float32)]
    grad_values = [rng.standard_normal(a.shape).astype(np.float32) for a in start]
    params = [ops.from_numpy(a) for a in start]
    grads = [ops.from_numpy(a) for a in grad_values]
    state = polyprop.init(params, config)
    buffers = [*params, *state.nu, *state.mu, *state.momentum]
    new_params, new_state = polyprop.fast_step(params, grads, state, config)
    assert all(a is b for a, b in zip([*new_params, *new_state.nu, *new_state.mu, *new_state.momentum], buffers))
    assert new_state.count == 1
    expected, _ = polyprop.step([ops.from_numpy(a) for a in start], grads, polyprop.init(params, config), config)
    for got, want in zip(new_params, expected):
        np.testing.assert_allclose(ops.to_numpy(got), ops.to_numpy(want), rtol=1e-6, atol=1e-7)
    assert not np.array_equal(ops.to_numpy(new_params[0]), start[0])
    for grad, value in zip(grads, grad_values):
        np.testing.assert_array_equal(ops.to_numpy(grad), value)


def test_init_gives_every_state_leaf_a_buffer_of_its_own():
    config = polyprop.RMSPropConfig(learning_rate=0.01, centered=True, momentum=0.9)
    state = polyprop.init([np.zeros(3), np.zeros(2)], config)
    leaves = [*state.nu, *state.mu, *state.momentum]
    assert len({id(leaf) for leaf in leaves}) == len(leaves) == 6


def test_fast_step_keeps_steps_checks_and_skips_of_step():
    config = polyprop.RMSPropConfig(learning_rate=0.1, decay=0.9, eps=1e-6, nonfinite="skip")
    params = {"w": np.ones(3), "b": np.full(2, 2.0)}
    state = polyprop.init(params, config)
    params, state = polyprop.fast_step(params, {"w": np.array([np.nan, 1, 1]), "b": np.ones(2)}, state, config)
    assert state.skipped == 1
    assert state.count == 0
    np.testing.assert_array_equal(params["w"], np.ones(3))
    params, state = polyprop.fast_step(params, {"w": None, "b": np.ones(2)}, state, config)
    np.testing.assert_array_equal(params["w"], np.ones(3))  # no gradient: untouched
    # nu = 0.1, x = 2 - 0.1 * 1 / sqrt(0.1 + 1e-6)
    np.testing.assert_allclose(params["b"], 2 - 0.1 / np.sqrt(0.1 + 1e-6), rtol=1e-15)
    np.testing.assert_allclose(state.nu["b"], 0.1, rtol=1e-15)
    with pytest.raises(ValueError, match=r"grads\['b'\]"):
        polyprop.fast_step(params, {"w": np.ones(3), "b": np.ones(3)}, state, config)


def test_numpy_fast_path_falls_back_where_it_cannot_work_in_place():
    config = polyprop.RMSPropConfig(learning_rate=0.01, decay=0.9, eps=1e-3)
    assert polyprop.fast_path(config, "numpy") == "in-place ufuncs, cache-sized blocks"
    assert polyprop.fast_path(config.replace(state_dtype="float32"), "numpy") == "plain"
    params = [np.full(4, 1.5, np.float16)]
    grads = [np.full(4, 0.25, np.float16)]
    fast, fast_state = polyprop.fast_step([p.copy() for p in params], grads, polyprop.init(params, config), config)
    plain, plain_state = polyprop.step(params, grads, polyprop.init(params, config), config)
    assert fast[0].dtype == np.float16
    np.testing.assert_array_equal(fast[0], plain[0])
    np.testing.assert_array_equal(fast_state.nu[0], plain_state.nu[0])


def test_traced_expressions_are_the_documented_formula():
    config = polyprop.presets.torch(lr=0.01, alpha=0.99, eps=1e-8)
    program = expression.trace(
        lambda ops, *leaf: rmsprop.update_leaf(ops, config, *leaf), False, False, False
    )
    assert program.outputs == [
        ("nu", "((decay * nu) + (keep * (g * g)))"),
        ("x", "(x - (lr * (g / (sqrt(nu) + k0))))"),
    ]
    assert program.constants == {"k0": 1e-8}
    assert program.hyper == ("lr", "decay", "keep")
    with pytest.raises(expression.UntraceableError, match="cast to float32"):
        expression.trace(
            lambda ops, *leaf: rmsprop.update_leaf(ops, config.replace(state_dtype="float32"), *leaf),
            False, False, False,
        )


def test_tracer_refuses_an_update_that_reads_an_overwritten_buffer():
    def reads_old_nu(ops, x, g, nu, mu, m, hyper):
        new_nu = ops.add(nu, ops.square(g))
        return rmsprop.Leaf(ops.sub(x, nu), new_nu, None, None)  # x reads the *old* nu

    with pytest.raises(expression.UntraceableError, match=r"x reads the old \['nu'\]"):
        expression.trace(reads_old_nu, False, False, False)


def test_torch_fast_path_compiles_once_for_a_schedule_and_many_shapes():
    require_backend("torch")
    import torch
    from torch._dynamo.utils import counters

    config = polyprop.RMSPropConfig(
        learning_rate=lambda count: 0.01 / (1 + count), decay=0.9, eps=1e-6, momentum=0.5
    )
    params = [torch.nn.Parameter(torch.ones(shape)) for shape in ((3,), (2, 5), (4, 1, 3), ())]
    state = polyprop.init(params, config)
    grads = [torch.full_like(p, 0.5) for p in params]
    params, state = polyprop.fast_step(params, grads, state, config)
    compiled = counters["stats"]["unique_graphs"]
    for _ in range(5):
        params, state = polyprop.fast_step(params, grads, state, config)
    assert compiled >= 1
    assert counters["stats"]["unique_graphs"] == compiled  # no recompilation after the first step
    assert state.count == 6
    assert isinstance(params[0], torch.nn.Parameter)
    reference = [torch.ones(p.shape, dtype=torch.float32) for p in params]
    ref_state = polyprop.init(reference, config)
    for _ in range(6):
        reference, ref_state = polyprop.step(reference, grads, ref_state, config)
    for got, want in zip(params, reference):
        torch.testing.assert_close(got.detach(), want, rtol=1e-6, atol=1e-7)


def test_tensorflow_fast_path_assigns_variables_in_place():
    require_backend("tensorflow")
    import tensorflow as tf

    config = VARIANTS["everything"]
    problem = parity.random_problem(20, "float64")
    variables = [tf.Variable(p) for p in problem.params]
    state = polyprop.init(variables, config)
    tensors = [tf.constant(p) for p in problem.params]
    plain_state = polyprop.init(tensors, config)
    for grads in problem.grads:
        grads = [tf.constant(g) for g in grads]
        new_variables, state = polyprop.fast_step(variables, grads, state, config)
        tensors, plain_state = polyprop.step(tensors, grads, plain_state, config)
        assert all(a is b for a, b in zip(new_variables, variables))
    assert all(isinstance(leaf, tf.Variable) for leaf in [*state.nu, *state.mu, *state.momentum])
    assert state.count == plain_state.count == 20
    for got, want in zip([*variables, *state.nu, *state.momentum], [*tensors, *plain_state.nu, *plain_state.momentum]):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-14)


def test_torch_fast_path_warns_and_takes_the_plain_path_when_compiling_fails(monkeypatch):
    require_backend("torch")
    import torch

    from polyprop import fast

    def failing_compile(function, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler")

        return run

    monkeypatch.setattr(torch, "compile", failing_compile)
    config = polyprop.RMSPropConfig(learning_rate=0.1, decay=0.5, eps=1e-6)
    apply, _ = fast._build(polyprop.get_ops("torch"), config)
    params = [torch.ones(2, dtype=torch.float64)]
    state = polyprop.init(params, config)
    grads = [torch.full((2,), 2.0, dtype=torch.float64)]
    with pytest.warns(RuntimeWarning, match="torch.compile failed .*no C.. compiler.*plain path"):
        new_params, new_state = rmsprop.run_step(params, grads, state, config, polyprop.get_ops("torch"), apply)
    # nu = 0.5 * 4 = 2, x = 1 - 0.1 * 2 / sqrt(2 + 1e-6)
    torch.testing.assert_close(new_params[0], torch.full((2,), 1 - 0.2 / (2 + 1e-6) ** 0.5, dtype=torch.float64))
    torch.testing.assert_close(new_state.nu[0], torch.full((2,), 2.0, dtype=torch.float64))
    again, _ = rmsprop.run_step(new_params, grads, new_state, config, polyprop.get_ops("torch"), apply)
    assert again[0] is not new_params[0]  # still the plain (out-of-place) path, without a new warning


def test_a_repeated_signature_is_checked_once_and_a_changed_one_in_full(monkeypatch):
    from polyprop import validation

    calls = []
    original = validation.check_param
    monkeypatch.setattr(validation, "check_param", lambda *a: calls.append(a[0]) or original(*a))
    config = polyprop.RMSPropConfig(learning_rate=0.1, momentum=0.5)
    params = {"w": np.ones((2, 3)), "b": np.ones(3)}
    state = polyprop.init(params, config)
    grads = {"w": np.ones((2, 3)), "b": np.ones(3)}
    validation._VALIDATED.clear()
    calls.clear()  # (init checks the parameters too)
    for _ in range(3):
        params, state = polyprop.fast_step(params, grads, state, config)
    assert calls == ["params['w']", "params['b']"]  # in full once, then recognised
    for bad, error, message in (
        (
            {"w": np.ones((3, 2)), "b": np.ones(3)},
            ValueError,
            r"grads\['w'\] has shape \(3, 2\) but params\['w'\] has shape \(2, 3\)",
        ),
        ({"w": np.ones((2, 3), np.float32), "b": np.ones(3)}, TypeError, r"grads\['w'\] has dtype float32 but float64"),
        ({"w": [1.0, 2.0], "b": np.ones(3)}, TypeError, r"grads\['w'\] must be a tensor or None, got list"),
    ):
        with pytest.raises(error, match=message):
            polyprop.step(params, bad, state, config)
    params, state = polyprop.step(params, {"w": None, "b": np.ones(3)}, state, config)  # a new signature
    assert calls[-2:] == ["params['w']", "params['b']"]
    assert state.count == 4


def test_lowered_program_computes_each_value_once_and_writes_each_output_in_place():
    config = polyprop.presets.torch(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)
    program = expression.trace(
        lambda ops, *leaf: rmsprop.update_leaf(ops, config, *leaf), True, True, False
    )
    lowered = expression.lower(program)
    leaves = len(expression.LEAVES)
    written = [out for _, _, _, out in lowered.instructions if out < leaves]
    assert [expression.LEAVES[i] for i in written] == ["nu", "mu", "m", "x"]
    # g' = g + wd * x is used by nu, mu and m but computed once
    assert sum(op == "add" and a == expression.LEAVES.index("g") for op, a, _, _ in lowered.instructions) == 1
    assert lowered.scalars == sorted(["decay", "keep", "lr", "k0", "k1", "k2"])
    assert all(out < leaves + len(lowered.scalars) + lowered.temporaries for *_, out in lowered.instructions)


@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_fast_path_splits_large_tensors_between_threads_without_changing_a_bit(dtype):
    from polyprop.backends import numpy as pnp

    config = VARIANTS["everything"]
    rng = np.random.default_rng(11)
    shapes = [(5 * pnp.BLOCK + 123,), (3, 2 * pnp.BLOCK + 7), (17,)]  # split, split, whole
    assert len(pnp.fast._split(shapes[0][0])) == min(2, pnp.THREADS)
    start = [rng.standard_normal(s).astype(dtype) for s in shapes]
    fast, fast_state = [a.copy() for a in start], polyprop.init(start, config)
    plain, plain_state = [a.copy() for a in start], polyprop.init(start, config)
    for _ in range(4):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        fast, fast_state = polyprop.fast_step(fast, grads, fast_state, config)
        plain, plain_state = polyprop.step(plain, grads, plain_state, config)
    for got, want in zip([*fast, *fast_state.nu, *fast_state.mu, *fast_state.momentum],
                         [*plain, *plain_state.nu, *plain_state.mu, *plain_state.momentum]):
        np.testing.assert_array_equal(got, want)


def _forked_child_steps(step) -> int:
    """Fork; the child runs ``step()`` under a 60 s alarm (a hang kills it) and exits 0 if it returns."""
    import os
    import signal
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (JAX warns that forking a multithreaded process may deadlock)
        pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.alarm(60)
            step()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status


def test_a_forked_child_steps_with_threads_of_its_own():
    """The NumPy fast path shares a step's blocks with a thread pool that is the parent's: a forked
    child (multiprocessing's default on Linux) makes its own instead of waiting forever on threads
    it lacks.  (torch itself hangs in a forked child once its OpenMP threads ran: not tested here.)"""
    from polyprop.backends import numpy as pnp

    config = VARIANTS["everything"]
    start = np.random.default_rng(5).standard_normal(5 * pnp.BLOCK + 3)

    def step():
        params = [start.copy()]
        polyprop.fast_step(params, [start.copy()], polyprop.init(params, config), config)

    step()
    if not pnp.fast._pool:
        pytest.skip("one CPU: the step made no thread pool for a child to inherit")
    assert _forked_child_steps(step) == 0


# -- fused forms (torch's in-place default path) computed here with NumPy --------------------------------

_TWO = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}


def _run_fused(fused, values, leaves):
    """The fused steps as expression.FORMS define them, each result a new array in its slot: a slot
    reused while its old value is still read gives a wrong number here."""
    slots = [leaves[name] for name in expression.LEAVES] + [None] * fused.scratch
    for form, out, args, scalars in fused.steps:
        a = [slots[i] for i in args]
        (name, factor), = scalars or ((None, None),)
        s = None if factor is None else factor * (1.0 if name is None else values[name])
        if form in _TWO:
            result = _TWO[form](a[0], a[1])
        elif form.endswith("_s"):
            result = _TWO[form[:-2]](a[0], s)
        elif form == "sqrt":
            result = np.sqrt(a[0])
        elif form == "add_alpha":
            result = a[0] + s * a[1]
        elif form == "addcmul":
            result = a[0] + s * a[1] * a[2]
        elif form == "addcdiv":
            result = a[0] + s * a[1] / a[2]
        else:
            assert form == "lerp", form
            result = a[0] + s * (a[1] - a[0])
        slots[out] = result
    return dict(zip(expression.LEAVES, slots))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_fused_forms_compute_the_update_of_every_variant(variant):
    config = VARIANTS[variant]
    program = expression.trace(
        lambda ops, *leaf: rmsprop.update_leaf(ops, config, *leaf),
        config.centered, config.momentum > 0, config.bias_correction,
    )
    fused = expression.fuse(program)
    assert {form for form, *_ in fused.steps} <= set(expression.FORMS)
    assert all(0 <= out < len(expression.LEAVES) + fused.scratch for _, out, _, _ in fused.steps)
    rng = np.random.default_rng(7)
    ops = polyprop.get_ops("numpy")
    x, g, m = rng.standard_normal((3, 64))
    nu, mu = rng.uniform(0.5, 2.0, 64), rng.uniform(-0.1, 0.1, 64)
    mu = mu if config.centered else None
    m = m if config.momentum > 0 else None
    for count in (0, 5):
        hyper = rmsprop.hyperparameters(config, count)
        expected = rmsprop.update_leaf(ops, config, x, g, nu, mu, m, hyper)
        values = {k: float(v) for k, v in (*program.constants.items(), *hyper._asdict().items()) if v is not None}
        got = _run_fused(fused, values, {"x": x, "g": g, "nu": nu, "mu": mu, "m": m})
        np.testing.assert_allclose(got["x"], expected.x, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(got["nu"], expected.nu, rtol=1e-13, atol=1e-15)
        for name, want in (("mu", expected.mu), ("m", expected.momentum)):
            if want is None:
                assert got[name] is None
            else:
                np.testing.assert_allclose(got[name], want, rtol=1e-13, atol=1e-15)
        assert got["g"] is g  # the gradient's slot is never written


def test_fused_forms_update_the_state_in_its_own_buffer():
    # nu.mul_(decay) then nu.addcmul_(g, g, value=keep), as torch.optim.RMSprop writes it
    config = polyprop.presets.torch(lr=0.01, alpha=0.9)
    program = expression.trace(lambda ops, *leaf: rmsprop.update_leaf(ops, config, *leaf), False, False, False)
    fused = expression.fuse(program)
    nu, g = expression.LEAVES.index("nu"), expression.LEAVES.index("g")
    assert fused.steps[:2] == [("mul_s", nu, (nu,), (("decay", 1.0),)), ("addcmul", nu, (nu, g, g), (("keep", 1.0),))]
    assert fused.scratch == 1


@pytest.mark.parametrize(
    ("update", "message"),
    [
        (lambda ops, x, g, nu, mu, m, h: rmsprop.Leaf(ops.sub(x, g), nu, None, None),
         "nu is not computed by an operation of its own"),
        (lambda ops, x, g, nu, mu, m, h: rmsprop.Leaf(ops.sqrt(h.lr), ops.add(nu, g), None, None),
         "sqrt of a scalar"),
        (lambda ops, x, g, nu, mu, m, h: rmsprop.Leaf(ops.add(ops.add(h.lr, h.decay), x), ops.add(nu, g), None, None),
         "add of two scalars"),
        (lambda ops, x, g, nu, mu, m, h: rmsprop.Leaf(ops.sub(h.lr, x), ops.add(nu, g), None, None),
         "a scalar sub a tensor"),
    ],
)
def test_fuse_refuses_what_has_no_fused_form(update, message):
    program = expression.trace(update, False, False, False)
    with pytest.raises(expression.UntraceableError, match=message):
        expression.fuse(program)


def test_write_back_copies_each_new_leaf_into_its_buffer_and_returns_the_buffers():
    from polyprop.fast import write_back

    buffers = rmsprop.Leaves([np.zeros(2), np.zeros(3)], [np.zeros(2), np.zeros(3)], None, [np.zeros(2), np.zeros(3)])
    values = rmsprop.Leaves([np.full(2, 1.0), np.full(3, 2.0)], [np.full(2, 3.0), np.full(3, 4.0)], None,
                            [np.full(2, 5.0), np.full(3, 6.0)])
    copied = []

    def copy(target, new):
        copied.append(new[0])
        np.copyto(target, new)

    assert write_back(buffers, values, copy) is buffers
    assert copied == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    for targets, news in zip(buffers, values):
        for target, new in zip(targets or (), news or ()):
            np.testing.assert_array_equal(target, new)


# torch.optim.RMSprop's own lines (_single_tensor_rmsprop), which the drop-in's default path must run:
#   grad = grad.add(param, alpha=weight_decay)             (weight_decay)
#   grad = -grad                                           (maximize)
#   square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
#   grad_avg.lerp_(grad, 1 - alpha)                        (centered)
#   avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()  (centered; else square_avg.sqrt())
#   avg = avg.add_(eps)
#   buf.mul_(momentum).addcdiv_(grad, avg); param.add_(buf, alpha=-lr)   (momentum; else:)
#   param.addcdiv_(grad, avg, value=-lr)
_NU = [("mul_s", "nu", ("nu",), (("decay", 1.0),)), ("addcmul", "nu", ("nu", "g", "g"), (("keep", 1.0),))]
TORCH_FUSED = {
    "plain": ({}, [
        *_NU,
        ("sqrt", "tmp0", ("nu",), ()),
        ("add_s", "tmp0", ("tmp0",), (("k0", 1.0),)),
        ("addcdiv", "x", ("x", "g", "tmp0"), (("lr", -1.0),)),
    ]),
    "centered": ({"centered": True}, [
        *_NU,
        ("lerp", "mu", ("mu", "g"), (("keep", 1.0),)),
        ("addcmul", "tmp0", ("nu", "mu", "mu"), ((None, -1.0),)),
        ("sqrt", "tmp0", ("tmp0",), ()),
        ("add_s", "tmp0", ("tmp0",), (("k0", 1.0),)),
        ("addcdiv", "x", ("x", "g", "tmp0"), (("lr", -1.0),)),
    ]),
    "momentum": ({"momentum": 0.5}, [
        *_NU,
        ("mul_s", "m", ("m",), (("k1", 1.0),)),
        ("sqrt", "tmp0", ("nu",), ()),
        ("add_s", "tmp0", ("tmp0",), (("k0", 1.0),)),
        ("addcdiv", "m", ("m", "g", "tmp0"), ((None, 1.0),)),
        ("add_alpha", "x", ("x", "m"), (("lr", -1.0),)),
    ]),
    "maximize": ({"maximize": True}, [
        _NU[0],
        ("mul_s", "tmp0", ("g",), (("k0", 1.0),)),
        ("addcmul", "nu", ("nu", "tmp0", "tmp0"), (("keep", 1.0),)),
        ("sqrt", "tmp1", ("nu",), ()),
        ("add_s", "tmp1", ("tmp1",), (("k1", 1.0),)),
        ("addcdiv", "x", ("x", "tmp0", "tmp1"), (("lr", -1.0),)),
    ]),
    "everything": ({"centered": True, "momentum": 0.5, "weight_decay": 0.1}, [
        _NU[0],
        ("add_alpha", "tmp0", ("g", "x"), (("k0", 1.0),)),
        ("addcmul", "nu", ("nu", "tmp0", "tmp0"), (("keep", 1.0),)),
        ("lerp", "mu", ("mu", "tmp0"), (("keep", 1.0),)),
        ("mul_s", "m", ("m",), (("k2", 1.0),)),
        ("addcmul", "tmp1", ("nu", "mu", "mu"), ((None, -1.0),)),
        ("sqrt", "tmp1", ("tmp1",), ()),
        ("add_s", "tmp1", ("tmp1",), (("k1", 1.0),)),
        ("addcdiv", "m", ("m", "tmp0", "tmp1"), ((None, 1.0),)),
        ("add_alpha", "x", ("x", "m"), (("lr", -1.0),)),
    ]),
}


@pytest.mark.parametrize("case", sorted(TORCH_FUSED))
def test_fused_forms_of_the_torch_preset_are_torch_optim_rmsprops_own_ops(case):
    flags, expected = TORCH_FUSED[case]
    config = polyprop.presets.torch(lr=0.01, alpha=0.9, **flags)
    program = expression.trace(
        lambda ops, *leaf: rmsprop.update_leaf(ops, config, *leaf),
        config.centered, config.momentum > 0, config.bias_correction,
    )
    fused = expression.fuse(program)

    def slot(i):
        return expression.LEAVES[i] if i < len(expression.LEAVES) else f"tmp{i - len(expression.LEAVES)}"

    steps = [(form, slot(out), tuple(slot(a) for a in args), scalars) for form, out, args, scalars in fused.steps]
    assert steps == expected
    assert fused.scratch == 1 + max(int(s[3:]) for step in expected for s in (step[1], *step[2]) if s.startswith("tmp"))
