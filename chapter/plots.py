"""The chapter's figures, and the numbers each one shows (plain NumPy, testable without a plot).

Every ``plot_*`` function draws with Matplotlib's object-oriented API (no pyplot
state, no display), writes a 150 dpi PNG and an SVG with the same stem, and
returns the paths it wrote; given nothing to draw it writes nothing and returns
``[]``.  Each backend keeps one colour (:data:`BACKEND_COLORS`) in every figure.
Matplotlib is imported inside the functions, so importing this module stays light.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..backends import REGISTRY
from ..config import RMSPropConfig
from ..files import write_atomically
from .results import AirfoilRun, DecaySweep, FashionRun
from .run import UNIT_DECAY_CONFIG
from .trace import CHAPTER_CONFIG, Gradient, Trace, f_2d, f_rotated, grad_rotated, trace_2d

BACKEND_COLORS: dict[str, str] = {backend.name: backend.color for backend in REGISTRY}
"""One colour per backend (:data:`polyprop.backends.REGISTRY`'s), the same in every figure."""

OTHER_COLOR = "#7f7f7f"
"""The colour of a backend :data:`BACKEND_COLORS` does not know."""

IMPL_LINESTYLES: dict[str, str] = {"scratch": "-", "native": "--"}
"""Airfoil runs: polyprop's RMSProp solid, the framework's own optimizer dashed."""

SCHEDULES: tuple[str, ...] = ("constant", "step", "cosine")
"""Exercise 3's learning-rate schedules, in the order they are shown."""

GAMMAS: tuple[float, ...] = (0.95, 0.9, 0.8, 0.7)
"""The decays of D2L's leaky-average figure."""

TRACE_BOX: tuple[float, float, float, float] = (-5.5, 1.0, -3.0, 1.5)
"""(x1 min, x1 max, x2 min, x2 max) of the contour plots (D2L's ``show_trace_2d`` range)."""

CURVATURES: tuple[float, float] = (0.2, 4.0)
"""The Hessian's diagonal of f(x) = 0.1 x1^2 + 2 x2^2: the gradient is (0.2 x1, 4 x2)."""

DPI = 150
FORMATS: tuple[str, ...] = ("png", "svg")

_RC = {
    "svg.fonttype": "none",  # SVG text stays text: searchable, and smaller
    "font.size": 9,
    "axes.titlesize": 10,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}

# ---------------------------------------------------------------------------
# The numbers behind the figures
# ---------------------------------------------------------------------------


def backend_color(backend: str) -> str:
    """The colour of ``backend`` in every figure (grey for an unknown name)."""
    return BACKEND_COLORS.get(backend, OTHER_COLOR)


def leaky_weights(gamma: float, steps: int = 40) -> np.ndarray:
    """w_t = (1 - gamma) gamma^t, t = 0..steps-1: the weight of the gradient t steps back."""
    return (1.0 - gamma) * gamma ** np.arange(steps, dtype=np.float64)


def horizon(gamma: float) -> float:
    """The leaky average's effective horizon 1 / (1 - gamma), in steps."""
    return 1.0 / (1.0 - gamma)


def weights_summary(gammas: Sequence[float] = GAMMAS, steps: int = 40) -> list[dict[str, float]]:
    """Per gamma: the weights' sum over ``steps`` (= 1 - gamma^steps) and the horizon."""
    return [
        {
            "gamma": float(gamma),
            "steps": steps,
            "sum": float(leaky_weights(gamma, steps).sum()),
            "closed_form_sum": 1.0 - float(gamma) ** steps,
            "horizon": horizon(gamma),
        }
        for gamma in gammas
    ]


def distance_to_optimum(trace: Trace) -> float:
    """||x_T|| after the last step: both chapter functions have their minimum at 0."""
    return float(np.hypot(*trace.points[-1]))


def backend_spread(traces: Mapping[str, Trace]) -> float:
    """max |x_t(backend) - x_t(first backend)| over all points: 0 when all backends agree."""
    paths = [np.asarray(trace.points) for trace in traces.values()]
    if len(paths) < 2:
        return 0.0
    return float(max(np.max(np.abs(path - paths[0])) for path in paths[1:]))


def growth_factors(trace: Trace) -> tuple[float, float]:
    """Measured x_{t+1} / x_t per coordinate (the median over the steps where it is defined)."""
    points = np.asarray(trace.points, dtype=np.float64)
    before, after = points[:-1], points[1:]
    with np.errstate(all="ignore"):
        ratios = after / before
    usable = np.isfinite(ratios) & (before != 0)
    return tuple(  # type: ignore[return-value]
        float(np.median(ratios[usable[:, i], i])) if usable[:, i].any() else math.nan for i in range(2)
    )


def frozen_step_gain(config: RMSPropConfig = UNIT_DECAY_CONFIG) -> float:
    """lr / sqrt(s0 + eps): the step per unit gradient while the accumulator stays at s0 (decay = 1).

    With lr 0.4, s0 = 0 and eps 1e-6 it is 400.  With eps outside the root (PyTorch): lr / (sqrt(s0) + eps).
    """
    if config.eps_in_sqrt:
        return config.learning_rate / math.sqrt(config.initial_scale + config.eps)
    return config.learning_rate / (math.sqrt(config.initial_scale) + config.eps)


def predicted_growth_factors(config: RMSPropConfig = UNIT_DECAY_CONFIG) -> tuple[float, float]:
    """x_{t+1} / x_t = 1 - gain * c per coordinate, c its curvature (0.2, 4): -79 and -1599 for the chapter."""
    gain = frozen_step_gain(config)
    return 1.0 - gain * CURVATURES[0], 1.0 - gain * CURVATURES[1]


def trace_box(
    traces: Iterable[Trace], default: tuple[float, float, float, float] = TRACE_BOX, margin: float = 0.3
) -> tuple[float, float, float, float]:
    """``default`` widened to hold every finite point of every trace (plus ``margin``)."""
    x1_lo, x1_hi, x2_lo, x2_hi = default
    for trace in traces:
        points = np.asarray(trace.points, dtype=np.float64)
        points = points[np.isfinite(points).all(axis=1)]
        if len(points):
            x1_lo, x2_lo = min(x1_lo, points[:, 0].min() - margin), min(x2_lo, points[:, 1].min() - margin)
            x1_hi, x2_hi = max(x1_hi, points[:, 0].max() + margin), max(x2_hi, points[:, 1].max() + margin)
    return float(x1_lo), float(x1_hi), float(x2_lo), float(x2_hi)


def airfoil_label(run: AirfoilRun) -> str:
    """The legend entry of one airfoil run: backend, implementation and final loss."""
    return f"{run.backend} {run.impl}: {run.final_loss:.3f}"


def value_spread(values: Iterable[float]) -> float:
    """max - min of the finite values (0 for fewer than two): how far runs that should agree differ."""
    finite = [float(v) for v in values if math.isfinite(v)]
    return max(finite) - min(finite) if len(finite) > 1 else 0.0


def sweep_spread(sweeps: Iterable[DecaySweep]) -> float:
    """The largest spread of the final loss across backends at any one decay."""
    by_decay: dict[float, list[float]] = {}
    for sweep in sweeps:
        for decay, loss in zip(sweep.decays, sweep.final_losses):
            by_decay.setdefault(float(decay), []).append(loss)
    return max((value_spread(losses) for losses in by_decay.values()), default=0.0)


def _agreement(spread: float) -> str:
    return "identical" if spread == 0 else f"all within {spread:.2g}"


def final_accuracies(runs: Iterable[FashionRun]) -> dict[tuple[str, str], float]:
    """(backend, schedule) -> test accuracy after the last epoch."""
    return {(run.backend, run.schedule): run.test_accuracy[-1] for run in runs if run.test_accuracy}


def schedule_order(runs: Iterable[FashionRun]) -> list[str]:
    """The schedules present: constant, step, cosine first, then any other in order of appearance."""
    seen = list(dict.fromkeys(run.schedule for run in runs))
    return [s for s in SCHEDULES if s in seen] + [s for s in seen if s not in SCHEDULES]


def sweep_axis(sweeps: Iterable[DecaySweep]) -> bool:
    """True when every decay is below 1, so the x-axis can be 1 - decay on a log scale."""
    return all(d < 1.0 for sweep in sweeps for d in sweep.decays)


# ---------------------------------------------------------------------------
# The explanations that go with exercises 1 and 2
# ---------------------------------------------------------------------------


def gradient_at(trace: Trace, gradient: Gradient, index: int = -1) -> tuple[float, float]:
    """The gradient (evaluated with NumPy) at the ``index``-th point of ``trace``."""
    from ..selection import get_ops

    x1, x2 = (np.asarray(v, dtype=np.float64) for v in trace.points[index])
    g1, g2 = gradient(get_ops("numpy"), x1, x2)
    return float(g1), float(g2)


def rotation_explanation(axis_aligned: Trace | None = None, rotated: Trace | None = None) -> str:
    """Why RMSProp does worse on the rotated problem, with the distances measured after the run.

    Without traces it runs both problems on NumPy (a few milliseconds).
    """
    axis_aligned = axis_aligned if axis_aligned is not None else trace_2d("numpy")
    rotated = rotated if rotated is not None else trace_2d("numpy", gradient=grad_rotated)
    near, far = distance_to_optimum(axis_aligned), distance_to_optimum(rotated)
    g1, g2 = gradient_at(rotated, grad_rotated)
    ratio = max(abs(g1), abs(g2)) / min(abs(g1), abs(g2)) if min(abs(g1), abs(g2)) > 0 else math.inf
    slower = far > near
    return (
        "RMSProp divides each coordinate's step by that coordinate's own running gradient scale, "
        "which fits a Hessian that is diagonal in the coordinate axes, as for "
        f"f(x) = 0.1 x1² + 2 x2²: after {len(axis_aligned.points) - 1} steps the point is "
        f"{near:.4g} from the optimum. Rotated by 45 degrees, f(x) = 0.1 (x1 + x2)² + 2 (x1 − x2)² "
        "mixes x1 and x2 in both curvature directions, so the two per-coordinate accumulators see "
        f"gradients of similar size (at the last point ({g1:.3g}, {g2:.3g}), a ratio of {ratio:.2g}) "
        + (
            "and the rescaling no longer matches the curvature: after one step across the valley the "
            f"path only creeps along x1 = x2, and after {len(rotated.points) - 1} steps it is still "
            f"{far:.4g} from the optimum ({far / near:.0f} times farther)."
            if slower and near > 0
            else f"yet here the rotated run ends {far:.4g} from the optimum, no farther than the axis-aligned one."
        )
    )


def unit_decay_explanation(trace: Trace, config: RMSPropConfig = UNIT_DECAY_CONFIG) -> str:
    """Why decay = 1 from s = 0 diverges, with the growth factors measured on ``trace``."""
    measured = growth_factors(trace)
    predicted = predicted_growth_factors(config)
    gain = frozen_step_gain(config)
    last = np.asarray(trace.points)[-1]
    return (
        f"With decay = 1 the accumulator s = decay·s + (1 − decay)·g² never moves from its start "
        f"s = {config.initial_scale:g}, so every step is lr·g / sqrt(s + eps) = {gain:g}·g: a plain "
        f"gradient step with a learning rate far beyond the stable 2 / curvature "
        f"({2 / CURVATURES[0]:g} for x1, {2 / CURVATURES[1]:g} for x2). "
        f"Each step multiplies x1 by 1 − {gain:g}·{CURVATURES[0]:g} = {predicted[0]:g} "
        f"and x2 by 1 − {gain:g}·{CURVATURES[1]:g} = {predicted[1]:g}; "
        f"the {trace.backend} run measures {measured[0]:g} and {measured[1]:g}, "
        f"so after {len(trace.points) - 1} steps |x1| = {abs(last[0]):.3g} and |x2| = {abs(last[1]):.3g}."
    )


# ---------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------


def _plotting(function: Callable[..., list[Path]]) -> Callable[..., list[Path]]:
    """Run a plot function under the chapter's Matplotlib style (Agg, text kept in SVGs)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> list[Path]:
        import matplotlib

        with matplotlib.rc_context(_RC):
            return function(*args, **kwargs)

    return wrapper


def _figure(width: float, height: float) -> Any:
    """A new Matplotlib figure (object-oriented, no pyplot state) with constrained layout."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save(fig: Any, out_path: str | os.PathLike[str], formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write ``fig`` as ``<stem>.png`` (150 dpi) and ``<stem>.svg``; each file appears whole or not at all."""
    stem = Path(out_path)
    stem = stem.with_suffix("") if stem.suffix.lower() in {".png", ".svg"} else stem
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        target = stem.with_name(f"{stem.name}.{fmt}")
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=DPI)
        write_atomically(target, buffer.getvalue())
        written.append(target)
    return written


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence NumPy's warnings about inf/nan in the data being drawn."""
    with np.errstate(all="ignore"):
        yield


