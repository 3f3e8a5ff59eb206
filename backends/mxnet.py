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
    """Run ``op`` with NumPy shape semantics when one of its arguments has shape ()."""

    @functools.wraps(op)
    def wrapper(*args: Any) -> Any:
        if any(getattr(arg, "shape", None) == () for arg in args):
            with mx.util.np_shape(True):
                return op(*args)
        return op(*args)

    return wrapper  # type: ignore[return-value]


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


# --------------------------------------------------------------------------------------
# Drop-in for mx.optimizer.RMSProp, driven by the neutral definition (polyprop.rmsprop).


class RMSProp(mx.optimizer.Optimizer):
    """``mx.optimizer.RMSProp`` (MXNet 1.9.1) with the same signature, state and semantics.

    Registered as ``'polyprop_rmsprop'``: ``gluon.Trainer(params, 'polyprop_rmsprop',
    {'learning_rate': 0.01, 'gamma1': 0.9})``.  As in MXNet's kernels, the gradient is
    ``rescale_grad * grad + wd * weight`` (weight decay *before* clipping), clipped to
    ``clip_gradient``, then the RMSProp step of :func:`polyprop.presets.mxnet` runs
    (centered: momentum ``gamma2``), then the weight is clipped to ``clip_weights``.
    The state is MXNet's: ``n`` or ``(n, g, delta)`` with ``delta = -momentum``, so
    ``save_states``/``load_states`` files interchange with the native optimizer's.
    Unlike the native class, float64 weights work (the state takes the weight's dtype);
    float16 weights need ``multi_precision=True`` as with MXNet.
    """

    def __init__(
        self,
        learning_rate: float = 0.001,
        gamma1: float = 0.9,
        gamma2: float = 0.9,
        epsilon: float = 1e-8,
        centered: bool = False,
        clip_weights: float | None = None,
        **kwargs: Any,
    ) -> None:
        from ..presets import mxnet as mxnet_preset

        super().__init__(learning_rate=learning_rate, **kwargs)
        mxnet_preset(learning_rate, gamma1, gamma2, epsilon, centered)  # refuse bad values now
        self.gamma1, self.gamma2, self.epsilon = gamma1, gamma2, epsilon
        self.centered, self.clip_weights = centered, clip_weights

    def create_state(self, index: int, weight: mx.nd.NDArray) -> Any:
        def zeros() -> mx.nd.NDArray:
            return mx.nd.zeros(weight.shape, weight.context, dtype=weight.dtype, stype=weight.stype)

        return (zeros(), zeros(), zeros()) if self.centered else zeros()

    def update(self, index: int, weight: mx.nd.NDArray, grad: mx.nd.NDArray, state: Any) -> None:
        from ..presets import mxnet as mxnet_preset
        from ..rmsprop import RMSPropState, step

        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        config = mxnet_preset(lr, self.gamma1, self.gamma2, self.epsilon, self.centered)
        module = sys.modules[__name__]
        # MXNet's kernels take every scalar as a C++ float: round to float32 first.
        g = add(mul(scalar(_f32(self.rescale_grad), weight), grad), mul(scalar(_f32(wd), weight), weight))
        if self.clip_gradient:
            c = scalar(_f32(self.clip_gradient), weight)
            g = mx.nd.clip(g, -c, c)
        if self.centered:
            n, g_avg, delta = state
            flat = RMSPropState(0, [n], [g_avg], [mul(scalar(-1.0, weight), delta)])
        else:
            flat = RMSPropState(0, [state], None, None)
        (new_weight,), new_state = step([weight], [g], flat, config, module)
        if self.clip_weights:
            c = scalar(_f32(self.clip_weights), weight)
            new_weight = mx.nd.clip(new_weight, -c, c)
        weight[:] = new_weight
        if self.centered:
            n[:] = new_state.nu[0]
            g_avg[:] = new_state.mu[0]
            delta[:] = mul(scalar(-1.0, weight), new_state.momentum[0])
        else:
            state[:] = new_state.nu[0]


mx.optimizer.Optimizer.opt_registry["polyprop_rmsprop"] = RMSProp


def _f32(value: float) -> float:
    return float(np.float32(value))



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
            if x.shape == ():  # the kernels infer shapes only under NumPy shape semantics
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
    """Every value is a number that a C++ float holds exactly."""
    return all(isinstance(v, (int, float)) and float(np.float32(v)) == v for v in values)
