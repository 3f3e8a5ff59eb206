"""MXNet's variants for ``benchmarks.step``: the fused ``mx.nd.rmsprop_update`` against polyprop's.

The hook and its arguments are described in :mod:`polyprop.backends.numpy.bench`.
"""

from __future__ import annotations

from typing import Any

import polyprop

from ...containers import Params
from .ops import mx  # (imported by the backend after it restored the numpy names MXNet 1.9.1 reads)


def variants(xs: list[Any], gs: list[Any], bench: Any) -> list[Any]:
    """mx.nd.rmsprop_update (fused), then polyprop.step and fast_step."""
    lr, decay, eps = bench.LR, bench.DECAY, bench.EPS
    ws = [mx.nd.array(x, dtype=x.dtype) for x in xs]
    grads = [mx.nd.array(g, dtype=g.dtype) for g in gs]
    ns = [mx.nd.zeros_like(w) for w in ws]

    def native() -> None:
        for w, g, n in zip(ws, grads, ns):
            mx.nd.rmsprop_update(w, g, n, out=w, lr=lr, gamma1=decay, epsilon=eps)
        mx.nd.waitall()

    config = polyprop.presets.mxnet(learning_rate=lr, gamma1=decay, epsilon=eps)
    params: Params = [mx.nd.array(x, dtype=x.dtype) for x in xs]
    state = polyprop.init(params, config)

    def ours() -> None:
        nonlocal params, state
        params, state = polyprop.step(params, grads, state, config)
        mx.nd.waitall()

    return [
        bench.Variant("mx.nd.rmsprop_update (fused)", "native", native),
        bench.Variant("polyprop.step", "polyprop", ours),
        bench.fast_variant(
            "polyprop.fast_step (fused kernel)", config, xs, gs, lambda a: mx.nd.array(a, dtype=a.dtype),
            wait=lambda params: mx.nd.waitall(),
        ),
    ]
