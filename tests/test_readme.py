"""The README's examples run as written, and its commands are the ones CI and make run."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

from conftest import require_backend

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_python_examples_run_as_written(tmp_path):
    for name in ("torch", "tensorflow", "jax", "mxnet"):
        require_backend(name)
    code = "\n".join(re.findall(r"```python\n(.*?)```", README, flags=re.S))
    assert "polyprop.step" in code
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, capture_output=True, text=True)
    assert (tmp_path / "run.npz").exists()  # the checkpoint example wrote its file


def test_the_two_commands_exist_and_ci_runs_the_test_command():
    commands = re.findall(r"```sh\n(.*?)\n```", README, flags=re.S)[:2]
    assert commands == ["make chapter DATA_DIR=../shared/data", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^chapter: setup", makefile, flags=re.M)
    assert re.search(r"^test: setup", makefile, flags=re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M)


def test_scaling_out_examples_run_as_written(tmp_path):
    """The "Scaling out" scripts, each saved under its name and run as the README says."""
    for name in ("torch", "tensorflow", "jax", "mxnet"):
        require_backend(name)
    files = dict(re.findall(r"```python file=(\S+)\n(.*?)```", README, flags=re.S))
    assert set(files) == {"scale_jax.py", "scale_torch.py", "scale_tf.py", "scale_mxnet.py"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    for name, code in files.items():
        (tmp_path / name).write_text(code)
        command = [*torchrun, name] if name == "scale_torch.py" else [sys.executable, name]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{name} exited {done.returncode}:\n{done.stderr[-4000:]}"
