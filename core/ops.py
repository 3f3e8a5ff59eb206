"""The tensor-ops interface: everything the RMSProp family asks of a framework.

Each adapter in ``polyprop.backends`` is a plain module whose functions satisfy
:class:`Ops`.  The optimizer in :mod:`polyprop.rmsprop` calls nothing else, so a
new framework needs only these twelve functions.

Hyperparameters enter the arithmetic in one way on every backend: a Python
float ``h`` becomes ``scalar(h, like=x)``, the value ``h`` rounded once to the
dtype of ``x`` (round-to-nearest, as ``numpy.asarray(h, x.dtype)`` does), and is
then combined elementwise with tensors of that dtype.  Constants derived from
hyperparameters (``1 - decay``, ``1 - decay**t``) are computed in Python
(float64) first and rounded once.  No op ever promotes a tensor to another
dtype behind the caller's back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

Tensor = Any
"""A framework tensor (numpy.ndarray, torch.Tensor, tf.Tensor, jax.Array, mx.nd.NDArray)."""

OPS_NAMES: tuple[str, ...] = (
    "zeros_like",
    "full_like",
    "scalar",
    "add",
    "sub",
    "mul",
    "div",
    "sqrt",
    "square",
    "cast",
    "to_numpy",
    "from_numpy",
)
"""The names every adapter must define; the conformance test checks each one."""


@runtime_checkable
class Ops(Protocol):
    """Elementwise operations over one framework's tensors (all pure)."""

    NAME: str

    def zeros_like(self, x: Tensor) -> Tensor:
        """A tensor of zeros with the shape and dtype of ``x``."""

    def full_like(self, x: Tensor, value: float) -> Tensor:
        """A tensor filled with ``value`` with the shape and dtype of ``x``."""

    def scalar(self, value: float, like: Tensor) -> Tensor:
        """``value`` rounded once to the dtype of ``like``, usable in the ops below."""

    def add(self, a: Tensor, b: Tensor) -> Tensor:
        """``a + b``."""

    def sub(self, a: Tensor, b: Tensor) -> Tensor:
        """``a - b``."""

    def mul(self, a: Tensor, b: Tensor) -> Tensor:
        """``a * b``."""

    def div(self, a: Tensor, b: Tensor) -> Tensor:
        """``a / b``."""

    def sqrt(self, x: Tensor) -> Tensor:
        """``sqrt(x)``."""

    def square(self, x: Tensor) -> Tensor:
        """``x * x``; for complex ``x`` (JAX only) ``|x|^2 = (conj(x) * x).real``, in the dtype of ``x``, as optax."""

    def cast(self, x: Tensor, dtype: str) -> Tensor:
        """``x`` converted to the dtype named ``dtype`` (``"float32"``, ``"float64"``, ...)."""

    def to_numpy(self, x: Tensor) -> np.ndarray:
        """A NumPy copy of ``x`` with the same shape and dtype."""

    def from_numpy(self, array: np.ndarray) -> Tensor:
        """A framework tensor with the values, shape and dtype of ``array``."""
