"""Run the frameworks' own installed test files against polyprop's drop-ins.

The upstream files are run where pip put them (site-packages), untouched, in a
pytest subprocess with a plugin that swaps the native optimizer for the drop-in.
Tests that do not apply are listed with their reason in ``excluded.toml``.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree

import tomllib

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
EXCLUDED = HERE / "excluded.toml"


def upstream_file(module: str, relative: str) -> str:
    """The installed path of ``relative`` inside the package ``module``.

    For example ``upstream_file("keras", "src/optimizers/rmsprop_test.py")``.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"{module} is not installed")
    path = pathlib.Path(spec.origin).parent / relative
    if not path.exists():
        raise FileNotFoundError(f"{module} does not ship {relative} (looked at {path})")
    return str(path)


def run_upstream(
    targets: list[str],
    plugin: str,
    env: dict[str, str] | None = None,
    select: str | None = None,
    timeout: float = 600,
    extra_args: tuple[str, ...] = (),
) -> Outcomes:
    """``{test id: outcome}`` of ``pytest targets -p plugin`` in a subprocess.

    An outcome is passed, failed, skipped or error.
    """
    with tempfile.TemporaryDirectory() as folder:
        report = pathlib.Path(folder) / "report.xml"
        command = [
            sys.executable, "-m", "pytest", *targets, "-p", plugin, "-q", "-p", "no:cacheprovider",
            f"--junitxml={report}", "-o", "addopts=", "--rootdir", folder, *extra_args,
        ]
        if select:
            command += ["-k", select]
        environment = {**os.environ, **(env or {})}
        environment["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT), str(ROOT / "tests"), environment.get("PYTHONPATH", "")]
        )
        done = subprocess.run(command, cwd=folder, env=environment, capture_output=True, text=True, timeout=timeout)
        if not report.exists():
            raise RuntimeError(
                f"pytest wrote no report (exit {done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
            )
        results = _outcomes(report)
    if not results:
        raise RuntimeError(f"no upstream test ran (exit {done.returncode}):\n{done.stdout[-4000:]}")
    results.output = done.stdout + done.stderr
    return results


class Outcomes(dict[str, str]):
    """Test id -> outcome, with the run's printed ``output`` for failure messages."""

    output: str = ""


def _outcomes(report: pathlib.Path) -> Outcomes:
    results = Outcomes()
    for case in ElementTree.parse(report).iter("testcase"):
        name = f"{case.get('classname', '').lstrip('.')}::{case.get('name', '')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed" if child.tag == "failure" else "error"
            elif child.tag == "skipped" and outcome == "passed":
                outcome = "skipped"
        results[name] = outcome
    return results


def excluded(suite: str) -> dict[str, str]:
    """The ``[suite]`` section of excluded.toml: test name or id substring -> reason."""
    with EXCLUDED.open("rb") as file:
        table = tomllib.load(file)
    section = table.get(suite, {})
    return {str(key): str(reason) for key, reason in section.items()}


def matches(key: str, name: str) -> bool:
    """Whether an excluded.toml ``key`` names the test ``name``: a substring, or with a final ``$`` a suffix."""
    return name.endswith(key[:-1]) if key.endswith("$") else key in name


def check(results: dict[str, str], suite: str) -> dict[str, int]:
    """Assert every test passed except the excluded ones; return the counts.

    An excluded entry must match a test that ran in this run or it is reported
    as stale only by :func:`stale_exclusions` (one suite spans several runs).
    """
    reasons = excluded(suite)
    counts = {"ran": len(results), "passed": 0, "excluded": 0}
    failures = []
    for name, outcome in sorted(results.items()):
        if any(matches(key, name) for key in reasons):
            counts["excluded"] += 1
            continue
        if outcome == "passed":
            counts["passed"] += 1
        else:
            failures.append(f"{name}: {outcome}")
    assert not failures, (
        f"{len(failures)} upstream {suite} tests did not pass (and are not listed in excluded.toml):\n"
        + "\n".join(failures)
        + "\n\n"
        + getattr(results, "output", "")[-6000:]
    )
    return counts


def stale_exclusions(suite: str, every_test_name: set[str]) -> list[str]:
    """Entries of ``[suite]`` that match no test in ``every_test_name`` (all runs of the suite together)."""
    return [key for key in excluded(suite) if not any(matches(key, name) for name in every_test_name)]
