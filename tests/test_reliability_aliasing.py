"""Reliability: shared memory, odd arrays and containers, and state built for another config (issue 12, item 3).

Every parameter and state tensor needs memory of its own: the same tensor twice, views
of one buffer that overlap, or a gradient that is also a parameter or state tensor are
refused by step, fast_step and the drop-ins, naming both.  Empty tensors, np.matrix,
read-only, non-contiguous and Fortran-order arrays and Mapping subclasses work exactly
as in step (fast_step compared bit for bit), and a state whose buffers do not match the
config is refused.  The NumPy tests are fast (mutation testing runs them).
"""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
import types
from collections.abc import Mapping

import numpy as np
import pytest

import polyprop
from conftest import require_backend
from polyprop import RMSPropConfig
from polyprop.validation import SHARED_MEMORY, shared_memory

CONFIGS = {
    "plain": RMSPropConfig(learning_rate=0.1),
    "centered+momentum": RMSPropConfig(learning_rate=0.1, centered=True, momentum=0.5),
}
STEPS = (polyprop.step, polyprop.fast_step)


def shared(a: str, b: str) -> str:
    return f"{a} and {b} share memory: {SHARED_MEMORY}"


def message(excinfo) -> str:
    return str(excinfo.value)


def grads_like(params, seed=0):
    rng = np.random.default_rng(seed)
    if isinstance(params, Mapping):
        return {k: rng.standard_normal(np.shape(v)).astype(np.asarray(v).dtype) for k, v in params.items()}
    return [rng.standard_normal(np.shape(x)).astype(np.asarray(x).dtype) for x in params]


def arrays(tree):
    leaves = tree.values() if isinstance(tree, Mapping) else tree
    return [np.asarray(x).copy() for x in leaves]


