"""The command line, run in-process through polyprop.chapter.cli.main and once as a real script."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import polyprop
from polyprop.chapter.cli import main

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
    assert numpy_run["points"][0] == [-5.0, -2.0]
    assert len(numpy_run["points"]) == 21


def test_parity_json_reports_each_backend_within_tolerance(capsys):
    code = main(["parity", "--backend", "all", "--variant", "everything", "--steps", "30", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0
    assert payload["ok"] is True
    installed = [b for b, v in polyprop.available_backends().items() if v]
    assert list(payload["summary"]) == installed
    for name, row in payload["summary"].items():
        assert row["max_rel"] <= payload["tolerance_rel"], name
    assert payload["summary"]["numpy"]["max_abs"] == 0.0


@pytest.mark.parametrize(
    ("argv", "message"),
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


SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


def test_weights_prints_sums_and_horizons_and_plots(tmp_path, capsys):
    assert main(["weights", "--out", str(tmp_path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    rows = {row["gamma"]: row for row in payload["weights"]}
    assert set(rows) == {0.95, 0.9, 0.8, 0.7}
    assert rows[0.9]["sum"] == pytest.approx(1 - 0.9**40, rel=1e-12)
    assert rows[0.95]["horizon"] == pytest.approx(20.0)
    assert {os.path.basename(p) for p in payload["figures"]} == {"weights.png", "weights.svg"}


def test_trace_out_draws_the_picture(tmp_path, capsys):
    assert main(["trace", "--backend", "numpy", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "trace.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_airfoil_prints_the_chapter_line_per_backend(capsys):
    from conftest import require_path

    data = require_path(SHARED_DATA, "the airfoil data (../shared/data)")
    assert main(["airfoil", "--backend", "numpy", "--impl", "scratch", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("numpy"))
    loss = float(line.split("loss:")[1].split(",")[0])
    assert 0.22 < loss < 0.27
    assert "sec/epoch" in line


def test_airfoil_without_data_exits_2_and_says_where_to_put_the_file(tmp_path, capsys):
    assert main(["airfoil", "--backend", "numpy", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err
    assert "airfoil_self_noise.dat" in err


def test_chapter_writes_the_report(tmp_path, capsys):
    from conftest import require_path

    data = require_path(SHARED_DATA, "the airfoil data (../shared/data)")
    code = main([
        "chapter", "--backend", "numpy", "--out", str(tmp_path / "report"), "--data-dir", str(data),
        "--fashion-limit", "600", "--fashion-epochs", "1",
    ])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"numpy       {CHAPTER_LINE}" in out
    index = tmp_path / "report" / "index.html"
    assert index.exists()
    assert (tmp_path / "report" / "index.md").exists()
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    assert results
