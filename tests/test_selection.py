"""Backend choice: argument, else the tensors, else use_backend, else $POLYPROP_BACKEND, else numpy."""

from __future__ import annotations

import json

import numpy as np
import pytest

import polyprop
from conftest import Array, RecordingOps, require_backend
from polyprop import RMSPropConfig


def test_default_is_numpy(monkeypatch):
    monkeypatch.delenv("POLYPROP_BACKEND", raising=False)
    assert polyprop.current_backend() == "numpy"
    assert polyprop.get_ops().NAME == "numpy"


def test_environment_variable_is_read_when_needed(monkeypatch):
    monkeypatch.setenv("POLYPROP_BACKEND", "jax")
    assert polyprop.current_backend() == "jax"
    monkeypatch.setenv("POLYPROP_BACKEND", "theano")
    with pytest.raises(ValueError, match=r"POLYPROP_BACKEND.*'theano'.*numpy, torch, mxnet, tensorflow, jax"):
        polyprop.current_backend()


def test_context_manager_beats_environment_and_nests(monkeypatch):
    monkeypatch.setenv("POLYPROP_BACKEND", "jax")
    with polyprop.use_backend("torch"):
        assert polyprop.current_backend() == "torch"
        with polyprop.use_backend("mxnet"):
            assert polyprop.current_backend() == "mxnet"
        assert polyprop.current_backend() == "torch"
    assert polyprop.current_backend() == "jax"


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(
        ValueError, match=r"unknown backend 'pytorch'; known backends: numpy, torch, mxnet, tensorflow, jax"
    ):
        polyprop.get_ops("pytorch")
    with pytest.raises(ValueError, match="known backends"), polyprop.use_backend("tf"):
        pass


def test_tensors_beat_the_context_and_the_argument_beats_the_tensors(monkeypatch):
    monkeypatch.setenv("POLYPROP_BACKEND", "torch")
    params = [np.ones(2)]
    with polyprop.use_backend("jax"):
        assert polyprop.get_ops(None, params).NAME == "numpy"
    numpy_ops = polyprop.get_ops("numpy")
    assert polyprop.get_ops(numpy_ops, params) is numpy_ops


def test_inference_walks_lists_tuples_dicts_and_ignores_python_numbers():
    tree = {"a": [np.zeros(1), (np.ones(2), None)], "b": 3.0}
    assert polyprop.infer_backend(tree) == "numpy"
    assert polyprop.infer_backend([1.0, 2], {"x": None}) is None


def test_tensors_of_two_frameworks_raise_typeerror_naming_both():
    torch = require_backend("torch")
    mixed = [np.zeros(2), torch.from_numpy(np.zeros(2))]
    with pytest.raises(TypeError, match=r"numpy \(ndarray\) and torch \(Tensor\)"):
        polyprop.infer_backend(mixed)
    config = polyprop.RMSPropConfig()
    state = polyprop.init([np.zeros(2)], config)
    with pytest.raises(TypeError, match="two frameworks"):
        polyprop.step([np.zeros(2)], [torch.from_numpy(np.zeros(2))], state, config)


def test_step_runs_on_the_inferred_backend(other_backend):
    ops = other_backend
    config = polyprop.RMSPropConfig(learning_rate=0.1)
    params = [ops.from_numpy(np.array([1.0, -2.0]))]
    state = polyprop.init(params, config)
    new_params, state = polyprop.step(params, [ops.from_numpy(np.array([0.5, 0.5]))], state, config)
    assert polyprop.infer_backend(new_params, state) == ops.NAME


def test_available_backends_reports_every_backend_with_a_version():
    versions = polyprop.available_backends()
    assert list(versions) == list(polyprop.BACKENDS)
    assert versions["numpy"] == np.__version__
    for name, version in versions.items():
        assert version is None or version[0].isdigit(), (name, version)


# -- the argument, then the tensors, then the context: in init, step, save and load --------


def test_explicit_adapter_runs_init_and_step():
    ops = RecordingOps()
    config = RMSPropConfig(learning_rate=0.1, momentum=0.5, centered=True)
    params = [np.ones(2), np.ones(3)]
    state = polyprop.init(params, config, ops)
    assert ops.calls["full_like"] == 2
    assert ops.calls["zeros_like"] == 4  # mu and momentum: a buffer each
    polyprop.step(params, [np.ones(2), np.ones(3)], state, config, ops)
    assert ops.calls["sqrt"] == 2


def test_the_tensors_beat_the_context_in_init_step_save_and_load(tmp_path):
    """Inside use_backend("torch") NumPy tensors still run on NumPy (torch is never loaded)."""
    config = RMSPropConfig(learning_rate=0.1)
    params = [np.array([1.0, 2.0])]
    with polyprop.use_backend("torch"):
        state = polyprop.init(params, config)
        new, state = polyprop.step(params, [np.array([1.0, -1.0])], state, config)
        assert isinstance(new[0], np.ndarray)
        assert isinstance(state.nu[0], np.ndarray)
        # no gradient at all: the parameters alone decide
        same, later = polyprop.step(new, [None], state, config)
        assert same[0] is new[0]
        assert later.count == 2
        polyprop.save(tmp_path / "c.npz", new, state, config)
        loaded, _, _ = polyprop.load(tmp_path / "c.npz", backend="numpy")
    np.testing.assert_array_equal(loaded[0], new[0])
    with np.load(tmp_path / "c.npz") as archive:
        assert json.loads(str(archive["metadata"]))["backend"] == "numpy"


def test_save_and_load_use_the_given_adapter(tmp_path):
    config = RMSPropConfig(momentum=0.5)
    params = [np.ones(2)]
    state = polyprop.init(params, config)
    ops = RecordingOps()
    polyprop.save(tmp_path / "c.npz", params, state, config, ops)
    assert ops.calls["to_numpy"] == 3  # params, nu, momentum
    ops = RecordingOps()
    polyprop.load(tmp_path / "c.npz", backend=ops)
    assert ops.calls["from_numpy"] == 3


def test_tensors_of_two_frameworks_are_named_without_importing_either():
    with pytest.raises(TypeError) as excinfo:
        polyprop.infer_backend([np.ones(2)], {"g": Array()}, [np.zeros(1)])
    assert str(excinfo.value) == "tensors of two frameworks in one call: numpy (ndarray) and jax (Array)"
    assert polyprop.infer_backend([Array(), Array()]) == "jax"


def test_a_step_with_params_and_grads_of_two_frameworks_names_both():
    params = [np.ones(2)]
    config = RMSPropConfig()
    state = polyprop.init(params, config)
    with pytest.raises(TypeError) as excinfo:
        polyprop.step(params, [Array()], state, config)
    assert str(excinfo.value) == "tensors of two frameworks in one call: numpy (ndarray) and jax (Array)"
