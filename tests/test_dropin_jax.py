"""polyprop.backends.jax.rmsprop against optax.rmsprop, step for step, eagerly and under jax.jit.

Every option optax.rmsprop accepts (eps placement, initial_scale, centered,
momentum, nesterov, bias_correction, schedules), float32 and float64, 120 steps
on a nested pytree of random shapes.  Tolerances (relative to each leaf's largest
magnitude): float64 1e-12; float32 1e-6 — optax divides with lax.rsqrt and
multiplies, polyprop divides by sqrt: each is within an ulp of the exact value,
not always the same ulp (NATIVE_RMSPROP.md, item 3).  Those ulps (6e-8) add up
over 120 steps, more with momentum, whose buffer sums many past steps, and with
bias correction, which divides the early, small accumulators; measured maxima are
printed at the end.

Also: complex parameters (optax's |g|^2), scale_by_rms and scale_by_stddev,
hyperparameters as NumPy scalars, NumPy bools and 0-d arrays, traced ones under
optax.inject_hyperparams, and update's **extra_args.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from conftest import require_backend

STEPS = 120
MEASURED: dict[str, float] = {}


def tolerance(dtype, centered):
    return {"float64": 1e-12, "float32": 1e-6}[dtype]


OPTIONS = [
    dict(eps_in_sqrt=e, centered=c, momentum=m, nesterov=n, bias_correction=b, initial_scale=s)
    for e, c, (m, n), b, s in itertools.product(
        [True, False], [False, True], [(None, False), (0.9, False), (0.9, True)], [False, True], [0.0, 1.0]
    )
    if not (c and b and s == 0.0)  # var = g^2 - g^2 = 0 at step 1: rounding noise decides
]


def tree(rng, dtype):
    return {
        "dense": {"w": rng.standard_normal((3, 4)).astype(dtype), "b": rng.standard_normal(4).astype(dtype)},
        "scalars": (np.asarray(rng.standard_normal(), dtype=dtype), rng.standard_normal((2, 1, 2)).astype(dtype)),
    }


def run(optax, jax, opt, params, grads, jit):
    update = jax.jit(opt.update) if jit else opt.update
    state = opt.init(params)
    out = []
    for g in grads:
        updates, state = update(g, state, params)
        params = optax.apply_updates(params, updates)
        out.append(jax.tree_util.tree_leaves(params))
    return out, state


EAGER = [OPTIONS[0], OPTIONS[-1]]
"""Eager mode is slow (one dispatch per op): two option sets run eagerly, all under jit."""


@pytest.mark.parametrize(
    ("kwargs", "jit"),
    [(k, True) for k in OPTIONS] + [(k, False) for k in EAGER],
    ids=["-".join(f"{n}={v}" for n, v in k.items()) + ("-jit" if j else "-eager") for k, j in
         [(k, True) for k in OPTIONS] + [(k, False) for k in EAGER]],
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_matches_optax_step_for_step(kwargs, dtype, jit):
    ops = require_backend("jax")
    optax = pytest.importorskip("optax", reason="optax comes with polyprop[jax]")
    import jax

    rng = np.random.default_rng(OPTIONS.index(kwargs))
    params = jax.tree_util.tree_map(jax.numpy.asarray, tree(rng, dtype))
    grads = [jax.tree_util.tree_map(jax.numpy.asarray, tree(rng, dtype)) for _ in range(STEPS)]
    schedule = optax.cosine_decay_schedule(0.01, STEPS) if kwargs["momentum"] else 0.01
    native, _ = run(optax, jax, optax.rmsprop(schedule, **kwargs), params, grads, jit)
    ours, state = run(optax, jax, ops.rmsprop(schedule, **kwargs), params, grads, jit)
    worst = 0.0
    for leaf in range(len(native[0])):  # each leaf's error over the run / its largest magnitude
        a = np.stack([np.asarray(step[leaf]) for step in ours])
        b = np.stack([np.asarray(step[leaf]) for step in native])
        assert a.dtype == b.dtype == np.dtype(dtype)
        worst = max(worst, float(np.max(np.abs(a - b))) / float(np.max(np.abs(b))))
    key = f"{dtype}{' centered' if kwargs['centered'] else ''}"
    MEASURED[key] = max(MEASURED.get(key, 0.0), worst)
    assert worst <= tolerance(dtype, kwargs["centered"]), (worst, key)
    assert int(state.count) == STEPS
    assert jax.tree_util.tree_structure(state.nu) == jax.tree_util.tree_structure(params)


def test_works_in_an_optax_chain_and_on_a_real_loss():
    ops = require_backend("jax")
    optax = pytest.importorskip("optax", reason="optax comes with polyprop[jax]")
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(np.random.default_rng(0).standard_normal((64, 3)))
    y = x @ jnp.asarray([1.0, -2.0, 0.5]) + 0.3

    def loss(p):
        return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)

    opt = optax.chain(optax.clip_by_global_norm(1.0), ops.rmsprop(0.05, momentum=0.5))
    params = {"w": jnp.zeros(3), "b": jnp.zeros(())}
    state = opt.init(params)

    @jax.jit
    def train_step(params, state):
        grads = jax.grad(loss)(params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    first = float(loss(params))
    for _ in range(300):
        params, state = train_step(params, state)
    assert float(loss(params)) < 1e-3 * first
    np.testing.assert_allclose(params["w"], [1.0, -2.0, 0.5], atol=0.05)


@pytest.mark.parametrize("name", ["rmsprop", "scale_by_rms", "scale_by_stddev"])
def test_same_signature_and_defaults_as_optax(name):
    ops = require_backend("jax")
    optax = pytest.importorskip("optax", reason="optax comes with polyprop[jax]")
    import inspect

    native = inspect.signature(getattr(optax, name)).parameters
    ours = inspect.signature(getattr(ops, name)).parameters
    assert list(ours) == list(native)
    assert all(ours[n].default == native[n].default for n in ours)


def test_bad_hyperparameters_are_refused():
    ops = require_backend("jax")
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\), got 1.2"):
        ops.rmsprop(0.1, decay=1.2)
    with pytest.raises(ValueError, match="nesterov=True needs momentum"):
        ops.rmsprop(0.1, nesterov=True)


def complex_tree(rng, dtype):
    def draw(*shape):
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)

    return {"w": draw(3, 4), "b": draw(4), "s": np.asarray(draw(1)[0])}


COMPLEX_OPTIONS = [
    dict(eps_in_sqrt=e, centered=c, momentum=m, nesterov=n, bias_correction=b, initial_scale=s)
    for e, c, (m, n), b, s in itertools.product(
        [True, False], [False, True], [(None, False), (0.9, True)], [False, True], [0.0, 1.0]
    )
    if not (c and b and s == 0.0)
]


@pytest.mark.parametrize("kwargs", COMPLEX_OPTIONS, ids=lambda k: "-".join(f"{n}={v}" for n, v in k.items()))
@pytest.mark.parametrize("dtype", ["complex128", "complex64"])
def test_complex_parameters_match_optax(kwargs, dtype):
    """nu accumulates |g|^2 = (conj(g) g).real and keeps the parameters' complex dtype, as in optax."""
    ops = require_backend("jax")
    optax = pytest.importorskip("optax", reason="optax comes with polyprop[jax]")
    import jax

    rng = np.random.default_rng(COMPLEX_OPTIONS.index(kwargs))
    params = jax.tree_util.tree_map(jax.numpy.asarray, complex_tree(rng, dtype))
    grads = [jax.tree_util.tree_map(jax.numpy.asarray, complex_tree(rng, dtype)) for _ in range(60)]
    native, native_state = run(optax, jax, optax.rmsprop(0.01, **kwargs), params, grads, jit=True)
    ours, state = run(optax, jax, ops.rmsprop(0.01, **kwargs), params, grads, jit=True)
    worst = 0.0
    for leaf in range(len(native[0])):
        a = np.stack([np.asarray(step[leaf]) for step in ours])
        b = np.stack([np.asarray(step[leaf]) for step in native])
        assert a.dtype == b.dtype == np.dtype(dtype)
        worst = max(worst, float(np.max(np.abs(a - b))) / float(np.max(np.abs(b))))
    MEASURED[dtype] = max(MEASURED.get(dtype, 0.0), worst)
    assert worst <= {"complex128": 1e-12, "complex64": 1e-6}[dtype], worst
    native_nu = native_state[0].nu
    assert jax.tree_util.tree_map(lambda t: t.dtype, state.nu) == jax.tree_util.tree_map(lambda t: t.dtype, native_nu)
    for ours_nu, their_nu in zip(jax.tree_util.tree_leaves(state.nu), jax.tree_util.tree_leaves(native_nu)):
        np.testing.assert_array_equal(np.imag(ours_nu), 0.0)  # |g|^2 is real: no imaginary part creeps in
        np.testing.assert_allclose(ours_nu, their_nu, rtol={"complex128": 1e-12, "complex64": 1e-5}[dtype])


