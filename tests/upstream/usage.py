"""What a swap plugin records: per upstream test, how often the drop-in was built and used.

Both plugins (keras_swap, optax_swap) import :func:`pytest_runtest_call` from here,
so the current test is tracked once; :func:`write_report` leaves the counts in the
file named by ``POLYPROP_SWAP_REPORT`` for tests/test_upstream_*.py to check.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

USES: dict[str, dict[str, int]] = {}
"""Test id -> counts (``built`` and the plugin's ``use``)."""
_current = {"test": ""}


def count(kind: str, use: str) -> None:
    """One more ``kind`` (``"built"`` or ``use``) in the running test."""
    USES.setdefault(_current["test"], {"built": 0, use: 0})[kind] += 1


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    _current["test"] = item.nodeid
    try:
        return (yield)
    finally:
        _current["test"] = ""


def write_report(**extra: Any) -> None:
    """The counts (and ``extra``) as JSON into ``$POLYPROP_SWAP_REPORT``, if set."""
    path = os.environ.get("POLYPROP_SWAP_REPORT")
    if path:
        with open(path, "w", encoding="utf-8") as file:
            json.dump({**extra, "uses": USES}, file, indent=1)


def total(kind: str) -> int:
    return sum(entry.get(kind, 0) for entry in USES.values())
