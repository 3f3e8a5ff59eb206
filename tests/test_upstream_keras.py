"""Keras's own optimizer tests, from site-packages, on polyprop's Keras RMSprop under each Keras backend.

``keras/src/optimizers/rmsprop_test.py`` and ``optimizer_test.py`` run untouched
with ``-p tests.upstream.keras_swap`` (the native class swapped for
:class:`polyprop.backends.keras.RMSprop`), one pytest subprocess per file and
``KERAS_BACKEND`` (Keras fixes its backend at import).  Every test must pass
except those listed in ``[keras]`` of ``tests/upstream/excluded.toml``.  The
plugin's report shows the swap took effect: each passing test built the drop-in,
and no excluded test whose reason says it never builds an RMSprop built one.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
from upstream.runner import check, excluded, matches, run_upstream, stale_exclusions, upstream_file

from conftest import REQUIRE_ALL

FILES = {"rmsprop_test": "src/optimizers/rmsprop_test.py", "optimizer_test": "src/optimizers/optimizer_test.py"}
KERAS_BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
"""Keras backend -> the module it needs."""
NEVER_BUILDS = "never builds an RMSprop"
RAN: dict[tuple[str, str], set[str]] = {}


def _require(backend: str) -> None:
    for module in ("keras", KERAS_BACKENDS[backend]):
        if importlib.util.find_spec(module) is None:
            reason = f"{module} is not installed (Keras backend {backend})"
            if REQUIRE_ALL:
                pytest.fail(f"{reason}; required: POLYPROP_REQUIRE_ALL=1")
            pytest.skip(reason)


def _uses(report: dict[str, dict[str, int]], name: str) -> dict[str, int]:
    """The plugin's counts for the test ``name`` (its ids are ``Class::test``; ours may carry a prefix)."""
    found = [uses for key, uses in report.items() if name.endswith(key.lstrip(":"))]
    return found[0] if found else {"built": 0, "steps": 0}


@pytest.mark.parametrize("backend", KERAS_BACKENDS)
@pytest.mark.parametrize("file", FILES)
def test_upstream_keras_file_passes_on_the_dropin(file, backend, tmp_path, capsys):
    _require(backend)
    report_path = tmp_path / "swap.json"
    results = run_upstream(
        [upstream_file("keras", FILES[file])],
        "tests.upstream.keras_swap",
        env={"KERAS_BACKEND": backend, "POLYPROP_SWAP_REPORT": str(report_path), "JAX_ENABLE_X64": "0"},
        timeout=300,
    )
    counts = check(results, "keras")
    report = json.loads(report_path.read_text())
    assert report["backend"] == backend
    reasons = excluded("keras")
    for name in results:
        uses = _uses(report["uses"], name)
        reason = next((r for key, r in reasons.items() if matches(key, name)), None)
        if reason is None:  # a test that counts as passed ran polyprop's RMSprop
            assert uses["built"] > 0, f"{name} passed without building polyprop's RMSprop: is the swap in place?"
        elif reason.startswith(NEVER_BUILDS):
            assert uses["built"] == 0, f"{name} is excluded as '{reason}' but built {uses['built']} drop-ins"
    assert sum(u["steps"] for u in report["uses"].values()) > 0
    RAN[(file, backend)] = set(results)
    with capsys.disabled():
        print(f"\nkeras upstream {file} [{backend}]: {counts}")


def test_zz_every_exclusion_names_a_test_that_ran():
    if len(RAN) < len(FILES) * len(KERAS_BACKENDS):
        pytest.skip("not every (file, backend) run happened in this session")
    assert stale_exclusions("keras", set().union(*RAN.values())) == []
