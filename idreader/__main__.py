"""``python -m idreader``: the same as the ``idreader`` command."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
