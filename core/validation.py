"""Checks on the tensors a step receives: kind, shape, dtype, framework and memory, by name.

Every framework's tensor has ``.shape`` and ``.dtype``; the dtype's name is read
from its text (``torch.float32``, ``<dtype: 'float32'>``, ``float32``, ...), so
nothing here imports a framework or needs an extra op.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from . import backends as _backends

_DTYPE = re.compile(r"(bfloat16|float16|float32|float64|complex64|complex128|u?int8|u?int16|u?int32|u?int64|bool)")
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
COMPLEX_DTYPES = ("complex64", "complex128")
COMPLEX_BACKENDS = ("jax",)
"""Backends that take complex parameters, as optax does: their ``square`` is ``|x|^2 = (conj(x) x).real``."""


@functools.lru_cache(maxsize=256)
def _name_of(dtype: Any) -> str:
    match = _DTYPE.search(str(dtype)) or _DTYPE.search(getattr(dtype, "__name__", ""))
    return match.group(1) if match else str(dtype)


def dtype_name(tensor: Any) -> str:
    """``"float32"`` and the like, for a tensor of any framework."""
    dtype = tensor.dtype
    try:
        return _name_of(dtype)
    except TypeError:  # an unhashable dtype object
        return _name_of.__wrapped__(dtype)


def shape_of(tensor: Any) -> tuple[Any, ...]:
    """The tensor's shape as a tuple."""
    return tuple(tensor.shape)


def _describe(name: str, tensor: Any, what: str) -> tuple[tuple[Any, ...], str]:
    """``(shape, dtype name)``, each read once (a framework call on some backends); TypeError if not a tensor."""
    try:
        shape, dtype = tensor.shape, tensor.dtype
    except AttributeError:
        raise TypeError(f"{name} must be {what}, got {type(tensor).__name__}") from None
    try:
        return tuple(shape), _name_of(dtype)
    except TypeError:  # an unhashable dtype object
        return tuple(shape), _name_of.__wrapped__(dtype)


def _check_framework(name: str, tensor: Any, backend: str, suffix: str) -> None:
    framework = _backends.backend_of(tensor)
    if framework is not None and framework != backend:
        raise TypeError(f"{name} is a {framework} tensor ({type(tensor).__qualname__}) but {suffix}")


def check_param(name: str, x: Any, backend: str) -> tuple[tuple[Any, ...], str]:
    """A parameter must be a floating-point tensor of ``backend``'s framework; returns its (shape, dtype).

    Complex parameters are allowed on the backends in COMPLEX_BACKENDS.
    """
    _check_framework(name, x, backend, f"the backend is {backend}")
    shape, dtype = _describe(name, x, "a tensor")
    if dtype in FLOAT_DTYPES or (dtype in COMPLEX_DTYPES and backend in COMPLEX_BACKENDS):
        return shape, dtype
    if dtype in COMPLEX_DTYPES:
        raise TypeError(
            f"{name} has dtype {dtype}: complex parameters are supported on the "
            f"{', '.join(COMPLEX_BACKENDS)} backend only (as optax defines them); the {backend} backend needs "
            f"floating-point parameters ({', '.join(FLOAT_DTYPES)})"
        )
    raise TypeError(
        f"{name} has dtype {dtype}: RMSProp needs floating-point parameters "
        f"({', '.join(FLOAT_DTYPES)}{', or ' + '/'.join(COMPLEX_DTYPES) if backend in COMPLEX_BACKENDS else ''})"
    )


def check_like(
    name: str, value: Any, param_name: str, x: Any, backend: str, dtype: str | None = None,
    described: tuple[tuple[Any, ...], str] | None = None,
) -> None:
    """``value`` (a gradient or state leaf) must match its parameter's shape, dtype and framework.

    ``described`` is the parameter's (shape, dtype) when the caller has it already.
    """
    _check_framework(name, value, backend, f"{param_name} is a {backend} tensor")
    shape, value_dtype = _describe(name, value, "a tensor or None")
    x_shape, x_dtype = described or _describe(param_name, x, "a tensor")
    if shape != x_shape:
        raise ValueError(f"{name} has shape {shape} but {param_name} has shape {x_shape}")
    expected = dtype or x_dtype
    if value_dtype != expected:
        raise TypeError(f"{name} has dtype {value_dtype} but {expected} is needed (the dtype of {param_name})")


