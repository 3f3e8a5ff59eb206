"""Scaling out: polyprop's drop-ins on each framework's own distributed engine, on CPUs.

Each engine needs its devices set up before the framework starts (JAX's
simulated devices, TensorFlow's logical CPUs) or its own processes (torch.distributed),
so each case runs a worker script from ``tests/distributed/`` in a subprocess.
The worker trains the same small float64 network (``distributed/common.py``:
16-32-8-1, tanh, 30 steps, global batch 32, RMSProp centered with momentum) on one
device and on the engine, from the same weights and batches, and prints one
``RESULT {json}`` line with the differences and the optimizer-state bytes per device.

Tolerances, relative to each tensor's largest magnitude, over the whole trajectory:
float64 1e-12 -- the distributed gradient is the same mean summed in another order
(a few ulps, 1e-16), which 30 RMSProp steps keep near 1e-14 (measured up to 7e-14).
float32 (MXNet only) 1e-4 -- the same reordering at float32's 6e-8 per sum; measured
6e-6 (parameters) and 1.2e-5 (state), below what float32 rounding alone does to this
run (the float32 single-context run is 2.6e-5 from the float64 one); 1e-4 keeps a
margin of about 8 over the state's and still fails a rank that steps on its own
half batch or gradients summed instead of averaged (RMSProp's step is nearly
scale-free, but ``nu`` would be 4 times as large: the state is compared too).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from conftest import require_backend

WORKERS = pathlib.Path(__file__).resolve().parent / "distributed"
TIMEOUT = 300
FLOAT64 = 1e-12
FLOAT32 = 1e-4
MEASURED: dict[str, dict] = {}
"""Per engine: max differences and state bytes per device (printed by the last test)."""


def run_worker(script: str, env: dict[str, str] | None = None) -> dict:
    """Run ``distributed/<script>`` in a fresh interpreter; the JSON of its RESULT line."""
    proc = subprocess.run(
        [sys.executable, str(WORKERS / script)],
        cwd=WORKERS,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    failure = f"{script} exited {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-6000:]}"
    assert proc.returncode == 0, failure
    assert lines, failure
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture(scope="module")
def torch_result():
    require_backend("torch")
    return run_worker("torch_ddp.py")


@pytest.fixture(scope="module")
def mxnet_result():
    require_backend("mxnet")
    return run_worker("mxnet_kvstore.py")


def test_jax_params_and_state_stay_sharded_over_8_devices():
    require_backend("jax")
    pytest.importorskip("optax", reason="optax comes with polyprop[jax]")
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=8".strip()
    r = run_worker("jax_sharded.py", {"XLA_FLAGS": flags, "JAX_ENABLE_X64": "1"})
    assert r["devices"] == 8
    assert r["params_max_rel"] <= FLOAT64, r
    assert r["state_max_rel"] <= FLOAT64, r
    assert r["loss_max_rel"] <= FLOAT64, r
    # The jitted step gathers nothing back: every output keeps the input sharding and
    # each device holds only its 1/8 of every sharded parameter and state tensor.
    for key in ("params_sharding_kept", "state_sharding_at_init", "state_sharding_kept",
                "params_local", "state_local", "count_replicated"):
        assert r[key] is True, (key, r)
    assert r["update_collectives"] == [], r  # the optimizer itself never communicates
    assert "all-gather" in r["train_step_collectives"], r  # (so the probe does find them)
    sharded = r["state_bytes_full"] - r["state_bytes_replicated"]
    assert set(r["state_bytes_per_device"].values()) == {sharded // 8 + r["state_bytes_replicated"]}, r
    assert max(r["state_bytes_per_device"].values()) < r["state_bytes_full"] / 7, r
    MEASURED["jax"] = r


def test_torch_ddp_two_processes_match_one_process(torch_result):
    r = torch_result["ddp"]
    assert "error" not in r, r
    assert r["params_max_rel"] <= FLOAT64, r
    assert r["state_max_rel"] <= FLOAT64, r
    assert r["loss_max_rel"] <= FLOAT64, r  # mean of the ranks' half-batch losses = full-batch loss
    assert r["param_type"] == ["Parameter"], r
    assert r["state_type"] == ["Tensor"], r
    assert r["state_bytes_per_rank"] == [torch_result["single"]["state_bytes"]] * 2, r  # replicated
    MEASURED["torch DDP"] = r


def test_torch_fsdp2_shards_state_as_dtensors(torch_result):
    r = torch_result["fsdp2"]
    assert "error" not in r, r
    assert r["param_type"] == ["DTensor"], r
    assert r["state_type"] == ["DTensor"], r
    assert r["state_placed_like_params"] is True, r
    assert r["params_max_rel"] <= FLOAT64, r
    assert r["state_max_rel"] <= FLOAT64, r
    assert r["loss_max_rel"] <= FLOAT64, r
    full = torch_result["single"]["state_bytes"]
    assert sum(r["state_bytes_per_rank"]) == full, r
    assert max(r["state_bytes_per_rank"]) < 0.52 * full, r  # about half each (uneven shards of tiny tensors)
    MEASURED["torch FSDP2"] = r


def test_tensorflow_mirrored_strategy_fit_matches_one_device():
    require_backend("tensorflow")
    r = run_worker("tf_mirrored.py")
    assert r["replicas"] == 2, r
    assert r["steps"] == [30, 30], r
    assert r["state_dtype"] == ["float64"], r
    assert r["params_max_rel"] <= FLOAT64, r
    assert r["state_max_rel"] <= FLOAT64, r
    assert r["loss_max_rel"] <= FLOAT64, r
    assert r["state_bytes_per_device"] == {"CPU:0": r["state_bytes_single"], "CPU:1": r["state_bytes_single"]}, r
    MEASURED["tensorflow Mirrored"] = r


@pytest.mark.parametrize("setup", ["local_update_on_kvstore", "device_update_on_contexts"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_mxnet_trainer_on_two_contexts_matches_one(mxnet_result, dtype, setup):
    result = mxnet_result[dtype]
    r, single = result[setup], result["single"]
    tolerance = FLOAT64 if dtype == "float64" else FLOAT32
    assert r["params_max_rel"] <= tolerance, r
    assert r["state_max_rel"] <= tolerance, r
    assert r["state_dtype"] == [dtype], r
    full = sum(single["state_bytes"].values())
    if setup == "local_update_on_kvstore":
        # One updater, in the kvstore: the state lives once, on its (pinned CPU) buffer.
        assert r["update_on_kvstore"] is True, r
        assert r["updaters"] == 1, r
        assert r["context_updater_states"] == 0, r
        assert list(r["state_bytes_per_context"].values()) == [full], r
    else:
        # An updater per context, each holding a full copy of the state.
        assert r["update_on_kvstore"] is False, r
        assert r["updaters"] == 2, r
        assert r["state_bytes_per_context"] == {"cpu(0)": full, "cpu(1)": full}, r
    if dtype == "float32":
        assert r["params_max_rel"] <= 4 * single["params_max_rel_vs_float64"], r  # within float32's own noise
    MEASURED[f"mxnet {setup} {dtype}"] = r


def test_zz_report_measured(capsys):
    """Prints each engine's differences and optimizer-state bytes per device (for the closing note)."""
    if not MEASURED:
        pytest.skip("no distributed case ran in this session")
    with capsys.disabled():
        print("\ndistributed vs single device: max relative difference, optimizer-state bytes per device")
        for name, r in MEASURED.items():
            held = r.get("state_bytes_per_device") or r.get("state_bytes_per_rank") or r.get("state_bytes_per_context")
            print(f"  {name:<40} params {r['params_max_rel']:.2g}  state {r['state_max_rel']:.2g}  bytes {held}")
