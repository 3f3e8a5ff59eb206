"""Checkpoints as a hostile user and a crashing machine see them (issue 12, item 1).

Every (backend x dtype x state_dtype) combination comes back bit for bit; a run
resumed from a checkpoint on any backend equals the same run continued in memory
(and the uninterrupted run, where the two backends compute identically); a save
killed at a random moment never loses the previous file and leaves no debris past
the next save or load; modes, symlinks and long names survive a save; every
malformed metadata field, and every size that does not fit the file, raises
CheckpointError naming it, before anything large is allocated.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

import polyprop
from conftest import require_backend
from polyprop import CheckpointError, RMSPropConfig, checkpoint, files
from polyprop.rmsprop import RMSPropState

DTYPES = ("float16", "bfloat16", "float32", "float64")
STATE_DTYPES = (None, "float32")
CONFIG = RMSPropConfig(
    learning_rate=0.01, decay=0.9, eps=1e-3, centered=True, momentum=0.5, nesterov=True,
    weight_decay=0.01, bias_correction=True, initial_scale=0.1, nonfinite="skip",
)
SHAPES = {"w": (2, 3), "b": (3,), "s": ()}
"""Dict keys in no sorted order: the container and its order must come back."""
SAVED_AFTER, STEPS = 3, 5
NAN_STEP = 1
"""The step whose gradient holds a NaN: skipped (nonfinite="skip"), so state.skipped is 1 when saved."""


def numpy_dtype(name):
    if name == "bfloat16":
        ml_dtypes = pytest.importorskip("ml_dtypes", reason="NumPy knows bfloat16 only through ml_dtypes")
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


UNHELD = {("mxnet", "bfloat16")}
"""(backend, dtype) the framework has no tensor for: MXNet 1.9.1 has no bfloat16 NDArray.
Those cases are not generated; test_a_dtype_the_backend_cannot_hold_is_named checks the refusal."""


def held(*names_and_dtype):
    """True when every backend named holds the dtype (the last argument)."""
    *names, dtype = names_and_dtype
    return all((name, dtype) not in UNHELD for name in names)


def backend_with(name, dtype):
    """The adapter for ``name`` (skipped with a reason where the framework is not installed)."""
    assert held(name, dtype), (name, dtype)
    return require_backend(name)


def start(ops, dtype):
    rng = np.random.default_rng(7)
    return {k: ops.from_numpy(rng.standard_normal(s).astype(numpy_dtype(dtype))) for k, s in SHAPES.items()}


def grads(ops, dtype, step):
    rng = np.random.default_rng(100 + step)
    gs = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
    if step == NAN_STEP:
        gs["b"][1] = np.nan
    return {k: ops.from_numpy(g.astype(numpy_dtype(dtype))) for k, g in gs.items()}


def run(ops, dtype, params, state, config, steps):
    for i in steps:
        params, state = polyprop.step(params, grads(ops, dtype, i), state, config, ops)
    return params, state


def bits(ops, params, state):
    """Every tensor as (dtype name, bytes), plus count and skipped: equal means bit for bit."""
    out = {("params", k): ops.to_numpy(v) for k, v in params.items()}
    for name in checkpoint.STATE_FIELDS:
        tree = getattr(state, name)
        if tree is not None:
            out.update({(name, k): ops.to_numpy(v) for k, v in tree.items()})
    described = {key: (a.dtype.name, a.shape, a.tobytes()) for key, a in out.items()}
    return {**described, "count": state.count, "skipped": state.skipped}


def moved(ops_from, ops_to, tree):
    return None if tree is None else {k: ops_to.from_numpy(ops_from.to_numpy(v)) for k, v in tree.items()}


# -- every backend x dtype x state_dtype comes back bit for bit --------------------------------


@pytest.mark.parametrize("state_dtype", STATE_DTYPES, ids=["state_dtype_None", "state_dtype_float32"])
@pytest.mark.parametrize(("name", "dtype"), [(n, d) for n in polyprop.BACKENDS for d in DTYPES if held(n, d)])
def test_every_dtype_comes_back_bit_for_bit(name, dtype, state_dtype, tmp_path):
    ops = backend_with(name, dtype)
    config = CONFIG.replace(state_dtype=state_dtype)
    params = start(ops, dtype)
    params, state = run(ops, dtype, params, polyprop.init(params, config, ops), config, range(SAVED_AFTER))
    assert (state.count, state.skipped) == (SAVED_AFTER - 1, 1)
    assert all(np.isfinite(ops.to_numpy(x).astype(np.float64)).all() for x in params.values())  # NaNs: see below
    polyprop.save(tmp_path / "c.npz", params, state, config)
    loaded_params, loaded_state, loaded_config = polyprop.load(tmp_path / "c.npz", backend=name)
    assert loaded_config == config
    assert list(loaded_params) == list(SHAPES)
    assert bits(ops, loaded_params, loaded_state) == bits(ops, params, state)
    got = bits(ops, loaded_params, loaded_state)
    assert {got[("params", k)][0] for k in SHAPES} == {dtype}
    assert {got[(f, k)][0] for f in ("nu", "mu", "momentum") for k in SHAPES} == {state_dtype or dtype}


SPECIAL_BITS = {
    "float16": [0x0000, 0x8000, 0x0001, 0x03FF, 0x7BFF, 0x7C00, 0xFC00, 0x7E01, 0xFFFF],
    "bfloat16": [0x0000, 0x8000, 0x0001, 0x007F, 0x7F7F, 0x7F80, 0xFF80, 0x7FC1, 0xFFFF],
    "float32": [0, 1 << 31, 1, 0x7F7FFFFF, 0x7F800000, 0xFF800000, 0x7FC00001, 0xFFFFFFFF],
    "float64": [0, 1 << 63, 1, 0x7FEFFFFFFFFFFFFF, 0x7FF0000000000000, 0x7FF8000000000001, (1 << 64) - 1],
}
"""+-0, the smallest subnormal, the largest finite, +-inf, NaNs with payloads and sign."""


@pytest.mark.parametrize(("name", "dtype"), [(n, d) for n in polyprop.BACKENDS for d in DTYPES if held(n, d)])
def test_special_values_keep_their_bits(name, dtype, tmp_path, request):
    ops = backend_with(name, dtype)
    width = numpy_dtype(dtype).itemsize
    raw = np.array(SPECIAL_BITS[dtype], np.dtype(f"u{width}")).view(numpy_dtype(dtype))
    params = [ops.from_numpy(raw)]
    config = RMSPropConfig()
    state = polyprop.init(params, config, ops)._replace(nu=[ops.from_numpy(raw[::-1].copy())])
    polyprop.save(tmp_path / "c.npz", params, state, config)
    loaded, loaded_state, _ = polyprop.load(tmp_path / "c.npz", backend=name)
    assert ops.to_numpy(loaded[0]).tobytes() == raw.tobytes()
    assert ops.to_numpy(loaded_state.nu[0]).tobytes() == raw[::-1].tobytes()


def test_bfloat16_is_stored_as_its_uint16_bits_and_named_in_the_metadata(tmp_path):
    bfloat16 = numpy_dtype("bfloat16")
    params = [np.array([1.0, -2.5, 3.0], bfloat16), np.ones(2, np.float16)]
    config = RMSPropConfig(state_dtype="float32")
    polyprop.save(tmp_path / "c.npz", params, polyprop.init(params, config), config)
    with np.load(tmp_path / "c.npz") as archive:  # readable without polyprop or ml_dtypes
        stored = archive["params/0"]
        metadata = json.loads(str(archive["metadata"]))
        assert archive["nu/0"].dtype == np.float32
        assert archive["params/1"].dtype == np.float16
    assert stored.dtype == np.dtype("<u2")
    assert stored.tolist() == [0x3F80, 0xC020, 0x4040]
    assert metadata["dtypes"] == {"params": ["bfloat16", "float16"], "nu": ["float32", "float32"]}


# -- a resumed run equals the uninterrupted one ----------------------------------------------------


def _pair_id(pair):
    """``torch-to-numpy``, ``torch-from-numpy``: a framework other than NumPy leads the id (scripts/mutation's -k)."""
    first, second = pair
    return f"{first}-to-{second}" if first != "numpy" else f"{second}-from-{first}"


PAIRS = list(itertools.product(polyprop.BACKENDS, repeat=2))
RESUMES = [pytest.param(a, b, d, id=f"{_pair_id((a, b))}-{d}") for a, b in PAIRS for d in DTYPES if held(a, b, d)]
"""Every (first, second, dtype) where both backends hold the dtype."""


@pytest.mark.parametrize("state_dtype", STATE_DTYPES, ids=["state_dtype_None", "state_dtype_float32"])
@pytest.mark.parametrize(("first", "second", "dtype"), RESUMES)
def test_a_resumed_run_equals_the_one_that_never_stopped(first, second, dtype, state_dtype, tmp_path):
    """Save on ``first`` after 3 steps (one skipped), load on ``second``, take 2 more.

    Bit for bit, always: the same as moving the tensors to ``second`` in memory and
    going on; on one backend, the same as the run never stopped; across two backends
    whose first 3 steps agree to the bit, the same as the uninterrupted run on ``second``.
    """
    ops_a, ops_b = backend_with(first, dtype), backend_with(second, dtype)
    config = CONFIG.replace(state_dtype=state_dtype)
    params = start(ops_a, dtype)
    state0 = polyprop.init(params, config, ops_a)
    saved = run(ops_a, dtype, params, state0, config, range(SAVED_AFTER))
    polyprop.save(tmp_path / "c.npz", *saved, config)
    loaded_params, loaded_state, loaded_config = polyprop.load(tmp_path / "c.npz", backend=second)
    assert (loaded_state.count, loaded_state.skipped) == (SAVED_AFTER - 1, 1)
    resumed = bits(ops_b, *run(ops_b, dtype, loaded_params, loaded_state, loaded_config, range(SAVED_AFTER, STEPS)))

    in_memory = saved[1]._replace(**{f: moved(ops_a, ops_b, getattr(saved[1], f)) for f in ("nu", "mu", "momentum")})
    handed_over = run(ops_b, dtype, moved(ops_a, ops_b, saved[0]), in_memory, config, range(SAVED_AFTER, STEPS))
    assert resumed == bits(ops_b, *handed_over)
    params_b = start(ops_b, dtype)
    state_b = polyprop.init(params_b, config, ops_b)
    if first == second or (
        bits(ops_b, *run(ops_b, dtype, params_b, state_b, config, range(SAVED_AFTER))) == bits(ops_a, *saved)
    ):
        assert resumed == bits(ops_b, *run(ops_b, dtype, params_b, state_b, config, range(STEPS)))


def test_a_dtype_the_backend_cannot_hold_is_named(tmp_path):
    require_backend("mxnet")
    params = [np.ones(2, numpy_dtype("bfloat16"))]
    config = RMSPropConfig(state_dtype="float32")
    polyprop.save(tmp_path / "c.npz", params, polyprop.init(params, config), config)
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.load(tmp_path / "c.npz", backend="mxnet")
    assert str(excinfo.value) == (
        "params[0] is bfloat16, which the mxnet backend cannot hold: "
        "MXNet 1.9.1 has no bfloat16 NDArray; use float16, float32 or float64"
    )


class _Refusing:
    """An adapter whose framework lacks every dtype."""

    NAME = "stub"

    @staticmethod
    def from_numpy(array):
        raise TypeError(f"no {array.dtype}")


def test_an_adapter_that_refuses_a_dtype_is_named(tmp_path):
    path = _good(tmp_path)
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.load(path, backend=_Refusing())
    assert str(excinfo.value) == "params['w'] is float64, which the stub backend cannot hold: no float64"


def test_a_dict_state_in_another_key_order_is_saved_in_the_params_order(tmp_path):
    params = {"w": np.ones(2), "b": np.full(3, 2.0)}
    config = RMSPropConfig(momentum=0.5)
    state = polyprop.init(params, config)
    state = state._replace(
        nu={"b": np.full(3, 0.5), "w": np.full(2, 0.25)}, momentum={"b": np.zeros(3), "w": np.ones(2)}
    )
    polyprop.save(tmp_path / "c.npz", params, state, config)
    _, loaded, _ = polyprop.load(tmp_path / "c.npz")
    assert list(loaded.nu) == ["w", "b"]
    assert loaded.nu["w"].tolist() == [0.25, 0.25]
    assert loaded.nu["b"].tolist() == [0.5] * 3
    assert loaded.momentum["w"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("nu", {"w": np.ones(2), "c": np.ones(3)}, "state.nu has keys ['w', 'c'], params has ['w', 'b']"),
    ("nu", [np.ones(2), np.ones(3)], "state.nu has keys [0, 1], params has ['w', 'b']"),
    ("nu", {"w": np.ones(2)}, "state.nu has keys ['w'], params has ['w', 'b']"),
    ("nu", {"w": np.ones(2), "b": np.ones(4)}, "state.nu['b'] has shape (4,), its parameter (3,)"),
    ("nu", {"w": np.ones(2), "b": np.ones(3, np.float32)},
     "state.nu['b'] is float32, its parameter float64; float64 is needed (state_dtype=None: its parameter's dtype)"),
    ("momentum", {"w": np.ones(2), "b": np.ones(3)}, "the state holds ['nu', 'momentum'], the config needs ['nu']"),
    ("count", -1, "state.count must be a whole number in [0, 2**63), got -1"),
    ("count", 1.0, "state.count must be a whole number in [0, 2**63), got 1.0"),
    ("count", True, "state.count must be a whole number in [0, 2**63), got True"),
    ("count", "3", "state.count must be a whole number in [0, 2**63), got '3'"),
    ("count", 2**63, f"state.count must be a whole number in [0, 2**63), got {2**63}"),
    ("skipped", -2, "state.skipped must be a whole number in [0, 2**63), got -2"),
])
def test_a_state_that_would_not_load_again_is_not_saved(field, value, expected, tmp_path):
    params = {"w": np.ones(2), "b": np.ones(3)}
    config = RMSPropConfig()
    state = polyprop.init(params, config)._replace(**{field: value})
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.save(tmp_path / "c.npz", params, state, config)
    assert str(excinfo.value) == expected
    assert os.listdir(tmp_path) == []


