"""mkdocs hook: show griffe the sources laid out as the installed package.

setup.cfg's ``package_dir`` maps ``polyprop`` to ``core/``, ``polyprop.backends`` to
``backends/`` and ``polyprop.chapter`` to ``chapter/``.  griffe's static analysis
finds a package only in a folder of the package's name, so before the build this
hook keeps ``build/docs-src/polyprop/`` as symbolic links into those folders
(mkdocs.yml points the python handler's ``paths`` there).  Nothing is imported.
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "docs-src"


def package_dirs(setup_cfg: Path = ROOT / "setup.cfg") -> dict[str, Path]:
    """setup.cfg's ``package_dir``: dotted package name -> its folder."""
    parser = configparser.ConfigParser()
    parser.read(setup_cfg, encoding="utf-8")
    mapping: dict[str, Path] = {}
    for line in parser.get("options", "package_dir", fallback="").splitlines():
        if "=" in line:
            name, folder = (part.strip() for part in line.split("=", 1))
            mapping[name] = ROOT / folder
    return mapping


def wanted_links(mapping: dict[str, Path]) -> dict[Path, Path]:
    """Each link of the tree -> its target: a package's entries, and each subpackage mapped elsewhere."""
    links: dict[Path, Path] = {}
    for name, folder in sorted(mapping.items()):
        place = TREE.joinpath(*name.split("."))
        if "." in name and name.rpartition(".")[0] in mapping:
            links[place] = folder  # a subpackage with a folder of its own
        elif folder.is_dir():
            for entry in folder.iterdir():
                if entry.name != "__pycache__" and entry.name not in links:
                    links[place / entry.name] = entry
    return links


def sync_tree() -> Path:
    """Make the tree match setup.cfg and the folders now; each link is replaced atomically."""
    links = wanted_links(package_dirs())
    for link, target in links.items():
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        temporary = link.with_name(f".{link.name}.{os.getpid()}.tmp")
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(target)
        os.replace(temporary, link)
    for folder in {link.parent for link in links}:
        for entry in folder.iterdir():  # entries of files since removed from the sources
            if entry.is_symlink() and entry not in links:
                entry.unlink(missing_ok=True)
    return TREE


def on_startup(command: str, dirty: bool) -> None:
    """mkdocs event, before the plugins' ``on_config``: lay out the tree.

    mkdocstrings sets griffe up in its ``on_config``, which runs before a hook's, with
    only the search paths that exist then: in a fresh clone ``build/docs-src`` must
    exist before it, or nothing under ``polyprop`` is found.
    """
    sync_tree()


def on_config(config: Any) -> Any:
    """mkdocs event: lay out the tree again (``mkdocs serve`` reloads after a source changed)."""
    sync_tree()
    return config
