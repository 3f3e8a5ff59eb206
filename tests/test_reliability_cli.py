"""Every bad flag of the ``polyprop`` command line: one error line, exit 2, never a traceback.

Run in-process through polyprop.chapter.cli.main (fast) and, for a few, as the real
script.  Chapter and airfoil cases carry ``--data-dir`` of an empty folder as a
safety net: a flag that slipped past the parser would fail on the missing data
after seconds, with a message the assertion does not accept, instead of
running the whole chapter.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from polyprop.chapter import cli
from polyprop.chapter.cli import main

STEPS = "argument --steps: must be a positive integer, got {}; allowed 1 to 100000"
SEED = "argument --seed: must be a non-negative integer, got {}; allowed 0 to 4294967295 (NumPy's seed range)"
LIMIT = "argument --fashion-limit: must be a positive integer, got {}; allowed 1 to 60000"
EPOCHS = "argument --fashion-epochs: must be a positive integer, got {}; allowed 1 to 1000"
HUGE = "9" * 5000  # more digits than int() converts by default
CHAPTER = ["chapter", "--backend", "numpy", "--data-dir", "{empty}"]
AIRFOIL = ["airfoil", "--backend", "numpy", "--data-dir", "{empty}"]
PARITY = ["parity", "--backend", "numpy", "--variant", "plain"]

# (argv, the error it must print); {file}, {missing}, {empty}, {dangling} are paths under tmp_path.
BAD_FLAGS = [
    *[([*PARITY, "--steps", v], STEPS.format(shown)) for v, shown in [
        ("0", "0"), ("-1", "-1"), ("100001", "100001"), ("1000000000000", "1000000000000"),
        ("1e3", "1e3"), ("1.5", "1.5"), ("nan", "nan"), ("inf", "inf"),
        ("", "''"), (" ", "' '"), ("abc", "abc"), ("0x10", "0x10"), (HUGE, HUGE),
    ]],
    *[([*PARITY, "--seed", v], SEED.format(shown)) for v, shown in [
        ("-1", "-1"), ("4294967296", "4294967296"), (str(10**30), str(10**30)), ("1.5", "1.5"),
        ("nan", "nan"), ("", "''"), ("seed", "seed"),
    ]],
    ([*PARITY, "--steps=-inf"], STEPS.format("-inf")),  # "--steps -inf" reads -inf as a flag
    ([*PARITY, "--steps", "-inf"], "argument --steps: expected one argument"),
    ([*PARITY, "--dtype", "float16"], "argument --dtype: invalid choice: 'float16'"),
    ([*PARITY, "--dtype", ""], "argument --dtype: invalid choice: ''"),
    (["parity", "--backend", "numpy", "--variant", "adam"], "unknown variant 'adam'; known: plain,"),
    (["parity", "--backend", "numpy", "--variant", ""], "unknown variant ''; known: plain,"),
    (["parity", "--backend", "pytorch"],
     "unknown backend 'pytorch'; known backends: numpy, torch, mxnet, tensorflow, jax, or all"),
    (["parity", "--backend", ""], "unknown backend ''; known backends: numpy"),
    (["parity", "--backend", "NUMPY"], "unknown backend 'NUMPY'; known backends: numpy"),
    ([*PARITY, "--stepz", "3"], "unrecognized arguments: --stepz 3"),
    ([*PARITY, "--steps"], "argument --steps: expected one argument"),
    (["trace", "--backend", "numpy", "--out", "{file}"], "argument --out: {file} is a file, not a folder"),
    (["trace", "--backend", "numpy", "--out", "{file}/sub"],
     "argument --out: cannot create the folder {file}/sub: {file} is a file, not a folder"),
    (["trace", "--backend", "numpy", "--out", "{file}/a/b"],
     "argument --out: cannot create the folder {file}/a/b: {file} is a file, not a folder"),
    (["trace", "--backend", "numpy", "--out", ""], "argument --out: must name a folder, got ''"),
    (["trace", "--backend", "numpy", "--out", "{dangling}"],
     "argument --out: {dangling} is a link to nothing, not a folder"),
    (["trace", "--backend", "torch-cpu"], "unknown backend 'torch-cpu'"),
    (["weights", "--out", "{file}"], "argument --out: {file} is a file, not a folder"),
    (["weights", "--out", ""], "argument --out: must name a folder, got ''"),
    ([*AIRFOIL, "--impl", "fast"], "argument --impl: invalid choice: 'fast'"),
    (["airfoil", "--backend", "numpy", "--data-dir", "{missing}"], "argument --data-dir: no such folder: {missing}"),
    (["airfoil", "--backend", "numpy", "--data-dir", "{file}"], "argument --data-dir: {file} is a file, not a folder"),
    (["airfoil", "--backend", "numpy", "--data-dir", ""], "argument --data-dir: must name a folder, got ''"),
    ([*AIRFOIL, "--out", "{file}"], "argument --out: {file} is a file, not a folder"),
    (["airfoil", "--backend", "mx", "--data-dir", "{empty}"], "unknown backend 'mx'"),
    (["chapter", "--backend", "numpy", "--data-dir", "{empty}"], "the following arguments are required: --out"),
    ([*CHAPTER, "--out", "{file}"], "argument --out: {file} is a file, not a folder"),
    ([*CHAPTER, "--out", "{file}/report"],
     "argument --out: cannot create the folder {file}/report: {file} is a file, not a folder"),
    ([*CHAPTER, "--out", "{empty}/r", "--fashion-dir", "{missing}"],
     "argument --fashion-dir: no such folder: {missing}"),
    ([*CHAPTER, "--out", "{empty}/r", "--fashion-dir", "{file}"],
     "argument --fashion-dir: {file} is a file, not a folder"),
    ([*CHAPTER, "--out", "{empty}/r", "--fashion-dir", ""], "argument --fashion-dir: must name a folder, got ''"),
    *[([*CHAPTER, "--out", "{empty}/r", "--fashion-limit", v], LIMIT.format(v))
      for v in ("0", "-5", "60001", "abc", "nan", "1e4")],
    *[([*CHAPTER, "--out", "{empty}/r", "--fashion-epochs", v], EPOCHS.format(v))
      for v in ("0", "1001", "1.5", "inf", "-1")],
    (["chapter", "--backend", "numpy", "--out", "{empty}/r", "--data-dir", "{missing}"],
     "argument --data-dir: no such folder: {missing}"),
    ([], "the following arguments are required: COMMAND"),
    (["train"], "argument COMMAND: invalid choice: 'train'"),
    (["backends", "--json", "extra"], "unrecognized arguments: extra"),
]


@pytest.fixture
def paths(tmp_path):
    """The placeholders of BAD_FLAGS: a file, a missing path, an empty folder, a dangling link."""
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "empty").mkdir()
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    return {
        "file": str(tmp_path / "a-file"),
        "missing": str(tmp_path / "missing"),
        "empty": str(tmp_path / "empty"),
        "dangling": str(tmp_path / "dangling"),
    }


def _filled(text: str, paths: dict[str, str]) -> str:
    return text.format(**paths) if "{" in text else text


def run_in_process(argv: list[str], capsys) -> tuple[int, list[str]]:
    """``main(argv)``'s exit code (returned or raised as SystemExit) and its stderr lines."""
    try:
        code = main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    captured = capsys.readouterr()
    assert captured.out == "", captured.out
    return code, captured.err.splitlines()


