"""Portable checkpoints: parameters, state and config in one framework-independent file.

The file format (version 2) is public.  The file is a NumPy ``.npz`` archive (a
zip of ``.npy`` arrays, readable without polyprop) holding ``params/<i>`` and, for
each state field, ``nu/<i>``, ``mu/<i>``, ``momentum/<i>`` for each leaf ``i``, and
one JSON document ``metadata`` (a 0-d string array)::

    {"format": "polyprop-checkpoint", "version": 2, "container": "list"|"tuple"|"dict",
     "keys": [...], "count": 12, "skipped": 0, "fields": ["nu", "mu", "momentum"],
     "dtypes": {"params": ["bfloat16", ...], "nu": ["float32", ...], ...},
     "config": {...}, "backend": "torch", "polyprop": "0.1.0"}

- ``keys``: the dict's string keys in order, or ``0 .. n-1`` for a list or tuple.
- ``count``, ``skipped``: ``state.count`` and ``state.skipped``, whole numbers in [0, 2**63).
- ``fields``: the state fields held, in this order: ``nu``, ``mu`` (centered),
  ``momentum`` (momentum > 0).
- ``dtypes``: each array's dtype: ``float16``, ``bfloat16``, ``float32``, ``float64``
  (or ``complex64``, ``complex128``: JAX's complex parameters).  A ``bfloat16`` array is
  stored as its bits, a little-endian ``uint16`` array (NumPy has no bfloat16 of
  its own); every other dtype as itself.  A state array has its parameter's dtype,
  or the config's ``state_dtype`` when that is set.
- ``config``: the fields of :class:`~polyprop.RMSPropConfig` (``names``, the user's
  names for them, as a list of pairs); a schedule is recorded by name only, as
  ``{"schedule": "<qualified name>"}``.

Version 1 files (no ``skipped``, no ``dtypes``, bfloat16 as 2-byte void) load too.

Reading checks sizes before it allocates: each member's uncompressed size (from
the zip's central directory) must be what its ``.npy`` header claims (shape x
itemsize), and all members together at most MAX_BYTES (16 GiB; raise
``polyprop.checkpoint.MAX_BYTES`` for larger checkpoints).  Anything malformed
raises :class:`CheckpointError` naming the field and its value.

Saving on one backend and loading on another continues the same trajectory.
Writes are atomic (:func:`polyprop.files.write_atomically`): an interrupted save
never replaces a good file, and its temporary is removed by the next save or load.
"""

from __future__ import annotations

import dataclasses
import io
import json
import operator
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

from .archive import CheckpointError as CheckpointError  # re-exported: polyprop.checkpoint.CheckpointError
from .archive import decode, encode, logical_dtype, read
from .config import RMSPropConfig, real_value
from .files import remove_stale_temporaries, write_atomically
from .ops import Ops
from .rmsprop import Params, RMSPropState
from .selection import get_ops

FORMAT = "polyprop-checkpoint"
VERSION = 2
READABLE_VERSIONS = (1, 2)
STATE_FIELDS = ("nu", "mu", "momentum")
CONTAINERS = ("list", "tuple", "dict")
ARRAY_DTYPES = ("float16", "bfloat16", "float32", "float64", "complex64", "complex128")
MAX_BYTES = 16 * 2**30
"""The most uncompressed bytes :func:`load` reads from one checkpoint; raise it for larger ones."""

COUNT_LIMIT = 2**63
"""``count`` and ``skipped`` are below this (the frameworks keep step counters in int64)."""

_KEYS = {
    1: ("format", "version", "container", "keys", "count", "fields", "config", "backend", "polyprop"),
    2: (
        "format", "version", "container", "keys", "count", "skipped", "fields", "dtypes", "config", "backend",
        "polyprop",
    ),
}
"""The metadata fields of each format version."""

_SHOWN = 120
"""Characters of a bad value an error message shows."""


class Metadata(NamedTuple):
    """The checked metadata of a checkpoint."""

    container: str
    keys: list[Any]
    count: int  # type: ignore[assignment]  # shadows tuple.count, as in RMSPropState
    skipped: int
    fields: list[str]
    dtypes: dict[str, list[str]] | None
    """Each array's dtype by field; None in a version 1 file (read from the arrays)."""
    config: dict[str, Any]


