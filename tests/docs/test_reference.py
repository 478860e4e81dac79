"""The API reference page documents every public name."""

from __future__ import annotations

import re
from pathlib import Path

import orq_async

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference.md"


def test_every_public_name_has_a_reference_entry() -> None:
    entries = set(re.findall(r"^::: orq_async\.(\w+)", REFERENCE.read_text(), re.M))
    public = set(orq_async.__all__) - {"__version__"}
    assert sorted(public - entries) == [], "add these to docs/reference.md"
