"""PyTorch: DistributedDataParallel and FSDP2 over 2 gloo processes, against one process.

``python torch_ddp.py`` trains the same float64 network three ways with
``polyprop.backends.torch.RMSprop`` (centered, with momentum): in this process
on each full global batch; then in 2 spawned processes, each on half of each
batch, once under DDP (gradients averaged, so the single run's loss is the mean
over the full batch) and once under FSDP2 (``fully_shard``: parameters,
gradients and optimizer state are DTensors sharded along dim 0).  Prints the
distributed runs' differences from the single run and the bytes of optimizer
state each rank holds.
"""

from __future__ import annotations

import datetime
import itertools
import os
import traceback

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from common import BATCH, LEARNING_RATE, SIZES, batches, emit, free_port, initial_weights, max_rel_error

from polyprop.backends.torch import RMSprop

WORLD = 2
STATE_KEYS = ("square_avg", "grad_avg", "momentum_buffer")


def build_model() -> torch.nn.Sequential:
    """The common network as float64 torch layers holding the common initial weights."""
    weights = initial_weights("float64")
    layers: list[torch.nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(SIZES), start=1):
        linear = torch.nn.Linear(n_in, n_out, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(weights[f"w{i}"].T.copy()))
            linear.bias.copy_(torch.from_numpy(weights[f"b{i}"]))
        layers += [linear, torch.nn.Tanh()]
    return torch.nn.Sequential(*layers[:-1])


def full(t: torch.Tensor) -> np.ndarray:
    """The whole tensor as NumPy (a DTensor's shards gathered)."""
    t = t.full_tensor() if hasattr(t, "full_tensor") else t
    return t.detach().numpy().copy()


def local_bytes(t: torch.Tensor) -> int:
    """Bytes of ``t`` this process holds (a DTensor: its local shard only)."""
    t = t.to_local() if hasattr(t, "to_local") else t
    return t.numel() * t.element_size()


def train(model: torch.nn.Module, params: torch.nn.Module, rows: slice) -> dict:
    """STEPS steps of ``model`` on ``rows`` of each global batch; ``params`` names the weights.

    Returns the parameters after every step, the losses, the final optimizer state
    (gathered) and the bytes of optimizer state held here.
    """
    opt = RMSprop(model.parameters(), lr=LEARNING_RATE, alpha=0.9, momentum=0.5, centered=True)
    trajectory, losses = [], []
    for x, y in batches("float64"):
        x, y = torch.from_numpy(x[rows]), torch.from_numpy(y[rows])
        opt.zero_grad()
        loss = torch.mean((model(x) - y) ** 2)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        trajectory.append({name: full(p) for name, p in params.named_parameters()})
    state = {name: opt.state[p] for name, p in params.named_parameters()}
    leaves = {f"{key}.{name}": s[key] for name, s in state.items() for key in STATE_KEYS}
    return {
        "trajectory": trajectory,
        "losses": losses,
        "state": {k: full(v) for k, v in leaves.items()},
        "state_type": sorted({type(v).__name__ for v in leaves.values()}),
        "param_type": sorted({type(p).__name__ for p in params.parameters()}),
        "state_bytes_here": sum(local_bytes(v) for v in leaves.values()),
        "state_placed_like_params": all(
            getattr(opt.state[p][key], "placements", None) == getattr(p, "placements", None)
            for p in params.parameters() for key in STATE_KEYS
        ),
    }


def ddp(rank: int) -> dict:
    from torch.nn.parallel import DistributedDataParallel

    model = DistributedDataParallel(build_model())
    return train(model, model.module, half_of_batch(rank))


def fsdp2(rank: int) -> dict:
    from torch.distributed.fsdp import fully_shard

    model = build_model()
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer)
    fully_shard(model)
    return train(model, model, half_of_batch(rank))


def half_of_batch(rank: int) -> slice:
    share = BATCH // WORLD
    return slice(rank * share, (rank + 1) * share)


def rank_main(rank: int, port: int, queue) -> None:
    """One process of the group: DDP then FSDP2; each result (or error) goes to ``queue``."""
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD, timeout=datetime.timedelta(seconds=120))
    try:
        for engine in (ddp, fsdp2):
            try:
                queue.put((engine.__name__, rank, engine(rank)))
            except Exception as error:  # sent to the parent first, then raised to end this rank
                queue.put((engine.__name__, rank, {"error": f"{type(error).__name__}: {error}",
                                                   "traceback": traceback.format_exc()}))
                raise
    finally:
        dist.destroy_process_group()


def compare(by_rank: dict, single: dict) -> dict:
    """The ranks' worst relative differences from the single-process run.

    Each rank's loss is the mean over its half batch, so the mean of the ranks'
    losses is compared with the single run's loss over the full batch.
    """
    errors = {rank: run["error"] for rank, run in by_rank.items() if "error" in run}
    if errors or len(by_rank) < WORLD:
        return {"error": errors or f"only ranks {sorted(by_rank)} reported",
                "traceback": [run.get("traceback") for run in by_rank.values()]}
    runs = [by_rank[rank] for rank in range(WORLD)]
    mean_losses = np.mean([run["losses"] for run in runs], axis=0)
    return {
        "params_max_rel": max(max_rel_error(a, b) for run in runs
                              for a, b in zip(run["trajectory"], single["trajectory"])),
        "state_max_rel": max(max_rel_error(run["state"], single["state"]) for run in runs),
        "loss_max_rel": max_rel_error({"loss": mean_losses}, {"loss": single["losses"]}),
        "param_type": runs[0]["param_type"],
        "state_type": runs[0]["state_type"],
        "state_placed_like_params": all(run["state_placed_like_params"] for run in runs),
        "state_bytes_per_rank": [run["state_bytes_here"] for run in runs],
    }


def start_ranks(queue):
    """Spawn the WORLD ranks; they report to ``queue``."""
    return mp.start_processes(rank_main, args=(free_port(), queue), nprocs=WORLD, join=False,
                              start_method="spawn")


def collect(ranks, queue) -> dict:
    """The ranks' results by engine and rank, once they have all ended (or one failed)."""
    results: dict = {"ddp": {}, "fsdp2": {}}
    try:
        for _ in range(2 * WORLD):
            engine, rank, result = queue.get()
            results[engine][rank] = result
            if "error" in result:
                break
        while not ranks.join():
            pass
    except Exception as error:  # a failed rank: its error was sent first
        results["join_error"] = str(error).splitlines()[0]
    return results


def main() -> None:
    torch.set_num_threads(1)
    queue = mp.get_context("spawn").SimpleQueue()
    ranks = start_ranks(queue)
    model = build_model()
    single = train(model, model, slice(None))  # while the ranks start
    results = collect(ranks, queue)
    emit({
        "world": WORLD,
        "ddp": compare(results["ddp"], single),
        "fsdp2": compare(results["fsdp2"], single),
        "join_error": results.get("join_error"),
        "single": {"state_bytes": sum(v.nbytes for v in single["state"].values()),
                   "final_loss": single["losses"][-1]},
    })


if __name__ == "__main__":
    main()
