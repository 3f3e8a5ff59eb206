"""PyTorch adapter: plain out-of-place ``torch`` ops on tensors of any device."""

from __future__ import annotations

import sys
import types
import warnings
from typing import Any

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
    x = x.detach().cpu()
    if x.dtype == torch.bfloat16:  # NumPy knows bfloat16 only through ml_dtypes; the cast is exact
        return x.float().numpy().astype(_numpy_bfloat16())
    return np.array(x.numpy(), copy=True)


def from_numpy(array: np.ndarray) -> torch.Tensor:
    if array.dtype.name == "bfloat16":
        return torch.from_numpy(array.astype(np.float32)).to(torch.bfloat16)
    return torch.from_numpy(np.array(array, copy=True))


def _numpy_bfloat16() -> np.dtype:
    try:
        import ml_dtypes
    except ImportError as error:  # pragma: no cover - ml_dtypes comes with JAX and TensorFlow
        raise ImportError("bfloat16 tensors as NumPy arrays need ml_dtypes: pip install ml_dtypes") from error
    return np.dtype(ml_dtypes.bfloat16)


# --------------------------------------------------------------------------------------
# Drop-in for torch.optim.RMSprop, driven by the neutral definition (polyprop.rmsprop).


class RMSprop(torch.optim.Optimizer):
    """``torch.optim.RMSprop`` with the same signature, defaults, state names and semantics.

    Each step runs :func:`polyprop.step` with :func:`polyprop.presets.torch` on every
    parameter group and writes the results back in place, so parameter groups,
    closures, ``state_dict``/``load_state_dict`` (interchangeable with the native
    optimizer's) and ``torch.optim.lr_scheduler`` work as with the original.
    ``foreach`` and ``capturable`` are accepted for compatibility and change nothing
    here; ``differentiable=True`` is not supported.  ``fused=True`` (as for torch's
    Adam) runs :func:`polyprop.fast_step`: one compiled in-place loop per
    tensor instead of several passes; the first step compiles.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        if differentiable:
            raise ValueError("differentiable=True is not supported by polyprop's RMSprop")
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

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """One step for every parameter that has a gradient; returns ``closure()``'s loss."""
        from ..fast import fast_step
        from ..rmsprop import RMSPropState, step

        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            config = _torch_config(
                group["lr"], group["alpha"], group["eps"], group["weight_decay"],
                group["momentum"], group["centered"], group["maximize"],
            )
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            if any(p.grad.is_sparse for p in params):
                raise RuntimeError("RMSprop does not support sparse gradients")
            states = [self._state_of(p, config) for p in params]
            state = RMSPropState(
                count=0,  # the torch preset uses no step count (no bias correction)
                nu=[s["square_avg"] for s in states],
                mu=[s["grad_avg"] for s in states] if config.centered else None,
                momentum=[s["momentum_buffer"] for s in states] if config.momentum > 0 else None,
            )
            detached = [p.detach() for p in params]
            new_params, new_state = (fast_step if group.get("fused") else step)(
                detached, [p.grad for p in params], state, config, sys.modules[__name__]
            )
            for i, s in enumerate(states):  # (fast_step wrote in place already)
                _write_back(detached[i], new_params[i])
                s["step"] += 1
                _write_back(s["square_avg"], new_state.nu[i])
                if new_state.mu is not None:
                    _write_back(s["grad_avg"], new_state.mu[i])
                if new_state.momentum is not None:
                    _write_back(s["momentum_buffer"], new_state.momentum[i])
        return loss

    def _state_of(self, p: torch.Tensor, config: Any) -> dict[str, Any]:
        """The parameter's state, created as torch does on its first step."""
        state = self.state[p]
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


def _write_back(buffer: torch.Tensor, value: torch.Tensor) -> None:
    if value is not buffer:
        buffer.copy_(value)


def _torch_config(
    lr: Any, alpha: float, eps: float, weight_decay: float, momentum: float, centered: bool, maximize: bool
) -> Any:
    from ..presets import torch as torch_preset

    if isinstance(lr, torch.Tensor):
        lr = float(lr)
    return torch_preset(lr, alpha, eps, weight_decay, momentum, centered, maximize)



def save_optimizer(path: Any, optimizer: torch.optim.Optimizer) -> None:
    """Write a torch RMSprop (native or polyprop's, one parameter group) as a polyprop checkpoint.

    ``square_avg``, ``grad_avg`` and ``momentum_buffer`` become ``nu``, ``mu`` and
    ``momentum``; the group's hyperparameters become :func:`polyprop.presets.torch`.
    """
    from ..checkpoint import save
    from ..rmsprop import RMSPropState

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
    save(path, params, state, config, sys.modules[__name__])


