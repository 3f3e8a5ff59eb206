"""Presets: each framework's own RMSProp as an :class:`RMSPropConfig`, in that framework's names.

``polyprop.presets.torch(lr=0.01, alpha=0.9)`` is the config whose trajectory is
torch.optim.RMSprop's with those arguments, and likewise for the others.  The
field values follow ../shared/NATIVE_RMSPROP.md, read from each framework's source:

=============  ==========  =============  =================  ==============  ==========================
preset         eps         lr & momentum  weight decay       accumulator 0   hyperparameters
=============  ==========  =============  =================  ==============  ==========================
``torch``      outside     lr outside     coupled (L2)       0               as given
``keras``      inside      lr inside      decoupled          0               learning rate as float32
``tf1``        inside      lr inside      none               1               all rounded to float32
``mxnet``      inside      lr inside      coupled (L2)       0               all rounded to float32
``optax``      inside [*]  lr inside      none (chain it)    initial_scale   as given
``d2l``        inside      none           none               0               eps = 1e-6
=============  ==========  =============  =================  ==============  ==========================

[*] ``eps_in_sqrt=True`` by default, as in Optax.  Gradient clipping and
rescaling (Keras ``clipnorm``, MXNet ``clip_gradient``/``rescale_grad``) act on the
gradient before the optimizer and are done by the drop-in front ends, not the config.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .config import Hyper, RMSPropConfig, real_value


def _f32(value: Any) -> Any:
    """``value`` rounded to the nearest float32, as a Python float (no NumPy needed).

    Anything but a concrete real number (a traced value, a wrong type) is returned
    as it is, for RMSPropConfig to use or refuse by name.
    """
    import struct

    number = real_value(value)
    if number is None:
        return value
    return float(struct.unpack("f", struct.pack("f", number))[0])


def torch(
    lr: Hyper = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
    maximize: bool = False,
) -> RMSPropConfig:
    """``torch.optim.RMSprop``: ``x -= lr * b``, ``b = momentum * b + g / (sqrt(v) + eps)``."""
    return RMSPropConfig(
        learning_rate=lr,
        decay=alpha,
        eps=eps,
        eps_in_sqrt=False,
        weight_decay=weight_decay,
        momentum=momentum,
        lr_inside_momentum=False,
        centered=centered,
        maximize=maximize,
    )


def keras(
    learning_rate: Hyper = 0.001,
    rho: float = 0.9,
    momentum: float = 0.0,
    epsilon: float = 1e-7,
    centered: bool = False,
    weight_decay: float | None = None,
) -> RMSPropConfig:
    """``keras.optimizers.RMSprop`` (Keras 3): ``m = momentum * m + lr * g / sqrt(v + eps)``.

    Keras holds the learning rate in a float32 variable whatever the weights' dtype,
    so a constant learning rate is rounded to float32 here too.
    """
    return RMSPropConfig(
        learning_rate=learning_rate if callable(learning_rate) else _f32(learning_rate),
        decay=rho,
        eps=epsilon,
        eps_in_sqrt=True,
        momentum=momentum,
        lr_inside_momentum=True,
        centered=centered,
        weight_decay=weight_decay or 0.0,
        decoupled_weight_decay=True,
        lr_before_divide=True,  # Keras: increment = (lr * g) / sqrt(v + eps)
    )


def tf1(
    learning_rate: float,
    decay: float = 0.9,
    momentum: float = 0.0,
    epsilon: float = 1e-10,
    centered: bool = False,
) -> RMSPropConfig:
    """``tf.compat.v1.train.RMSPropOptimizer``: the accumulator starts at 1, scalars are float32."""
    return RMSPropConfig(
        learning_rate=_f32(learning_rate),
        decay=_f32(decay),
        eps=_f32(epsilon),
        eps_in_sqrt=True,
        initial_scale=1.0,
        momentum=_f32(momentum),
        lr_inside_momentum=True,
        centered=centered,
    )


def mxnet(
    learning_rate: float = 0.001,
    gamma1: float = 0.9,
    gamma2: float = 0.9,
    epsilon: float = 1e-8,
    centered: bool = False,
    wd: float = 0.0,
) -> RMSPropConfig:
    """``mx.optimizer.RMSProp``: every scalar is a C++ float; momentum ``gamma2`` only when centered."""
    return RMSPropConfig(
        learning_rate=_f32(learning_rate),
        decay=_f32(gamma1),
        eps=_f32(epsilon),
        eps_in_sqrt=True,
        centered=centered,
        momentum=_f32(gamma2) if centered else 0.0,
        lr_inside_momentum=True,
        weight_decay=_f32(wd),
        # MXNet's kernels round in their own order: rmsprop_update as the neutral form,
        # rmspropalex_update (centered) ((1 - gamma1) * g) * g and (lr * g) / den.
        weight_before_square=centered,
        lr_before_divide=centered,
    )


def optax(
    learning_rate: Hyper,
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: float | None = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> RMSPropConfig:
    """``optax.rmsprop``: ``t = u + momentum * t`` with ``u = -lr * g / sqrt(nu + eps)``."""
    return RMSPropConfig(
        learning_rate=learning_rate,
        decay=decay,
        eps=eps,
        eps_in_sqrt=eps_in_sqrt,
        initial_scale=initial_scale,
        centered=centered,
        momentum=0.0 if momentum is None else momentum,  # not `or`: a traced momentum has no truth value
        lr_inside_momentum=True,
        nesterov=nesterov,
        bias_correction=bias_correction,
    )


def d2l(eta: float, gamma: float) -> RMSPropConfig:
    """D2L's ``rmsprop_2d`` / ``rmsprop``: ``s = gamma s + (1 - gamma) g^2``, ``x -= eta g / sqrt(s + 1e-6)``."""
    return RMSPropConfig(learning_rate=eta, decay=gamma, eps=1e-6, eps_in_sqrt=True)


PRESETS: dict[str, Callable[..., RMSPropConfig]] = {
    "torch": torch,
    "keras": keras,
    "tf1": tf1,
    "mxnet": mxnet,
    "optax": optax,
    "d2l": d2l,
}
"""Every preset by name."""

__all__ = ["PRESETS", "d2l", "keras", "mxnet", "optax", "tf1", "torch"]
