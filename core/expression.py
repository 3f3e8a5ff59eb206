"""Symbolic tracing: the per-tensor update written out as elementwise expressions.

Running :func:`polyprop.rmsprop.update_leaf` on :class:`SymbolicOps` instead of
tensors records what it computes.  :func:`trace` turns that record into one
expression string per output (``nu``, ``mu``, ``m``, ``x``), in an order in which
each output can overwrite its own input buffer: later expressions read the new
``nu`` (``mu``, ``m``) by name, and never the old one.  :func:`lower` turns the record into a
short list of single in-place operations, which the NumPy backend runs over
cache-sized blocks, so the mathematics is still the one written in ``update_leaf``.
:func:`fuse` does the same with fused multiply-adds where the record has their
shape (``p + s*a*b``, ``p - s*(a/b)``, ``decay*p + keep*b``, ...): the torch
drop-in runs them as torch's own ``addcmul_``, ``addcdiv_``, ``lerp_``, ``add_(alpha=)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/"}


class UntraceableError(Exception):
    """The update uses an operation the expression form cannot express (e.g. a cast)."""


class Node:
    """One value: an input (``op == "name"``) or an operation on other nodes."""

    __slots__ = ("args", "name", "op")
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
        raise UntraceableError(f"a cast to {dtype} (state_dtype) has no expression form")


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

    Raises :class:`UntraceableError` when the update cannot be written as expressions
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
    order = [("nu", leaf.nu), ("mu", leaf.mu), ("m", leaf.momentum), ("x", leaf.x)]
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
            raise UntraceableError(f"{target} reads the old {sorted(reads & written)} after it was overwritten")
        outputs.append((target, render(node, names)))
        roots.append((target, node))
        used_hyper |= reads & {"lr", "decay", "keep", "correction"}
        names[id(node)] = target
        written.add(target)
    if not written >= {"nu", "x"}:
        raise UntraceableError("the update did not produce nu and x")
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


# --------------------------------------------------------------------------------------
# Fused forms: the program as the fused multiply-add operations a framework offers.

Scale = tuple[str | None, float]
"""A scalar operand: ``factor * value(name)``, or ``factor`` alone when ``name`` is None."""

FusedStep = tuple[str, int, tuple[int, ...], tuple[Scale, ...]]
"""``(form, out, tensor slots, scalars)``: slot ``out`` = form(tensors, scalars); see :data:`FORMS`."""

FORMS = {
    "add": "a + b", "sub": "a - b", "mul": "a * b", "div": "a / b",
    "add_s": "a + s", "sub_s": "a - s", "mul_s": "a * s", "div_s": "a / s",
    "sqrt": "sqrt(a)",
    "add_alpha": "a + s*b, rounded once",
    "addcmul": "p + (s*a)*b, the last multiply-add rounded once",
    "addcdiv": "p + (s*a)/b",
    "lerp": "p + w*(b - p), from decay*p + keep*b (keep = 1 - decay)",
}
"""Every form :func:`fuse` emits (torch's ``add(alpha=)``, ``addcmul``, ``addcdiv``, ``lerp``
and plain ops); each is one elementwise operation, so ``out`` may be one of its inputs."""


class Fused(NamedTuple):
    """A program as fused operations over numbered slots, each output written in place."""

    steps: list[FusedStep]
    scratch: int
    """Slots 5 .. 5 + scratch - 1 are scratch buffers (slots 0-4: :data:`LEAVES`)."""


def _is_scalar(node: Node) -> bool:
    return node.op == "name" and node.name not in LEAVES


def _scaled(node: Node) -> tuple[str, Node] | None:
    """``(s, b)`` when ``node`` is ``s * b`` (either order) with a scalar ``s`` and a tensor ``b``."""
    if node.op != "mul":
        return None
    a, b = node.args
    if _is_scalar(a) and not _is_scalar(b):
        return a.name, b
    if _is_scalar(b) and not _is_scalar(a):
        return b.name, a
    return None


def _tensors(node: Node, op: str) -> tuple[Node, Node] | None:
    """``(a, b)`` when ``node`` is ``a <op> b`` with two tensor operands."""
    if node.op == op and not any(_is_scalar(arg) for arg in node.args):
        return node.args[0], node.args[1]
    return None


class _Form(NamedTuple):
    form: str
    args: tuple[Any, ...]
    """Tensor operands: :class:`_Form` s, or leaf names."""
    scalars: tuple[Scale, ...]


def _fused_form(node: Node, convert: Callable[[Node], Any]) -> _Form:
    """``node`` as one fused form; its tensor operands converted by ``convert``."""

    def form(name: str, args: tuple[Node, ...], *scalars: Scale) -> _Form:
        return _Form(name, tuple(convert(arg) for arg in args), scalars)

    if node.op == "sqrt":
        if _is_scalar(node.args[0]):
            raise UntraceableError("sqrt of a scalar")
        return form("sqrt", node.args)
    left, right = node.args
    if _is_scalar(left) and _is_scalar(right):
        raise UntraceableError(f"{node.op} of two scalars")
    if node.op == "add":
        pairs = ((left, right), (right, left))
        for p, q in pairs:  # p + s*(a*b): addcmul
            scaled = _scaled(q)
            product = None if scaled is None else _tensors(scaled[1], "mul")
            if not _is_scalar(p) and scaled is not None and product is not None:
                return form("addcmul", (p, *product), (scaled[0], 1.0))
        scaled_pair = (_scaled(left), _scaled(right))
        if scaled_pair[0] is not None and scaled_pair[1] is not None:  # decay*p + keep*b: lerp
            weights = {scaled_pair[0][0]: scaled_pair[0][1], scaled_pair[1][0]: scaled_pair[1][1]}
            if set(weights) == {"decay", "keep"}:
                return form("lerp", (weights["decay"], weights["keep"]), ("keep", 1.0))
        for p, q in pairs:  # p + a/b: addcdiv
            quotient = _tensors(q, "div")
            if not _is_scalar(p) and quotient is not None:
                return form("addcdiv", (p, *quotient), (None, 1.0))
        for p, q in pairs:  # p + s*b: add(alpha=s)
            scaled = _scaled(q)
            if not _is_scalar(p) and scaled is not None:
                return form("add_alpha", (p, scaled[1]), (scaled[0], 1.0))
    if node.op == "sub" and not _is_scalar(left):
        scaled = _scaled(right)
        if scaled is not None:
            s, b = scaled
            if _tensors(b, "div") is not None:  # p - s*(a/b)
                return form("addcdiv", (left, *b.args), (s, -1.0))
            if _tensors(b, "mul") is not None:  # p - s*(a*b)
                return form("addcmul", (left, *b.args), (s, -1.0))
            return form("add_alpha", (left, b), (s, -1.0))  # p - s*b
        for op, name in (("mul", "addcmul"), ("div", "addcdiv")):  # p - a*b, p - a/b
            pair = _tensors(right, op)
            if pair is not None:
                return form(name, (left, *pair), (None, -1.0))
    if _is_scalar(right):
        return form(f"{node.op}_s", (left,), (right.name, 1.0))
    if _is_scalar(left):
        if node.op in ("add", "mul"):
            return form(f"{node.op}_s", (right,), (left.name, 1.0))
        raise UntraceableError(f"a scalar {node.op} a tensor")
    return form(node.op, node.args)


_IN_PLACE = (
    "add", "sub", "mul", "div", "add_s", "sub_s", "mul_s", "div_s", "sqrt", "add_alpha", "addcmul", "addcdiv", "lerp",
)
"""Forms whose first operand may be the buffer they write (``p.addcmul_(a, b)``)."""


def fuse(program: Program) -> Fused:
    """``program`` as fused forms (:data:`FORMS`) over leaf and scratch slots, each value computed once.

    A multiply-add becomes one form (``p + s*a*b`` -> ``addcmul``, ``p - s*b`` ->
    ``add_alpha`` with ``-s``, ``decay*p + keep*b`` -> ``lerp``, ...), so a
    backend whose fused ops round once runs the same operations, in the same
    order, as an optimizer written with them.  The first operand of each
    output's operation is computed in that output's buffer where its old value
    is no longer read (``nu.mul_(decay)`` then ``nu.addcmul_(g, g)``), and scratch
    slots are reused once their value is dead.
    """
    forms: dict[int, Any] = {}

    def convert(node: Node) -> Any:
        if node.op == "name":
            if node.name not in LEAVES:
                raise UntraceableError(f"the scalar {node.name} where a tensor is needed")
            return node.name
        if id(node) not in forms:
            forms[id(node)] = _fused_form(node, convert)
        return forms[id(node)]

    roots = [(target, convert(root)) for target, root in program.roots]
    order: list[Any] = []  # forms in evaluation order, operands first
    seen: set[int] = set()

    def visit(value: Any) -> None:
        if isinstance(value, str) or id(value) in seen:
            return
        for arg in value.args:
            visit(arg)
        seen.add(id(value))
        order.append(value)

    targets: dict[int, str] = {}
    for target, value in roots:
        if isinstance(value, str) or id(value) in targets:  # an output that is an input or another output
            raise UntraceableError(f"{target} is not computed by an operation of its own")
        visit(value)
        targets[id(value)] = target
    uses: dict[Any, list[int]] = {}
    for i, value in enumerate(order):
        for arg in value.args:
            uses.setdefault(arg if isinstance(arg, str) else id(arg), []).append(i)
    last = {key: max(at) for key, at in uses.items()}
    end = len(order)
    for value in order:  # outputs live on in their buffers
        if id(value) in targets:
            last[id(value)] = end
    home: dict[int, str] = {}  # value -> the output buffer it may be computed in
    for value in reversed(order):
        owner = targets.get(id(value), home.get(id(value)))
        first = value.args[0] if value.args and value.form in _IN_PLACE else None
        if owner is not None and first is not None and not isinstance(first, str) and len(uses[id(first)]) == 1:
            home.setdefault(id(first), owner)
    content: dict[int, Any] = dict(enumerate(LEAVES))
    where: dict[int, int] = {}
    scratch = 0
    steps: list[FusedStep] = []

    def dead(slot: int, at: int) -> bool:
        return last.get(content.get(slot), -1) <= at

    for i, value in enumerate(order):
        key: Any = id(value)
        if key in targets:
            out = LEAVES.index(targets[key])
            if not dead(out, i):
                raise UntraceableError(f"{targets[key]} is written while its old value is still read")
        elif key in home and dead(LEAVES.index(home[key]), i):
            out = LEAVES.index(home[key])
        else:  # a dead scratch slot, the first operand's if it is one (in place), else a new one
            free = [slot for slot in range(len(LEAVES), len(LEAVES) + scratch) if dead(slot, i)]
            first = [slot for slot in free if value.args and content[slot] == id(value.args[0])]
            if first or free:
                out = (first or free)[0]
            else:
                out = len(LEAVES) + scratch
                scratch += 1
        slots = tuple(LEAVES.index(a) if isinstance(a, str) else where[id(a)] for a in value.args)
        steps.append((value.form, out, slots, value.scalars))
        content[out] = key
        where[key] = out
    return Fused(steps, scratch)
