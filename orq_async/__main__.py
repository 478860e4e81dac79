"""``python -m orq_async``: the orq-async command line."""

from __future__ import annotations

from ._cli import main

raise SystemExit(main())
