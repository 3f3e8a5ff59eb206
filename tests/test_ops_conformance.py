"""Every adapter defines the whole ops interface and each op agrees with NumPy.

Its optional parts keep their contract.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Hashable

import numpy as np
import pytest

import polyprop
from polyprop import rmsprop, validation
from polyprop.backends import BACKENDS, FRAMEWORKS, REGISTRY, backend_of
from polyprop.ops import OPS_NAMES, OPTIONAL_NAMES, FastPath, FastUpdate, MemorySpans, Ops, SharesMemory
from polyprop.parity import VARIANTS

SHAPES = [(), (1,), (4,), (2, 3), (2, 1, 3, 2)]
DTYPES = ["float32", "float64"]


def test_interface_names_match_the_protocol():
    declared = {name for name in vars(Ops) if not name.startswith("_")} - {"NAME"}
    assert declared == set(OPS_NAMES)
    assert len(OPS_NAMES) == len(set(OPS_NAMES)) == 12
    optional = {name for protocol in (FastPath, MemorySpans, SharesMemory) for name in vars(protocol)
                if not name.startswith("_")}
    assert optional == set(OPTIONAL_NAMES)
    assert not optional & set(OPS_NAMES)


def test_adapter_defines_every_op(backend):
    missing = [name for name in OPS_NAMES if not callable(getattr(backend, name, None))]
    assert missing == []
    assert isinstance(backend, Ops)
    assert backend.NAME in polyprop.BACKENDS
    assert backend.framework_version() == polyprop.available_backends()[backend.NAME]


def test_the_backend_package_re_exports_its_ops_module(backend):
    """load(name) is the package polyprop.backends.<name>; its ops are those of its ops module, the same objects."""
    assert backend.__name__ == f"polyprop.backends.{backend.NAME}"
    for name in ("NAME", "framework_version", *OPS_NAMES):
        assert getattr(backend, name) is getattr(backend.ops, name), name
    assert isinstance(backend.ops, Ops)
    assert callable(backend.compile_update)
    for name in ("memory_spans", "shares_memory"):  # (polyprop.validation reads them on the package)
        assert getattr(backend, name, None) is getattr(backend.ops, name, None), name


def test_the_registry_lists_each_backend_once_numpy_first():
    assert BACKENDS == tuple(b.name for b in REGISTRY) == polyprop.BACKENDS
    assert BACKENDS[0] == "numpy"
    assert len(set(BACKENDS)) == len(BACKENDS) == 5
    assert list(FRAMEWORKS) == list(BACKENDS)
    assert all(FRAMEWORKS[b.name] is b for b in REGISTRY)
    assert len({b.color for b in REGISTRY}) == len(REGISTRY)  # one colour each in the chapter's figures
    tensor_modules = [m for b in REGISTRY for m in b.tensor_modules]
    assert len(set(tensor_modules)) == len(tensor_modules)  # a tensor's module names one backend


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda b: b.name)
def test_a_type_of_each_tensor_module_names_its_backend(entry):
    """backend_of reads type(x).__module__'s top level: each registered module maps to its entry."""
    for module in entry.tensor_modules:
        kind = type("T", (), {"__module__": f"{module}.sub"})
        assert backend_of(kind()) == entry.name