def check_leaves(
    backend: str,
    state_dtype: str | None,
    keys: list[Any],
    xs: list[Any],
    gs: list[Any],
    state: dict[str, list[Any] | None],
) -> None:
    """Every parameter (:func:`check_param`), gradient and state leaf (:func:`check_like`) fits.

    ``state`` maps ``"nu"``, ``"mu"``, ``"momentum"`` to their leaves (None when not kept).
    Whether they fit depends only on each leaf's type, shape and dtype, so the
    last signature that passed is remembered per backend (:data:`_VALIDATED`): a
    training loop, which passes the same kinds of tensors every step, is checked
    in full only once.
    """
    signature = _signature(state_dtype, xs, gs, state)
    if signature is not None and _VALIDATED.get(backend) == signature:
        return
    for i, (key, x) in enumerate(zip(keys, xs)):
        where = f"params[{key!r}]"
        described = check_param(where, x, backend)
        if gs[i] is not None:
            check_like(f"grads[{key!r}]", gs[i], where, x, backend, described=described)
        for name, leaves in state.items():
            if leaves is not None:
                check_like(f"state.{name}[{key!r}]", leaves[i], where, x, backend, state_dtype, described)
    if signature is not None:
        _VALIDATED[backend] = signature


_VALIDATED: dict[str, tuple[Any, ...]] = {}
"""Per backend, the signature (see _signature) of the last leaves that passed :func:`check_leaves`."""


def _signature(
    state_dtype: str | None, xs: list[Any], gs: list[Any], state: dict[str, list[Any] | None]
) -> tuple[Any, ...] | None:
    """Type, shape and dtype of every leaf (None for an absent gradient), or None if one is not a tensor."""
    try:
        described = [
            None if t is None else (type(t), tuple(t.shape), t.dtype)
            for leaves in (xs, gs, *state.values())
            if leaves is not None
            for t in leaves
        ]
        present = tuple(name for name, leaves in state.items() if leaves is not None)
        signature = (state_dtype, present, *described)
        hash(signature)
    except (AttributeError, TypeError):  # not a tensor, or an unhashable dtype: check in full
        return None
    return signature


# --------------------------------------------------------------------------------------
# Shared memory.  A backend adapter may define
#
#     memory_spans(tensors) -> list[(buffer, start, end) | None]
#
# giving, for each tensor, the memory its elements occupy: the byte range [start, end)
# (from its lowest to its highest byte) within ``buffer`` (any hashable: tensors of
# different buffers never overlap), or None where the adapter cannot see it.  Where the
# byte ranges of two strided tensors overlap, an optional ``shares_memory(a, b) -> bool``
# tells whether they really share an element's bytes (interleaved views do not); without
# it, overlapping ranges count as shared.  Without memory_spans, only the same tensor
# object twice is seen (immutable tensors, as JAX's and TensorFlow's, share nothing else
# that a step could write).


def shared_memory(
    tensors: list[Any],
    writable: list[bool],
    memory_spans: Callable[[list[Any]], list[Any]] | None = None,
    shares_memory: Callable[[Any, Any], bool] | None = None,
) -> tuple[int, int] | None:
    """The first pair ``(i, j)``, ``i > j``, of tensors sharing memory where one is writable, else None.

    Writable tensors (parameters, state) must share memory with no other tensor; read-only
    ones (gradients) may share among themselves.  None entries are skipped.  The same
    object twice is found in O(n); overlaps through ``memory_spans`` in O(n log n)
    (ranges sorted per buffer, each compared with the ones still open).
    """
    present = [i for i, tensor in enumerate(tensors) if tensor is not None]
    leaves = [tensors[i] for i in present]
    if len(set(map(id, leaves))) < len(leaves):  # (set sizes first: a step's common case costs little)
        pair = _same_object(tensors, writable, present)
        if pair is not None:
            return pair
    if memory_spans is None:
        return None
    buffers: dict[Any, list[tuple[int, int, int]]] = {}
    spans = [(i, span) for i, span in zip(present, memory_spans(leaves)) if span is not None and span[1] < span[2]]
    if len({span[0] for _, span in spans}) == len(spans):  # (an empty tensor occupies no memory)
        return None
    for i, span in spans:
        buffers.setdefault(span[0], []).append((span[1], span[2], i))
    for ranges in buffers.values():
        if len(ranges) > 1:
            pair = _overlapping(sorted(ranges), tensors, writable, shares_memory)
            if pair is not None:
                return pair
    return None


