"""Keras RMSprop <-> polyprop checkpoint files, named here for TensorFlow users.

The converters live in :mod:`polyprop.backends.keras` (any Keras backend), imported on
first use: importing this module imports no Keras.
"""

from __future__ import annotations

from typing import Any


def save_optimizer(path: Any, optimizer: Any, variables: Any) -> None:
    """:func:`polyprop.backends.keras.save_optimizer`: a Keras RMSprop and its ``variables``.

    They are saved as a polyprop checkpoint.
    """
    from ..keras import save_optimizer

    save_optimizer(path, optimizer, variables)


def load_optimizer(path: Any, optimizer: Any, variables: Any) -> None:
    """:func:`polyprop.backends.keras.load_optimizer`: a polyprop checkpoint into Keras ``variables`` and slots."""
    from ..keras import load_optimizer

    load_optimizer(path, optimizer, variables)


def _keras_config(optimizer: Any) -> Any:
    from ..keras import keras_config

    return keras_config(optimizer)
