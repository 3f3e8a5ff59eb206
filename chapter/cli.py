"""The ``polyprop`` command line (also ``python -m polyprop``), an application of the library.

    polyprop backends [--json]
    polyprop trace   --backend NAME|all [--out DIR] [--json]
    polyprop weights [--out DIR] [--json]
    polyprop airfoil --backend NAME|all [--impl scratch|native|both] [--data-dir DIR] [--out DIR] [--json]
    polyprop chapter --backend NAME|all --out DIR [--data-dir DIR] [--fashion-dir DIR]
                     [--fashion-limit N] [--fashion-epochs E] [--json]
    polyprop parity  --backend NAME|all [--variant NAME|all] [--steps N]
                     [--dtype float32|float64] [--seed S] [--json]

A backend named explicitly but not installed is an error (exit 2); with
``all`` it is reported as skipped.  Every bad flag (a number out of its range,
a folder that is missing, a file or not writable, an unknown backend or
variant) is refused before any work with one line ``polyprop: error: ...``
(after argparse's usage for what the parser checks) and exit 2, never a
traceback.  ``parity`` exits 1 when any backend exceeds the tolerance.  JAX
runs with 64-bit types enabled by this command line (``JAX_ENABLE_X64=1``
unless already set), so float64 means float64 everywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .. import backends as _backends
from ..backends import BACKENDS, available_backends


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("JAX_ENABLE_X64", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = _parser().parse_args(argv)
    try:
        result: int = args.run(args)
    except (UsageError, OSError) as error:
        # OSError: data that is missing (the loader's message says where to put it), or a
        # file that cannot be read or written.
        print(f"polyprop: error: {error}", file=sys.stderr)
        return 2
    return result


class UsageError(Exception):
    """A request the command line cannot carry out (unknown or missing backend)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="polyprop",
        description="RMSProp defined once, run on NumPy, PyTorch, MXNet, TensorFlow and JAX.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Callable[[argparse.Namespace], int], help: str) -> Any:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument("--json", action="store_true", help="print JSON instead of text")
        sub.set_defaults(run=run)
        return sub

    command("backends", _backends_command, "list every backend, installed or not, with its version")

    trace = command("trace", _trace_command, "the chapter's 2-D RMSProp run on f(x)=0.1 x1^2 + 2 x2^2")
    _backend_argument(trace)
    _out_argument(trace, "also draw the paths over the contours into DIR/trace.png and .svg")

    weights = command("weights", _weights_command, "the leaky-average weights (1-g) g^t for g in 0.95, 0.9, 0.8, 0.7")
    _out_argument(weights, "also plot them into DIR/weights.png and .svg")

    airfoil = command("airfoil", _airfoil_command, "the chapter's airfoil training, from scratch and/or native")
    _backend_argument(airfoil)
    airfoil.add_argument("--impl", choices=("scratch", "native", "both"), default="both")
    _data_arguments(airfoil)
    _out_argument(airfoil, "also plot the loss curves into DIR/airfoil.png and .svg")

    chapter = command("chapter", _chapter_command, "the whole chapter and its exercises as one report")
    _backend_argument(chapter)
    _out_argument(chapter, "folder for index.html, index.md, the figures and results.json", required=True)
    _data_arguments(chapter)
    chapter.add_argument(
        "--fashion-dir", type=_input_folder, metavar="DIR", help="folder with the four Fashion-MNIST IDX .gz files"
    )
    chapter.add_argument(
        "--fashion-limit",
        type=_int_in(1, FASHION_TRAIN_IMAGES, " (the training images)"),
        metavar="N",
        help=f"train on the first N Fashion-MNIST images, 1 to {FASHION_TRAIN_IMAGES}",
    )
    chapter.add_argument(
        "--fashion-epochs",
        type=_int_in(1, MAX_FASHION_EPOCHS),
        metavar="E",
        default=5,
        help=f"epochs per Fashion-MNIST run, 1 to {MAX_FASHION_EPOCHS} (5)",
    )

    parity = command("parity", _parity_command, "every backend against NumPy on one random problem")
    _backend_argument(parity)
    parity.add_argument("--variant", default="all", metavar="NAME", help="a config of the parity table, or 'all'")
    parity.add_argument(
        "--steps",
        type=_int_in(1, MAX_PARITY_STEPS, " (each step keeps about 15 kB of arrays)"),
        metavar="N",
        default=200,
        help=f"steps, 1 to {MAX_PARITY_STEPS} (default 200)",
    )
    parity.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    parity.add_argument(
        "--seed",
        type=_int_in(0, MAX_SEED, " (NumPy's seed range)"),
        metavar="S",
        default=0,
        help=f"NumPy seed of the problem, 0 to {MAX_SEED} (default 0)",
    )
    return parser


