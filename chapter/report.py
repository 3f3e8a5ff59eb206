"""The chapter as one report: ``index.md`` and ``index.html`` with the figures beside them, and ``results.json``.

The report is built once as a list of blocks (heading, paragraph, table, figure,
list) and rendered twice, to Markdown and to standalone HTML, so both say the
same.  Every file is written under a temporary name in the output folder and
then renamed over the old one, so a failed run leaves the previous report whole.
"""

from __future__ import annotations

import html
import json
import math
import os
import platform
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from ..files import write_atomically
from . import explain, measures, plots
from .results import AirfoilRun, ChapterResults, DecaySweep, FashionRun
from .trace import CHAPTER_CONFIG, START, STEPS, Trace, grad_rotated

D2L_LINE = "epoch 20, x1: -0.010599, x2: 0.000000"
"""What D2L's ``train_2d`` prints after the chapter's 20 steps."""

TITLE = "RMSProp, as in Dive into Deep Learning (section 12.8)"

MISSING = "—"


class Heading(NamedTuple):
    level: int
    text: str


class Paragraph(NamedTuple):
    text: str


class Table(NamedTuple):
    header: list[str]
    rows: list[list[str]]


class Figure(NamedTuple):
    file: str
    """The PNG's name, beside the report."""
    caption: str


class Bullets(NamedTuple):
    items: list[str]


Block = Heading | Paragraph | Table | Figure | Bullets


# ---------------------------------------------------------------------------
# Numbers as text
# ---------------------------------------------------------------------------


def fmt(value: float | None, spec: str) -> str:
    """``value`` formatted with ``spec``; a dash when missing, "nan"/"inf" as such."""
    if value is None:
        return MISSING
    if not math.isfinite(value):
        return str(value)
    return format(value, spec)


def _ordered_backends(results: ChapterResults) -> list[str]:
    """``results.backends``, then any other backend that shows up in the results, in order."""
    seen = list(results.backends)
    named = [*results.traces, *results.rotated, *results.unit_decay]
    runs: list[AirfoilRun | DecaySweep | FashionRun] = [
        *results.airfoil, *results.decay_schedule, *results.sweep, *results.fashion
    ]
    named += [run.backend for run in runs]
    return seen + [name for name in dict.fromkeys(named) if name not in seen]


def _reference(traces: Mapping[str, Trace]) -> Trace | None:
    """The NumPy trace when there is one, else the first."""
    return traces.get("numpy") or next(iter(traces.values()), None)


def _airfoil_by(runs: Iterable[AirfoilRun]) -> dict[tuple[str, str], AirfoilRun]:
    return {(run.backend, run.impl): run for run in runs}


def _point(trace: Trace | None) -> str:
    return MISSING if trace is None else f"({trace.final[0]:.6f}, {trace.final[1]:.6f})"


def _code(text: str) -> str:
    return f"`{text}`"


# ---------------------------------------------------------------------------
# The report's content
# ---------------------------------------------------------------------------


def _versions_line(results: ChapterResults) -> str:
    frameworks = ", ".join(f"{name} {version}" for name, version in results.versions.items()) or MISSING
    machine = f"{platform.system()} {platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} CPUs"
    return f"Machine: {machine}. Frameworks: {frameworks}."


def _main_table(results: ChapterResults) -> Table:
    runs = _airfoil_by(results.airfoil)
    rows = []
    for name in _ordered_backends(results):
        trace = results.traces.get(name)
        scratch, native = runs.get((name, "scratch")), runs.get((name, "native"))
        rows.append([
            name,
            fmt(trace.final[0], ".6f") if trace else MISSING,
            fmt(trace.final[1], ".6f") if trace else MISSING,
            _code(trace.chapter_line()) if trace else MISSING,
            ("yes" if trace.chapter_line() == D2L_LINE else "no") if trace else MISSING,
            fmt(scratch.final_loss if scratch else None, ".3f"),
            fmt(native.final_loss if native else None, ".3f"),
            fmt(scratch.seconds_per_epoch if scratch else None, ".3g"),
            fmt(native.seconds_per_epoch if native else None, ".3g"),
        ])
    return Table(
        ["backend", "final x1", "final x2", "chapter line", "= D2L", "airfoil loss, scratch",
         "airfoil loss, native", "s/epoch, scratch", "s/epoch, native"],
        rows,
    )


