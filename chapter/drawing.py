"""The chapter's drawing kit: colours, Matplotlib style, new figures, atomic saving, shared strokes.

The figures themselves are in :mod:`.plots`.  Everything here uses Matplotlib's
object-oriented API (no pyplot state, no display); Matplotlib is imported inside
the functions, so importing this module stays light.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..backends import REGISTRY
from ..files import write_atomically
from .trace import Trace, f_2d, f_rotated

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

BACKEND_COLORS: dict[str, str] = {backend.name: backend.color for backend in REGISTRY}
"""One colour per backend (:data:`polyprop.backends.REGISTRY`'s), the same in every figure."""

OTHER_COLOR = "#7f7f7f"
"""The colour of a backend :data:`BACKEND_COLORS` does not know."""

IMPL_LINESTYLES: dict[str, str] = {"scratch": "-", "native": "--"}
"""Airfoil runs: polyprop's RMSProp solid, the framework's own optimizer dashed."""

FUNCTION_LABELS: dict[Callable[[Any, Any], Any], str] = {
    f_2d: "f(x) = 0.1 x1² + 2 x2²",
    f_rotated: "f(x) = 0.1 (x1 + x2)² + 2 (x1 − x2)²",
}
"""The chapter's two objectives as the figures name them."""

DPI = 150
FORMATS: tuple[str, ...] = ("png", "svg")

RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",  # SVG text stays text: searchable, and smaller
    "font.size": 9,
    "axes.titlesize": 10,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
"""The chapter's Matplotlib style (see :func:`plotting`)."""

PlotFunction = Callable[..., list[Path]]
"""A figure function: draws, saves and returns the paths it wrote."""


def backend_color(backend: str) -> str:
    """The colour of ``backend`` in every figure (grey for an unknown name)."""
    return BACKEND_COLORS.get(backend, OTHER_COLOR)


def linestyle(impl: str, others: dict[str, str]) -> str:
    """Solid for scratch, dashed for native, then dotted / dash-dotted for any other implementation."""
    if impl in IMPL_LINESTYLES:
        return IMPL_LINESTYLES[impl]
    return others.setdefault(impl, (":", "-.")[len(others) % 2])


def agreement(spread: float) -> str:
    """How far runs that should agree differ, as a legend's words."""
    return "identical" if spread == 0 else f"all within {spread:.2g}"


def plotting(function: PlotFunction) -> PlotFunction:
    """Run a plot function under the chapter's Matplotlib style (Agg, text kept in SVGs)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> list[Path]:
        import matplotlib

        with matplotlib.rc_context(RC):
            return function(*args, **kwargs)

    return wrapper


def new_figure(width: float, height: float) -> Any:
    """A new Matplotlib figure (object-oriented, no pyplot state) with constrained layout."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save(fig: Any, out_path: str | os.PathLike[str], formats: Sequence[str] = FORMATS) -> list[Path]:
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
def quiet() -> Iterator[None]:
    """Silence NumPy's warnings about inf/nan in the data being drawn."""
    with np.errstate(all="ignore"):
        yield


def finite(values: Any) -> np.ndarray:
    """``values`` as float64 with inf replaced by nan (Matplotlib leaves gaps at nan)."""
    array = np.array(values, dtype=np.float64)
    array[~np.isfinite(array)] = np.nan
    return array


def draw_contours(
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


def draw_path(ax: Any, trace: Trace, label: str | None = None) -> None:
    """The optimizer's path, one dot per step, in the backend's colour."""
    points = np.asarray(trace.points)
    ax.plot(points[:, 0], points[:, 1], "-o", color=backend_color(trace.backend), markersize=3,
            linewidth=1.2, label=label)


__all__ = [
    "BACKEND_COLORS",
    "DPI",
    "FORMATS",
    "FUNCTION_LABELS",
    "IMPL_LINESTYLES",
    "OTHER_COLOR",
    "RC",
    "agreement",
    "backend_color",
    "draw_contours",
    "draw_path",
    "finite",
    "linestyle",
    "new_figure",
    "plotting",
    "quiet",
    "save",
]
