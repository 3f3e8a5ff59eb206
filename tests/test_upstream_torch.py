"""torch's own RMSprop test data (its OptimizerInfo in torch.testing._internal.common_optimizers) on the drop-in.

tests/upstream/torch_optiminfo.py runs every config and every error input of the
installed ``optim_db`` entry for ``torch.optim.RMSprop`` on
``polyprop.backends.torch.RMSprop`` (plugin tests/upstream/torch_dropin.py), step for
step against the native, plus the generic behaviours torch's test_optim checks.  It
runs in a subprocess: importing torch.testing._internal changes global torch flags.
What does not apply is listed in ``[torch]`` of tests/upstream/excluded.toml.
"""

from __future__ import annotations

import importlib.util

import pytest
from upstream.runner import HERE, check, run_upstream, stale_exclusions

from conftest import REQUIRE_ALL, require_backend

SUITE = str(HERE / "torch_optiminfo.py")


def test_torch_optiminfo_on_the_dropin():
    require_backend("torch")
    if importlib.util.find_spec("expecttest") is None:  # torch.testing._internal imports it
        reason = "expecttest is not installed (pip install 'polyprop[test]')"
        pytest.fail(reason) if REQUIRE_ALL else pytest.skip(reason)
    results = run_upstream([SUITE], plugin="upstream.torch_dropin", timeout=600)
    counts = check(results, "torch")
    assert not stale_exclusions("torch", set(results)), "excluded.toml [torch] names tests that did not run"
    for kind in ("test_config_matches_native[", "test_error_input[", "test_complex_matches_native[", "test_tensor_lr["):
        for dtype in ("float32", "float64"):
            assert any(kind in name and name.endswith(f"-{dtype}]") for name in results), f"no {kind}...-{dtype}] ran"
    print(f"upstream torch OptimizerInfo suite: {counts}")
