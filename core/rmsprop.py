"""The RMSProp family, defined once: pure ``init`` and ``step`` over the ops interface.

Parameters are a list, a tuple or a dict of tensors of one framework; the state
mirrors that container.  Nothing here imports a framework: every tensor
operation goes through an :class:`~polyprop.ops.Ops` adapter, given explicitly
or chosen by :func:`polyprop.get_ops` from the tensors themselves.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from . import validation
from .config import RMSPropConfig, check_value
from .ops import Ops, Tensor
from .selection import get_ops
from .validation import check_like, check_param, check_state_fields, dtype_name

Params = Sequence[Tensor] | Mapping[Any, Tensor]
"""A list, tuple or dict of tensors of one framework."""


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
    """The state before the first step: ``nu = initial_scale``, ``mu = m = 0``."""
    ops = get_ops(ops, params)
    keys, xs = _flatten(params, "params")
    for key, x in zip(keys, xs):
        check_param(f"params[{key!r}]", x, ops.NAME)
    if config.state_dtype is not None:
        xs = [ops.cast(x, config.state_dtype) for x in xs]
    nu = [ops.full_like(x, config.initial_scale) for x in xs]

    def zeros() -> Params:  # a buffer of its own for each leaf: fast_step writes them in place
        return _unflatten(params, keys, [ops.zeros_like(x) for x in xs])

    return RMSPropState(
        count=0,
        nu=_unflatten(params, keys, nu),
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
    """Per-tensor lists of one step's inputs or results (mu, m: None when unused)."""

    x: list[Tensor]
    nu: list[Tensor]
    mu: list[Tensor] | None
    m: list[Tensor] | None


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
    keys, xs = _flatten(params, "params")
    check_state_fields(state.mu, state.momentum, config)
    gs = _matching_leaves(grads, params, keys, "grads")
    nus = _matching_leaves(state.nu, params, keys, "state.nu")
    mus = _matching_leaves(state.mu, params, keys, "state.mu") if config.centered else None
    ms = (
        _matching_leaves(state.momentum, params, keys, "state.momentum")
        if config.momentum > 0
        else None
    )
    _check_leaves(ops.NAME, config, keys, xs, gs, {"nu": nus, "mu": mus, "momentum": ms})
    if check_memory:
        validation.check_memory(
            ops, keys, [("params", xs, True), ("grads", gs, False), ("state.nu", nus, True),
                        ("state.mu", mus, True), ("state.momentum", ms, True)],
        )
    if config.nonfinite != "propagate":
        bad = _first_nonfinite(ops, keys, gs)
        if bad is not None and config.nonfinite == "raise":
            raise FloatingPointError(
                f"grads[{bad!r}] holds NaN or Inf at step count {state.count} (nonfinite='raise')"
            )
        if bad is not None:
            return params, state._replace(skipped=state.skipped + 1)
    hyper = hyperparameters(config, state.count)

    live = [i for i, g in enumerate(gs) if g is not None]

    def pick(leaves: list[Any] | None) -> list[Any] | None:
        return None if leaves is None else [leaves[i] for i in live]

    new = apply(
        [gs[i] for i in live], Leaves([xs[i] for i in live], [nus[i] for i in live], pick(mus), pick(ms)), hyper
    )
    new_x, new_nu, new_mu, new_m = list(xs), list(nus), list(mus or ()), list(ms or ())
    for j, i in enumerate(live):
        new_x[i], new_nu[i] = new.x[j], new.nu[j]
        if new.mu is not None:
            new_mu[i] = new.mu[j]
        if new.m is not None:
            new_m[i] = new.m[j]
    new_state = RMSPropState(
        count=state.count + 1,
        nu=_unflatten(params, keys, new_nu),
        mu=_unflatten(params, keys, new_mu) if mus is not None else None,
        momentum=_unflatten(params, keys, new_m) if ms is not None else None,
        skipped=state.skipped,
    )
    return _unflatten(params, keys, new_x), new_state


def apply_each(ops: Ops, config: RMSPropConfig, gs: list[Tensor], leaves: Leaves, hyper: Hyper) -> Leaves:
    """The plain path: :func:`update_leaf` on each tensor, out of place."""
    out = [
        update_leaf(
            ops,
            config,
            x,
            g,
            leaves.nu[i],
            None if leaves.mu is None else leaves.mu[i],
            None if leaves.m is None else leaves.m[i],
            hyper,
        )
        for i, (x, g) in enumerate(zip(leaves.x, gs))
    ]
    return Leaves(
        [leaf.x for leaf in out],
        [leaf.nu for leaf in out],
        None if leaves.mu is None else [leaf.mu for leaf in out],
        None if leaves.m is None else [leaf.m for leaf in out],
    )


def _check_leaves(
    backend: str,
    config: RMSPropConfig,
    keys: list[Any],
    xs: list[Tensor],
    gs: list[Any],
    state: dict[str, list[Any] | None],
) -> None:
    """Every parameter, gradient and state leaf fits (see polyprop.validation).

    Whether they fit depends only on each leaf's type, shape and dtype, so the
    last signature that passed is remembered per backend: a training loop, which
    passes the same kinds of tensors every step, is checked in full only once.
    """
    signature = _signature(config, xs, gs, state)
    if signature is not None and _VALIDATED.get(backend) == signature:
        return
    for i, (key, x) in enumerate(zip(keys, xs)):
        where = f"params[{key!r}]"
        described = check_param(where, x, backend)
        if gs[i] is not None:
            check_like(f"grads[{key!r}]", gs[i], where, x, backend, described=described)
        for name, leaves in state.items():
            if leaves is not None:
                check_like(
                    f"state.{name}[{key!r}]", leaves[i], where, x, backend, config.state_dtype, described
                )
    _remember(backend, signature)


