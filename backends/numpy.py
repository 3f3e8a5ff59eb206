"""NumPy adapter: the embedded default and the reference every other backend is tested against."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

NAME = "numpy"


def framework_version() -> str:
    return np.__version__


def zeros_like(x: np.ndarray) -> np.ndarray:
    return np.zeros_like(x)


def full_like(x: np.ndarray, value: float) -> np.ndarray:
    return np.full_like(x, value)


def scalar(value: float, like: np.ndarray) -> np.ndarray:
    return np.asarray(value, dtype=like.dtype)


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.add(a, b)


def sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.subtract(a, b)


def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.multiply(a, b)


def div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b)


def sqrt(x: np.ndarray) -> np.ndarray:
    return np.sqrt(x)


def square(x: np.ndarray) -> np.ndarray:
    return np.square(x)


def cast(x: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "bfloat16":  # NumPy knows bfloat16 through ml_dtypes (it comes with JAX and TensorFlow)
        import ml_dtypes

        return np.asarray(x).astype(ml_dtypes.bfloat16)
    return np.asarray(x).astype(dtype)


def to_numpy(x: np.ndarray) -> np.ndarray:
    return np.array(x, copy=True)


def from_numpy(array: np.ndarray) -> np.ndarray:
    return np.array(array, copy=True)


def compile_update(config: Any, update: Callable[..., Any], plain: Callable[..., Any]) -> Any:
    """The fast path (polyprop.fast): numexpr evaluates the traced update in place, one pass per output.

    Each output (nu, mu, m, then x) is one numexpr expression written into its own
    buffer; scalars are rounded to the tensor's dtype first, as ``scalar`` does.
    Float32 and float64 only (other dtypes, and a config numexpr cannot express,
    such as ``state_dtype``, take the plain path).  None without numexpr.
    """
    try:
        import numexpr
    except ImportError:
        return None
    from polyprop.expression import Untraceable, trace
    from polyprop.rmsprop import Leaves

    try:
        program = trace(update, config.centered, config.momentum > 0, config.bias_correction)
    except Untraceable:
        return None

    def apply(gs: list[np.ndarray], leaves: Any, hyper: Any) -> Any:
        if not all(_fusable(x, g, leaves, i) for i, (x, g) in enumerate(zip(leaves.x, gs))):
            return plain(gs, leaves, hyper)
        for i, (x, g) in enumerate(zip(leaves.x, gs)):
            buffers = {"x": x, "g": g, "nu": leaves.nu[i]}
            if leaves.mu is not None:
                buffers["mu"] = leaves.mu[i]
            if leaves.m is not None:
                buffers["m"] = leaves.m[i]
            scalars = {name: np.asarray(getattr(hyper, name), x.dtype) for name in program.hyper}
            scalars.update((name, np.asarray(value, x.dtype)) for name, value in program.constants.items())
            for target, expression in program.outputs:
                numexpr.evaluate(expression, local_dict={**buffers, **scalars}, out=buffers[target])
        return Leaves(leaves.x, leaves.nu, leaves.mu, leaves.m)

    apply.path = "numexpr (in place)"  # type: ignore[attr-defined]
    return apply


def _fusable(x: np.ndarray, g: np.ndarray, leaves: Any, i: int) -> bool:
    """numexpr can update these buffers in place: writable float32/float64 arrays of one dtype."""
    buffers = [x, leaves.nu[i]] + [s[i] for s in (leaves.mu, leaves.m) if s is not None]
    return (
        x.dtype in (np.float32, np.float64)
        and g.dtype == x.dtype
        and all(isinstance(b, np.ndarray) and b.dtype == x.dtype and b.flags.writeable for b in buffers)
    )
