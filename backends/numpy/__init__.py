"""NumPy backend: the embedded default and the reference every other backend is tested against.

:mod:`.ops` holds the ops (:class:`polyprop.ops.Ops`), :mod:`.fast` the fast path
(the traced update as in-place ufuncs over cache-sized blocks).
"""

from __future__ import annotations

from .fast import BLOCK, THREADS, compile_update
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
    scalar,
    shares_memory,
    sqrt,
    square,
    sub,
    to_numpy,
    zeros_like,
)

__all__ = [
    "BLOCK", "NAME", "THREADS", "add", "cast", "compile_update", "div", "framework_version", "from_numpy",
    "full_like", "memory_spans", "mul", "scalar", "shares_memory", "sqrt", "square", "sub", "to_numpy", "zeros_like",
]
