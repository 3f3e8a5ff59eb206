"""MXNet adapter: legacy ``mx.nd`` NDArray ops (MXNet 1.9.1, on numpy 2).

Two MXNet quirks are handled here and nowhere else:

* MXNet 1.9.1 reads names that numpy 2 removed (``np.bool``, ``np.PZERO``,
  ``np.alltrue``, ...).  :func:`_restore_numpy_names` puts back only the missing
  ones before ``import mxnet``; it never replaces anything numpy defines.
* Legacy NDArrays of shape ``()`` fail in every operator unless NumPy shape
  semantics are on.  An op given a 0-d tensor runs inside
  ``mx.util.np_shape(True)``, which is restored when the op returns, so no
  global MXNet setting is changed.

Hyperparameter scalars are Python floats already rounded to the tensor's dtype:
MXNet's ``*_scalar`` operators then give the same bits as a 0-d tensor would.
"""

from __future__ import annotations

import functools
import math
import numbers
import sys
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from . import missing_framework

NAME = "mxnet"

_F = TypeVar("_F", bound=Callable[..., Any])


def _restore_numpy_names() -> None:
    """Give numpy 2 back the names MXNet 1.9.1 reads, only where they are missing."""

    def removed(name: str) -> Callable[..., Any]:
        def stub(*args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError(f"numpy.{name} was removed in numpy 2")

        return stub

    def sort_rows(a: Any) -> Any:
        return np.sort(a, axis=0)

    names: dict[str, Any] = {
        "bool": bool, "int": int, "float": float, "complex": complex, "object": object, "str": str,
        "PZERO": 0.0, "NZERO": -0.0, "PINF": math.inf, "NINF": -math.inf,
        "NAN": math.nan, "NaN": math.nan, "Inf": math.inf,
        "alltrue": np.all, "sometrue": np.any, "product": np.prod, "cumproduct": np.cumprod,
        "round_": np.round, "in1d": np.isin, "msort": sort_rows, "trapz": np.trapezoid,
    }
    names.update({name: removed(name) for name in ("mirr", "npv", "pmt", "ppmt", "pv", "rate")})
    with warnings.catch_warnings():
        # numpy 2 warns (FutureWarning/DeprecationWarning) when np.str etc. are probed.
        warnings.simplefilter("ignore")
        for name, value in names.items():
            if not hasattr(np, name):
                setattr(np, name, value)


_restore_numpy_names()
try:
    import mxnet as mx
except ImportError as error:  # pragma: no cover - exercised only without mxnet
    raise missing_framework("mxnet") from error


def _np_shape(op: _F) -> _F:
    """Run ``op`` with NumPy shape semantics when one of its arguments has shape () or no elements.

    (Legacy semantics read a 0 in a shape as "unknown": an empty NDArray fails in every operator.)
    """

    @functools.wraps(op)
    def wrapper(*args: Any) -> Any:
        if any(_needs_np_shape(getattr(arg, "shape", None)) for arg in args):
            with mx.util.np_shape(True):
                return op(*args)
        return op(*args)

    return wrapper  # type: ignore[return-value]


def _needs_np_shape(shape: Any) -> bool:
    """Shape ``()`` or a shape with a 0: legacy NDArray semantics cannot run an operator on it."""
    return shape is not None and (shape == () or 0 in shape)


def framework_version() -> str:
    return str(mx.__version__)


@_np_shape
def zeros_like(x: mx.nd.NDArray) -> mx.nd.NDArray:
    return mx.nd.zeros_like(x)


@_np_shape
def full_like(x: mx.nd.NDArray, value: float) -> mx.nd.NDArray:
    return mx.nd.full(x.shape, scalar(value, x), ctx=x.context, dtype=x.dtype)


def scalar(value: float, like: mx.nd.NDArray) -> float:
    return float(np.asarray(value, dtype=like.dtype))


@_np_shape
def add(a: Any, b: Any) -> mx.nd.NDArray:
    return a + b


@_np_shape
def sub(a: Any, b: Any) -> mx.nd.NDArray:
    return a - b


@_np_shape
def mul(a: Any, b: Any) -> mx.nd.NDArray:
    return a * b


@_np_shape
def div(a: Any, b: Any) -> mx.nd.NDArray:
    return a / b


@_np_shape
def sqrt(x: mx.nd.NDArray) -> mx.nd.NDArray:
    return mx.nd.sqrt(x)


@_np_shape
def square(x: mx.nd.NDArray) -> mx.nd.NDArray:
    return mx.nd.square(x)


@_np_shape
def cast(x: mx.nd.NDArray, dtype: str) -> mx.nd.NDArray:
    if dtype == "bfloat16":
        raise TypeError("MXNet 1.9.1 has no bfloat16 NDArray; use float16, float32 or float64")
    return x.astype(dtype)


@_np_shape
def to_numpy(x: mx.nd.NDArray) -> np.ndarray:
    return np.array(x.asnumpy(), copy=True).reshape(x.shape)


@_np_shape
def from_numpy(array: np.ndarray) -> mx.nd.NDArray:
    if array.dtype.name == "bfloat16":
        raise TypeError("MXNet 1.9.1 has no bfloat16 NDArray; use float16, float32 or float64")
    return mx.nd.array(array, dtype=array.dtype)


def memory_spans(xs: list[Any]) -> list[tuple[Any, int, int] | None]:
    """For polyprop.validation.check_memory: ``(context, start, end)``, the addresses of each NDArray's bytes.

    NDArrays are compact, and slicing (``a[1:3]``) or reshaping gives a view into the same
    memory: the data pointer (``MXNDArrayGetData``) and the size place it.  None for sparse
    storage and for arrays whose pointer MXNet does not give.
    """
    return [_data_span(x) for x in xs]


def _data_span(x: Any) -> tuple[Any, int, int] | None:
    import ctypes

    if not isinstance(x, mx.nd.NDArray) or x.stype != "default":
        return None
    x.wait_to_read()  # the engine may still be allocating or writing it on another thread
    pointer = ctypes.c_void_p()
    if mx.base._LIB.MXNDArrayGetData(x.handle, ctypes.byref(pointer)) != 0 or not pointer.value:
        return None
    start = pointer.value
    return (x.context.device_type, x.context.device_id), start, start + x.size * np.dtype(x.dtype).itemsize


# --------------------------------------------------------------------------------------
# Drop-in for mx.optimizer.RMSProp, driven by the neutral definition (polyprop.rmsprop).


class RMSProp(mx.optimizer.Optimizer):
    """``mx.optimizer.RMSProp`` (MXNet 1.9.1) with the same signature, state and semantics.

    Registered as ``'polyprop_rmsprop'``: ``gluon.Trainer(params, 'polyprop_rmsprop',
    {'learning_rate': 0.01, 'gamma1': 0.9})``.  Every argument of the native class and of
    ``mx.optimizer.Optimizer`` works as there (``rescale_grad``, ``param_idx2name``, ``wd``,
    ``clip_gradient``, ``learning_rate``, ``lr_scheduler``, ``sym``, ``begin_num_update``,
    ``multi_precision``, ``param_dict``; ``lr_mult``/``wd_mult``).  One step, as MXNet's kernels::

        g = rescale_grad * grad + wd * weight        (weight decay before clipping)
        g = clip(g, -clip_gradient, clip_gradient)   (when set and >= 0, as MXNet)
        weight = the step of polyprop.presets.mxnet  (centered: momentum gamma2)
        weight = clip(weight, -clip_weights, clip_weights)

    Every scalar is the number MXNet's kernel reads: ``str(value)`` through dmlc's C++
    float parser (:func:`_mx_float`).  The state is MXNet's, ``(n,)`` or ``(n, g, delta)``
    with ``delta = -momentum``, so ``save_states``/``load_states`` interchange with the
    native optimizer.  Unlike the native class, float64 weights work (the state takes the
    weight's dtype); float16 weights need ``multi_precision=True``, as with MXNet.
    Values RMSProp does not define (a decay outside [0, 1), ``epsilon <= 0``, a negative
    ``wd``, a non-finite number) are refused here, naming the argument; the learning rate
    of a step (``lr_scheduler``, ``lr_mult``) is checked at that step.
    """

    def __init__(
        self,
        learning_rate: float | None = 0.001,
        gamma1: float = 0.9,
        gamma2: float = 0.9,
        epsilon: float = 1e-8,
        centered: bool = False,
        clip_weights: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.gamma1, self.gamma2, self.epsilon = gamma1, gamma2, epsilon
        self.centered, self.clip_weights = centered, clip_weights
        _check_arguments(self)

    def create_state(self, index: int, weight: mx.nd.NDArray) -> Any:
        if weight.dtype == np.float16:
            raise TypeError(
                "float16 weights need multi_precision=True (float32 state and master weights), "
                "as with mx.optimizer.RMSProp, whose float32 state MXNet's kernel refuses beside float16"
            )

        @_np_shape
        def zeros(like: mx.nd.NDArray) -> mx.nd.NDArray:  # (an empty weight: under NumPy shape semantics)
            return mx.nd.zeros(like.shape, like.context, dtype=like.dtype, stype=like.stype)

        return (zeros(weight), zeros(weight), zeros(weight)) if self.centered else (zeros(weight),)

    def update(self, index: int, weight: mx.nd.NDArray, grad: mx.nd.NDArray, state: Any) -> None:
        self._update_count(index)
        where = f"the learning rate of parameter {index!r} (learning_rate, lr_scheduler, lr_mult)"
        try:
            config = _config(self, _read(where, self._get_lr(index), low=0.0))
        except (TypeError, ValueError) as error:  # (a value changed after the constructor, or a scheduler's)
            count = self._index_update_count[index] - 1
            raise type(error)(f"at step count {count}: {error}") from None
        _rmsprop_update(self, config, weight, grad, state, self._get_wd(index))


mx.optimizer.Optimizer.opt_registry["polyprop_rmsprop"] = RMSProp


def _rmsprop_update(
    opt: RMSProp, config: Any, weight: mx.nd.NDArray, grad: mx.nd.NDArray, state: Any, wd: float
) -> None:
    """One step of ``opt`` on one weight, in place, in MXNet's order (see RMSProp)."""
    from ..rmsprop import RMSPropState, step

    n, g_avg, delta = (_dense(leaf) for leaf in _state_leaves(state, config.centered))
    w = _dense(weight)

    def c(value: Any) -> float:
        return scalar(_mx_float(value), w)

    g = _clip(add(mul(c(opt.rescale_grad), _dense(grad)), mul(c(wd), w)), opt.clip_gradient)
    momentum = [mul(scalar(-1.0, w), delta)] if config.momentum > 0 else None
    flat = RMSPropState(0, [n], None if g_avg is None else [g_avg], momentum)
    (new_weight,), new = step([w], [g], flat, config, sys.modules[__name__])
    weight[:] = _clip(new_weight, opt.clip_weights)
    leaves = _state_leaves(state, config.centered)
    leaves[0][:] = new.nu[0]
    if config.centered:
        leaves[1][:] = new.mu[0]
        if config.momentum > 0:
            leaves[2][:] = mul(scalar(-1.0, w), new.momentum[0])
        else:  # gamma2 = 0: no momentum buffer, but MXNet's delta still holds the step -lr * u
            var = sub(new.nu[0], square(new.mu[0]))
            u = div(g, sqrt(add(var, scalar(config.eps, w))))
            leaves[2][:] = mul(scalar(-config.learning_rate, w), u)


def _state_leaves(state: Any, centered: bool) -> tuple[Any, Any, Any]:
    """``(n, g, delta)`` of MXNet's state layout (``g``, ``delta`` None when not centered)."""
    leaves = (state,) if isinstance(state, mx.nd.NDArray) else state  # a bare n: older files
    expected = 3 if centered else 1
    if not isinstance(leaves, (tuple, list)) or len(leaves) != expected:
        layout = "(n, g, delta)" if centered else "(n,)"
        found = f"{len(leaves)} arrays" if isinstance(leaves, (tuple, list)) else type(state).__name__
        raise ValueError(f"state must be MXNet's {layout} for centered={centered}, got {found}")
    return (leaves[0], leaves[1], leaves[2]) if centered else (leaves[0], None, None)


def _dense(x: Any) -> Any:
    """``x`` with default storage (MXNet's own kernel falls back to dense the same way)."""
    return x if x is None or x.stype == "default" else x.tostype("default")


@_np_shape
def _clip(x: mx.nd.NDArray, bound: Any) -> mx.nd.NDArray:
    """``clip(x, -bound, bound)`` as MXNet's kernels clip, or ``x`` where they do not.

    The native class passes a bound only when it is truthy, and the kernel clips only
    when the bound it reads is >= 0.  ``mx.nd.clip`` reads ``str(bound)`` with the same
    C++ float parser, so it clips at the very same number (NaN stays NaN, as there).
    """
    if not bound or _mx_float(bound) < 0:
        return x
    text = str(bound)
    return mx.nd.clip(x, "-" + text, text)


def _check_arguments(opt: RMSProp) -> None:
    """Refuse in the constructor, naming the argument, what RMSProp does not define."""
    if not isinstance(opt.centered, (bool, np.bool_)):
        raise TypeError(f"centered must be True or False, got {opt.centered!r}")
    _read("rescale_grad", opt.rescale_grad)
    _read("wd", opt.wd, low=0.0)
    for name in ("clip_gradient", "clip_weights"):
        if getattr(opt, name) is not None:
            _read(name, getattr(opt, name))
    lr = 0.0 if opt.lr is None else _read("learning_rate", opt.lr, low=0.0)
    _config(opt, lr)


def _config(opt: RMSProp, lr: float) -> Any:
    """:func:`polyprop.presets.mxnet` with ``opt``'s values as MXNet's kernels read them."""
    from ..presets import mxnet as mxnet_preset

    centered = bool(opt.centered)
    gamma1 = _read("gamma1", opt.gamma1, low=0.0, high=1.0, high_open=True)
    epsilon = _read("epsilon", opt.epsilon, low=0.0, low_open=True)
    gamma2 = _read("gamma2", opt.gamma2, low=0.0, high=1.0, high_open=True) if centered else 0.0
    return mxnet_preset(lr, gamma1, gamma2, epsilon, centered)


def _read(
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """:func:`_mx_float` of ``value``, refused unless a finite real number in the interval."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in {interval}, got {value!r}")
    try:
        read = _mx_float(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is out of the range MXNet reads (float32, 1.18e-38 to 3.4e38)") from None
    if not (math.isfinite(value) and math.isfinite(read)):
        seen = f" (MXNet reads it as {read!r})" if math.isfinite(value) else ""
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}{seen}")
    below = read <= low if low_open else read < low
    above = read >= high if high_open else read > high
    if below or above:
        seen = f" (MXNet reads it as the C++ float {read!r})" if read != float(value) else ""
        raise ValueError(f"{name} must be in {interval}, got {value!r}{seen}")
    return read


def _mx_float(value: Any) -> float:
    """The C++ float MXNet 1.9.1 makes of a scalar argument: ``dmlc::stof(str(value))``.

    MXNet passes every operator argument as ``str(value)``, and dmlc-core parses it
    by hand: ``float(integer part) + float(fraction digits / 10^k)``, then divided or
    multiplied by ``10^e`` built in float32.  That is not always the nearest float32:
    about 13% of numbers below 1e-4 (written with an exponent) come out one ulp away,
    and so do some above 1.  As there, ``inf`` and ``nan`` read as themselves, and a
    decimal exponent beyond 38 (or 38 with a significand out of float32's range),
    unreadable text and trailing characters are errors (ValueError).
    """
    f32, text = np.float32, str(value).strip()
    i = 1 if text[:1] in ("-", "+") else 0
    sign = -1.0 if text[:1] == "-" else 1.0
    if text[i:].lower() in ("inf", "infinity", "nan"):
        return sign * float(text[i:])

    def digits() -> str:
        nonlocal i
        start = i
        while i < len(text) and text[i] in "0123456789":
            i += 1
        return text[start:i]

    whole = digits()
    v = f32(int(whole or "0") % 2**64)
    if text[i : i + 1] == ".":
        i += 1
        fraction = digits()[:19]  # dmlc ignores the digits after the 19th
        v = f32(v + f32(float(int(fraction or "0")) / float(10 ** len(fraction))))
    if text[i : i + 1] in ("e", "E"):
        i += 1
        shrink = text[i : i + 1] == "-"
        i += text[i : i + 1] in ("-", "+")
        exponent = int(digits() or "0")
        if exponent > 38 or exponent == 38 and (v < f32(1.175494351) if shrink else v > f32(3.402823466)):
            raise ValueError(f"{text!r} is out of the range MXNet's C++ float parser reads")
        scale = f32(1.0)
        for factor in [f32(1e8)] * (exponent // 8) + [f32(10.0)] * (exponent % 8):
            scale = f32(scale * factor)
        with np.errstate(over="ignore"):  # beyond float32: inf, as the C++ float
            v = f32(v / scale) if shrink else f32(v * scale)
    i += text[i : i + 1] in ("f", "F")
    if i == 0 or i < len(text):
        raise ValueError(f"MXNet cannot read {text!r} as a number")
    return sign * float(v)


def compile_update(config: Any, update: Any, plain: Any) -> Any:
    """The fast path (polyprop.fast): MXNet's own fused kernels, where they compute this config.

    ``mx.nd.rmsprop_update`` (plain) and ``mx.nd.rmspropalex_update`` (centered,
    momentum with the learning rate inside) take every scalar as a C++ float, so
    they are used only when every scalar is exactly a float32 (as
    :func:`polyprop.presets.mxnet` makes them), on float32 and float64 tensors:
    then they compute the same numbers as ``update_leaf``.  Anything else (another dtype, a scalar that
    float32 would round, a schedule's value that would) takes the plain path.
    Returns None when no kernel computes the config at all.
    """
    kernel = _fused_kernel(config)
    if kernel is None:
        return None

    def apply(gs: list[Any], leaves: Any, hyper: Any) -> Any:
        # (the step's checks made every gradient and state leaf of its parameter's dtype)
        usable = _float32_exact(hyper.lr, hyper.decay) and all(x.dtype in _KERNEL_DTYPES for x in leaves.x)
        if not usable:
            return plain(gs, leaves, hyper)
        for i, (x, g) in enumerate(zip(leaves.x, gs)):
            if _needs_np_shape(x.shape):  # the kernels infer such shapes only under NumPy shape semantics
                with mx.util.np_shape(True):
                    kernel(x, g, leaves, i, float(hyper.lr), float(hyper.decay))
            else:
                kernel(x, g, leaves, i, float(hyper.lr), float(hyper.decay))
        return leaves

    apply.path = f"mx.nd.{kernel.__name__} (fused kernel, in place)"  # type: ignore[attr-defined]
    return apply


_KERNEL_DTYPES = (np.float32, np.float64)
"""The kernels compute in the tensors' dtype; float16 would round the float scalars twice."""


def _fused_kernel(config: Any) -> Any:
    """``kernel(x, g, leaves, i, lr, decay)`` updating tensor ``i`` in place, or None."""
    if (
        config.bias_correction
        or config.maximize
        or config.decoupled_weight_decay
        or not config.eps_in_sqrt
        or config.state_dtype is not None
        or not _float32_exact(config.eps, config.weight_decay, config.momentum)
    ):
        return None
    scalars = {"epsilon": config.eps, "wd": config.weight_decay}

    def rmsprop_update(x: Any, g: Any, leaves: Any, i: int, lr: float, decay: float) -> None:
        mx.nd.rmsprop_update(x, g, leaves.nu[i], out=x, lr=lr, gamma1=decay, **scalars)

    def rmspropalex_update(x: Any, g: Any, leaves: Any, i: int, lr: float, decay: float) -> None:
        # The kernel keeps delta = -m (delta = gamma2 delta - lr u; w += delta); negation is exact.
        delta = leaves.m[i]
        delta *= -1.0
        mx.nd.rmspropalex_update(
            x, g, leaves.nu[i], leaves.mu[i], delta, out=x,
            lr=lr, gamma1=decay, gamma2=config.momentum, **scalars,
        )
        delta *= -1.0

    if not config.centered:
        return rmsprop_update if config.momentum == 0 else None
    if config.momentum > 0 and config.lr_inside_momentum and not config.nesterov:
        return rmspropalex_update
    return None


def _float32_exact(*values: Any) -> bool:
    """Every value is a number that a C++ float holds exactly and MXNet reads back as itself.

    (MXNet reads ``str(v)``; for about 13% of float32 numbers below 1e-4 dmlc's parser
    is one ulp off, see :func:`_mx_float`: those take the plain path.)
    """
    return all(
        isinstance(v, (int, float)) and float(np.float32(v)) == v and _mx_float(v) == v for v in values
    )
