"""The chapter's figures: one ``plot_*`` function per figure of the report.

Every ``plot_*`` function draws with Matplotlib's object-oriented API (no pyplot
state, no display), writes a 150 dpi PNG and an SVG with the same stem, and
returns the paths it wrote; given nothing to draw it writes nothing and returns
``[]``.  Each backend keeps one colour (:data:`.drawing.BACKEND_COLORS`) in every
figure.  The numbers they show come from :mod:`.measures`, the strokes and the
saving from :mod:`.drawing`; nothing here runs an experiment.  Matplotlib is
imported inside the functions, so importing this module stays light.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .drawing import (
    FUNCTION_LABELS,
    agreement,
    backend_color,
    draw_contours,
    draw_path,
    finite,
    linestyle,
    new_figure,
    plotting,
    quiet,
    save,
)
from .measures import (
    GAMMAS,
    airfoil_label,
    backend_spread,
    distance_to_optimum,
    frozen_step_gain,
    growth_factors,
    horizon,
    leaky_weights,
    schedule_order,
    sweep_axis,
    sweep_spread,
    trace_box,
    value_spread,
)
from .results import AirfoilRun, DecaySweep, FashionRun
from .trace import CHAPTER_CONFIG, Trace, f_2d, f_rotated


@plotting
def plot_weights(out_dir: str | os.PathLike[str], gammas: Sequence[float] = GAMMAS, steps: int = 40) -> list[Path]:
    """``weights.png``/``.svg``: gamma^t (D2L's figure) and the weights (1 - gamma) gamma^t, horizons marked."""
    if not gammas:
        return []
    from matplotlib import colormaps

    fig = new_figure(10.0, 3.8)
    left, right = fig.subplots(1, 2)
    t = np.arange(steps)
    colors = colormaps["viridis"](np.linspace(0.0, 0.85, len(gammas)))
    for gamma, color in zip(gammas, colors):
        h = horizon(gamma)
        weights = leaky_weights(gamma, steps)
        left.plot(t, gamma**t, color=color, label=f"gamma = {gamma:g}")
        right.plot(t, weights, color=color, label=f"gamma = {gamma:g}: horizon {h:.3g}, sum {weights.sum():.3f}")
        for ax in (left, right):
            ax.axvline(h, color=color, linestyle=":", linewidth=1)
    left.set_title("D2L's figure: gamma^t")
    left.set_ylabel("gamma^t")
    right.set_title("weight of the gradient t steps back: (1 − gamma)·gamma^t")
    right.set_ylabel("weight in the leaky average")
    for ax in (left, right):
        ax.set_xlabel("time t (steps back)")
        ax.set_xlim(0, steps - 1)
        ax.set_ylim(bottom=0)
        ax.legend(title=f"dotted: horizon 1/(1 − gamma); sum over t < {steps}" if ax is right else None)
    return save(fig, Path(out_dir) / "weights")


@plotting
def plot_trace(
    traces: Mapping[str, Trace],
    out_path: str | os.PathLike[str],
    *,
    f: Callable[[Any, Any], Any] = f_2d,
    title: str | None = None,
) -> list[Path]:
    """One panel per backend: contours of f and the backend's path, its chapter line underneath."""
    if not traces:
        return []
    box = trace_box(traces.values())
    n = len(traces)
    fig = new_figure(max(6.5, 0.6 + 3.0 * n), 3.6)
    axes = fig.subplots(1, n, sharex=True, sharey=True, squeeze=False)[0]
    for ax, (name, trace) in zip(axes, traces.items()):
        draw_contours(ax, f, box, trace.points[0])
        draw_path(ax, trace)
        ax.set_title(name, color=backend_color(trace.backend), fontweight="bold")
        ax.set_xlabel(f"x1\n{trace.chapter_line()}", fontsize=8)
    axes[0].set_ylabel("x2")
    steps = max(len(trace.points) - 1 for trace in traces.values())
    fig.suptitle(title or f"RMSProp on {FUNCTION_LABELS.get(f, 'f')}: {steps} steps from "
                 f"({', '.join(f'{v:g}' for v in next(iter(traces.values())).points[0])})")
    return save(fig, out_path)


@plotting
def plot_rotated(
    traces_axis_aligned: Mapping[str, Trace],
    traces_rotated: Mapping[str, Trace],
    out_path: str | os.PathLike[str],
) -> list[Path]:
    """Exercise 2: the axis-aligned and the 45-degree-rotated problem side by side, every backend overlaid."""
    problems = [(t, f) for t, f in ((traces_axis_aligned, f_2d), (traces_rotated, f_rotated)) if t]
    if not problems:
        return []
    box = trace_box([trace for traces, _ in problems for trace in traces.values()])
    fig = new_figure(max(8.5, 1.0 + 4.6 * len(problems)), 4.6 * (box[3] - box[2]) / (box[1] - box[0]) + 1.4)
    axes = fig.subplots(1, len(problems), sharex=True, sharey=True, squeeze=False)[0]
    for ax, (traces, f) in zip(axes, problems):
        first = next(iter(traces.values()))
        draw_contours(ax, f, box, first.points[0], equal=True)
        for name, trace in traces.items():
            draw_path(ax, trace, label=name)
        overlay = (f"{len(traces)} backends overlaid, max difference {backend_spread(traces):.2g}"
                   if len(traces) > 1 else f"backend {first.backend}")
        ax.set_title(FUNCTION_LABELS[f])
        ax.set_xlabel(f"x1\n{len(first.points) - 1} steps: distance to optimum {distance_to_optimum(first):.4g}"
                      f"\n({overlay})", fontsize=8)
        ax.legend(loc="upper right", ncols=2, fontsize=7)
    axes[0].set_ylabel("x2")
    fig.suptitle("Exercise 2: RMSProp on the axis-aligned and the 45°-rotated quadratic (lr 0.4, decay 0.9)")
    return save(fig, out_path)


def _draw_magnitudes(ax: Any, traces: Mapping[str, Trace]) -> None:
    """|x1| (solid, dots) and |x2| (dashed, squares) against step on a log axis, one colour per backend."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    for trace in traces.values():
        points = finite(np.abs(np.asarray(trace.points)))
        points[points == 0] = np.nan
        steps = np.arange(len(points))
        color = backend_color(trace.backend)
        ax.plot(steps, points[:, 0], "-o", color=color, markersize=2.5)
        ax.plot(steps, points[:, 1], "--s", color=color, markersize=2.5)
    handles = [Line2D([], [], color=backend_color(t.backend), label=name) for name, t in traces.items()]
    handles += [Line2D([], [], color="black", marker="o", markersize=3, label="|x1|"),
                Line2D([], [], color="black", marker="s", markersize=3, linestyle="--", label="|x2|")]
    ax.legend(handles=handles, ncols=2, loc="best")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("step")
    ax.grid(True, which="major", axis="y", alpha=0.3)


@plotting
def plot_unit_decay(
    traces: Mapping[str, Trace],
    out_path: str | os.PathLike[str],
    *,
    normal: Mapping[str, Trace] | None = None,
) -> list[Path]:
    """Exercise 1: |x1|, |x2| against step (log y) with decay = 1, beside the chapter's decay 0.9 run."""
    if not traces:
        return []
    panels = [(traces, f"decay = 1: s stays 0, every step is {frozen_step_gain():g}·g")]
    if normal:
        panels.append((normal, f"decay = {CHAPTER_CONFIG.decay:g} (the chapter's run)"))
    fig = new_figure(1.0 + 5.0 * len(panels), 4.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (group, title) in zip(axes, panels):
        with quiet():
            _draw_magnitudes(ax, group)
        ax.set_title(title)
    axes[0].set_ylabel("|x_i| (log scale)")
    first = next(iter(traces.values()))
    m1, m2 = growth_factors(first)
    axes[0].text(0.02, 0.98, f"measured per step ({first.backend}):\nx1 × {m1:g}\nx2 × {m2:g}",
                 transform=axes[0].transAxes, va="top", ha="left", fontsize=8,
                 bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#cccccc"})
    fig.suptitle("Exercise 1: decay = 1 from s = 0 diverges geometrically (lr 0.4, eps 1e-6)")
    return save(fig, out_path)


@plotting
def plot_airfoil(
    runs: Sequence[AirfoilRun],
    out_path: str | os.PathLike[str],
    *,
    title: str = "Airfoil regression: RMSProp from scratch (solid) and the framework's own optimizer (dashed)",
) -> list[Path]:
    """Loss against epoch, one colour per backend, scratch solid and native dashed, final losses in the legend."""
    runs = [run for run in runs if run.losses]
    if not runs:
        return []
    fig = new_figure(8.0, 4.8)
    ax = fig.subplots()
    others: dict[str, str] = {}
    for run in runs:
        ax.plot(run.epochs, finite(run.losses), linestyle=linestyle(run.impl, others),
                color=backend_color(run.backend), linewidth=1.4, label=airfoil_label(run))
    finals = finite([run.final_loss for run in runs])
    lowest = np.nanmin(finite([loss for run in runs for loss in run.losses]))
    if np.isfinite(lowest):
        top = max(0.35, float(np.nanmax(finals)) * 1.05) if np.isfinite(np.nanmax(finals)) else 0.35
        ax.set_ylim(min(0.22, float(lowest) * 0.98), top)
    ax.set_xlim(left=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (y_hat − y)² / 2, mean over 1500 rows")
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)
    title_note = f" ({agreement(value_spread(run.final_loss for run in runs))})" if len(runs) > 1 else ""
    ax.legend(title=f"final loss{title_note}", ncols=2 if len(runs) > 5 else 1, loc="upper right")
    return save(fig, out_path)


@plotting
def plot_fashion(runs: Sequence[FashionRun], out_path: str | os.PathLike[str]) -> list[Path]:
    """Exercise 3: test accuracy against epoch, one panel per schedule, one colour per backend."""
    runs = [run for run in runs if run.test_accuracy]
    if not runs:
        return []
    from matplotlib.ticker import MaxNLocator

    schedules = schedule_order(runs)
    fig = new_figure(0.8 + 3.8 * len(schedules), 4.2)
    axes = fig.subplots(1, len(schedules), sharex=True, sharey=True, squeeze=False)[0]
    for ax, schedule in zip(axes, schedules):
        for run in (r for r in runs if r.schedule == schedule):
            ax.plot(run.epochs, finite(run.test_accuracy), "-o", markersize=3, color=backend_color(run.backend),
                    label=f"{run.backend}: {run.test_accuracy[-1]:.3f}")
        ax.set_title(f"{schedule} learning rate")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(title="final accuracy", loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=3)
    axes[0].set_ylabel("test accuracy (fraction correct)")
    fig.suptitle("Exercise 3: Fashion-MNIST with RMSProp under three learning-rate schedules")
    return save(fig, out_path)


@plotting
def plot_sweep(sweeps: Sequence[DecaySweep], out_path: str | os.PathLike[str]) -> list[Path]:
    """Exercise 4: final airfoil loss against decay, x spaced by log(1 - decay), one line per backend."""
    sweeps = [sweep for sweep in sweeps if sweep.decays]
    if not sweeps:
        return []
    log_x = sweep_axis(sweeps)
    fig = new_figure(7.0, 4.4)
    ax = fig.subplots()
    for sweep in sweeps:
        decays = np.asarray(sweep.decays, dtype=np.float64)
        x = 1.0 - decays if log_x else decays
        ax.plot(x, finite(sweep.final_losses), "-o", markersize=4, color=backend_color(sweep.backend),
                label=sweep.backend)
    losses = finite([loss for sweep in sweeps for loss in sweep.final_losses])
    positive = losses[np.isfinite(losses) & (losses > 0)]
    if len(positive) and positive.max() / positive.min() > 10:
        ax.set_yscale("log")
    ticks = sorted({float(d) for sweep in sweeps for d in sweep.decays})
    if log_x:
        ax.set_xscale("log")
        ax.set_xticks([1.0 - d for d in ticks], [f"{d:g}" for d in ticks])
        ax.minorticks_off()
        ax.invert_xaxis()
        ax.set_xlabel("decay gamma (axis spaced by log(1 − gamma); horizon 1/(1 − gamma) grows to the right)")
    else:
        ax.set_xlabel("decay gamma")
    ax.set_ylabel("final airfoil loss")
    ax.set_title("Exercise 4: final airfoil loss against the decay (RMSProp from scratch)")
    ax.grid(True, alpha=0.3)
    ax.legend(title=f"backend ({agreement(sweep_spread(sweeps))})" if len(sweeps) > 1 else "backend")
    return save(fig, out_path)


__all__ = [
    "plot_airfoil",
    "plot_fashion",
    "plot_rotated",
    "plot_sweep",
    "plot_trace",
    "plot_unit_decay",
    "plot_weights",
]
