"""optax's own tests, from site-packages, on polyprop's optax drop-ins (rmsprop, scale_by_rms, scale_by_stddev).

``optax/_src/alias_test.py``, ``transform_test.py`` and ``float64_test.py`` run
untouched with ``-p tests.upstream.optax_swap`` (the native functions swapped for
:mod:`polyprop.backends.jax`'s), one pytest subprocess per file (float64_test turns
on 64-bit mode for the whole process), selected with ``-k`` to their rmsprop,
scale_by_rms and scale_by_stddev cases.  Every selected test must pass except those
listed in ``[optax]`` of ``tests/upstream/excluded.toml``, and each must have built
a drop-in (the plugin's report), so a passing test really ran polyprop.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
from upstream.runner import check, run_upstream, stale_exclusions, upstream_file

from conftest import REQUIRE_ALL

FILES = {
    "alias_test": "_src/alias_test.py",
    "transform_test": "_src/transform_test.py",
    "float64_test": "_src/float64_test.py",
}
SELECT = "rmsprop or scale_by_rms or scale_by_stddev or scalers_stddev or rms_match_adam"
"""absl names: alias_test's cases carry their ``opt_name`` as a keyword (the plugin adds
it); transform_test has ``test_scalers_rmsprop``/``_stddev`` and ``test_rms_match_adam``;
float64_test ``test_mixed_dtype_input_outputs_{rmsprop,scale_by_rms,scale_by_stddev}``."""
NEEDS = {"alias_test": ("optax", "jax", "absl", "scipy", "sklearn")}
RAN: dict[str, set[str]] = {}


def _require(file: str) -> None:
    for module in NEEDS.get(file, ("optax", "jax", "absl")):
        if importlib.util.find_spec(module) is None:
            reason = f"{module} is not installed (optax's {file} imports it; pip install 'polyprop[jax,test]')"
            if REQUIRE_ALL:
                pytest.fail(f"{reason}; required: POLYPROP_REQUIRE_ALL=1")
            pytest.skip(reason)


@pytest.mark.parametrize("file", FILES)
def test_upstream_optax_file_passes_on_the_dropin(file, tmp_path, capsys):
    _require(file)
    report_path = tmp_path / "swap.json"
    results = run_upstream(
        [upstream_file("optax", FILES[file])],
        "tests.upstream.optax_swap",
        env={"POLYPROP_SWAP_REPORT": str(report_path), "JAX_ENABLE_X64": "0"},  # optax's tests assume 32 bits
        select=SELECT,
        timeout=600,
    )
    counts = check(results, "optax")
    uses = json.loads(report_path.read_text())["uses"]
    for name, outcome in results.items():
        if outcome != "passed":
            continue
        built = sum(entry["built"] for key, entry in uses.items() if name.endswith(key.lstrip(":")))
        assert built > 0, f"{name} passed without building a polyprop drop-in: is the swap in place?"
    assert sum(entry["updates"] for entry in uses.values()) > 0
    RAN[file] = set(results)
    with capsys.disabled():
        print(f"\noptax upstream {file} (-k '{SELECT}'): {counts}")


def test_zz_every_exclusion_names_a_test_that_ran():
    if len(RAN) < len(FILES):
        pytest.skip("not every upstream file ran in this session")
    assert stale_exclusions("optax", set().union(*RAN.values())) == []
