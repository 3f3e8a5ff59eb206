"""The RMSProp family's hyperparameters: one frozen config, each convention a named field."""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from collections.abc import Callable
from typing import Any

Schedule = Callable[[int], float]
"""A hyperparameter as a function of the step count (0 for the first step)."""

Hyper = float | Schedule

NONFINITE = ("propagate", "skip", "raise")
STATE_DTYPES = ("float16", "bfloat16", "float32", "float64")


@dataclasses.dataclass(frozen=True)
class RMSPropConfig:
    """Hyperparameters of RMSProp and its variants (defaults: plain RMSProp as in optax).

    One step, with ``t`` the 1-based step number and ``lr``, ``decay`` the values
    of the (possibly scheduled) hyperparameters at count ``t - 1``::

        g  = -grad if maximize else grad
        g  = g + weight_decay * x                         (coupled, the default)
        x  = x - x * weight_decay * lr                    (decoupled_weight_decay=True)
        nu = decay * nu + (1 - decay) * g**2              (nu starts at initial_scale)
        mu = decay * mu + (1 - decay) * g                 (centered=True; Graves 2013)
        nu_hat, mu_hat = nu / (1 - decay**t), mu / (...)  (bias_correction=True)
        var = nu_hat - mu_hat**2 if centered else nu_hat
        u  = g / sqrt(var + eps)       if eps_in_sqrt else  g / (sqrt(var) + eps)
        no momentum:                    x = x - lr * u
        lr_inside_momentum=True:        m = momentum * m + lr * u;  x = x - m
        lr_inside_momentum=False:       m = momentum * m + u;       x = x - lr * m
        nesterov=True replaces the final m by (u-term + momentum * m) in both forms.

    A number may be a Python or NumPy number (stored as a float) or a 0-d array
    (kept as it is); its value is range-checked.  A traced value (under
    ``jax.jit``, ``optax.inject_hyperparams``, ``tf.function``: see
    :func:`is_traced`) is kept and used unchecked, as the frameworks do.  The
    flags take ``bool`` or ``numpy.bool_`` (stored as ``bool``).

    Attributes:
        learning_rate: step size ``lr`` >= 0, a float or a schedule ``count -> float``.
        decay: the accumulator's leak ``decay`` in [0, 1), a float or a schedule.
            Called ``alpha`` by PyTorch, ``rho`` by Keras, ``gamma1`` by MXNet.
        eps: the denominator's guard, > 0.
        eps_in_sqrt: ``sqrt(var + eps)`` (True: Keras, TF, MXNet, Optax, D2L) or
            ``sqrt(var) + eps`` (False: PyTorch).
        initial_scale: the accumulator's start value, >= 0 (0 almost everywhere, 1 in TF1).
        centered: subtract the squared mean gradient from the accumulator (Graves 2013).
        momentum: heavy-ball coefficient in [0, 1); 0 keeps no momentum buffer.
        lr_inside_momentum: where ``lr`` sits relative to the momentum buffer.
            True for Keras, the TF kernel, MXNet and Optax; False for PyTorch.  The
            two agree for a constant learning rate and differ under a schedule.
        nesterov: Nesterov momentum (Optax's ``nesterov=True``); needs momentum > 0.
        weight_decay: weight-decay coefficient >= 0.
        decoupled_weight_decay: False adds ``weight_decay * x`` to the gradient
            (L2, PyTorch and MXNet); True shrinks ``x`` by ``lr * weight_decay * x``
            before the step (Keras).
        maximize: ascend the objective instead of descending it.
        bias_correction: divide the accumulators by ``1 - decay**t`` (Optax's option).
            With a decay schedule the current decay value is used.  Beware
            centered + bias_correction with initial_scale 0: the first step's
            variance is g^2 - g^2 = 0, so that step is lr * g / sqrt(eps) (as in Optax).
        allow_unit_decay: accept decay = 1, for experiments only (the accumulator
            then never moves from ``initial_scale``).
        nonfinite: what a NaN or Inf in a gradient does: ``"propagate"`` (into the
            parameters and state, as every native optimizer does), ``"skip"`` (the
            step is dropped, parameters and state stay exactly as they were, and
            ``state.skipped`` counts it) or ``"raise"`` (FloatingPointError naming the
            first offending gradient).  ``"skip"`` and ``"raise"`` read the gradients'
            values, so they need concrete tensors (not inside ``jax.jit``).
        weight_before_square: compute the new squared-gradient term as
            ``((1 - decay) * g) * g`` instead of ``(1 - decay) * (g * g)`` (MXNet's
            centered kernel).  The two are equal in exact arithmetic; the flag only
            chooses the rounding order, so a preset reproduces its native to the bit.
        lr_before_divide: compute the learning-rate term as ``(lr * g) / den``
            instead of ``lr * (g / den)`` (Keras, MXNet's centered kernel); again
            only the rounding order.  (It does not apply with
            ``lr_inside_momentum=False``, where ``lr`` multiplies the buffer.)
        state_dtype: keep the accumulators and momentum in this dtype (e.g.
            ``"float32"`` for float16/bfloat16 parameters) and compute the update in
            it; None (the default) keeps them in the parameter's dtype, as the
            native optimizers do.
    """

    learning_rate: Hyper = 0.01
    decay: Hyper = 0.9
    eps: float = 1e-8
    eps_in_sqrt: bool = True
    initial_scale: float = 0.0
    centered: bool = False
    momentum: float = 0.0
    lr_inside_momentum: bool = True
    nesterov: bool = False
    weight_decay: float = 0.0
    decoupled_weight_decay: bool = False
    maximize: bool = False
    bias_correction: bool = False
    allow_unit_decay: bool = False
    nonfinite: str = "propagate"
    state_dtype: str | None = None
    weight_before_square: bool = False
    lr_before_divide: bool = False

    def __post_init__(self) -> None:
        for name in (
            "eps_in_sqrt",
            "centered",
            "lr_inside_momentum",
            "nesterov",
            "decoupled_weight_decay",
            "maximize",
            "bias_correction",
            "allow_unit_decay",
            "weight_before_square",
            "lr_before_divide",
        ):
            value = getattr(self, name)
            if _is_numpy_bool(value):
                object.__setattr__(self, name, bool(value))
            elif not isinstance(value, bool):
                raise TypeError(f"{name} must be True or False, got {value!r}")
        if not callable(self.learning_rate):
            check_learning_rate(self.learning_rate)
        if not callable(self.decay):
            check_decay(self.decay, self.allow_unit_decay)
        _check_range("eps", self.eps, low=0.0, low_open=True)
        _check_range("initial_scale", self.initial_scale, low=0.0)
        _check_range("momentum", self.momentum, low=0.0, high=1.0)
        _check_range("weight_decay", self.weight_decay, low=0.0)
        for name in ("learning_rate", "decay", "eps", "initial_scale", "momentum", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, numbers.Real):  # np.float32(0.9) -> 0.899999976..., exactly its value
                object.__setattr__(self, name, float(value))
        if self.nonfinite not in NONFINITE:
            raise ValueError(f"nonfinite must be one of {', '.join(map(repr, NONFINITE))}, got {self.nonfinite!r}")
        if self.state_dtype is not None and self.state_dtype not in STATE_DTYPES:
            raise ValueError(
                f"state_dtype must be None or one of {', '.join(map(repr, STATE_DTYPES))}, got {self.state_dtype!r}"
            )
        if self.nesterov and not is_traced(self.momentum) and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum in (0, 1), got momentum=0")

    def replace(self, **changes: object) -> RMSPropConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def check_learning_rate(value: object) -> Any:
    """``value`` as a float if it is a concrete learning rate >= 0; a traced value as it is (see _check_range)."""
    return _check_range("learning_rate", value, low=0.0)


