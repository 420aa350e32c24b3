"""Operators configure from .env.example and the README table: every setting must be in both."""

from __future__ import annotations

import re
from pathlib import Path

from services.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented() -> None:
    names = {name.upper() for name in Settings.model_fields}
    example = set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    table = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", (ROOT / "README.md").read_text(), re.MULTILINE))
    assert names - example == set(), "missing from .env.example"
    assert names - table == set(), "missing from the README configuration table"
    assert example - names == set(), ".env.example names settings that do not exist"
    assert table - names == set(), "the README table names settings that do not exist"
