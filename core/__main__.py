"""``python -m polyprop``: the same command line as the ``polyprop`` script."""

from .cli import main

raise SystemExit(main())
