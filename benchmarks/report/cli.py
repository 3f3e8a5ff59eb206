"""The command line of ``python -m benchmarks.report``: parse, run (or load), write README.md and the plot."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from benchmarks.step import BACKENDS
from benchmarks.train import positive_int

from .plot import render_plot
from .readme import render_readme
from .run import BENCHMARKS, load_json, run_benchmarks, write_atomically


def non_negative_int(text: str) -> int:
    """An argparse type: an integer of at least 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


RUN_OPTIONS = (
    "backend", "sizes", "dtype", "repeats", "warmup", "threads", "epochs", "train_repeats", "train_dtype", "data_dir"
)


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
    parser.add_argument("--out", type=Path, default=BENCHMARKS, help="folder to write into (default: benchmarks/)")
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



def write_report(out: Path, step: dict[str, Any], train: dict[str, Any]) -> list[Path]:
    """Write ``out/step_time.png`` then ``out/README.md``; return their paths."""
    plot, readme = out / "step_time.png", out / "README.md"
    write_atomically(plot, render_plot(step))
    write_atomically(readme, render_readme(step, train))
    return [plot, readme]


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
