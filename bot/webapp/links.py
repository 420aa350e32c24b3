"""Where the gallery opens from: the chat's menu button (set at start-up) and a button under /library.

Telegram opens Mini Apps only from HTTPS URLs, so without an https PUBLIC_BASE_URL there is no gallery
to offer: `gallery_url` is None and neither button exists (the chat's /library still works).
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import InlineKeyboardButton, MenuButtonWebApp, WebAppInfo

from bot.i18n import Texts, Translator
from services.settings import Settings

log = logging.getLogger(__name__)

#: The page's path on the bot's web app (bot/webapp/routes.py serves it).
PAGE_PATH = "/webapp/"


def gallery_url(settings: Settings) -> str | None:
    """The page's public URL, or None when PUBLIC_BASE_URL is unset or not HTTPS."""
    base = settings.public_base_url
    if base is None or base.scheme != "https":
        return None
    return str(base).rstrip("/") + PAGE_PATH


def gallery_button(settings: Settings, t: Texts) -> InlineKeyboardButton | None:
    """The "open the gallery" button for /library's keyboard, or None when there is no gallery."""
    url = gallery_url(settings)
    if url is None:
        return None
    return InlineKeyboardButton(text=t("webapp-open-button"), web_app=WebAppInfo(url=url))


async def set_menu_button(bot: Bot, settings: Settings, translator: Translator) -> bool:
    """Make the chat menu button (the default for every private chat) open the gallery.

    Best effort: a bot without it still works, so a Telegram refusal or outage is one warning line and
    the start goes on. True when Telegram took it. The button's text is in the default language: the
    default menu button has one text for everybody.
    """
    url = gallery_url(settings)
    if url is None:
        return False
    button = MenuButtonWebApp(
        text=translator(settings.default_language, "webapp-menu-button"), web_app=WebAppInfo(url=url)
    )
    try:
        await bot.set_chat_menu_button(menu_button=button)
    except TelegramAPIError as error:  # its message names the method and Telegram's words, never the token
        log.warning(
            "could not set the menu button to the gallery: %s: %s", type(error).__name__, error.message
        )
        return False
    log.info("menu button opens the gallery at %s", url)
    return True
