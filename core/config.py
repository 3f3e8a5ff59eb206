"""The RMSProp family's hyperparameters: one frozen config, each convention a named field."""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from collections.abc import Callable, Mapping
from typing import Any

from .nonfinite import POLICIES

Schedule = Callable[[int], float]
"""A hyperparameter as a function of the step count (0 for the first step)."""

Schedulable = float | Schedule
"""A value of a field in :data:`SCHEDULABLE`: a number, or a schedule of the step count."""

Names = tuple[tuple[str, str], ...]
"""``(field, user's name)`` pairs: ``(("decay", "alpha"),)`` makes errors say ``alpha``."""

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
    of any framework (kept as it is); its value is range-checked here, and a
    0-d ``learning_rate`` or ``decay`` again at every step (it may be changed in
    place).  A schedule's value is checked at every step (see
    :func:`polyprop.rmsprop.hyperparameters`).  A traced value (under
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
            values, so they need concrete tensors (not inside ``jax.jit``); see
            :mod:`polyprop.nonfinite`.
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
        names: the user's own names for fields, as ``(field, name)`` pairs (any
            iterable of pairs or a mapping, stored as a tuple of pairs): every
            error about a field names it so, e.g. ``alpha must be in [0, 1), got
            1.5 (alpha is polyprop's decay)``.  The presets pass their
            framework's names.  Not part of equality, hash or repr: a preset's
            config equals the plain one.
    """

    learning_rate: Schedulable = 0.01
    decay: Schedulable = 0.9
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
    names: Names = dataclasses.field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", _normalised_names(self.names))
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
                raise TypeError(
                    f"{user_name(name, self.names)} must be True or False, got {shown(value)}{alias(name, self.names)}"
                )
        for name in RANGES:
            value = getattr(self, name)
            if name in SCHEDULABLE and callable(value):
                continue
            number = check_value(name, value, self.names, self.allow_unit_decay)
            if isinstance(value, numbers.Real):  # np.float32(0.9) -> 0.899999976..., exactly its value
                object.__setattr__(self, name, number)
        if self.nonfinite not in POLICIES:
            raise ValueError(f"nonfinite must be one of {', '.join(map(repr, POLICIES))}, got {self.nonfinite!r}")
        if self.state_dtype is not None and self.state_dtype not in STATE_DTYPES:
            raise ValueError(
                f"state_dtype must be None or one of {', '.join(map(repr, STATE_DTYPES))}, got {self.state_dtype!r}"
            )
        if self.nesterov and not is_traced(self.momentum) and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum in (0, 1), got momentum=0")

    def replace(self, **changes: object) -> RMSPropConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class Interval:
    """The real numbers from ``low`` to ``high``, each end closed or open; ``str`` gives ``[0, 1)``."""

    low: float
    high: float = math.inf
    low_open: bool = False
    high_open: bool = True

    def __str__(self) -> str:
        return f"{'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"

    def __contains__(self, number: float) -> bool:
        """Whether ``number`` lies in the interval; NaN never does."""
        above_low = number > self.low if self.low_open else number >= self.low
        below_high = number < self.high if self.high_open else number <= self.high
        return above_low and below_high


RANGES: dict[str, Interval] = {
    "learning_rate": Interval(0.0),
    "decay": Interval(0.0, 1.0),
    "eps": Interval(0.0, low_open=True),
    "initial_scale": Interval(0.0),
    "momentum": Interval(0.0, 1.0),
    "weight_decay": Interval(0.0),
}
"""Every numeric field's allowed values (decay: [0, 1] with ``allow_unit_decay``)."""

SCHEDULABLE = ("learning_rate", "decay")
"""The fields that may be a schedule ``count -> value``."""

UNIT_DECAY = Interval(0.0, 1.0, high_open=False)


def check_value(
    field: str, value: object, names: Names = (), allow_unit_decay: bool = False, given: str | None = None
) -> Any:
    """``value`` as a float if it is a concrete number in ``field``'s range (:data:`RANGES`).

    A traced value (:func:`is_traced`) has no value yet: it is returned as it is,
    unchecked, as the frameworks themselves use it.  Anything else raises
    TypeError (not a real number) or ValueError (out of range, NaN) naming the
    field as the user wrote it (``names``), the range, and the value as given
    (``given``: its text, else its repr).
    """
    if is_traced(value):
        return value
    interval = UNIT_DECAY if field == "decay" and allow_unit_decay else RANGES[field]
    label, note = user_name(field, names), alias(field, names)
    text = shown(value) if given is None else given
    number = real_value(value)
    if number is None:
        raise TypeError(f"{label} must be a real number in {interval} (a number or a 0-d array), got {text}{note}")
    if number not in interval:
        hint = ""
        if field == "decay" and number == 1:  # reached only without allow_unit_decay
            experiment = (
                "on the preset's config, .replace(decay=1.0, allow_unit_decay=True) runs it as an experiment"
                if names
                else "pass allow_unit_decay=True to run it as an experiment"
            )
            hint = f"; decay = 1 freezes the accumulator at initial_scale, {experiment}"
        raise ValueError(f"{label} must be in {interval}, got {text}{note}{hint}")
    return number


def check_learning_rate(value: object, names: Names = ()) -> Any:
    """``value`` as a float if it is a concrete learning rate >= 0; a traced value as it is (see check_value)."""
    return check_value("learning_rate", value, names)


def check_decay(value: object, allow_unit_decay: bool = False, names: Names = ()) -> Any:
    """``value`` as a float if it is a concrete decay in [0, 1) (or [0, 1] when allowed); a traced value as it is."""
    return check_value("decay", value, names, allow_unit_decay)


def user_name(field: str, names: Names) -> str:
    """The user's name for ``field`` (``names``' entry for it, else the field's own name)."""
    for name, user in names:
        if name == field:
            return user
    return field


def alias(field: str, names: Names) -> str:
    """`` (alpha is polyprop's decay)`` when the user's name differs from the field's, else ``""``."""
    user = user_name(field, names)
    return "" if user == field else f" ({user} is polyprop's {field})"


def shown(value: object) -> str:
    """``repr(value)``, on one line (a framework's repr may span several)."""
    text = repr(value)
    return " ".join(text.split()) if "\n" in text else text


def _normalised_names(names: object) -> Names:
    """``names`` (pairs, or a mapping) as a tuple of ``(field, user's name)`` string pairs; an error names a bad one."""
    if isinstance(names, Mapping):
        names = names.items()
    try:
        pairs = tuple((field, user) for field, user in names)  # type: ignore[attr-defined]
    except (TypeError, ValueError):  # not iterable, or an item that is no pair
        raise TypeError(f"names must be (field, name) pairs, got {names!r}") from None
    fields = [f.name for f in dataclasses.fields(RMSPropConfig) if f.name != "names"]
    seen: set[str] = set()
    for field, user in pairs:
        if field not in fields:
            raise ValueError(f"names: {field!r} is not a field of RMSPropConfig ({', '.join(fields)})")
        if not isinstance(user, str) or not user:
            raise TypeError(f"names: the name for {field} must be a non-empty string, got {user!r}")
        if field in seen:
            raise ValueError(f"names: {field} is named twice")
        seen.add(field)
    return pairs


def real_value(value: object) -> float | None:
    """The value of a concrete real scalar as a float, else None (a bool, a tracer, a string, a vector...).

    A real scalar is a Python or NumPy number that is not a bool, or a 0-d array
    (NumPy, JAX, PyTorch, TensorFlow, MXNet, read through ``asnumpy`` for MXNet's
    NDArray) of a real dtype, or of a complex one
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
    asnumpy = getattr(value, "asnumpy", None)  # MXNet's NDArray has no __complex__
    try:
        number = complex(asnumpy() if callable(asnumpy) else value)  # type: ignore[arg-type]
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
"""A dtype whose text names a number type (float16..64, bfloat16, (u)int8..64, complex64/128), in any spelling."""