def check_decay(value: object, allow_unit_decay: bool = False) -> Any:
    """``value`` as a float if it is a concrete decay in [0, 1) (or [0, 1] when allowed); a traced value as it is."""
    try:
        return _check_range("decay", value, low=0.0, high=1.0, high_open=not allow_unit_decay)
    except ValueError as error:
        if not allow_unit_decay and value == 1:
            raise ValueError(
                f"{error}; decay = 1 freezes the accumulator at initial_scale, "
                "pass allow_unit_decay=True to run it as an experiment"
            ) from None
        raise


def _check_range(
    name: str,
    value: object,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = True,
) -> Any:
    """``value`` as a float if it is a concrete real number in the interval, else an error naming it.

    Concrete: a Python or NumPy real (not a bool) or a 0-d real array of any
    framework, whose value is read.  A traced value (:func:`is_traced`: under
    ``jax.jit``, ``optax.inject_hyperparams``, ``tf.function``) has no value yet:
    it is returned as it is, unchecked, as the frameworks themselves use it.
    """
    if is_traced(value):
        return value
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    number = real_value(value)
    if number is None:
        raise TypeError(f"{name} must be a real number in {interval} (a number or a 0-d array), got {value!r}")
    below = number <= low if low_open else number < low
    above = number >= high if high_open else number > high
    if math.isnan(number) or below or above:
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return number


def real_value(value: object) -> float | None:
    """The value of a concrete real scalar as a float, else None (a bool, a tracer, a string, a vector...).

    A real scalar is a Python or NumPy number that is not a bool, or a 0-d array
    (NumPy, JAX, PyTorch, TensorFlow, MXNet) of a real dtype, or of a complex one
    with imaginary part 0 (``optax.inject_hyperparams`` casts float hyperparameters
    to the parameters' dtype, complex64 for complex parameters).
    """
    if isinstance(value, bool) or _is_numpy_bool(value) or is_traced(value):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    try:
        shape, dtype = tuple(getattr(value, "shape")), str(getattr(value, "dtype"))  # noqa: B009
    except (AttributeError, TypeError, ValueError):  # not an array, or a shape not known yet
        return None
    if shape != () or not _NUMBER_DTYPE.search(dtype):
        return None
    try:
        number = complex(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):  # a value that cannot be read now
        return None
    return number.real if number.imag == 0 else None


def is_traced(value: object) -> bool:
    """Whether ``value`` is symbolic (its value is not known yet): a JAX tracer or a TF graph tensor.

    Read from the names of its type and base classes (``jax...Tracer``,
    ``tensorflow...SymbolicTensor``), so no framework is imported.
    """
    for cls in type(value).__mro__:
        module = cls.__module__ or ""
        if (cls.__name__ == "Tracer" and module.startswith("jax")) or (
            cls.__name__ == "SymbolicTensor" and module.startswith("tensorflow")
        ):
            return True
    return False


def _is_numpy_bool(value: object) -> bool:
    """``numpy.True_`` and ``numpy.False_`` (numpy's bool scalar type is no subclass of ``bool``)."""
    return type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")


_NUMBER_DTYPE = re.compile(r"float|int|complex")
"""A dtype whose text names a number type (float16..64, bfloat16, (u)int8..64, complex64/128), in any framework's spelling."""

