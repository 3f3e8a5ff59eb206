"""The README's Markdown: the summary, targets, torch drop-in, step and training tables, the machine.

Each ``format_*`` function turns a result (or :mod:`.summary`'s analysis of one)
into Markdown text that :func:`.readme.render_readme` puts into the template.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from benchmarks.step import fmt_compile

from .summary import group_key


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



def format_summary(summary: list[dict[str, Any]]) -> str:
    """The summary table: fastest polyprop path against its native, per (backend, dtype, case)."""
    header = ("backend", "dtype", "case", "native", "native ms", "fastest polyprop", "ms", "x native", "% triad",
              "extra memory")
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



def format_targets(targets: list[dict[str, Any]]) -> str:
    """The targets table and a count of those met."""
    table = []
    for t in targets:
        if t["measure"] == "ratio":
            what, goal, value = "fastest polyprop / native", f"≤ {t['goal']:.2f}", fmt(t["value"], ".2f")
        else:
            what, goal = "fastest polyprop, % of triad", f"≥ {100 * t['goal']:.0f} %"
            value = fmt(t["value"], ".0f", 100)
        status = "**not met**" if t["status"] == "not met" else t["status"]
        table.append((t["backend"], f"{t['case']} {t['dtype']}", what, goal, value, t["variant"] or "-", status))
    met = sum(t["status"] == "met" for t in targets)
    measured = sum(t["status"] != "no data" for t in targets)
    header = ("backend", "case", "target", "goal", "measured", "fastest polyprop", "status")
    count = f"{met} of {measured} measured targets met ({len(targets)} in all)."
    return md_table(header, table, right=(3, 4)) + f"\n\n{count}"



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
            fmt(row.get("first_step_s"), ".3f") + " s" + fmt_compile(row.get("compile")),
            fmt_memory(row), fmt_memory(native) if native else "-",
        ))
    goals = []
    for prefix, case, dtype, goal in TORCH_DROPIN_GOALS:
        row = next(
            (r for r in rows if r["variant"].startswith(prefix) and r["case"] == case and r["dtype"] == dtype), None
        )
        against = TORCH_NATIVES if "(default" in prefix else TORCH_NATIVES[:1]
        values = [(row.get("ratio_to_natives") or {}).get(n) for n in against] if row else []
        measured = [v for v in values if v is not None]
        if not measured or len(measured) < len(against):
            status = "no data"
        else:
            status = "met" if max(measured) <= goal else "**not met**"
        variant = prefix + ("...)" if "(default" in prefix else "")
        goals.append((f"{case} {dtype}", variant, f"≤ {goal:.2f} x {' and '.join(against)}",
                      " / ".join(fmt(v, ".2f") for v in values) or "-", status))
    return (
        md_table(header, table, right=(2, 3, 4, 5, 6, 7))
        + "\n\n"
        + md_table(("case", "variant", "goal", "measured", "status"), goals)
    )



def format_full_table(step: dict[str, Any]) -> str:
    """Every step row, as ``benchmarks.step``'s table, in Markdown."""
    header = ("backend", "case", "elements", "dtype", "variant", "role", "median ms", "min ms", "x native", "GB/s",
              "% triad", "extra memory")
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
                fmt(row["median_s"], ".3f", 1e3), fmt(row.get("min_s"), ".3f", 1e3),
                fmt(row.get("ratio_to_native"), ".2f"),
                fmt(row.get("bandwidth_Bps"), ".2f", 1e-9), fmt(row.get("triad_share"), ".0f", 100), fmt_memory(row),
            )
        )
    return md_table(header, table, right=(2, 6, 7, 8, 9, 10, 11))


def format_train_table(train: dict[str, Any]) -> str:
    """The airfoil table: seconds per epoch, scratch against native."""
    header = (
        "backend", "mode", "dtype", "epochs", "runs", "s/epoch median", "s/epoch min", "x native", "final loss", "note"
    )
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
    usable_cores = machine.get("usable_cores")
    usable = f" ({usable_cores} usable)" if usable_cores not in (None, machine["cores"]) else ""
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

