"""Regenerate benchmarks/README.md and benchmarks/step_time.png from one run of both benchmarks.

Run from the repository root::

    .venv/bin/python -m benchmarks.report                                   # run everything (long)
    .venv/bin/python -m benchmarks.report --backend torch jax --sizes 1e6 1e7 model --threads 1
    .venv/bin/python -m benchmarks.report --from-json benchmarks/results/step.json benchmarks/results/train.json

Without ``--from-json`` it runs ``benchmarks.step`` and ``benchmarks.train`` (in-process
through a module's ``collect(argv) -> dict`` when it has one, else ``python -m ... --json``
in a subprocess), saves their JSON under ``OUT/results/``, then writes ``OUT/step_time.png``
and ``OUT/README.md``.  Every file is written whole or not at all.  Timings are reported,
never asserted.  Matplotlib and the frameworks are imported only when needed.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.step import BACKENDS, DEFAULT_SIZES, fmt_compile
from benchmarks.train import positive_int

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FAST_PREFIX = "polyprop.fast_step"
CASE_ORDER = {case: i for i, case in enumerate(DEFAULT_SIZES)}
DPI = 120
SHORT = {"tensorflow": "tf"}
"""Backend names shortened under the bars of the plot's model panel."""

TARGETS: list[tuple[str, str, str, dict[str, float]]] = [
    # (measure, case, dtype, {backend: goal}); "ratio" is at most the goal, "triad" at least.
    ("ratio", "1e7", "float32", {"torch": 0.9, "jax": 0.9, "tensorflow": 0.9, "mxnet": 1.0}),
    ("triad", "1e7", "float32", dict.fromkeys(BACKENDS, 0.60)),
    ("ratio", "model", "float32", dict.fromkeys(BACKENDS, 1.0)),
]


# --------------------------------------------------------------------------------------
# Command line


def non_negative_int(text: str) -> int:
    """An argparse type: an integer of at least 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


RUN_OPTIONS = ("backend", "sizes", "dtype", "repeats", "warmup", "threads", "epochs", "train_repeats", "train_dtype", "data_dir")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.report",
        description="Run benchmarks.step and benchmarks.train, then write README.md and step_time.png.",
    )
    parser.add_argument(
        "--from-json", nargs=2, metavar=("STEP_JSON", "TRAIN_JSON"),
        help="regenerate README.md and the plot from saved results, without running anything",
    )
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write into (default: benchmarks/)")
    run = parser.add_argument_group("run options (passed through; default: each benchmark's own)")
    run.add_argument("--backend", nargs="+", choices=(*BACKENDS, "all"), help="both benchmarks")
    run.add_argument("--sizes", nargs="+", help="step: cases (1e3 1e5 1e6 1e7 model)")
    run.add_argument("--dtype", nargs="+", choices=("float32", "float64"), help="step: dtypes")
    run.add_argument("--repeats", type=positive_int, help="step: timed steps per variant")
    run.add_argument("--warmup", type=non_negative_int, help="step: untimed steps per variant")
    run.add_argument("--threads", type=non_negative_int, help="step: compute threads (0: defaults)")
    run.add_argument("--epochs", type=positive_int, help="train: epochs per run")
    run.add_argument("--train-repeats", type=positive_int, help="train: runs per backend and mode")
    run.add_argument("--train-dtype", choices=("float32", "float64"), help="train: dtype of the scratch runs")
    run.add_argument("--data-dir", help="train: folder holding airfoil_self_noise.dat")
    args = parser.parse_args(argv)
    if args.from_json:
        given = [f"--{name.replace('_', '-')}" for name in RUN_OPTIONS if getattr(args, name) is not None]
        if given:
            parser.error(f"{', '.join(given)}: run options do not apply with --from-json (nothing is run)")
    return args


def _flag(argv: list[str], name: str, value: Any) -> None:
    """Append ``--name value...`` to ``argv`` when ``value`` is set."""
    if value is None:
        return
    argv.append(name)
    argv.extend(str(v) for v in (value if isinstance(value, list) else [value]))


def step_argv(args: argparse.Namespace) -> list[str]:
    """The ``benchmarks.step`` arguments passed through from ``args``."""
    argv: list[str] = []
    for name in ("backend", "sizes", "dtype", "repeats", "warmup", "threads"):
        _flag(argv, f"--{name}", getattr(args, name))
    return argv


def train_argv(args: argparse.Namespace) -> list[str]:
    """The ``benchmarks.train`` arguments passed through from ``args``."""
    argv: list[str] = []
    _flag(argv, "--backend", args.backend)
    _flag(argv, "--epochs", args.epochs)
    _flag(argv, "--repeats", args.train_repeats)
    _flag(argv, "--dtype", args.train_dtype)
    _flag(argv, "--data-dir", args.data_dir)
    return argv


# --------------------------------------------------------------------------------------
# Running the benchmarks


def parse_json_output(text: str) -> dict[str, Any]:
    """The JSON object a ``--json`` run printed (anything printed before it is skipped)."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith("{")), None)
    if start is None:
        raise ValueError(f"no JSON object in the output: {text[:200]!r}")
    result, _ = json.JSONDecoder().raw_decode("".join(lines[start:]))
    return result


def collect(module_name: str, argv: list[str]) -> dict[str, Any]:
    """A benchmark's result dict: its ``collect(argv)`` in-process, else ``python -m module --json``."""
    module = importlib.import_module(module_name)
    function = getattr(module, "collect", None)
    if callable(function):
        return function([*argv, "--json"])
    done = subprocess.run(
        [sys.executable, "-m", module_name, *argv, "--json"], cwd=REPO, stdout=subprocess.PIPE, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"benchmarks.report: {module_name} failed with exit status {done.returncode}")
    return parse_json_output(done.stdout)


def write_atomically(path: Path, data: bytes | str) -> None:
    """Write ``path`` whole or not at all (a temporary file beside it, then ``os.replace``)."""
    from polyprop.files import write_atomically as write

    write(path, data)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)  # mkstemp's 0600 would hide the README from other users


