"""pytest plugin: Keras's own optimizer tests, run from site-packages, against polyprop's Keras RMSprop.

``python -m pytest <site-packages>/keras/src/optimizers/rmsprop_test.py -p upstream.keras_swap``
with ``KERAS_BACKEND`` set.  Before the test files are collected, every name they
reach the native class by becomes :class:`polyprop.backends.keras.RMSprop`:

- ``keras.src.optimizers.rmsprop.RMSprop`` (``from keras.src.optimizers.rmsprop import RMSprop``);
- ``keras.optimizers.RMSprop`` (the public name);
- ``keras.src.optimizers.ALL_OBJECTS_DICT["rmsprop"]`` (``optimizers.get("rmsprop")``,
  ``deserialize({"class_name": "rmsprop", ...})``).

``keras.src.optimizers.RMSprop`` stays the native: the torch backend's
``TorchOptimizer.__new__`` looks that name up to pick its fused native class, so
swapping it would make the drop-in construct the native.

With ``POLYPROP_SWAP_REPORT=<file>`` the plugin writes, per test id, how many
drop-ins the test built and how many :func:`polyprop.step` calls they made, so a
caller can check that the swap took effect (and which tests never touch RMSprop).
"""

from __future__ import annotations

import functools
from typing import Any

import keras
import keras.src.optimizers
import keras.src.optimizers.rmsprop
import pytest

from polyprop.backends import keras as dropin

from .usage import count, pytest_runtest_call, total, write_report  # noqa: F401  (the hook too)

NATIVE = keras.src.optimizers.rmsprop.RMSprop


def _count(kind: str) -> None:
    count(kind, use="steps")


def _swap() -> None:
    assert issubclass(dropin.RMSprop, NATIVE)
    assert dropin.RMSprop is not NATIVE
    keras.src.optimizers.rmsprop.RMSprop = dropin.RMSprop
    keras.optimizers.RMSprop = dropin.RMSprop
    keras.src.optimizers.ALL_OBJECTS_DICT["rmsprop"] = dropin.RMSprop

    init, polyprop_step = dropin.RMSprop.__init__, dropin.optim.step

    @functools.wraps(init)
    def counted_init(self: Any, *args: Any, **kwargs: Any) -> None:
        _count("built")
        init(self, *args, **kwargs)

    @functools.wraps(polyprop_step)
    def counted_step(*args: Any, **kwargs: Any) -> Any:
        _count("steps")
        return polyprop_step(*args, **kwargs)

    dropin.RMSprop.__init__ = counted_init  # type: ignore[method-assign]
    dropin.optim.step = counted_step


_swap()


def pytest_configure(config: pytest.Config) -> None:
    # Markers Keras's repository conftest.py registers (the wheel ships no conftest).
    config.addinivalue_line("markers", "requires_trainable_backend: needs a backend that can train")
    config.addinivalue_line("markers", "multi_device: needs several devices")


def pytest_sessionfinish(session: pytest.Session) -> None:
    write_report(backend=keras.backend.backend())


def pytest_terminal_summary(terminalreporter: Any) -> None:
    built, steps = total("built"), total("steps")
    terminalreporter.write_line(
        f"polyprop keras_swap ({keras.backend.backend()}): {built} drop-in RMSprop built, {steps} polyprop.step calls"
    )