def save(
    path: str | os.PathLike[str],
    params: Params,
    state: RMSPropState,
    config: RMSPropConfig,
    ops: Ops | str | None = None,
) -> None:
    """Write ``params``, ``state`` and ``config`` to ``path`` atomically.

    A dict state may list its keys in any order (they are saved in the params'
    order).  Schedules (callable hyperparameters) are recorded by name only; pass
    the config again to :func:`load` to resume with them.  A state that would not
    load again (missing or extra fields, wrong shapes or dtypes) is refused.
    """
    import numpy as np

    ops = get_ops(ops, params)
    container, keys, leaves = _leaves(params)
    count = _whole_number("state.count", state.count)
    skipped = _whole_number("state.skipped", state.skipped)
    fields = [name for name in STATE_FIELDS if getattr(state, name) is not None]
    needed = _needed_fields(config)
    if fields != needed:
        raise CheckpointError(f"the state holds {fields}, the config needs {needed}")
    arrays: dict[str, Any] = {}
    dtypes: dict[str, list[str]] = {"params": []}
    for i, (key, x) in enumerate(zip(keys, leaves)):
        array = ops.to_numpy(x)
        _check_param_dtype(f"params[{key!r}]", array.dtype.name)
        arrays[f"params/{i}"] = encode(array)
        dtypes["params"].append(array.dtype.name)
    for name in fields:
        dtypes[name] = []
        leaves = _state_leaves(getattr(state, name), container, keys, f"state.{name}")
        for i, (key, leaf) in enumerate(zip(keys, leaves)):
            array = ops.to_numpy(leaf)
            where = f"state.{name}[{key!r}]"
            reference = arrays[f"params/{i}"]
            if array.shape != reference.shape:
                raise CheckpointError(f"{where} has shape {array.shape}, its parameter {reference.shape}")
            _check_state_dtype(where, array.dtype.name, dtypes["params"][i], config.state_dtype)
            arrays[f"{name}/{i}"] = encode(array)
            dtypes[name].append(array.dtype.name)
    from . import __version__

    metadata = {
        "format": FORMAT,
        "version": VERSION,
        "container": container,
        "keys": keys,
        "count": count,
        "skipped": skipped,
        "fields": fields,
        "dtypes": dtypes,
        "config": _config_to_json(config),
        "backend": ops.NAME,
        "polyprop": __version__,
    }
    arrays["metadata"] = np.array(json.dumps(metadata, allow_nan=False))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomically(os.fspath(path), buffer.getvalue())


def load(
    path: str | os.PathLike[str],
    backend: Ops | str | None = None,
    config: RMSPropConfig | None = None,
) -> tuple[Params, RMSPropState, RMSPropConfig]:
    """``(params, state, config)`` from ``path``, as tensors of ``backend``.

    ``config`` replaces the saved one (required when it held schedules); its
    state fields must match the saved ones.  Stale temporaries of ``path`` left
    by a killed save are removed.
    """
    ops = get_ops(backend)
    path = os.fspath(path)
    remove_stale_temporaries(path)
    arrays, document = read(path, MAX_BYTES)
    meta = _metadata(path, document)
    saved_config = _config_from_json(path, meta.config, config)
    config = config or saved_config
    needed = _needed_fields(config)
    if meta.fields != needed:
        raise CheckpointError(f"the checkpoint holds state {meta.fields}, the config needs {needed}")
    expected = [f"{name}/{i}" for name in ["params", *meta.fields] for i in range(len(meta.keys))]
    extra = sorted(set(arrays) - set(expected))
    if extra:
        raise CheckpointError(
            f"{path} holds arrays its metadata does not declare: {extra} "
            f"(metadata 'keys' is {_show(meta.keys)}, 'fields' is {_show(meta.fields)})"
        )
    for name in ["params", *meta.fields]:
        for i, key in enumerate(meta.keys):
            if f"{name}/{i}" not in arrays:
                raise CheckpointError(f"the checkpoint lacks {name}[{key!r}]")

    def tree(name: str) -> Params:
        values = []
        for i, key in enumerate(meta.keys):
            where = f"{name}[{key!r}]"
            array, dtype = decode(where, arrays[f"{name}/{i}"], None if meta.dtypes is None else meta.dtypes[name][i])
            reference = arrays[f"params/{i}"]
            param_dtype = logical_dtype(reference) if meta.dtypes is None else meta.dtypes["params"][i]
            if name == "params":
                _check_param_dtype(where, dtype)
            else:
                if array.shape != reference.shape:
                    raise CheckpointError(
                        f"{where} is {dtype}{array.shape}, its parameter {param_dtype}{reference.shape}"
                    )
                _check_state_dtype(where, dtype, param_dtype, config.state_dtype)
            try:
                values.append(ops.from_numpy(array))
            except (TypeError, ValueError, ImportError) as error:
                message = f"{where} is {dtype}, which the {ops.NAME} backend cannot hold: {error}"
                raise CheckpointError(message) from None
        if meta.container == "dict":
            return dict(zip(meta.keys, values))
        return tuple(values) if meta.container == "tuple" else values

    params = tree("params")
    state = RMSPropState(
        count=meta.count,
        nu=tree("nu"),
        mu=tree("mu") if "mu" in meta.fields else None,
        momentum=tree("momentum") if "momentum" in meta.fields else None,
        skipped=meta.skipped,
    )
    return params, state, config


