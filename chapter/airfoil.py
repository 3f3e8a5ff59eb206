"""The chapter's airfoil training: linear regression with RMSProp, on every backend.

Two runs from "Dive into Deep Learning", section "RMSProp":

* :func:`train_scratch` is ``train_ch11`` with ``rmsprop`` from scratch: polyprop's
  RMSProp on ``[w, b]``, the gradient from each framework's own autograd
  (NumPy: the analytic gradient).  The chapter reports loss 0.244.
* :func:`train_native` is ``train_concise_ch11``: each framework's own RMSProp
  on its own linear layer (torch 0.243, MXNet 0.246, TensorFlow 0.249 in the chapter).

The loss is ``(X w + b - y)^2 / 2`` averaged over a minibatch of 10; every 200
examples the mean loss over all rows is recorded against the epochs done.
Every backend starts from the same weights and sees the same minibatches
(:func:`initial_weights`, :func:`batch_order`), so the runs are comparable
number for number.  Only the model is the framework's: each backend's hooks
(:func:`chapter_hooks`, ``polyprop.backends.<name>.chapter``) build it, and are
imported, with their framework, when the chapter first runs on that backend.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from ..backends import check_name
from ..config import RMSPropConfig
from ..ops import Ops, Tensor
from ..rmsprop import init, step
from ..selection import get_ops
from .results import AirfoilRun, DecaySweep

AIRFOIL_CONFIG = RMSPropConfig(learning_rate=0.01, decay=0.9, eps=1e-6, eps_in_sqrt=True)
"""The chapter's settings: eta 0.01, gamma 0.9, eps 1e-6 inside the square root."""

BATCH_SIZE = 10
EPOCHS = 2
EVALUATE_EVERY = 200
"""Examples between two evaluations of the loss over all rows (D2L's ``n % 200 == 0``)."""
WEIGHT_STD = 0.01

SWEEP_DECAYS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999)

Progress = Callable[[], Any]


