"""The containers a step takes: a list, tuple or dict of tensors, flattened to keys and leaves.

``flatten`` reads a container as ``(keys, leaves)`` (indices for a list or tuple),
``unflatten`` builds one of the same kind again, and ``matching_leaves`` reads
gradients or state in the parameters' order, naming any mismatch.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence
from typing import Any

from .ops import Tensor

Params = Sequence[Tensor] | Mapping[Any, Tensor]
"""A list, tuple or dict of tensors of one framework."""

REBUILT = (dict, collections.OrderedDict, collections.defaultdict)
"""The dict types :func:`unflatten` always rebuilds."""


def flatten(tree: Params, name: str) -> tuple[list[Any], list[Tensor]]:
    """The keys and leaves of a list, tuple or dict of tensors.

    Parameters in a dict subclass that cannot be rebuilt from (key, tensor) pairs
    (see :func:`unflatten`) are refused here, before anything is computed.
    """
    if isinstance(tree, Mapping):
        keys = list(tree.keys())
        leaves = [tree[k] for k in keys]
        if name == "params" and isinstance(tree, dict) and type(tree) not in REBUILT:
            try:
                unflatten(tree, keys, leaves)
            except Exception as error:
                kind = type(tree).__name__
                raise TypeError(
                    f"params is a {kind}, which {kind}(pairs of keys and tensors) cannot build "
                    f"({type(error).__name__}: {error}); the step returns params and state in the "
                    "params' container: pass a dict"
                ) from None
        return keys, leaves
    if isinstance(tree, (list, tuple)):
        return list(range(len(tree))), list(tree)
    raise TypeError(
        f"{name} must be a list, tuple or dict of tensors, got {type(tree).__name__}"
    )


def matching_leaves(tree: Any, params: Params, keys: list[Any], name: str) -> list[Any]:
    """The leaves of ``tree`` in the order of ``params``; an error names any mismatch."""
    if tree is None:
        raise ValueError(f"{name} is None but the config needs it; build the state with init()")
    if isinstance(params, Mapping) != isinstance(tree, Mapping):
        raise TypeError(
            f"{name} must be a {type(params).__name__} like params, got {type(tree).__name__}"
        )
    tree_keys, leaves = flatten(tree, name)
    if isinstance(tree, Mapping):
        if set(tree_keys) != set(keys):
            missing = [k for k in keys if k not in tree]
            extra = [k for k in tree_keys if k not in set(keys)]
            raise ValueError(f"{name} keys differ from params: missing {missing}, extra {extra}")
        return [tree[k] for k in keys]
    if len(leaves) != len(keys):
        raise ValueError(f"{name} has {len(leaves)} tensors but params has {len(keys)}")
    return leaves


def unflatten(like: Params, keys: list[Any], leaves: list[Tensor]) -> Params:
    """A container of the same kind as ``like`` holding ``leaves``.

    A dict keeps its type (a defaultdict its default_factory; another subclass is built
    from the (key, tensor) pairs); any other Mapping comes back as a dict, a tuple
    subclass as a tuple and a list subclass as a list.
    """
    if isinstance(like, Mapping):
        if type(like) is dict or not isinstance(like, dict):
            return dict(zip(keys, leaves))
        if isinstance(like, collections.defaultdict):
            return type(like)(like.default_factory, zip(keys, leaves))
        return type(like)(zip(keys, leaves))
    return tuple(leaves) if isinstance(like, tuple) else list(leaves)
