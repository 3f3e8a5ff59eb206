"""The chapter's and benchmarks' per-framework code lives with each backend and is found by name.

Every registered backend has ``polyprop.backends.<name>.chapter`` (the airfoil and
Fashion-MNIST models) and ``polyprop.backends.<name>.bench`` (the step benchmark's
variants).  A sixth backend registered at run time, ``fake`` (NumPy's hooks and
ops under another name, its tensors an ndarray subclass of a module no backend
claims), is picked up by the chapter and both benchmarks with no edit to them.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import types

import numpy as np
import pytest

import polyprop
import polyprop.backends as backends
from benchmarks import step, train
from conftest import require_backend
from polyprop.backends.numpy import bench as numpy_bench
from polyprop.backends.numpy import chapter as numpy_chapter
from polyprop.chapter import airfoil, fashion

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTER_HOOKS = ("airfoil_model", "fashion_model")
"""Every backend's ``chapter`` module defines these; ``airfoil_native`` only where the framework has an RMSProp."""


@pytest.mark.parametrize("name", backends.BACKENDS)
def test_every_backend_has_its_chapter_and_bench_hooks(name):
    folder = ROOT / "backends" / name
    assert (folder / "chapter.py").is_file()
    assert (folder / "bench.py").is_file()
    require_backend(name)
    chapter, bench = airfoil.chapter_hooks(name), step.bench_hooks(name)
    assert chapter.__name__ == f"polyprop.backends.{name}.chapter"
    assert bench.__name__ == f"polyprop.backends.{name}.bench"
    assert all(callable(getattr(chapter, hook)) for hook in CHAPTER_HOOKS)
    assert callable(bench.variants)
    assert airfoil.has_native(name) == (name != "numpy")  # NumPy alone has no RMSProp of its own


def test_unknown_backend_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown backend 'theano'; known backends: numpy, torch"):
        airfoil.chapter_hooks("theano")
    with pytest.raises(ValueError, match="unknown backend 'theano'"):
        step.bench_hooks("theano")


