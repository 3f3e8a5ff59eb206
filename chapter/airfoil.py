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
number for number.  Frameworks are imported inside the functions that use them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

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
    order = []
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


# --- from scratch: polyprop's RMSProp, each framework's autograd ---------------------------


class LinearRegression(NamedTuple):
    """A backend's gradient and evaluation of the loss ``(X w + b - y)^2 / 2``."""

    gradients: Callable[[list[Tensor], Tensor, Tensor], list[Tensor]]
    """``([w, b], X, y) -> [dL/dw, dL/db]`` of the loss averaged over the minibatch."""
    evaluate: Callable[[list[Tensor]], float]
    """``[w, b] -> `` the mean loss over all rows, as a Python float."""


def _numpy_model(ops: Ops, X_all: np.ndarray, y_all: np.ndarray) -> LinearRegression:
    """The analytic gradient: ``r = X w + b - y``, ``dL/dw = X^T r / m``, ``dL/db = mean(r)``."""

    def gradients(params: list[np.ndarray], X: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        w, b = params
        residual = X @ w + b - y
        return [X.T @ residual / len(y), residual.mean(axis=0)]

    def evaluate(params: list[np.ndarray]) -> float:
        w, b = params
        return float(np.mean(np.square(X_all @ w + b - y_all) / 2))

    return LinearRegression(gradients, evaluate)


def _torch_model(ops: Ops, X_all: Any, y_all: Any) -> LinearRegression:
    """``torch.autograd.grad`` of the minibatch loss at detached copies of ``[w, b]``."""
    import torch

    def loss(w: Any, b: Any, X: Any, y: Any) -> Any:
        return torch.mean(torch.square(X @ w + b - y) / 2)

    def gradients(params: list[Any], X: Any, y: Any) -> list[Any]:
        w, b = (p.detach().requires_grad_() for p in params)
        return list(torch.autograd.grad(loss(w, b, X, y), (w, b)))

    def evaluate(params: list[Any]) -> float:
        with torch.no_grad():
            return float(loss(params[0], params[1], X_all, y_all))

    return LinearRegression(gradients, evaluate)


def _tensorflow_model(ops: Ops, X_all: Any, y_all: Any) -> LinearRegression:
    """``tf.GradientTape`` over the minibatch loss, in a ``tf.function`` traced once per run."""
    import tensorflow as tf

    def loss(w: Any, b: Any, X: Any, y: Any) -> Any:
        return tf.reduce_mean(tf.square(tf.matmul(X, w) + b - y) / 2)

    @tf.function
    def gradients(params: list[Any], X: Any, y: Any) -> list[Any]:
        with tf.GradientTape() as tape:
            tape.watch(params)
            value = loss(params[0], params[1], X, y)
        return list(tape.gradient(value, params))

    return LinearRegression(gradients, lambda params: float(loss(params[0], params[1], X_all, y_all)))


def _jax_model(ops: Ops, X_all: Any, y_all: Any) -> LinearRegression:
    """``jax.grad`` of the minibatch loss, jit-compiled once per run."""
    import jax
    import jax.numpy as jnp

    def loss(params: list[Any], X: Any, y: Any) -> Any:
        w, b = params
        return jnp.mean(jnp.square(X @ w + b - y) / 2)

    grad, mean_loss = jax.jit(jax.grad(loss)), jax.jit(loss)
    return LinearRegression(
        lambda params, X, y: list(grad(list(params), X, y)),
        lambda params: float(mean_loss(list(params), X_all, y_all)),
    )


def _mxnet_model(ops: Ops, X_all: Any, y_all: Any) -> LinearRegression:
    """``mx.autograd.record`` on copies of ``[w, b]`` with ``attach_grad``."""
    mx = ops.mx  # type: ignore[attr-defined]

    def loss(w: Any, b: Any, X: Any, y: Any) -> Any:
        return mx.nd.mean(mx.nd.square(mx.nd.dot(X, w) + b - y) / 2)

    def gradients(params: list[Any], X: Any, y: Any) -> list[Any]:
        w, b = params[0].copy(), params[1].copy()
        w.attach_grad()
        b.attach_grad()
        with mx.autograd.record():
            value = loss(w, b, X, y)
        value.backward()
        return [w.grad, b.grad]

    return LinearRegression(
        gradients, lambda params: float(loss(params[0], params[1], X_all, y_all).asscalar())
    )


SCRATCH_MODELS: dict[str, Callable[[Ops, Any, Any], LinearRegression]] = {
    "numpy": _numpy_model,
    "torch": _torch_model,
    "tensorflow": _tensorflow_model,
    "jax": _jax_model,
    "mxnet": _mxnet_model,
}


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
    model = SCRATCH_MODELS[ops.NAME](ops, X_all, y_all)
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
    train_batch: Callable[[Tensor, Tensor], None]
    """One optimizer step on the minibatch (X, y)."""
    evaluate: Callable[[], float]
    """The mean of ``(y_hat - y)^2 / 2`` over all rows (D2L: ``evaluate_loss / 2``)."""


def _torch_native(
    ops: Ops, w0: np.ndarray, b0: np.ndarray, X_all: Any, y_all: Any, lr: float, decay: float
) -> NativeTrainer:
    """``nn.Linear`` + ``torch.optim.RMSprop(lr, alpha=decay)``, trained on ``MSELoss`` as D2L."""
    import torch

    net = torch.nn.Linear(w0.shape[0], 1)
    with torch.no_grad():
        net.weight.copy_(ops.from_numpy(w0.T))
        net.bias.copy_(ops.from_numpy(b0))
    optimizer = torch.optim.RMSprop(net.parameters(), lr=lr, alpha=decay)
    loss = torch.nn.MSELoss(reduction="none")

    def train_batch(X: Any, y: Any) -> None:
        optimizer.zero_grad()
        loss(net(X), y).mean().backward()
        optimizer.step()

    def evaluate() -> float:
        with torch.no_grad():
            return float(loss(net(X_all), y_all).mean()) / 2

    return NativeTrainer(train_batch, evaluate)


def _mxnet_native(
    ops: Ops, w0: np.ndarray, b0: np.ndarray, X_all: Any, y_all: Any, lr: float, decay: float
) -> NativeTrainer:
    """``gluon.nn.Dense(1)`` + ``gluon.Trainer(..., 'rmsprop', gamma1=decay)`` on ``L2Loss`` as D2L."""
    mx = ops.mx  # type: ignore[attr-defined]

    net = mx.gluon.nn.Dense(1, in_units=w0.shape[0])
    net.initialize()
    net.weight.set_data(ops.from_numpy(w0.T))
    net.bias.set_data(ops.from_numpy(b0))
    trainer = mx.gluon.Trainer(net.collect_params(), "rmsprop", {"learning_rate": lr, "gamma1": decay})
    loss = mx.gluon.loss.L2Loss()  # (y_hat - y)^2 / 2

    def train_batch(X: Any, y: Any) -> None:
        with mx.autograd.record():
            value = loss(net(X), y)
        value.backward()
        trainer.step(X.shape[0])

    return NativeTrainer(train_batch, lambda: float(loss(net(X_all), y_all).mean().asscalar()))


def _tensorflow_native(
    ops: Ops, w0: np.ndarray, b0: np.ndarray, X_all: Any, y_all: Any, lr: float, decay: float
) -> NativeTrainer:
    """``keras.layers.Dense(1)`` + ``keras.optimizers.RMSprop(lr, rho=decay)`` in a GradientTape loop."""
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"the tensorflow native run needs Keras on TensorFlow, but KERAS_BACKEND is "
            f"{keras.backend.backend()!r}"
        )
    layer = keras.layers.Dense(1)
    layer.build((None, w0.shape[0]))
    layer.set_weights([w0.astype(np.float32), b0.astype(np.float32)])
    optimizer = keras.optimizers.RMSprop(learning_rate=lr, rho=decay)
    loss = keras.losses.MeanSquaredError()

    @tf.function  # traced once per run; eager Keras steps cost ~10x more
    def train_batch(X: Any, y: Any) -> None:
        with tf.GradientTape() as tape:
            value = loss(y, layer(X))
        grads = tape.gradient(value, layer.trainable_variables)
        optimizer.apply_gradients(zip(grads, layer.trainable_variables))

    return NativeTrainer(train_batch, lambda: float(loss(y_all, layer(X_all))) / 2)


