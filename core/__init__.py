"""polyprop: the RMSProp optimizer family, defined once, run on NumPy, PyTorch, MXNet, TensorFlow and JAX.

>>> import numpy as np, polyprop
>>> config = polyprop.RMSPropConfig(learning_rate=0.4, decay=0.9, eps=1e-6)
>>> params = [np.array([-5.0, -2.0])]
>>> state = polyprop.init(params, config)
>>> params, state = polyprop.step(params, [np.array([-1.0, -8.0])], state, config)

Importing polyprop imports no framework; a backend's framework is imported the
first time that backend is used.
"""

from __future__ import annotations

from . import presets
from .backends import BACKENDS, available_backends
from .checkpoint import CheckpointError, load, save
from .config import RMSPropConfig
from .fast import fast_path, fast_step
from .ops import OPS_NAMES, Ops
from .rmsprop import RMSPropState, init, step
from .selection import current_backend, get_ops, infer_backend, use_backend

__version__ = "0.1.0"

__all__ = [
    "BACKENDS",
    "OPS_NAMES",
    "CheckpointError",
    "Ops",
    "RMSPropConfig",
    "RMSPropState",
    "available_backends",
    "current_backend",
    "fast_path",
    "fast_step",
    "get_ops",
    "infer_backend",
    "init",
    "load",
    "presets",
    "save",
    "step",
    "use_backend",
]