MAX_PARITY_STEPS = 100_000
"""Largest ``parity --steps``: the run keeps every step (about 15 kB each), so 1.5 GB at most."""

MAX_SEED = 2**32 - 1
"""Largest ``--seed``; NumPy seeds are 0 to 2**32 - 1."""

FASHION_TRAIN_IMAGES = 60_000
"""Fashion-MNIST's training images: the largest useful ``--fashion-limit``."""

MAX_FASHION_EPOCHS = 1000
"""Largest ``--fashion-epochs`` (each epoch is one pass over the training images)."""

BACKEND_ENV = "POLYPROP_BACKEND"


def _backend_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        metavar="NAME",
        help=f"one of {', '.join(BACKENDS)}, or 'all' (default: ${BACKEND_ENV}, else all)",
    )


def _out_argument(parser: argparse.ArgumentParser, help: str, required: bool = False) -> None:
    parser.add_argument("--out", type=_output_folder, required=required, metavar="DIR", help=help)


def _data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=_input_folder,
        metavar="DIR",
        help="folder holding airfoil_self_noise.dat (default: $POLYPROP_DATA_DIR, else download to the user cache)",
    )


def _shown(text: str) -> str:
    """``text`` as the user typed it; quoted when empty or padded, so that it is visible."""
    return text if text and text.strip() == text else repr(text)


def _int_in(low: int, high: int, why: str = "") -> Callable[[str], int]:
    """An argparse type: the integer ``text`` names if ``low <= value <= high``.

    Anything else (not an integer, "1.5", "nan", out of range) is an
    ArgumentTypeError that gives the allowed range and the value as typed.
    """
    kind = "a positive integer" if low == 1 else "a non-negative integer" if low == 0 else "an integer"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {kind}, got {_shown(text)}; allowed {low} to {high}{why}")
        return value

    return parse


def _output_folder(text: str) -> str:
    """An argparse type: ``text`` if it is a folder polyprop can write into, or can create.

    Refused: an empty name, a file, a path inside a file, a dangling link, a
    folder (or nearest existing parent) that is not writable.  Nothing is created here.
    """
    if not text or "\0" in text:
        raise argparse.ArgumentTypeError(f"must name a folder, got {_shown(text)}")
    if os.path.lexists(text) and not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"{text} is a link to nothing, not a folder")
    if os.path.exists(text):
        if not os.path.isdir(text):
            raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
        if not os.access(text, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"cannot write into {text}: permission denied")
        return text
    parent = _nearest_existing(text)
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"cannot create the folder {text}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot create the folder {text}: {parent} is not writable")
    return text


