"""polyprop.backends.keras.RMSprop against keras.optimizers.RMSprop on the Keras backends tensorflow, jax, torch.

Keras fixes its backend at import, so each backend runs in one subprocess: this
file run as a script (``python tests/test_dropin_keras.py OUT``) with
``KERAS_BACKEND`` set measures everything and writes the figures as JSON; the
tests below assert on them.  Measured per backend:

- step for step, native vs drop-in, float32 and float64 (JAX with
  ``JAX_ENABLE_X64=1``), 60 steps of ``apply_gradients`` (inside a ``tf.function`` on
  TensorFlow, as ``model.fit`` runs it) on random shapes and random configs, among
  them centered + momentum + weight decay, every clipping option, a schedule and
  numpy-scalar hyperparameters.  Keras's base class does clipping, weight decay and
  the schedule for both; only the RMSProp update is polyprop's (in Keras's order,
  ``(lr*g)/sqrt(v+eps)``: the preset's ``lr_before_divide``).
  On tensorflow and jax the drop-in is bit-identical to the native; torch's native
  is a ``torch._foreach`` path (fused multiply-adds, another order), an ulp or so a
  step apart.  Tolerance everywhere: each variable's largest difference over the run
  over its largest magnitude, float32 1e-6, float64 1e-12;
- ``model.fit`` 2 epochs, ``model.save("m.keras")``, ``keras.models.load_model``
  (no ``custom_objects``), ``fit`` 2 more: weights, slots and ``iterations``
  exactly those of 4 uninterrupted epochs; and the drop-in's ``fit`` against the
  native's;
- ``get_config``/``from_config`` and ``serialize``/``deserialize`` round trips, and
  ``save_optimizer``/``load_optimizer`` (a polyprop checkpoint) from the native into the drop-in;
- a fresh process that imports only keras and polyprop cannot load the file
  (``Could not locate class 'RMSprop'``) until it imports ``polyprop.backends.keras``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import pytest

KERAS_BACKENDS = ("tensorflow", "jax", "torch")
DTYPES = ("float32", "float64")
TOLERANCE = {"float32": 1e-6, "float64": 1e-12}
STEPS = 60
SHAPES = [(), (5,), (3, 4), (2, 2, 3)]
BIT_IDENTICAL = ("tensorflow", "jax")
"""Backends whose native runs Keras's ``keras.ops`` order.

polyprop's Keras preset follows that order (``lr_before_divide``).
"""
ROOT = pathlib.Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------
# The worker: runs in a subprocess with KERAS_BACKEND set.


def configs() -> list[dict]:
    """Random hyperparameters (seeded); every momentum x centered pair, each extra once or more."""
    rng = np.random.default_rng(11)
    extras = [
        {"weight_decay": 0.01},
        {"clipnorm": 1.0},
        {"clipvalue": 0.5},
        {"global_clipnorm": 1.0, "weight_decay": 0.004},
        {"schedule": True},
        {"numpy_scalars": True, "weight_decay": 0.002},
        {},
        {"weight_decay": 0.02, "clipnorm": 2.0},
    ]
    out = []
    for i, extra in enumerate(extras):
        centered = i % 4 in (0, 3) if i < 4 else bool(rng.integers(2))
        momentum = float(rng.uniform(0.1, 0.95)) if i % 2 == 0 or (i >= 4 and rng.integers(2)) else 0.0
        out.append(
            dict(
                learning_rate=float(10 ** rng.uniform(-3, -1)),
                rho=float(rng.uniform(0.5, 0.99)),
                momentum=momentum,
                epsilon=1e-7 if i % 3 == 0 else float(10 ** rng.uniform(-7, -3)),
                centered=centered,
                **extra,
            )
        )
    return out


def make(cls, keras, kwargs):
    kwargs = dict(kwargs)
    if kwargs.pop("schedule", False):
        kwargs["learning_rate"] = keras.optimizers.schedules.ExponentialDecay(
            kwargs["learning_rate"], decay_steps=10, decay_rate=0.8
        )
    if kwargs.pop("numpy_scalars", False):  # what Keras accepts: not a float32 learning rate
        kwargs = {
            k: np.bool_(v) if isinstance(v, bool) else np.float64(v) if k == "learning_rate" else np.float32(v)
            for k, v in kwargs.items()
        }
    return cls(**kwargs)


def trajectory(keras, opt, start, grads):
    variables = [keras.Variable(p) for p in start]

    def apply(gs):
        opt.apply_gradients(zip(gs, variables))

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        apply = tf.function(apply)
    out = []
    for gs in grads:
        apply([keras.ops.convert_to_tensor(g) for g in gs])
        out.append([keras.ops.convert_to_numpy(v).copy() for v in variables])
    return out, [slot_kind(v) for v in opt.variables]


def slot_kind(variable) -> str:
    """``velocity``, ``momentum``, ``average_gradient``, ``iterations`` or ``learning_rate``."""
    name = variable.path.split("/")[-1]
    return next((k for k in ("velocity", "momentum", "average_gradient") if name.endswith(k)), name)


def matrix(keras, dropin, dtype):
    """Per config: the largest relative difference and the share of bit-identical values."""
    rows = []
    for k, kwargs in enumerate(configs()):
        rng = np.random.default_rng(100 + k)
        start = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(STEPS)]
        (native, native_slots), (ours, our_slots) = (
            trajectory(keras, make(cls, keras, kwargs), start, grads)
            for cls in (keras.optimizers.RMSprop, dropin.RMSprop)
        )
        worst, same, total = 0.0, 0, 0
        for i in range(len(SHAPES)):
            a, b = np.stack([s[i] for s in native]), np.stack([s[i] for s in ours])
            assert a.dtype == b.dtype == dtype, (a.dtype, b.dtype)
            worst = max(worst, float(np.max(np.abs(a - b)) / np.max(np.abs(a))))
            same, total = same + int(np.sum(a == b)), total + a.size
        moved = float(np.max(np.abs(np.stack([s[0] for s in ours]) - start[0])))
        rows.append(
            {"config": {k: v for k, v in kwargs.items()}, "worst": worst, "identical": same / total,
             "moved": moved, "slots_match": native_slots == our_slots, "slots": our_slots}
        )
    return rows


def model(keras, optimizer):
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
    net.compile(optimizer=optimizer, loss="mse")
    return net


def optimizer_state(opt):
    """The optimizer's variables in order, as (kind, values): layer names differ between models, the order does not."""
    import keras

    return [(slot_kind(v), keras.ops.convert_to_numpy(v).tolist()) for v in opt.variables]


