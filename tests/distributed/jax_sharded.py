"""JAX: parameters and optimizer state sharded over 8 simulated CPU devices (FSDP style).

Run with ``XLA_FLAGS=--xla_force_host_platform_device_count=8 JAX_ENABLE_X64=1``.
A 1-D mesh ``("fsdp",)`` shards every parameter along its first axis divisible by
8 (else replicates it) and the batch along its rows; the state of
``polyprop.backends.jax.rmsprop`` is created by ``opt.init`` on the sharded
parameters, and one ``jax.jit``-ed train step (no sharding annotations) runs on
both layouts.  Prints the sharded run's difference from the single-device run,
whether every sharding was kept, and the bytes of optimizer state each device holds.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from common import LEARNING_RATE, batches, emit, initial_weights, max_rel_error
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import polyprop.backends.jax as polyprop_jax

DEVICES = 8
COLLECTIVES = ("all-gather", "all-reduce", "reduce-scatter", "all-to-all", "collective-permute")


def loss_fn(params, x, y):
    h = jnp.tanh(x @ params["w1"] + params["b1"])
    h = jnp.tanh(h @ params["w2"] + params["b2"])
    return jnp.mean((h @ params["w3"] + params["b3"] - y) ** 2)


def make_train_step(opt):
    @jax.jit
    def train_step(params, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    return train_step


def spec_for(shape) -> P:
    """Shard the first axis divisible by the device count; replicate small tensors."""
    for axis, size in enumerate(shape):
        if size % DEVICES == 0:
            return P(*([None] * axis), "fsdp")
    return P()


class Run(NamedTuple):
    params: dict[str, jax.Array]
    state: Any
    trajectory: list[dict[str, np.ndarray]]
    losses: list[float]
    first_shardings: dict[str, Any]


def train(opt, params, data, put_batch) -> Run:
    """STEPS steps from ``params``, each batch placed by ``put_batch``."""
    step = make_train_step(opt)
    state = opt.init(params)
    first = {key: leaf.sharding for key, leaf in state_leaves(state).items()}
    trajectory, losses = [], []
    for x, y in data:
        params, state, loss = step(params, state, *put_batch(x, y))
        trajectory.append(as_numpy(params))
        losses.append(float(loss))
    return Run(params, state, trajectory, losses, first)


def state_leaves(state) -> dict[str, jax.Array]:
    """The state's tensors by ``field.param``; the step count is left out."""
    return {f"{field}.{key}": leaf for field in ("nu", "mu", "momentum")
            for key, leaf in (getattr(state, field) or {}).items()}


def as_numpy(tree: dict[str, jax.Array]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in tree.items()}


def bytes_per_device(leaves) -> dict[str, int]:
    """Bytes of ``leaves`` each device holds (the sum of its addressable shards)."""
    held = {str(d): 0 for d in jax.devices()}
    for leaf in leaves:
        for shard in leaf.addressable_shards:
            held[str(shard.device)] += shard.data.nbytes
    return held


def holds_only_its_shard(leaf: jax.Array, spec: P) -> bool:
    """Each of the 8 devices holds one piece of ``leaf``, 1/8 along the axis ``spec`` shards."""
    names = tuple(spec) + (None,) * (leaf.ndim - len(spec))
    expected = tuple(n // DEVICES if name == "fsdp" else n for n, name in zip(leaf.shape, names))
    shards = leaf.addressable_shards
    return len(shards) == DEVICES and all(tuple(s.data.shape) == expected for s in shards)


def grads_like(params):
    return jax.tree_util.tree_map(jnp.ones_like, params)


def collectives(jitted, *args) -> list[str]:
    """The collective ops XLA compiled ``jitted(*args)`` into."""
    text = jitted.lower(*args).compile().as_text()
    return sorted(op for op in COLLECTIVES if op in text)


def main() -> None:
    assert jax.device_count() == DEVICES, jax.devices()
    assert jax.config.jax_enable_x64, "run with JAX_ENABLE_X64=1"
    weights, data = initial_weights("float64"), batches("float64")
    opt = polyprop_jax.rmsprop(LEARNING_RATE, decay=0.9, centered=True, momentum=0.9)

    one = jax.devices()[0]
    single = train(opt, jax.device_put(weights, one), data, lambda x, y: jax.device_put((x, y), one))

    mesh = Mesh(np.array(jax.devices()), ("fsdp",))
    specs = {k: spec_for(v.shape) for k, v in weights.items()}
    wanted = {k: NamedSharding(mesh, s) for k, s in specs.items()}
    rows = NamedSharding(mesh, P("fsdp"))
    run = train(opt, jax.device_put(weights, wanted), data, lambda x, y: jax.device_put((x, y), rows))

    params, state = run.params, run.state
    leaves = state_leaves(state)
    param_of = {key: key.split(".", 1)[1] for key in leaves}
    emit({
        "devices": jax.device_count(),
        "specs": {k: str(s) for k, s in specs.items()},
        "params_max_rel": max(max_rel_error(a, b) for a, b in zip(run.trajectory, single.trajectory)),
        "state_max_rel": max_rel_error(as_numpy(leaves), as_numpy(state_leaves(single.state))),
        "loss_max_rel": max_rel_error({"loss": run.losses}, {"loss": single.losses}),
        "params_sharding_kept": all(params[k].sharding == wanted[k] for k in params),
        "state_sharding_at_init": all(run.first_shardings[key] == wanted[param_of[key]] for key in leaves),
        "state_sharding_kept": all(leaves[key].sharding == wanted[param_of[key]] for key in leaves),
        "params_local": all(holds_only_its_shard(params[k], specs[k]) for k in params),
        "state_local": all(holds_only_its_shard(leaves[key], specs[param_of[key]]) for key in leaves),
        "count_replicated": bool(state.count.sharding.is_fully_replicated) and int(state.count) == len(data),
        # The optimizer is elementwise: on sharded grads and state it compiles to no
        # communication at all; the train step's collectives are the model's (FSDP).
        "update_collectives": collectives(jax.jit(opt.update), grads_like(params), state, params),
        "train_step_collectives": collectives(make_train_step(opt), params, state,
                                              *jax.device_put(data[0], rows)),
        "state_bytes_full": sum(leaf.nbytes for leaf in leaves.values()),
        "state_bytes_replicated": sum(leaf.nbytes for key, leaf in leaves.items() if specs[param_of[key]] == P()),
        "state_bytes_per_device": bytes_per_device(leaves.values()),
        "losses": [run.losses[0], run.losses[-1]],
    })


if __name__ == "__main__":
    main()