def _needed_fields(config: RMSPropConfig) -> list[str]:
    """The state fields ``config`` keeps: nu, then mu (centered), then momentum (momentum > 0)."""
    return ["nu"] + (["mu"] if config.centered else []) + (["momentum"] if config.momentum > 0 else [])


def _leaves(tree: Any, name: str = "params") -> tuple[str, list[Any], list[Any]]:
    """``(container, keys, leaves)`` of a list, tuple or dict of tensors (dict keys must be strings)."""
    if isinstance(tree, Mapping):
        keys = list(tree)
        if not all(isinstance(k, str) for k in keys):
            raise CheckpointError(f"{name}: dict keys must be strings to be saved, got {keys}")
        return "dict", keys, [tree[k] for k in keys]
    if isinstance(tree, (list, tuple)):
        return "tuple" if isinstance(tree, tuple) else "list", list(range(len(tree))), list(tree)
    raise CheckpointError(f"{name} must be a list, tuple or dict of tensors, got {type(tree).__name__}")


def _state_leaves(tree: Any, container: str, keys: list[Any], name: str) -> list[Any]:
    """The leaves of a state field in the params' order (a dict's keys may come in any order)."""
    state_container, state_keys, leaves = _leaves(tree, name)
    if state_container == container == "dict" and set(state_keys) == set(keys):
        return [tree[key] for key in keys]
    if state_keys != keys or "dict" in (state_container, container):
        raise CheckpointError(f"{name} has keys {state_keys}, params has {keys}")
    return leaves


def _whole_number(name: str, value: Any) -> int:
    """``value`` as an int if it is a whole number in [0, COUNT_LIMIT) (int, NumPy or 0-d integer); else an error."""
    try:
        number = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        number = None
    if number is None or not 0 <= number < COUNT_LIMIT:
        raise CheckpointError(f"{name} must be a whole number in [0, 2**63), got {value!r}")
    return number


def _check_param_dtype(where: str, dtype: str) -> None:
    if dtype not in ARRAY_DTYPES:
        raise CheckpointError(f"{where} is {dtype}: a checkpoint holds parameters of {', '.join(ARRAY_DTYPES)}")


def _check_state_dtype(where: str, dtype: str, param_dtype: str, state_dtype: str | None) -> None:
    """A state array has the config's ``state_dtype``, or its parameter's dtype when that is None."""
    expected = state_dtype or param_dtype
    if dtype != expected:
        rule = f"state_dtype={state_dtype!r}" if state_dtype else "state_dtype=None: its parameter's dtype"
        raise CheckpointError(f"{where} is {dtype}, its parameter {param_dtype}; {expected} is needed ({rule})")