def initial_weights(seed: int = 0, n_features: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """D2L's start: ``w`` (n_features, 1) ~ N(0, 0.01^2), ``b`` = zeros(1); float64."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, WEIGHT_STD, size=(n_features, 1)), np.zeros(1)


def batch_order(
    n: int, batch_size: int = BATCH_SIZE, epochs: int = EPOCHS, seed: int = 0
) -> list[np.ndarray]:
    """Row indices of each minibatch: a fresh permutation of ``range(n)`` per epoch.

    Like a shuffling data loader that keeps a short last batch.
    """
    rng = np.random.default_rng(seed)
    order: list[np.ndarray] = []
    for _ in range(epochs):
        permutation = rng.permutation(n)
        order.extend(permutation[i : i + batch_size] for i in range(0, n, batch_size))
    return order


def _train_loop(
    batches: Sequence[tuple[Tensor, Tensor]],
    train_batch: Callable[[Tensor, Tensor], None],
    evaluate: Callable[[], float],
    n_rows: int,
    progress: Progress | None,
) -> tuple[list[float], list[float], float]:
    """D2L's loop: train on each batch; every 200 examples record (epochs, loss).

    Returns the epochs and losses recorded and the training seconds (evaluation excluded).
    """
    epochs: list[float] = []
    losses: list[float] = []
    seconds, n = 0.0, 0
    start = time.perf_counter()
    for X, y in batches:
        train_batch(X, y)
        n += len(y)
        if progress is not None:
            progress()
        if n % EVALUATE_EVERY == 0:
            seconds += time.perf_counter() - start
            losses.append(evaluate())
            epochs.append(n / n_rows)
            start = time.perf_counter()
    seconds += time.perf_counter() - start
    return epochs, losses, seconds


def _tensors(
    ops: Ops, features: np.ndarray, labels: np.ndarray, order: Sequence[np.ndarray], dtype: str
) -> tuple[Tensor, Tensor, list[tuple[Tensor, Tensor]]]:
    """All rows and each minibatch as backend tensors; labels as a column (rows, 1)."""
    X = np.asarray(features, dtype=dtype)
    y = np.asarray(labels, dtype=dtype).reshape(-1, 1)
    batches = [(ops.from_numpy(X[idx]), ops.from_numpy(y[idx])) for idx in order]
    return ops.from_numpy(X), ops.from_numpy(y), batches


# --- the backends' hooks ---------------------------------------------------------------------


def chapter_hooks(backend: str) -> ModuleType:
    """``polyprop.backends.<backend>.chapter``, the backend's models (listed in :mod:`polyprop.backends.numpy.chapter`).

    Imported (with its framework) when the chapter first runs on ``backend``.
    """
    return importlib.import_module(f"polyprop.backends.{check_name(backend)}.chapter")


def has_native(backend: str) -> bool:
    """Whether ``backend``'s framework has an RMSProp of its own, i.e. its hooks define ``airfoil_native``."""
    return hasattr(chapter_hooks(backend), "airfoil_native")


# --- from scratch: polyprop's RMSProp, each framework's autograd ---------------------------


class LinearRegression(NamedTuple):
    """A backend's gradient and evaluation of the loss ``(X w + b - y)^2 / 2`` (its hook ``airfoil_model``)."""

    gradients: Callable[[list[Tensor], Tensor, Tensor], list[Tensor]]
    """``([w, b], X, y) -> [dL/dw, dL/db]`` of the loss averaged over the minibatch."""
    evaluate: Callable[[list[Tensor]], float]
    """``[w, b] -> `` the mean loss over all rows, as a Python float."""


def train_scratch(
    backend: Ops | str,
    features: np.ndarray,
    labels: np.ndarray,
    *,
    config: RMSPropConfig = AIRFOIL_CONFIG,
    epochs: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    seed: int = 0,
    dtype: str = "float64",
    progress: Progress | None = None,
) -> AirfoilRun:
    """D2L's ``train_ch11(rmsprop, ...)``: polyprop's RMSProp on ``[w, b]`` on ``backend``.

    ``progress`` (optional) is called once per minibatch.
    """
    ops = get_ops(backend)
    order = batch_order(len(labels), batch_size, epochs, seed)
    X_all, y_all, batches = _tensors(ops, features, labels, order, dtype)
    model = LinearRegression(*chapter_hooks(ops.NAME).airfoil_model(ops, X_all, y_all))
    params = [ops.from_numpy(a.astype(dtype)) for a in initial_weights(seed, features.shape[1])]
    state = init(params, config, ops)

    def train_batch(X: Tensor, y: Tensor) -> None:
        nonlocal params, state
        params, state = step(params, model.gradients(params, X, y), state, config, ops)  # type: ignore[assignment]

    points, losses, seconds = _train_loop(
        batches, train_batch, lambda: model.evaluate(params), len(labels), progress
    )
    return AirfoilRun(ops.NAME, "scratch", points, losses, seconds / epochs)


# --- native: each framework's own RMSProp on its own linear layer --------------------------


class NativeTrainer(NamedTuple):
    """A backend's own RMSProp on its own linear layer (its hook ``airfoil_native``)."""

    train_batch: Callable[[Tensor, Tensor], None]
    """One optimizer step on the minibatch (X, y)."""
    evaluate: Callable[[], float]
    """The mean of ``(y_hat - y)^2 / 2`` over all rows (D2L: ``evaluate_loss / 2``)."""


def train_native(
    backend: Ops | str,
    features: np.ndarray,
    labels: np.ndarray,
    *,
    epochs: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    lr: float = 0.01,
    decay: float = 0.9,
    seed: int = 0,
    progress: Progress | None = None,
) -> AirfoilRun:
    """D2L's ``train_concise_ch11``: the framework's own RMSProp and linear layer, float32.

    Each framework keeps its own eps (torch 1e-8 outside the square root; MXNet
    1e-8, Keras 1e-7, optax 1e-8 inside).  A backend without an optimizer of its
    own (NumPy; see :func:`has_native`): ``ValueError``.
    """
    ops = get_ops(backend)
    hooks = chapter_hooks(ops.NAME)
    if not hasattr(hooks, "airfoil_native"):
        raise ValueError(f"{ops.NAME} has no RMSProp of its own ({hooks.__name__} defines no airfoil_native)")
    order = batch_order(len(labels), batch_size, epochs, seed)
    X_all, y_all, batches = _tensors(ops, features, labels, order, "float32")
    w0, b0 = (a.astype(np.float32) for a in initial_weights(seed, features.shape[1]))
    trainer = NativeTrainer(*hooks.airfoil_native(ops, w0, b0, X_all, y_all, lr, decay))
    points, losses, seconds = _train_loop(
        batches, trainer.train_batch, trainer.evaluate, len(labels), progress
    )
    return AirfoilRun(ops.NAME, "native", points, losses, seconds / epochs)


# --- exercise 4: the decay ------------------------------------------------------------------


def decay_sweep(
    backend: Ops | str,
    features: np.ndarray,
    labels: np.ndarray,
    decays: Sequence[float] = SWEEP_DECAYS,
    **kwargs: Any,
) -> DecaySweep:
    """The final loss of :func:`train_scratch` for each decay (the rest of the config kept)."""
    config: RMSPropConfig = kwargs.pop("config", AIRFOIL_CONFIG)
    runs = [
        train_scratch(backend, features, labels, config=config.replace(decay=d), **kwargs)
        for d in decays
    ]
    return DecaySweep(runs[0].backend, [float(d) for d in decays], [r.final_loss for r in runs])


WARMUP_START, WARMUP_END, WARMUP_STEPS = 0.5, 0.99, 300


def warmup_decay(count: int) -> float:
    """``decay(t) = min(0.99, 0.5 + (0.99 - 0.5) t / 300)``: rising linearly over the first 300 steps.

    A small decay averages the squared gradient over few steps (about
    ``1 / (1 - decay)``), so it forgets the large early gradients quickly and the
    first steps stay large; a decay near 1 later averages over ~100 steps,
    smoothing the step size once the loss has settled.  Use it as
    ``AIRFOIL_CONFIG.replace(decay=warmup_decay)``.
    """
    return min(WARMUP_END, WARMUP_START + (WARMUP_END - WARMUP_START) * count / WARMUP_STEPS)
