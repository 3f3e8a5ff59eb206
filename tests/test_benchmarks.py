"""Smoke tests of benchmarks/train.py and benchmarks/report/: they run and write whole files.

No timing is asserted anywhere: only that times are positive, losses finite, and
the generated README and plot have their parts.  Nothing here writes into benchmarks/.
"""

from __future__ import annotations

import json
import math
import pathlib

import pytest

from benchmarks import report, step, train
from benchmarks.report import cli as report_cli
from benchmarks.report import run as report_run
from benchmarks.report import summary as report_summary
from conftest import require_path
from polyprop.chapter.data import AIRFOIL_FILE

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
LEAST_SQUARES = 0.2416879
"""No linear model gets below this loss on the 1500 airfoil rows (as in test_airfoil.py)."""
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def airfoil_dir() -> pathlib.Path:
    """The shared data folder, or a skip naming it."""
    require_path(SHARED_DATA / AIRFOIL_FILE, "the airfoil data (the checkout's sibling shared/data)")
    return SHARED_DATA


def train_result(**overrides: object) -> dict:
    """A small hand-made ``benchmarks.train`` result: NumPy scratch, its missing native, torch skipped."""
    base = {"epochs": 1, "repeats": 1, "ratio_to_native": None, "error": None}
    rows = [
        {**base, "backend": "numpy", "mode": "scratch", "dtype": "float32",
         "sec_per_epoch_median": 0.02, "sec_per_epoch_min": 0.019, "final_loss": 0.2455},
        {**base, "backend": "numpy", "mode": "native", "dtype": "float32", "repeats": 0,
         "sec_per_epoch_median": None, "sec_per_epoch_min": None, "final_loss": None, "error": train.NO_NATIVE},
        {**base, "backend": "torch", "mode": "scratch", "dtype": "float32", "repeats": 0,
         "sec_per_epoch_median": None, "sec_per_epoch_min": None, "final_loss": None,
         "error": "skipped: torch is not installed"},
    ]
    settings = {"backends": ["numpy", "torch"], "epochs": 1, "repeats": 1, "dtype": "float32", "seed": 0,
                "batch_size": 10}
    result = {"machine": step.machine_info(), "settings": settings, "rows": rows}
    result.update(overrides)
    return result


def step_row(backend: str, variant: str, role: str, median_s: float | None, **fields: object) -> dict:
    """A hand-made ``benchmarks.step`` row of the 1e7 float32 case (``median_s`` None: an error row)."""
    if median_s is None:
        return {"backend": backend, "case": "1e7", "dtype": "float32", "tensors": 1, "elements": 10**7,
                "bytes_per_step": 2 * 10**8, "variant": variant, "role": role, **fields}
    row = {
        "backend": backend, "case": "1e7", "dtype": "float32", "tensors": 1, "elements": 10**7,
        "bytes_per_step": 2 * 10**8, "variant": variant, "role": role, "median_s": median_s, "min_s": median_s,
        "repeats": 3, "ratio_to_native": None, "native": None, "bandwidth_Bps": 2e8 / median_s,
        "triad_share": 2e8 / median_s / 1e10, "extra_memory_bytes": 0, "memory_method": "rss", "error": None,
    }
    row.update(fields)
    return row


# --------------------------------------------------------------------------------------
# benchmarks.train


def test_train_numpy_one_epoch_gives_a_positive_time_and_the_chapters_loss(capsys):
    data = airfoil_dir()
    argv = ["--backend", "numpy", "--epochs", "1", "--repeats", "1", "--json", "--data-dir", str(data)]
    assert train.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["machine"]["cpu"]
    assert result["settings"]["epochs"] == 1
    rows = {row["mode"]: row for row in result["rows"]}
    scratch = rows["scratch"]
    assert scratch["backend"] == "numpy"
    assert scratch["dtype"] == "float32"
    assert scratch["error"] is None
    assert scratch["repeats"] == 1
    assert scratch["sec_per_epoch_median"] > 0
    assert scratch["sec_per_epoch_min"] > 0
    assert math.isfinite(scratch["final_loss"])
    assert LEAST_SQUARES < scratch["final_loss"] < 1
    assert scratch["ratio_to_native"] is None
    assert "no native optimizer" in rows["native"]["error"]
    assert rows["native"]["sec_per_epoch_median"] is None


def test_train_missing_framework_gives_skipped_rows_not_a_crash(monkeypatch):
    import polyprop.backends

    monkeypatch.setattr(polyprop.backends, "framework_version", lambda name: None)
    args = train.parse_args(["--backend", "torch", "--repeats", "1"])
    rows = train.run_backend("torch", (None, None), args)
    assert [row["mode"] for row in rows] == ["scratch", "native"]
    assert all(row["error"].startswith("skipped: torch") and row["sec_per_epoch_median"] is None for row in rows)


def test_train_table_names_every_row():
    text = train.format_table(train_result())
    assert "numpy" in text
    assert "no native optimizer" in text
    assert "skipped: torch" in text


# --------------------------------------------------------------------------------------
# benchmarks.report


@pytest.fixture(scope="module")
def step_json(tmp_path_factory) -> pathlib.Path:
    """A real, small ``benchmarks.step --json`` result (NumPy, 1e3 and model, float32), saved."""
    import contextlib
    import io

    buffer = io.StringIO()
    argv = ["--backend", "numpy", "--sizes", "1e3", "model", "--dtype", "float32", "--repeats", "2", "--warmup", "1",
            "--json"]
    with contextlib.redirect_stdout(buffer):
        assert step.main(argv) == 0
    path = tmp_path_factory.mktemp("step") / "step.json"
    path.write_text(buffer.getvalue())
    return path


