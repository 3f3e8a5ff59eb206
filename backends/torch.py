"""PyTorch adapter: plain out-of-place ``torch`` ops on tensors of any device."""

from __future__ import annotations

import concurrent.futures
import functools
import os
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
    if x.dtype == torch.bfloat16:  # NumPy knows bfloat16 only through ml_dtypes: the bits, as they are
        return x.contiguous().view(torch.int16).numpy().view(_numpy_bfloat16()).copy()
    return np.array(x.numpy(), copy=True)


def from_numpy(array: np.ndarray) -> torch.Tensor:
    if array.dtype.name == "bfloat16":  # the bits, as they are (NaN payloads and signs kept)
        return torch.from_numpy(array.view(np.int16).copy(order="C")).view(torch.bfloat16)
    return torch.from_numpy(np.array(array, copy=True))


def memory_spans(ts: list[torch.Tensor]) -> list[tuple[Any, int, int] | None]:
    """For polyprop.validation.check_memory: ``(storage, start, end)``, the bytes each tensor spans in its storage.

    None for a tensor without a storage of its own to look at (sparse, a subclass wrapping others).
    """
    return [_memory_span(t) for t in ts]


def _memory_span(t: torch.Tensor) -> tuple[Any, int, int] | None:
    try:
        pointer = t.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError, TypeError, AttributeError):
        return None
    if not pointer:  # no memory (a meta tensor, an empty storage)
        return None
    buffer = (t.device, pointer)
    size = t.element_size()
    start = t.storage_offset() * size
    if t.numel() == 0:
        return buffer, start, start
    low = sum((n - 1) * s for n, s in zip(t.shape, t.stride()) if s < 0)
    high = sum((n - 1) * s for n, s in zip(t.shape, t.stride()) if s > 0)
    return buffer, start + low * size, start + (high + 1) * size


def shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two tensors of one storage whose byte ranges overlap share a byte.

    Contiguous tensors do (a range is then all bytes); strided CPU tensors are compared
    exactly as NumPy views of the same bytes; others count as sharing.
    """
    if a.is_contiguous() and b.is_contiguous():
        return True
    try:
        as_numpy = [torch.view_as_real(t) if t.is_complex() else t for t in (a, b)]
        views = [t.detach().view(_SAME_SIZE_INT[t.element_size()]).numpy() for t in as_numpy]
    except (KeyError, RuntimeError, TypeError):  # another device, or no integer view of this dtype
        return True
    return bool(np.shares_memory(views[0], views[1]))


_SAME_SIZE_INT = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


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
        from ..fast import executor
        from ..rmsprop import RMSPropState, run_step

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
            module = sys.modules[__name__]
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
        """No parameter or state tensor of group ``index`` shares memory with another tensor (or another group's parameter).

        Checked in full (polyprop.validation.shared_memory) on a group's first step and
        whenever its parameters with a gradient or their state tensors are other objects;
        otherwise only their identities are compared (a step stays as fast).  A gradient
        that later shares a parameter's memory, or a ``p.data`` replaced by a view, is not seen.
        """
        from ..validation import SHARED_MEMORY, shared_memory

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
        module = sys.modules[__name__]
        pair = shared_memory(tensors, writable, module.memory_spans, module.shares_memory)
        if pair is not None:
            first, second = sorted(pair)
            raise ValueError(f"{described[second]} and {described[first]} share memory: {SHARED_MEMORY}")
        checked[index] = (key, leaves)  # (holding the tensors: their ids stay theirs)

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


def _check_like_native(lr: Any, alpha: Any, eps: Any, weight_decay: Any, momentum: Any) -> None:
    """torch.optim.RMSprop's own checks and messages, then the ranges polyprop's step needs.

    torch accepts alpha >= 1, eps = 0 and momentum >= 1; polyprop's config does not
    (alpha = 1 freezes square_avg at 0, eps = 0 divides 0 by 0 where a gradient is 0).
    """
    if isinstance(lr, torch.Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    for label, value in (("learning rate", lr), ("epsilon value", eps), ("momentum value", momentum),
                         ("weight_decay value", weight_decay), ("alpha value", alpha)):
        if not 0.0 <= value:  # also refuses NaN
            raise ValueError(f"Invalid {label}: {value}")
    for name, value, within, allowed in (("alpha", alpha, alpha < 1, "< 1"), ("momentum", momentum, momentum < 1, "< 1"),
                                         ("eps", eps, eps > 0, "> 0")):
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

    return real(params), real(grads), state._replace(nu=real(state.nu), mu=real(state.mu), momentum=real(state.momentum))


def _write_back(buffer: torch.Tensor, value: torch.Tensor) -> None:
    if value is not buffer:
        (torch.view_as_real(buffer) if buffer.is_complex() and not value.is_complex() else buffer).copy_(value)


def _group_config(group: dict[str, Any]) -> Any:
    """The group's config; a scheduler's new lr builds one once (then it is looked up)."""
    lr = float(group["lr"]) if isinstance(group["lr"], torch.Tensor) else group["lr"]
    values = (lr, group["alpha"], group["eps"], group["weight_decay"], group["momentum"], group["centered"], group["maximize"])
    try:
        return _cached_config(*values)
    except TypeError:  # an unhashable value
        return _torch_config(*values)


def _torch_config(
    lr: Any, alpha: float, eps: float, weight_decay: float, momentum: float, centered: bool, maximize: bool
) -> Any:
    from ..presets import torch as torch_preset

    if isinstance(lr, torch.Tensor):
        lr = float(lr)
    return torch_preset(lr, alpha, eps, weight_decay, momentum, centered, maximize)


_cached_config = functools.lru_cache(maxsize=256)(_torch_config)



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
    """The fast path (polyprop.fast): ``torch.compile`` of the neutral update, in place, by chunks.

    The tensors (as 1-D views) go in chunks of :data:`COMPILE_CHUNK`; Inductor fuses
    each tensor's update into one loop (read x, g, nu (mu, m), write them back).  The
    sizes are symbolic (``dynamic=True``, no duck sizing, the last chunk padded with
    2-element dummies), so every chunk of a kind (dtype, device, one element or more)
    runs one compiled graph: 200 tensors of mixed sizes compile 2 graphs of 16
    tensors instead of one graph of 200 (measured cold: 21 s instead of 60 s; with
    Inductor's on-disk FX graph cache warm, about 10 s either way).  The per-step
    scalars enter as float64 0-d tensors, so a schedule never recompiles.
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
        device = leaves.x[0].device
        h = type(hyper)(*(None if v is None else _hyper_tensor(v, device) for v in hyper))
        args = [None if ts is None else [_flat_view(t) for t in ts] for ts in (leaves.x, gs, *leaves[1:])]
        with torch.no_grad():
            for done, chunk in enumerate(_chunks(args)):
                x = chunk[0][0]
                signature = (leaves.mu is None, leaves.m is None, len(chunk[0]), x.dim(), min(x.numel(), 2), x.dtype, x.device)
                if signature in compiled:
                    compiled[signature](*chunk, h)
                    continue
                function = torch.compile(_own_code(update_all), dynamic=True)
                try:  # the first call compiles; without a C++ compiler Inductor cannot
                    from torch.fx.experimental import _config as shape_config

                    # Without duck sizing, tensors of equal length in this chunk get sizes of
                    # their own, so the graph's guards also hold for the next chunks.
                    with shape_config.patch(use_duck_shape=False):
                        function(*chunk, h)
                except Exception as error:  # noqa: BLE001 - any compiler failure: the plain path
                    warnings.warn(
                        f"polyprop.fast_step: torch.compile failed ({type(error).__name__}: "
                        f"{str(error)[:200]}); using the plain path",
                        RuntimeWarning,
                        stacklevel=4,
                    )
                    failed.append(True)
                    if not done:
                        return plain(gs, leaves, hyper)
                    _plain_in_place(plain, chunk, hyper)
                    continue
                compiled[signature] = function
        return leaves

    apply.path = "torch.compile (in place)"  # type: ignore[attr-defined]
    return apply


def _chunks(args: list[Any]) -> list[list[Any]]:
    """``(xs, gs, nus, mus, ms)`` cut into chunks of :data:`COMPILE_CHUNK` tensors of one kind.

    A kind is (dtype, device, dimensions, 1 element or not): Dynamo specializes sizes
    0 and 1, so such tensors get chunks of their own and every chunk of a kind, with
    its sizes symbolic, is one compiled graph.
    """
    kinds: dict[Any, list[int]] = {}
    for i, x in enumerate(args[0]):
        kinds.setdefault((x.dtype, x.device, x.dim(), min(x.numel(), 2)), []).append(i)
    chunks = []
    for members in kinds.values():
        for start in range(0, len(members), COMPILE_CHUNK):
            picked = members[start:start + COMPILE_CHUNK]
            chunk = [None if ts is None else [ts[i] for i in picked] for ts in args]
            if len(members) > COMPILE_CHUNK and len(picked) < COMPILE_CHUNK:  # padded: one graph per kind
                x = chunk[0][0]
                pad = COMPILE_CHUNK - len(picked)
                chunk = [None if ts is None else ts + [x.new_zeros(2 if x.numel() > 1 else 1) for _ in range(pad)]
                         for ts in chunk]
            chunks.append(chunk)
    return chunks


def _plain_in_place(plain: Any, chunk: list[Any], hyper: Any) -> None:
    """The plain path on one chunk, its results copied into the chunk's buffers."""
    from ..rmsprop import Leaves

    xs, gs, nus, mus, ms = chunk
    new = plain(gs, Leaves(xs, nus, mus, ms), hyper)
    for buffers, values in zip((xs, nus, mus, ms), new):
        for buffer, value in zip(buffers or (), values or ()):
            buffer.copy_(value)


def _own_code(function: Any) -> Any:
    """A copy of ``function`` with a code object of its own (same body, closure and globals)."""
    global _EXECUTORS_BUILT
    _EXECUTORS_BUILT += 1
    name = f"{function.__name__}_{_EXECUTORS_BUILT}"
    code = function.__code__.replace(co_name=name, co_qualname=name)
    return types.FunctionType(code, function.__globals__, name, function.__defaults__, function.__closure__)


_EXECUTORS_BUILT = 0


COMPILE_CHUNK = 16
"""Tensors per compiled graph.  Every chunk of a kind shares one graph (its sizes symbolic),
so compiling costs about one chunk's worth, not one graph per shape or per tensor."""


def _flat_view(tensor: torch.Tensor) -> torch.Tensor:
    """A contiguous tensor as a 1-D view (one size symbol each, so equal-length tensors share a kernel)."""
    return tensor.view(-1) if tensor.is_contiguous() else _at_least_1d(tensor)


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


# --------------------------------------------------------------------------------------
# The drop-in's default path: the traced update as torch's own fused ops, in place.

_ONE = torch.tensor(1.0)

GRAIN = 32768
"""torch's ``at::internal::GRAIN_SIZE``: an elementwise op on fewer elements never forks threads."""

BLOCK_BYTES = (1 << 17) - 256
"""Bytes per block at most: each op on a block then runs on one thread (fewer than :data:`GRAIN`
elements), and a scratch block is under glibc's 128 KiB mmap threshold (no page faults)."""

WHOLE_BYTES = 1 << 24
"""A CPU tensor of more than one block and at most this many bytes runs whole, as torch's own
ops do (its buffers stay in the L3 cache between passes, and each op uses torch's threads);
a larger one runs block by block."""

JOB = 1 << 18
"""Elements per job at most (or one block): one ``torch._foreach_*`` call per fused step runs over a
job's blocks, whose buffers (float32: 1 MiB each) stay in cache from one call to the next.  A job's
temporaries are at most this many elements (one per scratch value)."""

MAX_WORKERS = 4
"""Threads sharing a step's jobs at most (and never more than ``torch.get_num_threads()``)."""


def inplace_step(
    params: Any, grads: Any, state: Any, config: Any, ops: Any = None, check_memory: bool = True
) -> tuple[Any, Any]:
    """:func:`polyprop.step` run by :func:`inplace_update`; **donates** ``params`` and ``state`` (as fast_step).

    Same checks, skips and scalars as ``step`` (it shares ``run_step``); only the
    per-tensor work differs.  A config that cannot be traced takes the plain path.
    ``check_memory=False``: the caller checked that no tensors share memory (the drop-in).
    """
    from ..rmsprop import apply_each, run_step

    module = sys.modules[__name__]
    apply = inplace_update(config)
    if apply is None:
        apply = functools.partial(apply_each, module, config)
    return run_step(params, grads, state, config, module, apply, check_memory)


_INPLACE: dict[Any, Any] = {}


def inplace_update(config: Any) -> Any:
    """The in-place ``Apply`` for ``config`` (see :data:`polyprop.rmsprop.Apply`), or None if it has no traced form.

    :func:`polyprop.rmsprop.update_leaf` is traced (:func:`polyprop.expression.trace`)
    and fused (:func:`polyprop.expression.fuse`) into torch's own ops: ``p + s*a*b`` is
    ``addcmul_``, ``p - s*(a/b)`` is ``addcdiv_(value=-s)``, ``p - s*b`` is
    ``add_(b, alpha=-s)``, ``decay*p + keep*b`` is ``lerp_(b, keep)``; for the torch
    preset these are ``torch.optim.RMSprop``'s operations in its order, so the result
    is the native's to the bit.  Large CPU tensors run block by block (scratch in
    cache, each buffer read and written once per step, the blocks shared by up to
    :data:`MAX_WORKERS` threads); small ones and other devices run as
    ``torch._foreach_*`` calls, many tensors per call.  Nothing is compiled.
    """
    key = config.replace(learning_rate=1.0, decay=0.5)
    try:
        cached = _INPLACE.get(key)
    except TypeError:  # an unhashable field: build it each time
        return _build_inplace(config)
    if cached is None and key not in _INPLACE:
        cached = _INPLACE[key] = _build_inplace(config)
    return cached


def _build_inplace(config: Any) -> Any:
    from ..expression import Untraceable, fuse, trace
    from ..rmsprop import Leaves, apply_each, update_leaf

    def update(leaf_ops: Any, *leaf: Any) -> Any:
        return update_leaf(leaf_ops, config, *leaf)

    try:
        program = trace(update, config.centered, config.momentum > 0, config.bias_correction)
        fused = fuse(program)
    except Untraceable:
        return None
    constants = program.constants
    module = sys.modules[__name__]
    lerp = any(step[0] == "lerp" for step in fused.steps)

    def apply(gs: list[Any], leaves: Any, hyper: Any) -> Any:
        if lerp and hyper.keep != 1 - hyper.decay:  # lerp stands for decay*p + keep*b only then
            return apply_each(module, config, gs, leaves, hyper)
        values = {k: float(v) for k, v in (*constants.items(), *hyper._asdict().items()) if v is not None}
        unused = [None] * len(gs)
        buffers, rest = [], []
        for i, bufs in enumerate(zip(leaves.x, gs, leaves.nu, leaves.mu or unused, leaves.m or unused)):
            if _inplace_ok(*bufs):
                buffers.append(bufs)
            else:
                rest.append(i)
        _run_inplace(fused, values, buffers)
        if not rest:
            return leaves

        def pick(ts: Any) -> Any:
            return None if ts is None else [ts[i] for i in rest]

        plain = apply_each(module, config, [gs[i] for i in rest], Leaves(*(pick(ts) for ts in leaves)), hyper)
        out = [list(ts) if ts is not None else None for ts in leaves]
        for j, i in enumerate(rest):
            for k, ts in enumerate(plain):
                if ts is not None:
                    out[k][i] = ts[j]
        return Leaves(*out)

    apply.path = "torch fused ops in place (blocks, foreach)"  # type: ignore[attr-defined]
    return apply


def _inplace_ok(x: Any, g: Any, nu: Any, mu: Any, m: Any) -> bool:
    """Strided tensors, not subclasses (run_step checked shapes and dtypes; torch refuses mixed devices)."""
    return (
        type(x) in _DENSE and type(g) in _DENSE and type(nu) in _DENSE
        and (mu is None or type(mu) in _DENSE) and (m is None or type(m) in _DENSE)
        and x.layout is torch.strided and g.layout is torch.strided
    )


_DENSE = (torch.Tensor, torch.nn.Parameter)

_NAMES = {"add_alpha": "add", "add_s": "add", "sub_s": "sub", "mul_s": "mul", "div_s": "div"}
"""The torch op of each fused form (see polyprop.expression.FORMS) not named after one."""


def _foreach_call(form: str, out: int, args: tuple[int, ...], s: Any) -> Any:
    """Slots of tensor lists ``S`` -> the same with ``torch._foreach_*`` (in place where ``out`` is the first operand)."""
    in_place = out == args[0]
    op = getattr(torch, f"_foreach_{_NAMES.get(form, form)}{'_' if in_place else ''}")
    kwargs = {"alpha": s} if form == "add_alpha" else {"value": s} if form in ("addcmul", "addcdiv") else {}
    scalar = () if kwargs or form == "sqrt" or form in ("add", "sub", "mul", "div") else (s,)
    if form in ("add_s", "sub_s") and isinstance(s, torch.Tensor):
        kwargs = {"alpha": 1.0}  # the same sum, and torch's CPU foreach takes a faster path with it

    def call(S: list[Any]) -> None:
        result = op(*[S[i] for i in args], *scalar, **kwargs)
        if in_place:
            return
        if out < 5:  # an output's own buffer, written by a form that does not update it in place
            torch._foreach_copy_(S[out], result)
        else:
            S[out] = result

    return call


def _calls(fused: Any, values: dict[str, float], dtype: Any, cpu: bool) -> list[Any]:
    """One bound foreach call per fused step, its scalar resolved for this step.

    On CPU the scalar of an ``*_s`` form is a 0-d tensor: torch reads it as it reads a
    Python number (cast to the op's compute type) and dispatches it faster.
    """
    compute = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
    calls = []
    for form, out, args, scalars in fused.steps:
        s: Any = None
        for name, factor in scalars:
            s = factor * (1.0 if name is None else values[name])
        if form.endswith("_s") and cpu:
            s = torch.tensor(s, dtype=compute)
        calls.append(_foreach_call(form, out, args, s))
    return calls


def _run_inplace(fused: Any, values: dict[str, float], buffers: list[tuple[Any, ...]]) -> None:
    """The fused steps on every ``(x, g, nu, mu, m)``, as foreach calls over jobs of blocks.

    On CPU each contiguous tensor is cut into blocks (views) of fewer than :data:`GRAIN`
    elements, consecutive blocks make jobs of up to :data:`JOB` elements, and up to
    :data:`MAX_WORKERS` threads take the jobs in turn.  Other tensors (other devices,
    not contiguous) run whole, a list per device and dtype, in the calling thread.
    """
    jobs: list[tuple[list[Any], list[tuple[Any, ...]]]] = []  # (calls, blocks: (x, g, nu, mu, m) views)
    whole: dict[Any, list[tuple[Any, ...]]] = {}
    calls_of: dict[Any, list[Any]] = {}
    job: list[tuple[Any, ...]] = []
    size = 0
    threads = min(torch.get_num_threads(), MAX_WORKERS)
    whole_bytes = WHOLE_BYTES if threads < 2 else 0  # with threads, all in blocks: no op forks threads
    for bufs in buffers:
        x = bufs[0]
        n, block = x.numel(), _block(x)
        if (
            not x.is_cpu or x.dtype not in _BLOCKED or (n > block and n * x.element_size() <= whole_bytes)
            or not all(b is None or b.is_contiguous() for b in bufs)
        ):
            whole.setdefault((x.device, x.dtype), []).append(bufs)
            continue
        if x.dtype not in calls_of:
            calls_of[x.dtype] = _calls(fused, values, x.dtype, True)
        calls = calls_of[x.dtype]
        pieces = [bufs] if n <= block else zip(*(_blocks(b, block, n) for b in bufs))
        for piece in pieces:
            m = piece[0].numel()
            if job and (size + m > JOB or calls is not jobs[-1][0]):
                job, size = [], 0
            if not job:
                jobs.append((calls, job))
            job.append(piece)
            size += m
    for (device, dtype), members in whole.items():  # in this thread, torch's ops using torch's threads
        calls = _calls(fused, values, dtype, device.type == "cpu")
        for batch in _batches(members) if device.type == "cpu" else [members]:
            _run_job(fused.scratch, calls, batch)
    workers = min(threads, len(jobs))
    if workers < 2:
        for calls, members in jobs:
            _run_job(fused.scratch, calls, members)
        return
    if not _pool or _pool[0][1] < workers - 1:
        _pool[:] = [(concurrent.futures.ThreadPoolExecutor(workers - 1, thread_name_prefix="polyprop"), workers - 1)]
    queue = iter(jobs)  # each thread takes the next job (next() on a list iterator is atomic)
    others = [_pool[0][0].submit(_run_jobs, fused.scratch, queue) for _ in range(workers - 1)]
    _run_jobs(fused.scratch, queue)
    for other in others:
        other.result()


_pool: list[tuple[concurrent.futures.ThreadPoolExecutor, int]] = []
os.register_at_fork(after_in_child=_pool.clear)  # a forked child has none of the pool's threads: make a new one

_BLOCKED = (torch.float32, torch.float64)
"""Dtypes whose CPU kernels round an element alike in the vectorized loop and in its scalar tail
(checked for every fused form), so cutting a tensor into blocks changes no bit.  float16 and
bfloat16 kernels do not (the tail of ``add(alpha=)`` rounds twice): those tensors run whole."""


def _batches(members: list[tuple[Any, ...]]) -> list[list[tuple[Any, ...]]]:
    """Consecutive tensors, at most :data:`JOB` elements or one tensor per batch (a batch's temporaries:
    as torch's single-tensor loop allocates for its largest tensor, or at most JOB elements)."""
    batches: list[list[tuple[Any, ...]]] = [[]]
    size = 0
    for bufs in members:
        n = bufs[0].numel()
        if batches[-1] and size + n > JOB:
            batches.append([])
            size = 0
        batches[-1].append(bufs)
        size += n
    return batches


def _run_jobs(scratch: int, queue: Any) -> None:
    """Jobs from ``queue`` until it is empty (grad mode is per thread: off here too)."""
    with torch.no_grad():
        for calls, members in queue:
            _run_job(scratch, calls, members)


def _run_job(scratch: int, calls: list[Any], members: list[tuple[Any, ...]]) -> None:
    """The calls on lists of the members' x, g, nu, mu, m (and scratch lists)."""
    slots = [None if members[0][k] is None else [b[k] for b in members] for k in range(5)] + [None] * scratch
    for call in calls:
        call(slots)


def _block(x: Any) -> int:
    """Elements per block: at most :data:`BLOCK_BYTES`, a multiple of 64 below :data:`GRAIN`."""
    return min(GRAIN - 64, BLOCK_BYTES // x.element_size() // 64 * 64)


def _blocks(tensor: Any, block: int, n: int) -> tuple[Any, ...]:
    """Views of ``tensor``'s ``n`` elements, ``block`` at a time (the last one shorter); Nones for None."""
    if tensor is None:
        return (None,) * -(-n // block)
    flat = tensor.view(-1)
    whole = n // block * block
    full = flat[:whole].view(-1, block).unbind()
    return full if whole == n else (*full, flat[whole:])