def fit_save_load(keras, dropin, folder):
    x = np.random.default_rng(0).standard_normal((64, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], "float32") + 0.1

    def hyper():
        lr = keras.optimizers.schedules.ExponentialDecay(0.02, decay_steps=5, decay_rate=0.9)
        return dict(learning_rate=lr, momentum=0.5, centered=True, weight_decay=0.001, clipnorm=1.0)

    fit = dict(batch_size=16, verbose=0, shuffle=False)
    whole = model(keras, dropin.RMSprop(**hyper()))
    losses = whole.fit(x, y, epochs=4, **fit).history["loss"]
    native = model(keras, keras.optimizers.RMSprop(**hyper()))
    native_losses = native.fit(x, y, epochs=4, **fit).history["loss"]

    first = model(keras, dropin.RMSprop(**hyper()))
    first.fit(x, y, epochs=2, **fit)
    path = os.path.join(folder, "m.keras")
    first.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects: registered as "polyprop>RMSprop"
    loaded.fit(x, y, epochs=2, **fit)

    ours, theirs = optimizer_state(whole.optimizer), optimizer_state(loaded.optimizer)
    weight_diff = max(float(np.max(np.abs(a - b))) for a, b in zip(whole.get_weights(), loaded.get_weights()))
    native_diff = max(
        float(np.max(np.abs(a - b)) / np.max(np.abs(b))) for a, b in zip(whole.get_weights(), native.get_weights())
    )
    return {
        "loaded_class": f"{type(loaded.optimizer).__module__}.{type(loaded.optimizer).__qualname__}",
        "same_config": loaded.optimizer.get_config() == first.optimizer.get_config(),
        "iterations": [int(keras.ops.convert_to_numpy(o.iterations)) for o in (whole.optimizer, loaded.optimizer)],
        "slot_names": [k for k, _ in theirs] == [k for k, _ in ours],
        "slots_equal": len(ours) == len(theirs) and all(np.array_equal(a, b) for (_, a), (_, b) in zip(ours, theirs)),
        "slot_kinds": sorted({k for k, _ in ours}),
        "weights_max_diff": weight_diff,
        "losses": losses,
        "native_losses": native_losses,
        "native_weights_rel_diff": native_diff,
        "file": path,
    }


def config_round_trip(keras, dropin):
    opt = dropin.RMSprop(
        learning_rate=0.02, rho=np.float32(0.8), momentum=np.float64(0.5), epsilon=1e-6, centered=True,
        weight_decay=0.01, clipnorm=1.0, name="mine",
    )
    config = opt.get_config()
    clone = dropin.RMSprop.from_config(config)
    serialized = keras.optimizers.serialize(opt)
    revived = keras.optimizers.deserialize(json.loads(json.dumps(serialized)))
    return {
        "from_config_class": type(clone) is dropin.RMSprop,
        "from_config_equal": clone.get_config() == config,
        "registered_name": serialized.get("registered_name"),
        "deserialized_class": type(revived) is dropin.RMSprop,
        "deserialized_equal": revived.get_config() == config,
        "by_name": keras.saving.get_registered_object("polyprop>RMSprop") is dropin.RMSprop,
    }


