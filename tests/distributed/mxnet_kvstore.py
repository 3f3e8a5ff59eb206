"""MXNet: a Gluon Trainer over 2 CPU contexts with a kvstore, against one context.

``python mxnet_kvstore.py`` trains the same network, in float64 and in float32,
with ``Trainer(params, 'polyprop_rmsprop', ...)`` (centered: state ``(n, g,
delta)``): on ``mx.cpu(0)`` alone with each full batch, then data-parallel on
``[mx.cpu(0), mx.cpu(1)]`` with half of each batch per context, in two kvstore
set-ups: ``'local'`` updating on the kvstore (one updater, its state in the
kvstore) and ``'device'`` updating on each context (one updater and state per
context).  Every loss is the sum of squared errors and ``trainer.step(BATCH)``
divides by the global batch, so all runs follow the mean-over-the-batch gradient.
"""

from __future__ import annotations

import itertools

import numpy as np
from common import BATCH, LEARNING_RATE, SIZES, batches, emit, initial_weights, max_rel_error

# isort: off
import polyprop.backends.mxnet  # noqa: F401  (before mxnet: restores numpy-2 names, registers 'polyprop_rmsprop')
import mxnet as mx

# isort: on

CONTEXTS = [mx.cpu(0), mx.cpu(1)]
SETUPS = {"local_update_on_kvstore": ("local", True), "device_update_on_contexts": ("device", False)}


def build_net(contexts, dtype: str) -> mx.gluon.nn.HybridSequential:
    """The common network as Gluon Dense layers on ``contexts``, holding the common weights."""
    weights = initial_weights(dtype)
    net = mx.gluon.nn.HybridSequential()
    for i, (n_in, n_out) in enumerate(itertools.pairwise(SIZES), start=1):
        net.add(mx.gluon.nn.Dense(n_out, in_units=n_in, activation="tanh" if i < len(SIZES) - 1 else None,
                                  dtype=dtype))
    net.initialize(ctx=contexts)
    for i, layer in enumerate(net, start=1):
        layer.weight.set_data(mx.nd.array(weights[f"w{i}"].T, dtype=dtype))
        layer.bias.set_data(mx.nd.array(weights[f"b{i}"], dtype=dtype))
    return net


def train(contexts, dtype: str, kvstore: str, update_on_kvstore: bool | None) -> dict:
    """STEPS steps, each context on its equal slice of every batch."""
    net = build_net(contexts, dtype)
    trainer = mx.gluon.Trainer(
        parameters(net), "polyprop_rmsprop",
        {"learning_rate": LEARNING_RATE, "gamma1": 0.9, "gamma2": 0.9, "centered": True},
        kvstore=kvstore, update_on_kvstore=update_on_kvstore,
    )
    trajectory = []
    for x, y in batches(dtype):
        xs = mx.gluon.utils.split_and_load(mx.nd.array(x, dtype=dtype), contexts)
        ys = mx.gluon.utils.split_and_load(mx.nd.array(y, dtype=dtype), contexts)
        with mx.autograd.record():
            losses = [((net(xi) - yi) ** 2).sum() for xi, yi in zip(xs, ys)]
        mx.autograd.backward(losses)
        trainer.step(BATCH)
        trajectory.append(weights_of(net, contexts))
    return {"trajectory": trajectory, "trainer": trainer, "net": net}


def parameters(net) -> list:
    """The parameters layer by layer (``collect_params`` sorts names, and Gluon's names differ per net)."""
    return [p for layer in net for p in (layer.weight, layer.bias)]


def weights_of(net, contexts) -> dict[str, np.ndarray]:
    """Every parameter (by its position, as the trainer indexes it) on every context."""
    return {f"{i}@{ctx}": p.data(ctx).asnumpy() for i, p in enumerate(parameters(net)) for ctx in contexts}


def updaters(trainer) -> list:
    """The updaters that hold optimizer state: the kvstore's, or one per context."""
    if trainer._update_on_kvstore:
        return [trainer._kvstore._updater]
    return list(trainer._updaters)


def state_arrays(trainer) -> list[mx.nd.NDArray]:
    """Every optimizer state array (``n``, ``g``, ``delta`` of each parameter) in every updater."""
    arrays = []
    for updater in updaters(trainer):
        for state in updater.states.values():
            arrays += list(state) if isinstance(state, (tuple, list)) else [state]
    return arrays


def bytes_per_context(arrays) -> dict[str, int]:
    held: dict[str, int] = {}
    for a in arrays:
        held[str(a.context)] = held.get(str(a.context), 0) + a.size * np.dtype(a.dtype).itemsize
    return held


def state_by_name(trainer) -> dict[str, np.ndarray]:
    """Every updater's state as ``slot.parameter index@updater``, for comparing runs."""
    return {f"{slot}.{index}@{u}": a.asnumpy() for u, updater in enumerate(updaters(trainer))
            for index, state in updater.states.items() for slot, a in zip(("n", "g", "delta"), state)}


def without_place(named: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k.split("@")[0]: v for k, v in named.items()}


def trajectory_difference(run: dict, single: dict) -> float:
    """Worst relative difference of every context's copy from the single-context run, over all steps."""
    worst = 0.0
    for got, ref in zip(run["trajectory"], single["trajectory"]):
        ref = without_place(ref)
        worst = max(worst, max_rel_error(got, {k: ref[k.split("@")[0]] for k in got}))
    return worst


def state_difference(trainer, single_trainer) -> float:
    """Worst relative difference of every updater's state from the single-context run's."""
    ref = without_place(state_by_name(single_trainer))
    got = state_by_name(trainer)
    return max_rel_error(got, {k: ref[k.split("@")[0]] for k in got})


def run_dtype(dtype: str) -> tuple[dict, dict]:
    """The single-context run and each kvstore set-up's differences from it, in ``dtype``."""
    single = train(CONTEXTS[:1], dtype, "local", None)
    result = {"single": {"state_bytes": bytes_per_context(state_arrays(single["trainer"])),
                         "updaters": len(updaters(single["trainer"]))}}
    for name, (kvstore, on_kvstore) in SETUPS.items():
        run = train(CONTEXTS, dtype, kvstore, on_kvstore)
        trainer = run["trainer"]
        arrays = state_arrays(trainer)
        result[name] = {
            "kvstore": trainer._kvstore.type if trainer._kvstore else None,
            "update_on_kvstore": bool(trainer._update_on_kvstore),
            "params_max_rel": trajectory_difference(run, single),
            "state_max_rel": state_difference(trainer, single["trainer"]),
            "updaters": len(updaters(trainer)),
            "context_updater_states": sum(len(u.states) for u in trainer._updaters),
            "state_bytes_per_context": bytes_per_context(arrays),
            "state_dtype": sorted({np.dtype(a.dtype).name for a in arrays}),
        }
    return single, result


def main() -> None:
    single64, result64 = run_dtype("float64")
    single32, result32 = run_dtype("float32")
    # float32's own rounding on this problem: the single float32 run against the float64 one.
    result32["single"]["params_max_rel_vs_float64"] = trajectory_difference(single32, single64)
    emit({"float64": result64, "float32": result32})


if __name__ == "__main__":
    main()
