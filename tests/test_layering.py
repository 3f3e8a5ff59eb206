"""The layers point one way: core (the package ``polyprop``) never imports the application layers.

``polyprop.chapter`` (the chapter and the command line) and ``benchmarks`` build on
core; core builds on neither.  Read from the source with :mod:`ast`, so an import
inside a function counts as well as one at the top.  Frameworks are imported only
inside functions (a backend's framework when that backend is asked for: see
test_import_hygiene.py for what importing polyprop loads).
"""

from __future__ import annotations

import ast
import pathlib

import pytest

CORE = pathlib.Path(__file__).resolve().parent.parent / "core"

APPLICATIONS = ("polyprop.chapter", "benchmarks")
"""Packages core must not import."""

FRAMEWORKS = ("torch", "tensorflow", "keras", "jax", "jaxlib", "optax", "mxnet", "matplotlib", "tqdm")
"""Top-level packages core may import only inside a function.

(numpy, the one requirement, is checked by test_import_hygiene.)
"""

RUN_TIME_EXCEPTION = ("__main__.py", "polyprop.chapter.cli")
"""The one exception: ``python -m polyprop`` imports the command line inside its ``main``, when it runs."""


def _imports(source: str) -> list[tuple[str, int, bool]]:
    """``(module, line, run at import time)`` for each name a core module's ``source`` imports.

    Every core module sits directly in ``polyprop``, so ``from .x import y`` means
    ``polyprop.x``; one that climbs higher (``from ..x``) keeps its dots.  ``from a
    import b`` counts as ``a``, or as ``a.b`` when ``a`` is no application package
    (``from . import chapter`` is ``polyprop.chapter``).  Imports in a function's body
    run when it is called; those under ``if TYPE_CHECKING:`` never run.
    """
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno, top) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level == 1:
                base = f"polyprop.{base}".rstrip(".")
            elif node.level > 1:
                base = "." * node.level + base
            for alias in node.names:
                name = base if node.level > 1 or _is_within(base, APPLICATIONS) else f"{base}.{alias.name}"
                found.append((name, node.lineno, top))
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                visit(child, False)
            for child in node.orelse:
                visit(child, top)
            return
        inside = top and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(ast.parse(source), True)
    return found


def _is_within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


def _core_files() -> list[pathlib.Path]:
    return sorted(CORE.glob("*.py"))


def _violations(path: pathlib.Path, source: str | None = None) -> list[str]:
    """What is wrong with the imports of core's ``path`` (its text, or ``source`` in its place)."""
    bad = []
    for name, line, top in _imports(path.read_text() if source is None else source):
        where = f"{path.name}:{line} imports {name}"
        if name.startswith("."):
            bad.append(f"{where}, outside polyprop")
        elif _is_within(name, APPLICATIONS) and (top or (path.name, name) != RUN_TIME_EXCEPTION):
            bad.append(where)
        elif top and _is_within(name, FRAMEWORKS):
            bad.append(f"{where}, a framework, at module level")
    return bad


def test_core_is_the_package_polyprop_and_has_its_modules():
    names = {path.name for path in _core_files()}
    assert {"__init__.py", "__main__.py", "rmsprop.py", "containers.py", "nonfinite.py", "validation.py"} <= names
    assert "cli.py" not in names  # the command line is polyprop.chapter.cli


@pytest.mark.parametrize("path", _core_files(), ids=lambda path: path.name)
def test_no_core_module_imports_the_chapter_the_benchmarks_or_a_framework_at_module_level(path):
    assert _violations(path) == []


def test_the_one_exception_is_named_and_still_needed():
    """__main__.py imports the command line inside its function; were it gone, the exception would be stale."""
    main = CORE / "__main__.py"
    imports = {(name, top) for name, _, top in _imports(main.read_text())}
    assert ("polyprop.chapter.cli", False) in imports


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("from .chapter import trace", "rmsprop.py:1 imports polyprop.chapter"),
        ("if TYPE_CHECKING:\n    from .chapter import trace", "rmsprop.py:2 imports polyprop.chapter"),
        ("from . import chapter", "rmsprop.py:1 imports polyprop.chapter"),
        ("from .chapter.cli import main", "rmsprop.py:1 imports polyprop.chapter.cli"),
        ("from ..chapter import trace", "rmsprop.py:1 imports ..chapter, outside polyprop"),
        ("import polyprop.chapter.plots", "rmsprop.py:1 imports polyprop.chapter.plots"),
        ("from polyprop import chapter", "rmsprop.py:1 imports polyprop.chapter"),
        ("import benchmarks.step", "rmsprop.py:1 imports benchmarks.step"),
        ("from benchmarks import step", "rmsprop.py:1 imports benchmarks"),
        ("def f():\n    from .chapter.run import run_chapter", "rmsprop.py:2 imports polyprop.chapter.run"),
        ("import torch", "rmsprop.py:1 imports torch, a framework, at module level"),
        ("from jax import numpy", "rmsprop.py:1 imports jax.numpy, a framework, at module level"),
        ("class C:\n    import tensorflow", "rmsprop.py:2 imports tensorflow, a framework, at module level"),
        (
            "try:\n    import mxnet\nexcept ImportError:\n    pass",
            "rmsprop.py:2 imports mxnet, a framework, at module level",
        ),
    ],
)
def test_a_forbidden_import_is_found(line, expected):
    assert _violations(CORE / "rmsprop.py", line) == [expected]


@pytest.mark.parametrize(
    "line",
    [
        "def f():\n    import torch",  # a framework, when a function runs
        "from .checkpoint import save",
        "from . import validation",
        "import chaptered",  # a name that only starts like an application package
        "from .chapters import x",
        "if TYPE_CHECKING:\n    import torch",  # never run
    ],
)
def test_an_allowed_import_passes(line):
    assert _violations(CORE / "rmsprop.py", line) == []


def test_the_exception_holds_for_main_only():
    line = "def main():\n    from polyprop.chapter.cli import main"
    assert _violations(CORE / "__main__.py", line) == []
    assert _violations(CORE / "fast.py", line) == ["fast.py:2 imports polyprop.chapter.cli"]
    assert _violations(CORE / "__main__.py", "from polyprop.chapter.cli import main") == [
        "__main__.py:1 imports polyprop.chapter.cli"  # at import time, not when main runs
    ]
    assert _violations(CORE / "__main__.py", "def main():\n    from polyprop.chapter import report") == [
        "__main__.py:2 imports polyprop.chapter"
    ]
