"""The chapter's airfoil training (D2L's train_ch11 / train_concise_ch11) on every backend.

Each run is computed once per module and reused.  Measured with seed 0 (float64
scratch): final loss 0.24551 on every backend, curves equal to NumPy's to ~3e-16
relative; the native float32 runs end at 0.24550 (torch, MXNet, Keras, optax).
"""

from __future__ import annotations

import math
import pathlib

import numpy as np
import pytest

import polyprop
from conftest import require_backend, require_path
from polyprop.chapter.airfoil import (
    AIRFOIL_CONFIG,
    SWEEP_DECAYS,
    batch_order,
    decay_sweep,
    initial_weights,
    train_native,
    train_scratch,
    warmup_decay,
)
from polyprop.chapter.data import AIRFOIL_FILE, load_airfoil

SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
NATIVE = [name for name in polyprop.BACKENDS if name != "numpy"]

EPOCHS = [200 * k / 1500 for k in range(1, 16)]
"""An evaluation every 200 examples over 2 epochs of 1500: 15 points, the last at 2.0."""
LEAST_SQUARES = 0.2416879
"""The best loss any linear model reaches on these 1500 rows (np.linalg.lstsq), rounded down."""
CHAPTER_HIGH = 0.26
"""The chapter reports 0.243-0.249; RMSProp with a fixed lr 0.01 keeps jittering around the
optimum, and over 30 seeds the final loss at decay 0.9 stayed below 0.2562."""
SAME_MATH_RTOL = 1e-10
"""The same float64 algorithm on another framework: measured ~3e-16 (the brief asks 1e-6)."""

CONFIGS = {
    "chapter": AIRFOIL_CONFIG,
    "warmup": AIRFOIL_CONFIG.replace(decay=warmup_decay),
}


@pytest.fixture(scope="module")
def airfoil() -> tuple[np.ndarray, np.ndarray]:
    require_path(SHARED_DATA / AIRFOIL_FILE, "the airfoil data (the checkout's sibling shared/data)")
    return load_airfoil(SHARED_DATA)


@pytest.fixture(scope="module")
def runs(airfoil):
    """``runs(impl, backend, config_name="chapter")``: each run computed once per module."""
    cache: dict[tuple[str, str, str], object] = {}

    def run(impl: str, name: str, config_name: str = "chapter"):
        key = (impl, name, config_name)
        if key not in cache:
            require_backend(name)
            if impl == "scratch":
                cache[key] = train_scratch(name, *airfoil, config=CONFIGS[config_name])
            else:
                cache[key] = train_native(name, *airfoil)
        return cache[key]

    return run


