"""The same RMSProp step, executed by each backend's fastest means.

:func:`fast_step` validates, skips and schedules exactly as :func:`polyprop.step`
(it shares :func:`polyprop.rmsprop.run_step`) and differs only in who runs
:func:`polyprop.rmsprop.update_leaf` on the tensors.  A backend adapter may define

    compile_update(config, update, plain) -> Apply | None

where ``update(ops, x, g, nu, mu, m, hyper)`` is the neutral per-tensor update
with ``config`` bound and ``plain`` the plain path; it returns a function with
the signature of ``plain`` (see :data:`polyprop.rmsprop.Apply`), or None when it
has nothing faster for this config.  Today:

=========== ====================================================================
backend     fast path
=========== ====================================================================
numpy       the traced update (polyprop.expression) as in-place ufuncs over
            cache-sized blocks: memory is read and written about once
torch       ``torch.compile`` of ``update_leaf`` writing in place (one fused loop)
mxnet       MXNet's fused ``rmsprop_update`` / ``rmspropalex_update`` kernels when
            the config is one they compute (float32, float32-exact scalars)
tensorflow  ``tf.function(jit_compile=True)`` over all tensors (XLA fuses them)
jax         ``jax.jit`` over all tensors with the parameters and state donated
=========== ====================================================================

**Donation.**  ``fast_step`` may reuse the buffers of ``params`` and ``state``
for its results, as ``jax.jit(..., donate_argnums=...)`` does: on NumPy, torch
and MXNet they are updated in place and returned; on JAX they are donated.
Use only the returned params and state afterwards.  ``grads`` are never written.
"""

from __future__ import annotations

import functools
from typing import Any

from .config import RMSPropConfig
from .ops import Ops
from .rmsprop import Apply, Params, RMSPropState, apply_each, run_step, update_leaf
from .selection import get_ops

_EXECUTORS: dict[tuple[str, RMSPropConfig], Apply] = {}


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
    shape = config.replace(learning_rate=1.0, decay=0.5)
    try:
        key = (ops.NAME, shape)
        cached = _EXECUTORS.get(key)
    except TypeError:  # an unhashable field: build it each time
        return _build(ops, shape)
    if cached is None:
        cached = _EXECUTORS[key] = _build(ops, shape)
    return cached


def fast_path(config: RMSPropConfig, ops: Ops | str | None = None) -> str:
    """A short description of what :func:`fast_step` runs for ``config`` on ``ops`` (``"plain"`` if nothing faster)."""
    return getattr(executor(get_ops(ops), config), "path", "plain")


def _build(ops: Ops, config: RMSPropConfig) -> Apply:
    plain = functools.partial(apply_each, ops, config)
    compile_update = getattr(ops, "compile_update", None)
    if compile_update is None:
        return plain

    def update(leaf_ops: Any, *leaf: Any) -> Any:
        return update_leaf(leaf_ops, config, *leaf)

    fast: Apply | None = compile_update(config, update, plain)
    return plain if fast is None else fast
