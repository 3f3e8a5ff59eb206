"""Portable checkpoints: parameters, state and config in one framework-independent file.

The file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays, readable without
polyprop) holding ``params/<i>``, ``nu/<i>``, ``mu/<i>``, ``momentum/<i>`` for each
leaf ``i`` and one JSON document ``metadata``::

    {"format": "polyprop-checkpoint", "version": 1, "container": "list"|"tuple"|"dict",
     "keys": [...], "count": 12, "fields": ["nu", ...], "config": {...},
     "backend": "torch", "polyprop": "0.1.0"}

Saving on one backend and loading on another continues the same trajectory.
Writes are atomic: the archive is written to a temporary file beside the target
and moved into place, so an interrupted save never replaces a good file.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import zipfile
from collections.abc import Mapping
from typing import Any

from .config import RMSPropConfig
from .files import write_atomically
from .ops import Ops
from .rmsprop import Params, RMSPropState
from .selection import get_ops

FORMAT = "polyprop-checkpoint"
VERSION = 1
STATE_FIELDS = ("nu", "mu", "momentum")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit: truncated, foreign, mismatched."""


def save(
    path: str | os.PathLike[str],
    params: Params,
    state: RMSPropState,
    config: RMSPropConfig,
    ops: Ops | str | None = None,
) -> None:
    """Write ``params``, ``state`` and ``config`` to ``path`` atomically.

    Schedules (callable hyperparameters) are recorded by name only; pass the
    config again to :func:`load` to resume with them.
    """
    import numpy as np

    ops = get_ops(ops, params)
    container, keys, leaves = _leaves(params)
    arrays: dict[str, Any] = {f"params/{i}": ops.to_numpy(x) for i, x in enumerate(leaves)}
    fields = []
    for name in STATE_FIELDS:
        tree = getattr(state, name)
        if tree is None:
            continue
        fields.append(name)
        _, state_keys, state_leaves = _leaves(tree, f"state.{name}")
        if state_keys != keys:
            raise CheckpointError(f"state.{name} has keys {state_keys}, params has {keys}")
        for i, leaf in enumerate(state_leaves):
            array = ops.to_numpy(leaf)
            if array.shape != arrays[f"params/{i}"].shape:
                raise CheckpointError(
                    f"state.{name}[{keys[i]!r}] has shape {array.shape}, "
                    f"its parameter {arrays[f'params/{i}'].shape}"
                )
            arrays[f"{name}/{i}"] = array
    from . import __version__

    metadata = {
        "format": FORMAT,
        "version": VERSION,
        "container": container,
        "keys": keys,
        "count": int(state.count),
        "fields": fields,
        "config": _config_to_json(config),
        "backend": ops.NAME,
        "polyprop": __version__,
    }
    arrays["metadata"] = np.array(json.dumps(metadata))
    _write_atomically(os.fspath(path), arrays)


def load(
    path: str | os.PathLike[str],
    backend: Ops | str | None = None,
    config: RMSPropConfig | None = None,
) -> tuple[Params, RMSPropState, RMSPropConfig]:
    """``(params, state, config)`` from ``path``, as tensors of ``backend``.

    ``config`` replaces the saved one (required when it held schedules); its
    state fields must match the saved ones.
    """
    ops = get_ops(backend)
    arrays, metadata = _read(os.fspath(path))
    saved_config = _config_from_json(metadata["config"], config)
    config = config or saved_config
    fields = metadata["fields"]
    needed = ["nu"] + (["mu"] if config.centered else []) + (["momentum"] if config.momentum > 0 else [])
    if fields != needed:
        raise CheckpointError(f"the checkpoint holds state {fields}, the config needs {needed}")
    keys, container = metadata["keys"], metadata["container"]

    def tree(name: str) -> Params:
        values = []
        for i, key in enumerate(keys):
            array = arrays.get(f"{name}/{i}")
            if array is None:
                raise CheckpointError(f"the checkpoint lacks {name}[{key!r}]")
            reference = arrays[f"params/{i}"]
            if array.shape != reference.shape or array.dtype != reference.dtype:
                raise CheckpointError(
                    f"{name}[{key!r}] is {array.dtype}{array.shape}, "
                    f"its parameter {reference.dtype}{reference.shape}"
                )
            values.append(ops.from_numpy(array))
        if container == "dict":
            return dict(zip(keys, values))
        return tuple(values) if container == "tuple" else values

    params = tree("params")
    state = RMSPropState(
        count=int(metadata["count"]),
        nu=tree("nu"),
        mu=tree("mu") if "mu" in fields else None,
        momentum=tree("momentum") if "momentum" in fields else None,
    )
    return params, state, config


def _leaves(tree: Params, name: str = "params") -> tuple[str, list[Any], list[Any]]:
    if isinstance(tree, Mapping):
        keys = list(tree)
        if not all(isinstance(k, str) for k in keys):
            raise CheckpointError(f"{name}: dict keys must be strings to be saved, got {keys}")
        return "dict", keys, [tree[k] for k in keys]
    if isinstance(tree, (list, tuple)):
        return type(tree).__name__, list(range(len(tree))), list(tree)
    raise CheckpointError(f"{name} must be a list, tuple or dict of tensors, got {type(tree).__name__}")


def _config_to_json(config: RMSPropConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if callable(value):
            out[field.name] = {"schedule": getattr(value, "__qualname__", repr(value))}
        else:
            out[field.name] = value
    return out


def _config_from_json(data: dict[str, Any], override: RMSPropConfig | None) -> RMSPropConfig:
    names = {field.name for field in dataclasses.fields(RMSPropConfig)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise CheckpointError(f"the checkpoint's config has fields this polyprop does not know: {unknown}")
    schedules = sorted(k for k, v in data.items() if isinstance(v, dict))
    if schedules and override is None:
        raise CheckpointError(
            f"the checkpoint was saved with schedules for {schedules} "
            f"({', '.join(data[k]['schedule'] for k in schedules)}); pass config= to load it"
        )
    if override is not None:
        return override
    return RMSPropConfig(**data)


def _read(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError) as error:
        raise CheckpointError(f"{path} is not a readable polyprop checkpoint (truncated or corrupted?): {error}") from None
    if "metadata" not in arrays:
        raise CheckpointError(f"{path} is not a polyprop checkpoint: no metadata")
    try:
        metadata = json.loads(str(arrays.pop("metadata")))
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path}: unreadable metadata: {error}") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a polyprop checkpoint (format {metadata.get('format')!r})")
    if metadata.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {metadata.get('version')!r}; "
            f"this polyprop reads version {VERSION}"
        )
    return arrays, metadata


def _write_atomically(path: str, arrays: dict[str, Any]) -> None:
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomically(path, buffer.getvalue())
