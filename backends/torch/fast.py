"""The torch fast path (polyprop.fast): ``torch.compile`` of the plain path by chunks of tensors.

The results are written back in place.
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import torch

if TYPE_CHECKING:
    from torch.utils._config_module import ConfigModule


def compile_update(config: Any, update: Any, plain: Any) -> Any:
    """The fast path (:class:`polyprop.ops.FastPath`): ``plain`` under ``torch.compile``, in place, by chunks.

    The tensors (as 1-D views) go in chunks of :data:`COMPILE_CHUNK`; each compiled
    graph is ``plain`` on a chunk followed by :func:`polyprop.fast.write_back` into the
    chunk's buffers, which Inductor fuses into one loop per tensor (read x, g, nu (mu,
    m), write them back).  The sizes are symbolic (``dynamic=True``, no duck sizing,
    the last chunk padded with 2-element dummies), so every chunk of a kind (dtype,
    device, one element or more) runs one compiled graph: 200 tensors of mixed sizes
    compile 2 graphs of 16 tensors instead of one graph of 200 (measured cold: 21 s
    instead of 60 s; with Inductor's on-disk FX graph cache warm, about 10 s either
    way).  The per-step
    scalars enter as float64 0-d tensors, so a schedule never recompiles.  Tensors it
    cannot take (see :func:`_in_place_ok`), or a failed compile, take the plain path.
    """
    from ...fast import write_back
    from ...ops import FastUpdate
    from ...rmsprop import Leaves

    def update_all(xs: list[Any], gs: list[Any], nus: list[Any], mus: Any, ms: Any, hyper: Any) -> None:
        buffers = Leaves(xs, nus, mus, ms)
        write_back(buffers, plain(gs, buffers, hyper), _copy)

    # Dynamo keeps at most 8 compiled versions per code object and then silently runs
    # eagerly: every set of shapes, dtypes and devices gets a code object of its own.
    compiled: dict[Any, Any] = {}
    failed: list[bool] = []

    def apply(gs: list[Any], leaves: Any, hyper: Any) -> Any:
        if failed or not leaves.x or not all(_in_place_ok(x, leaves, i) for i, x in enumerate(leaves.x)):
            return None
        device = leaves.x[0].device
        h = type(hyper)(*(None if v is None else _hyper_tensor(v, device) for v in hyper))
        args = [None if ts is None else [_flat_view(t) for t in ts] for ts in (leaves.x, gs, *leaves[1:])]
        with torch.no_grad():
            for done, chunk in enumerate(_chunks(args)):
                x = chunk[0][0]
                signature = (
                    leaves.mu is None, leaves.momentum is None, len(chunk[0]),
                    x.dim(), min(x.numel(), 2), x.dtype, x.device,
                )
                if signature in compiled:
                    compiled[signature](*chunk, h)
                    continue
                function: Callable[..., None] = torch.compile(_own_code(update_all), dynamic=True)
                try:  # the first call compiles; without a C++ compiler Inductor cannot
                    from torch.fx.experimental import _config as shape_config

                    # Without duck sizing, tensors of equal length in this chunk get sizes of
                    # their own, so the graph's guards also hold for the next chunks.
                    # (install_config_module made the config module a ConfigModule, which has patch)
                    with cast("ConfigModule", shape_config).patch({"use_duck_shape": False}):
                        function(*chunk, h)
                except Exception as error:  # any compiler failure: the plain path
                    warnings.warn(
                        f"polyprop.fast_step: torch.compile failed ({type(error).__name__}: "
                        f"{str(error)[:200]}); using the plain path",
                        RuntimeWarning,
                        stacklevel=5,  # (kernel, polyprop.fast, run_step, fast_step: the caller)
                    )
                    failed.append(True)
                    if not done:
                        return None
                    xs, grads, nus, mus, ms = chunk
                    update_all(xs, grads, nus, mus, ms, hyper)  # the plain path on this chunk, uncompiled
                    continue
                compiled[signature] = function
        return leaves

    return FastUpdate(apply, "torch.compile (in place)")


def _copy(buffer: torch.Tensor, value: torch.Tensor) -> None:
    buffer.copy_(value)


def _chunks(args: list[Any]) -> list[list[Any]]:
    """``(xs, gs, nus, mus, ms)`` cut into chunks of :data:`COMPILE_CHUNK` tensors of one kind.

    A kind is (dtype, device, dimensions, 1 element or not): Dynamo specializes sizes
    0 and 1, so such tensors get chunks of their own and every chunk of a kind, with
    its sizes symbolic, is one compiled graph.
    """
    kinds: dict[Any, list[int]] = {}
    for i, x in enumerate(args[0]):
        kinds.setdefault((x.dtype, x.device, x.dim(), min(x.numel(), 2)), []).append(i)
    chunks = []
    for members in kinds.values():
        for start in range(0, len(members), COMPILE_CHUNK):
            picked = members[start:start + COMPILE_CHUNK]
            chunk = [None if ts is None else [ts[i] for i in picked] for ts in args]
            if len(members) > COMPILE_CHUNK and len(picked) < COMPILE_CHUNK:  # padded: one graph per kind
                x = args[0][picked[0]]
                pad = COMPILE_CHUNK - len(picked)
                chunk = [None if ts is None else ts + [x.new_zeros(2 if x.numel() > 1 else 1) for _ in range(pad)]
                         for ts in chunk]
            chunks.append(chunk)
    return chunks


def _own_code(function: Any) -> Any:
    """A copy of ``function`` with a code object of its own (same body, closure and globals)."""
    global _EXECUTORS_BUILT
    _EXECUTORS_BUILT += 1
    name = f"{function.__name__}_{_EXECUTORS_BUILT}"
    code = function.__code__.replace(co_name=name, co_qualname=name)
    return types.FunctionType(code, function.__globals__, name, function.__defaults__, function.__closure__)


_EXECUTORS_BUILT = 0


COMPILE_CHUNK = 16
"""Tensors per compiled graph.  Every chunk of a kind shares one graph (its sizes symbolic),
so compiling costs about one chunk's worth, not one graph per shape or per tensor."""


def _flat_view(tensor: torch.Tensor) -> torch.Tensor:
    """A contiguous tensor as a 1-D view (one size symbol each, so equal-length tensors share a kernel)."""
    return tensor.view(-1) if tensor.is_contiguous() else _at_least_1d(tensor)


def _at_least_1d(tensor: torch.Tensor) -> torch.Tensor:
    """A 1-element view of a 0-d tensor (Inductor drops in-place writes to 0-d float64 inputs), else itself."""
    return tensor.view(1) if tensor.dim() == 0 else tensor


def _hyper_tensor(value: Any, device: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.to(device=device, dtype=torch.float64)
    return torch.tensor(float(value), dtype=torch.float64, device=device)


def _in_place_ok(x: torch.Tensor, leaves: Any, i: int) -> bool:
    """Plain float32/float64 tensors (not DTensors or other subclasses) on the first tensor's device.

    (Inductor computes float16 and bfloat16 in float32, which would change the
    rounding of every intermediate; those take the plain path.)
    """
    buffers = [x, leaves.nu[i]] + [s[i] for s in (leaves.mu, leaves.momentum) if s is not None]
    return x.dtype in (torch.float32, torch.float64) and all(
        type(b) in (torch.Tensor, torch.nn.Parameter) and b.device == leaves.x[0].device for b in buffers
    )
