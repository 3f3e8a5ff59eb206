"""Seconds per epoch of the chapter's airfoil run: polyprop's RMSProp against each framework's own.

Run from the repository root::

    .venv/bin/python -m benchmarks.train --backend all                 # human-readable table
    .venv/bin/python -m benchmarks.train --backend torch jax --epochs 2 --repeats 5 --json

Two modes per backend, run ``--repeats`` times each, interleaved (scratch, native,
scratch, native, ...):

* ``scratch``: :func:`polyprop.chapter.airfoil.train_scratch`, polyprop's RMSProp on
  ``[w, b]`` with the framework's autograd (NumPy: the analytic gradient);
* ``native``: :func:`polyprop.chapter.airfoil.train_native`, the framework's own RMSProp
  and linear layer (float32; NumPy has none, so its row says so).

Seconds per epoch are the chapter's timer: training only, evaluations excluded, the
first minibatch's tracing or compilation included (each run builds its own functions).
The median and the minimum over the repeats are reported; timings are never asserted.
No framework is imported at module level.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

from benchmarks.step import BACKENDS, bench_hooks, machine_info

MODES = ("scratch", "native")
DTYPES = ("float32", "float64")
NATIVE_DTYPE = "float32"
NO_NATIVE = "no native optimizer"
"""The error of a native row whose framework has none (NumPy)."""


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.train",
        description="Seconds per epoch of the chapter's airfoil run: "
        "polyprop (scratch) vs each framework's RMSProp (native).",
    )
    parser.add_argument(
        "--backend", nargs="+", default=["all"], choices=(*BACKENDS, "all"), help="backends to run (default: all)"
    )
    parser.add_argument("--epochs", type=positive_int, default=2, help="epochs per run (default 2, as the chapter)")
    parser.add_argument("--repeats", type=positive_int, default=3, help="runs per backend and mode (default 3)")
    parser.add_argument(
        "--dtype", default="float32", choices=DTYPES,
        help="dtype of the scratch runs (default float32, like the native runs)",
    )
    parser.add_argument(
        "--data-dir", default=None,
        help="folder holding airfoil_self_noise.dat (default: $POLYPROP_DATA_DIR, else the user cache)",
    )
    parser.add_argument("--seed", type=int, default=0, help="initial weights and batch order (default 0)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    # BACKENDS' order always: torch must be imported before TensorFlow (ENVIRONMENT.md)
    args.backend = [name for name in BACKENDS if "all" in args.backend or name in args.backend]
    return args


def missing_framework(backend: str) -> str | None:
    """Why ``backend`` cannot run (its framework is not installed), or None."""
    from polyprop.backends import FRAMEWORKS, framework_version

    if framework_version(backend) is None:
        return f"skipped: {FRAMEWORKS[backend].module} is not installed"
    return None


def prepare(backend: str, dtype: str) -> None:
    """Whatever a backend needs before runs in ``dtype``: its hook ``prepare_train`` (JAX: 64-bit types for float64)."""
    prepare_train = getattr(bench_hooks(backend), "prepare_train", None)
    if prepare_train is not None:
        prepare_train(dtype)


def run_once(backend: str, mode: str, data: tuple[Any, Any], args: argparse.Namespace) -> Any:
    """One training run: an ``AirfoilRun`` (``seconds_per_epoch``, ``final_loss``)."""
    from polyprop.chapter.airfoil import train_native, train_scratch

    features, labels = data
    if mode == "scratch":
        return train_scratch(backend, features, labels, epochs=args.epochs, seed=args.seed, dtype=args.dtype)
    return train_native(backend, features, labels, epochs=args.epochs, seed=args.seed)


def make_row(backend: str, mode: str, args: argparse.Namespace, runs: list[Any], error: str | None) -> dict[str, Any]:
    """The output row of one (backend, mode) from its successful runs."""
    seconds = [run.seconds_per_epoch for run in runs]
    return {
        "backend": backend,
        "mode": mode,
        "dtype": args.dtype if mode == "scratch" else NATIVE_DTYPE,
        "epochs": args.epochs,
        "repeats": len(runs),
        "sec_per_epoch_median": statistics.median(seconds) if seconds else None,
        "sec_per_epoch_min": min(seconds) if seconds else None,
        "ratio_to_native": None,
        "final_loss": runs[-1].final_loss if runs else None,
        "error": error if not runs else None,
    }


def run_backend(backend: str, data: tuple[Any, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    """The scratch and native rows of one backend, repeats interleaved; errors become rows."""
    skipped = missing_framework(backend)
    if skipped is not None:
        return [make_row(backend, mode, args, [], skipped) for mode in MODES]
    from polyprop.chapter.airfoil import has_native

    try:
        modes = MODES if has_native(backend) else ("scratch",)
    except Exception as error:  # any failure: reported in the output
        return [make_row(backend, mode, args, [], f"{type(error).__name__}: {error}") for mode in MODES]
    runs: dict[str, list[Any]] = {mode: [] for mode in modes}
    errors: dict[str, str | None] = {mode: None for mode in modes}
    try:
        prepare(backend, args.dtype)
    except Exception as error:  # any failure: reported in the output
        errors = {mode: f"{type(error).__name__}: {error}" for mode in modes}
    for _ in range(args.repeats):
        for mode in modes:
            if errors[mode] is not None:
                continue
            try:
                runs[mode].append(run_once(backend, mode, data, args))
            except Exception as error:  # any failure: reported in the output
                errors[mode] = f"{type(error).__name__}: {error}"
    rows = [make_row(backend, mode, args, runs[mode], errors[mode]) for mode in modes]
    if "native" not in modes:
        rows.append(make_row(backend, "native", args, [], f"{NO_NATIVE} ({backend} has no RMSProp of its own)"))
    add_ratio(rows)
    return rows


def add_ratio(rows: list[dict[str, Any]]) -> None:
    """Set the scratch row's ``ratio_to_native``: its median over the native median."""
    medians = {row["mode"]: row["sec_per_epoch_median"] for row in rows}
    scratch, native = medians.get("scratch"), medians.get("native")
    for row in rows:
        if row["mode"] == "scratch" and scratch is not None and native:
            row["ratio_to_native"] = scratch / native


