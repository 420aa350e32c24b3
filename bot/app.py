"""Composition root: builds the Bot, the Dispatcher with services injected, and runs long polling."""

from __future__ import annotations

import logging

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.backends import open_backends
from bot.handlers import start
from bot.i18n import Translator
from services.catalog import Catalog
from services.generations import GenerationService
from services.settings import Settings
from services.wallet import Wallet

log = logging.getLogger(__name__)


def build_bot(settings: Settings) -> Bot:
    """A Bot that talks to TELEGRAM_API_URL (the cloud, a local Bot API server, or a test fake)."""
    server = TelegramAPIServer.from_base(str(settings.telegram_api_url).rstrip("/"))
    return Bot(settings.bot_token.get_secret_value(), session=AiohttpSession(api=server))


async def run(settings: Settings, catalog: Catalog) -> None:
    backends = await open_backends(settings)
    bot = build_bot(settings)
    dispatcher = Dispatcher(
        store=backends.store,
        media=backends.media,
        settings=settings,
        translator=Translator(settings.default_language),
        wallet=Wallet(backends.store),
        generations=GenerationService(backends.store, catalog, settings),
    )
    dispatcher.include_router(start.router)
    try:
        log.info("starting long polling against %s", settings.telegram_api_url)
        await dispatcher.start_polling(bot, handle_signals=True)
    finally:
        await bot.session.close()
        await backends.close()