_VALIDATED: dict[str, tuple[Any, ...]] = {}
"""Per backend, the signature (see _signature) of the last leaves that passed _check_leaves."""


def _signature(
    config: RMSPropConfig, xs: list[Tensor], gs: list[Any], state: dict[str, list[Any] | None]
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
        signature = (config.state_dtype, present, *described)
        hash(signature)
    except (AttributeError, TypeError):  # not a tensor, or an unhashable dtype: check in full
        return None
    return signature


def _remember(backend: str, signature: tuple[Any, ...] | None) -> None:
    if signature is not None:
        _VALIDATED[backend] = signature


def _first_nonfinite(ops: Ops, keys: list[Any], gs: list[Any]) -> Any:
    """The key of the first gradient holding NaN or Inf, or None."""
    import numpy as np

    for key, g in zip(keys, gs):
        if g is None:
            continue
        values = ops.to_numpy(g)  # complex: a NaN in the imaginary part counts too
        if not np.all(np.isfinite(values if np.iscomplexobj(values) else values.astype(np.float64))):
            return key
    return None


class Leaf(NamedTuple):
    """One tensor's new parameter and state."""

    x: Tensor
    nu: Tensor
    mu: Tensor | None
    m: Tensor | None


def update_leaf(
    ops: Ops,
    config: RMSPropConfig,
    x: Tensor,
    g: Tensor,
    nu: Tensor,
    mu: Tensor | None,
    m: Tensor | None,
    hyper: Hyper,
) -> Leaf:
    """The update of one tensor; the formulas are those of RMSPropConfig's docstring.

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
    if config.eps_in_sqrt:
        den = ops.sqrt(ops.add(var, c(config.eps)))
    else:
        den = ops.add(ops.sqrt(var), c(config.eps))

    def lr_times_u() -> Tensor:
        return ops.div(ops.mul(c(lr), g), den) if config.lr_before_divide else ops.mul(c(lr), ops.div(g, den))

    if m is None:
        delta = lr_times_u()
    elif config.lr_inside_momentum:
        beta = c(config.momentum)
        lr_u = lr_times_u()
        m = ops.add(ops.mul(beta, m), lr_u)
        delta = ops.add(lr_u, ops.mul(beta, m)) if config.nesterov else m
    else:
        beta = c(config.momentum)
        u = ops.div(g, den)
        m = ops.add(ops.mul(beta, m), u)
        delta = ops.mul(c(lr), ops.add(u, ops.mul(beta, m)) if config.nesterov else m)
    new_x = ops.sub(x, delta)
    if param_dtype is not None:
        new_x = ops.cast(new_x, param_dtype)
    return Leaf(new_x, nu, mu, m)


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


def _flatten(tree: Params, name: str) -> tuple[list[Any], list[Tensor]]:
    """The keys and leaves of a list, tuple or dict of tensors.

    Parameters in a dict subclass that cannot be rebuilt from (key, tensor) pairs
    (see _unflatten) are refused here, before anything is computed.
    """
    if isinstance(tree, Mapping):
        keys = list(tree.keys())
        leaves = [tree[k] for k in keys]
        if name == "params" and isinstance(tree, dict) and type(tree) not in _REBUILT:
            try:
                _unflatten(tree, keys, leaves)
            except Exception as error:  # noqa: BLE001 - any failure of the user's constructor
                kind = type(tree).__name__
                raise TypeError(
                    f"params is a {kind}, which {kind}(pairs of keys and tensors) cannot build "
                    f"({type(error).__name__}: {error}); the step returns params and state in the "
                    "params' container: pass a dict"
                ) from None
        return keys, leaves
    if isinstance(tree, (list, tuple)):
        return list(range(len(tree))), list(tree)
    raise TypeError(
        f"{name} must be a list, tuple or dict of tensors, got {type(tree).__name__}"
    )


_REBUILT = (dict, collections.OrderedDict, collections.defaultdict)
"""The dict types _unflatten always rebuilds."""


def _matching_leaves(tree: Any, params: Params, keys: list[Any], name: str) -> list[Any]:
    """The leaves of ``tree`` in the order of ``params``; an error names any mismatch."""
    if tree is None:
        raise ValueError(f"{name} is None but the config needs it; build the state with init()")
    if isinstance(params, Mapping) != isinstance(tree, Mapping):
        raise TypeError(
            f"{name} must be a {type(params).__name__} like params, got {type(tree).__name__}"
        )
    tree_keys, leaves = _flatten(tree, name)
    if isinstance(tree, Mapping):
        if set(tree_keys) != set(keys):
            missing = [k for k in keys if k not in tree]
            extra = [k for k in tree_keys if k not in set(keys)]
            raise ValueError(f"{name} keys differ from params: missing {missing}, extra {extra}")
        return [tree[k] for k in keys]
    if len(leaves) != len(keys):
        raise ValueError(f"{name} has {len(leaves)} tensors but params has {len(keys)}")
    return leaves


def _unflatten(like: Params, keys: list[Any], leaves: list[Tensor]) -> Params:
    """A container of the same kind as ``like`` holding ``leaves``.

    A dict keeps its type (a defaultdict its default_factory; another subclass is built
    from the (key, tensor) pairs); any other Mapping comes back as a dict, a tuple
    subclass as a tuple and a list subclass as a list.
    """
    if isinstance(like, Mapping):
        if type(like) is dict or not isinstance(like, dict):
            return dict(zip(keys, leaves))
        if isinstance(like, collections.defaultdict):
            return type(like)(like.default_factory, zip(keys, leaves))
        return type(like)(zip(keys, leaves))
    return tuple(leaves) if isinstance(like, tuple) else list(leaves)
