"""Backend choice: argument, else the tensors, else use_backend, else $POLYPROP_BACKEND, else numpy."""

from __future__ import annotations

import numpy as np
import pytest

import polyprop
from conftest import require_backend


def test_default_is_numpy(monkeypatch):
    monkeypatch.delenv("POLYPROP_BACKEND", raising=False)
    assert polyprop.current_backend() == "numpy"
    assert polyprop.get_ops().NAME == "numpy"


def test_environment_variable_is_read_when_needed(monkeypatch):
    monkeypatch.setenv("POLYPROP_BACKEND", "jax")
    assert polyprop.current_backend() == "jax"
    monkeypatch.setenv("POLYPROP_BACKEND", "theano")
    with pytest.raises(ValueError, match="POLYPROP_BACKEND.*'theano'.*numpy, torch, mxnet, tensorflow, jax"):
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
    with pytest.raises(ValueError, match=r"unknown backend 'pytorch'; known backends: numpy, torch, mxnet, tensorflow, jax"):
        polyprop.get_ops("pytorch")
    with pytest.raises(ValueError, match="known backends"):
        with polyprop.use_backend("tf"):
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