def test_integer_params_are_not_saved(tmp_path):
    params = [np.ones(2, np.int64)]
    state = RMSPropState(count=0, nu=[np.ones(2)], mu=None, momentum=None)
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.save(tmp_path / "c.npz", params, state, RMSPropConfig())
    assert str(excinfo.value) == (
        "params[0] is int64: a checkpoint holds parameters of "
        "float16, bfloat16, float32, float64, complex64, complex128"
    )


def test_counts_of_numpy_integers_and_0d_arrays_are_saved_as_ints(tmp_path):
    params = [np.ones(2)]
    config = RMSPropConfig()
    state = polyprop.init(params, config)._replace(count=np.int64(7), skipped=np.array(2))
    polyprop.save(tmp_path / "c.npz", params, state, config)
    _, loaded, _ = polyprop.load(tmp_path / "c.npz")
    assert (loaded.count, loaded.skipped) == (7, 2)
    assert type(loaded.count) is int
    polyprop.save(tmp_path / "c.npz", params, state._replace(count=2**63 - 1), config)
    assert polyprop.load(tmp_path / "c.npz")[1].count == 2**63 - 1


def test_a_tuple_and_a_namedtuple_come_back_as_tuples(tmp_path):
    import collections

    Pair = collections.namedtuple("Pair", "a b")
    params = Pair(np.ones(2), np.zeros(1))
    config = RMSPropConfig()
    polyprop.save(tmp_path / "c.npz", params, polyprop.init(list(params), config), config)
    loaded, state, _ = polyprop.load(tmp_path / "c.npz")
    assert type(loaded) is tuple
    assert type(state.nu) is tuple
    assert loaded[0].tolist() == [1.0, 1.0]


