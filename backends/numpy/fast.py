"""The NumPy fast path (polyprop.fast): ``update_leaf`` traced and lowered to in-place ufuncs.

The ufuncs run over cache-sized blocks.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Callable
from typing import Any

import numpy as np

BLOCK = 1 << 15
"""Elements per block of the fast path: its scratch buffers stay in the CPU's cache."""

_UFUNCS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}


def compile_update(config: Any, update: Callable[..., Any], plain: Callable[..., Any]) -> Any:
    """The fast path (:class:`polyprop.ops.FastPath`): ``update`` traced, run as in-place ufuncs block by block.

    :func:`polyprop.expression.lower` turns ``update_leaf`` into one ufunc call
    per operation; they run over blocks of :data:`BLOCK` elements with ``out=``
    scratch buffers that stay in cache, so memory is read and written about once
    per step, and each output is written into its own buffer.  The ufuncs are
    those of the plain path, so the numbers are the same bits.  A config with a
    cast (``state_dtype``) takes the plain path, as do arrays that are not
    contiguous, writable, float32 or float64 (the kernel returns None for those).
    """
    from ...expression import UntraceableError, lower, trace
    from ...ops import FastUpdate

    try:
        program = trace(update, config.centered, config.momentum > 0, config.bias_correction)
        lowered = lower(program)
    except UntraceableError:
        return None
    calls = [
        (np.sqrt if op == "sqrt" else _UFUNCS.get(op, np.copyto), a, b, out)
        for op, a, b, out in lowered.instructions
    ]

    def apply(gs: list[np.ndarray], leaves: Any, hyper: Any) -> Any:
        if not all(_in_place_ok(x, g, leaves, i) for i, (x, g) in enumerate(zip(leaves.x, gs))):
            return None
        values = {**program.constants, **hyper._asdict()}  # the config's scalars, then the step's
        scalars: dict[Any, list[np.ndarray]] = {}
        jobs = []  # (flat buffers, scalars, dtype, first block, end), each block range one job
        for i, (x, g) in enumerate(zip(leaves.x, gs)):
            if x.dtype not in scalars:
                scalars[x.dtype] = [np.asarray(values[name], x.dtype) for name in lowered.scalars]
            buffers = [x, g, leaves.nu[i], *(None if s is None else s[i] for s in (leaves.mu, leaves.momentum))]
            flat = [None if b is None else np.asarray(b).reshape(-1) for b in buffers]  # (np.matrix: 2-D)
            jobs += [(flat, scalars[x.dtype], x.dtype, start, end) for start, end in _split(x.size)]
        _run_jobs(calls, jobs, lowered.temporaries)
        return leaves

    return FastUpdate(apply, "in-place ufuncs, cache-sized blocks")


THREADS = min(2, os.cpu_count() or 1)
"""Threads sharing the blocks of one step (ufuncs release the GIL while they compute)."""

_pool: list[concurrent.futures.ThreadPoolExecutor] = []
os.register_at_fork(after_in_child=_pool.clear)  # a forked child has none of the pool's threads: make a new one


def _split(size: int) -> list[tuple[int, int]]:
    """``[0, size)`` in :data:`THREADS` ranges of whole blocks (one range if it is small)."""
    blocks = -(-size // BLOCK)
    if THREADS < 2 or blocks < 4:
        return [(0, size)]
    cut = (blocks // 2) * BLOCK
    return [(0, cut), (cut, size)]


def _run_jobs(calls: list[tuple[Any, int, int, int]], jobs: list[Any], temporaries: int) -> None:
    """Each job's blocks, the jobs shared between the threads in two halves of about equal size."""
    if THREADS < 2 or len(jobs) < 2:
        _run_share(calls, jobs, temporaries)
        return
    total = sum(end - start for *_, start, end in jobs)
    done, cut = 0, len(jobs)
    for k, (*_, start, end) in enumerate(jobs):
        done += end - start
        if done * 2 >= total:
            cut = k + 1
            break
    if not _pool:
        _pool.append(concurrent.futures.ThreadPoolExecutor(THREADS - 1, thread_name_prefix="polyprop"))
    other = _pool[0].submit(_run_share, calls, jobs[cut:], temporaries)
    _run_share(calls, jobs[:cut], temporaries)
    other.result()


def _run_share(calls: list[tuple[Any, int, int, int]], jobs: list[Any], temporaries: int) -> None:
    scratch: dict[Any, list[np.ndarray]] = {}
    for flat, scalars, dtype, start, end in jobs:
        if dtype not in scratch:
            scratch[dtype] = [np.empty(BLOCK, dtype) for _ in range(temporaries)]
        _run_blocks(calls, flat, scalars, scratch[dtype], start, end)


def _run_blocks(
    calls: list[tuple[Any, int, int, int]], flat: list[Any], scalars: list[np.ndarray],
    scratch: list[np.ndarray], first: int, end: int,
) -> None:
    """Run ``calls`` over ``flat[first:end]`` (x, g, nu, mu, m as 1-D views) block by block."""
    for start in range(first, end, BLOCK):
        stop = min(start + BLOCK, end)
        slots: list[Any] = [None if b is None else b[start:stop] for b in flat]
        slots += scalars
        slots += [t[: stop - start] for t in scratch]
        for ufunc, a, b, out in calls:
            if b < 0:
                ufunc(slots[a], out=slots[out]) if ufunc is np.sqrt else np.copyto(slots[out], slots[a])
            else:
                ufunc(slots[a], slots[b], out=slots[out])


def _in_place_ok(x: np.ndarray, g: np.ndarray, leaves: Any, i: int) -> bool:
    """Writable, C-contiguous float32/float64 arrays of one dtype (their 1-D views share memory).

    Only plain arrays and np.matrix (whose ufuncs are plain arrays'); other subclasses
    (masked arrays ...) take the plain path, which calls their own ufuncs, as step does.
    Read-only, non-contiguous and Fortran-order arrays take it too (new arrays back).
    """
    buffers = [x, leaves.nu[i]] + [s[i] for s in (leaves.mu, leaves.momentum) if s is not None]
    return (
        x.dtype in (np.float32, np.float64)
        and type(g) in _IN_PLACE_TYPES
        and g.dtype == x.dtype
        and all(
            type(b) in _IN_PLACE_TYPES and b.dtype == x.dtype and b.flags.writeable and b.flags.c_contiguous
            for b in buffers
        )
    )


_IN_PLACE_TYPES = (np.ndarray, np.matrix)