def test_complex_parameters_are_refused_on_other_backends():
    import polyprop

    config = polyprop.RMSPropConfig()
    with pytest.raises(TypeError, match=r"params\[0\] has dtype complex128: complex parameters are supported on the "
                                        r"jax backend only.*the numpy backend needs floating-point"):
        polyprop.init([np.ones(2, dtype=complex)], config, "numpy")



def test_complex_parameters_take_no_real_state_dtype():
    require_backend("jax")
    import jax.numpy as jnp

    import polyprop

    config = polyprop.RMSPropConfig(state_dtype="float32")
    with pytest.raises(TypeError, match="casting complex64 to float32 would drop the imaginary part"):
        polyprop.init([jnp.ones(2, jnp.complex64)], config, "jax")


@pytest.mark.parametrize("name", ["scale_by_rms", "scale_by_stddev"])
@pytest.mark.parametrize(
    "kwargs",
    # (centered + bias_correction from initial_scale 0: step 1's variance is g^2 - g^2, rounding noise)
    [
        {},
        dict(eps_in_sqrt=False, bias_correction=True, decay=0.999, initial_scale=0.5),
        dict(initial_scale=1.0, eps=1e-3),
    ],
    ids=["defaults", "torch-eps-bias-corrected", "tf1-start"],
)
@pytest.mark.parametrize("jit", [True, False], ids=["jit", "eager"])
def test_scale_by_rms_and_stddev_match_optax(name, kwargs, jit):
    ops = require_backend("jax")
    optax = pytest.importorskip("optax", reason="optax comes with polyprop[jax]")
    import jax

    rng = np.random.default_rng(7)
    params = jax.tree_util.tree_map(jax.numpy.asarray, tree(rng, "float64"))
    grads = [jax.tree_util.tree_map(jax.numpy.asarray, tree(rng, "float64")) for _ in range(30)]
    native, _ = run(optax, jax, getattr(optax, name)(**kwargs), params, grads, jit)
    ours, _ = run(optax, jax, getattr(ops, name)(**kwargs), params, grads, jit)
    for a, b in zip(ours, native):
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)
    assert type(getattr(ops, name)()) is type(getattr(optax, name)())