def test_a_preset_keeps_the_users_names_and_0d_hyperparameters_their_value(tmp_path):
    config = polyprop.presets.torch(lr=0.01, alpha=0.9)
    params = [np.ones(2)]
    polyprop.save(tmp_path / "c.npz", params, polyprop.init(params, config), config)
    loaded = polyprop.load(tmp_path / "c.npz")[2]
    assert loaded == config
    assert loaded.names == config.names
    assert ("decay", "alpha") in loaded.names
    config = RMSPropConfig(learning_rate=np.array(0.25), decay=np.array(0.5))
    polyprop.save(tmp_path / "c.npz", params, polyprop.init(params, config), config)
    with np.load(tmp_path / "c.npz") as archive:
        saved = json.loads(str(archive["metadata"]))["config"]
    assert (saved["learning_rate"], saved["decay"]) == (0.25, 0.5)


# -- a version 1 file still loads -----------------------------------------------------------------------


def _write_archive(path, arrays, metadata):
    arrays = dict(arrays, metadata=np.array(json.dumps(metadata)))
    np.savez(path, **arrays)


def test_a_version_1_file_loads_with_its_2_byte_voids_as_bfloat16(tmp_path):
    bfloat16 = numpy_dtype("bfloat16")
    bits = np.array([0x3F80, 0xC020], np.uint16)
    config = RMSPropConfig(state_dtype="float32")
    metadata = {
        "format": "polyprop-checkpoint", "version": 1, "container": "list", "keys": [0, 1], "count": 4,
        "fields": ["nu"], "config": {k: v for k, v in checkpoint._config_to_json(config).items() if k != "names"},
        "backend": "numpy", "polyprop": "0.1.0",
    }
    arrays = {"params/0": bits.view("V2"), "nu/0": np.ones(2, np.float32),
              "params/1": np.ones(2, np.float16), "nu/1": np.full(2, 3.0, np.float32)}
    _write_archive(tmp_path / "v1.npz", arrays, metadata)
    params, state, loaded_config = polyprop.load(tmp_path / "v1.npz")
    assert params[0].dtype == bfloat16
    assert params[0].view(np.uint16).tolist() == [0x3F80, 0xC020]
    assert params[1].dtype == np.float16
    assert state.nu[1].tolist() == [3.0, 3.0]
    assert (state.count, state.skipped, loaded_config) == (4, 0, config)
    arrays["params/1"] = np.ones(2, np.int32)
    _write_archive(tmp_path / "v1.npz", arrays, metadata)
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.load(tmp_path / "v1.npz")
    assert str(excinfo.value).startswith("params[1] is int32: a checkpoint holds parameters of float16, bfloat16")
    metadata["skipped"] = 0
    _write_archive(tmp_path / "v1.npz", arrays, metadata)
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.load(tmp_path / "v1.npz")
    assert str(excinfo.value) == f"{tmp_path / 'v1.npz'}: metadata has fields version 1 does not define: ['skipped']"


