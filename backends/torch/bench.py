"""PyTorch's variants for ``benchmarks.step``: torch.optim.RMSprop (for-loop, foreach) against polyprop's.

The hook and its arguments are described in :mod:`polyprop.backends.numpy.bench`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

import polyprop

from ...containers import Params
from . import RMSprop

DROPIN_DEFAULT = "polyprop.backends.torch.RMSprop (default: torch's fused ops in place)"
DROPIN_FUSED = "polyprop.backends.torch.RMSprop(fused=True) (torch.compile)"


def variants(xs: list[Any], gs: list[Any], bench: Any) -> list[Any]:
    """torch.optim.RMSprop (for-loop, foreach), then polyprop.step, the drop-in (default, fused) and fast_step."""
    lr, decay, eps = bench.LR, bench.DECAY, bench.EPS
    if bench.THREADS:
        torch.set_num_threads(bench.THREADS)

    def optimizer_variant(
        name: str, role: str, make: Callable[[list[Any]], Any], first: Callable[[], dict[str, Any]] | None = None
    ) -> Any:
        ps = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in xs]
        for p, g in zip(ps, gs):
            p.grad = torch.from_numpy(g.copy())
        optimizer = make(ps)
        return bench.Variant(name, role, lambda: optimizer.step(), first=first)

    config = polyprop.presets.torch(lr=lr, alpha=decay, eps=eps)
    params: Params = [torch.from_numpy(x.copy()) for x in xs]
    grads = [torch.from_numpy(g.copy()) for g in gs]
    state = polyprop.init(params, config)

    def ours() -> None:
        nonlocal params, state
        with torch.no_grad():
            params, state = polyprop.step(params, grads, state, config)

    return [
        optimizer_variant(
            "torch.optim.RMSprop", "native", lambda ps: torch.optim.RMSprop(ps, lr=lr, alpha=decay, eps=eps)
        ),
        optimizer_variant(
            "torch.optim.RMSprop(foreach=True)",
            "native",
            lambda ps: torch.optim.RMSprop(ps, lr=lr, alpha=decay, eps=eps, foreach=True),
        ),
        bench.Variant("polyprop.step", "polyprop", ours),
        optimizer_variant(DROPIN_DEFAULT, "polyprop", lambda ps: RMSprop(ps, lr=lr, alpha=decay, eps=eps)),
        optimizer_variant(
            DROPIN_FUSED, "polyprop", lambda ps: RMSprop(ps, lr=lr, alpha=decay, eps=eps, fused=True),
            first=compiler_counters(),
        ),
        bench.fast_variant(
            "polyprop.fast_step (torch.compile)", config, xs, gs, lambda a: torch.from_numpy(a.copy()),
            versus="torch.optim.RMSprop",
        ),
    ]


def compiler_counters() -> Callable[[], dict[str, Any]]:
    """Inductor's FX-graph-cache hits and misses and Dynamo's graphs during the first step."""
    from torch._dynamo.utils import counters

    def snapshot() -> dict[str, int]:
        return {
            "fxgraph_cache_hit": counters["inductor"]["fxgraph_cache_hit"],
            "fxgraph_cache_miss": counters["inductor"]["fxgraph_cache_miss"],
            "graphs": counters["stats"]["unique_graphs"],
        }

    before = snapshot()
    return lambda: {"compile": {k: v - before[k] for k, v in snapshot().items()}}
