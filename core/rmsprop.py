"""The RMSProp family, defined once: pure ``init`` and ``step`` over the ops interface.

Parameters are a list, a tuple or a dict of tensors of one framework
(:mod:`polyprop.containers`); the state mirrors that container.  Nothing here
imports a framework: every tensor operation goes through an
:class:`~polyprop.ops.Ops` adapter, given explicitly or chosen by
:func:`polyprop.get_ops` from the tensors themselves.  The checks on the tensors
are :mod:`polyprop.validation`'s, the NaN/Inf policy :mod:`polyprop.nonfinite`'s.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

from . import nonfinite, validation
from .config import RMSPropConfig, check_value
from .containers import Params, flatten, matching_leaves, unflatten
from .ops import LeafKernel, Ops, Tensor
from .selection import get_ops
from .validation import check_param, check_state_fields, dtype_name

__all__ = [
    "Apply",
    "Hyper",
    "Leaf",
    "Leaves",
    "Params",
    "RMSPropState",
    "apply_each",
    "each_leaf",
    "hyperparameters",
    "init",
    "run_step",
    "step",
    "update_leaf",
]


class RMSPropState(NamedTuple):
    """The optimizer's state; every tensor leaf has its parameter's shape and dtype.

    Attributes:
        count: steps taken so far (0 after ``init``).
        nu: the leaky average of squared gradients, started at ``initial_scale``.
        mu: the leaky average of gradients (``centered=True``), else None.
        momentum: the momentum buffer (``momentum > 0``), else None.
        skipped: steps dropped for non-finite gradients (``nonfinite="skip"``).
    """

    count: int  # type: ignore[assignment]  # shadows tuple.count, as in Optax's states
    nu: Params
    mu: Params | None
    momentum: Params | None
    skipped: int = 0


def init(params: Params, config: RMSPropConfig, ops: Ops | str | None = None) -> RMSPropState:
    """The state before the first step: ``nu = initial_scale``, ``mu = momentum = 0``."""
    ops = get_ops(ops, params)
    keys, xs = flatten(params, "params")
    for key, x in zip(keys, xs):
        check_param(f"params[{key!r}]", x, ops.NAME)
    if config.state_dtype is not None:
        xs = [ops.cast(x, config.state_dtype) for x in xs]
    nu = [ops.full_like(x, config.initial_scale) for x in xs]

    def zeros() -> Params:  # a buffer of its own for each leaf: fast_step writes them in place
        return unflatten(params, keys, [ops.zeros_like(x) for x in xs])

    return RMSPropState(
        count=0,
        nu=unflatten(params, keys, nu),
        mu=zeros() if config.centered else None,
        momentum=zeros() if config.momentum > 0 else None,
    )


def step(
    params: Params,
    grads: Params,
    state: RMSPropState,
    config: RMSPropConfig,
    ops: Ops | str | None = None,
) -> tuple[Params, RMSPropState]:
    """One RMSProp step: ``(params, state) -> (new_params, new_state)``; see RMSPropConfig.

    A gradient of None leaves its parameter and that parameter's state as they were
    (as torch, Keras and MXNet do for a parameter that received no gradient).
    Tensors that do not fit (count, keys, shape, dtype, framework) raise an error
    naming the offending one.
    """
    ops = get_ops(ops, params, grads)
    return run_step(params, grads, state, config, ops, functools.partial(apply_each, ops, config))


class Hyper(NamedTuple):
    """The scalars of one step, computed in Python (float64) before any rounding."""

    lr: Any
    decay: Any
    keep: Any
    """``1 - decay``, the weight of the new squared gradient."""
    correction: Any
    """``1 - decay**(count + 1)`` with ``bias_correction``, else None."""


class Leaves(NamedTuple):
    """Per-tensor lists of one step's inputs or results (mu, momentum: None when unused)."""

    x: list[Tensor]
    nu: list[Tensor]
    mu: list[Tensor] | None
    momentum: list[Tensor] | None


Apply = Callable[[list[Tensor], Leaves, Hyper], Leaves]
"""Runs the update on every tensor that has a gradient: ``(grads, leaves, hyper) -> new leaves``."""