def test_report_from_json_writes_the_readme_and_a_png(tmp_path, step_json):
    real_readme = (ROOT / "benchmarks" / "README.md").read_bytes()
    train_json = tmp_path / "train.json"
    train_json.write_text(json.dumps(train_result()))
    out = tmp_path / "out"
    assert report.main(["--from-json", str(step_json), str(train_json), "--out", str(out)]) == 0

    assert sorted(p.name for p in out.iterdir()) == ["README.md", "step_time.png"]  # no temporary left
    assert (out / "step_time.png").read_bytes().startswith(PNG_MAGIC)
    text = (out / "README.md").read_text()
    machine = json.loads(step_json.read_text())["machine"]
    assert f"**Machine:** {machine['cpu']}" in text
    assert "**Triad**" in text
    for heading in ("## Summary: fastest polyprop path / native", "## Targets", "## All step rows",
                    "## Training: the chapter's airfoil run", "## Running it", "## What is compared", "## Columns"):
        assert heading in text
    assert "| backend | dtype | case | native | native ms | fastest polyprop |" in text
    assert "| numpy | float32 | 1e3 | polyprop.step (plain path, the baseline) |" in text
    assert "| numpy | float32 | model | polyprop.step (plain path, the baseline) |" in text
    assert "| numpy | model float32 | fastest polyprop / native | ≤ 1.00 |" in text
    assert "| torch | 1e7 float32 | fastest polyprop / native | ≤ 0.90 | - | - | no data |" in text
    assert "no native optimizer" in text
    assert "![step time](step_time.png)" in text
    assert "python -m benchmarks.report --backend numpy torch --sizes 1e3 model --dtype float32 --repeats 2" in text
    assert (ROOT / "benchmarks" / "README.md").read_bytes() == real_readme


def test_summary_takes_the_fastest_polyprop_row_and_its_own_native():
    rows = [
        step_row("tensorflow", "keras RMSprop eager", "native", 0.020),
        step_row("tensorflow", "keras RMSprop tf.function(jit_compile)", "native", 0.010),
        step_row("tensorflow", "polyprop RMSprop eager", "polyprop", 0.019, ratio_to_native=0.95,
                 native="keras RMSprop eager"),
        step_row("tensorflow", "polyprop.fast_step jit", "polyprop", 0.008, ratio_to_native=0.8,
                 native="keras RMSprop tf.function(jit_compile)", triad_share=0.5),
        step_row("mxnet", "mx.nd.rmsprop_update (fused)", "native", 0.010),
        step_row("mxnet", "polyprop.fast_step", "polyprop", 0.012, ratio_to_native=1.2,
                 native="mx.nd.rmsprop_update (fused)"),
        step_row("jax", "optax.rmsprop jit", "native", 0.010),
        step_row("jax", "polyprop.fast_step jit", "polyprop", None, error="RuntimeError: no donation"),
    ]
    summary = {(e["backend"], e["case"]): e for e in report_summary.summary_rows({"rows": rows})}
    tf = summary["tensorflow", "1e7"]
    assert tf["fastest"]["variant"] == "polyprop.fast_step jit"
    assert tf["native"]["variant"] == "keras RMSprop tf.function(jit_compile)"
    assert summary["jax", "1e7"]["fastest"] is None
    assert summary["jax", "1e7"]["errors"]
    targets = {(t["backend"], t["measure"], t["case"]): t for t in report_summary.target_rows(list(summary.values()))}
    assert targets["tensorflow", "ratio", "1e7"]["status"] == "met"
    assert targets["tensorflow", "triad", "1e7"]["status"] == "not met"
    assert targets["mxnet", "ratio", "1e7"]["status"] == "not met"
    assert targets["mxnet", "triad", "1e7"]["status"] == "met"
    assert targets["jax", "ratio", "1e7"]["status"] == "no data"


def test_report_runs_both_benchmarks_and_saves_their_json(tmp_path):
    data = airfoil_dir()
    argv = ["--backend", "numpy", "--sizes", "1e3", "--dtype", "float32", "--repeats", "2", "--warmup", "0",
            "--epochs", "1", "--train-repeats", "1", "--data-dir", str(data), "--out", str(tmp_path)]
    assert report.main(argv) == 0
    step_result = json.loads((tmp_path / "results" / "step.json").read_text())
    train_result_ = json.loads((tmp_path / "results" / "train.json").read_text())
    assert {row["case"] for row in step_result["rows"]} == {"1e3"}
    assert train_result_["rows"][0]["sec_per_epoch_median"] > 0
    assert (tmp_path / "step_time.png").read_bytes().startswith(PNG_MAGIC)
    assert "## Targets" in (tmp_path / "README.md").read_text()


def test_json_output_is_found_after_other_printing():
    assert report_run.parse_json_output('a warning\n{\n  "rows": []\n}\n') == {"rows": []}


@pytest.mark.parametrize(
    ("module", "argv", "option"),
    [
        (train, ["--epochs", "0"], "--epochs"),
        (train, ["--repeats", "-1"], "--repeats"),
        (train, ["--dtype", "float16"], "--dtype"),
        (report_cli, ["--train-repeats", "0"], "--train-repeats"),
        (report_cli, ["--from-json", "step.json"], "--from-json"),
        (report_cli, ["--from-json", "a.json", "b.json", "--sizes", "1e3"], "--sizes"),
    ],
)
def test_bad_arguments_are_argparse_errors_naming_the_option(module, argv, option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        module.parse_args(argv)
    assert exit_info.value.code == 2
    assert option in capsys.readouterr().err
