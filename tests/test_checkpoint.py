"""Portable checkpoints: round trips, resuming on another backend, atomic writes, clear errors."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import zipfile

import numpy as np
import pytest

import polyprop
from conftest import require_backend
from polyprop import CheckpointError, RMSPropConfig
from polyprop.parity import TOLERANCES, compare

CONFIG = RMSPropConfig(
    learning_rate=0.01, decay=0.95, eps=1e-6, centered=True, momentum=0.7, nesterov=True,
    weight_decay=0.01, bias_correction=True,
)
SHAPES = [(), (3,), (2, 4)]


def problem(steps=100, seed=0):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(steps)]
    return params, grads


def run(ops, params, state, grads, config=CONFIG):
    for gs in grads:
        params, state = polyprop.step(params, [ops.from_numpy(g) for g in gs], state, config, ops)
    return params, state


def snapshot(ops, params, state):
    snap = {"params": [ops.to_numpy(x) for x in params]}
    for name in ("nu", "mu", "momentum"):
        if getattr(state, name) is not None:
            snap[name] = [ops.to_numpy(x) for x in getattr(state, name)]
    return snap


@pytest.mark.parametrize(("first", "second"), list(itertools.product(polyprop.BACKENDS, repeat=2)))
def test_resume_on_another_backend_continues_the_same_trajectory(first, second, tmp_path):
    ops_a, ops_b = require_backend(first), require_backend(second)
    params0, grads = problem()
    params = [ops_a.from_numpy(p) for p in params0]
    state = polyprop.init(params, CONFIG)
    full = run(ops_a, params, state, grads)
    half = run(ops_a, params, state, grads[:50])
    polyprop.save(tmp_path / "ckpt.npz", *half, CONFIG)
    loaded_params, loaded_state, loaded_config = polyprop.load(tmp_path / "ckpt.npz", backend=second)
    assert loaded_config == CONFIG
    assert loaded_state.count == 50
    assert polyprop.infer_backend(loaded_params, loaded_state) == second
    resumed = run(ops_b, loaded_params, loaded_state, grads[50:])
    diff = compare([snapshot(ops_b, *resumed)], [snapshot(ops_a, *full)])
    assert diff.max_rel <= TOLERANCES["float64"], diff


@pytest.mark.parametrize("params", [
    [np.ones(2), np.zeros((2, 3), np.float32)],
    (np.ones(2),),
    {"w": np.ones((2, 2)), "b": np.zeros(1)},
])
def test_round_trip_keeps_container_keys_dtypes_and_count(params, tmp_path):
    config = RMSPropConfig(momentum=0.5)
    state = polyprop.init(params, config)
    if isinstance(params, dict):
        grads = type(params)({k: np.ones_like(v) for k, v in params.items()})
    else:
        grads = type(params)(np.ones_like(v) for v in params)
    params, state = polyprop.step(params, grads, state, config)
    polyprop.save(tmp_path / "c.npz", params, state, config)
    p2, s2, c2 = polyprop.load(tmp_path / "c.npz")
    assert type(p2) is type(params)
    assert c2 == config
    assert s2.count == 1
    assert s2.mu is None
    for a, b in zip(polyprop.containers.flatten(params, "p")[1], polyprop.containers.flatten(p2, "p")[1]):
        assert a.dtype == b.dtype
        assert np.array_equal(a, b)
    assert np.array_equal(
        polyprop.containers.flatten(state.momentum, "m")[1][0], polyprop.containers.flatten(s2.momentum, "m")[1][0]
    )


def _saved(tmp_path, config=CONFIG):
    params = [np.ones(3), np.ones((2, 2))]
    state = polyprop.init(params, config)
    path = tmp_path / "good.npz"
    polyprop.save(path, params, state, config)
    return path, params, state


def test_truncated_file_is_refused(tmp_path):
    path, _, _ = _saved(tmp_path)
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        polyprop.load(tmp_path / "cut.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(CheckpointError, match="not a readable polyprop checkpoint"):
        polyprop.load(tmp_path / "junk.npz")


def _rewrite(path, change):
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    change(arrays)
    np.savez(path, **arrays)


def test_unknown_version_and_foreign_files_are_refused(tmp_path):
    path, _, _ = _saved(tmp_path)

    def bump(arrays):
        meta = json.loads(str(arrays["metadata"]))
        meta["version"] = 99
        arrays["metadata"] = np.array(json.dumps(meta))

    _rewrite(path, bump)
    with pytest.raises(CheckpointError, match="format version 99; this polyprop reads version 1"):
        polyprop.load(path)
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    with pytest.raises(CheckpointError, match="no metadata"):
        polyprop.load(tmp_path / "plain.npz")


def test_state_that_does_not_fit_the_parameters_is_refused(tmp_path):
    path, params, state = _saved(tmp_path)
    _rewrite(path, lambda arrays: arrays.__setitem__("nu/1", np.ones((3, 3))))
    with pytest.raises(CheckpointError, match=r"nu\[1\] is float64\(3, 3\), its parameter float64\(2, 2\)"):
        polyprop.load(path)
    with pytest.raises(CheckpointError, match="has shape"):
        polyprop.save(tmp_path / "bad.npz", params, state._replace(nu=[np.ones(3), np.ones(5)]), CONFIG)
    assert not (tmp_path / "bad.npz").exists()
    with pytest.raises(CheckpointError, match="the config needs"):
        polyprop.load(tmp_path / "good.npz", config=RMSPropConfig())


def test_a_failed_save_leaves_the_good_file_and_no_temporary(tmp_path, monkeypatch):
    path, params, state = _saved(tmp_path)
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        polyprop.save(path, params, state, CONFIG)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["good.npz"]


def test_schedules_need_the_config_again(tmp_path):
    def warmup(count):
        return 0.01 * min(1.0, (count + 1) / 10)

    config = RMSPropConfig(learning_rate=warmup)
    path, _, _ = _saved(tmp_path, config)
    with pytest.raises(CheckpointError, match=r"schedules for \['learning_rate'\] \(.*warmup\); pass config="):
        polyprop.load(path)
    assert polyprop.load(path, config=config)[2] is config


def test_the_file_is_a_plain_npz_with_json_metadata(tmp_path):
    path, _, _ = _saved(tmp_path)
    with zipfile.ZipFile(path) as archive:
        names = sorted(archive.namelist())
    assert "metadata.npy" in names
    assert "params/0.npy" in names
    assert "mu/1.npy" in names


# -- metadata and errors -----------------------------------------------------------------


def _change_metadata(path, change):
    def rewrite(arrays):
        meta = json.loads(str(arrays["metadata"]))
        change(meta)
        arrays["metadata"] = np.array(json.dumps(meta))

    _rewrite(path, rewrite)


def test_the_metadata_is_the_documented_json(tmp_path):
    config = RMSPropConfig(learning_rate=0.05, centered=True, momentum=0.5)
    params = {"w": np.ones(2), "b": np.zeros(1)}
    state = polyprop.init(params, config)
    params, state = polyprop.step(params, {"w": np.ones(2), "b": np.ones(1)}, state, config)
    polyprop.save(tmp_path / "c.npz", params, state, config)
    with np.load(tmp_path / "c.npz") as archive:
        metadata = json.loads(str(archive["metadata"]))
    assert metadata == {
        "format": "polyprop-checkpoint",
        "version": 2,
        "container": "dict",
        "keys": ["w", "b"],
        "count": 1,
        "skipped": 0,
        "fields": ["nu", "mu", "momentum"],
        "dtypes": {name: ["float64", "float64"] for name in ("params", "nu", "mu", "momentum")},
        "config": json.loads(json.dumps(dataclasses.asdict(config))),
        "backend": "numpy",
        "polyprop": polyprop.__version__,
    }


def test_a_schedule_without_a_qualname_is_recorded_by_its_repr(tmp_path):
    class Warmup:
        def __call__(self, count):
            return 0.01 * min(1.0, (count + 1) / 10)

        def __repr__(self):
            return "Warmup(10)"

    def cosine(count):
        return 0.9

    config = RMSPropConfig(learning_rate=Warmup(), decay=cosine)
    path, _, _ = _saved(tmp_path, config)
    with np.load(path) as archive:
        saved = json.loads(str(archive["metadata"]))["config"]
    assert saved["learning_rate"] == {"schedule": "Warmup(10)"}
    assert saved["decay"]["schedule"].endswith("cosine")
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.load(path)
    assert str(excinfo.value) == (
        f"the checkpoint was saved with schedules for ['decay', 'learning_rate'] "
        f"({saved['decay']['schedule']}, Warmup(10)); pass config= to load it"
    )


def test_a_config_field_from_the_future_is_named(tmp_path):
    path, _, _ = _saved(tmp_path)
    _change_metadata(path, lambda meta: meta["config"].update(lookahead=5, amsgrad=True))
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.load(path)
    assert str(excinfo.value) == (
        "the checkpoint's config has fields this polyprop does not know: ['amsgrad', 'lookahead']"
    )


def test_a_foreign_format_is_named(tmp_path):
    path, _, _ = _saved(tmp_path)
    _change_metadata(path, lambda meta: meta.update(format="other-tool"))
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.load(path)
    assert str(excinfo.value) == f"{path} is not a polyprop checkpoint (format 'other-tool')"


def test_unreadable_metadata_is_named(tmp_path):
    path, _, _ = _saved(tmp_path)
    _rewrite(path, lambda arrays: arrays.__setitem__("metadata", np.array("{not json")))
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.load(path)
    assert str(excinfo.value).startswith(f"{path}: unreadable metadata: ")


def test_a_missing_state_leaf_is_named(tmp_path):
    path, _, _ = _saved(tmp_path)
    _rewrite(path, lambda arrays: arrays.pop("mu/1"))
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.load(path)
    assert str(excinfo.value) == "the checkpoint lacks mu[1]"


def test_save_names_what_cannot_be_saved(tmp_path):
    config = RMSPropConfig()
    params = {1: np.ones(2)}
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.save(tmp_path / "c.npz", params, polyprop.init(params, config), config)
    assert str(excinfo.value) == "params: dict keys must be strings to be saved, got [1]"

    params = {"w": np.ones(2)}
    state = polyprop.init(params, config)._replace(nu={"v": np.ones(2)})
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.save(tmp_path / "c.npz", params, state, config)
    assert str(excinfo.value) == "state.nu has keys ['v'], params has ['w']"

    with pytest.raises(CheckpointError) as excinfo:
        polyprop.save(tmp_path / "c.npz", np.ones(2), polyprop.init([np.ones(2)], config), config)
    assert str(excinfo.value) == "params must be a list, tuple or dict of tensors, got ndarray"
    assert not (tmp_path / "c.npz").exists()


def test_a_version_1_files_two_byte_voids_are_bfloat16_bits_and_other_dtypes_their_own():
    from polyprop.archive import logical_dtype

    assert logical_dtype(np.zeros(2, "V2")) == "bfloat16"
    assert logical_dtype(np.zeros(2, "V4")) == "void32"
    assert logical_dtype(np.zeros(2, np.float16)) == "float16"
    assert logical_dtype(np.zeros(2, np.uint16)) == "uint16"
