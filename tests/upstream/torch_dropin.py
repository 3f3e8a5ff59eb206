"""pytest plugin for torch_optiminfo.py: the RMSprop under test is polyprop's drop-in.

``candidate`` is the class the suite checks against ``torch.optim.RMSprop``; the
suite's measured worst differences are printed at the end of the run.
"""

from __future__ import annotations

import sys

import pytest


@pytest.fixture
def candidate():
    """polyprop.backends.torch.RMSprop."""
    from polyprop.backends.torch import RMSprop

    return RMSprop


def pytest_terminal_summary(terminalreporter):
    for name, module in list(sys.modules.items()):
        measured = getattr(module, "TORCH_OPTIMINFO_MEASURED", None) if name.endswith("torch_optiminfo") else None
        if isinstance(measured, dict) and measured:
            terminalreporter.section("max relative difference to torch.optim.RMSprop, per check and dtype")
            for key, value in sorted(measured.items()):
                terminalreporter.write_line(f"{key:<60} {value:.3g}")
            return