# -- malformed metadata: CheckpointError naming the field and the value ----------------------------------


def _good(tmp_path):
    """A centered, momentum checkpoint of {"w": (2,), "b": (3,)} float64, after one step."""
    params = {"w": np.ones(2), "b": np.ones(3)}
    config = RMSPropConfig(centered=True, momentum=0.5)
    state = polyprop.init(params, config)
    params, state = polyprop.step(params, {"w": np.ones(2), "b": np.ones(3)}, state, config)
    path = tmp_path / "c.npz"
    polyprop.save(path, params, state, config)
    return path


def _arrays(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _rezip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _tamper(path, change):
    """Rewrite the metadata JSON of ``path`` with ``change(document)`` (which may return a replacement)."""
    members = _arrays(path)
    document = json.loads(str(np.load(io.BytesIO(members["metadata.npy"]))))
    document = change(document) or document
    members["metadata.npy"] = _npy(np.array(json.dumps(document)))
    _rezip(path, members)


def _set(key, value):
    def change(document):
        document[key] = value

    return change


def _config(key, value):
    def change(document):
        document["config"][key] = value

    return change


def _drop(key):
    return lambda document: document.pop(key) and None


COUNT_RULE = "must be a whole number in [0, 2**63), got"
METADATA_CASES = {
    "count -1": (_set("count", -1), f"metadata 'count' {COUNT_RULE} -1"),
    "count 1.5": (_set("count", 1.5), f"metadata 'count' {COUNT_RULE} 1.5"),
    "count 2.0": (_set("count", 2.0), f"metadata 'count' {COUNT_RULE} 2.0"),
    "count '12'": (_set("count", "12"), f"metadata 'count' {COUNT_RULE} '12'"),
    "count true": (_set("count", True), f"metadata 'count' {COUNT_RULE} True"),
    "count null": (_set("count", None), f"metadata 'count' {COUNT_RULE} None"),
    "count 2**63": (_set("count", 2**63), f"metadata 'count' {COUNT_RULE} {2**63}"),
    "skipped -1": (_set("skipped", -1), f"metadata 'skipped' {COUNT_RULE} -1"),
    "skipped false": (_set("skipped", False), f"metadata 'skipped' {COUNT_RULE} False"),
    "keys shorter": (_set("keys", ["w"]), "metadata 'dtypes.params' must be a list of 1 dtype names "
                     "(one for each of 'keys' ['w']), got ['float64', 'float64']"),
    "keys and dtypes shorter": (lambda d: d.update(keys=["w"], dtypes={k: v[:1] for k, v in d["dtypes"].items()}),
                     "holds arrays its metadata does not declare: ['momentum/1', 'mu/1', 'nu/1', 'params/1'] "
                     "(metadata 'keys' is ['w'], 'fields' is ['nu', 'mu', 'momentum'])"),
    "keys longer": (
        lambda d: d.update(keys=["w", "b", "c"], dtypes={k: [*v, "float64"] for k, v in d["dtypes"].items()}),
        "the checkpoint lacks params['c']"),
    "keys a string": (_set("keys", "wb"),
                      "metadata 'keys' must be a list of distinct strings (the dict's keys), got 'wb'"),
    "keys ints for a dict": (_set("keys", [0, 1]),
                             "metadata 'keys' must be a list of distinct strings (the dict's keys), got [0, 1]"),
    "keys repeated": (_set("keys", ["w", "w"]),
                      "metadata 'keys' must be a list of distinct strings (the dict's keys), got ['w', 'w']"),
    "container unknown": (_set("container", "set"),
                          "metadata 'container' must be 'list' or 'tuple' or 'dict', got 'set'"),
    "container list, string keys": (_set("container", "list"),
                                    "metadata 'keys' must be [0, 1, ..., n - 1] for a list, got ['w', 'b']"),
    "container tuple, keys [1, 0]": (lambda d: d.update(container="tuple", keys=[1, 0]),
                                     "metadata 'keys' must be [0, 1, ..., n - 1] for a tuple, got [1, 0]"),
    "container list, keys [false, true]": (lambda d: d.update(container="list", keys=[False, True]),
                                           "metadata 'keys' must be [0, 1, ..., n - 1] for a list, got [False, True]"),
    "fields unknown": (_set("fields", ["nu", "adam"]),
                       "metadata 'fields' must be 'nu' and any of 'mu', 'momentum' in the order "
                       "['nu', 'mu', 'momentum'], got ['nu', 'adam']"),
    "fields reordered": (_set("fields", ["nu", "momentum", "mu"]), "got ['nu', 'momentum', 'mu']"),
    "fields repeated": (_set("fields", ["nu", "nu"]), "got ['nu', 'nu']"),
    "fields without nu": (_set("fields", ["mu"]), "got ['mu']"),
    "fields a string": (_set("fields", "nu"), "got 'nu'"),
    "fields fewer than the config needs": (
        lambda d: d.update(fields=["nu"], dtypes={"params": d["dtypes"]["params"], "nu": d["dtypes"]["nu"]}),
        "the checkpoint holds state ['nu'], the config needs ['nu', 'mu', 'momentum']"),
    "dtypes missing a field": (lambda d: d["dtypes"].pop("mu") and None,
                               "metadata 'dtypes' must be an object with a list for each of "
                               "['params', 'nu', 'mu', 'momentum'], got"),
    "dtypes a list": (_set("dtypes", ["float64"]), "metadata 'dtypes' must be an object with a list for each of"),
    "dtypes too short": (lambda d: d["dtypes"].update(nu=["float64"]),
                         "metadata 'dtypes.nu' must be a list of 2 dtype names "
                         "(one for each of 'keys' ['w', 'b']), got ['float64']"),
    "dtypes not strings": (lambda d: d["dtypes"].update(nu=[64, 64]),
                           "metadata 'dtypes.nu' must be a list of 2 dtype names "
                           "(one for each of 'keys' ['w', 'b']), got [64, 64]"),
    "dtypes a dict entry": (lambda d: d["dtypes"].update(nu="float64"),
                            "metadata 'dtypes.nu' must be a list of 2 dtype names "
                            "(one for each of 'keys' ['w', 'b']), got 'float64'"),
    "dtypes naming another dtype": (lambda d: d["dtypes"].update(nu=["float64", "float32"]),
                                    "nu['b'] is stored as float64, but dtypes says float32 (stored as float32)"),
    "dtypes naming bfloat16 for float64": (
        lambda d: d["dtypes"].update(params=["bfloat16", "float64"]),
        "params['w'] is stored as float64, but dtypes says bfloat16 (stored as uint16)"),
    "dtypes integer params": (lambda d: d["dtypes"].update(params=["int64", "float64"]),
                              "params['w'] is stored as float64, but dtypes says int64 (stored as int64)"),
    "state_dtype not matching the arrays": (_config("state_dtype", "float32"),
                                            "nu['w'] is float64, its parameter float64; float32 is needed "
                                            "(state_dtype='float32')"),
    "state_dtype unknown": (_config("state_dtype", "float8"), "metadata 'config' is not a valid config: state_dtype"),
    "config a list": (_set("config", []), "metadata 'config' must be an object, got []"),
    "config learning_rate a string": (_config("learning_rate", "0.1"),
                                      "metadata 'config' is not a valid config: learning_rate"),
    "config decay 1.5": (_config("decay", 1.5), "metadata 'config' is not a valid config: decay"),
    "config eps a schedule": (_config("eps", {"schedule": "f"}), "metadata 'config' is not a valid config: eps"),
    "config schedule not a name": (_config("learning_rate", {"schedule": 5}),
                                   "metadata 'config.learning_rate' must be a value or {\"schedule\": name}, "
                                   "got {'schedule': 5}"),
    "config schedule with more": (_config("learning_rate", {"schedule": "f", "x": 1}),
                                  "metadata 'config.learning_rate' must be a value or {\"schedule\": name}"),
    "config centered a string": (_config("centered", "yes"), "metadata 'config' is not a valid config: centered"),
    "config field unknown": (_config("amsgrad", True),
                             "the checkpoint's config has fields this polyprop does not know: ['amsgrad']"),
    "config momentum dropped": (_config("momentum", 0.0),
                                "the checkpoint holds state ['nu', 'mu', 'momentum'], the config needs ['nu', 'mu']"),
    "missing count": (_drop("count"), "metadata lacks 'count' (version 2 has format, version, container, keys, count,"),
    "missing keys": (_drop("keys"), "metadata lacks 'keys'"),
    "missing config": (_drop("config"), "metadata lacks 'config'"),
    "missing dtypes": (_drop("dtypes"), "metadata lacks 'dtypes'"),
    "missing format": (_drop("format"), "is not a polyprop checkpoint (format None)"),
    "field unknown": (_set("comment", "hi"), "metadata has fields version 2 does not define: ['comment']"),
    "a JSON list": (lambda d: [d], "metadata must be a JSON object, got [{"),
    "a JSON string": (lambda d: "polyprop", "metadata must be a JSON object, got 'polyprop'"),
    "version true": (_set("version", True), "has checkpoint format version True; this polyprop reads version 1 and 2"),
    "version 2.0": (_set("version", 2.0), "has checkpoint format version 2.0; this polyprop reads version 1 and 2"),
    "version '2'": (_set("version", "2"), "has checkpoint format version '2'"),
    "version 3": (_set("version", 3), "has checkpoint format version 3; this polyprop reads version 1 and 2"),
    "backend a number": (_set("backend", 5), "metadata 'backend' must be a string, got 5"),
    "polyprop null": (_set("polyprop", None), "metadata 'polyprop' must be a string, got None"),
    "deep nesting in a field": (_set("count", json.loads("[" * 400 + "]" * 400)),
                                f"metadata 'count' {COUNT_RULE} [[[["),
}


@pytest.mark.parametrize("case", list(METADATA_CASES))
def test_malformed_metadata_is_refused_naming_the_field_and_value(case, tmp_path):
    change, expected = METADATA_CASES[case]
    path = _good(tmp_path)
    _tamper(path, change)
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.load(path)
    assert expected in str(excinfo.value)
    if "metadata" in expected:  # a fault of the file names the file
        assert str(excinfo.value).startswith(str(path))


@pytest.mark.parametrize(("text", "expected"), [
    ("[" * 100_000 + "]" * 100_000, "unreadable metadata: nested too deeply"),
    ('{"count": ' + "9" * 5000 + "}", "unreadable metadata: Exceeds the limit"),
    ("{not json", "unreadable metadata: Expecting property name"),
])
def test_unparseable_metadata_is_refused(text, expected, tmp_path):
    path = _good(tmp_path)
    members = _arrays(path)
    members["metadata.npy"] = _npy(np.array(text))
    _rezip(path, members)
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.load(path)
    assert str(excinfo.value).startswith(f"{path}: {expected}")


HOSTILE = [None, True, False, 0, -1, 1.5, 2**64, "", "nu", [], [0], ["nu"], {}, {"a": 1}, {"schedule": "f"}, [[[]]]]


def test_any_value_in_any_field_loads_or_raises_checkpoint_error(tmp_path):
    """Every metadata and config field set to each hostile value: never another exception."""
    path = _good(tmp_path)
    pristine = path.read_bytes()
    top = [k for k in checkpoint._KEYS[2]]
    config_fields = [f.name for f in dataclasses.fields(RMSPropConfig)]
    cases = [(_set, k, v) for k in top for v in HOSTILE] + [(_config, k, v) for k in config_fields for v in HOSTILE]
    refused, loaded, escaped = [], [], []
    for change, key, value in cases:
        path.write_bytes(pristine)
        _tamper(path, change(key, value))
        try:
            polyprop.load(path)
        except CheckpointError:
            refused.append((key, value))
        except Exception as error:  # anything but a CheckpointError is what this test looks for
            escaped.append((key, value, repr(error)))
        else:
            loaded.append((key, value))
    assert escaped == []
    assert len(refused) + len(loaded) == len(cases) == (len(top) + len(config_fields)) * len(HOSTILE)
    assert ("count", 0) in loaded
    assert ("count", -1) in refused
    assert ("version", True) in refused


def test_non_array_members_and_foreign_arrays_are_refused(tmp_path):
    path = _good(tmp_path)
    members = _arrays(path)
    for extra, expected in [
        ({"junk/0.npy": _npy(np.ones(1))}, "holds arrays its metadata does not declare: ['junk/0']"),
        ({"README.txt": b"hi"}, "a member 'README.txt' is not a checkpoint array"),
        ({"params/9.npy": _npy(np.array([object()], dtype=object))},
         "member 'params/9.npy' holds object, which no checkpoint holds"),
        ({"params/9.npy": _npy(np.zeros(2, [("a", "<f4")]))}, "which no checkpoint holds"),
        ({"metadata.npy": _npy(np.ones(2))}, "metadata must be one JSON text (a 0-d string array), got float64(2,)"),
    ]:
        _rezip(path, {**members, **extra})
        with pytest.raises(CheckpointError) as excinfo:
            polyprop.load(path)
        assert expected in str(excinfo.value)
        assert str(excinfo.value).startswith(str(path))
    _rezip(path, {k: v for k, v in members.items() if k != "metadata.npy"})
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.load(path)
    assert str(excinfo.value) == f"{path} is not a polyprop checkpoint: no metadata"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        with pytest.warns(UserWarning, match=r"Duplicate name: 'params/0\.npy'"):
            archive.writestr("params/0.npy", members["params/0.npy"])
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.load(path)
    assert str(excinfo.value) == f"{path}: a second member 'params/0.npy' is not a checkpoint array"


def test_integer_params_in_a_file_are_refused(tmp_path):
    path = _good(tmp_path)
    members = _arrays(path)
    members["params/0.npy"] = _npy(np.ones(2, np.int64))
    _rezip(path, members)
    _tamper(path, lambda d: d["dtypes"].update(params=["int64", "float64"]))
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.load(path)
    assert str(excinfo.value) == (
        "params['w'] is int64: a checkpoint holds parameters of "
        "float16, bfloat16, float32, float64, complex64, complex128"
    )


def test_a_big_endian_array_loads_as_its_values(tmp_path):
    path = _good(tmp_path)
    members = _arrays(path)
    with np.load(path) as archive:
        original = archive["params/0"]
    members["params/0.npy"] = _npy(original.astype(">f8"))
    _rezip(path, members)
    params, _, _ = polyprop.load(path)
    assert params["w"].dtype == np.dtype("=f8")
    assert params["w"].tolist() == original.tolist()


# -- sizes are checked before anything is allocated ---------------------------------------------------


def _npy_header(shape, descr="<f8"):
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def _peak_while_loading(path):
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError) as excinfo:
            polyprop.load(path)
        return str(excinfo.value), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_header_claiming_8_terabytes_is_refused_without_allocating(tmp_path):
    path = _good(tmp_path)
    members = _arrays(path)
    header = _npy_header((2**40,))
    members["params/0.npy"] = header + np.ones(2).tobytes()
    _rezip(path, members)
    message, peak = _peak_while_loading(path)
    assert message == (
        f"{path}: member 'params/0.npy' claims {2**43} bytes (float64(1099511627776,)) but holds 16"
    )
    assert peak < 2**20


