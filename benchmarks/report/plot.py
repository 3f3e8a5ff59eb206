"""The step-time figure ``step_time.png``: one log-log panel per backend and the model case as bars.

Matplotlib's Agg canvas, no pyplot; Matplotlib is imported only when the figure is drawn.
"""

from __future__ import annotations

import io
from typing import Any

from benchmarks.step import BACKENDS

from .summary import fastest_polyprop, groups, summary_rows

DPI = 120
SHORT = {"tensorflow": "tf"}
"""Backend names shortened under the bars of the plot's model panel."""


def _panel_lines(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Single-tensor rows of one backend as lines: (variant, dtype) -> role and sorted points."""
    lines: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        if row.get("error") or row["case"] == "model" or row.get("median_s") is None:
            continue
        line = lines.setdefault((row["variant"], row["dtype"]), {"role": row["role"], "points": []})
        line["points"].append((row["elements"], row["median_s"] * 1e3))
    for line in lines.values():
        line["points"].sort()
    return lines


def _highlighted(rows: list[dict[str, Any]]) -> set[str]:
    """The polyprop variants fastest in some single-tensor case of these rows, and their natives."""
    single = [r for r in rows if r["case"] != "model"]
    winners = [w for w in (fastest_polyprop(group) for group in groups(single).values()) if w is not None]
    return {w["variant"] for w in winners} | {w["native"] for w in winners if w.get("native")}


def _draw_backend(ax: Any, backend: str, rows: list[dict[str, Any]]) -> None:
    """One backend's panel: median ms per step against elements, log-log."""
    lines = _panel_lines(rows)
    ax.set_title(backend, fontsize=11)
    if not lines:
        reason = next((r["error"] for r in rows if r.get("error")), "not run")
        ax.text(0.5, 0.5, reason[:60], ha="center", va="center", wrap=True, fontsize=8, transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    highlighted = _highlighted(rows)
    names = list(dict.fromkeys(name for name, _ in lines))
    natives = [n for n in names if lines[next(k for k in lines if k[0] == n)]["role"] != "polyprop"]
    natives.sort(key=lambda n: n not in highlighted)  # the compared natives get black
    ours = [n for n in names if n not in natives]
    colours = {n: c for n, c in zip(natives, ("black", "0.45", "0.7", "0.3"))}
    palette = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:cyan")
    colours.update({n: palette[i % len(palette)] for i, n in enumerate(ours)})
    labelled: set[str] = set()
    for (name, dtype), line in lines.items():
        xs, ys = zip(*line["points"])
        bold = name in highlighted
        ax.plot(
            xs, ys, color=colours[name], linestyle="-" if dtype == "float32" else "--", marker="o" if bold else ".",
            linewidth=2.2 if bold else 1.0, alpha=1.0 if bold else 0.6, label=None if name in labelled else name,
        )
        labelled.add(name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("elements (one tensor)")
    ax.set_ylabel("median ms per step")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=6.5, loc="upper left")


def _draw_model(ax: Any, summary: list[dict[str, Any]]) -> None:
    """The ``model`` case (200 tensors): fastest polyprop / native per backend and dtype, as bars."""
    entries = [e for e in summary if e["case"] == "model" and e["fastest"] and e["fastest"].get("ratio_to_native")]
    ax.set_title("model case (200 tensors): fastest polyprop / native", fontsize=10)
    if not entries:
        ax.text(0.5, 0.5, "model case not run", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    labels = [f"{SHORT.get(e['backend'], e['backend'])}\n{e['dtype']}" for e in entries]
    ratios = [e["fastest"]["ratio_to_native"] for e in entries]
    colours = ["tab:green" if r <= 1.0 else "tab:red" for r in ratios]
    ax.bar(range(len(ratios)), ratios, color=colours)
    ax.axhline(1.0, color="black", linewidth=1, linestyle=":")
    ax.set_xticks(range(len(ratios)), labels, fontsize=7)
    ax.set_ylabel("x native (below 1: faster)")
    for i, r in enumerate(ratios):
        ax.text(i, r, f"{r:.2f}", ha="center", va="bottom", fontsize=7)


def render_plot(step: dict[str, Any]) -> bytes:
    """The step-time figure as PNG bytes (Matplotlib's Agg canvas, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(16, 9), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 3).ravel()
    for ax, backend in zip(axes, BACKENDS):
        _draw_backend(ax, backend, [r for r in step["rows"] if r["backend"] == backend])
    _draw_model(axes[5], summary_rows(step))
    fig.suptitle(
        "One RMSProp step, native vs polyprop: solid float32, dashed float64; "
        "thick: the fastest polyprop variants and the natives they are compared with",
        fontsize=12,
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
