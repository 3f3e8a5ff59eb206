"""griffe extension: render the reST idioms of polyprop's docstrings as Markdown.

The docstrings are written to read well as plain text (``help()``, an editor),
with three reST idioms that Markdown would show verbatim.  For the site only,
each docstring is rewritten before it is parsed:

- a role, ``:func:`polyprop.step```, ``:class:`~polyprop.RMSPropConfig```,
  ``:mod:`.ops```, becomes a cross-reference when the target is documented and
  plain code otherwise (an *optional* autoref: it never fails a strict build);
- a simple table (columns ruled by ``===``) becomes a Markdown table, or a list
  when it has no header row;
- a paragraph ending in ``::`` ends in ``:`` (its indented block is already code).
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|exc|obj):`(~?)([\w.]+)(\(\))?`")
RULE = re.compile(r"^ *=+( +=+)+ *$")


def target_path(obj: Any, target: str, exists: Any) -> str:
    """The full path ``target`` names, seen from ``obj``'s docstring (Python's lookup: local, then module)."""
    module = obj if obj.is_module else obj.module
    if target.startswith("."):
        package = module if module.is_package or module.is_init_module else module.parent
        for _ in range(len(target) - len(target.lstrip(".")) - 1):
            package = package.parent
        return f"{package.path}.{target.lstrip('.')}"
    scope = obj
    while scope is not None:  # the object itself, its class, its module, the packages above
        candidate = f"{scope.path}.{target}"
        if exists(candidate):
            return candidate
        scope = scope.parent
    return target


def roles_to_refs(text: str, obj: Any, exists: Any, canonical: Any = lambda path: path) -> str:
    """Each role as ``<autoref optional>``: a link where the target is documented, else code.

    ``canonical(path)`` is where an imported name is defined (the page that documents it).
    """

    def reference(match: re.Match[str]) -> str:
        tilde, target, call = match.groups()
        shown = (target.rsplit(".", 1)[-1] if tilde else target.lstrip(".") if target.startswith(".") else target)
        path = canonical(target_path(obj, target, exists))
        title = f"<code>{html.escape(shown + (call or ''))}</code>"
        return f'<autoref identifier="{html.escape(path)}" optional>{title}</autoref>'

    return ROLE.sub(reference, text)


def tables_to_markdown(text: str) -> str:
    """Each reST simple table as a Markdown table (a list when it has no header row)."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not RULE.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        rules = [i]
        j = i + 1
        while j < len(lines) and lines[j].strip() and len(rules) < 3:
            if RULE.match(lines[j]):
                rules.append(j)
            j += 1
        if len(rules) < 2:
            out.append(lines[i])
            i += 1
            continue
        starts = [m.start() for m in re.finditer(r"=+", lines[i])]
        header = rules[1] if len(rules) == 3 else None
        rows = _rows(lines[i + 1 : rules[1]] if header else [], starts)
        body = _rows(lines[(header or i) + 1 : rules[-1]], starts)
        if header is None:
            out += [f"- {cells[0]}: {' '.join(cells[1:])}" for cells in body]
        else:
            out.append("| " + " | ".join(rows[0]) + " |")
            out.append("|" + "---|" * len(starts))
            out += ["| " + " | ".join(cells) + " |" for cells in body]
        i = rules[-1] + 1
    return "\n".join(out)


def _rows(lines: list[str], starts: list[int]) -> list[list[str]]:
    """The cells of each row; a line with an empty first column continues the row above."""
    rows: list[list[str]] = []
    for line in lines:
        bounds = [*starts[1:], None]
        cells = [line[start:end].strip().replace("|", "\\|") for start, end in zip(starts, bounds)]
        if rows and not cells[0]:
            rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], cells)]
        else:
            rows.append(cells)
    return rows


def markdown(text: str, obj: Any, exists: Any, canonical: Any = lambda path: path) -> str:
    """The docstring ``text`` of ``obj`` with its reST idioms as Markdown."""
    text = re.sub(r"(\S) ?::\n(\n+ )", r"\1:\n\2", text)
    return roles_to_refs(tables_to_markdown(text), obj, exists, canonical)


class RestToMarkdown(griffe.Extension):
    """Rewrites every docstring of a package once it is loaded (before any is parsed)."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        collection = loader.modules_collection

        def exists(path: str) -> bool:
            try:
                collection[path]
            except Exception:
                return False
            return True

        def canonical(path: str) -> str:
            try:
                found = collection[path]
                return str(found.final_target.path) if found.is_alias else path
            except Exception:
                return path

        def walk(obj: Any) -> None:
            if obj.is_alias:
                return
            if obj.docstring is not None:
                obj.docstring.value = markdown(obj.docstring.value, obj, exists, canonical)
            for member in obj.members.values():
                walk(member)

        walk(pkg)
