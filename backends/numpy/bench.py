"""NumPy's variants for ``benchmarks.step``: polyprop's plain path (the baseline), in-place ufuncs, the fast path.

Every backend's ``bench`` module holds the same hook, found by name
(``polyprop.backends.<name>.bench``) and imported only when the benchmark runs on
that backend:

* ``variants(xs, gs, bench)``: the ways of taking one step on parameters ``xs`` with
  gradients ``gs`` (NumPy arrays of one case), native ones first, as ``bench.Variant``;
  ``bench`` is the benchmark module (``Variant``, ``fast_variant``, ``LR``, ``DECAY``,
  ``EPS``, ``THREADS``), passed in so that no backend imports the benchmarks;
* ``prepare_train(dtype)`` (optional): what ``benchmarks.train`` must set before runs in ``dtype``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import polyprop

from ...containers import Params


def variants(xs: list[Any], gs: list[Any], bench: Any) -> list[Any]:
    """polyprop.step (the baseline), NumPy's in-place ufuncs (the reference) and polyprop.fast_step."""
    lr, decay, eps = bench.LR, bench.DECAY, bench.EPS
    config = polyprop.presets.torch(lr=lr, alpha=decay, eps=eps)

    # Reference (not an optimizer of NumPy's own, which has none): torch's formula with
    # in-place ufuncs and one scratch buffer, the least memory traffic NumPy allows.
    rx = [x.copy() for x in xs]
    rv = [np.zeros_like(x) for x in xs]
    rt = [np.empty_like(x) for x in xs]

    def reference() -> None:
        for x, g, v, t in zip(rx, gs, rv, rt):
            np.multiply(v, decay, out=v)
            np.multiply(g, g, out=t)
            np.multiply(t, 1 - decay, out=t)
            np.add(v, t, out=v)
            np.sqrt(v, out=t)
            np.add(t, eps, out=t)
            np.divide(g, t, out=t)
            np.multiply(t, lr, out=t)
            np.subtract(x, t, out=x)

    params: Params = [x.copy() for x in xs]
    state = polyprop.init(params, config)

    def ours() -> None:
        nonlocal params, state
        params, state = polyprop.step(params, gs, state, config)

    return [
        bench.Variant("polyprop.step (plain path, the baseline)", "baseline", ours, "tracemalloc"),
        bench.Variant("numpy in-place ufuncs (reference)", "reference", reference, "tracemalloc"),
        bench.fast_variant(
            "polyprop.fast_step (blocked ufuncs)", config, xs, gs, lambda a: a.copy(), memory_method="tracemalloc"
        ),
    ]