def test_update_takes_extra_args_and_is_the_type_optax_returns():
    ops = require_backend("jax")
    optax = pytest.importorskip("optax", reason="optax comes with polyprop[jax]")
    import jax.numpy as jnp

    opt = ops.rmsprop(0.1, momentum=0.5)
    assert type(opt) is type(optax.rmsprop(0.1, momentum=0.5)) is optax.GradientTransformationExtraArgs
    params = {"w": jnp.ones(3)}
    state = opt.init(params)
    with_extra, _ = opt.update({"w": jnp.full(3, 0.5)}, state, params, value=jnp.asarray(1.0), other="ignored")
    without, _ = opt.update({"w": jnp.full(3, 0.5)}, state)
    np.testing.assert_array_equal(with_extra["w"], without["w"])
    assert float(with_extra["w"][0]) != 0.0


NUMPY_HYPERPARAMETERS = [
    dict(decay=np.float32(0.8), eps=np.float64(1e-6), momentum=np.float32(0.9), nesterov=np.True_),
    dict(decay=np.array(0.8), initial_scale=np.array(1.0), centered=np.True_, eps_in_sqrt=np.False_),
    dict(momentum=np.float16(0.5), bias_correction=np.True_, nesterov=np.False_),
]


@pytest.mark.parametrize("kwargs", NUMPY_HYPERPARAMETERS, ids=["np-scalars", "0-d-arrays", "float16-bools"])
def test_numpy_scalars_bools_and_0d_arrays_work_as_in_optax(kwargs):
    ops = require_backend("jax")
    optax = pytest.importorskip("optax", reason="optax comes with polyprop[jax]")
    import jax

    rng = np.random.default_rng(3)
    params = jax.tree_util.tree_map(jax.numpy.asarray, tree(rng, "float64"))
    grads = [jax.tree_util.tree_map(jax.numpy.asarray, tree(rng, "float64")) for _ in range(20)]
    native, _ = run(optax, jax, optax.rmsprop(np.float32(0.01), **kwargs), params, grads, jit=True)
    ours, _ = run(optax, jax, ops.rmsprop(np.float32(0.01), **kwargs), params, grads, jit=True)
    for a, b in zip(ours, native):
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(learning_rate=0.01),
        dict(learning_rate=0.01, decay=0.8, eps=1e-6, momentum=0.9, nesterov=True, initial_scale=0.5),
        dict(learning_rate=0.01, centered=True, momentum=0.0, bias_correction=True, initial_scale=1.0),
    ],
    ids=["lr", "all-numeric-injected", "centered-zero-momentum"],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inject_hyperparams_matches_optax_under_jit(kwargs, dtype):
    """Every numeric hyperparameter arrives traced (inject_hyperparams under jax.jit) and is used as it is."""
    ops = require_backend("jax")
    optax = pytest.importorskip("optax", reason="optax comes with polyprop[jax]")
    import jax

    rng = np.random.default_rng(5)
    params = jax.tree_util.tree_map(jax.numpy.asarray, tree(rng, dtype))
    grads = [jax.tree_util.tree_map(jax.numpy.asarray, tree(rng, dtype)) for _ in range(30)]
    results = []
    for factory in (optax.rmsprop, ops.rmsprop):
        opt = optax.inject_hyperparams(factory)(**kwargs)
        state, update, x, trajectory = jax.jit(opt.init)(params), jax.jit(opt.update), params, []
        for i, g in enumerate(grads):
            if i == 15:  # change injected values mid-run, as inject_hyperparams allows
                state.hyperparams["learning_rate"] = state.hyperparams["learning_rate"] * 0.5
                state.hyperparams["decay"] = state.hyperparams["decay"] * 0.99
            updates, state = update(g, state, x)
            x = optax.apply_updates(x, updates)
            trajectory.append(jax.tree_util.tree_leaves(x))
        results.append(trajectory)
    for a, b in zip(*results):
        for x, y in zip(a, b):
            # the same float32/float64 array arithmetic on both sides: equal up to rsqrt-vs-sqrt ulps
            np.testing.assert_allclose(y, x, rtol={"float32": 1e-5, "float64": 1e-12}[dtype], atol=1e-7)