def _jax_native(
    ops: Ops, w0: np.ndarray, b0: np.ndarray, X_all: Any, y_all: Any, lr: float, decay: float
) -> NativeTrainer:
    """``optax.rmsprop(lr, decay=decay)`` on ``X w + b``, trained on the mean squared error."""
    import jax
    import jax.numpy as jnp
    import optax

    def mse(params: dict[str, Any], X: Any, y: Any) -> Any:
        return jnp.mean(jnp.square(X @ params["w"] + params["b"] - y))

    optimizer = optax.rmsprop(lr, decay=decay)

    @jax.jit
    def update(params: dict[str, Any], opt_state: Any, X: Any, y: Any) -> tuple[Any, Any]:
        updates, opt_state = optimizer.update(jax.grad(mse)(params, X, y), opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    evaluate_mse = jax.jit(mse)
    params = {"w": ops.from_numpy(w0), "b": ops.from_numpy(b0)}
    opt_state = optimizer.init(params)

    def train_batch(X: Any, y: Any) -> None:
        nonlocal params, opt_state
        params, opt_state = update(params, opt_state, X, y)

    return NativeTrainer(train_batch, lambda: float(evaluate_mse(params, X_all, y_all)) / 2)


NATIVE_TRAINERS: dict[str, Callable[..., NativeTrainer]] = {
    "torch": _torch_native,
    "mxnet": _mxnet_native,
    "tensorflow": _tensorflow_native,
    "jax": _jax_native,
}


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
    1e-8, Keras 1e-7, optax 1e-8 inside).  NumPy has no optimizer of its own:
    ``ValueError``.
    """
    ops = get_ops(backend)
    if ops.NAME not in NATIVE_TRAINERS:
        raise ValueError(
            f"{ops.NAME} has no RMSProp of its own; native runs exist for {', '.join(NATIVE_TRAINERS)}"
        )
    order = batch_order(len(labels), batch_size, epochs, seed)
    X_all, y_all, batches = _tensors(ops, features, labels, order, "float32")
    w0, b0 = (a.astype(np.float32) for a in initial_weights(seed, features.shape[1]))
    trainer = NATIVE_TRAINERS[ops.NAME](ops, w0, b0, X_all, y_all, lr, decay)
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
