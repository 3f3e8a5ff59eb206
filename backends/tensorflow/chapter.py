"""TensorFlow's hooks for the chapter (:mod:`polyprop.chapter`): ``tf.GradientTape`` and Keras's RMSprop.

The hooks and what they return are listed in :mod:`polyprop.backends.numpy.chapter`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf


def airfoil_model(ops: Any, X_all: Any, y_all: Any) -> tuple[Any, Any]:
    """``tf.GradientTape`` over the minibatch loss, in a ``tf.function`` traced once per run."""

    def loss(w: Any, b: Any, X: Any, y: Any) -> Any:
        return tf.reduce_mean(tf.square(tf.matmul(X, w) + b - y) / 2)

    def gradients(params: list[Any], X: Any, y: Any) -> list[Any]:
        with tf.GradientTape() as tape:
            tape.watch(params)
            value = loss(params[0], params[1], X, y)
        return list(tape.gradient(value, params))

    return tf.function(gradients), lambda params: float(loss(params[0], params[1], X_all, y_all))


def airfoil_native(
    ops: Any, w0: np.ndarray, b0: np.ndarray, X_all: Any, y_all: Any, lr: float, decay: float
) -> tuple[Any, Any]:
    """``keras.layers.Dense(1)`` + ``keras.optimizers.RMSprop(lr, rho=decay)`` in a GradientTape loop."""
    import keras

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

    def train_batch(X: Any, y: Any) -> None:
        with tf.GradientTape() as tape:
            value = loss(y, layer(X))
        grads = tape.gradient(value, layer.trainable_variables)
        optimizer.apply_gradients(zip(grads, layer.trainable_variables))

    # tf.function: traced once per run; eager Keras steps cost ~10x more.
    return tf.function(train_batch), lambda: float(loss(y_all, layer(X_all))) / 2


def fashion_model(ops: Any) -> tuple[Any, Any]:
    """``tf.GradientTape`` over the mean cross-entropy (``tf.nn.log_softmax``)."""

    def logits(params: Sequence[tf.Tensor], X: tf.Tensor) -> tf.Tensor:
        return tf.matmul(X, params[0]) + params[1]

    def loss_and_grads(params: Sequence[tf.Tensor], X: tf.Tensor, Y: tf.Tensor) -> tuple[float, list[tf.Tensor]]:
        params = list(params)
        with tf.GradientTape() as tape:
            tape.watch(params)
            loss = -tf.reduce_mean(tf.reduce_sum(Y * tf.nn.log_softmax(logits(params, X), axis=1), axis=1))
        return float(loss.numpy()), tape.gradient(loss, params)

    return loss_and_grads, logits
