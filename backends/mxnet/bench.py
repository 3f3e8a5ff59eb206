"""MXNet's variants for ``benchmarks.step``: the fused ``mx.nd.rmsprop_update`` against polyprop's.

The hook and its arguments are described in :mod:`polyprop.backends.numpy.bench`.
"""

from __future__ import annotations

from typing import Any

import polyprop

from .ops import mx  # (imported by the backend after it restored the numpy names MXNet 1.9.1 reads)


def variants(xs: list[Any], gs: list[Any], bench: Any) -> list[Any]:
    """mx.nd.rmsprop_update (fused), then polyprop.step and fast_step."""
    LR, DECAY, EPS, Variant = bench.LR, bench.DECAY, bench.EPS, bench.Variant
    ws = [mx.nd.array(x, dtype=x.dtype) for x in xs]
    grads = [mx.nd.array(g, dtype=g.dtype) for g in gs]
    ns = [mx.nd.zeros_like(w) for w in ws]

    def native() -> None:
        for w, g, n in zip(ws, grads, ns):
            mx.nd.rmsprop_update(w, g, n, out=w, lr=LR, gamma1=DECAY, epsilon=EPS)
        mx.nd.waitall()

    config = polyprop.presets.mxnet(learning_rate=LR, gamma1=DECAY, epsilon=EPS)
    params = [mx.nd.array(x, dtype=x.dtype) for x in xs]
    state = polyprop.init(params, config)

    def ours() -> None:
        nonlocal params, state
        params, state = polyprop.step(params, grads, state, config)
        mx.nd.waitall()

    return [
        Variant("mx.nd.rmsprop_update (fused)", "native", native),
        Variant("polyprop.step", "polyprop", ours),
        bench.fast_variant(
            "polyprop.fast_step (fused kernel)", config, xs, gs, lambda a: mx.nd.array(a, dtype=a.dtype),
            wait=lambda params: mx.nd.waitall(),
        ),
    ]