def test_a_member_that_inflates_far_beyond_its_header_is_refused_without_inflating(tmp_path):
    path = _good(tmp_path)
    members = _arrays(path)
    members["params/0.npy"] = _npy_header((2,)) + bytes(2**27)  # 128 MiB of zeros, deflated to ~130 kB
    _rezip(path, members, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 2**20
    message, peak = _peak_while_loading(path)
    assert message == f"{path}: member 'params/0.npy' claims 16 bytes (float64(2,)) but holds {2**27}"
    assert peak < 2**20


def test_a_checkpoint_over_max_bytes_is_refused_until_the_limit_is_raised(tmp_path, monkeypatch):
    path = _good(tmp_path)
    total = sum(info.file_size for info in zipfile.ZipFile(path).infolist())
    monkeypatch.setattr(checkpoint, "MAX_BYTES", total - 1)
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.load(path)
    assert str(excinfo.value) == (
        f"{path} holds {total} bytes uncompressed, over polyprop.checkpoint.MAX_BYTES = {total - 1}; "
        "raise it to load a checkpoint this large"
    )
    monkeypatch.setattr(checkpoint, "MAX_BYTES", total)
    assert polyprop.load(path)[1].count == 1


def test_the_documented_default_limit_is_16_gib():
    assert checkpoint.MAX_BYTES == 16 * 2**30


@pytest.mark.parametrize(("damage", "expected"), [
    ("compression", "member 'params/0.npy' uses compression method 12; stored or deflated are read"),
    ("npy 3.0", "member 'params/0.npy' is .npy format (3, 0); 1.0 and 2.0 are read"),
    ("short data", "member 'params/0.npy' claims 16 bytes (float64(2,)) but holds 8"),
    ("crc", "is not a readable polyprop checkpoint (truncated or corrupted?): params/0.npy: Bad CRC-32"),
])
def test_damaged_members_are_named(damage, expected, tmp_path):
    path = _good(tmp_path)
    members = _arrays(path)
    if damage == "compression":
        _rezip(path, members, zipfile.ZIP_BZIP2)
    elif damage == "npy 3.0":
        members["params/0.npy"] = b"\x93NUMPY\x03\x00" + members["params/0.npy"][8:]
        _rezip(path, members)
    elif damage == "short data":
        members["params/0.npy"] = members["params/0.npy"][:-8]
        _rezip(path, members)
    else:
        _rezip(path, members)
        data = bytearray(path.read_bytes())
        data[data.index(members["params/0.npy"]) + len(members["params/0.npy"]) - 1] ^= 0xFF
        path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as excinfo:
        polyprop.load(path)
    assert expected in str(excinfo.value)
    assert str(excinfo.value).startswith(str(path))


# -- temporaries, modes, links, long names, the folder's fsync ---------------------------------------------


def _temporary(folder, target, pid, host=None, tail="0123abcd"):
    name = f"{files.temporary_prefix(folder / target)}{host or files._HOST}-{pid}-{tail}"
    (folder / name).write_bytes(b"half a checkpoint")
    return name


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    return process.pid


@pytest.mark.parametrize("then", ["save", "load"])
def test_the_next_save_or_load_removes_dead_writers_temporaries_only(then, tmp_path):
    path = _good(tmp_path)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = _temporary(tmp_path, "c.npz", _dead_pid())
        old = _temporary(tmp_path, "c.npz", sleeper.pid, tail="0ld0ld00")
        os.utime(tmp_path / old, (time.time() - files.STALE_AFTER_S - 60,) * 2)
        kept = {
            _temporary(tmp_path, "c.npz", sleeper.pid),  # a live writer
            _temporary(tmp_path, "c.npz", os.getpid()),  # this process (another thread may be writing it)
            _temporary(tmp_path, "c.npz", 1),  # pid 1 lives (EPERM for other users)
            _temporary(tmp_path, "c.npz", _dead_pid(), host="0e0e0e0e"),  # another host's: its pid means nothing here
            _temporary(tmp_path, "other.npz", _dead_pid()),  # another target's
            ".c.npz.polyprop-tmp-x-y",  # not a temporary's name
            ".c.npz.polyprop-tmp-a-b-c-d",
            ".c.npz.polyprop-tmp-a--c",
        }
        for name in kept:
            (tmp_path / name).touch(exist_ok=True)
        if then == "save":
            params, state, config = polyprop.load(path)
            polyprop.save(path, params, state, config)
        else:
            polyprop.load(path)
        assert set(os.listdir(tmp_path)) == kept | {"c.npz"}
        assert not (tmp_path / dead).exists()
        assert not (tmp_path / old).exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_remove_stale_temporaries_reports_what_it_removed_and_skips_a_missing_folder(tmp_path):
    dead = _temporary(tmp_path, "c.npz", _dead_pid())
    assert files.remove_stale_temporaries(tmp_path / "c.npz") == [str(tmp_path / dead)]
    assert files.remove_stale_temporaries(tmp_path / "c.npz") == []
    assert files.remove_stale_temporaries(tmp_path / "absent" / "c.npz") == []
    young = _temporary(tmp_path, "c.npz", os.getpid())
    later = os.stat(tmp_path / young).st_mtime + files.STALE_AFTER_S + 1
    assert files.remove_stale_temporaries(tmp_path / "c.npz", now=later - 2) == []
    assert files.remove_stale_temporaries(tmp_path / "c.npz", now=later) == [str(tmp_path / young)]


def test_the_temporary_is_named_for_its_target_writer_and_host(tmp_path, monkeypatch):
    seen = []
    replace = os.replace

    def spy(src, dst):
        seen.append((os.path.basename(src), stat.S_IMODE(os.stat(src).st_mode)))
        replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    files.write_atomically(tmp_path / "run.npz", b"x")
    name = seen[0][0]
    assert re.fullmatch(rf"\.run\.npz\.polyprop-tmp-[0-9a-f]{{8}}-{os.getpid()}-[0-9a-f]{{8}}", name), name
    assert name.split("-")[2] == files._HOST


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_the_umasks_mode_and_a_replaced_one_keeps_its_own(umask, expected, tmp_path):
    old = os.umask(umask)
    try:
        files.write_atomically(tmp_path / "new", b"1")
        assert stat.S_IMODE(os.stat(tmp_path / "new").st_mode) == expected
        os.chmod(tmp_path / "new", 0o640)
        files.write_atomically(tmp_path / "new", b"2")
        assert stat.S_IMODE(os.stat(tmp_path / "new").st_mode) == 0o640
        assert (tmp_path / "new").read_bytes() == b"2"
    finally:
        os.umask(old)


def test_saving_to_a_symlink_writes_its_target_and_keeps_the_link(tmp_path):
    (tmp_path / "real").mkdir()
    path = _good(tmp_path / "real")
    link = tmp_path / "latest.npz"
    link.symlink_to(os.path.join("real", "c.npz"))
    params, state, config = polyprop.load(link)
    polyprop.save(link, params, state._replace(count=9), config)
    assert link.is_symlink()
    assert os.readlink(link) == os.path.join("real", "c.npz")
    assert polyprop.load(path)[1].count == 9
    dangling = tmp_path / "next.npz"
    dangling.symlink_to(os.path.join("real", "fresh.npz"))
    polyprop.save(dangling, params, state, config)
    assert dangling.is_symlink()
    assert polyprop.load(tmp_path / "real" / "fresh.npz")[1].count == 1
    assert sorted(os.listdir(tmp_path / "real")) == ["c.npz", "fresh.npz"]


@pytest.mark.parametrize("length", [254, 255])
def test_a_name_of_name_max_bytes_works(length, tmp_path, monkeypatch):
    name = "é" * ((length - 4) // 2) + "a" * ((length - 4) % 2) + ".npz"  # 2-byte characters: bytes count
    assert len(os.fsencode(name)) == length
    seen = []
    replace = os.replace

    def spy(src, dst):
        seen.append(os.path.basename(src))
        replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    path = _good(tmp_path)
    params, state, config = polyprop.load(path)
    polyprop.save(tmp_path / name, params, state, config)
    assert polyprop.load(tmp_path / name)[1].count == 1
    temporary = seen[-1]
    assert len(os.fsencode(temporary)) <= 255
    assert temporary.startswith(files.temporary_prefix(tmp_path / name))
    assert re.fullmatch(r"\.[0-9a-f]{16}\.polyprop-tmp-.*", temporary)
    dead = _temporary(tmp_path, name, _dead_pid())
    assert len(os.fsencode(dead)) <= 255
    polyprop.load(tmp_path / name)
    assert sorted(os.listdir(tmp_path)) == sorted(["c.npz", name])


def test_a_short_name_keeps_its_own_name_in_the_temporary(tmp_path):
    assert files.temporary_prefix(tmp_path / "run.npz") == ".run.npz.polyprop-tmp-"
    longest = "a" * (255 - len(".") - len(files.MARK) - files._ENDING)
    assert files.temporary_prefix(tmp_path / longest) == f".{longest}.polyprop-tmp-"
    assert files.temporary_prefix(tmp_path / (longest + "a")).endswith(".polyprop-tmp-")
    assert len(files.temporary_prefix(tmp_path / (longest + "a"))) == 1 + 16 + len(files.MARK)


def test_the_folder_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    events = []
    replace, fsync = os.replace, os.fsync

    def spy_replace(src, dst):
        events.append("replace")
        replace(src, dst)

    def spy_fsync(fd):
        events.append("fsync folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        fsync(fd)

    monkeypatch.setattr(os, "replace", spy_replace)
    monkeypatch.setattr(os, "fsync", spy_fsync)
    path = _good(tmp_path)
    assert events == ["fsync file", "replace", "fsync folder"]
    assert polyprop.load(path)[1].count == 1


def test_a_failed_write_removes_its_temporary(tmp_path, monkeypatch):
    files.write_atomically(tmp_path / "a", b"good")

    def broken(fd):
        raise OSError("no space left on device")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="no space left"):
        files.write_atomically(tmp_path / "a", b"new")
    assert os.listdir(tmp_path) == ["a"]
    assert (tmp_path / "a").read_bytes() == b"good"


# -- kill -9 during save, 50 times ---------------------------------------------------------------------------------

WRITERS = textwrap.dedent("""
    import os
    import sys

    import numpy as np

    import polyprop
    from polyprop.rmsprop import RMSPropState

    path, size, warm_up = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    config = polyprop.RMSPropConfig(centered=True, momentum=0.5)
    leaf = [np.zeros(size)]  # a first save elsewhere: the writers start warm (backend imported)
    polyprop.save(warm_up, leaf, RMSPropState(count=0, nu=leaf, mu=leaf, momentum=leaf), config)
    while sys.stdin.readline():  # one writer per line: forked, so it starts at once
        ready, say_ready = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(say_ready, b"!")
            i = 1
            while True:
                leaf = [np.full(size, float(i))]
                polyprop.save(path, leaf, RMSPropState(count=i, nu=leaf, mu=leaf, momentum=leaf, skipped=i), config)
                i += 1
        os.close(say_ready)
        os.read(ready, 1)
        os.close(ready)
        print(pid, flush=True)
        os.waitpid(pid, 0)  # reaped: its pid is free, so its temporary is a dead writer's
        print("reaped", flush=True)
""")
KILLS = 50
SIZE = 2**18
"""Elements per array: 4 arrays of 2 MiB, an 8 MiB checkpoint (a save takes about 0.05 s, half of it writing)."""


def _consistent(path):
    """The checkpoint at ``path`` loads and is one whole save: every array and both counters hold the same i."""
    params, state, _ = polyprop.load(path)
    i = state.count
    assert state.skipped == i
    for leaf in (params[0], state.nu[0], state.mu[0], state.momentum[0]):
        assert leaf.shape == (SIZE,)
        assert leaf.min() == leaf.max() == i
    return i


def _kill_a_writer_mid_save(server, rng):
    server.stdin.write(b"go\n")
    server.stdin.flush()
    pid = int(server.stdout.readline())  # once the writer runs
    time.sleep(rng.uniform(0.0, 0.15))
    os.kill(pid, signal.SIGKILL)
    assert server.stdout.readline() == b"reaped\n"


def test_kill_9_during_save_never_loses_the_previous_file_nor_leaves_debris(tmp_path):
    script = tmp_path / "writers.py"
    script.write_text(WRITERS)
    folder = tmp_path / "run"
    folder.mkdir()
    path = folder / "c.npz"
    leaf = [np.zeros(SIZE)]
    config = RMSPropConfig(centered=True, momentum=0.5)
    polyprop.save(path, leaf, RMSPropState(count=0, nu=leaf, mu=leaf, momentum=leaf, skipped=0), config)
    rng = random.Random(12)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    server = subprocess.Popen(
        [sys.executable, str(script), str(path), str(SIZE), str(tmp_path / "warm-up.npz")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
    )
    try:
        for kill in range(KILLS):
            _kill_a_writer_mid_save(server, rng)
            if kill % 2 == 0:  # the next load finds a whole file and removes the dead writer's temporary
                _consistent(path)
            else:  # the next save does too (the file is checked through a copy: a load would clean first)
                shutil.copyfile(path, tmp_path / "copy.npz")
                _consistent(tmp_path / "copy.npz")
                polyprop.save(path, leaf, RMSPropState(count=0, nu=leaf, mu=leaf, momentum=leaf, skipped=0), config)
            assert os.listdir(folder) == ["c.npz"]
    finally:
        server.kill()
        server.wait()
        server.stdin.close()
        server.stdout.close()
