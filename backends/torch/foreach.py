"""The default path's fused steps as ``torch._foreach_*`` calls: CPU tensors in blocks, the jobs shared by threads."""

from __future__ import annotations

import concurrent.futures
import os
from typing import Any

import torch

GRAIN = 32768
"""torch's ``at::internal::GRAIN_SIZE``: an elementwise op on fewer elements never forks threads."""

BLOCK_BYTES = (1 << 17) - 256
"""Bytes per block at most: each op on a block then runs on one thread (fewer than :data:`GRAIN`
elements), and a scratch block is under glibc's 128 KiB mmap threshold (no page faults)."""

WHOLE_BYTES = 1 << 24
"""A CPU tensor of more than one block and at most this many bytes runs whole, as torch's own
ops do (its buffers stay in the L3 cache between passes, and each op uses torch's threads);
a larger one runs block by block."""

JOB = 1 << 18
"""Elements per job at most (or one block): one ``torch._foreach_*`` call per fused step runs over a
job's blocks, whose buffers (float32: 1 MiB each) stay in cache from one call to the next.  A job's
temporaries are at most this many elements (one per scratch value)."""

MAX_WORKERS = 4
"""Threads sharing a step's jobs at most (and never more than ``torch.get_num_threads()``)."""


_NAMES = {"add_alpha": "add", "add_s": "add", "sub_s": "sub", "mul_s": "mul", "div_s": "div"}
"""The torch op of each fused form (see polyprop.expression.FORMS) not named after one."""


def _foreach_call(form: str, out: int, args: tuple[int, ...], s: Any) -> Any:
    """Slots of tensor lists ``S`` -> the same with ``torch._foreach_*``.

    In place where ``out`` is the first operand.
    """
    in_place = out == args[0]
    op = getattr(torch, f"_foreach_{_NAMES.get(form, form)}{'_' if in_place else ''}")
    kwargs = {"alpha": s} if form == "add_alpha" else {"value": s} if form in ("addcmul", "addcdiv") else {}
    scalar = () if kwargs or form == "sqrt" or form in ("add", "sub", "mul", "div") else (s,)
    if form in ("add_s", "sub_s") and isinstance(s, torch.Tensor):
        kwargs = {"alpha": 1.0}  # the same sum, and torch's CPU foreach takes a faster path with it

    def call(S: list[Any]) -> None:
        result = op(*[S[i] for i in args], *scalar, **kwargs)
        if in_place:
            return
        if out < 5:  # an output's own buffer, written by a form that does not update it in place
            torch._foreach_copy_(S[out], result)
        else:
            S[out] = result

    return call


def _calls(fused: Any, values: dict[str, float], dtype: Any, cpu: bool) -> list[Any]:
    """One bound foreach call per fused step, its scalar resolved for this step.

    On CPU the scalar of an ``*_s`` form is a 0-d tensor: torch reads it as it reads a
    Python number (cast to the op's compute type) and dispatches it faster.
    """
    compute = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
    calls = []
    for form, out, args, scalars in fused.steps:
        s: Any = None
        for name, factor in scalars:
            s = factor * (1.0 if name is None else values[name])
        if form.endswith("_s") and cpu:
            s = torch.tensor(s, dtype=compute)
        calls.append(_foreach_call(form, out, args, s))
    return calls


