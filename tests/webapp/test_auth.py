"""initData checks and the ways into the gallery (menu button, /library's button), without a browser."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from urllib.parse import parse_qsl, quote, urlencode

import pytest
from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer

from bot.i18n import Translator
from bot.webapp.auth import InitDataRejected, init_data_from_header, verify_init_data
from bot.webapp.links import gallery_button, gallery_url, set_menu_button
from services.settings import Settings
from tests.conftest import TOKEN
from tests.fakes.telegram import FakeTelegram, LoopbackSession
from tests.webapp.conftest import sign_init_data

NOW = time.time()
DAY = 86400


def check(init_data: str, *, max_age: int = DAY, now: float = NOW) -> object:
    return verify_init_data(init_data, bot_token=TOKEN, max_age_seconds=max_age, now=now)


def resign_with(fields: dict[str, str]) -> str:
    return urlencode(fields, quote_via=quote)


def test_genuine_init_data_proves_its_user() -> None:
    session = check(sign_init_data(5001, language_code="ru", auth_date=int(NOW) - 60))
    assert session.user_id == 5001  # type: ignore[attr-defined]
    assert session.language_code == "ru"  # type: ignore[attr-defined]


def tampered_user() -> str:
    fields = dict(parse_qsl(sign_init_data(5001)))
    fields["user"] = fields["user"].replace("5001", "5002")  # someone else's id under 5001's signature
    return resign_with(fields)


def without(name: str) -> str:
    fields = dict(parse_qsl(sign_init_data(5001)))
    del fields[name]
    return resign_with(fields)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: "", id="missing"),
        pytest.param(
            lambda: sign_init_data(5001, token="987654321:AAother-bots-token-xxxxxxxxxxxxx"), id="forged"
        ),
        pytest.param(tampered_user, id="tampered-user"),
        pytest.param(lambda: without("hash"), id="no-hash"),
        pytest.param(lambda: without("user"), id="no-user"),
        pytest.param(lambda: sign_init_data(5001, auth_date=int(NOW) - DAY - 1), id="expired"),
        pytest.param(lambda: sign_init_data(5001, auth_date=int(NOW) + 3600), id="from-the-future"),
        pytest.param(lambda: sign_init_data(5001)[:-64] + "é" * 64, id="non-ascii-hash"),
        pytest.param(lambda: "%%%&&&==", id="garbage"),
        pytest.param(lambda: sign_init_data(5001) + "&pad=" + "x" * 5000, id="too-long"),
    ],
)
def test_anything_but_fresh_genuine_init_data_is_refused(make: Callable[[], str]) -> None:
    with pytest.raises(InitDataRejected):
        check(make())


def test_the_freshness_limit_is_the_setting() -> None:
    init_data = sign_init_data(5001, auth_date=int(NOW) - 100)
    assert check(init_data, max_age=120)
    with pytest.raises(InitDataRejected, match="expired"):
        check(init_data, max_age=90)
    assert Settings(_env_file=None, bot_token=TOKEN).webapp_auth_max_age_seconds == DAY  # type: ignore[call-arg]


def test_init_data_travels_in_the_tma_authorization_scheme() -> None:
    assert init_data_from_header("tma a=1&hash=2") == "a=1&hash=2"
    assert init_data_from_header("Bearer a=1") == ""
    assert init_data_from_header(None) == ""


@pytest.mark.parametrize(
    ("base", "url"),
    [
        (None, None),
        ("http://bot.example", None),  # Telegram opens Mini Apps from HTTPS only
        ("https://bot.example", "https://bot.example/webapp/"),
        ("https://bot.example/prefix/", "https://bot.example/prefix/webapp/"),
    ],
)
def test_the_gallery_has_a_url_only_over_https(
    make_settings: Callable[..., Settings], base: str | None, url: str | None
) -> None:
    settings = make_settings(public_base_url=base)
    assert gallery_url(settings) == url
    button = gallery_button(settings, Translator().bind("ru"))
    if url is None:
        assert button is None
    else:
        assert button is not None and button.web_app is not None
        assert button.web_app.url == url and button.text == "🖼 Открыть галерею"
        assert button.callback_data is None


@pytest.fixture
async def telegram() -> AsyncIterator[tuple[FakeTelegram, Bot]]:
    fake = FakeTelegram(TOKEN)
    await fake.start()
    bot = Bot(TOKEN, session=LoopbackSession(api=TelegramAPIServer.from_base(fake.url)))
    try:
        yield fake, bot
    finally:
        await bot.session.close()
        await fake.close()


async def test_the_menu_button_opens_the_gallery_and_a_refusal_does_not_stop_the_start(
    make_settings: Callable[..., Settings],
    telegram: tuple[FakeTelegram, Bot],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """setChatMenuButton as Telegram documents it (the default button: no chat_id); a refusal is one warning
    line without the token, and the start goes on. (The fake Bot API may not know the method: then its 404
    is the refusal; where it does, a scripted 400 is.)"""
    fake, bot = telegram
    settings = make_settings(public_base_url="https://bot.example", default_language="en")
    told = await set_menu_button(bot, settings, Translator("en"))
    [call] = fake.calls_of("setChatMenuButton")
    assert told is call.ok
    assert "chat_id" not in call.params
    assert call.params["menu_button"] == {
        "type": "web_app",
        "text": "My videos",
        "web_app": {"url": "https://bot.example/webapp/"},
    }
    fake.fail_next("setChatMenuButton", error_code=400, description="Bad Request: no")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bot.webapp.links"):
        assert await set_menu_button(bot, settings, Translator("en")) is False
    [line] = [r.getMessage() for r in caplog.records]
    assert "menu button" in line and TOKEN not in line and TOKEN.split(":")[1] not in line


async def test_no_menu_button_without_an_https_public_url(
    make_settings: Callable[..., Settings], telegram: tuple[FakeTelegram, Bot]
) -> None:
    fake, bot = telegram
    for base in (None, "http://127.0.0.1:8080"):
        assert await set_menu_button(bot, make_settings(public_base_url=base), Translator()) is False
    assert fake.calls_of("setChatMenuButton") == []