def _weights_table() -> Table:
    return Table(
        ["gamma", "sum of the last 40 weights (1 − gamma^40)", "horizon 1/(1 − gamma), steps"],
        [[f"{row['gamma']:g}", f"{row['sum']:.4f}", f"{row['horizon']:.3g}"] for row in measures.weights_summary()],
    )


def _unit_decay_section(results: ChapterResults, figures: dict[str, str]) -> list[Block]:
    blocks: list[Block] = [Heading(3, "Exercise 1: decay = 1")]
    reference = _reference(results.unit_decay)
    if reference is None:
        return [*blocks, Paragraph("Not run: no trace with decay = 1 was recorded.")]
    predicted = measures.predicted_growth_factors()
    rows = [["predicted", f"{predicted[0]:g}", f"{predicted[1]:g}", MISSING, MISSING]]
    for name, trace in results.unit_decay.items():
        g1, g2 = measures.growth_factors(trace)
        last = trace.points[-1]
        rows.append([name, fmt(g1, "g"), fmt(g2, "g"), fmt(abs(last[0]), ".3g"), fmt(abs(last[1]), ".3g")])
    blocks += [
        Paragraph(explain.unit_decay_explanation(reference)),
        Table(["backend", "x1 growth per step", "x2 growth per step", f"|x1| after {STEPS}", f"|x2| after {STEPS}"],
              rows),
    ]
    return blocks + _figure(figures, "unit_decay", "|x1| and |x2| against step on a log axis: with decay = 1 "
                            "both grow geometrically, with the chapter's decay 0.9 both shrink.")


def _rotated_section(results: ChapterResults, figures: dict[str, str]) -> list[Block]:
    blocks: list[Block] = [Heading(3, "Exercise 2: the rotated problem")]
    aligned, rotated = _reference(results.traces), _reference(results.rotated)
    if aligned is None or rotated is None:
        return [*blocks, Paragraph("Not run: the axis-aligned or the rotated trace is missing.")]
    rows = []
    for name in _ordered_backends(results):
        a, r = results.traces.get(name), results.rotated.get(name)
        rows.append([name, _point(a), fmt(measures.distance_to_optimum(a) if a else None, ".4g"),
                     _point(r), fmt(measures.distance_to_optimum(r) if r else None, ".4g")])
    blocks += [
        Paragraph(explain.rotation_explanation(aligned, rotated)),
        Table(["backend", "axis-aligned: final point", "distance to optimum", "rotated: final point",
               "distance to optimum"], rows),
    ]
    return blocks + _figure(figures, "rotated", "The same 20 RMSProp steps on f(x) = 0.1 x1² + 2 x2² (left) and on "
                            "its 45°-rotated version (right), every backend overlaid.")


def _fashion_section(results: ChapterResults, figures: dict[str, str]) -> list[Block]:
    blocks: list[Block] = [Heading(3, "Exercise 3: Fashion-MNIST with learning-rate schedules")]
    if not results.fashion:
        reasons = [note for note in results.notes if "fashion" in note.lower()]
        why = " ".join(reasons) if reasons else "No Fashion-MNIST run was recorded (see the notes below)."
        return [*blocks, Paragraph(f"Not run. {why}")]
    finals = measures.final_accuracies(results.fashion)
    schedules = measures.schedule_order(results.fashion)
    backends = [b for b in _ordered_backends(results) if any(b == key[0] for key in finals)]
    seconds = {(r.backend, r.schedule): r.seconds_per_epoch for r in results.fashion}
    epochs = max(len(r.epochs) for r in results.fashion)
    rows = [[b] + [fmt(finals.get((b, s)), ".3f") for s in schedules]
            + [fmt(max((seconds.get((b, s), math.nan) for s in schedules), default=None), ".3g")]
            for b in backends]
    blocks += [
        Paragraph(f"Test accuracy after the last of {epochs} epochs, per backend and learning-rate schedule."),
        Table(["backend", *[f"{s} lr" for s in schedules], "s/epoch (slowest schedule)"], rows),
    ]
    return blocks + _figure(figures, "fashion", "Fashion-MNIST test accuracy after each epoch, one panel per "
                            "learning-rate schedule, one colour per backend.")


