"""The MXNet fast path (polyprop.fast): not ``update_leaf`` but MXNet's own fused kernels, where they equal it.

``mx.nd.rmsprop_update`` and ``mx.nd.rmspropalex_update`` compute their own formula
(MXNet's RMSProp and Graves' centered form); they run, one tensor at a time, only for
the configs and scalars where that formula is polyprop's.  Everything else: the plain path.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from .floats import _mx_float
from .ops import _needs_np_shape, mx


def compile_update(config: Any, update: Any, plain: Any) -> Any:
    """The fast path (:class:`polyprop.ops.FastPath`): a per-leaf kernel, MXNet's fused op for this config.

    ``mx.nd.rmsprop_update`` (plain) and ``mx.nd.rmspropalex_update`` (centered,
    momentum with the learning rate inside) take every scalar as a C++ float, so
    they are used only when every scalar is exactly a float32 (as
    :func:`polyprop.presets.mxnet` makes them), on float32 and float64 tensors:
    then their formula is ``update_leaf``'s (``rmsprop_update`` gives NumPy's bits,
    ``rmspropalex_update`` rounds in its own order).  Anything else (another dtype, a
    scalar that float32 would round, a schedule's value that would) takes the plain
    path.  Returns None when no kernel computes the config at all.
    """
    from ...ops import FastUpdate
    from ...rmsprop import each_leaf

    kernel = _fused_kernel(config)
    if kernel is None:
        return None

    def apply(gs: list[Any], leaves: Any, hyper: Any) -> Any:
        # (the step's checks made every gradient and state leaf of its parameter's dtype)
        usable = _float32_exact(hyper.lr, hyper.decay) and all(x.dtype in _KERNEL_DTYPES for x in leaves.x)
        return each_leaf(kernel, gs, leaves, hyper) if usable else None

    return FastUpdate(apply, f"mx.nd.{kernel.__name__} (fused kernel, in place)")


_KERNEL_DTYPES = (np.float32, np.float64)
"""The kernels compute in the tensors' dtype; float16 would round the float scalars twice."""


def _fused_kernel(config: Any) -> Any:
    """``kernel(x, g, nu, mu, m, hyper) -> Leaf`` updating one tensor in place, or None."""
    from ...rmsprop import Leaf

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

    def rmsprop_update(x: Any, g: Any, nu: Any, mu: Any, m: Any, hyper: Any) -> Any:
        with _shape_semantics(x):
            mx.nd.rmsprop_update(x, g, nu, out=x, lr=float(hyper.lr), gamma1=float(hyper.decay), **scalars)
        return Leaf(x, nu, mu, m)

    def rmspropalex_update(x: Any, g: Any, nu: Any, mu: Any, m: Any, hyper: Any) -> Any:
        # The kernel keeps delta = -m (delta = gamma2 delta - lr u; w += delta); negation is exact.
        with _shape_semantics(x):
            m *= -1.0
            mx.nd.rmspropalex_update(
                x, g, nu, mu, m, out=x,
                lr=float(hyper.lr), gamma1=float(hyper.decay), gamma2=config.momentum, **scalars,
            )
            m *= -1.0
        return Leaf(x, nu, mu, m)

    if not config.centered:
        return rmsprop_update if config.momentum == 0 else None
    if config.momentum > 0 and config.lr_inside_momentum and not config.nesterov:
        return rmspropalex_update
    return None


def _shape_semantics(x: Any) -> Any:
    """NumPy shape semantics for the shapes the kernels infer only under them (zero-size, 0-d), else nothing."""
    return mx.util.np_shape(True) if _needs_np_shape(x.shape) else contextlib.nullcontext()


def _float32_exact(*values: Any) -> bool:
    """Every value is a number that a C++ float holds exactly and MXNet reads back as itself.

    (MXNet reads ``str(v)``; for about 13% of float32 numbers below 1e-4 dmlc's parser
    is one ulp off, see :func:`_mx_float`: those take the plain path.)
    """
    return all(
        isinstance(v, (int, float)) and float(np.float32(v)) == v and _mx_float(v) == v for v in values
    )