def max_relative_difference(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def d2l_rmsprop_reference(features, labels, seed=0):
    """The chapter's code transcribed in plain NumPy: ``rmsprop`` with ``train_ch11``'s loop."""
    lr, gamma, eps = 0.01, 0.9, 1e-6
    w, b = initial_weights(seed)
    s_w, s_b = np.zeros_like(w), np.zeros_like(b)
    y_all = labels.reshape(-1, 1)
    losses, n = [], 0
    for idx in batch_order(len(labels), 10, 2, seed):
        X, y = features[idx], y_all[idx]
        r = X @ w + b - y
        g_w, g_b = X.T @ r / len(idx), r.mean(axis=0)
        s_w = gamma * s_w + (1 - gamma) * np.square(g_w)
        s_b = gamma * s_b + (1 - gamma) * np.square(g_b)
        w = w - lr * g_w / np.sqrt(s_w + eps)
        b = b - lr * g_b / np.sqrt(s_b + eps)
        n += len(idx)
        if n % 200 == 0:
            losses.append(float(np.mean((features @ w + b - y_all) ** 2) / 2))
    return losses


# --- set-up shared by every backend ---------------------------------------------------------


def test_initial_weights_are_d2ls_from_one_seed():
    w, b = initial_weights(0)
    assert w.shape == (5, 1)
    assert b.shape == (1,)
    assert not b.any()
    np.testing.assert_array_equal(w, np.random.default_rng(0).normal(0.0, 0.01, (5, 1)))
    assert not np.array_equal(w, initial_weights(1)[0])


def test_batch_order_is_a_fresh_permutation_each_epoch():
    order = batch_order(1500, 10, 2, seed=0)
    assert len(order) == 300
    assert all(len(idx) == 10 for idx in order)
    first, second = np.concatenate(order[:150]), np.concatenate(order[150:])
    np.testing.assert_array_equal(np.sort(first), np.arange(1500))
    np.testing.assert_array_equal(np.sort(second), np.arange(1500))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(np.concatenate(batch_order(1500, 10, 2, seed=0)), np.concatenate(order))
    assert [len(idx) for idx in batch_order(25, 10, 1, seed=0)] == [10, 10, 5]  # short last batch kept


# --- from scratch ---------------------------------------------------------------------------


def test_numpy_scratch_run_is_the_chapters_code(runs, airfoil):
    run = runs("scratch", "numpy")
    assert (run.backend, run.impl) == ("numpy", "scratch")
    np.testing.assert_allclose(run.epochs, EPOCHS, rtol=0, atol=1e-15)
    np.testing.assert_allclose(run.losses, d2l_rmsprop_reference(*airfoil), rtol=1e-12)
    assert LEAST_SQUARES <= run.final_loss < CHAPTER_HIGH
    assert run.losses[0] > run.final_loss
    assert math.isfinite(run.seconds_per_epoch)
    assert run.seconds_per_epoch >= 0


@pytest.mark.parametrize("name", NATIVE)
def test_scratch_run_matches_numpy_on_every_backend(runs, name):
    run = runs("scratch", name)
    assert (run.backend, run.impl, len(run.losses)) == (name, "scratch", 15)
    np.testing.assert_allclose(run.epochs, EPOCHS, rtol=0, atol=1e-15)
    assert max_relative_difference(run.losses, runs("scratch", "numpy").losses) <= SAME_MATH_RTOL
    assert LEAST_SQUARES <= run.final_loss < CHAPTER_HIGH
    assert all(isinstance(loss, float) for loss in run.losses)


def test_float32_scratch_run_stays_close_to_float64(airfoil, runs):
    run = train_scratch("numpy", *airfoil, dtype="float32")
    assert max_relative_difference(run.losses, runs("scratch", "numpy").losses) < 1e-4


def test_progress_is_called_once_per_minibatch(airfoil):
    calls = []
    train_scratch("numpy", *airfoil, epochs=1, progress=lambda: calls.append(1))
    assert len(calls) == 150


# --- native optimizers ----------------------------------------------------------------------


@pytest.mark.parametrize("name", NATIVE)
def test_native_run_converges_like_the_chapter_and_like_scratch(runs, name):
    """Native runs differ from scratch only by eps (size and place) and float32, and RMSProp
    divides out the factor 2 of the MSE gradient, so the curves nearly coincide: measured
    <0.3% apart at the first evaluation, ~4e-5 at the last."""
    run = runs("native", name)
    scratch = runs("scratch", name)
    assert (run.backend, run.impl, len(run.losses)) == (name, "native", 15)
    np.testing.assert_allclose(run.epochs, EPOCHS, rtol=0, atol=1e-15)
    assert LEAST_SQUARES * (1 - 1e-6) <= run.final_loss < CHAPTER_HIGH  # float32 evaluation
    assert max_relative_difference(run.losses, scratch.losses) < 0.01
    assert abs(run.final_loss - scratch.final_loss) / scratch.final_loss < 1e-3


def test_native_runs_agree_across_frameworks(runs):
    """Same start, same batches, eps <= 1e-7 everywhere: measured < 2e-4 apart (Keras's eps
    1e-7 shows at the first evaluation), ~1e-5 at the last."""
    finals = {name: runs("native", name).losses for name in NATIVE if _installed(name)}
    if len(finals) < 2:
        pytest.skip("needs two native backends")
    reference = next(iter(finals.values()))
    for losses in finals.values():
        assert max_relative_difference(losses, reference) < 1e-3


def _installed(name: str) -> bool:
    return polyprop.available_backends()[name] is not None


def test_numpy_has_no_native_optimizer(airfoil):
    with pytest.raises(ValueError, match="numpy has no RMSProp of its own"):
        train_native("numpy", *airfoil)


# --- exercise 4: the decay ------------------------------------------------------------------


@pytest.fixture(scope="module")
def numpy_sweep(airfoil):
    return decay_sweep("numpy", *airfoil)


def test_decay_sweep_gives_one_finite_loss_per_decay(numpy_sweep, runs):
    assert numpy_sweep.backend == "numpy"
    assert numpy_sweep.decays == list(SWEEP_DECAYS)
    assert len(numpy_sweep.final_losses) == len(SWEEP_DECAYS)
    assert all(math.isfinite(loss) and LEAST_SQUARES <= loss < 0.3 for loss in numpy_sweep.final_losses)
    assert numpy_sweep.final_losses[SWEEP_DECAYS.index(0.9)] == runs("scratch", "numpy").final_loss


def test_decay_0_9_beats_both_extremes(numpy_sweep):
    """decay 0 is sign descent (|step| = lr); 0.999 starts nu near 0 without bias correction,
    so its steps stay too large for hundreds of steps.  At seed 0: 0.2507, 0.2455, 0.2507.
    Over 30 seeds 0.9 beat 0.999 in 30 and beat 0 in 26, so only seed 0 is asserted."""
    loss = dict(zip(numpy_sweep.decays, numpy_sweep.final_losses))
    assert loss[0.9] < loss[0.0]
    assert loss[0.9] < loss[0.999]


def test_decay_sweep_on_another_backend_matches_numpy(airfoil, numpy_sweep):
    require_backend("torch")
    sweep = decay_sweep("torch", *airfoil, decays=(0.0, 0.999))
    expected = [numpy_sweep.final_losses[SWEEP_DECAYS.index(d)] for d in (0.0, 0.999)]
    assert sweep.backend == "torch"
    assert max_relative_difference(sweep.final_losses, expected) <= SAME_MATH_RTOL


def test_warmup_decay_rises_from_0_5_to_0_99_over_300_steps():
    assert warmup_decay(0) == 0.5
    assert warmup_decay(150) == pytest.approx(0.745)
    assert warmup_decay(300) == pytest.approx(0.99)
    assert warmup_decay(10_000) == 0.99
    values = [warmup_decay(t) for t in range(400)]
    assert values == sorted(values)
    assert all(0 <= v < 1 for v in values)


@pytest.mark.parametrize("name", polyprop.BACKENDS)
def test_warmup_decay_run_matches_numpy_on_every_backend(runs, name):
    run = runs("scratch", name, "warmup")
    reference = runs("scratch", "numpy", "warmup")
    assert max_relative_difference(run.losses, reference.losses) <= SAME_MATH_RTOL
    assert LEAST_SQUARES <= run.final_loss < CHAPTER_HIGH
    # the schedule was applied: the curve is not the constant-decay one
    assert max_relative_difference(run.losses, runs("scratch", "numpy").losses) > 1e-4
