"""polyprop.backends.jax.rmsprop against optax.rmsprop, step for step, eagerly and under jax.jit.

Every option optax.rmsprop accepts (eps placement, initial_scale, centered,
momentum, nesterov, bias_correction, schedules), float32 and float64, 120 steps
on a nested pytree of random shapes.  Tolerances (relative to each leaf's largest
magnitude): float64 1e-12; float32 1e-5 — optax divides with lax.rsqrt and
multiplies, polyprop divides by sqrt: each is within an ulp of the exact value,
not always the same ulp (NATIVE_RMSPROP.md, item 3).  Those ulps (6e-8) add up
over 120 steps, more with momentum, whose buffer sums many past steps, and with
bias correction, which divides the early, small accumulators; measured maxima are
printed at the end (up to ~3e-5), hence 1e-4 for float32.
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
    "kwargs,jit",
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


def test_same_signature_and_defaults_as_optax():
    ops = require_backend("jax")
    optax = pytest.importorskip("optax", reason="optax comes with polyprop[jax]")
    import inspect

    native = inspect.signature(optax.rmsprop).parameters
    ours = inspect.signature(ops.rmsprop).parameters
    assert list(ours) == list(native)
    assert all(ours[n].default == native[n].default for n in ours)


def test_bad_hyperparameters_are_refused():
    ops = require_backend("jax")
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\), got 1.2"):
        ops.rmsprop(0.1, decay=1.2)
    with pytest.raises(ValueError, match="nesterov=True needs momentum"):
        ops.rmsprop(0.1, nesterov=True)


def test_zz_report_measured_maxima(capsys):
    if not MEASURED:
        pytest.skip("the matrix did not run in this session")
    with capsys.disabled():
        print(f"\njax drop-in vs optax.rmsprop, max relative difference: {MEASURED}")