def assert_same_bits(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape
        assert x.dtype == y.dtype
        assert x.tobytes() == y.tobytes()


# --------------------------------------------------------------------------------------
# shared_memory itself


def test_shared_memory_finds_the_same_object_where_one_is_writable():
    a, b = object(), object()
    assert shared_memory([a, b, a], [True, True, True]) == (2, 0)
    assert shared_memory([a, b, a], [True, False, False]) == (2, 0)  # a writable, then read
    assert shared_memory([b, a, a], [True, False, True]) == (2, 1)  # read, then writable
    assert shared_memory([a, b, b], [True, False, False]) is None  # a gradient twice is fine
    assert shared_memory([a, None, None, b], [True, True, True, True]) is None


def test_shared_memory_compares_ranges_within_a_buffer():
    spans = {"p": ("buf", 0, 8), "q": ("buf", 8, 16), "r": ("buf", 4, 12), "s": ("other", 0, 8), "e": ("buf", 4, 4)}

    def memory_spans(tensors):
        return [spans[t] for t in tensors]

    assert shared_memory(["p", "q", "s"], [True] * 3, memory_spans) is None  # adjacent, other buffer
    assert shared_memory(["p", "q", "r"], [True] * 3, memory_spans) == (2, 0)
    assert shared_memory(["q", "p", "r"], [True] * 3, memory_spans) == (2, 1)
    assert shared_memory(["p", "r"], [False, False], memory_spans) is None  # two gradients
    assert shared_memory(["p", "r"], [False, True], memory_spans) == (1, 0)
    assert shared_memory(["p", "e", "q"], [True] * 3, memory_spans) is None  # empty: no memory
    assert shared_memory(["p", "r"], [True, True], memory_spans, lambda a, b: False) is None  # interleaved
    assert shared_memory(["p", "r"], [True, True], lambda ts: [None, None]) is None


# --------------------------------------------------------------------------------------
# Shared memory on NumPy: refused by step and fast_step, naming both tensors


def numpy_aliasing_cases():
    base = np.arange(8.0)
    w, b = np.ones(3), np.ones(3)
    return {
        "same array twice": ([w, w], None, "params[1]", "params[0]"),
        "overlapping views": ([base[0:4], base[2:6]], None, "params[1]", "params[0]"),
        "a view inside the other array": ([base, base[3:5]], None, "params[1]", "params[0]"),
        "reversed view": ([base[:4], base[::-1][:5]], None, "params[1]", "params[0]"),
        "through a memoryview": ([base[:4], np.frombuffer(memoryview(base), dtype=base.dtype)[3:5]], None,
                                 "params[1]", "params[0]"),
        "grad is the parameter": ([w, b], lambda p, s: [p[0], np.ones(3)], "grads[0]", "params[0]"),
        "grad is state.nu": ([w, b], lambda p, s: [np.ones(3), s.nu[1]], "state.nu[1]", "grads[1]"),
        "grad views a parameter": ([base[:4], b], lambda p, s: [np.ones(4), base[2:5]], "grads[1]", "params[0]"),
    }


@pytest.mark.parametrize("step", STEPS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("case", list(numpy_aliasing_cases()))
def test_numpy_shared_memory_is_refused_and_nothing_is_written(case, step):
    params, make_grads, first, second = numpy_aliasing_cases()[case]
    config = CONFIGS["plain"]
    state = polyprop.init(params, config)
    grads = make_grads(params, state) if make_grads else grads_like(params)
    before = arrays(params) + arrays(grads) + arrays(state.nu)
    with pytest.raises(ValueError, match="share memory") as excinfo:
        step(params, grads, state, config)
    assert message(excinfo) == shared(first, second)
    assert_same_bits(arrays(params) + arrays(grads) + arrays(state.nu), before)  # refused before any write


@pytest.mark.parametrize("step", STEPS, ids=lambda f: f.__name__)
def test_numpy_state_buffers_sharing_memory_are_refused(step):
    config = CONFIGS["centered+momentum"]
    params = {"a": np.ones(2), "b": np.ones(2)}
    state = polyprop.init(params, config)
    cases = {
        "mu is nu": (state._replace(mu={"a": state.nu["a"], "b": state.mu["b"]}), "state.mu['a']", "state.nu['a']"),
        "momentum of b is mu of a": (state._replace(momentum={"a": state.momentum["a"], "b": state.mu["a"]}),
                                     "state.momentum['b']", "state.mu['a']"),
        "nu is the parameter": (state._replace(nu={"a": state.nu["a"], "b": params["b"]}),
                                "state.nu['b']", "params['b']"),
    }
    for bad, first, second in cases.values():
        with pytest.raises(ValueError, match="share memory") as excinfo:
            step(params, grads_like(params), bad, config)
        assert message(excinfo) == shared(first, second)


def numpy_disjoint_layouts():
    flat = np.arange(12.0) / 10

    def matrix():
        return (np.arange(12.0) / 10).reshape(3, 4)

    return {
        "adjacent slices of one buffer": lambda: [flat.copy()[0:5], flat.copy()[5:12]],
        "interleaved views": lambda: (lambda f: [f[0::2], f[1::2]])(flat.copy()),
        "column blocks of a matrix": lambda: (lambda m: [m[:, :2], m[:, 2:]])(matrix()),
        "one gradient for two parameters": lambda: [flat[:4].copy(), flat[4:8].copy()],
    }


@pytest.mark.parametrize("name", list(numpy_disjoint_layouts()))
def test_numpy_views_that_do_not_overlap_step_and_fast_step_alike(name):
    """Disjoint views of one buffer are legal: fast_step (in place where it can) equals step to the bit."""
    layout = numpy_disjoint_layouts()[name]
    config = CONFIGS["centered+momentum"]
    results = []
    for step in STEPS:
        params = layout()
        if "one gradient" in name:
            gradient = np.full(params[0].shape, 0.5)
            grads = [gradient, gradient]  # the same gradient array for both (read only)
        else:
            grads = grads_like(params)
        state = polyprop.init(params, config)
        for _ in range(3):
            params, state = step(params, grads, state, config)
        results.append(arrays(params) + arrays(state.nu) + arrays(state.mu) + arrays(state.momentum))
    assert_same_bits(results[1], results[0])


def test_the_same_empty_array_twice_is_refused_two_empty_arrays_are_not():
    config = CONFIGS["plain"]
    empty = np.zeros((0,))
    with pytest.raises(ValueError, match="share memory") as excinfo:
        polyprop.step([empty, empty], [np.zeros(0), np.zeros(0)], polyprop.init([empty, empty], config), config)
    assert message(excinfo) == shared("params[1]", "params[0]")
    base = np.zeros(4)
    params = [base[1:1], base[1:1].copy(), base]  # an empty view inside another array occupies no memory
    new, _ = polyprop.fast_step(params, grads_like(params), polyprop.init(params, config), config)
    assert [x.shape for x in new] == [(0,), (0,), (4,)]


# --------------------------------------------------------------------------------------
# Odd NumPy arrays: fast_step equals step to the bit, and never writes what it must not


def odd_arrays():
    rng = np.random.default_rng(3)

    def read_only(shape):
        x = rng.standard_normal(shape)
        x.setflags(write=False)
        return x

    return {
        "empty (0,)": lambda: [np.zeros((0,)), np.ones(3)],
        "empty (3, 0)": lambda: [np.zeros((3, 0), np.float32), np.ones(2, np.float32)],
        "np.matrix": lambda: [np.matrix(rng.standard_normal((2, 3))), np.matrix(rng.standard_normal((1, 4)))],
        "read-only": lambda: [read_only((5,)), read_only((2, 2))],
        "non-contiguous": lambda: [rng.standard_normal(10)[::2], rng.standard_normal((4, 6))[:, 1:4]],
        "Fortran order": lambda: [np.asfortranarray(rng.standard_normal((3, 4))), np.ones(2)],
        "float32 and float64": lambda: [rng.standard_normal(7).astype(np.float32), rng.standard_normal(3)],
    }


@pytest.mark.parametrize("config_name", list(CONFIGS))
@pytest.mark.parametrize("name", list(odd_arrays()))
def test_numpy_odd_arrays_step_and_fast_step_alike(name, config_name):
    config = CONFIGS[config_name]
    results, kinds = [], []
    for step in STEPS:
        params = odd_arrays()[name]()
        grads = grads_like(params, seed=1)
        if name == "read-only":
            for g in grads:
                g.setflags(write=False)
        given = arrays(params) + arrays(grads)
        state = polyprop.init(params, config)
        new, state = step(params, grads, state, config)
        new, state = step(new, grads, state, config)
        if name == "read-only":  # fast_step writes in place only where it may: inputs untouched
            assert_same_bits(arrays(params) + arrays(grads), given)
        results.append(arrays(new) + arrays(state.nu) + arrays(state.mu or []) + arrays(state.momentum or []))
        kinds.append([type(x) for x in new])
    assert_same_bits(results[1], results[0])
    assert kinds[1] == kinds[0]
    if name == "np.matrix":
        assert kinds[0] == [np.matrix, np.matrix]


def test_numpy_fast_step_never_writes_a_gradient():
    config = CONFIGS["centered+momentum"]
    params = [np.ones(5), np.ones(3)]
    grads = grads_like(params)
    given = arrays(grads)
    state = polyprop.init(params, config)
    for _ in range(3):
        params, state = polyprop.fast_step(params, grads, state, config)
    assert_same_bits(arrays(grads), given)


# --------------------------------------------------------------------------------------
# Mapping subclasses


class Record(dict):
    """A dict subclass built from pairs, as dict is."""


class Strict(dict):
    """A dict subclass whose constructor takes no pairs."""

    def __init__(self, *, name: str = "x", **items):
        super().__init__(**items)
        self.name = name


class Frozen(Mapping):
    """A Mapping that is not a dict."""

    def __init__(self, items):
        self._items = dict(items)

    def __getitem__(self, key):
        return self._items[key]

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)


def containers():
    def items():
        return [("w", np.arange(4.0) / 4), ("b", np.ones(2))]

    return {
        "dict": (lambda: dict(items()), dict),
        "OrderedDict": (lambda: collections.OrderedDict(items()), collections.OrderedDict),
        "defaultdict": (lambda: collections.defaultdict(list, items()), collections.defaultdict),
        "dict subclass": (lambda: Record(items()), Record),
        "Mapping (not a dict)": (lambda: Frozen(items()), dict),
        "MappingProxyType": (lambda: types.MappingProxyType(dict(items())), dict),
        "tuple": (lambda: tuple(x for _, x in items()), tuple),
    }


@pytest.mark.parametrize("name", list(containers()))
def test_containers_come_back_alike_from_step_and_fast_step(name):
    make, kind = containers()[name]
    config = CONFIGS["centered+momentum"]
    results = []
    for step in STEPS:
        params = make()
        grads = {k: np.full(np.shape(v), 0.25) for k, v in params.items()} if isinstance(params, Mapping) else (
            [np.full(np.shape(x), 0.25) for x in params])
        state = polyprop.init(params, config)
        for tree in (state.nu, state.mu, state.momentum):
            assert type(tree) is kind
        new, state = step(params, grads, state, config)
        assert type(new) is kind
        assert type(state.nu) is kind
        assert type(state.momentum) is kind
        if kind is collections.defaultdict:
            assert new.default_factory is list
            assert state.nu.default_factory is list
        if isinstance(new, Mapping):
            assert list(new) == ["w", "b"]
        results.append(arrays(new) + arrays(state.nu) + arrays(state.mu))
    assert_same_bits(results[1], results[0])


def test_a_dict_subclass_that_cannot_be_rebuilt_is_refused_before_anything_runs():
    params = Strict(w=np.ones(2))
    expected = (
        "params is a Strict, which Strict(pairs of keys and tensors) cannot build (TypeError: "
        "Strict.__init__() takes 1 positional argument but 2 were given); the step returns params and state "
        "in the params' container: pass a dict"
    )
    with pytest.raises(TypeError) as excinfo:
        polyprop.init(params, CONFIGS["plain"])
    assert message(excinfo) == expected
    state = polyprop.init(dict(params), CONFIGS["plain"])
    for step in STEPS:
        with pytest.raises(TypeError) as excinfo:
            step(params, {"w": np.ones(2)}, state, CONFIGS["plain"])
        assert message(excinfo) == expected
    assert_same_bits(arrays(params), [np.ones(2)])


# --------------------------------------------------------------------------------------
# A state built for another config


MU_EXTRA = (
    "state.mu holds tensors but the config keeps none (centered=False): the state was built for a centered "
    "config; build it with init() for this one"
)
MOMENTUM_EXTRA = (
    "state.momentum holds tensors but the config keeps none (momentum=0.0): the state was built for a config "
    "with momentum; build it with init() for this one"
)
STATE_CASES = {
    # (config the state is built for, config of the step, message)
    "mu, not centered": (RMSPropConfig(centered=True), RMSPropConfig(), MU_EXTRA),
    "momentum, momentum 0": (RMSPropConfig(momentum=0.5), RMSPropConfig(), MOMENTUM_EXTRA),
    "mu and momentum, neither": (RMSPropConfig(centered=True, momentum=0.5), RMSPropConfig(), MU_EXTRA),
    "no mu, centered": (RMSPropConfig(), RMSPropConfig(centered=True),
                        "state.mu is None but the config needs it; build the state with init()"),
    "no momentum, momentum": (RMSPropConfig(), RMSPropConfig(momentum=0.5),
                              "state.momentum is None but the config needs it; build the state with init()"),
    "neither, both": (RMSPropConfig(), RMSPropConfig(centered=True, momentum=0.5),
                      "state.mu is None but the config needs it; build the state with init()"),
}


@pytest.mark.parametrize("step", STEPS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("case", list(STATE_CASES))
def test_numpy_state_for_another_config_is_refused(case, step):
    built_for, config, expected = STATE_CASES[case]
    params = [np.ones(3)]
    state = polyprop.init(params, built_for)
    with pytest.raises(ValueError, match=re.escape(expected)) as excinfo:
        step(params, [np.ones(3)], state, config)
    assert message(excinfo) == expected


def test_momentum_only_state_for_a_centered_config_with_momentum_names_mu():
    params = [np.ones(3)]
    state = polyprop.init(params, RMSPropConfig(momentum=0.5))
    with pytest.raises(ValueError, match=re.escape(MOMENTUM_EXTRA)) as excinfo:
        polyprop.step(params, [np.ones(3)], state, RMSPropConfig(centered=True))
    assert message(excinfo) == MOMENTUM_EXTRA  # the extra buffer is named before the missing one


# --------------------------------------------------------------------------------------
# Every backend


def tensors(ops, *shapes, dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    return [ops.from_numpy(rng.standard_normal(shape).astype(dtype)) for shape in shapes]


@pytest.mark.parametrize("step", STEPS, ids=lambda f: f.__name__)
def test_every_backend_refuses_the_same_tensor_twice(backend, step):
    config = CONFIGS["centered+momentum"]
    (x,) = tensors(backend, (3,))
    params = [x, x]
    state = polyprop.init(tensors(backend, (3,), (3,)), config, backend)
    with pytest.raises(ValueError, match="share memory") as excinfo:
        step(params, tensors(backend, (3,), (3,), seed=1), state, config, backend)
    assert message(excinfo) == shared("params[1]", "params[0]")


@pytest.mark.parametrize("step", STEPS, ids=lambda f: f.__name__)
def test_every_backend_refuses_a_gradient_that_is_a_parameter_or_state_tensor(backend, step):
    """JAX: refused before PJRT sees a donated buffer also read (or donated twice)."""
    config = CONFIGS["plain"]
    params = tensors(backend, (4,), (2,))
    state = polyprop.init(params, config, backend)
    for grads, first, second in (
        ([params[0], tensors(backend, (2,))[0]], "grads[0]", "params[0]"),
        ([tensors(backend, (4,))[0], state.nu[1]], "state.nu[1]", "grads[1]"),
    ):
        with pytest.raises(ValueError, match="share memory") as excinfo:
            step(params, grads, state, config, backend)
        assert message(excinfo) == shared(first, second)
    bad = state._replace(nu=[params[0], state.nu[1]])
    with pytest.raises(ValueError, match="share memory") as excinfo:
        step(params, tensors(backend, (4,), (2,)), bad, config, backend)
    assert message(excinfo) == shared("state.nu[0]", "params[0]")


WITH_VIEWS = [b for b in polyprop.BACKENDS if b != "tensorflow"]
"""The backends whose tensors can be views of one buffer (a tf.Tensor never is: TensorFlow
gets only the same-tensor-twice case, in test_every_backend_refuses_the_same_tensor_twice)."""


def overlapping_views(name):
    """Two overlapping views of one buffer, and two disjoint ones (None where there are none)."""
    if name == "numpy":
        base = np.arange(8, dtype=np.float32)
        return [base[0:4], base[2:6]], [base[0:4], base[4:8]]
    if name == "torch":
        import torch

        base = torch.arange(8, dtype=torch.float32)
        return [base[0:4], base[2:6]], [base[0:4], base[4:8]]
    if name == "mxnet":
        import mxnet as mx

        base = mx.nd.array(np.arange(16, dtype=np.float32).reshape(4, 4))
        return [base[0:2], base[1:3]], [base[0:2], base[2:4]]
    if name == "jax":
        import jax

        (x,) = tensors(require_backend("jax"), (4,))
        return [x, jax.device_put(x)], None  # device_put may hand back the same buffer
    raise AssertionError(f"{name} has no views: not in WITH_VIEWS")


@pytest.mark.parametrize("step", STEPS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("name", WITH_VIEWS)
def test_overlapping_views_are_refused_and_disjoint_ones_step_alike(name, step):
    backend = require_backend(name)
    overlapping, disjoint = overlapping_views(name)
    config = CONFIGS["plain"]
    grads = [backend.from_numpy(np.full(tuple(x.shape), 0.5, np.float32)) for x in overlapping]
    with pytest.raises(ValueError, match="share memory") as excinfo:
        step(overlapping, grads, polyprop.init(overlapping, config, backend), config, backend)
    assert message(excinfo) == shared("params[1]", "params[0]")
    if disjoint is None:
        return
    reference = [backend.from_numpy(backend.to_numpy(x)) for x in disjoint]
    expected, _ = polyprop.step(reference, grads, polyprop.init(reference, config, backend), config, backend)
    new, _ = step(disjoint, grads, polyprop.init(disjoint, config, backend), config, backend)
    assert_same_bits([backend.to_numpy(x) for x in new], [backend.to_numpy(x) for x in expected])


@pytest.mark.parametrize("shape", [(0,), (3, 0)])
def test_every_backend_steps_empty_tensors_in_step_and_fast_step_alike(backend, shape):
    config = CONFIGS["centered+momentum"]
    results = []
    for step in STEPS:
        params = tensors(backend, shape, (3,))
        grads = tensors(backend, shape, (3,), seed=1)
        state = polyprop.init(params, config, backend)
        new, state = step(params, grads, state, config, backend)
        new, state = step(new, grads, state, config, backend)
        assert [tuple(x.shape) for x in new] == [shape, (3,)]
        results.append([backend.to_numpy(x) for x in (*new, *state.nu, *state.mu, *state.momentum)])
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-6)  # (fused kernels round once less)
    assert [r.shape for r in results[1]] == [r.shape for r in results[0]]


@pytest.mark.parametrize("step", STEPS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("case", ["mu, not centered", "momentum, momentum 0", "no mu, centered"])
def test_every_backend_refuses_a_state_for_another_config(backend, case, step):
    built_for, config, expected = STATE_CASES[case]
    params = tensors(backend, (3,))
    with pytest.raises(ValueError, match=re.escape(expected)) as excinfo:
        step(params, tensors(backend, (3,), seed=1), polyprop.init(params, built_for, backend), config, backend)
    assert message(excinfo) == expected


# --------------------------------------------------------------------------------------
# Drop-ins


def test_torch_dropin_refuses_duplicate_and_overlapping_parameters_at_the_first_step():
    require_backend("torch")
    import torch

    from polyprop.backends.torch import RMSprop

    w = torch.nn.Parameter(torch.ones(3))
    with pytest.warns(UserWarning, match="duplicate parameters"):  # at construction, as torch.optim.RMSprop
        optimizer = RMSprop([w, w], lr=0.1)
    w.grad = torch.full((3,), 0.5)
    with pytest.raises(ValueError, match="share memory") as excinfo:
        optimizer.step()
    assert message(excinfo) == shared("param_groups[0]['params'][1]", "param_groups[0]['params'][0]")
    assert torch.equal(w.detach(), torch.ones(3))  # refused before any write

    base = torch.zeros(8)
    a, b = torch.nn.Parameter(base[0:5]), torch.nn.Parameter(base[3:8])  # views of one buffer, two groups
    optimizer = RMSprop([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = torch.ones(5), torch.ones(5)
    with pytest.raises(ValueError, match="share memory") as excinfo:
        optimizer.step()
    assert message(excinfo) == shared("param_groups[1]['params'][0]", "param_groups[0]['params'][0]")

    p = torch.nn.Parameter(torch.ones(3))
    optimizer = RMSprop([p], lr=0.1, momentum=0.5)
    p.grad = torch.ones(3)
    optimizer.step()
    optimizer.state[p]["momentum_buffer"] = optimizer.state[p]["square_avg"]  # a state edited by hand
    optimizer.load_state_dict(optimizer.state_dict())
    with pytest.raises(ValueError, match="share memory") as excinfo:
        optimizer.step()
    assert message(excinfo) == shared(
        "state[param_groups[0]['params'][0]]['momentum_buffer']", "state[param_groups[0]['params'][0]]['square_avg']"
    )


@pytest.mark.parametrize("fused", [False, True])
def test_torch_dropin_disjoint_views_match_the_native_optimizer(fused):
    require_backend("torch")
    import torch

    from polyprop.backends.torch import RMSprop

    trajectories = []
    for make in (torch.optim.RMSprop, lambda ps, **kw: RMSprop(ps, fused=fused, **kw)):
        base = torch.linspace(-1, 1, 12, dtype=torch.float64)
        params = [torch.nn.Parameter(base[0:5]), torch.nn.Parameter(base[5:12])]
        optimizer = make(params, lr=0.05, momentum=0.5, centered=True)
        for k in range(3):
            for p in params:
                p.grad = torch.sin(p.detach() * (k + 1))
            optimizer.step()
        trajectories.append(base.clone())
    torch.testing.assert_close(
        trajectories[1], trajectories[0], rtol=0 if not fused else 1e-12, atol=0 if not fused else 1e-14
    )


KERAS_TWICE = """
import warnings
import numpy as np
import keras
from polyprop.backends.keras import RMSprop

assert keras.backend.backend() == {backend!r}, keras.backend.backend()
v = keras.Variable(np.ones(3, np.float32), name="kernel")
optimizer = RMSprop(learning_rate=0.1)
optimizer.build([v])
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
        optimizer.apply([np.ones(3, np.float32), np.ones(3, np.float32)], [v, v])
    except ValueError as error:
        print("ValueError:", error)
print("after:", keras.ops.convert_to_numpy(v).tolist())
"""
"""Keras fixes its backend at import: each Keras backend runs this in a subprocess."""


@pytest.mark.parametrize("keras_backend", ["tensorflow", "jax", "torch"])
def test_keras_dropin_refuses_a_variable_given_twice(keras_backend):
    require_backend(keras_backend)
    pytest.importorskip("keras")
    env = {**os.environ, "KERAS_BACKEND": keras_backend}
    done = subprocess.run([sys.executable, "-c", KERAS_TWICE.format(backend=keras_backend)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    refused, after = done.stdout.strip().splitlines()[-2:]
    assert refused.startswith("ValueError: trainable_variables[1] and trainable_variables[0] are the same variable (")
    assert refused.endswith(f") and so share memory: {SHARED_MEMORY}")
    assert after == "after: [1.0, 1.0, 1.0]"


def test_mxnet_dropin_steps_an_empty_weight():
    mxo = require_backend("mxnet")
    mx = mxo.mx

    optimizer = mxo.RMSProp(learning_rate=0.1, centered=True)
    weight, grad = mx.nd.array(np.zeros((3, 0), np.float32)), mx.nd.array(np.zeros((3, 0), np.float32))
    state = optimizer.create_state(0, weight)
    optimizer.update(0, weight, grad, state)
    assert weight.shape == (3, 0)
    assert state[0].shape == (3, 0)


def test_the_shared_memory_message_says_what_to_do():
    w = np.ones(2)
    config = CONFIGS["plain"]
    with pytest.raises(ValueError, match="share memory") as excinfo:
        polyprop.step({"a": w, "b": w}, {"a": np.ones(2), "b": np.ones(2)}, polyprop.init({"a": w, "b": 1 * w}, config),
                      config)
    assert message(excinfo) == (
        "params['b'] and params['a'] share memory: every parameter and state tensor needs memory of its own, "
        "shared with no other parameter, state tensor or gradient (the same tensor twice, or views of one buffer "
        "that overlap); pass copies"
    )
