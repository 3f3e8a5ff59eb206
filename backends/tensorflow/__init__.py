"""TensorFlow backend: eager ``tf`` ops; tf.Variable inputs are read, results are tensors.

=============== ===================================================================
:mod:`.ops`     the ops (:class:`polyprop.ops.Ops`)
:mod:`.fast`    the fast path: ``tf.function(jit_compile=True)`` over every tensor
:mod:`.convert` Keras RMSprop <-> polyprop checkpoint files
=============== ===================================================================

The drop-in ``RMSprop`` and the converters are Keras 3's, in :mod:`polyprop.backends.keras`
(any Keras backend); they are named here for TensorFlow users (the same class and
functions), imported on first use: importing this backend imports no Keras.
"""

from __future__ import annotations

from typing import Any

from .. import missing_framework

try:
    import tensorflow  # noqa: F401  (first: a missing TensorFlow names the extra that installs it)
except ImportError as error:  # pragma: no cover - exercised only without tensorflow
    raise missing_framework("tensorflow") from error

from .convert import load_optimizer, save_optimizer
from .fast import compile_update
from .ops import (
    NAME,
    add,
    cast,
    div,
    framework_version,
    from_numpy,
    full_like,
    mul,
    scalar,
    sqrt,
    square,
    sub,
    to_numpy,
    zeros_like,
)

__all__ = [
    "NAME", "add", "cast", "compile_update", "div", "framework_version", "from_numpy", "full_like",
    "load_optimizer", "mul", "save_optimizer", "scalar", "sqrt", "square", "sub", "to_numpy", "zeros_like",
]


def __getattr__(name: str) -> Any:
    if name == "RMSprop":  # imported on first use: importing this backend imports no Keras
        from ..keras import RMSprop

        globals()["RMSprop"] = RMSprop
        return RMSprop
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
