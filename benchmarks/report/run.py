"""Running the two benchmarks for the report, and writing files whole.

Each benchmark runs in-process through its module's ``collect(argv) -> dict`` when
it has one, else as ``python -m ... --json`` in a subprocess; the command line's
run options are passed through (:func:`step_argv`, :func:`train_argv`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent.parent
"""The ``benchmarks/`` folder: where the report goes by default."""
REPO = BENCHMARKS.parent
"""The repository root: where a benchmark's subprocess runs."""


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


def load_json(path: str) -> dict[str, Any]:
    """A saved result dict."""
    with open(path, encoding="utf-8") as file:
        result: dict[str, Any] = json.load(file)
    return result


def run_benchmarks(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run both benchmarks and save their JSON under ``out/results/``."""
    step = collect("benchmarks.step", step_argv(args))
    write_atomically(args.out / "results" / "step.json", json.dumps(step, indent=2) + "\n")
    from polyprop.chapter.data import DataUnavailableError

    try:
        train = collect("benchmarks.train", train_argv(args))
    except DataUnavailableError as error:
        raise SystemExit(f"benchmarks.report: {error}") from error
    write_atomically(args.out / "results" / "train.json", json.dumps(train, indent=2) + "\n")
    return step, train