# --------------------------------------------------------------------------------------
# Formatting helpers


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]], right: Iterable[int] = ()) -> str:
    """A Markdown table; columns in ``right`` are right-aligned."""
    right = set(right)
    cells = [[str(c).replace("|", "\\|").replace("\n", " ") for c in row] for row in rows]
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|")
    lines.extend("| " + " | ".join(row) + " |" for row in cells)
    return "\n".join(lines)


def fmt(value: float | None, spec: str, scale: float = 1.0) -> str:
    """``value * scale`` formatted, or ``-`` when missing."""
    return "-" if value is None else format(value * scale, spec)


def fmt_memory(row: dict[str, Any]) -> str:
    """Extra memory of a step row, with how it was measured."""
    value = row.get("extra_memory_bytes")
    if value is None:
        return "n/a"
    method = {"tracemalloc": " (tracemalloc)", "rss": " (peak RSS)"}.get(row.get("memory_method") or "", "")
    return f"{value / 2**20:.1f} MiB{method}"


def case_key(case: str) -> tuple[int, float]:
    """Sort key of a case token: the default order, then by size."""
    if case in CASE_ORDER:
        return (0, CASE_ORDER[case])
    try:
        return (1, float(case))
    except ValueError:
        return (2, 0.0)


def group_key(row: dict[str, Any]) -> tuple[int, str, tuple[int, float]]:
    """Sort key of a (backend, dtype, case) group."""
    backend = BACKENDS.index(row["backend"]) if row["backend"] in BACKENDS else len(BACKENDS)
    return (backend, row["dtype"], case_key(row["case"]))


