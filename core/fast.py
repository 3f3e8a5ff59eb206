"""The same RMSProp step, executed by each backend's fastest means.

:func:`fast_step` validates, skips and schedules exactly as :func:`polyprop.step`
(it shares :func:`polyprop.rmsprop.run_step`); only the per-tensor work differs.  An
adapter with a fast path (:class:`polyprop.ops.FastPath`) gives, once per config, an
all-leaf kernel and its description (:class:`polyprop.ops.FastUpdate`); where the
kernel cannot take a step's tensors or scalars, or the adapter has nothing for the
config, the plain path :func:`polyprop.rmsprop.apply_each` runs.  Today:

=========== ====================================================================
backend     fast path
=========== ====================================================================
numpy       ``update_leaf`` traced (polyprop.expression) and lowered to in-place
            ufuncs over cache-sized blocks: the plain path's ufuncs in its order
torch       ``torch.compile`` of the plain path by chunks of tensors, written
            back in place (:func:`write_back`): one fused loop per tensor
mxnet       not ``update_leaf``: MXNet's fused ``rmsprop_update`` /
            ``rmspropalex_update`` kernels, which compute their own formula, on
            each tensor (:func:`each_leaf`), for the configs and scalars where it
            equals polyprop's (float32-exact, float32/float64 tensors)
tensorflow  ``tf.function(jit_compile=True)`` of the plain path (XLA fuses it);
            ``tf.Variable`` s assigned in place (:func:`write_back`)
jax         ``jax.jit`` of the plain path, the parameters and state donated
=========== ====================================================================

**Donation.**  ``fast_step`` may reuse the buffers of ``params`` and ``state``
for its results, as ``jax.jit(..., donate_argnums=...)`` does: on NumPy, torch,
MXNet and for ``tf.Variable`` s they are updated in place and returned; on JAX they
are donated.
Use only the returned params and state afterwards.  ``grads`` are never written.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .config import RMSPropConfig
from .ops import Ops, StepKernel, Tensor
from .rmsprop import Apply, Hyper, Leaves, Params, RMSPropState, apply_each, run_step, update_leaf
from .selection import get_ops

_EXECUTORS: dict[tuple[str, RMSPropConfig], tuple[Apply, str]] = {}


def fast_step(
    params: Params,
    grads: Params,
    state: RMSPropState,
    config: RMSPropConfig,
    ops: Ops | str | None = None,
) -> tuple[Params, RMSPropState]:
    """:func:`polyprop.step` run by the backend's fast path; **donates** ``params`` and ``state``.

    Same arguments, same checks and the same trajectory as ``step`` (within the
    rounding of a fused loop: ``polyprop.parity.TOLERANCES``).
    """
    ops = get_ops(ops, params, grads)
    return run_step(params, grads, state, config, ops, executor(ops, config))


def executor(ops: Ops, config: RMSPropConfig) -> Apply:
    """The backend's fast ``Apply`` for ``config`` (built once per backend and config), else the plain one.

    The learning rate and decay reach an executor as per-step values (``Hyper``),
    never through the config, so configs that differ only in them share one:
    a learning-rate scheduler that edits a constant every step compiles nothing new.
    """
    return _executor(ops, config)[0]


def fast_path(config: RMSPropConfig, ops: Ops | str | None = None) -> str:
    """A short description of what :func:`fast_step` runs for ``config`` on ``ops`` (``"plain"`` if nothing faster)."""
    return _executor(get_ops(ops), config)[1]


def _executor(ops: Ops, config: RMSPropConfig) -> tuple[Apply, str]:
    shape = config.replace(learning_rate=1.0, decay=0.5)
    try:
        key = (ops.NAME, shape)
        cached = _EXECUTORS.get(key)
    except TypeError:  # an unhashable field: build it each time
        return _build(ops, shape)
    if cached is None:
        cached = _EXECUTORS[key] = _build(ops, shape)
    return cached


def _build(ops: Ops, config: RMSPropConfig) -> tuple[Apply, str]:
    """``(apply, description)``: the adapter's kernel for ``config``, the plain path where it returns None."""
    plain: Apply = functools.partial(apply_each, ops, config)
    compile_update = getattr(ops, "compile_update", None)
    if compile_update is None:
        return plain, "plain"

    def update(leaf_ops: Any, *leaf: Any) -> Any:
        return update_leaf(leaf_ops, config, *leaf)

    fast = compile_update(config, update, plain)
    if fast is None:
        return plain, "plain"
    kernel: StepKernel = fast.apply

    def apply(gs: list[Tensor], leaves: Leaves, hyper: Hyper) -> Leaves:
        new = kernel(gs, leaves, hyper)
        return plain(gs, leaves, hyper) if new is None else new

    return apply, fast.description


def write_back(buffers: Leaves, values: Leaves, copy: Callable[[Tensor, Tensor], object]) -> Leaves:
    """``copy(buffer, value)`` of each new leaf into its buffer (torch ``copy_``, ``Variable.assign``); ``buffers``."""
    for targets, news in zip(buffers, values):
        for target, new in zip(targets or (), news or ()):
            copy(target, new)
    return buffers
