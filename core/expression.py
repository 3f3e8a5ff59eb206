"""Symbolic tracing: the per-tensor update written out as elementwise expressions.

Running :func:`polyprop.rmsprop.update_leaf` on :class:`SymbolicOps` instead of
tensors records what it computes.  :func:`trace` turns that record into one
expression string per output (``nu``, ``mu``, ``m``, ``x``), in an order in which
each output can overwrite its own input buffer: later expressions read the new
``nu`` (``mu``, ``m``) by name, and never the old one.  :func:`lower` turns the record into a
short list of single in-place operations, which the NumPy backend runs over
cache-sized blocks, so the mathematics is still the one written in ``update_leaf``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/"}


class Untraceable(Exception):
    """The update uses an operation the expression form cannot express (e.g. a cast)."""


class Node:
    """One value: an input (``op == "name"``) or an operation on other nodes."""

    __slots__ = ("op", "args", "name")
    dtype = "symbolic"
    """Matches no real dtype, so a ``state_dtype`` config reaches ``cast`` (and is refused)."""

    def __init__(self, op: str, args: tuple[Node, ...] = (), name: str = "") -> None:
        self.op, self.args, self.name = op, args, name


class SymbolicOps:
    """An :class:`~polyprop.ops.Ops` whose tensors are :class:`Node` s; scalars become named constants."""

    NAME = "symbolic"

    def __init__(self) -> None:
        self.constants: dict[str, float] = {}

    def scalar(self, value: Any, like: Node) -> Node:
        if isinstance(value, Node):  # a hyperparameter input (lr, decay, ...)
            return value
        name = f"k{len(self.constants)}"
        self.constants[name] = float(value)
        return Node("name", name=name)

    def add(self, a: Node, b: Node) -> Node:
        return Node("add", (a, b))

    def sub(self, a: Node, b: Node) -> Node:
        return Node("sub", (a, b))

    def mul(self, a: Node, b: Node) -> Node:
        return Node("mul", (a, b))

    def div(self, a: Node, b: Node) -> Node:
        return Node("div", (a, b))

    def sqrt(self, x: Node) -> Node:
        return Node("sqrt", (x,))

    def square(self, x: Node) -> Node:
        return Node("mul", (x, x))

    def cast(self, x: Node, dtype: str) -> Node:
        raise Untraceable(f"a cast to {dtype} (state_dtype) has no expression form")


class Program(NamedTuple):
    """Expressions to evaluate in order; each writes the buffer named by its target."""

    outputs: list[tuple[str, str]]
    """``(target, expression)``: target is ``"nu"``, ``"mu"``, ``"m"`` or ``"x"``."""
    roots: list[tuple[str, Node]]
    """The same outputs as graphs (shared nodes are shared), for backends that lower them."""
    constants: dict[str, float]
    """Named scalars of the config (eps, weight decay, momentum, -1), to round to the tensor dtype."""
    hyper: tuple[str, ...]
    """Names of the per-step scalars the expressions read: ``lr``, ``decay``, ``keep``, ``correction``."""


def render(node: Node, names: dict[int, str]) -> str:
    """``node`` as a fully parenthesised expression; nodes in ``names`` are read by name."""
    if id(node) in names:
        return names[id(node)]
    if node.op == "name":
        return node.name
    if node.op == "sqrt":
        return f"sqrt({render(node.args[0], names)})"
    a, b = (render(arg, names) for arg in node.args)
    return f"({a} {_INFIX[node.op]} {b})"


def _inputs(node: Node, names: dict[int, str], seen: set[str]) -> set[str]:
    """The input names ``node`` reads, not counting the outputs in ``names`` it reads by name."""
    if id(node) in names:
        return seen
    if node.op == "name":
        seen.add(node.name)
    for arg in node.args:
        _inputs(arg, names, seen)
    return seen


def trace(
    update: Callable[..., Any], centered: bool, momentum: bool, bias_correction: bool
) -> Program:
    """The expressions of ``update(ops, x, g, nu, mu, m, hyper)`` (polyprop.rmsprop.update_leaf, config bound).

    Raises :class:`Untraceable` when the update cannot be written as expressions
    that overwrite their inputs in place.
    """
    from .rmsprop import Hyper

    ops = SymbolicOps()
    inputs = {name: Node("name", name=name) for name in ("x", "g", "nu", "mu", "m")}
    hyper = Hyper(
        Node("name", name="lr"),
        Node("name", name="decay"),
        Node("name", name="keep"),
        Node("name", name="correction") if bias_correction else None,
    )
    leaf = update(
        ops,
        inputs["x"],
        inputs["g"],
        inputs["nu"],
        inputs["mu"] if centered else None,
        inputs["m"] if momentum else None,
        hyper,
    )
    order = [("nu", leaf.nu), ("mu", leaf.mu), ("m", leaf.m), ("x", leaf.x)]
    names: dict[int, str] = {}
    outputs: list[tuple[str, str]] = []
    roots: list[tuple[str, Node]] = []
    written: set[str] = set()
    used_hyper: set[str] = set()
    for target, node in order:
        if node is None:
            continue
        reads = _inputs(node, names, set())
        if reads & written:  # an old value whose buffer already holds the new one
            raise Untraceable(f"{target} reads the old {sorted(reads & written)} after it was overwritten")
        outputs.append((target, render(node, names)))
        roots.append((target, node))
        used_hyper |= reads & {"lr", "decay", "keep", "correction"}
        names[id(node)] = target
        written.add(target)
    if not written >= {"nu", "x"}:
        raise Untraceable("the update did not produce nu and x")
    hyper_names = tuple(name for name in ("lr", "decay", "keep", "correction") if name in used_hyper)
    return Program(outputs, roots, ops.constants, hyper_names)


Instruction = tuple[str, int, int, int]
"""``(op, a, b, out)``: slot ``out`` = op(slot ``a``, slot ``b``) (``b`` is -1 for sqrt)."""

LEAVES = ("x", "g", "nu", "mu", "m")
"""Slots 0-4: the tensors' buffers, in this order."""


