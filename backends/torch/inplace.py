"""The drop-in's default path: the traced update as torch's own fused ops, in place (nothing compiled)."""

from __future__ import annotations

import functools
import sys
from typing import Any

import torch

from .foreach import _run_inplace


def inplace_step(
    params: Any, grads: Any, state: Any, config: Any, ops: Any = None, check_memory: bool = True
) -> tuple[Any, Any]:
    """:func:`polyprop.step` run by :func:`inplace_update`; **donates** ``params`` and ``state`` (as fast_step).

    Same checks, skips and scalars as ``step`` (it shares ``run_step``); only the
    per-tensor work differs.  A config that cannot be traced takes the plain path.
    ``check_memory=False``: the caller checked that no tensors share memory (the drop-in).
    """
    from ...rmsprop import apply_each, run_step

    module = sys.modules[__package__]  # the backend package (the ops load() returns)
    apply = inplace_update(config)
    if apply is None:
        apply = functools.partial(apply_each, module, config)
    return run_step(params, grads, state, config, module, apply, check_memory)


_INPLACE: dict[Any, Any] = {}


def inplace_update(config: Any) -> Any:
    """The in-place ``Apply`` for ``config`` (see :data:`polyprop.rmsprop.Apply`), or None if it has no traced form.

    :func:`polyprop.rmsprop.update_leaf` is traced (:func:`polyprop.expression.trace`)
    and fused (:func:`polyprop.expression.fuse`) into torch's own ops: ``p + s*a*b`` is
    ``addcmul_``, ``p - s*(a/b)`` is ``addcdiv_(value=-s)``, ``p - s*b`` is
    ``add_(b, alpha=-s)``, ``decay*p + keep*b`` is ``lerp_(b, keep)``; for the torch
    preset these are ``torch.optim.RMSprop``'s operations in its order, so the result
    is the native's to the bit.  Large CPU tensors run block by block (scratch in
    cache, each buffer read and written once per step, the blocks shared by up to
    :data:`MAX_WORKERS` threads); small ones and other devices run as
    ``torch._foreach_*`` calls, many tensors per call.  Nothing is compiled.
    """
    key = config.replace(learning_rate=1.0, decay=0.5)
    try:
        cached = _INPLACE.get(key)
    except TypeError:  # an unhashable field: build it each time
        return _build_inplace(config)
    if cached is None and key not in _INPLACE:
        cached = _INPLACE[key] = _build_inplace(config)
    return cached


def _build_inplace(config: Any) -> Any:
    from ...expression import UntraceableError, fuse, trace
    from ...rmsprop import Leaves, apply_each, update_leaf

    def update(leaf_ops: Any, *leaf: Any) -> Any:
        return update_leaf(leaf_ops, config, *leaf)

    try:
        program = trace(update, config.centered, config.momentum > 0, config.bias_correction)
        fused = fuse(program)
    except UntraceableError:
        return None
    constants = program.constants
    module = sys.modules[__package__]
    lerp = any(step[0] == "lerp" for step in fused.steps)

    def apply(gs: list[Any], leaves: Any, hyper: Any) -> Any:
        if lerp and hyper.keep != 1 - hyper.decay:  # lerp stands for decay*p + keep*b only then
            return apply_each(module, config, gs, leaves, hyper)
        values = {k: float(v) for k, v in (*constants.items(), *hyper._asdict().items()) if v is not None}
        unused = [None] * len(gs)
        buffers, rest = [], []
        for i, bufs in enumerate(zip(leaves.x, gs, leaves.nu, leaves.mu or unused, leaves.momentum or unused)):
            if _inplace_ok(*bufs):
                buffers.append(bufs)
            else:
                rest.append(i)
        _run_inplace(fused, values, buffers)
        if not rest:
            return leaves

        def pick(ts: Any) -> Any:
            return None if ts is None else [ts[i] for i in rest]

        plain = apply_each(module, config, [gs[i] for i in rest], Leaves(*(pick(ts) for ts in leaves)), hyper)
        out: list[list[Any] | None] = [list(ts) if ts is not None else None for ts in leaves]
        for j, i in enumerate(rest):
            for merged, ts in zip(out, plain):
                if merged is not None and ts is not None:  # (a leaf is None in both or in neither)
                    merged[i] = ts[j]
        return Leaves._make(out)

    return apply


def _inplace_ok(x: Any, g: Any, nu: Any, mu: Any, m: Any) -> bool:
    """Strided tensors, not subclasses (run_step checked shapes and dtypes; torch refuses mixed devices)."""
    return (
        type(x) in _DENSE and type(g) in _DENSE and type(nu) in _DENSE
        and (mu is None or type(mu) in _DENSE) and (m is None or type(m) in _DENSE)
        and x.layout is torch.strided and g.layout is torch.strided
    )


_DENSE = (torch.Tensor, torch.nn.Parameter)
