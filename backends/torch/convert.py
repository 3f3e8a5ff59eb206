"""torch RMSprop (native or polyprop's) <-> polyprop checkpoint files."""

from __future__ import annotations

import sys
from typing import Any

import torch

from .optim import _torch_config


def save_optimizer(path: Any, optimizer: torch.optim.Optimizer) -> None:
    """Write a torch RMSprop (native or polyprop's, one parameter group) as a polyprop checkpoint.

    ``square_avg``, ``grad_avg`` and ``momentum_buffer`` become ``nu``, ``mu`` and
    ``momentum``; the group's hyperparameters become :func:`polyprop.presets.torch`.
    """
    from ...checkpoint import save
    from ...rmsprop import RMSPropState

    group = _single_group(optimizer)
    config = _torch_config(
        group["lr"], group["alpha"], group["eps"], group["weight_decay"],
        group["momentum"], group["centered"], group["maximize"],
    )
    params = [p.detach() for p in group["params"]]
    states = [optimizer.state[p] for p in group["params"]]  # empty before the first step

    def field(name: str) -> list[torch.Tensor]:
        return [s[name] if name in s else torch.zeros_like(p) for s, p in zip(states, params)]

    counts = {int(s["step"]) for s in states if "step" in s} or {0}
    state = RMSPropState(
        count=max(counts),
        nu=field("square_avg"),
        mu=field("grad_avg") if config.centered else None,
        momentum=field("momentum_buffer") if config.momentum > 0 else None,
    )
    save(path, params, state, config, sys.modules[__package__])  # the backend package (the ops load() returns)


def load_optimizer(path: Any, optimizer: torch.optim.Optimizer) -> None:
    """Load a polyprop checkpoint into a torch RMSprop's parameters and state, in place.

    The checkpoint's config must be the group's (a checkpoint of another convention,
    say Keras's, is refused rather than silently reinterpreted).
    """
    from ...checkpoint import CheckpointError, load

    group = _single_group(optimizer)
    expected = _torch_config(
        group["lr"], group["alpha"], group["eps"], group["weight_decay"],
        group["momentum"], group["centered"], group["maximize"],
    )
    params, state, config = load(path, sys.modules[__package__])
    if config != expected:
        raise CheckpointError(f"the checkpoint's config {config} is not this optimizer's {expected}")
    if len(params) != len(group["params"]):
        raise CheckpointError(f"the checkpoint has {len(params)} parameters, the optimizer {len(group['params'])}")
    for i, (p, saved) in enumerate(zip(group["params"], params)):
        if p.shape != saved.shape or p.dtype != saved.dtype:
            raise CheckpointError(
                f"parameter {i} is {p.dtype}{tuple(p.shape)}, the checkpoint's {saved.dtype}{tuple(saved.shape)}"
            )
    with torch.no_grad():
        for i, (p, saved) in enumerate(zip(group["params"], params)):
            p.copy_(saved)
            s = optimizer.state[p]
            s["step"] = torch.tensor(float(state.count), dtype=torch.float32)
            s["square_avg"] = state.nu[i].clone()
            if state.mu is not None:
                s["grad_avg"] = state.mu[i].clone()
            if state.momentum is not None:
                s["momentum_buffer"] = state.momentum[i].clone()


def _single_group(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    if len(optimizer.param_groups) != 1:
        raise ValueError(
            f"the checkpoint format holds one config: the optimizer has {len(optimizer.param_groups)} "
            "parameter groups; save each group's optimizer separately"
        )
    return optimizer.param_groups[0]