def assert_one_error(code: int, lines: list[str], message: str) -> None:
    """Exit 2 and one error line, ours or argparse's (which follows its usage lines)."""
    text = "\n".join(lines)
    assert code == 2, text
    assert "Traceback" not in text
    *usage, error = lines
    assert message in error, text
    if usage:  # argparse: "usage: polyprop ..." wrapped over a few lines, then "polyprop CMD: error: ..."
        assert usage[0].startswith("usage: polyprop"), text
        assert error.startswith("polyprop"), text
        assert ": error: " in error, text
    else:
        assert error.startswith("polyprop: error: "), text


@pytest.mark.parametrize(
    ("argv", "message"), BAD_FLAGS, ids=lambda v: " ".join(v)[:60] if isinstance(v, list) else None
)
def test_every_bad_flag_is_one_error_line_and_exit_2(argv, message, paths, capsys):
    code, lines = run_in_process([_filled(a, paths) for a in argv], capsys)
    assert_one_error(code, lines, _filled(message, paths))


def test_a_bad_backend_in_the_environment_names_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("POLYPROP_BACKEND", "pytorch")
    code, lines = run_in_process(["trace"], capsys)
    assert_one_error(
        code, lines,
        "unknown backend 'pytorch'; known backends: numpy, torch, mxnet, tensorflow, jax, or all "
        "(from $POLYPROP_BACKEND)",
    )


def test_an_explicit_backend_overrides_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("POLYPROP_BACKEND", "pytorch")
    assert main(["trace", "--backend", "numpy"]) == 0
    assert capsys.readouterr().out.startswith("numpy ")


def _unwritable_folder(tmp_path) -> str:
    """A folder this process cannot write into: a 0500 one, or (as root) a read-only mount."""
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir(mode=0o500)
        return str(folder)
    for candidate in ("/proc/sys", "/sys"):
        if os.path.isdir(candidate) and not os.access(candidate, os.W_OK):
            return candidate
    pytest.skip("running as root with no read-only folder to write into")


