"""Drop-in for ``keras.optimizers.RMSprop`` (Keras 3) on any Keras backend: tensorflow, jax, torch.

Not a backend of tensors (it is not in :data:`polyprop.backends.BACKENDS`): the
tensors are those of ``keras.backend.backend()``, and the update runs through that
framework's polyprop adapter.  Importing this package imports Keras, which imports
only the framework of ``KERAS_BACKEND`` (under jax and torch, no TensorFlow), and
registers :class:`RMSprop` with Keras's serialization as ``"polyprop>RMSprop"``.

=============== ===================================================================
:mod:`.optim`   :class:`RMSprop` and :func:`adapter` (the ops of the Keras backend)
:mod:`.convert` Keras RMSprop <-> polyprop checkpoint files
=============== ===================================================================
"""

from __future__ import annotations

try:
    import keras
except ImportError as error:  # pragma: no cover - exercised only without keras
    raise ImportError(
        "polyprop.backends.keras needs Keras 3 and one of its backends; "
        "install it with: pip install 'polyprop[tensorflow]' (or keras beside jax or torch)"
    ) from error
if not keras.__version__.startswith("3."):  # pragma: no cover - Keras 2 (tf_keras) has another optimizer API
    raise ImportError(f"polyprop.backends.keras needs Keras 3, found Keras {keras.__version__}")

from .convert import keras_config, load_optimizer, save_optimizer
from .optim import ADAPTERS, RMSprop, adapter

__all__ = ["ADAPTERS", "RMSprop", "adapter", "keras_config", "load_optimizer", "save_optimizer"]
