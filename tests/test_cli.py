"""The command line, run in-process through polyprop.cli.main and once as a real script."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import polyprop
from polyprop.cli import main

CHAPTER_LINE = "epoch 20, x1: -0.010599, x2: 0.000000"


def test_backends_json_lists_all_five(capsys):
    assert main(["backends", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["backend"] for r in rows] == list(polyprop.BACKENDS)
    assert all(r["installed"] == (r["version"] is not None) for r in rows)


def test_trace_all_prints_the_chapter_line_for_every_installed_backend(capsys):
    assert main(["trace", "--backend", "all"]) == 0
    lines = capsys.readouterr().out.splitlines()
    installed = [b for b, v in polyprop.available_backends().items() if v]
    assert [line.split()[0] for line in lines[: len(installed)]] == installed
    assert all(line.endswith(CHAPTER_LINE) for line in lines[: len(installed)])


def test_trace_json_has_the_path(capsys):
    assert main(["trace", "--backend", "numpy", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    numpy_run = payload["backends"]["numpy"]
    assert numpy_run["line"] == CHAPTER_LINE
    assert numpy_run["points"][0] == [-5.0, -2.0] and len(numpy_run["points"]) == 21


def test_parity_json_reports_each_backend_within_tolerance(capsys):
    code = main(["parity", "--backend", "all", "--variant", "everything", "--steps", "30", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and payload["ok"] is True
    installed = [b for b, v in polyprop.available_backends().items() if v]
    assert list(payload["summary"]) == installed
    for name, row in payload["summary"].items():
        assert row["max_rel"] <= payload["tolerance_rel"], name
    assert payload["summary"]["numpy"]["max_abs"] == 0.0


@pytest.mark.parametrize(
    "argv,message",
    [
        (["trace", "--backend", "pytorch"], "unknown backend 'pytorch'; known backends: numpy, torch"),
        (["parity", "--backend", "numpy", "--variant", "adam"], "unknown variant 'adam'"),
    ],
)
def test_bad_requests_exit_2_with_a_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_steps_must_be_positive(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["parity", "--steps", "0"])
    assert exit_info.value.code == 2
    assert "must be a positive integer, got 0" in capsys.readouterr().err


def test_console_script_and_module_entry_point_agree():
    script = os.path.join(os.path.dirname(sys.executable), "polyprop")
    by_script = subprocess.run([script, "trace", "--backend", "numpy"], capture_output=True, text=True, check=True)
    by_module = subprocess.run(
        [sys.executable, "-m", "polyprop", "trace", "--backend", "numpy"], capture_output=True, text=True, check=True
    )
    assert by_script.stdout == by_module.stdout == f"numpy       {CHAPTER_LINE}\n"
