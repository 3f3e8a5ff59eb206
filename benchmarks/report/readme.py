"""The README: :data:`TEMPLATE` (``readme_template.md``) with the tables and the rerun command filled in.

The template is Markdown with ``{name}`` placeholders; everything else in it is
copied as it is.  Edit the prose there, the tables in :mod:`.tables`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from benchmarks.step import BACKENDS, DEFAULT_SIZES

from .run import REPO
from .summary import summary_rows, target_rows
from .tables import (
    format_full_table,
    format_machine,
    format_summary,
    format_targets,
    format_torch_dropin,
    format_train_table,
)

TEMPLATE = Path(__file__).resolve().with_name("readme_template.md")
"""The README's text, with a ``{name}`` placeholder for each generated part."""

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def regenerate_command(step: dict[str, Any], train: dict[str, Any]) -> str:
    """The ``benchmarks.report`` command that reruns these settings."""
    s, t = step["settings"], train["settings"]
    ran = set(s.get("backends", BACKENDS)) | set(t.get("backends", BACKENDS))
    argv = ["--backend", *(["all"] if ran >= set(BACKENDS) else [b for b in BACKENDS if b in ran])]
    argv += ["--sizes", *s.get("sizes", DEFAULT_SIZES), "--dtype", *s.get("dtypes", ("float32", "float64"))]
    argv += ["--repeats", str(s.get("repeats")), "--warmup", str(s.get("warmup"))]
    argv += ["--threads", str(s.get("threads") or 0)]
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


def render_readme(step: dict[str, Any], train: dict[str, Any]) -> str:
    """The whole README.md text for one step result and one train result."""
    summary = summary_rows(step)
    parts = {
        "command": regenerate_command(step, train),
        "machine": format_machine(step, train),
        "summary": format_summary(summary),
        "targets": format_targets(target_rows(summary)),
        "torch_dropin": format_torch_dropin(step),
        "step_rows": format_full_table(step),
        "train_table": format_train_table(train),
    }
    template = TEMPLATE.read_text(encoding="utf-8")
    return PLACEHOLDER.sub(lambda match: parts[match.group(1)], template)
