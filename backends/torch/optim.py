"""Drop-in for ``torch.optim.RMSprop``, driven by the neutral definition (polyprop.rmsprop)."""

from __future__ import annotations

import functools
import sys
from typing import Any

import torch

from .inplace import inplace_step


class RMSprop(torch.optim.Optimizer):
    """``torch.optim.RMSprop`` with the same signature, defaults, state names and semantics.

    Each step runs :func:`polyprop.step`'s update (:func:`polyprop.presets.torch`) on
    every parameter group, in place: by default :func:`inplace_step`, the traced
    ``update_leaf`` as torch's own fused ops in torch's order (bit-identical to
    ``torch.optim.RMSprop``, nothing compiled).  So parameter groups,
    closures, ``state_dict``/``load_state_dict`` (interchangeable with the native
    optimizer's) and ``torch.optim.lr_scheduler`` work as with the original.
    ``lr`` may be a 1-element tensor, complex parameters step as their
    ``torch.view_as_real`` views (as torch's), and bad arguments get torch's own
    messages.  ``foreach`` and ``capturable`` are accepted for compatibility and change
    nothing here (torch refuses capturable=True on CPU at its first step; this runs);
    ``differentiable=True`` is refused, and alpha >= 1, momentum >= 1 and eps = 0, which
    torch takes, are refused in ``__init__``.  ``fused=True`` (as for torch's
    Adam) runs :func:`polyprop.fast_step`: one compiled in-place loop per
    tensor instead of several passes (within polyprop.parity's tolerances); the
    first step compiles.
    """

    def __init__(
        self,
        params: Any,
        lr: float | torch.Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check_like_native(lr, alpha, eps, weight_decay, momentum)
        if differentiable:
            raise ValueError(
                "differentiable=True is not supported by polyprop's RMSprop: its step runs under "
                "torch.no_grad() and writes the results in place, outside the autograd graph; "
                "use torch.optim.RMSprop(differentiable=True) to differentiate through the steps"
            )
        if fused not in (None, False, True):
            raise ValueError(f"fused must be True, False or None, got {fused!r}")
        _torch_config(lr, alpha, eps, weight_decay, momentum, centered, maximize)  # validate now
        defaults = dict(
            lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
            centered=centered, capturable=capturable, foreach=foreach, maximize=maximize,
            differentiable=differentiable,
        )
        if fused:  # only then, so state_dict() stays the native optimizer's otherwise
            defaults["fused"] = True
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """As ``torch.optim.RMSprop``'s: older state dicts get the later flags and a tensor ``step``."""
        super().__setstate__(state)
        self.__dict__.pop("_polyprop_checked", None)  # (load_state_dict: new state tensors, checked at the next step)
        for group in self.param_groups:
            for key, default in (("momentum", 0), ("centered", False), ("foreach", None), ("maximize", False),
                                 ("differentiable", False), ("capturable", False)):
                group.setdefault(key, default)
            for p in group["params"]:
                p_state = self.state.get(p, {})
                if p_state and not torch.is_tensor(p_state["step"]):
                    device = p.device if group["capturable"] else None
                    p_state["step"] = torch.tensor(float(p_state["step"]), dtype=torch.float32, device=device)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """One step for every parameter that has a gradient; returns ``closure()``'s loss."""
        from ...fast import executor
        from ...rmsprop import RMSPropState, run_step

        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for index, group in enumerate(self.param_groups):
            params = [p for p in group["params"] if p.grad is not None]
            config = self._checked_config(index, group, params)
            if not params:
                continue
            grads = [p.grad for p in params]
            if any(g.is_sparse for g in grads):
                raise RuntimeError("RMSprop does not support sparse gradients")
            states = [self._state_of(p, config) for p in params]
            state = RMSPropState(
                count=0,  # the torch preset uses no step count (no bias correction)
                nu=[s["square_avg"] for s in states],
                mu=[s["grad_avg"] for s in states] if config.centered else None,
                momentum=[s["momentum_buffer"] for s in states] if config.momentum > 0 else None,
            )
            self._check_memory(index, params, grads, state)
            fused = group.get("fused")
            detached = [p.detach() for p in params] if fused else params  # (in place under no_grad: as torch)
            if any(p.is_complex() for p in params):
                detached, grads, state = _real_views(detached, grads, state)
            module = sys.modules[__package__]  # the backend package (the ops load() returns)
            if fused:  # polyprop.fast_step (its memory checked above)
                new_params, new_state = run_step(
                    detached, grads, state, config, module, executor(module, config), check_memory=False
                )
            else:  # the default path: the traced update as torch's own ops, in place (nothing compiled)
                new_params, new_state = inplace_step(detached, grads, state, config, module, check_memory=False)
            steps = [s["step"] for s in states]
            if all(t.is_cpu for t in steps):  # as torch's foreach path
                torch._foreach_add_(steps, _ONE, alpha=1.0)
            else:
                torch._foreach_add_(steps, 1)
            for i, s in enumerate(states):  # (both wrote in place already, where they could)
                _write_back(detached[i], new_params[i])
                _write_back(s["square_avg"], new_state.nu[i])
                if new_state.mu is not None:
                    _write_back(s["grad_avg"], new_state.mu[i])
                if new_state.momentum is not None:
                    _write_back(s["momentum_buffer"], new_state.momentum[i])
        return loss

    def _checked_config(self, index: int, group: dict[str, Any], params: list[Any]) -> Any:
        """The group's config; a bad value (a scheduler's, or one set in the group) names the group and step count."""
        try:
            return _group_config(group)
        except (TypeError, ValueError) as error:
            steps = [self.state[p]["step"] for p in params if "step" in self.state.get(p, {})]
            count = int(steps[0]) if steps else 0
            raise type(error)(f"param_groups[{index}] at step count {count}: {error}") from None

    def _check_memory(self, index: int, params: list[Any], grads: list[Any], state: Any) -> None:
        """No parameter or state tensor of group ``index`` shares memory with another (or another group's parameter).

        Checked in full (polyprop.validation.shared_memory) on a group's first step and
        whenever its parameters with a gradient or their state tensors are other objects;
        otherwise only their identities are compared (a step stays as fast).  A gradient
        that later shares a parameter's memory, or a ``p.data`` replaced by a view, is not seen.
        """
        from ...validation import SHARED_MEMORY, shared_memory

        leaves = [params, state.nu, state.mu, state.momentum]
        key = tuple(None if ts is None else tuple(map(id, ts)) for ts in leaves)
        checked = self.__dict__.setdefault("_polyprop_checked", {})
        if checked.get(index, (None,))[0] == key:
            return
        group = self.param_groups[index]
        positions = [j for j, p in enumerate(group["params"]) if p.grad is not None]  # (as step picks params)
        names = [f"param_groups[{index}]['params'][{j}]" for j in positions]
        tensors = [*params, *grads]
        described = [*names, *(f"the .grad of {name}" for name in names)]
        for field, ts in zip(("square_avg", "grad_avg", "momentum_buffer"), leaves[1:]):
            if ts is not None:
                tensors += ts
                described += [f"state[{name}][{field!r}]" for name in names]
        writable = [True] * len(params) + [False] * len(grads) + [True] * (len(tensors) - 2 * len(params))
        for k, other in enumerate(self.param_groups):  # parameters of the other groups (views of one buffer)
            if k != index:
                tensors += other["params"]
                writable += [True] * len(other["params"])
                described += [f"param_groups[{k}]['params'][{j}]" for j in range(len(other["params"]))]
        module = sys.modules[__package__]
        pair = shared_memory(tensors, writable, module.memory_spans, module.shares_memory)
        if pair is not None:
            first, second = sorted(pair)
            raise ValueError(f"{described[second]} and {described[first]} share memory: {SHARED_MEMORY}")
        checked[index] = (key, leaves)  # (holding the tensors: their ids stay theirs)

    def _state_of(self, p: torch.Tensor, config: Any) -> dict[str, Any]:
        """The parameter's state, created as torch does on its first step."""
        state: dict[str, Any] = self.state[p]
        if not state:
            state["step"] = torch.tensor(0.0, dtype=torch.float32)
            state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if config.momentum > 0:
                state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if config.centered:
                state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        # A group's momentum or centered may be switched on after the first step.
        if config.momentum > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if config.centered and "grad_avg" not in state:
            state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state


def _check_like_native(lr: Any, alpha: Any, eps: Any, weight_decay: Any, momentum: Any) -> None:
    """torch.optim.RMSprop's own checks and messages, then the ranges polyprop's step needs.

    torch accepts alpha >= 1, eps = 0 and momentum >= 1; polyprop's config does not
    (alpha = 1 freezes square_avg at 0, eps = 0 divides 0 by 0 where a gradient is 0).
    """
    if isinstance(lr, torch.Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    for label, value in (("learning rate", lr), ("epsilon value", eps), ("momentum value", momentum),
                         ("weight_decay value", weight_decay), ("alpha value", alpha)):
        if not value >= 0.0:  # also refuses NaN
            raise ValueError(f"Invalid {label}: {value}")
    ranges = (
        ("alpha", alpha, alpha < 1, "< 1"), ("momentum", momentum, momentum < 1, "< 1"), ("eps", eps, eps > 0, "> 0"),
    )
    for name, value, within, allowed in ranges:
        if not within:
            raise ValueError(
                f"{name} must be {allowed} for polyprop's RMSprop, got {value!r} "
                f"(torch.optim.RMSprop takes it; polyprop's RMSProp is defined for {name} {allowed} only)"
            )


def _real_views(params: list[Any], grads: list[Any], state: Any) -> tuple[list[Any], list[Any], Any]:
    """Complex tensors as their ``torch.view_as_real`` views, as torch's RMSprop steps them.

    (Each complex entry is then two real entries, real and imaginary part, that
    share the parameter's memory; the state stays complex, as the native's.)
    """

    def real(tensors: Any) -> Any:
        return None if tensors is None else [torch.view_as_real(t) if t.is_complex() else t for t in tensors]

    return (
        real(params), real(grads), state._replace(nu=real(state.nu), mu=real(state.mu), momentum=real(state.momentum))
    )


def _write_back(buffer: torch.Tensor, value: torch.Tensor) -> None:
    if value is not buffer:
        (torch.view_as_real(buffer) if buffer.is_complex() and not value.is_complex() else buffer).copy_(value)


def _group_config(group: dict[str, Any]) -> Any:
    """The group's config; a scheduler's new lr builds one once (then it is looked up)."""
    lr = float(group["lr"]) if isinstance(group["lr"], torch.Tensor) else group["lr"]
    values = (
        lr, group["alpha"], group["eps"], group["weight_decay"], group["momentum"], group["centered"], group["maximize"]
    )
    try:
        return _cached_config(*values)
    except TypeError:  # an unhashable value
        return _torch_config(*values)


def _torch_config(
    lr: Any, alpha: float, eps: float, weight_decay: float, momentum: float, centered: bool, maximize: bool
) -> Any:
    from ...presets import torch as torch_preset

    if isinstance(lr, torch.Tensor):
        lr = float(lr)
    return torch_preset(lr, alpha, eps, weight_decay, momentum, centered, maximize)


_cached_config = functools.lru_cache(maxsize=256)(_torch_config)


_ONE = torch.tensor(1.0)

RMSprop.__module__ = __package__  # its public name: polyprop.backends.torch.RMSprop (reprs, pickles)