def _schedule_description() -> str:
    """The decay schedule exercise 4 uses, from its definition."""
    from .airfoil import warmup_decay

    first = (warmup_decay.__doc__ or "a decay that changes with the step").strip().splitlines()[0]
    return first.replace("``", "`")


def _decay_section(results: ChapterResults, figures: dict[str, str]) -> list[Block]:
    blocks: list[Block] = [Heading(3, "Exercise 4: the decay as a function of time, and a sweep over decays")]
    if results.decay_schedule:
        constant = _airfoil_by(results.airfoil)
        rows = []
        for run in results.decay_schedule:
            fixed = constant.get((run.backend, "scratch"))
            rows.append([run.backend, fmt(fixed.final_loss if fixed else None, ".4f"), fmt(run.final_loss, ".4f"),
                         fmt(run.seconds_per_epoch, ".3g")])
        blocks += [
            Paragraph(f"RMSProp from scratch on the airfoil data with the decay scheduled: {_schedule_description()}"),
            Table(["backend", "final loss, constant decay", "final loss, decay schedule", "s/epoch"], rows),
        ]
        blocks += _figure(figures, "decay_schedule", "Airfoil loss against epoch with the scheduled decay.")
    else:
        blocks.append(Paragraph("The decay-schedule runs were not recorded."))
    if results.sweep:
        decays = sorted({d for sweep in results.sweep for d in sweep.decays})
        rows = []
        for sweep in results.sweep:
            by_decay = dict(zip(sweep.decays, sweep.final_losses))
            rows.append([sweep.backend] + [fmt(by_decay.get(d), ".4f") for d in decays])
        blocks += [
            Paragraph("Final airfoil loss after the chapter's two epochs for each constant decay (4 decimals: "
                      "the differences are small)."),
            Table(["backend", *[f"decay {d:g}" for d in decays]], rows),
        ]
        blocks += _figure(figures, "sweep", "Final airfoil loss against the decay, one line per backend.")
    else:
        blocks.append(Paragraph("The decay sweep was not recorded."))
    return blocks


def _figure(figures: dict[str, str], name: str, caption: str) -> list[Block]:
    """The figure ``name`` with its caption, or nothing when it was not drawn."""
    return [Figure(figures[name], caption)] if name in figures else []