def test_importing_the_chapter_and_benchmarks_imports_no_framework():
    probe = (
        "import json, sys\n"
        "import polyprop.chapter.airfoil, polyprop.chapter.fashion, benchmarks.step, benchmarks.train\n"
        "frameworks = ('torch', 'tensorflow', 'keras', 'jax', 'optax', 'mxnet')\n"
        "print(json.dumps(sorted(m for m in frameworks if m in sys.modules)))\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('polyprop.backends.'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    frameworks, backend_modules = (json.loads(line) for line in out.stdout.splitlines())
    assert frameworks == []
    assert backend_modules == []


# --- a sixth backend, registered at run time ------------------------------------------------


class FakeArray(np.ndarray):
    """The fake framework's tensor: an ndarray whose type no registered backend claims."""


FakeArray.__module__ = "fakeframework"


def _recorded(calls: list[str], name: str, hook):
    def hook_called(*args, **kwargs):
        calls.append(name)
        return hook(*args, **kwargs)

    return hook_called


@pytest.fixture
def fake(monkeypatch):
    """Registers backend ``fake``: a package, its hooks (NumPy's, recording their calls) and a registry entry."""
    calls: list[str] = []
    package = types.ModuleType("polyprop.backends.fake")
    package.__dict__.update({
        k: v for k, v in vars(backends.load("numpy")).items()
        if not k.startswith("__") and not isinstance(v, types.ModuleType)
    })
    package.NAME = "fake"
    package.from_numpy = lambda array: np.array(array).view(FakeArray)
    chapter = types.ModuleType("polyprop.backends.fake.chapter")
    for hook in CHAPTER_HOOKS:
        setattr(chapter, hook, _recorded(calls, hook, getattr(numpy_chapter, hook)))
    bench = types.ModuleType("polyprop.backends.fake.bench")
    bench.variants = _recorded(calls, "variants", numpy_bench.variants)
    for module in (package, chapter, bench):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    entry = backends.Backend("fake", "numpy", ("fakeframework", "numpy"), ("fakeframework",), None, "#000000")
    monkeypatch.setattr(backends, "REGISTRY", (*backends.REGISTRY, entry))
    monkeypatch.setattr(backends, "BACKENDS", (*backends.BACKENDS, "fake"))
    monkeypatch.setitem(backends.FRAMEWORKS, "fake", entry)
    fashion.model_for.cache_clear()
    yield types.SimpleNamespace(package=package, chapter=chapter, bench=bench, calls=calls)
    fashion.model_for.cache_clear()


def _line(n=400, seed=0):
    """``n`` rows of 5 features and a noisy linear target (the airfoil run's shapes)."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n, 5))
    return features, features @ rng.standard_normal(5) + 0.1 * rng.standard_normal(n)


def test_a_sixth_backend_trains_the_airfoil_run_through_its_own_hooks(fake):
    features, labels = _line()
    run = airfoil.train_scratch("fake", features, labels)
    assert fake.calls == ["airfoil_model"]
    assert run.backend == "fake"
    assert run.losses == airfoil.train_scratch("numpy", features, labels).losses  # the same math, to the bit
    assert not airfoil.has_native("fake")
    with pytest.raises(ValueError, match="fake has no RMSProp of its own"):
        airfoil.train_native("fake", features, labels)


def test_a_sixth_backends_native_trainer_is_found(fake, monkeypatch):
    """The fake's "own" optimizer is polyprop's step at the chapter's settings, so it equals float32 scratch."""

    def airfoil_native(ops, w0, b0, X_all, y_all, lr, decay):
        config = airfoil.AIRFOIL_CONFIG.replace(learning_rate=lr, decay=decay)
        gradients, evaluate = numpy_chapter.airfoil_model(ops, X_all, y_all)
        params = [ops.from_numpy(w0), ops.from_numpy(b0)]
        state = polyprop.init(params, config, ops)

        def train_batch(X, y):
            nonlocal params, state
            params, state = polyprop.step(params, gradients(params, X, y), state, config, ops)

        return train_batch, lambda: evaluate(params)

    monkeypatch.setattr(fake.chapter, "airfoil_native", airfoil_native, raising=False)
    features, labels = _line()
    run = airfoil.train_native("fake", features, labels)
    assert (run.backend, run.impl) == ("fake", "native")
    assert airfoil.has_native("fake")
    assert run.losses == airfoil.train_scratch("numpy", features, labels, dtype="float32").losses


def test_a_sixth_backend_trains_fashion_mnist_through_its_own_hooks(fake):
    rng = np.random.default_rng(1)
    images = rng.random((96, 784), dtype=np.float32)
    data = fashion.FashionData(images[:64], rng.integers(0, 10, 64), images[64:], rng.integers(0, 10, 32))
    run = fashion.train_fashion("fake", data, epochs=2, batch_size=16)
    assert fake.calls == ["fashion_model"]
    assert run.backend == "fake"
    reference = fashion.train_fashion("numpy", data, epochs=2, batch_size=16)
    assert (run.test_accuracy, run.train_loss) == (reference.test_accuracy, reference.train_loss)


def test_a_sixth_backend_is_benchmarked_through_its_own_hooks(fake):
    args = argparse.Namespace(seed=0, repeats=1, warmup=0)
    rows = step.run_case("fake", "1e3", "float32", args, triad=1e10)
    assert fake.calls == ["variants"]
    expected = [v.name for v in numpy_bench.variants(*step.case_arrays([(1000,)], "float32", 0), step)]
    assert [row["variant"] for row in rows] == expected
    assert all(row["backend"] == "fake" and row["error"] is None and row["median_s"] > 0 for row in rows)


def test_the_machine_line_names_every_registered_distribution(fake):
    names = step.distributions()
    assert names[:2] == ["numpy", "torch"]
    assert len(names) == len(set(names))
    assert {"tensorflow-cpu", "keras", "jax", "jaxlib", "optax", "mxnet", "fakeframework"} <= set(names)


def test_a_sixth_backend_is_timed_by_the_training_benchmark(fake):
    features, labels = _line()
    args = train.parse_args(["--backend", "numpy", "--epochs", "1", "--repeats", "1"])
    rows = {row["mode"]: row for row in train.run_backend("fake", (features, labels), args)}
    assert rows["scratch"]["backend"] == "fake"
    assert rows["scratch"]["error"] is None
    expected = airfoil.train_scratch("numpy", features, labels, epochs=1, dtype="float32").final_loss
    assert rows["scratch"]["final_loss"] == expected
    assert rows["native"]["error"] == f"{train.NO_NATIVE} (fake has no RMSProp of its own)"
    assert fake.calls == ["airfoil_model"]