def test_concrete_hyperparameters_are_checked_and_traced_ones_are_not():
    ops = require_backend("jax")
    optax = pytest.importorskip("optax", reason="optax comes with polyprop[jax]")
    import jax
    import jax.numpy as jnp

    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\), got np.float32\(1.5\)"):
        ops.rmsprop(0.1, decay=np.float32(1.5))
    with pytest.raises(ValueError, match=r"learning_rate must be in \[0, inf\), got Array\(-1"):
        ops.rmsprop(jnp.asarray(-1.0))
    with pytest.raises(TypeError, match=r"eps must be a real number in \(0, inf\) \(a number or a 0-d array\)"):
        ops.rmsprop(0.1, eps=np.array([1e-8, 1e-8]))
    with pytest.raises(TypeError, match="momentum must be a real number"):
        ops.rmsprop(0.1, momentum=np.True_)
    with pytest.raises(TypeError, match="centered must be True or False"):
        ops.rmsprop(0.1, centered="yes")
    # inject_hyperparams called eagerly: concrete arrays, checked at init
    with pytest.raises(ValueError, match="decay must be in"):
        optax.inject_hyperparams(ops.rmsprop)(learning_rate=0.1, decay=1.5).init(jnp.zeros(2))

    @jax.jit
    def traced(decay):  # a traced decay has no value yet: used as it is, like optax does
        opt = ops.rmsprop(0.1, decay=decay, momentum=decay)
        return opt.update(jnp.ones(2), opt.init(jnp.zeros(2)))[0]

    np.testing.assert_allclose(traced(0.5), jax.jit(lambda d: optax.rmsprop(0.1, decay=d, momentum=d).update(
        jnp.ones(2), optax.rmsprop(0.1, decay=d, momentum=d).init(jnp.zeros(2)))[0])(0.5), rtol=1e-6)


def test_an_eager_schedule_that_needs_a_concrete_count_still_works():
    """Eager updates run compiled; a schedule with Python control flow on the count falls back to op by op."""
    ops = require_backend("jax")
    optax = pytest.importorskip("optax", reason="optax comes with polyprop[jax]")
    import jax.numpy as jnp

    def schedule(count):
        return 0.1 if int(count) < 2 else 0.01

    params = jnp.asarray([1.0, -2.0])
    results = []
    for factory in (optax.rmsprop, ops.rmsprop):
        opt, x = factory(schedule, momentum=0.5), params
        state = opt.init(x)
        for _ in range(4):
            updates, state = opt.update(jnp.asarray([0.3, -0.7]), state)
            x = optax.apply_updates(x, updates)
        results.append(np.asarray(x))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-12)


def test_zz_report_measured_maxima(capsys):
    if not MEASURED:
        pytest.skip("the matrix did not run in this session")
    with capsys.disabled():
        print(f"\njax drop-in vs optax.rmsprop, max relative difference: {MEASURED}")


@pytest.mark.parametrize("nonfinite", ["raise", "skip"])
def test_a_nan_in_the_imaginary_part_is_caught(nonfinite):
    """nonfinite='raise'/'skip' read complex gradients whole, not only their real part."""
    require_backend("jax")
    import jax.numpy as jnp

    import polyprop

    config = polyprop.RMSPropConfig(learning_rate=0.1, nonfinite=nonfinite)
    params = [jnp.array([1.0 + 0j, 2.0 + 0j], dtype=jnp.complex128)]
    grads = [jnp.array([1.0 + 0j, complex(1.0, float("nan"))], dtype=jnp.complex128)]
    state = polyprop.init(params, config)
    if nonfinite == "raise":
        with pytest.raises(FloatingPointError, match=r"grads\[0\]"):
            polyprop.step(params, grads, state, config)
    else:
        new_params, new_state = polyprop.step(params, grads, state, config)
        assert new_state.skipped == 1
        assert new_params is params
