"""Run the whole chapter on a set of backends and collect :class:`ChapterResults`.

Used by ``polyprop chapter``; each experiment lives in its own module and this
module only sequences them, with one progress bar per long part.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..backends import framework_version
from ..config import RMSPropConfig
from .results import AirfoilRun, ChapterResults, DecaySweep, FashionRun
from .trace import CHAPTER_CONFIG, Trace, grad_rotated, trace_2d

UNIT_DECAY_CONFIG = CHAPTER_CONFIG.replace(decay=1.0, allow_unit_decay=True)
"""Exercise 1: decay = 1 from s = 0 (an experiment, so the opt-in is explicit)."""

Progress = Callable[[str, int], Any]
"""``progress(description, total)`` returns a context manager whose value has ``update()``."""

FRAMEWORK_NAMES = {"numpy": "NumPy"}
"""How the report's notes spell a framework, where that is not its backend's name."""


def rotation_traces(backend: str = "numpy") -> tuple[Trace, Trace]:
    """Exercise 2's two runs on ``backend``: the chapter's axis-aligned problem and the 45-degree-rotated one."""
    return trace_2d(backend), trace_2d(backend, gradient=grad_rotated)


def run_chapter(
    backends: list[str],
    data_dir: str | None = None,
    fashion_dir: str | None = None,
    fashion_limit: int | None = None,
    fashion_epochs: int = 5,
    progress: Progress | None = None,
) -> ChapterResults:
    """Every experiment of the chapter on ``backends`` (names of installed backends)."""
    from .airfoil import (
        AIRFOIL_CONFIG,
        decay_sweep,
        has_native,
        train_native,
        train_scratch,
        warmup_decay,
    )
    from .data import load_airfoil

    bar = progress or _no_progress
    notes: list[str] = []
    traces = {b: trace_2d(b) for b in backends}
    rotated = {b: trace_2d(b, gradient=grad_rotated) for b in backends}
    unit_decay = {b: trace_2d(b, config=UNIT_DECAY_CONFIG) for b in backends}

    features, labels = load_airfoil(data_dir)
    steps_per_run = 2 * len(labels) // 10
    airfoil: list[AirfoilRun] = []
    native_backends = [b for b in backends if has_native(b)]
    with bar("airfoil, scratch and native", steps_per_run * (len(backends) + len(native_backends))) as b:
        for name in backends:
            airfoil.append(train_scratch(name, features, labels, progress=b.update))
        for name in native_backends:
            airfoil.append(train_native(name, features, labels, progress=b.update))
    notes.extend(
        f"{FRAMEWORK_NAMES.get(b, b)} has no RMSProp of its own: its airfoil row has no native run."
        for b in backends
        if b not in native_backends
    )

    schedule_config: RMSPropConfig = AIRFOIL_CONFIG.replace(decay=warmup_decay)
    sweep: list[DecaySweep] = []
    decay_schedule: list[AirfoilRun] = []
    sweep_decays = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999)
    with bar("exercise 4: decay schedule and sweep", steps_per_run * len(backends) * (1 + len(sweep_decays))) as b:
        for name in backends:
            decay_schedule.append(
                train_scratch(name, features, labels, config=schedule_config, progress=b.update)
            )
            sweep.append(decay_sweep(name, features, labels, decays=sweep_decays, progress=b.update))

    fashion: list[FashionRun] = []
    try:
        fashion = list(_fashion_runs(backends, fashion_dir, fashion_limit, fashion_epochs, bar))
    except FileNotFoundError as error:
        notes.append(f"Exercise 3 (Fashion-MNIST) skipped: {error}")

    return ChapterResults(
        backends=list(backends),
        versions={b: framework_version(b) or "not installed" for b in backends},
        traces=traces,
        rotated=rotated,
        unit_decay=unit_decay,
        airfoil=airfoil,
        decay_schedule=decay_schedule,
        sweep=sweep,
        fashion=fashion,
        notes=notes,
    )


def _fashion_runs(
    backends: list[str],
    data_dir: str | None,
    limit: int | None,
    epochs: int,
    bar: Progress,
) -> Iterator[FashionRun]:
    from .fashion import SCHEDULES, load_fashion_mnist, train_fashion

    data = load_fashion_mnist(data_dir, limit=limit)
    batches = -(-len(data.train_labels) // 256) * epochs
    with bar("exercise 3: Fashion-MNIST", batches * len(backends) * len(SCHEDULES)) as b:
        for name in backends:
            for schedule in SCHEDULES:
                yield train_fashion(name, data, schedule=schedule, epochs=epochs, progress=b.update)


class _Silent:
    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int = 1) -> None:
        return None


def _no_progress(description: str, total: int) -> _Silent:
    return _Silent()

