"""The analysis behind the report: step rows grouped, the fastest polyprop path per case, the targets.

Plain dicts in, plain dicts out (a ``benchmarks.step`` result's ``rows``); the
Markdown is made in :mod:`.tables`, the figure in :mod:`.plot`.
"""

from __future__ import annotations

from typing import Any

from benchmarks.step import BACKENDS, DEFAULT_SIZES

CASE_ORDER = {case: i for i, case in enumerate(DEFAULT_SIZES)}


TARGETS: list[tuple[str, str, str, dict[str, float]]] = [
    # (measure, case, dtype, {backend: goal}); "ratio" is at most the goal, "triad" at least.
    ("ratio", "1e7", "float32", {"torch": 0.9, "jax": 0.9, "tensorflow": 0.9, "mxnet": 1.0}),
    ("triad", "1e7", "float32", dict.fromkeys(BACKENDS, 0.60)),
    ("ratio", "model", "float32", dict.fromkeys(BACKENDS, 1.0)),
]


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

