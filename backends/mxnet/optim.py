"""Drop-in for ``mx.optimizer.RMSProp``, driven by the neutral definition (polyprop.rmsprop).

Importing this module registers it with MXNet as ``'polyprop_rmsprop'``.
"""

from __future__ import annotations

import math
import numbers
import sys
from typing import Any

import numpy as np

from .floats import _mx_float
from .ops import _np_shape, add, div, mul, mx, scalar, sqrt, square, sub


class RMSProp(mx.optimizer.Optimizer):  # type: ignore[misc]  # (MXNet has no type information: Any)
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


RMSProp.__module__ = __package__  # its public name: polyprop.backends.mxnet.RMSProp (pickles: kvstore servers)
mx.optimizer.Optimizer.opt_registry["polyprop_rmsprop"] = RMSProp


def _rmsprop_update(
    opt: RMSProp, config: Any, weight: mx.nd.NDArray, grad: mx.nd.NDArray, state: Any, wd: float
) -> None:
    """One step of ``opt`` on one weight, in place, in MXNet's order (see RMSProp)."""
    from ...rmsprop import RMSPropState, step

    n, g_avg, delta = (_dense(leaf) for leaf in _state_leaves(state, config.centered))
    w = _dense(weight)

    def c(value: Any) -> float:
        return scalar(_mx_float(value), w)

    g = _clip(add(mul(c(opt.rescale_grad), _dense(grad)), mul(c(wd), w)), opt.clip_gradient)
    momentum = [mul(scalar(-1.0, w), delta)] if config.momentum > 0 else None
    flat = RMSPropState(0, [n], None if g_avg is None else [g_avg], momentum)
    (new_weight,), new = step([w], [g], flat, config, sys.modules[__package__])  # (the package: load()'s ops)
    weight[:] = _clip(new_weight, opt.clip_weights)
    leaves = _state_leaves(state, config.centered)
    leaves[0][:] = new.nu[0]
    if config.centered:
        assert new.mu is not None  # (centered: step gives mu back)
        leaves[1][:] = new.mu[0]
        if config.momentum > 0:
            assert new.momentum is not None  # (momentum > 0: step gives it back)
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
    from ...presets import mxnet as mxnet_preset

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
