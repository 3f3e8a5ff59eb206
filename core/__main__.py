"""``python -m polyprop``: the same command line as the ``polyprop`` script.

The command line is an application of the library and lives in
:mod:`polyprop.chapter.cli`; this entry point imports it when it runs, the one
place where core reaches into the application layer (tests/test_layering.py).
"""

from __future__ import annotations


def main() -> int:
    """Runs :func:`polyprop.chapter.cli.main` on ``sys.argv``; returns its exit status."""
    from polyprop.chapter.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    raise SystemExit(main())