def _finite(values: Any) -> np.ndarray:
    """``values`` as float64 with inf replaced by nan (Matplotlib leaves gaps at nan)."""
    array = np.array(values, dtype=np.float64)
    array[~np.isfinite(array)] = np.nan
    return array


def _draw_contours(
    ax: Any,
    f: Callable[[Any, Any], Any],
    box: tuple[float, float, float, float],
    start: Sequence[float],
    equal: bool = False,
) -> None:
    """Contour lines of f over ``box`` at f(start)·2^k (evenly spaced in log radius), the optimum marked.

    ``equal`` draws x1 and x2 to the same scale (so a 45-degree rotation looks like one).
    """
    x1, x2 = np.meshgrid(np.linspace(box[0], box[1], 160), np.linspace(box[2], box[3], 160))
    values = f(x1, x2)
    top = float(f(*start)) if np.isfinite(f(*start)) and f(*start) > 0 else float(values.max())
    levels = top * 2.0 ** np.arange(-12, 4)
    ax.contour(x1, x2, values, levels=levels[levels < values.max()], colors="#b0b7bf", linewidths=0.7)
    ax.plot([0.0], [0.0], marker="*", color="black", markersize=8, linestyle="none")
    ax.set_xlim(box[0], box[1])
    ax.set_ylim(box[2], box[3])
    if equal:
        ax.set_aspect("equal")


