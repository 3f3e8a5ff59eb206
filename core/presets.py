"""Presets: each framework's own RMSProp as an :class:`RMSPropConfig`, in that framework's names.

``polyprop.presets.torch(lr=0.01, alpha=0.9)`` is the config whose trajectory is
torch.optim.RMSprop's with those arguments, and likewise for the others.  The
field values follow docs/native.md, read from each framework's source:

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

Each config carries its framework's names for the fields (``names``): errors say
``alpha must be in [0, 1), got 1.5 (alpha is polyprop's decay)``.  A value rounded
to float32 is checked as given and again once rounded: ``mxnet(epsilon=1e-50)`` is
refused as ``epsilon ... got 1e-50, which rounds to 0.0 in float32``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .config import Names, RMSPropConfig, Schedulable, check_value, shown

_FLOAT32_OVERFLOW = 2.0**128 - 2.0**103
"""Halfway between float32's largest finite value (2**128 - 2**104) and 2**128: from here on float32 rounds to inf."""


def _f32(number: float) -> float:
    """``number`` rounded to the nearest float32, as a Python float (no NumPy needed): +-inf beyond float32's range."""
    import math
    import struct

    if abs(number) >= _FLOAT32_OVERFLOW:  # as numpy.float32 rounds it (struct may raise OverflowError instead)
        return math.copysign(math.inf, number)
    return float(struct.unpack("f", struct.pack("f", number))[0])


def _float32(field: str, value: Any, names: Names) -> Any:
    """``value`` checked as given, then rounded to float32 and checked again; errors name it as the user did.

    A value in range as given that rounds out of it (``1e-50 -> 0.0``, ``0.99999999 ->
    1.0``, ``1e39 -> inf``) is refused, naming the value as given and what it rounds
    to.  A traced value is returned as it is, unrounded and unchecked.
    """
    number = check_value(field, value, names)
    if type(number) is not float:  # a traced value: check_value returns it as it is
        return number
    rounded = _f32(number)
    return check_value(field, rounded, names, given=f"{shown(value)}, which rounds to {rounded!r} in float32")


TORCH_NAMES: Names = (
    ("learning_rate", "lr"), ("decay", "alpha"), ("eps", "eps"), ("weight_decay", "weight_decay"),
    ("momentum", "momentum"), ("centered", "centered"), ("maximize", "maximize"),
)
KERAS_NAMES: Names = (
    ("learning_rate", "learning_rate"), ("decay", "rho"), ("momentum", "momentum"), ("eps", "epsilon"),
    ("centered", "centered"), ("weight_decay", "weight_decay"),
)
TF1_NAMES: Names = (
    ("learning_rate", "learning_rate"), ("decay", "decay"), ("momentum", "momentum"), ("eps", "epsilon"),
    ("centered", "centered"),
)
MXNET_NAMES: Names = (
    ("learning_rate", "learning_rate"), ("decay", "gamma1"), ("momentum", "gamma2"), ("eps", "epsilon"),
    ("centered", "centered"), ("weight_decay", "wd"),
)
OPTAX_NAMES: Names = (
    ("learning_rate", "learning_rate"), ("decay", "decay"), ("eps", "eps"), ("initial_scale", "initial_scale"),
    ("eps_in_sqrt", "eps_in_sqrt"), ("centered", "centered"), ("momentum", "momentum"), ("nesterov", "nesterov"),
    ("bias_correction", "bias_correction"),
)
D2L_NAMES: Names = (("learning_rate", "eta"), ("decay", "gamma"))
"""Each preset's arguments as ``(polyprop's field, the framework's name)``: the config's ``names``."""


def torch(
    lr: Schedulable = 1e-2,
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
        names=TORCH_NAMES,
    )


def keras(
    learning_rate: Schedulable = 0.001,
    rho: float = 0.9,
    momentum: float = 0.0,
    epsilon: float = 1e-7,
    centered: bool = False,
    weight_decay: float | None = None,
) -> RMSPropConfig:
    """``keras.optimizers.RMSprop`` (Keras 3): ``m = momentum * m + lr * g / sqrt(v + eps)``.

    Keras holds the learning rate in a float32 variable whatever the weights' dtype,
    so a constant learning rate is rounded to float32 here too (checked before and after).
    """
    return RMSPropConfig(
        learning_rate=(
            learning_rate if callable(learning_rate) else _float32("learning_rate", learning_rate, KERAS_NAMES)
        ),
        decay=rho,
        eps=epsilon,
        eps_in_sqrt=True,
        momentum=momentum,
        lr_inside_momentum=True,
        centered=centered,
        weight_decay=0.0 if weight_decay is None else weight_decay,
        decoupled_weight_decay=True,
        lr_before_divide=True,  # Keras: increment = (lr * g) / sqrt(v + eps)
        names=KERAS_NAMES,
    )


def tf1(
    learning_rate: float,
    decay: float = 0.9,
    momentum: float = 0.0,
    epsilon: float = 1e-10,
    centered: bool = False,
) -> RMSPropConfig:
    """``tf.compat.v1.train.RMSPropOptimizer``: the accumulator starts at 1; scalars float32 (checked on both sides)."""
    return RMSPropConfig(
        learning_rate=_float32("learning_rate", learning_rate, TF1_NAMES),
        decay=_float32("decay", decay, TF1_NAMES),
        eps=_float32("eps", epsilon, TF1_NAMES),
        eps_in_sqrt=True,
        initial_scale=1.0,
        momentum=_float32("momentum", momentum, TF1_NAMES),
        lr_inside_momentum=True,
        centered=centered,
        names=TF1_NAMES,
    )


def mxnet(
    learning_rate: float = 0.001,
    gamma1: float = 0.9,
    gamma2: float = 0.9,
    epsilon: float = 1e-8,
    centered: bool = False,
    wd: float = 0.0,
) -> RMSPropConfig:
    """``mx.optimizer.RMSProp``: every scalar is a C++ float (checked before and after rounding); momentum
    ``gamma2`` only when centered (else unused, as in MXNet)."""
    return RMSPropConfig(
        learning_rate=_float32("learning_rate", learning_rate, MXNET_NAMES),
        decay=_float32("decay", gamma1, MXNET_NAMES),
        eps=_float32("eps", epsilon, MXNET_NAMES),
        eps_in_sqrt=True,
        centered=centered,
        momentum=_float32("momentum", gamma2, MXNET_NAMES) if centered else 0.0,
        lr_inside_momentum=True,
        weight_decay=_float32("weight_decay", wd, MXNET_NAMES),
        # MXNet's kernels round in their own order: rmsprop_update as the neutral form,
        # rmspropalex_update (centered) ((1 - gamma1) * g) * g and (lr * g) / den.
        weight_before_square=centered,
        lr_before_divide=centered,
        names=MXNET_NAMES,
    )


def optax(
    learning_rate: Schedulable,
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
        names=OPTAX_NAMES,
    )


def d2l(eta: float, gamma: float) -> RMSPropConfig:
    """D2L's ``rmsprop_2d`` / ``rmsprop``: ``s = gamma s + (1 - gamma) g^2``, ``x -= eta g / sqrt(s + 1e-6)``."""
    return RMSPropConfig(learning_rate=eta, decay=gamma, eps=1e-6, eps_in_sqrt=True, names=D2L_NAMES)


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
