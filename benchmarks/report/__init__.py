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

One module per part: :mod:`.cli` the command line, :mod:`.run` running the benchmarks,
:mod:`.summary` the analysis (fastest path per case, targets), :mod:`.tables` the
Markdown tables, :mod:`.plot` the figure, :mod:`.readme` the README from its
template ``readme_template.md``.
"""

from __future__ import annotations

from .cli import main

__all__ = ["main"]