def hyperparameters(config: RMSPropConfig, count: int) -> Hyper:
    """The learning rate, decay and bias correction of the step after ``count`` steps (each checked: _resolve)."""
    lr = _resolve(config, "learning_rate", count)
    decay = _resolve(config, "decay", count)
    correction = 1 - decay ** (count + 1) if config.bias_correction else None
    return Hyper(lr, decay, 1 - decay, correction)


def run_step(
    params: Params,
    grads: Params,
    state: RMSPropState,
    config: RMSPropConfig,
    ops: Ops,
    apply: Apply,
    check_memory: bool = True,
) -> tuple[Params, RMSPropState]:
    """:func:`step` with the per-tensor work done by ``apply`` (plain or a backend's fast path).

    ``check_memory=False``: the caller has checked that no parameter or state tensor
    shares memory with another tensor (polyprop.validation.check_memory), as the torch
    drop-in does once per parameter group.
    """
    keys, xs = flatten(params, "params")
    check_state_fields(state.mu, state.momentum, config)
    gs = matching_leaves(grads, params, keys, "grads")
    nus = matching_leaves(state.nu, params, keys, "state.nu")
    mus = matching_leaves(state.mu, params, keys, "state.mu") if config.centered else None
    ms = (
        matching_leaves(state.momentum, params, keys, "state.momentum")
        if config.momentum > 0
        else None
    )
    validation.check_leaves(ops.NAME, config.state_dtype, keys, xs, gs, {"nu": nus, "mu": mus, "momentum": ms})
    if check_memory:
        validation.check_memory(
            ops, keys, [("params", xs, True), ("grads", gs, False), ("state.nu", nus, True),
                        ("state.mu", mus, True), ("state.momentum", ms, True)],
        )
    if nonfinite.skips_step(config.nonfinite, ops, keys, gs, state.count):
        return params, state._replace(skipped=state.skipped + 1)
    hyper = hyperparameters(config, state.count)

    live = [i for i, g in enumerate(gs) if g is not None]

    def pick(leaves: list[Any] | None) -> list[Any] | None:
        return None if leaves is None else [leaves[i] for i in live]

    new = apply(
        [gs[i] for i in live], Leaves([xs[i] for i in live], [nus[i] for i in live], pick(mus), pick(ms)), hyper
    )
    new_x, new_nu, new_mu, new_momentum = list(xs), list(nus), list(mus or ()), list(ms or ())
    for j, i in enumerate(live):
        new_x[i], new_nu[i] = new.x[j], new.nu[j]
        if new.mu is not None:
            new_mu[i] = new.mu[j]
        if new.momentum is not None:
            new_momentum[i] = new.momentum[j]
    new_state = RMSPropState(
        count=state.count + 1,
        nu=unflatten(params, keys, new_nu),
        mu=unflatten(params, keys, new_mu) if mus is not None else None,
        momentum=unflatten(params, keys, new_momentum) if ms is not None else None,
        skipped=state.skipped,
    )
    return unflatten(params, keys, new_x), new_state


def apply_each(ops: Ops, config: RMSPropConfig, gs: list[Tensor], leaves: Leaves, hyper: Hyper) -> Leaves:
    """The plain path: :func:`update_leaf` on each tensor, out of place."""
    return each_leaf(functools.partial(update_leaf, ops, config), gs, leaves, hyper)


def each_leaf(kernel: LeafKernel, gs: list[Tensor], leaves: Leaves, hyper: Hyper) -> Leaves:
    """``kernel(x, g, nu, mu, momentum, hyper) -> Leaf`` on every tensor, the results as ``Leaves``."""
    out = [
        kernel(
            x,
            g,
            leaves.nu[i],
            None if leaves.mu is None else leaves.mu[i],
            None if leaves.momentum is None else leaves.momentum[i],
            hyper,
        )
        for i, (x, g) in enumerate(zip(leaves.x, gs))
    ]
    return Leaves(
        [leaf.x for leaf in out],
        [leaf.nu for leaf in out],
        None if leaves.mu is None else [leaf.mu for leaf in out],
        None if leaves.momentum is None else [leaf.momentum for leaf in out],
    )