def _run_inplace(fused: Any, values: dict[str, float], buffers: list[tuple[Any, ...]]) -> None:
    """The fused steps on every ``(x, g, nu, mu, m)``, as foreach calls over jobs of blocks.

    On CPU each contiguous tensor is cut into blocks (views) of fewer than :data:`GRAIN`
    elements, consecutive blocks make jobs of up to :data:`JOB` elements, and up to
    :data:`MAX_WORKERS` threads take the jobs in turn.  Other tensors (other devices,
    not contiguous) run whole, a list per device and dtype, in the calling thread.
    """
    jobs: list[tuple[list[Any], list[tuple[Any, ...]]]] = []  # (calls, blocks: (x, g, nu, mu, m) views)
    whole: dict[Any, list[tuple[Any, ...]]] = {}
    calls_of: dict[Any, list[Any]] = {}
    job: list[tuple[Any, ...]] = []
    size = 0
    threads = min(torch.get_num_threads(), MAX_WORKERS)
    whole_bytes = WHOLE_BYTES if threads < 2 else 0  # with threads, all in blocks: no op forks threads
    for bufs in buffers:
        x = bufs[0]
        n, block = x.numel(), _block(x)
        if (
            not x.is_cpu or x.dtype not in _BLOCKED or (n > block and n * x.element_size() <= whole_bytes)
            or not all(b is None or b.is_contiguous() for b in bufs)
        ):
            whole.setdefault((x.device, x.dtype), []).append(bufs)
            continue
        if x.dtype not in calls_of:
            calls_of[x.dtype] = _calls(fused, values, x.dtype, True)
        calls = calls_of[x.dtype]
        pieces = [bufs] if n <= block else zip(*(_blocks(b, block, n) for b in bufs))
        for piece in pieces:
            m = piece[0].numel()
            if job and (size + m > JOB or calls is not jobs[-1][0]):
                job, size = [], 0
            if not job:
                jobs.append((calls, job))
            job.append(piece)
            size += m
    for (device, dtype), members in whole.items():  # in this thread, torch's ops using torch's threads
        calls = _calls(fused, values, dtype, device.type == "cpu")
        for batch in _batches(members) if device.type == "cpu" else [members]:
            _run_job(fused.scratch, calls, batch)
    workers = min(threads, len(jobs))
    if workers < 2:
        for calls, members in jobs:
            _run_job(fused.scratch, calls, members)
        return
    if not _pool or _pool[0][1] < workers - 1:
        _pool[:] = [(concurrent.futures.ThreadPoolExecutor(workers - 1, thread_name_prefix="polyprop"), workers - 1)]
    queue = iter(jobs)  # each thread takes the next job (next() on a list iterator is atomic)
    others = [_pool[0][0].submit(_run_jobs, fused.scratch, queue) for _ in range(workers - 1)]
    _run_jobs(fused.scratch, queue)
    for other in others:
        other.result()


_pool: list[tuple[concurrent.futures.ThreadPoolExecutor, int]] = []
os.register_at_fork(after_in_child=_pool.clear)  # a forked child has none of the pool's threads: make a new one

_BLOCKED = (torch.float32, torch.float64)
"""Dtypes whose CPU kernels round an element alike in the vectorized loop and in its scalar tail
(checked for every fused form), so cutting a tensor into blocks changes no bit.  float16 and
bfloat16 kernels do not (the tail of ``add(alpha=)`` rounds twice): those tensors run whole."""


def _batches(members: list[tuple[Any, ...]]) -> list[list[tuple[Any, ...]]]:
    """Consecutive tensors, at most :data:`JOB` elements or one tensor per batch (a batch's temporaries:
    as torch's single-tensor loop allocates for its largest tensor, or at most JOB elements)."""
    batches: list[list[tuple[Any, ...]]] = [[]]
    size = 0
    for bufs in members:
        n = bufs[0].numel()
        if batches[-1] and size + n > JOB:
            batches.append([])
            size = 0
        batches[-1].append(bufs)
        size += n
    return batches


def _run_jobs(scratch: int, queue: Any) -> None:
    """Jobs from ``queue`` until it is empty (grad mode is per thread: off here too)."""
    with torch.no_grad():
        for calls, members in queue:
            _run_job(scratch, calls, members)


def _run_job(scratch: int, calls: list[Any], members: list[tuple[Any, ...]]) -> None:
    """The calls on lists of the members' x, g, nu, mu, m (and scratch lists)."""
    slots = [None if members[0][k] is None else [b[k] for b in members] for k in range(5)] + [None] * scratch
    for call in calls:
        call(slots)


def _block(x: torch.Tensor) -> int:
    """Elements per block: at most :data:`BLOCK_BYTES`, a multiple of 64 below :data:`GRAIN`."""
    return min(GRAIN - 64, BLOCK_BYTES // x.element_size() // 64 * 64)


def _blocks(tensor: Any, block: int, n: int) -> tuple[Any, ...]:
    """Views of ``tensor``'s ``n`` elements, ``block`` at a time (the last one shorter); Nones for None."""
    if tensor is None:
        return (None,) * -(-n // block)
    flat = tensor.view(-1)
    whole = n // block * block
    full = flat[:whole].view(-1, block).unbind()
    return full if whole == n else (*full, flat[whole:])