def _values(shape, dtype, seed, positive=False):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    return (np.abs(a) + 0.5 if positive else a).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_each_op_matches_numpy_bit_for_bit_or_to_an_ulp(backend, shape, dtype):
    ops = backend
    a, b = _values(shape, dtype, 1), _values(shape, dtype, 2, positive=True)
    ta, tb = ops.from_numpy(a), ops.from_numpy(b)
    ulp = np.finfo(dtype).eps
    expected = {
        "add": (ops.add(ta, tb), a + b),
        "sub": (ops.sub(ta, tb), a - b),
        "mul": (ops.mul(ta, tb), a * b),
        "div": (ops.div(ta, tb), a / b),
        "sqrt": (ops.sqrt(tb), np.sqrt(b)),
        "square": (ops.square(ta), np.square(a)),
        "scalar*x": (ops.mul(ops.scalar(0.1, ta), ta), np.asarray(0.1, dtype) * a),
        "x/scalar": (ops.div(ta, ops.scalar(3.0, ta)), a / np.asarray(3.0, dtype)),
        "zeros_like": (ops.zeros_like(ta), np.zeros_like(a)),
        "full_like": (ops.full_like(ta, 0.3), np.full_like(a, 0.3)),
    }
    for name, (got, want) in expected.items():
        got = ops.to_numpy(got)
        assert got.shape == want.shape, name
        assert got.dtype == want.dtype, name
        # +, -, * are correctly rounded everywhere.  sqrt is off by an ulp for some inputs
        # in torch on CPU, and XLA (JAX) divides by a broadcast scalar through its
        # reciprocal, off by an ulp too (NATIVE_RMSPROP.md section 4, item 12).
        inexact = name in ("sqrt", "div", "x/scalar")
        np.testing.assert_allclose(got, want, rtol=ulp if inexact else 0, atol=0, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_scalar_is_the_value_rounded_once_to_the_tensor_dtype(backend, dtype):
    like = backend.from_numpy(np.ones(3, dtype))
    for value in (0.1, 1 - 0.9, 1e-8, 0.4, -1.0):
        got = backend.mul(backend.scalar(value, like), backend.full_like(like, 1.0))
        assert np.array_equal(backend.to_numpy(got), np.full(3, value, dtype=dtype))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_numpy_round_trip_and_cast(backend, shape):
    a = _values(shape, "float64", 3)
    t = backend.from_numpy(a)
    back = backend.to_numpy(t)
    assert back.dtype == np.float64
    assert back.shape == a.shape
    assert np.array_equal(back, a)
    back[...] = 0  # a copy: writing to it leaves the tensor alone
    assert np.array_equal(backend.to_numpy(t), a)
    as32 = backend.to_numpy(backend.cast(t, "float32"))
    assert as32.dtype == np.float32
    assert np.array_equal(as32, a.astype(np.float32))


def test_inference_names_the_adapter_backend(backend):
    t = backend.from_numpy(np.zeros(2))
    assert polyprop.infer_backend([t]) == backend.NAME
    assert polyprop.get_ops(None, [t]) is backend


FAST_CONFIGS = {
    "mxnet": polyprop.presets.mxnet(learning_rate=0.01, gamma1=0.9),
    "mxnet_centered": polyprop.presets.mxnet(learning_rate=0.01, gamma1=0.9, gamma2=0.5, centered=True),
    "everything": VARIANTS["everything"],
    "state_dtype": polyprop.RMSPropConfig(learning_rate=0.01, decay=0.9, state_dtype="float32"),
}


def test_the_fast_path_where_defined_returns_none_or_a_described_kernel(backend):
    """compile_update(config, update, plain) -> FastUpdate | None (polyprop.ops.FastPath), and fast_path reports it."""
    assert isinstance(backend, FastPath) == hasattr(backend, "compile_update")
    if not isinstance(backend, FastPath):
        return
    expected = list(inspect.signature(FastPath.compile_update).parameters)[1:]
    assert list(inspect.signature(backend.compile_update).parameters) == expected == ["config", "update", "plain"]
    built = {}
    for name, config in FAST_CONFIGS.items():
        def update(ops, *leaf, config=config):
            return rmsprop.update_leaf(ops, config, *leaf)

        fast = backend.compile_update(config, update, functools.partial(rmsprop.apply_each, backend, config))
        assert fast is None or isinstance(fast, FastUpdate), (name, fast)
        if fast is not None:
            assert callable(fast.apply), name
            assert isinstance(fast.description, str), name
            assert fast.description.strip() not in ("", "plain"), name
        built[name] = fast
        assert polyprop.fast_path(config, backend) == ("plain" if fast is None else fast.description), name
    assert any(fast is not None for fast in built.values())  # (one that never gives a kernel is no fast path)


VIEWS = ("numpy", "torch", "mxnet")
"""The backends whose slices are views of their tensor's memory (JAX's and TensorFlow's are copies)."""


def test_the_memory_ops_where_defined_give_what_check_memory_reads(backend):
    """memory_spans: ``(hashable buffer, start, end)`` per tensor; shares_memory beside it tells overlaps apart."""
    spans_of, shares = getattr(backend, "memory_spans", None), getattr(backend, "shares_memory", None)
    assert isinstance(backend, MemorySpans) == (spans_of is not None)
    assert isinstance(backend, SharesMemory) == (shares is not None)
    assert shares is None or spans_of is not None  # (validation reads shares_memory only for overlapping spans)
    if spans_of is None:
        return
    a, b = backend.from_numpy(np.arange(6.0)), backend.from_numpy(np.ones(4, np.float32))
    spans = spans_of([a, b, a])
    assert len(spans) == 3
    assert spans[0] == spans[2]
    for span, nbytes in zip(spans, (48, 16)):
        buffer, start, end = span
        assert isinstance(buffer, Hashable)
        assert isinstance(start, int)
        assert isinstance(end, int)
        assert end - start == nbytes
    assert validation.shared_memory([a, b], [True, True], spans_of, shares) is None
    assert validation.shared_memory([a, b, a], [True, False, False], spans_of, shares) == (2, 0)
    assert validation.shared_memory([b, a, a], [True, False, False], spans_of, shares) is None  # read-only twice
    view = a[2:5]
    shared = validation.shared_memory([b, a, view], [True, True, False], spans_of, shares)
    assert shared == ((2, 1) if backend.NAME in VIEWS else None)
    if shares is not None:  # interleaved views overlap in their spans but share no byte
        evens, odds, later = a[0::2], a[1::2], a[2::2]
        assert shares(evens, later)
        assert not shares(evens, odds)
        assert validation.shared_memory([evens, odds], [True, True], spans_of, shares) is None
        assert validation.shared_memory([evens, later], [True, True], spans_of, shares) == (1, 0)