class Leaf(NamedTuple):
    """One tensor's new parameter and state."""

    x: Tensor
    nu: Tensor
    mu: Tensor | None
    momentum: Tensor | None


def update_leaf(
    ops: Ops,
    config: RMSPropConfig,
    x: Tensor,
    g: Tensor,
    nu: Tensor,
    mu: Tensor | None,
    momentum: Tensor | None,
    hyper: Hyper,
) -> Leaf:
    """The update of one tensor; the formulas are those of RMSPropConfig's docstring (``m``: ``momentum``).

    This is the single definition of the mathematics: the plain path calls it on
    each tensor, and the backends' fast paths (:mod:`polyprop.fast`) trace or
    compile this same function.

    With ``state_dtype`` the parameter and gradient are cast to it, the update is
    computed there, and only the new parameter is cast back.
    """
    param_dtype = None
    if config.state_dtype is not None and dtype_name(x) != config.state_dtype:
        param_dtype = dtype_name(x)
        x, g = ops.cast(x, config.state_dtype), ops.cast(g, config.state_dtype)

    def c(value: Any) -> Tensor:
        return ops.scalar(value, like=x)

    lr, decay, correction = hyper.lr, hyper.decay, hyper.correction
    if config.maximize:
        g = ops.mul(c(-1.0), g)
    if config.weight_decay:
        if config.decoupled_weight_decay:
            x = ops.sub(x, ops.mul(ops.mul(x, c(config.weight_decay)), c(lr)))
        else:
            g = ops.add(g, ops.mul(c(config.weight_decay), x))
    keep = c(hyper.keep)
    fresh = ops.mul(ops.mul(keep, g), g) if config.weight_before_square else ops.mul(keep, ops.square(g))
    nu = ops.add(ops.mul(c(decay), nu), fresh)
    var = nu if correction is None else ops.div(nu, c(correction))
    if mu is not None:
        mu = ops.add(ops.mul(c(decay), mu), ops.mul(keep, g))
        mean = mu if correction is None else ops.div(mu, c(correction))
        var = ops.sub(var, ops.square(mean))
    # eps inside the root (TF, MXNet, Optax's eps_root) or outside it (torch, Keras, D2L)
    den = ops.sqrt(ops.add(var, c(config.eps))) if config.eps_in_sqrt else ops.add(ops.sqrt(var), c(config.eps))

    def lr_times_u() -> Tensor:
        return ops.div(ops.mul(c(lr), g), den) if config.lr_before_divide else ops.mul(c(lr), ops.div(g, den))

    if momentum is None:
        delta = lr_times_u()
    elif config.lr_inside_momentum:
        beta = c(config.momentum)
        lr_u = lr_times_u()
        momentum = ops.add(ops.mul(beta, momentum), lr_u)
        delta = ops.add(lr_u, ops.mul(beta, momentum)) if config.nesterov else momentum
    else:
        beta = c(config.momentum)
        u = ops.div(g, den)
        momentum = ops.add(ops.mul(beta, momentum), u)
        delta = ops.mul(c(lr), ops.add(u, ops.mul(beta, momentum)) if config.nesterov else momentum)
    new_x = ops.sub(x, delta)
    if param_dtype is not None:
        new_x = ops.cast(new_x, param_dtype)
    return Leaf(new_x, nu, mu, momentum)


def _resolve(config: RMSPropConfig, field: str, count: Any) -> Any:
    """``config.<field>``'s value at step ``count``, checked by :func:`polyprop.config.check_value` unless traced.

    A float was checked when the config was built: it is returned as it is.  A
    schedule's concrete value (Python, NumPy or framework scalar, 0-d array of any
    framework) is returned as a Python float, which every backend takes; a 0-d
    array held by the config is checked again (it may have changed in place) and
    returned as it is.  A bad value raises the check's TypeError or ValueError
    prefixed with the step count: it names the field as the user wrote it, the
    range and the value as given.
    """
    value = getattr(config, field)
    if type(value) is float:
        return value
    scheduled = callable(value)
    given = value(count) if scheduled else value
    try:
        number = check_value(field, given, config.names, config.allow_unit_decay)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{'schedule at' if scheduled else 'at'} step count {count}: {error}") from None
    return number if scheduled else given