class Lowered(NamedTuple):
    """A program as in-place operations over numbered slots."""

    instructions: list[Instruction]
    scalars: list[str]
    """Slot ``5 + i`` holds the scalar named ``scalars[i]`` (a hyperparameter or a constant)."""
    temporaries: int
    """Slots after the scalars are scratch buffers, one per intermediate value."""


def lower(program: Program) -> Lowered:
    """``program`` as a list of single operations, each intermediate value computed once.

    Each output's last operation writes straight into its own buffer; the outputs
    that follow read the new value from there (what :func:`trace` checked is safe).
    """
    scalars = sorted(set(program.constants) | set(program.hyper))
    where: dict[int, int] = {}
    instructions: list[Instruction] = []
    temporaries = 0

    def slot_of(node: Node) -> int:
        nonlocal temporaries
        if id(node) in where:
            return where[id(node)]
        if node.op == "name":
            return LEAVES.index(node.name) if node.name in LEAVES else len(LEAVES) + scalars.index(node.name)
        args = [slot_of(arg) for arg in node.args]
        out = len(LEAVES) + len(scalars) + temporaries
        temporaries += 1
        instructions.append((node.op, args[0], args[1] if len(args) > 1 else -1, out))
        where[id(node)] = out
        return out

    for target, root in program.roots:
        if root.op == "name" or id(root) in where:
            instructions.append(("copy", slot_of(root), -1, LEAVES.index(target)))
        else:
            slot_of(root)
            op, a, b, _ = instructions[-1]  # the root's own operation: write the buffer directly
            instructions[-1] = (op, a, b, LEAVES.index(target))
            temporaries -= 1
        where[id(root)] = LEAVES.index(target)
    return Lowered(instructions, scalars, temporaries)