def _draw_path(ax: Any, trace: Trace, label: str | None = None) -> None:
    """The optimizer's path, one dot per step, in the backend's colour."""
    points = np.asarray(trace.points)
    ax.plot(points[:, 0], points[:, 1], "-o", color=backend_color(trace.backend), markersize=3,
            linewidth=1.2, label=label)


_FUNCTION_LABELS = {f_2d: "f(x) = 0.1 x1² + 2 x2²", f_rotated: "f(x) = 0.1 (x1 + x2)² + 2 (x1 − x2)²"}


@_plotting
def plot_weights(out_dir: str | os.PathLike[str], gammas: Sequence[float] = GAMMAS, steps: int = 40) -> list[Path]:
    """``weights.png``/``.svg``: gamma^t (D2L's figure) and the weights (1 - gamma) gamma^t, horizons marked."""
    if not gammas:
        return []
    from matplotlib import colormaps

    fig = _figure(10.0, 3.8)
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
    return _save(fig, Path(out_dir) / "weights")


@_plotting
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
    fig = _figure(max(6.5, 0.6 + 3.0 * n), 3.6)
    axes = fig.subplots(1, n, sharex=True, sharey=True, squeeze=False)[0]
    for ax, (name, trace) in zip(axes, traces.items()):
        _draw_contours(ax, f, box, trace.points[0])
        _draw_path(ax, trace)
        ax.set_title(name, color=backend_color(trace.backend), fontweight="bold")
        ax.set_xlabel(f"x1\n{trace.chapter_line()}", fontsize=8)
    axes[0].set_ylabel("x2")
    steps = max(len(trace.points) - 1 for trace in traces.values())
    fig.suptitle(title or f"RMSProp on {_FUNCTION_LABELS.get(f, 'f')}: {steps} steps from "
                 f"({', '.join(f'{v:g}' for v in next(iter(traces.values())).points[0])})")
    return _save(fig, out_path)