def load_optimizer(path: Any, optimizer: torch.optim.Optimizer) -> None:
    """Load a polyprop checkpoint into a torch RMSprop's parameters and state, in place.

    The checkpoint's config must be the group's (a checkpoint of another convention,
    say Keras's, is refused rather than silently reinterpreted).
    """
    from ..checkpoint import CheckpointError, load

    group = _single_group(optimizer)
    expected = _torch_config(
        group["lr"], group["alpha"], group["eps"], group["weight_decay"],
        group["momentum"], group["centered"], group["maximize"],
    )
    params, state, config = load(path, sys.modules[__name__])
    if config != expected:
        raise CheckpointError(f"the checkpoint's config {config} is not this optimizer's {expected}")
    if len(params) != len(group["params"]):
        raise CheckpointError(f"the checkpoint has {len(params)} parameters, the optimizer {len(group['params'])}")
    for i, (p, saved) in enumerate(zip(group["params"], params)):
        if p.shape != saved.shape or p.dtype != saved.dtype:
            raise CheckpointError(f"parameter {i} is {p.dtype}{tuple(p.shape)}, the checkpoint's {saved.dtype}{tuple(saved.shape)}")
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


def compile_update(config: Any, update: Any, plain: Any) -> Any:
    """The fast path (polyprop.fast): ``torch.compile`` of the neutral update over all tensors, in place.

    One compiled call per step updates every tensor (Inductor fuses each tensor's
    update into one loop: read x, g, nu (mu, m), write them back), so a model of
    many small tensors pays one call, not one per tensor.  The per-step scalars
    enter as float64 0-d tensors, so a schedule never recompiles; a new set of
    shapes does, once.
    """
    module = sys.modules[__name__]

    def update_all(xs: list[Any], gs: list[Any], nus: list[Any], mus: Any, ms: Any, hyper: Any) -> None:
        for i, (x, g) in enumerate(zip(xs, gs)):
            mu = None if mus is None else mus[i]
            m = None if ms is None else ms[i]
            leaf = update(module, x, g, nus[i], mu, m, hyper)
            x.copy_(leaf.x)
            nus[i].copy_(leaf.nu)
            if mu is not None:
                mu.copy_(leaf.mu)
            if m is not None:
                m.copy_(leaf.m)

    # Dynamo keeps at most 8 compiled versions per code object and then silently runs
    # eagerly: every set of shapes, dtypes and devices gets a code object of its own.
    compiled: dict[Any, Any] = {}
    failed: list[bool] = []

    def apply(gs: list[Any], leaves: Any, hyper: Any) -> Any:
        if failed or not leaves.x or not all(_in_place_ok(x, leaves, i) for i, x in enumerate(leaves.x)):
            return plain(gs, leaves, hyper)
        signature = (leaves.mu is None, leaves.m is None, *((x.shape, x.dtype, x.device) for x in leaves.x))
        device = leaves.x[0].device
        h = type(hyper)(*(None if v is None else _hyper_tensor(v, device) for v in hyper))
        args = [None if ts is None else [_at_least_1d(t) for t in ts] for ts in (leaves.x, gs, *leaves[1:])]
        with torch.no_grad():
            if signature in compiled:
                compiled[signature](*args, h)
                return leaves
            function = torch.compile(_own_code(update_all), dynamic=False)
            try:  # the first call compiles; without a C++ compiler Inductor cannot
                function(*args, h)
            except Exception as error:  # noqa: BLE001 - any compiler failure: the plain path
                warnings.warn(
                    f"polyprop.fast_step: torch.compile failed ({type(error).__name__}: "
                    f"{str(error)[:200]}); using the plain path",
                    RuntimeWarning,
                    stacklevel=4,
                )
                failed.append(True)
                return plain(gs, leaves, hyper)
            compiled[signature] = function
        return leaves

    apply.path = "torch.compile (in place)"  # type: ignore[attr-defined]
    return apply


def _own_code(function: Any) -> Any:
    """A copy of ``function`` with a code object of its own (same body, closure and globals)."""
    global _EXECUTORS_BUILT
    _EXECUTORS_BUILT += 1
    name = f"{function.__name__}_{_EXECUTORS_BUILT}"
    code = function.__code__.replace(co_name=name, co_qualname=name)
    return types.FunctionType(code, function.__globals__, name, function.__defaults__, function.__closure__)


_EXECUTORS_BUILT = 0


def _at_least_1d(tensor: torch.Tensor) -> torch.Tensor:
    """A 1-element view of a 0-d tensor (Inductor drops in-place writes to 0-d float64 inputs), else itself."""
    return tensor.view(1) if tensor.dim() == 0 else tensor


def _hyper_tensor(value: Any, device: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.to(device=device, dtype=torch.float64)
    return torch.tensor(float(value), dtype=torch.float64, device=device)


def _in_place_ok(x: torch.Tensor, leaves: Any, i: int) -> bool:
    """Plain float32/float64 tensors (not DTensors or other subclasses) on the first tensor's device.

    (Inductor computes float16 and bfloat16 in float32, which would change the
    rounding of every intermediate; those take the plain path.)
    """
    buffers = [x, leaves.nu[i]] + [s[i] for s in (leaves.mu, leaves.m) if s is not None]
    return x.dtype in (torch.float32, torch.float64) and all(
        type(b) in (torch.Tensor, torch.nn.Parameter) and b.device == leaves.x[0].device for b in buffers
    )
