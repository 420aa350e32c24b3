"""Settings: names operators rely on, one readable message for every problem, secrets never echoed."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from services.settings import ConfigError, StarsPack, load_settings
from tests.conftest import TOKEN


def problems(**values: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, **values)
    return caught.value.problems


def test_missing_token_is_named() -> None:
    assert problems() == ["BOT_TOKEN is missing"]
    assert problems(bot_token="  ") == ["BOT_TOKEN is missing"], "a blank BOT_TOKEN= line is a missing token"


def test_every_problem_is_listed_once_and_no_secret_is_echoed() -> None:
    secret = "sk-super-secret-value-1234567890"
    found = problems(
        bot_token=f"nope-{secret}",
        admin_ids="1,abc",
        stars_packs="100:50,oops",
        hard_timeouts="gemini=0",
        webhook_url="https://bot.example/hook",
        supabase_service_role_key=secret,
        kling_access_key="ak",
        poll_interval_seconds="0",
        default_language="de",
        web_port="99999",
    )
    text = "\n".join(found)
    assert [p.split(":")[0] for p in found] == [
        "BOT_TOKEN",
        "ADMIN_IDS",
        "WEBHOOK_SECRET",
        "WEB_PORT",
        "SUPABASE_SERVICE_ROLE_KEY",
        "DEFAULT_LANGUAGE",
        "POLL_INTERVAL_SECONDS",
        "HARD_TIMEOUTS",
        "STARS_PACKS",
        "KLING_SECRET_KEY",
    ]
    assert secret not in text
    assert "'abc' is not a Telegram user id" in text


def test_values_are_parsed_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("ADMIN_IDS", " 11, 22 ,33")
    monkeypatch.setenv("STARS_PACKS", "100:50, 1000:450")
    monkeypatch.setenv("HARD_TIMEOUTS", "gemini=15,KIE=45")
    monkeypatch.setenv("STARS_PER_CREDIT", "1.5")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("GEMINI_API_KEY", "")
    monkeypatch.setenv("KIE_API_KEY", "kie-key")
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:8081")
    settings = load_settings(_env_file=None)
    assert settings.admin_ids == [11, 22, 33]
    assert settings.stars_packs == [StarsPack(100, 50), StarsPack(1000, 450)]
    assert settings.stars_per_credit == Decimal("1.5")
    assert settings.provider("gemini").hard_timeout_minutes == 15
    assert settings.provider("kie").hard_timeout_minutes == 45
    assert settings.provider("runware").hard_timeout_minutes == 30
    assert settings.provider("demo").hard_timeout_minutes == 30, "HARD_TIMEOUTS replaces the built-in list"
    defaults = load_settings(_env_file=None, hard_timeouts="", hard_timeout_minutes="50")
    assert defaults.provider("gemini").hard_timeout_minutes == 50
    assert settings.gemini_api_key is None, "a blank key means not configured"
    assert settings.configured_providers() == ["kie"]
    assert settings.database_path == tmp_path / "d" / "bot.sqlite3"
    assert settings.max_image_bytes == 20 * 1024 * 1024
    assert settings.storage_backend == "sqlite"
    assert str(settings.telegram_api_url) == "http://127.0.0.1:8081/"
    assert TOKEN not in repr(settings)
    assert "kie-key" not in str(settings)


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        f"BOT_TOKEN={TOKEN}\nDEMO_MODE=true\nSUPABASE_URL=https://x.supabase.co\n"
        "SUPABASE_SERVICE_ROLE_KEY=service\n",
        encoding="utf-8",
    )
    settings = load_settings()  # the test runs in tmp_path, where this .env lies
    assert settings.demo_mode is True
    assert settings.storage_backend == "supabase"
    assert settings.configured_providers() == ["demo"]


def test_media_link_key_is_stable_and_secret_specific(tmp_path: Path) -> None:
    derived = load_settings(_env_file=None, bot_token=TOKEN)
    assert derived.media_link_key() == load_settings(_env_file=None, bot_token=TOKEN).media_link_key()
    assert TOKEN.encode() not in derived.media_link_key()
    explicit = load_settings(_env_file=None, bot_token=TOKEN, media_link_secret="abc")
    assert explicit.media_link_key() == b"abc"


def test_kling_needs_both_keys_and_webhook_needs_a_secret() -> None:
    ok = load_settings(
        _env_file=None,
        bot_token=TOKEN,
        kling_access_key="a",
        kling_secret_key="b",
        webhook_url="https://bot.example/tg",
        webhook_secret="s3cr3t_-",
    )
    assert ok.provider("kling").configured
    assert problems(bot_token=TOKEN, webhook_url="https://x.example", webhook_secret="has space") == [
        "WEBHOOK_SECRET: must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)"
    ]


@pytest.mark.parametrize("written", ["debug", "Debug", " DEBUG "])
def test_log_level_is_read_in_any_case(written: str) -> None:
    assert load_settings(_env_file=None, bot_token=TOKEN, log_level=written).log_level == "DEBUG"


def test_welcome_credits_default_to_none_and_refuse_negatives() -> None:
    assert load_settings(_env_file=None, bot_token=TOKEN).welcome_credits == 0
    assert problems(bot_token=TOKEN, welcome_credits="-1") == [
        "WELCOME_CREDITS: Input should be greater than or equal to 0"
    ]