@_plotting
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
    fig = _figure(max(8.5, 1.0 + 4.6 * len(problems)), 4.6 * (box[3] - box[2]) / (box[1] - box[0]) + 1.4)
    axes = fig.subplots(1, len(problems), sharex=True, sharey=True, squeeze=False)[0]
    for ax, (traces, f) in zip(axes, problems):
        first = next(iter(traces.values()))
        _draw_contours(ax, f, box, first.points[0], equal=True)
        for name, trace in traces.items():
            _draw_path(ax, trace, label=name)
        agreement = (f"{len(traces)} backends overlaid, max difference {backend_spread(traces):.2g}"
                     if len(traces) > 1 else f"backend {first.backend}")
        ax.set_title(_FUNCTION_LABELS[f])
        ax.set_xlabel(f"x1\n{len(first.points) - 1} steps: distance to optimum {distance_to_optimum(first):.4g}"
                      f"\n({agreement})", fontsize=8)
        ax.legend(loc="upper right", ncols=2, fontsize=7)
    axes[0].set_ylabel("x2")
    fig.suptitle("Exercise 2: RMSProp on the axis-aligned and the 45°-rotated quadratic (lr 0.4, decay 0.9)")
    return _save(fig, out_path)


def _draw_magnitudes(ax: Any, traces: Mapping[str, Trace]) -> None:
    """|x1| (solid, dots) and |x2| (dashed, squares) against step on a log axis, one colour per backend."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    for trace in traces.values():
        points = _finite(np.abs(np.asarray(trace.points)))
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


@_plotting
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
    fig = _figure(1.0 + 5.0 * len(panels), 4.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (group, title) in zip(axes, panels):
        with _quiet():
            _draw_magnitudes(ax, group)
        ax.set_title(title)
    axes[0].set_ylabel("|x_i| (log scale)")
    first = next(iter(traces.values()))
    m1, m2 = growth_factors(first)
    axes[0].text(0.02, 0.98, f"measured per step ({first.backend}):\nx1 × {m1:g}\nx2 × {m2:g}",
                 transform=axes[0].transAxes, va="top", ha="left", fontsize=8,
                 bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#cccccc"})
    fig.suptitle("Exercise 1: decay = 1 from s = 0 diverges geometrically (lr 0.4, eps 1e-6)")
    return _save(fig, out_path)


def _linestyle(impl: str, others: dict[str, str]) -> str:
    """Solid for scratch, dashed for native, then dotted / dash-dotted for any other implementation."""
    if impl in IMPL_LINESTYLES:
        return IMPL_LINESTYLES[impl]
    return others.setdefault(impl, (":", "-.")[len(others) % 2])


@_plotting
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
    fig = _figure(8.0, 4.8)
    ax = fig.subplots()
    others: dict[str, str] = {}
    for run in runs:
        ax.plot(run.epochs, _finite(run.losses), linestyle=_linestyle(run.impl, others),
                color=backend_color(run.backend), linewidth=1.4, label=airfoil_label(run))
    finals = _finite([run.final_loss for run in runs])
    lowest = np.nanmin(_finite([loss for run in runs for loss in run.losses]))
    if np.isfinite(lowest):
        top = max(0.35, float(np.nanmax(finals)) * 1.05) if np.isfinite(np.nanmax(finals)) else 0.35
        ax.set_ylim(min(0.22, float(lowest) * 0.98), top)
    ax.set_xlim(left=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (y_hat − y)² / 2, mean over 1500 rows")
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)
    title_note = f" ({_agreement(value_spread(run.final_loss for run in runs))})" if len(runs) > 1 else ""
    ax.legend(title=f"final loss{title_note}", ncols=2 if len(runs) > 5 else 1, loc="upper right")
    return _save(fig, out_path)


@_plotting
def plot_fashion(runs: Sequence[FashionRun], out_path: str | os.PathLike[str]) -> list[Path]:
    """Exercise 3: test accuracy against epoch, one panel per schedule, one colour per backend."""
    runs = [run for run in runs if run.test_accuracy]
    if not runs:
        return []
    from matplotlib.ticker import MaxNLocator

    schedules = schedule_order(runs)
    fig = _figure(0.8 + 3.8 * len(schedules), 4.2)
    axes = fig.subplots(1, len(schedules), sharex=True, sharey=True, squeeze=False)[0]
    for ax, schedule in zip(axes, schedules):
        for run in (r for r in runs if r.schedule == schedule):
            ax.plot(run.epochs, _finite(run.test_accuracy), "-o", markersize=3, color=backend_color(run.backend),
                    label=f"{run.backend}: {run.test_accuracy[-1]:.3f}")
        ax.set_title(f"{schedule} learning rate")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(title="final accuracy", loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=3)
    axes[0].set_ylabel("test accuracy (fraction correct)")
    fig.suptitle("Exercise 3: Fashion-MNIST with RMSProp under three learning-rate schedules")
    return _save(fig, out_path)


@_plotting
def plot_sweep(sweeps: Sequence[DecaySweep], out_path: str | os.PathLike[str]) -> list[Path]:
    """Exercise 4: final airfoil loss against decay, x spaced by log(1 - decay), one line per backend."""
    sweeps = [sweep for sweep in sweeps if sweep.decays]
    if not sweeps:
        return []
    log_x = sweep_axis(sweeps)
    fig = _figure(7.0, 4.4)
    ax = fig.subplots()
    for sweep in sweeps:
        decays = np.asarray(sweep.decays, dtype=np.float64)
        x = 1.0 - decays if log_x else decays
        ax.plot(x, _finite(sweep.final_losses), "-o", markersize=4, color=backend_color(sweep.backend),
                label=sweep.backend)
    losses = _finite([loss for sweep in sweeps for loss in sweep.final_losses])
    positive = losses[np.isfinite(losses) & (losses > 0)]
    if len(positive) and positive.max() / positive.min() > 10:
        ax.set_yscale("log")
    decays = sorted({float(d) for sweep in sweeps for d in sweep.decays})
    if log_x:
        ax.set_xscale("log")
        ax.set_xticks([1.0 - d for d in decays], [f"{d:g}" for d in decays])
        ax.minorticks_off()
        ax.invert_xaxis()
        ax.set_xlabel("decay gamma (axis spaced by log(1 − gamma); horizon 1/(1 − gamma) grows to the right)")
    else:
        ax.set_xlabel("decay gamma")
    ax.set_ylabel("final airfoil loss")
    ax.set_title("Exercise 4: final airfoil loss against the decay (RMSProp from scratch)")
    ax.grid(True, alpha=0.3)
    ax.legend(title=f"backend ({_agreement(sweep_spread(sweeps))})" if len(sweeps) > 1 else "backend")
    return _save(fig, out_path)


__all__ = [
    "BACKEND_COLORS",
    "UNIT_DECAY_CONFIG",
    "airfoil_label",
    "backend_color",
    "backend_spread",
    "distance_to_optimum",
    "final_accuracies",
    "frozen_step_gain",
    "gradient_at",
    "growth_factors",
    "horizon",
    "leaky_weights",
    "plot_airfoil",
    "plot_fashion",
    "plot_rotated",
    "plot_sweep",
    "plot_trace",
    "plot_unit_decay",
    "plot_weights",
    "predicted_growth_factors",
    "rotation_explanation",
    "schedule_order",
    "sweep_spread",
    "trace_box",
    "unit_decay_explanation",
    "value_spread",
    "weights_summary",
]
