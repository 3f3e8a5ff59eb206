"""MXNet backend: legacy ``mx.nd`` NDArray ops (MXNet 1.9.1, on numpy 2), and the ``mx.optimizer.RMSProp`` drop-in.

Importing it restores the names numpy 2 removed that MXNet reads (only the missing
ones, in :mod:`.ops`, before ``import mxnet``) and registers :class:`RMSProp` with
MXNet as ``'polyprop_rmsprop'``.

=============== ===================================================================
:mod:`.ops`     the ops (:class:`polyprop.ops.Ops`); ``mx`` is MXNet itself
:mod:`.floats`  the C++ float MXNet reads of a scalar argument
:mod:`.optim`   :class:`RMSProp`, the drop-in for ``mx.optimizer.RMSProp``
:mod:`.fast`    the fast path: MXNet's fused RMSProp kernels, where they apply
=============== ===================================================================
"""

from __future__ import annotations

from .fast import compile_update
from .ops import (
    NAME,
    add,
    cast,
    div,
    framework_version,
    from_numpy,
    full_like,
    memory_spans,
    mul,
    mx,
    scalar,
    sqrt,
    square,
    sub,
    to_numpy,
    zeros_like,
)
from .optim import RMSProp

__all__ = [
    "NAME", "RMSProp", "add", "cast", "compile_update", "div", "framework_version", "from_numpy", "full_like",
    "memory_spans", "mul", "mx", "scalar", "sqrt", "square", "sub", "to_numpy", "zeros_like",
]
