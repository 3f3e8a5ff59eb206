"""PyTorch ops: plain out-of-place ``torch`` ops on tensors of any device."""

from __future__ import annotations

import typing
from typing import Any

import numpy as np
import torch

NAME = "torch"

_DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}


def framework_version() -> str:
    return str(torch.__version__)


def zeros_like(x: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(x)


def full_like(x: torch.Tensor, value: float) -> torch.Tensor:
    return torch.full_like(x, value)


def scalar(value: float, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


def add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.add(a, b)


def sub(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.sub(a, b)


def mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.mul(a, b)


def div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.div(a, b)


def sqrt(x: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(x)


def square(x: torch.Tensor) -> torch.Tensor:
    return torch.square(x)


def cast(x: torch.Tensor, dtype: str) -> torch.Tensor:
    return x.to(_DTYPES[dtype])


def to_numpy(x: torch.Tensor) -> np.ndarray:
    x = x.detach().cpu()
    if x.dtype == torch.bfloat16:  # NumPy knows bfloat16 only through ml_dtypes: the bits, as they are
        return x.contiguous().view(torch.int16).numpy().view(_numpy_bfloat16()).copy()
    return np.array(x.numpy(), copy=True)


def from_numpy(array: np.ndarray) -> torch.Tensor:
    if array.dtype.name == "bfloat16":  # the bits, as they are (NaN payloads and signs kept)
        return torch.from_numpy(array.view(np.int16).copy(order="C")).view(torch.bfloat16)
    return torch.from_numpy(np.array(array, copy=True))


def memory_spans(ts: list[torch.Tensor]) -> list[tuple[Any, int, int] | None]:
    """For polyprop.validation.check_memory: ``(storage, start, end)``, the bytes each tensor spans in its storage.

    None for a tensor without a storage of its own to look at (sparse, a subclass wrapping others).
    """
    return [_memory_span(t) for t in ts]


def _memory_span(t: torch.Tensor) -> tuple[Any, int, int] | None:
    try:
        pointer = t.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError, TypeError, AttributeError):
        return None
    if not pointer:  # no memory (a meta tensor, an empty storage)
        return None
    buffer = (t.device, pointer)
    size = t.element_size()
    start = typing.cast(int, t.storage_offset()) * size  # (an int: a SymInt only while tracing)
    if t.numel() == 0:
        return buffer, start, start
    low = sum((n - 1) * s for n, s in zip(t.shape, t.stride()) if s < 0)
    high = sum((n - 1) * s for n, s in zip(t.shape, t.stride()) if s > 0)
    return buffer, start + low * size, start + (high + 1) * size


def shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two tensors of one storage whose byte ranges overlap share a byte.

    Contiguous tensors do (a range is then all bytes); strided CPU tensors are compared
    exactly as NumPy views of the same bytes; others count as sharing.
    """
    if a.is_contiguous() and b.is_contiguous():
        return True
    try:
        as_numpy = [torch.view_as_real(t) if t.is_complex() else t for t in (a, b)]
        views = [t.detach().view(_SAME_SIZE_INT[t.element_size()]).numpy() for t in as_numpy]
    except (KeyError, RuntimeError, TypeError):  # another device, or no integer view of this dtype
        return True
    return bool(np.shares_memory(views[0], views[1]))


_SAME_SIZE_INT = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _numpy_bfloat16() -> np.dtype:
    try:
        import ml_dtypes
    except ImportError as error:  # pragma: no cover - ml_dtypes comes with JAX and TensorFlow
        raise ImportError("bfloat16 tensors as NumPy arrays need ml_dtypes: pip install ml_dtypes") from error
    return typing.cast(np.dtype, np.dtype(ml_dtypes.bfloat16))
