"""Which backend runs a call: explicit, else inferred from the tensors, else configured.

Order of precedence:

1. the ``ops`` / ``backend`` argument (a name or an adapter module);
2. the framework of the tensors passed in, read from ``type(x).__module__``, so
   nothing is imported to find out (tensors of two frameworks: TypeError);
3. the innermost ``with polyprop.use_backend(name):`` block;
4. the ``POLYPROP_BACKEND`` environment variable, read when a backend is needed
   (never at import);
5. ``"numpy"``, the embedded default.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator, Mapping
from typing import Any

from . import backends as _backends
from .ops import Ops

ENV_VAR = "POLYPROP_BACKEND"
DEFAULT_BACKEND = "numpy"

_context_backend: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "polyprop_backend", default=None
)


def get_ops(backend: Ops | str | None = None, *trees: Any) -> Ops:
    """The adapter for ``backend``, or the one the precedence rules pick for ``trees``."""
    if backend is not None and not isinstance(backend, str):
        return backend
    ops: Ops = _backends.load(backend or infer_backend(*trees) or current_backend())
    return ops


def current_backend() -> str:
    """The backend used when neither an argument nor the tensors decide."""
    name = _context_backend.get()
    if name is not None:
        return name
    name = os.environ.get(ENV_VAR, "").strip()
    if name:
        return _backends.check_name(name, source=f"environment variable {ENV_VAR}")
    return DEFAULT_BACKEND


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[str]:
    """``with use_backend("torch"):`` makes ``name`` the default inside the block."""
    token = _context_backend.set(_backends.check_name(name))
    try:
        yield name
    finally:
        _context_backend.reset(token)


def infer_backend(*trees: Any) -> str | None:
    """The one backend whose tensors appear in ``trees`` (lists, tuples, dicts), or None.

    Raises TypeError naming both frameworks when tensors of two are mixed.
    """
    found: dict[str, str] = {}
    for leaf in _leaves(trees):
        name = _backends.backend_of(leaf)
        if name is not None:
            found.setdefault(name, type(leaf).__qualname__)
    if len(found) > 1:
        kinds = " and ".join(f"{name} ({kind})" for name, kind in found.items())
        raise TypeError(f"tensors of two frameworks in one call: {kinds}")
    return next(iter(found), None)


def _leaves(tree: Any) -> Iterator[Any]:
    if isinstance(tree, Mapping):
        for value in tree.values():
            yield from _leaves(value)
    elif isinstance(tree, (list, tuple)):
        for value in tree:
            yield from _leaves(value)
    elif tree is not None:
        yield tree