def _same_object(tensors: list[Any], writable: list[bool], present: list[int]) -> tuple[int, int] | None:
    """The first pair of the same object twice where one of the two is writable, else None."""
    first: dict[int, int] = {}
    first_writable: dict[int, int] = {}
    for i in present:
        key = id(tensors[i])
        j = first.get(key) if writable[i] else first_writable.get(key)
        if j is not None:
            return i, j
        first.setdefault(key, i)
        if writable[i]:
            first_writable.setdefault(key, i)
    return None


def _overlapping(
    ranges: list[tuple[int, int, int]], tensors: list[Any], writable: list[bool],
    shares_memory: Callable[[Any, Any], bool] | None,
) -> tuple[int, int] | None:
    """The first pair of ``ranges`` (sorted ``(start, end, index)`` of one buffer) that share memory."""
    open_ranges: list[tuple[int, int]] = []  # (end, index) of the ranges begun before, not yet ended
    for start, end, i in ranges:
        open_ranges = [(e, j) for e, j in open_ranges if e > start]
        for _, j in open_ranges:
            if (writable[i] or writable[j]) and (shares_memory is None or shares_memory(tensors[i], tensors[j])):
                return max(i, j), min(i, j)
        open_ranges.append((end, i))
    return None


def check_memory(ops: Any, keys: list[Any], groups: list[tuple[str, list[Any] | None, bool]]) -> None:
    """No parameter or state tensor shares memory with any other tensor of the step.

    ``groups``: ``(name, leaves, writable)`` in order (``params``, ``grads``,
    ``state.nu`` ...), each leaf of ``keys[i]``.  Raises ValueError naming both tensors:
    a step writes parameters and state (in place on the fast paths and in the drop-ins),
    so one buffer in two places would be updated twice, or read after being written.
    """
    tensors: list[Any] = []
    writable: list[bool] = []
    for _, leaves, writes in groups:
        if leaves is not None:
            tensors += leaves
            writable += [writes] * len(leaves)
    pair = shared_memory(tensors, writable, getattr(ops, "memory_spans", None), getattr(ops, "shares_memory", None))
    if pair is not None:
        names = [f"{name}[{key!r}]" for name, leaves, _ in groups if leaves is not None for key in keys]
        raise ValueError(f"{names[pair[0]]} and {names[pair[1]]} share memory: {SHARED_MEMORY}")


SHARED_MEMORY = (
    "every parameter and state tensor needs memory of its own, shared with no other parameter, state "
    "tensor or gradient (the same tensor twice, or views of one buffer that overlap); pass copies"
)
"""Why :func:`check_memory` refuses, after the names of the two tensors."""


def check_state_fields(mu: Any, momentum: Any, config: Any) -> None:
    """A state built for another config is refused: buffers the config does not keep are never dropped.

    (Missing buffers are named by :func:`polyprop.containers.matching_leaves`.)
    """
    if mu is not None and not config.centered:
        raise ValueError(
            f"state.mu holds tensors but the config keeps none (centered={config.centered!r}): the state "
            "was built for a centered config; build it with init() for this one"
        )
    if momentum is not None and not config.momentum > 0:
        raise ValueError(
            f"state.momentum holds tensors but the config keeps none (momentum={config.momentum!r}): the "
            "state was built for a config with momentum; build it with init() for this one"
        )