def groups(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """Step rows by (backend, dtype, case), in backend, dtype, case order."""
    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in sorted(rows, key=group_key):
        grouped.setdefault((row["backend"], row["dtype"], row["case"]), []).append(row)
    return grouped


# --------------------------------------------------------------------------------------
# Summary and targets


def fastest_polyprop(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The role "polyprop" row with the lowest median among ``rows`` (errors ignored), or None."""
    timed = [r for r in rows if r.get("role") == "polyprop" and not r.get("error") and r.get("median_s") is not None]
    return min(timed, key=lambda r: r["median_s"]) if timed else None


def summary_rows(step: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per (backend, dtype, case): the fastest polyprop row and the native it is compared with."""
    summary = []
    for (backend, dtype, case), rows in groups(step["rows"]).items():
        fastest = fastest_polyprop(rows)
        native = None
        if fastest is not None:
            native = next((r for r in rows if r.get("variant") == fastest.get("native") and not r.get("error")), None)
        errors = [r["error"] for r in rows if r.get("error")]
        summary.append(
            {"backend": backend, "dtype": dtype, "case": case, "fastest": fastest, "native": native, "errors": errors}
        )
    return summary


def format_summary(summary: list[dict[str, Any]]) -> str:
    """The summary table: fastest polyprop path against its native, per (backend, dtype, case)."""
    header = ("backend", "dtype", "case", "native", "native ms", "fastest polyprop", "ms", "x native", "% triad", "extra memory")
    table = []
    for entry in summary:
        fastest, native = entry["fastest"], entry["native"]
        if fastest is None:
            note = entry["errors"][0][:100] if entry["errors"] else "no polyprop row"
            table.append((entry["backend"], entry["dtype"], entry["case"], "-", "-", note, "-", "-", "-", "-"))
            continue
        table.append(
            (
                entry["backend"], entry["dtype"], entry["case"],
                fastest.get("native") or "-", fmt(native and native["median_s"], ".3f", 1e3),
                fastest["variant"], fmt(fastest["median_s"], ".3f", 1e3),
                fmt(fastest.get("ratio_to_native"), ".2f"), fmt(fastest.get("triad_share"), ".0f", 100),
                fmt_memory(fastest),
            )
        )
    return md_table(header, table, right=(4, 6, 7, 8, 9))


def target_rows(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target of :data:`TARGETS` with its measured value and status (met, not met, no data)."""
    by_key = {(e["backend"], e["dtype"], e["case"]): e for e in summary}
    results = []
    for measure, case, dtype, goals in TARGETS:
        for backend, goal in goals.items():
            entry = by_key.get((backend, dtype, case))
            fastest = entry["fastest"] if entry else None
            value = None
            if fastest is not None:
                value = fastest.get("ratio_to_native") if measure == "ratio" else fastest.get("triad_share")
            if value is None:
                status = "no data"
            else:
                status = "met" if (value <= goal if measure == "ratio" else value >= goal) else "not met"
            results.append(
                {"backend": backend, "measure": measure, "case": case, "dtype": dtype, "goal": goal, "value": value,
                 "variant": fastest["variant"] if fastest else None, "status": status}
            )
    return results


def format_targets(targets: list[dict[str, Any]]) -> str:
    """The targets table and a count of those met."""
    table = []
    for t in targets:
        if t["measure"] == "ratio":
            what, goal, value = "fastest polyprop / native", f"≤ {t['goal']:.2f}", fmt(t["value"], ".2f")
        else:
            what, goal, value = "fastest polyprop, % of triad", f"≥ {100 * t['goal']:.0f} %", fmt(t["value"], ".0f", 100)
        status = "**not met**" if t["status"] == "not met" else t["status"]
        table.append((t["backend"], f"{t['case']} {t['dtype']}", what, goal, value, t["variant"] or "-", status))
    met = sum(t["status"] == "met" for t in targets)
    measured = sum(t["status"] != "no data" for t in targets)
    header = ("backend", "case", "target", "goal", "measured", "fastest polyprop", "status")
    return md_table(header, table, right=(3, 4)) + f"\n\n{met} of {measured} measured targets met ({len(targets)} in all)."


# --------------------------------------------------------------------------------------
# The torch drop-in

TORCH_NATIVES = ("torch.optim.RMSprop", "torch.optim.RMSprop(foreach=True)")
TORCH_DROPIN_GOALS: list[tuple[str, str, str, float]] = [
    # (variant prefix, case, dtype, goal against every native); fused=True only against the default native
    ("polyprop.backends.torch.RMSprop (default", "1e7", "float32", 0.9),
    ("polyprop.backends.torch.RMSprop (default", "model", "float32", 1.0),
    ("polyprop.backends.torch.RMSprop(fused=True)", "1e7", "float32", 0.35),
]


def format_torch_dropin(step: dict[str, Any]) -> str:
    """The drop-in's rows: ratio to each native, first step (compile), extra memory beside the native's; goals."""
    rows = [r for r in step["rows"] if r["backend"] == "torch" and not r.get("error")]
    natives = {(r["dtype"], r["case"], r["variant"]): r for r in rows if r["variant"] in TORCH_NATIVES}
    header = ("case", "variant", "ms", *(f"x {n}" for n in TORCH_NATIVES), "first step", "extra memory", "native's")
    table = []
    for row in sorted(rows, key=group_key):
        if not row["variant"].startswith("polyprop.backends.torch.RMSprop"):
            continue
        ratios = row.get("ratio_to_natives") or {}
        native = natives.get((row["dtype"], row["case"], TORCH_NATIVES[0]))
        table.append((
            f"{row['case']} {row['dtype']}", row["variant"], fmt(row["median_s"], ".3f", 1e3),
            *(fmt(ratios.get(n), ".2f") for n in TORCH_NATIVES),
            fmt(row.get("first_step_s"), ".3f") + " s" + fmt_compile(row.get("compile")), fmt_memory(row), fmt_memory(native) if native else "-",
        ))
    goals = []
    for prefix, case, dtype, goal in TORCH_DROPIN_GOALS:
        row = next((r for r in rows if r["variant"].startswith(prefix) and r["case"] == case and r["dtype"] == dtype), None)
        against = TORCH_NATIVES if "(default" in prefix else TORCH_NATIVES[:1]
        values = [(row.get("ratio_to_natives") or {}).get(n) for n in against] if row else []
        measured = [v for v in values if v is not None]
        status = "no data" if not measured or len(measured) < len(against) else "met" if max(measured) <= goal else "**not met**"
        goals.append((f"{case} {dtype}", prefix + ("...)" if "(default" in prefix else ""), f"≤ {goal:.2f} x {' and '.join(against)}",
                      " / ".join(fmt(v, ".2f") for v in values) or "-", status))
    return (
        md_table(header, table, right=(2, 3, 4, 5, 6, 7))
        + "\n\n"
        + md_table(("case", "variant", "goal", "measured", "status"), goals)
    )


# --------------------------------------------------------------------------------------
# The other tables


def format_full_table(step: dict[str, Any]) -> str:
    """Every step row, as ``benchmarks.step``'s table, in Markdown."""
    header = ("backend", "case", "elements", "dtype", "variant", "role", "median ms", "min ms", "x native", "GB/s", "% triad", "extra memory")
    table = []
    for row in sorted(step["rows"], key=group_key):
        if row.get("error"):
            table.append(
                (row["backend"], row["case"], row.get("elements", "-"), row["dtype"], row.get("variant") or "-",
                 row.get("role") or "-", "error: " + row["error"][:120], "", "", "", "", "")
            )
            continue
        table.append(
            (
                row["backend"], row["case"], row["elements"], row["dtype"], row["variant"], row["role"],
                fmt(row["median_s"], ".3f", 1e3), fmt(row.get("min_s"), ".3f", 1e3), fmt(row.get("ratio_to_native"), ".2f"),
                fmt(row.get("bandwidth_Bps"), ".2f", 1e-9), fmt(row.get("triad_share"), ".0f", 100), fmt_memory(row),
            )
        )
    return md_table(header, table, right=(2, 6, 7, 8, 9, 10, 11))


def format_train_table(train: dict[str, Any]) -> str:
    """The airfoil table: seconds per epoch, scratch against native."""
    header = ("backend", "mode", "dtype", "epochs", "runs", "s/epoch median", "s/epoch min", "x native", "final loss", "note")
    table = [
        (
            row["backend"], row["mode"], row["dtype"], row["epochs"], row["repeats"],
            fmt(row["sec_per_epoch_median"], ".4f"), fmt(row["sec_per_epoch_min"], ".4f"),
            fmt(row["ratio_to_native"], ".2f"), fmt(row["final_loss"], ".5f"), (row.get("error") or "")[:120],
        )
        for row in train["rows"]
    ]
    return md_table(header, table, right=(3, 4, 5, 6, 7, 8))


def _load(machine: dict[str, Any]) -> str:
    values = machine.get("loadavg_at_start") or ()
    return " / ".join(f"{x:.2f}" for x in values) or "n/a"


def format_machine(step: dict[str, Any], train: dict[str, Any]) -> str:
    """The machine paragraph: CPU, cores, load, Python, versions, triad, settings."""
    machine, settings = step["machine"], step["settings"]
    versions = ", ".join(f"{k} {v}" for k, v in machine.get("versions", {}).items())
    usable = f" ({machine['usable_cores']} usable)" if machine.get("usable_cores") not in (None, machine["cores"]) else ""
    end = step.get("triad_end_Bps")
    return (
        f"**Machine:** {machine['cpu']}, {machine['cores']} cores{usable}, load average {_load(machine)} at the start "
        f"of the step run ({_load(train['machine'])} at the start of the training run), Python {machine['python']} "
        f"({machine.get('platform', '')}); {versions}.\n\n"
        f"**Triad** (`a = b + s*c`, 1e7 float64, NumPy `out=`, 24 bytes/element): "
        f"{step['triad_Bps'] / 1e9:.2f} GB/s at the start, {fmt(end, '.2f', 1e-9)} GB/s at the end "
        f"(the shares use the first).\n\n"
        f"**Step settings:** {settings.get('repeats')} timed steps per variant after {settings.get('warmup')} warm-up, "
        f"threads {settings.get('threads') or 'default'}, seed {settings.get('seed')}. "
        f"**Training settings:** {train['settings'].get('epochs')} epoch(s), {train['settings'].get('repeats')} run(s) "
        f"per backend and mode, scratch in {train['settings'].get('dtype')}."
    )


def regenerate_command(step: dict[str, Any], train: dict[str, Any]) -> str:
    """The ``benchmarks.report`` command that reruns these settings."""
    s, t = step["settings"], train["settings"]
    ran = set(s.get("backends", BACKENDS)) | set(t.get("backends", BACKENDS))
    argv = ["--backend", *(["all"] if ran >= set(BACKENDS) else [b for b in BACKENDS if b in ran])]
    argv += ["--sizes", *s.get("sizes", DEFAULT_SIZES), "--dtype", *s.get("dtypes", ("float32", "float64"))]
    argv += ["--repeats", str(s.get("repeats")), "--warmup", str(s.get("warmup")), "--threads", str(s.get("threads") or 0)]
    argv += ["--epochs", str(t.get("epochs")), "--train-repeats", str(t.get("repeats"))]
    if t.get("dtype", "float32") != "float32":
        argv += ["--train-dtype", t["dtype"]]
    data = t.get("data")
    if data:
        from polyprop.chapter.data import default_cache_dir

        folder = Path(data).parent
        if folder != default_cache_dir():
            argv += ["--data-dir", os.path.relpath(folder, REPO)]
    return ".venv/bin/python -m benchmarks.report " + " ".join(argv)


# --------------------------------------------------------------------------------------
# The plot


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


# --------------------------------------------------------------------------------------
# The README


INTRO = """\
# Benchmarks

`benchmarks/step.py` (issue 6) times one RMSProp step of polyprop's paths against each
framework's native optimizer, in the same process; `benchmarks/train.py` times the chapter's
airfoil training (seconds per epoch), polyprop's RMSProp against each framework's own.
`benchmarks/report.py` runs both and writes this file and `step_time.png`. They are scripts,
not part of the package or of the tests; **no test ever asserts a timing**.

This file is generated: edit the template in `benchmarks/report.py`, not this file. The raw
results are in `results/step.json` and `results/train.json`. To regenerate everything:

```sh
{command}
```

or, from the saved results without rerunning:
`.venv/bin/python -m benchmarks.report --from-json benchmarks/results/step.json benchmarks/results/train.json`.
"""

RUNNING = """\
## Running it

From the repository root, with the project's virtual environment:

```sh
.venv/bin/python -m benchmarks.step --backend all                   # everything, a table (minutes)
.venv/bin/python -m benchmarks.step --backend all --sizes 1e5 1e6 --dtype float32 --repeats 20 --threads 1
.venv/bin/python -m benchmarks.step --backend torch jax --sizes model --json > out.json
.venv/bin/python -m benchmarks.train --backend all --epochs 2 --repeats 3   # the airfoil run, a table
.venv/bin/python -m benchmarks.report                               # both, then README.md and step_time.png
```

`benchmarks.step`:

| option | meaning (default) |
|---|---|
| `--backend NAME... \\| all` | `numpy torch mxnet tensorflow jax` or `all` (all) |
| `--sizes TOKEN...` | cases: a number is one 1-D tensor of that many elements (`1e3 1e5 1e6 1e7`); `model` is 200 layer-like tensors (weight matrices and biases, widths 32..512, seed `--seed`; 4,738,720 elements with seed 0) (`1e3 1e5 1e6 1e7 model`) |
| `--dtype` | `float32` and/or `float64` (both) |
| `--repeats N` | timed steps per variant; the median is reported (20) |
| `--warmup N` | untimed steps per variant first, which also triggers jit compilation (3) |
| `--threads N` | compute threads for every framework (OMP/MKL/MXNet env vars, `torch.set_num_threads`, TF intra/inter-op, XLA single-thread for 1); 0 = each framework's default (0). **Use 1 on a shared or busy machine**: with default threads and a loaded 2-core box, torch's steps were quantised to about 40 ms by thread-pool barriers (1e5 and 1e6 elements both "40 ms") |
| `--json` | machine-readable output instead of the table |

`benchmarks.train`:

| option | meaning (default) |
|---|---|
| `--backend NAME... \\| all` | as above (all) |
| `--epochs N` | epochs per run (2, as the chapter) |
| `--repeats N` | runs per backend and mode, scratch and native interleaved; median and minimum reported (3) |
| `--dtype` | dtype of the scratch runs; the native runs are float32 (float32) |
| `--data-dir DIR` | folder holding `airfoil_self_noise.dat` (`$POLYPROP_DATA_DIR`, else the user cache, downloading once) |
| `--seed N` | initial weights and batch order (0) |
| `--json` | machine-readable output instead of the table |

`benchmarks.report`:

| option | meaning (default) |
|---|---|
| `--from-json STEP TRAIN` | regenerate README.md and the plot from saved results, running nothing |
| `--out DIR` | where README.md, step_time.png and results/ go (`benchmarks/`) |
| `--backend`, `--sizes`, `--dtype`, `--repeats`, `--warmup`, `--threads` | passed to `benchmarks.step` (its defaults) |
| `--backend`, `--epochs`, `--train-repeats`, `--train-dtype`, `--data-dir` | passed to `benchmarks.train` as `--backend`, `--epochs`, `--repeats`, `--dtype`, `--data-dir` |

Each framework is imported only when its backend runs; a missing framework gives a
`skipped:` row. Variants whose first step fails (say, a jit path that does not trace) get an
error row and the others still run. Every file is written whole or not at all.
"""

COMPARED = """\
## What is compared

Every variant owns its own copy of the parameters, gradients and state (same initial values,
lr 0.01, decay 0.9, eps 1e-8). After `--warmup` steps of each, the variants of a case run
**interleaved** — native, ours, native, ours, ... — one step per sample, with the garbage
collector off, and the median of `--repeats` samples is reported. Every sample waits for the
step to finish (`jax.block_until_ready`, `mx.nd.waitall()`; torch, NumPy and TF-CPU are
synchronous).

| backend | native (ratio base) | polyprop variants |
|---|---|---|
| numpy | none: the **baseline** is polyprop's plain path, `polyprop.step` (torch preset); a hand-written **reference** with in-place ufuncs (`out=`, one scratch buffer: 9 passes over memory) is shown beside it | `polyprop.fast_step`: the traced update as in-place ufuncs over cache-sized blocks (memory read and written about once) |
| torch | `torch.optim.RMSprop` (CPU default: single-tensor loop); `foreach=True` also shown | `polyprop.step` (`presets.torch`); drop-in `polyprop.backends.torch.RMSprop`, default (torch's fused ops in place, bit-identical to the native) and `fused=True` (`torch.compile`); `polyprop.fast_step` under `torch.compile` (fused, in place) |
| mxnet | `mx.nd.rmsprop_update(..., out=w)` (fused kernel) per tensor | `polyprop.step` on NDArrays (`presets.mxnet`); `polyprop.fast_step` dispatching to MXNet's fused kernel |
| tensorflow | Keras 3 `RMSprop.apply_gradients`, eager and in `tf.function(jit_compile=True)` | drop-in `polyprop.backends.tensorflow.RMSprop`, the same two ways (each ratio against the matching native); `polyprop.fast_step` under `tf.function(jit_compile=True)` on `tf.Variable`s, assigned in place |
| jax | `optax.rmsprop` + `apply_updates` under `jax.jit` (params and state donated) | drop-in `polyprop.backends.jax.rmsprop` the same way; `polyprop.step` eager; `jax.jit(lambda p, g, s: polyprop.step(p, g, s, config, "jax"))` with p and s donated; `polyprop.fast_step` under `jax.jit` with donated buffers |

The `polyprop.fast_step` rows (names starting so) are the fastest path polyprop offers on
each backend; the summary takes whichever polyprop row is fastest in each case.

The training benchmark runs the chapter's airfoil regression (1500 rows, 5 features, batch
10, lr 0.01, decay 0.9) on each backend: **scratch** is `train_scratch` (polyprop's RMSProp,
eps 1e-6 inside the square root, the framework's autograd; NumPy: the analytic gradient),
**native** is `train_native` (the framework's own RMSProp and linear layer, float32: torch
`RMSprop`, Gluon `Trainer('rmsprop')`, Keras `RMSprop` in a `tf.function`, `optax.rmsprop`
under `jax.jit`). Seconds per epoch are the chapter's timer: training only, evaluations
excluded, the first minibatch's tracing or compilation included.
"""

COLUMNS = """\
## Columns

- **median ms** — median wall time of one step (all tensors of the case).
- **x native** — median / the native's median (NumPy, which has no RMSProp of its own: / polyprop's plain path, `polyprop.step`);
  below 1 is faster than native. TF variants are compared eager-to-eager and compiled-to-compiled.
- **GB/s** — bytes a step must move over the median time: read parameter, gradient and
  accumulator, write parameter and accumulator = 5 x itemsize per element (20 bytes for
  float32, 40 for float64). Temporaries are not counted, so this is *effective* bandwidth.
- **% triad** — GB/s as a share of a STREAM-like triad measured in the same run (`a = b + s*c`,
  1e7 float64, two NumPy ufuncs with `out=`, counted as STREAM does: 24 bytes per element;
  measured at the start, repeated at the end for reference). Above 100 % happens when a case's
  working set (1e6 float32: 20 MB) is largely in the last-level cache, which the triad's 240 MB
  is not.
- **extra memory** — what one extra step (after the timed ones) allocates:
  - NumPy: peak bytes traced by `tracemalloc` during the step (NumPy reports its buffers to it).
    A pure `polyprop.step` allocates at least the new parameter and accumulator (2 x 4 MB for
    1e6 float32) plus temporaries alive at the same time.
  - the others: growth of the process's **peak resident set** during the step (`VmHWM` in
    `/proc/self/status` after resetting it through `/proc/self/clear_refs`). This is honest
    but coarse: memory a framework's allocator (or glibc's heap) already holds from earlier
    steps is reused without growing RSS, so 0 means "no new pages", **not** "no allocation".
    Framework-level allocation counters (`torch.profiler(profile_memory=True)`, XLA's
    memory analysis, `mx.context.gpu_memory_info` on GPU) are not used yet.
- **summary** — per backend, dtype and case: the polyprop row with the lowest median, its
  native (the row its ratio was taken against; NumPy: the reference) and that row's ratio,
  share of triad and extra memory.
- **training** — **s/epoch** is the median (and minimum) over the runs; **x native** is the
  scratch median over the native median; **final loss** is the mean loss over all rows after
  the last epoch (the chapter reports 0.243–0.249 after 2 epochs).
"""


def render_readme(step: dict[str, Any], train: dict[str, Any]) -> str:
    """The whole README.md text for one step result and one train result."""
    summary = summary_rows(step)
    sections = [
        INTRO.replace("{command}", regenerate_command(step, train)),
        "## This run\n\n" + format_machine(step, train),
        "## Summary: fastest polyprop path / native\n\n"
        "One row per backend, dtype and case: the polyprop variant with the lowest median step time, "
        "against the native variant its ratio is taken against (NumPy: polyprop's plain path, the baseline). "
        "Below 1 is faster than native.\n\n" + format_summary(summary),
        "## Targets\n\n"
        "Computed from the data above (reporting, not a test): on 1e7 float32 elements, fastest polyprop / "
        "native at most 0.9 on torch, JAX and TensorFlow and at most 1.0 on MXNet; the fastest path at "
        "least 60 % of the triad on every backend; on `model` (200 tensors, float32) at most 1.0 on every "
        "backend.\n\n" + format_targets(target_rows(summary)),
        "## The torch drop-in\n\n"
        "`polyprop.backends.torch.RMSprop` by default runs the traced update fused into torch's own ops "
        "(`addcmul_`, `addcdiv_`, `lerp_`, `add_(alpha=)`), in torch's order and in place: large tensors "
        "block by block, small ones by `torch._foreach_*`, nothing compiled; its steps are bit-identical "
        "to `torch.optim.RMSprop`'s. `fused=True` runs `polyprop.fast_step` under `torch.compile`. "
        "First step: the first call's wall time (for `fused=True` the compile, with Inductor's on-disk "
        "FX graph cache hit or missed).\n\n" + format_torch_dropin(step),
        "## All step rows\n\n" + format_full_table(step),
        "## Training: the chapter's airfoil run\n\n"
        "Seconds per epoch of `train_scratch` (polyprop) and `train_native` (the framework's RMSProp).\n\n"
        + format_train_table(train),
        "## Plot\n\n![step time](step_time.png)",
        RUNNING,
        COMPARED,
        COLUMNS,
    ]
    return "\n\n".join(section.strip("\n") for section in sections) + "\n"


# --------------------------------------------------------------------------------------
# Main


def write_report(out: Path, step: dict[str, Any], train: dict[str, Any]) -> list[Path]:
    """Write ``out/step_time.png`` then ``out/README.md``; return their paths."""
    plot, readme = out / "step_time.png", out / "README.md"
    write_atomically(plot, render_plot(step))
    write_atomically(readme, render_readme(step, train))
    return [plot, readme]


def load_json(path: str) -> dict[str, Any]:
    """A saved result dict."""
    with open(path, encoding="utf-8") as file:
        result: dict[str, Any] = json.load(file)
    return result


def run_benchmarks(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run both benchmarks and save their JSON under ``out/results/``."""
    step = collect("benchmarks.step", step_argv(args))
    write_atomically(args.out / "results" / "step.json", json.dumps(step, indent=2) + "\n")
    from polyprop.chapter.data import DataUnavailable

    try:
        train = collect("benchmarks.train", train_argv(args))
    except DataUnavailable as error:
        raise SystemExit(f"benchmarks.report: {error}") from error
    write_atomically(args.out / "results" / "train.json", json.dumps(train, indent=2) + "\n")
    return step, train


def main(argv: list[str] | None = None) -> int:
    """Parse, run (or load), write; print the paths written."""
    args = parse_args(argv)
    if args.from_json:
        step, train = (load_json(path) for path in args.from_json)
    else:
        step, train = run_benchmarks(args)
    for path in write_report(args.out, step, train):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