def test_an_unwritable_out_folder_is_refused(tmp_path, capsys):
    folder = _unwritable_folder(tmp_path)
    code, lines = run_in_process(["weights", "--out", folder], capsys)
    assert_one_error(code, lines, f"argument --out: cannot write into {folder}: permission denied")
    code, lines = run_in_process(["weights", "--out", os.path.join(folder, "new", "plots")], capsys)
    assert_one_error(
        code, lines, f"argument --out: cannot create the folder {folder}/new/plots: {folder} is not writable"
    )


def test_an_out_folder_the_system_cannot_create_fails_before_any_work(tmp_path, capsys):
    too_long = str(tmp_path / ("x" * 300))  # passes the parser's checks; mkdir says ENAMETOOLONG
    code, lines = run_in_process(["weights", "--out", too_long], capsys)
    assert_one_error(
        code, lines, f"polyprop: error: argument --out: cannot create the folder {too_long}: File name too long"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_figure_that_cannot_be_written_is_one_error_line(tmp_path, capsys):
    (tmp_path / "trace.png").mkdir()  # the figure's own name is taken by a folder
    code, lines = run_in_process(["trace", "--backend", "numpy", "--out", str(tmp_path)], capsys)
    assert_one_error(code, lines, "polyprop: error: [Errno 21] Is a directory: ")
    assert f"'{tmp_path / 'trace.png'}'" in lines[-1]


def test_airfoil_data_with_the_wrong_hash_is_one_error_line(tmp_path, capsys):
    (tmp_path / "airfoil_self_noise.dat").write_text("800\t0\t0.3048\t71.3\t0.00266\t126.201\n")
    code, lines = run_in_process(["airfoil", "--backend", "numpy", "--data-dir", str(tmp_path)], capsys)
    assert_one_error(code, lines, f"polyprop: error: the file at {tmp_path / 'airfoil_self_noise.dat'} has SHA-1 ")


def test_corrupt_fashion_data_is_one_error_line(tmp_path, monkeypatch, capsys):
    import polyprop.chapter.run
    from polyprop.chapter.fashion import FashionDataCorruptError

    def corrupt(*args, **kwargs):
        raise FashionDataCorruptError("/data/train-images-idx3-ubyte.gz: magic number 2049, expected 2051")

    monkeypatch.setattr(polyprop.chapter.run, "run_chapter", corrupt)
    code, lines = run_in_process(["chapter", "--backend", "numpy", "--out", str(tmp_path)], capsys)
    assert_one_error(
        code, lines,
        "polyprop: error: Fashion-MNIST data: /data/train-images-idx3-ubyte.gz: magic number 2049, expected 2051",
    )


def test_a_new_nested_out_folder_is_created(tmp_path, capsys):
    out = tmp_path / "new" / "plots"
    assert main(["weights", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["weights.png", "weights.svg"]


@pytest.mark.parametrize(
    ("argv", "attribute", "value"),
    [
        (["parity", "--steps", "1"], "steps", 1),
        (["parity", "--steps", "100000"], "steps", 100000),
        (["parity", "--steps", " 7 "], "steps", 7),
        (["parity", "--seed", "0"], "seed", 0),
        (["parity", "--seed", "4294967295"], "seed", 4294967295),
        (["chapter", "--out", "r", "--fashion-limit", "60000"], "fashion_limit", 60000),
        (["chapter", "--out", "r", "--fashion-epochs", "1000"], "fashion_epochs", 1000),
        (["chapter", "--out", "r"], "fashion_epochs", 5),
    ],
)
def test_the_bounds_themselves_are_accepted(argv, attribute, value):
    assert getattr(cli._parser().parse_args(argv), attribute) == value


def test_the_largest_seed_runs(capsys):
    argv = [*PARITY, "--steps", "1", "--seed", "4294967295", "--json"]
    assert main(argv) == 0
    assert '"seed": 4294967295' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["parity", "--backend", "numpy", "--seed", "-1"], SEED.format("-1")),
        (["parity", "--backend", "numpy", "--steps", "10000000000"], STEPS.format("10000000000")),
        (["trace", "--backend", "numpy", "--out", "{file}"], "argument --out: {file} is a file, not a folder"),
    ],
)
def test_the_real_script_prints_one_error_and_exits_2(argv, message, paths):
    script = os.path.join(os.path.dirname(sys.executable), "polyprop")
    done = subprocess.run([script, *[_filled(a, paths) for a in argv]], capture_output=True, text=True, timeout=120)
    assert done.stdout == ""
    assert_one_error(done.returncode, done.stderr.splitlines(), _filled(message, paths))