def build_report(results: ChapterResults, figures: dict[str, str]) -> list[Block]:
    """The report as blocks; ``figures`` maps a figure's name to its PNG file beside the report."""
    lr, decay, eps = CHAPTER_CONFIG.learning_rate, CHAPTER_CONFIG.decay, CHAPTER_CONFIG.eps
    intro = (
        "polyprop defines RMSProp once, with no framework in it, and runs that one definition on each backend's "
        "tensors. This report repeats the RMSProp section of Dive into Deep Learning on every backend: the 2-D "
        f"run on f(x) = 0.1 x1² + 2 x2² from ({START[0]:g}, {START[1]:g}) "
        f"(lr {lr:g}, decay {decay:g}, eps {eps:g}, {STEPS} steps), "
        f"which in the book prints {_code(D2L_LINE)}; linear regression on the NASA airfoil data with RMSProp "
        "from scratch and with each framework's own optimizer; and the section's four exercises."
    )
    backends = _ordered_backends(results)
    blocks: list[Block] = [
        Heading(1, f"{TITLE}: {', '.join(backends)}" if backends else TITLE),
        Paragraph(intro),
        Paragraph(_versions_line(results)),
        Heading(2, "Results per backend"),
        Paragraph("The final point of the 2-D run and the line D2L prints for it; the airfoil loss after two "
                  "epochs (mean (y_hat − y)² / 2 over all 1500 rows) and the training time per epoch, for "
                  "polyprop's RMSProp (scratch) and the framework's own (native)."),
        _main_table(results),
        Heading(2, "Figures"),
        Paragraph("RMSProp keeps a leaky average of squared gradients, s ← gamma·s + (1 − gamma)·g², so the gradient "
                  "t steps back carries the weight (1 − gamma)·gamma^t."),
        _weights_table(),
    ]
    blocks += _figure(figures, "weights", "The weights gamma^t (as in D2L) and (1 − gamma)·gamma^t of past "
                      "gradients; the dotted lines mark each horizon 1/(1 − gamma).")
    blocks += _figure(figures, "trace", "The chapter's 20 RMSProp steps on f(x) = 0.1 x1² + 2 x2², one panel per "
                      "backend, each with the line D2L prints.")
    blocks += _figure(figures, "airfoil", "Airfoil loss against epoch: polyprop's RMSProp solid, the framework's "
                      "own dashed, final losses in the legend.")
    blocks += [Heading(2, "Exercises")]
    blocks += _unit_decay_section(results, figures)
    blocks += _rotated_section(results, figures)
    blocks += _fashion_section(results, figures)
    blocks += _decay_section(results, figures)
    blocks += [Heading(2, "Notes"), Bullets(list(results.notes)) if results.notes else Paragraph("None.")]
    return blocks


