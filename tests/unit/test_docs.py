"""Operators configure from .env.example and the README table: every setting must be in both."""

from __future__ import annotations

import re
from pathlib import Path

from services.catalog import load_catalog
from services.pricing import cheapest
from services.settings import Settings
from tests.conftest import TOKEN

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented() -> None:
    names = {name.upper() for name in Settings.model_fields}
    example = set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    table = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", (ROOT / "README.md").read_text(), re.MULTILINE))
    assert names - example == set(), "missing from .env.example"
    assert names - table == set(), "missing from the README configuration table"
    assert example - names == set(), ".env.example names settings that do not exist"
    assert table - names == set(), "the README table names settings that do not exist"


def _defaults_in_readme() -> dict[str, str]:
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \| ([^|]*) \|", (ROOT / "README.md").read_text(), re.M)
    return {name: default.strip() for name, default in rows}


def test_the_readme_defaults_are_the_real_defaults() -> None:
    """A default written as a value must parse to the field's default; the others say it has none."""
    token = {"bot_token": TOKEN}
    defaults = Settings(_env_file=None, **token)  # type: ignore[call-arg]
    for name, written in _defaults_in_readme().items():
        field = name.lower()
        if written in ("unset", "none", "required"):
            assert getattr(defaults, field) in (None, []) or field == "bot_token", name
            continue
        value = written.strip("`")
        parsed = Settings(_env_file=None, **{**token, field: value})  # type: ignore[call-arg]
        assert getattr(parsed, field) == getattr(defaults, field), f"{name}: README says {written}"


def test_env_example_loads_and_offers_the_demo_to_a_new_user(tmp_path: Path) -> None:
    """`.env.example` with a token is a working configuration in which a new user can afford a demo."""
    example = (ROOT / ".env.example").read_text().replace("\nBOT_TOKEN=\n", f"\nBOT_TOKEN={TOKEN}\n")
    (tmp_path / ".env").write_text(example)
    settings = Settings(_env_file=tmp_path / ".env")  # type: ignore[call-arg]
    offers = {
        offer.model.key: offer
        for offer in load_catalog(settings.catalog_path).available(settings.usable_providers())
    }
    assert "demo" in offers, "DEMO_MODE=true offers the Demo model without any provider key"
    assert settings.welcome_credits >= cheapest(offers["demo"]), "a new user can afford a demo video"
    for line in re.findall(r"^# ([A-Z][A-Z0-9_]+=\S+)$", example, re.M):  # the commented examples parse
        name, _, value = line.partition("=")
        Settings(_env_file=None, bot_token=TOKEN, **{name.lower(): value})  # type: ignore[call-arg]
