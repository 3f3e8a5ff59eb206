"""TensorFlow's variants for ``benchmarks.step``: Keras's RMSprop (eager, XLA) against polyprop's.

The hook and its arguments are described in :mod:`polyprop.backends.numpy.bench`.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

import polyprop


def variants(xs: list[Any], gs: list[Any], bench: Any) -> list[Any]:
    """Keras's RMSprop (eager, XLA), then polyprop's drop-in (eager, XLA) and fast_step."""
    import keras

    from . import RMSprop  # Keras's drop-in, imported on first use

    lr, decay, eps = bench.LR, bench.DECAY, bench.EPS
    if bench.THREADS:
        try:  # only possible before TensorFlow's runtime starts (the first case)
            tf.config.threading.set_intra_op_parallelism_threads(bench.THREADS)
            tf.config.threading.set_inter_op_parallelism_threads(bench.THREADS)
        except RuntimeError:
            pass

    def keras_variant(name: str, role: str, cls: Any, compiled: bool, versus: str | None = None) -> Any:
        variables = [keras.Variable(x.copy(), dtype=str(x.dtype)) for x in xs]
        grads = [tf.constant(g) for g in gs]
        optimizer = cls(learning_rate=lr, rho=decay, epsilon=eps)
        optimizer.build(variables)

        def apply() -> None:
            optimizer.apply_gradients(zip(grads, variables))

        run = tf.function(apply, jit_compile=True) if compiled else apply
        return bench.Variant(name, role, run, versus=versus)

    native_cls = keras.optimizers.RMSprop
    ours_cls = RMSprop
    return [
        keras_variant("keras RMSprop eager", "native", native_cls, False),
        keras_variant("keras RMSprop tf.function(jit_compile)", "native", native_cls, True),
        keras_variant("polyprop RMSprop eager", "polyprop", ours_cls, False, "keras RMSprop eager"),
        keras_variant(
            "polyprop RMSprop tf.function(jit_compile)", "polyprop", ours_cls, True,
            "keras RMSprop tf.function(jit_compile)",
        ),
        bench.fast_variant(
            "polyprop.fast_step (XLA, variables)", polyprop.presets.keras(learning_rate=lr, rho=decay, epsilon=eps),
            xs, gs, lambda a: tf.Variable(a), convert_grad=tf.constant, versus="keras RMSprop tf.function(jit_compile)",
        ),
    ]
