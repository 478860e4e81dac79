"""``python -m orq_async.testing``: run the fake router until interrupted."""

from __future__ import annotations

from ._command import main

raise SystemExit(main())