def collect(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and return its result dict (what ``--json`` prints).

    Raises ``polyprop.chapter.data.DataUnavailableError`` when the airfoil file cannot be found.
    """
    args = parse_args(argv)
    return run(args)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The result dict for parsed ``args``: machine, settings and one row per (backend, mode)."""
    from polyprop.chapter.airfoil import AIRFOIL_CONFIG, BATCH_SIZE
    from polyprop.chapter.data import airfoil_path, load_airfoil

    machine = machine_info()
    data = load_airfoil(args.data_dir)
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for backend in args.backend:
        rows.extend(run_backend(backend, data, args))
        print(f"done: {backend}", file=sys.stderr, flush=True)
    return {
        "machine": machine,
        "settings": {
            "backends": args.backend, "epochs": args.epochs, "repeats": args.repeats, "dtype": args.dtype,
            "native_dtype": NATIVE_DTYPE, "seed": args.seed, "batch_size": BATCH_SIZE,
            "data": os.fspath(airfoil_path(args.data_dir)),
            "lr": AIRFOIL_CONFIG.learning_rate, "decay": AIRFOIL_CONFIG.decay, "eps": AIRFOIL_CONFIG.eps,
            "total_seconds": time.perf_counter() - started,
        },
        "rows": rows,
    }


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_table(result: dict[str, Any]) -> str:
    """The human-readable table of a result dict."""
    machine = result["machine"]
    load = " ".join(f"{x:.2f}" for x in machine["loadavg_at_start"] or ())
    lines = [
        f"machine: {machine['cpu']}, {machine['cores']} cores, load {load or 'n/a'}, "
        f"Python {machine['python']}",
        f"airfoil, {result['settings']['epochs']} epoch(s), {result['settings']['repeats']} repeat(s), "
        f"batch {result['settings']['batch_size']}; seconds per epoch exclude evaluations",
        "",
    ]
    header = ("backend", "mode", "dtype", "s/epoch median", "s/epoch min", "x native", "final loss", "note")
    table = [header]
    for row in result["rows"]:
        table.append(
            (
                row["backend"], row["mode"], row["dtype"],
                _fmt(row["sec_per_epoch_median"], ".4f"), _fmt(row["sec_per_epoch_min"], ".4f"),
                _fmt(row["ratio_to_native"], ".2f"), _fmt(row["final_loss"], ".5f"), (row["error"] or "")[:70],
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for i, r in enumerate(table):
        cells = (c.ljust(w) if j in (0, 1, 2, 7) else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths)))
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse, run, print; 1 (with the reason) when the data is unavailable."""
    from polyprop.chapter.data import DataUnavailableError

    args = parse_args(argv)
    try:
        result = run(args)
    except DataUnavailableError as error:
        print(f"benchmarks.train: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