def draw_figures(results: ChapterResults, out_dir: Path) -> dict[str, str]:
    """Every figure of the report into ``out_dir``: figure name -> PNG file name (drawn ones only)."""
    drawn = {
        "weights": plots.plot_weights(out_dir),
        "trace": plots.plot_trace(results.traces, out_dir / "trace"),
        "airfoil": plots.plot_airfoil(results.airfoil, out_dir / "airfoil"),
        "unit_decay": plots.plot_unit_decay(results.unit_decay, out_dir / "unit_decay", normal=results.traces),
        "rotated": plots.plot_rotated(results.traces, results.rotated, out_dir / "rotated"),
        "fashion": plots.plot_fashion(results.fashion, out_dir / "fashion"),
        "decay_schedule": plots.plot_airfoil(
            results.decay_schedule, out_dir / "decay_schedule",
            title="Exercise 4: airfoil loss with the decay scheduled over the steps (RMSProp from scratch)"),
        "sweep": plots.plot_sweep(results.sweep, out_dir / "sweep"),
    }
    return {name: png.name for name, paths in drawn.items() for png in paths if png.suffix == ".png"}


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: Sequence[Block]) -> str:
    """The blocks as Markdown (GitHub flavour: pipe tables)."""
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Paragraph):
            parts.append(block.text)
        elif isinstance(block, Table):
            lines = ["| " + " | ".join(_md_cell(h) for h in block.header) + " |",
                     "|" + "|".join("---" for _ in block.header) + "|"]
            lines += ["| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in block.rows]
            parts.append("\n".join(lines))
        elif isinstance(block, Figure):
            parts.append(f"![{block.caption}]({block.file})\n\n*{block.caption}*")
        elif isinstance(block, Bullets):
            parts.append("\n".join(f"- {item}" for item in block.items))
    return "\n\n".join(parts) + "\n"


def _inline_html(text: str) -> str:
    """Escaped text with `code` spans as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.45;
       color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f3f3f3; }
figure { margin: 1.5rem 0; }
img { max-width: 100%; height: auto; }
figcaption { font-style: italic; color: #555; }
code { background: #f5f5f5; padding: 0 0.2rem; }
""".strip()


def render_html(blocks: Sequence[Block]) -> str:
    """The blocks as one standalone HTML page; images by relative ``<img src>``."""
    title = next((b.text for b in blocks if isinstance(b, Heading)), TITLE)
    body = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{_inline_html(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{_inline_html(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{_inline_html(h)}</th>" for h in block.header)
            rows = "\n".join("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>"
                             for row in block.rows)
            body.append(f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>")
        elif isinstance(block, Figure):
            src, caption = html.escape(block.file), _inline_html(block.caption)
            body.append(f'<figure><img src="{src}" alt="{html.escape(block.caption)}">'
                        f"<figcaption>{caption}</figcaption></figure>")
        elif isinstance(block, Bullets):
            body.append("<ul>\n" + "\n".join(f"<li>{_inline_html(item)}</li>" for item in block.items) + "\n</ul>")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>\n{_STYLE}\n</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


# ---------------------------------------------------------------------------
# results.json
# ---------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """Plain JSON values: tuples and arrays as lists, NamedTuples as objects, inf/nan as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "_asdict"):
        return {key: _jsonable(item) for key, item in value._asdict().items()}
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    return value


def _trace_json(trace: Trace) -> dict[str, Any]:
    return {
        "final": list(trace.final),
        "chapter_line": trace.chapter_line(),
        "distance_to_optimum": measures.distance_to_optimum(trace),
        "points": trace.points.tolist(),
    }


def results_json(results: ChapterResults) -> dict[str, Any]:
    """Every number of the report as plain JSON values (non-finite numbers as null)."""
    unit_decay = {
        name: {**_trace_json(trace), "growth_factors": list(measures.growth_factors(trace))}
        for name, trace in results.unit_decay.items()
    }
    aligned, rotated = _reference(results.traces), _reference(results.rotated)
    unit = _reference(results.unit_decay)
    both = aligned is not None and rotated is not None
    document = {
        "backends": results.backends,
        "versions": results.versions,
        "chapter_config": {"learning_rate": CHAPTER_CONFIG.learning_rate, "decay": CHAPTER_CONFIG.decay,
                           "eps": CHAPTER_CONFIG.eps, "start": list(START), "steps": STEPS},
        "d2l_line": D2L_LINE,
        "weights": measures.weights_summary(),
        "traces": {name: _trace_json(trace) for name, trace in results.traces.items()},
        "rotated": {name: _trace_json(trace) for name, trace in results.rotated.items()},
        "rotated_gradient_at_end": list(measures.gradient_at(rotated, grad_rotated)) if rotated is not None else None,
        "unit_decay": unit_decay,
        "unit_decay_predicted_growth_factors": list(measures.predicted_growth_factors()),
        "airfoil": [{**run._asdict(), "final_loss": run.final_loss} for run in results.airfoil],
        "decay_schedule": [{**run._asdict(), "final_loss": run.final_loss} for run in results.decay_schedule],
        "sweep": results.sweep,
        "fashion": results.fashion,
        "explanations": {
            "unit_decay": explain.unit_decay_explanation(unit) if unit is not None else None,
            "rotated": explain.rotation_explanation(aligned, rotated) if both else None,
        },
        "notes": results.notes,
    }
    plain: dict[str, Any] = _jsonable(document)
    return plain


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def write_report(results: ChapterResults, out_dir: str | os.PathLike[str]) -> Path:
    """Write the figures, ``results.json``, ``index.md`` and ``index.html`` into ``out_dir``; return index.html.

    Everything is computed and drawn before the first index file is replaced, so
    an error anywhere leaves the previous report in place.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = draw_figures(results, out)
    blocks = build_report(results, figures)
    markdown, page = render_markdown(blocks), render_html(blocks)
    document = json.dumps(results_json(results), indent=2, ensure_ascii=False, allow_nan=False)
    write_atomically(out / "results.json", document + "\n")
    write_atomically(out / "index.md", markdown)
    write_atomically(out / "index.html", page)
    return out / "index.html"