def _show(value: Any) -> str:
    """``repr(value)``, cut to _SHOWN characters."""
    try:
        text = repr(value)
    except RecursionError:
        text = f"a {type(value).__name__} nested too deeply to show"
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _config_to_json(config: RMSPropConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if callable(value):
            out[field.name] = {"schedule": getattr(value, "__qualname__", repr(value))}
        elif value is None or isinstance(value, (bool, int, float, str, tuple, list)):
            out[field.name] = value
        else:  # a 0-d array of any framework: its value
            number = real_value(value)
            if number is None:
                raise CheckpointError(f"config.{field.name} = {value!r} has no value to save (traced?)")
            out[field.name] = number
    return out


def _config_from_json(path: str, data: Any, override: RMSPropConfig | None) -> RMSPropConfig:
    """The saved config, checked whole even when ``override`` replaces it; ``override`` if given."""
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: metadata 'config' must be an object, got {_show(data)}")
    names = {field.name for field in dataclasses.fields(RMSPropConfig)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise CheckpointError(f"the checkpoint's config has fields this polyprop does not know: {unknown}")
    schedules = sorted(k for k, v in data.items() if isinstance(v, dict))
    for name in schedules:
        if list(data[name]) != ["schedule"] or not isinstance(data[name]["schedule"], str):
            raise CheckpointError(
                f"{path}: metadata 'config.{name}' must be a value or {{\"schedule\": name}}, got {_show(data[name])}"
            )
    try:
        values: dict[str, Any] = {k: _SCHEDULE_STANDIN if k in schedules else v for k, v in data.items()}
        saved = RMSPropConfig(**values)
    except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as error:
        raise CheckpointError(f"{path}: metadata 'config' is not a valid config: {error}") from None
    if schedules and override is None:
        raise CheckpointError(
            f"the checkpoint was saved with schedules for {schedules} "
            f"({', '.join(data[k]['schedule'] for k in schedules)}); pass config= to load it"
        )
    return override or saved


_SCHEDULE_STANDIN = float
"""Any callable: it stands for a schedule saved by name while the saved config is checked, and never runs."""


def _metadata(path: str, document: Any) -> Metadata:
    """The metadata checked field by field (each error names the field and its value as in the file)."""
    if not isinstance(document, dict):
        raise CheckpointError(f"{path}: metadata must be a JSON object, got {_show(document)}")
    if document.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a polyprop checkpoint (format {_show(document.get('format'))})")
    version = document.get("version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise CheckpointError(
            f"{path} has checkpoint format version {_show(version)}; "
            f"this polyprop reads version {' and '.join(map(str, READABLE_VERSIONS))}"
        )
    known = _KEYS[version]
    missing = [key for key in known if key not in document]
    if missing:
        raise CheckpointError(f"{path}: metadata lacks {missing[0]!r} (version {version} has {', '.join(known)})")
    unknown = sorted(set(document) - set(known))
    if unknown:
        raise CheckpointError(f"{path}: metadata has fields version {version} does not define: {unknown}")

    def bad(name: str, rule: str) -> CheckpointError:
        return CheckpointError(f"{path}: metadata {name!r} must be {rule}, got {_show(document[name])}")

    container = document["container"]
    if container not in CONTAINERS:
        raise bad("container", " or ".join(map(repr, CONTAINERS)))
    keys = document["keys"]
    if container == "dict":
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or len(set(keys)) != len(keys):
            raise bad("keys", "a list of distinct strings (the dict's keys)")
    elif not isinstance(keys, list) or [type(k) for k in keys] != [int] * len(keys) or keys != list(range(len(keys))):
        raise bad("keys", f"[0, 1, ..., n - 1] for a {container}")
    count = _metadata_count(document, "count", bad)
    skipped = _metadata_count(document, "skipped", bad) if version >= 2 else 0
    fields = document["fields"]
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields) or (
        fields != [f for f in STATE_FIELDS if f in fields] or "nu" not in fields
    ):
        raise bad("fields", f"'nu' and any of 'mu', 'momentum' in the order {list(STATE_FIELDS)}")
    dtypes = document.get("dtypes")
    if version >= 2:
        if not isinstance(dtypes, dict) or sorted(dtypes) != sorted(["params", *fields]):
            raise bad("dtypes", f"an object with a list for each of {['params', *fields]}")
        for name, listed in dtypes.items():
            if not isinstance(listed, list) or len(listed) != len(keys) or not all(isinstance(d, str) for d in listed):
                raise CheckpointError(
                    f"{path}: metadata 'dtypes.{name}' must be a list of {len(keys)} dtype names "
                    f"(one for each of 'keys' {_show(keys)}), got {_show(listed)}"
                )
    for name in ("backend", "polyprop"):
        if not isinstance(document[name], str):
            raise bad(name, "a string")
    return Metadata(container, keys, count, skipped, fields, dtypes, document["config"])


def _metadata_count(document: dict[str, Any], name: str, bad: Any) -> int:
    value = document[name]
    if type(value) is not int or not 0 <= value < COUNT_LIMIT:
        raise bad(name, "a whole number in [0, 2**63)")
    return value
