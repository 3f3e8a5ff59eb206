"""PyTorch backend: plain out-of-place ``torch`` ops on tensors of any device, and the ``torch.optim.RMSprop`` drop-in.

=============== ===================================================================
:mod:`.ops`     the ops (:class:`polyprop.ops.Ops`) and the memory checks' spans
:mod:`.optim`   :class:`RMSprop`, the drop-in for ``torch.optim.RMSprop``
:mod:`.inplace` its default path, the traced update as torch's own fused ops
:mod:`.foreach` which runs those as ``torch._foreach_*`` calls over blocks and threads
:mod:`.fast`    the fast path: ``torch.compile`` of the update, in place
:mod:`.convert` torch RMSprop <-> polyprop checkpoint files
=============== ===================================================================
"""

from __future__ import annotations

from .. import missing_framework

try:
    import torch  # noqa: F401  (first: a missing torch names the extra that installs it)
except ImportError as error:  # pragma: no cover - exercised only without torch
    raise missing_framework("torch") from error

from .convert import load_optimizer, save_optimizer
from .fast import COMPILE_CHUNK, compile_update
from .foreach import BLOCK_BYTES, GRAIN, JOB, MAX_WORKERS, WHOLE_BYTES
from .inplace import inplace_step, inplace_update
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
from .optim import RMSprop

__all__ = [
    "BLOCK_BYTES", "COMPILE_CHUNK", "GRAIN", "JOB", "MAX_WORKERS", "NAME", "WHOLE_BYTES", "RMSprop",
    "add", "cast", "compile_update", "div", "framework_version", "from_numpy", "full_like",
    "inplace_step", "inplace_update", "load_optimizer", "memory_spans", "mul", "save_optimizer",
    "scalar", "shares_memory", "sqrt", "square", "sub", "to_numpy", "zeros_like",
]