def fresh_process_load(path):
    """Load ``path`` in new processes: with only keras and polyprop imported, then with the drop-in's module."""
    out = {}
    for name, imports in (("keras_and_polyprop", "import keras, polyprop"),
                          ("with_dropin_module", "import keras, polyprop, polyprop.backends.keras")):
        code = (
            f"{imports}\ntry:\n    m = keras.models.load_model({path!r})\n"
            "    print('LOADED', type(m.optimizer).__module__)\n"
            "except Exception as e:\n    print('ERROR', type(e).__name__, str(e)[:200])\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy())
        out[name] = (done.stdout.strip().splitlines() or [done.stderr[-300:]])[-1]
    return out


def checkpoint_round_trip(keras, dropin, folder):
    """The native's state, through a polyprop checkpoint file, into a fresh drop-in and fresh variables."""
    rng = np.random.default_rng(3)
    hyper = dict(learning_rate=0.01, rho=0.85, momentum=0.6, centered=True)
    variables = [keras.Variable(rng.standard_normal(s).astype("float32")) for s in [(3,), (2, 2)]]
    native = keras.optimizers.RMSprop(**hyper)
    for _ in range(5):
        gs = [keras.ops.convert_to_tensor(rng.standard_normal(v.shape).astype("float32")) for v in variables]
        native.apply_gradients(zip(gs, variables))
    path = os.path.join(folder, "optimizer.npz")
    dropin.save_optimizer(path, native, variables)
    fresh = [keras.Variable(np.zeros(v.shape, "float32")) for v in variables]
    ours = dropin.RMSprop(**hyper)
    dropin.load_optimizer(path, ours, fresh)
    a, b = optimizer_state(native), optimizer_state(ours)
    return {
        "iterations": int(keras.ops.convert_to_numpy(ours.iterations)),
        "slots_equal": (
            [k for k, _ in a] == [k for k, _ in b] and all(np.array_equal(x, y) for (_, x), (_, y) in zip(a, b))
        ),
        "variables_equal": all(
            np.array_equal(keras.ops.convert_to_numpy(x), keras.ops.convert_to_numpy(y))
            for x, y in zip(variables, fresh)
        ),
    }


def worker(out_path: str) -> None:
    import keras

    from polyprop.backends import keras as dropin

    backend = keras.backend.backend()
    report: dict = {"backend": backend, "keras": keras.version()}
    if backend == "tensorflow":
        import polyprop.backends.tensorflow as tf_adapter

        report["tensorflow_name_is_same_class"] = tf_adapter.RMSprop is dropin.RMSprop
    report["matrix"] = {dtype: matrix(keras, dropin, dtype) for dtype in DTYPES}
    with tempfile.TemporaryDirectory() as folder:
        report["fit"] = fit_save_load(keras, dropin, folder)
        report["fresh"] = fresh_process_load(report["fit"]["file"])
        report["checkpoint"] = checkpoint_round_trip(keras, dropin, folder)
    report["config"] = config_round_trip(keras, dropin)
    pathlib.Path(out_path).write_text(json.dumps(report))


# --------------------------------------------------------------------------------------
# The tests: one worker per Keras backend, run once per session.


@functools.cache
def measured(backend: str) -> dict:
    framework = backend
    for module in ("keras", framework):
        if importlib.util.find_spec(module) is None:
            from conftest import REQUIRE_ALL

            if REQUIRE_ALL:
                pytest.fail(f"{module} is required (POLYPROP_REQUIRE_ALL=1) for the Keras backend {backend}")
            pytest.skip(f"{module} is not installed (Keras backend {backend})")
    with tempfile.TemporaryDirectory() as folder:
        out = pathlib.Path(folder) / "report.json"
        env = {**os.environ, "KERAS_BACKEND": backend, "JAX_ENABLE_X64": "1"}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        done = subprocess.run(
            [sys.executable, __file__, str(out)], env=env, capture_output=True, text=True, timeout=600
        )
        failure = f"worker failed on {backend}:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
        assert done.returncode == 0, failure
        assert out.exists(), failure
        return json.loads(out.read_text())


MEASURED: dict[str, float] = {}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", KERAS_BACKENDS)
def test_matches_keras_step_for_step(backend, dtype):
    report = measured(backend)
    assert report["backend"] == backend
    rows = report["matrix"][dtype]
    assert len(rows) == len(configs())
    for row in rows:
        assert row["moved"] > 1e-4, row  # the run trains: a difference of 0 would not be for nothing
        assert row["slots_match"], row
        assert row["worst"] <= TOLERANCE[dtype], row
    assert any(
        r["config"]["centered"] and r["config"]["momentum"] > 0 and r["config"].get("weight_decay") for r in rows
    )
    for row in rows:  # velocity always; momentum and average_gradient when asked for
        kinds = set(row["slots"])
        assert ("momentum" in kinds) == (row["config"]["momentum"] > 0)
        assert ("average_gradient" in kinds) == row["config"]["centered"]
        assert row["slots"].count("velocity") == len(SHAPES)
    if backend in BIT_IDENTICAL:
        assert all(row["identical"] == 1.0 for row in rows), [(r["config"], r["identical"]) for r in rows]
    MEASURED[f"{backend} {dtype}"] = max(r["worst"] for r in rows)
    MEASURED[f"{backend} {dtype} identical"] = min(r["identical"] for r in rows)


@pytest.mark.parametrize("backend", KERAS_BACKENDS)
def test_fit_save_load_resume_is_exactly_the_uninterrupted_run(backend):
    fit = measured(backend)["fit"]
    assert fit["loaded_class"] == "polyprop.backends.keras.RMSprop"
    assert fit["same_config"]
    assert fit["iterations"] == [16, 16]  # 4 epochs of 64 rows in batches of 16
    assert fit["slot_kinds"] == ["average_gradient", "iteration", "momentum", "velocity"]  # lr: a schedule
    assert fit["slot_names"]
    assert fit["slots_equal"]
    assert fit["weights_max_diff"] == 0.0
    assert fit["losses"][-1] < 0.5 * fit["losses"][0]
    np.testing.assert_allclose(fit["losses"], fit["native_losses"], rtol=1e-5)
    assert fit["native_weights_rel_diff"] <= 1e-5


@pytest.mark.parametrize("backend", KERAS_BACKENDS)
def test_a_fresh_process_loads_the_file_once_the_dropin_module_is_imported(backend):
    fresh = measured(backend)["fresh"]
    assert fresh["keras_and_polyprop"].startswith("ERROR TypeError Could not locate class 'RMSprop'"), fresh
    assert fresh["with_dropin_module"] == "LOADED polyprop.backends.keras", fresh


@pytest.mark.parametrize("backend", KERAS_BACKENDS)
def test_config_round_trip(backend):
    report = measured(backend)
    assert report["config"] == {
        "from_config_class": True, "from_config_equal": True, "registered_name": "polyprop>RMSprop",
        "deserialized_class": True, "deserialized_equal": True, "by_name": True,
    }
    if backend == "tensorflow":
        assert report["tensorflow_name_is_same_class"]


@pytest.mark.parametrize("backend", KERAS_BACKENDS)
def test_save_optimizer_and_load_optimizer_carry_the_native_state_into_the_dropin(backend):
    assert measured(backend)["checkpoint"] == {"iterations": 5, "slots_equal": True, "variables_equal": True}


def test_same_signature_and_defaults_as_keras_and_bad_values_refused():
    pytest.importorskip("keras")
    import inspect

    import keras

    from polyprop.backends.keras import RMSprop

    assert inspect.signature(RMSprop.__init__) == inspect.signature(keras.optimizers.RMSprop.__init__)
    assert issubclass(RMSprop, keras.optimizers.RMSprop)
    opt = RMSprop()
    assert (opt.rho, opt.momentum, opt.epsilon, opt.centered) == (0.9, 0.0, 1e-7, False)
    assert float(opt.learning_rate) == pytest.approx(0.001)
    with pytest.raises(ValueError, match=r"rho must be in \[0, 1\), got 1.5"):
        RMSprop(rho=1.5)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\), got 1.0"):
        RMSprop(momentum=1.0)
    with pytest.raises(ValueError, match=r"epsilon must be in \(0, inf\), got 0.0"):
        RMSprop(epsilon=0.0)
    with pytest.raises(ValueError, match=r"learning_rate must be in \[0, inf\), got -0.1"):
        RMSprop(learning_rate=-0.1)
    with pytest.raises(TypeError, match=r"centered must be True or False, got 'yes'"):
        RMSprop(centered="yes")


def test_zz_report_measured_maxima(capsys):
    if not MEASURED:
        pytest.skip("the matrix did not run in this session")
    with capsys.disabled():
        print(f"\nkeras drop-in vs keras.optimizers.RMSprop, max relative difference: {MEASURED}")


if __name__ == "__main__":
    worker(sys.argv[1])