def _nearest_existing(path: str) -> str:
    """The longest prefix of ``path`` (made absolute) that exists."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


def _input_folder(text: str) -> str:
    """An argparse type: ``text`` if it names a folder that exists and can be read (``~`` allowed)."""
    if not text or "\0" in text:
        raise argparse.ArgumentTypeError(f"must name a folder, got {_shown(text)}")
    folder = os.path.expanduser(text)
    if not os.path.exists(folder):
        raise argparse.ArgumentTypeError(f"no such folder: {text}")
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot read the folder {text}: permission denied")
    return text


def _make_out_folder(out: str | None) -> None:
    """Create ``--out`` now, before any work, so that a folder that cannot be made fails fast."""
    if out is None:
        return
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as error:
        raise UsageError(f"argument --out: cannot create the folder {out}: {error.strerror or error}") from None


def _selected(flag: str | None) -> tuple[list[str], dict[str, str]]:
    """The installed backends asked for, and the skipped ones with their reason.

    The name is ``--backend``, else ``$POLYPROP_BACKEND``, else ``all``.
    """
    from_env = flag is None and bool(os.environ.get(BACKEND_ENV))
    name = flag if flag is not None else os.environ.get(BACKEND_ENV) or "all"
    if name == "all":
        versions = available_backends()
        skipped = {
            b: f"not installed: pip install 'polyprop[{_backends.FRAMEWORKS[b].extra}]'"
            for b, v in versions.items()
            if v is None
        }
        return [b for b in BACKENDS if b not in skipped], skipped
    try:
        _backends.check_name(name)
    except ValueError as error:
        source = f" (from ${BACKEND_ENV})" if from_env else ""
        raise UsageError(f"{error}, or all{source}") from None
    if _backends.framework_version(name) is None:
        raise UsageError(_backends.missing_framework(name))
    return [name], {}


def _backends_command(args: argparse.Namespace) -> int:
    versions = available_backends()
    rows: list[dict[str, Any]] = [
        {
            "backend": name,
            "framework": _backends.FRAMEWORKS[name].module,
            "installed": version is not None,
            "version": version,
            "extra": _backends.FRAMEWORKS[name].extra,
        }
        for name, version in versions.items()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        status = row["version"] if row["installed"] else f"not installed (polyprop[{row['extra']}])"
        print(_row(row["backend"], _row(row["framework"], status)))
    return 0


def _trace_command(args: argparse.Namespace) -> int:
    from .trace import trace_2d

    names, skipped = _selected(args.backend)
    _make_out_folder(args.out)
    results = {name: trace_2d(name) for name in names}
    figures = []
    if args.out:
        from .plots import plot_trace

        figures = [str(p) for p in plot_trace(results, os.path.join(args.out, "trace.png"))]
    if args.json:
        payload = {
            "function": "0.1*x1**2 + 2*x2**2",
            "start": [-5.0, -2.0],
            "config": {"learning_rate": 0.4, "decay": 0.9, "eps": 1e-6, "eps_in_sqrt": True},
            "backends": {
                name: {
                    "final": list(trace.final),
                    "line": trace.chapter_line(),
                    "points": trace.points.tolist(),
                }
                for name, trace in results.items()
            },
            "skipped": skipped,
            "figures": figures,
        }
        print(json.dumps(payload, indent=2))
        return 0
    for name, trace in results.items():
        print(_row(name, trace.chapter_line()))
    _print_skipped(skipped)
    _print_figures(figures)
    return 0


NAME_WIDTH = 11
"""The first column of a table: the longest backend name (``tensorflow``) and a space."""


def _row(first: str, rest: str) -> str:
    """One line of a table: ``first`` padded to :data:`NAME_WIDTH`, a space, then ``rest``."""
    return f"{first:<{NAME_WIDTH}} {rest}"


def _print_skipped(skipped: dict[str, str]) -> None:
    for name, reason in skipped.items():
        print(_row(name, f"skipped: {reason}"))


def _print_figures(paths: Sequence[str]) -> None:
    for path in paths:
        print(f"wrote {path}")


def _weights_command(args: argparse.Namespace) -> int:
    from .measures import weights_summary
    from .plots import plot_weights

    _make_out_folder(args.out)
    rows = weights_summary()
    figures = [str(p) for p in plot_weights(args.out)] if args.out else []
    if args.json:
        print(json.dumps({"weights": rows, "figures": figures}, indent=2))
        return 0
    for row in rows:
        print(
            f"gamma = {row['gamma']:<5} sum of the last {row['steps']} weights: "
            f"{row['sum']:.6f}  effective horizon 1/(1-gamma): {row['horizon']:g} steps"
        )
    _print_figures(figures)
    return 0


def _progress_bar(description: str, total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="step", leave=False, disable=None)


def _airfoil_command(args: argparse.Namespace) -> int:
    from .airfoil import has_native, train_native, train_scratch
    from .data import load_airfoil

    names, skipped = _selected(args.backend)
    _make_out_folder(args.out)
    features, labels = load_airfoil(args.data_dir)
    runs = []
    impls = ("scratch", "native") if args.impl == "both" else (args.impl,)
    total = (2 * len(labels) // 10) * len(names) * len(impls)
    with _progress_bar("airfoil", total) as bar:
        for name in names:
            for impl in impls:
                if impl == "native" and not has_native(name):
                    continue
                train = train_scratch if impl == "scratch" else train_native
                runs.append(train(name, features, labels, progress=bar.update))
    figures = []
    if args.out:
        from .plots import plot_airfoil

        figures = [str(p) for p in plot_airfoil(runs, os.path.join(args.out, "airfoil.png"))]
    if args.json:
        print(json.dumps({"runs": [run._asdict() for run in runs], "skipped": skipped, "figures": figures}, indent=2))
        return 0
    for line in _airfoil_table(runs, names, impls):
        print(line)
    _print_skipped(skipped)
    _print_figures(figures)
    return 0


AIRFOIL_CELL = 27
"""Width of an airfoil table cell (``loss: 0.245, 0.012 sec/epoch``)."""


def _airfoil_table(runs: Sequence[Any], names: Sequence[str], impls: Sequence[str]) -> list[str]:
    """One line per backend: the final loss and time per epoch of each implementation asked for."""
    by_backend: dict[str, dict[str, Any]] = {}
    for run in runs:
        by_backend.setdefault(run.backend, {})[run.impl] = run

    def cells(texts: Sequence[str]) -> str:
        return "   ".join(f"{text:<{AIRFOIL_CELL}}" for text in texts)

    def cell(run: Any) -> str:
        return f"loss: {run.final_loss:.3f}, {run.seconds_per_epoch:.3f} sec/epoch" if run else "(no native optimizer)"

    lines = [_row("backend", cells(impls))]
    for name in names:
        done = by_backend.get(name, {})
        lines.append(_row(name, cells([cell(done.get(impl)) for impl in impls])))
    return lines


def _chapter_command(args: argparse.Namespace) -> int:
    from .fashion import FashionDataCorruptError
    from .report import write_report
    from .run import run_chapter

    names, skipped = _selected(args.backend)
    _make_out_folder(args.out)
    try:
        results = run_chapter(
            names,
            data_dir=args.data_dir,
            fashion_dir=args.fashion_dir,
            fashion_limit=args.fashion_limit,
            fashion_epochs=args.fashion_epochs,
            progress=_progress_bar,
        )
    except FashionDataCorruptError as error:
        raise UsageError(f"Fashion-MNIST data: {error}") from None
    results.notes.extend(f"{name} skipped: {reason}" for name, reason in skipped.items())
    index = write_report(results, args.out)
    if args.json:
        print(json.dumps({"report": str(index), "backends": names, "skipped": skipped}, indent=2))
        return 0
    for name in names:
        trace = results.traces[name]
        runs = {run.impl: run for run in results.airfoil if run.backend == name}
        native = f"{runs['native'].final_loss:.3f}" if "native" in runs else "-"
        airfoil = f"airfoil loss scratch {runs['scratch'].final_loss:.3f}, native {native}"
        print(_row(name, f"{trace.chapter_line()}   {airfoil}"))
    for note in results.notes:
        print(f"note: {note}")
    print(f"wrote {index}")
    return 0


def _parity_command(args: argparse.Namespace) -> int:
    from ..parity import TOLERANCES, VARIANTS, compare, random_problem, trajectory

    names, skipped = _selected(args.backend)
    if args.variant == "all":
        variants = list(VARIANTS)
    elif args.variant in VARIANTS:
        variants = [args.variant]
    else:
        raise UsageError(f"unknown variant {args.variant!r}; known: {', '.join(VARIANTS)}, all")
    tolerance = TOLERANCES[args.dtype]
    problem = random_problem(args.steps, args.dtype, args.seed)
    report: dict[str, dict[str, Any]] = {name: {} for name in names}
    for variant in variants:
        reference = trajectory("numpy", VARIANTS[variant], problem)
        for name in names:
            diff = compare(trajectory(name, VARIANTS[variant], problem), reference)
            report[name][variant] = diff._asdict()
    summary = {
        name: {
            "max_abs": max(d["max_abs"] for d in per_variant.values()),
            "max_rel": max(d["max_rel"] for d in per_variant.values()),
            "within_tolerance": all(d["max_rel"] <= tolerance for d in per_variant.values()),
        }
        for name, per_variant in report.items()
    }
    ok = all(s["within_tolerance"] for s in summary.values())
    if args.json:
        payload = {
            "dtype": args.dtype,
            "steps": args.steps,
            "seed": args.seed,
            "tolerance_rel": tolerance,
            "reference": "numpy",
            "summary": summary,
            "variants": report,
            "skipped": skipped,
            "ok": ok,
        }
        print(json.dumps(payload, indent=2))
    else:
        print(
            f"{len(variants)} variant(s), {args.steps} steps, {args.dtype}, seed {args.seed}; "
            f"max difference against numpy (tolerance {tolerance:g} relative):"
        )
        print(_row("backend", f"{'max abs':>10} {'max rel':>10}  ok"))
        for name, s in summary.items():
            mark = "yes" if s["within_tolerance"] else "NO"
            print(_row(name, f"{s['max_abs']:>10.3g} {s['max_rel']:>10.3g}  {mark}"))
        _print_skipped(skipped)
    return 0 if ok else 1
