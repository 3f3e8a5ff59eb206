"""The tensor-ops interface: everything the RMSProp family asks of a framework.

Each adapter is a package ``polyprop.backends.<name>`` (what
:func:`polyprop.backends.load` returns) re-exporting the functions of its ``ops``
module, which satisfy :class:`Ops`.  The optimizer in :mod:`polyprop.rmsprop` calls
nothing else, so a new framework needs only these twelve functions (:data:`OPS_NAMES`).
An adapter may also define the optional members of :data:`OPTIONAL_NAMES`: a fast path
(:class:`FastPath`, for :func:`polyprop.fast_step`) and the memory ops
(:class:`MemorySpans`, :class:`SharesMemory`, for :func:`polyprop.validation.check_memory`).

Hyperparameters enter the arithmetic in one way on every backend: a Python
float ``h`` becomes ``scalar(h, like=x)``, the value ``h`` rounded once to the
dtype of ``x`` (round-to-nearest, as ``numpy.asarray(h, x.dtype)`` does), and is
then combined elementwise with tensors of that dtype.  Constants derived from
hyperparameters (``1 - decay``, ``1 - decay**t``) are computed in Python
(float64) first and rounded once.  No op ever promotes a tensor to another
dtype behind the caller's back.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from .config import RMSPropConfig
    from .rmsprop import Apply, Hyper, Leaf, Leaves

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

OPTIONAL_NAMES: tuple[str, ...] = ("compile_update", "memory_spans", "shares_memory")
"""The names an adapter may define: :class:`FastPath`, :class:`MemorySpans`, :class:`SharesMemory`."""


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


LeafUpdate = Callable[[Ops, Tensor, Tensor, Tensor, "Tensor | None", "Tensor | None", "Hyper"], "Leaf"]
"""``(ops, x, g, nu, mu, momentum, hyper) -> Leaf``: :func:`polyprop.rmsprop.update_leaf`, its config bound."""

LeafKernel = Callable[[Tensor, Tensor, Tensor, "Tensor | None", "Tensor | None", "Hyper"], "Leaf"]
"""``(x, g, nu, mu, momentum, hyper) -> Leaf``: one tensor's update (it may write its buffers and return them)."""

StepKernel = Callable[[list[Tensor], "Leaves", "Hyper"], "Leaves | None"]
"""``(grads, leaves, hyper) -> Leaves``, every tensor at once, or None where it cannot take these tensors or scalars."""


class FastUpdate(NamedTuple):
    """What a backend's fast path runs for one config (:meth:`FastPath.compile_update` returns it)."""

    apply: StepKernel
    """Every tensor's update; None from it runs the plain path instead (:mod:`polyprop.fast` does)."""
    description: str
    """What ``apply`` runs, as :func:`polyprop.fast_path` reports it (``"jax.jit (donated)"``)."""


@runtime_checkable
class FastPath(Protocol):
    """The optional fast path of an adapter, run by :func:`polyprop.fast_step`."""

    def compile_update(self, config: RMSPropConfig, update: LeafUpdate, plain: Apply) -> FastUpdate | None:
        """The kernel for ``config``, or None if nothing is faster (built once per config; lr, decay come in ``hyper``).

        ``update`` is the neutral per-tensor update (what a tracer reads: NumPy's blocks);
        ``plain(grads, leaves, hyper) -> Leaves`` is the plain path on this adapter's ops
        (:func:`polyprop.rmsprop.apply_each`: ``update`` on each tensor, out of place), which
        holds the loop over the tensors and the reassembly of ``Leaves``.  The kernel,
        ``FastUpdate.apply`` (a :data:`StepKernel`), takes the lists of tensors at once:

        - all-leaf: it compiles ``plain`` (``jax.jit``, ``tf.function``, ``torch.compile``
          by chunks; one writing in place copies the results with
          :func:`polyprop.fast.write_back`) or lowers ``update`` (NumPy's blocks);
        - per-leaf: it runs a :data:`LeafKernel` on each tensor (MXNet's fused ops, which
          compute their own formula) through :func:`polyprop.fast.each_leaf`.

        It returns None for tensors or scalars it cannot take: :mod:`polyprop.fast` then runs ``plain``.
        """


@runtime_checkable
class MemorySpans(Protocol):
    """Optional: where each tensor's elements lie, for :func:`polyprop.validation.check_memory`."""

    def memory_spans(self, tensors: list[Tensor]) -> list[tuple[Hashable, int, int] | None]:
        """Per tensor ``(buffer, start, end)``: the bytes ``[start, end)`` it spans in ``buffer``, or None if unseen.

        Tensors of different buffers never overlap; without this op only the same object twice is seen.
        """


@runtime_checkable
class SharesMemory(Protocol):
    """Optional beside :class:`MemorySpans`, for strided views: whether overlapping spans share a byte."""

    def shares_memory(self, a: Tensor, b: Tensor) -> bool:
        """Whether ``a`` and ``b``, whose spans overlap, share an element's bytes (interleaved views do not)."""
