"""PyTorch adapter: plain out-of-place ``torch`` ops on tensors of any device."""

from __future__ import annotations

import numpy as np

from . import missing_framework

try:
    import torch
except ImportError as error:  # pragma: no cover - exercised only without torch
    raise missing_framework("torch") from error

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
    return np.array(x.detach().cpu().numpy(), copy=True)


def from_numpy(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(array, copy=True))
