"""The documentation site: every page in the navigation, no citation a clone cannot follow, a strict build."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CONFIG = ROOT / "mkdocs.yml"
SOURCE_FOLDERS = ("core", "backends", "chapter", "benchmarks")


def nav_pages() -> list[str]:
    """The pages mkdocs.yml's ``nav`` lists (``- Title: page.md`` lines), relative to docs/."""
    text = CONFIG.read_text(encoding="utf-8")
    nav = text.split("\nnav:\n", 1)[1]
    nav = re.split(r"\n\S", nav, maxsplit=1)[0]  # up to the next top-level key
    return re.findall(r"^\s*- [^:\n]+:\s*(\S+\.md)\s*$", nav, flags=re.M)


def test_nav_and_pages_match():
    pages = nav_pages()
    assert "index.md" in pages, pages
    assert "api/index.md" in pages, pages
    assert len(pages) == len(set(pages)), f"listed twice: {sorted(p for p in pages if pages.count(p) > 1)}"
    missing = [page for page in pages if not (DOCS / page).is_file()]
    assert not missing, f"in mkdocs.yml's nav but not in docs/: {missing}"
    on_disk = sorted(path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md"))
    unlisted = sorted(set(on_disk) - set(pages))
    assert not unlisted, f"in docs/ but not in mkdocs.yml's nav: {unlisted}"


def test_sources_do_not_cite_the_shared_folder():
    """A clone has no ../shared: the sources cite docs/ pages (docs/native.md, docs/environment.md) instead."""
    citing = []
    for folder in SOURCE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):  # (results files record the data folder a run used)
            if "__pycache__" in path.parts:
                continue
            text = path.read_text(encoding="utf-8")
            citing += [
                f"{path.relative_to(ROOT)}:{number}"
                for number, line in enumerate(text.splitlines(), 1)
                if "../shared" in line
            ]
    assert not citing, f"cite ../shared: {citing}"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python[^\n]*\n(.*?)```", text, flags=re.S)


def test_scale_out_scripts_are_the_readme_ones():
    """docs/scale-out.md shows the scripts tests/test_readme.py runs, each headed by its file name."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    scripts = dict(re.findall(r"```python file=(\S+)\n(.*?)```", readme, flags=re.S))
    shown = {}
    for block in python_blocks((DOCS / "scale-out.md").read_text(encoding="utf-8")):
        first, _, rest = block.partition("\n")
        shown[first.removeprefix("# ")] = rest
    assert shown == scripts


def built_path(page: str) -> str:
    """Where mkdocs (directory URLs) writes ``page``.

    ``a/index.md`` -> ``a/index.html``, ``a/b.md`` -> ``a/b/index.html``.
    """
    stem = page.removesuffix(".md")
    return f"{stem}.html" if stem == "index" or stem.endswith("/index") else f"{stem}/index.html"


def test_site_builds_strictly(tmp_path):
    """``mkdocs build --strict`` (what ``make docs`` runs): any warning, such as a broken link, fails it."""
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install mkdocs mkdocstrings-python)")
    pytest.importorskip("mkdocstrings_handlers.python", reason="mkdocstrings-python is not installed")
    site = tmp_path / "site"
    shutil.rmtree(ROOT / "build" / "docs-src", ignore_errors=True)  # as in a fresh clone (docs/hooks.py makes it)
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(CONFIG), "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    for page in nav_pages():
        built = site / built_path(page)
        assert built.is_file(), f"{page} was not built ({built})"
    reference = (site / "api" / "backends-torch" / "index.html").read_text(encoding="utf-8")
    assert 'id="polyprop.backends.torch.RMSprop"' in reference  # the drop-in, documented from its docstring
    config_page = (site / "api" / "config" / "index.html").read_text(encoding="utf-8")
    assert 'id="polyprop.config.RMSPropConfig"' in config_page
    # reST roles became links or code
    assert ":func:" not in config_page
    assert ":class:" not in config_page


def test_rest_tables_become_markdown():
    """docs/griffe_rst.py: a headed reST table becomes a Markdown table, a headless one a list."""
    pytest.importorskip("griffe", reason="griffe (with mkdocstrings-python) is not installed")
    sys.path.insert(0, str(DOCS))
    try:
        import griffe_rst
    finally:
        sys.path.remove(str(DOCS))
    headed = (
        "Today:\n\n===== =========\nname  path\n===== =========\n"
        "numpy in-place\n      ufuncs\ntorch a | b\n===== =========\n"
    )
    assert griffe_rst.tables_to_markdown(headed).split("\n") == [
        "Today:", "", "| name | path |", "|---|---|", "| numpy | in-place ufuncs |", "| torch | a \\| b |", "",
    ]
    headless = "=== ====\n.a  one\n.b  two\n=== ====\n"
    assert griffe_rst.tables_to_markdown(headless).split("\n") == ["- .a: one", "- .b: two", ""]
    assert griffe_rst.markdown("at count t::\n\n    g = 1\n", None, None) == "at count t:\n\n    g = 1\n"
