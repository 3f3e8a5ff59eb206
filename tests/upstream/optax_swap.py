"""pytest plugin: optax's own tests, run from site-packages, against polyprop's optax drop-ins.

``python -m pytest <site-packages>/optax/_src/alias_test.py -p upstream.optax_swap -k rmsprop``.
Before the test files are collected (their parameter tables hold the functions
themselves), every name they reach the native functions by becomes polyprop's:

- ``optax.rmsprop`` and ``optax._src.alias.rmsprop`` -> :func:`polyprop.backends.jax.rmsprop`;
- ``optax.scale_by_rms`` and ``optax._src.transform.scale_by_rms`` -> ``...jax.scale_by_rms``;
- ``optax.scale_by_stddev`` and ``optax._src.transform.scale_by_stddev`` -> ``...jax.scale_by_stddev``.

absl's ``parameterized.product`` names its cases ``test_optimization0``, ``1``, ...;
the plugin adds each case's ``opt_name`` (read from absl's parameter text) to its
keywords, so ``-k rmsprop`` selects the rmsprop cases by name.

With ``POLYPROP_SWAP_REPORT=<file>`` the plugin writes, per test id, how many
drop-ins the test built and how many of their ``update`` calls ran (under
``jax.jit`` a call is traced once), so a caller can check the swap took effect.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import optax
import optax._src.alias
import optax._src.transform
import pytest

from polyprop.backends import jax as dropin

from .usage import count, pytest_runtest_call, total, write_report  # noqa: F401  (the hook too)

SWAPPED = {
    "rmsprop": (optax._src.alias, dropin.rmsprop),
    "scale_by_rms": (optax._src.transform, dropin.scale_by_rms),
    "scale_by_stddev": (optax._src.transform, dropin.scale_by_stddev),
}
_OPT_NAME = re.compile(r"opt_name='(\w+)'")


def _count(kind: str) -> None:
    count(kind, use="updates")


def _counted(factory: Any) -> Any:
    """``factory`` that counts the transformations it builds and their update calls (same signature)."""

    @functools.wraps(factory)
    def build(*args: Any, **kwargs: Any) -> Any:
        _count("built")
        transformation = factory(*args, **kwargs)
        update = transformation.update

        @functools.wraps(update)
        def counted_update(*update_args: Any, **update_kwargs: Any) -> Any:
            _count("updates")
            return update(*update_args, **update_kwargs)

        return type(transformation)(transformation.init, counted_update)

    return build


def _swap() -> None:
    for name, (module, replacement) in SWAPPED.items():
        native = getattr(module, name)
        assert native is getattr(optax, name), f"optax.{name} is already swapped"
        assert native is not replacement, f"optax.{name} is already swapped"
        counted = _counted(replacement)
        setattr(module, name, counted)
        setattr(optax, name, counted)


_swap()


@pytest.hookimpl(tryfirst=True)  # before -k deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(getattr(item, "obj", None), "__x_params_repr__", "")
        item.extra_keyword_matches.update(_OPT_NAME.findall(params))


def pytest_sessionfinish(session: pytest.Session) -> None:
    write_report()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    built, updates = total("built"), total("updates")
    terminalreporter.write_line(f"polyprop optax_swap: {built} drop-ins built, {updates} update calls")
