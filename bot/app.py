"""Composition root: builds the Bot, the services, the poller and its scheduler, and runs long polling."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.backends import open_backends
from bot.delivery import TelegramNotifier
from bot.dispatcher import build_dispatcher
from bot.i18n import Translator
from bot.telegram_retry import RetryRequests
from bot.web import build_web_app, start_web_app
from services.catalog import Catalog
from services.generations import GenerationService
from services.poller import Poller
from services.providers.registry import Providers
from services.scheduler import build_scheduler
from services.settings import Settings

log = logging.getLogger(__name__)


def build_bot(settings: Settings) -> Bot:
    """A Bot that talks to TELEGRAM_API_URL (the cloud, a local Bot API server, or a test fake)."""
    server = TelegramAPIServer.from_base(str(settings.telegram_api_url).rstrip("/"))
    bot = Bot(settings.bot_token.get_secret_value(), session=AiohttpSession(api=server))
    bot.session.middleware(RetryRequests())
    return bot


async def run(settings: Settings, catalog: Catalog) -> None:
    backends = await open_backends(settings)
    bot = build_bot(settings)
    translator = Translator(settings.default_language)
    providers = Providers(settings)
    generations = GenerationService(backends.store, catalog, settings)
    notifier = TelegramNotifier(
        bot=bot,
        store=backends.store,
        media=backends.media,
        catalog=catalog,
        translator=translator,
        settings=settings,
    )
    poller = Poller(
        store=backends.store,
        media=backends.media,
        catalog=catalog,
        generations=generations,
        providers=providers,
        notifier=notifier,
        settings=settings,
    )
    dispatcher = build_dispatcher(
        store=backends.store,
        media=backends.media,
        settings=settings,
        translator=translator,
        generations=generations,
        poller=poller,
    )
    scheduler = build_scheduler(poller, settings)
    web = None
    try:
        if settings.public_base_url is not None:
            app = build_web_app(poller=poller, providers=providers, settings=settings, media=backends.media)
            web = await start_web_app(app, host=settings.web_host, port=settings.web_port)
            log.info("web app (callbacks, media links) on %s:%d", settings.web_host, settings.web_port)
        scheduler.start()
        log.info("starting long polling against %s", settings.telegram_api_url)
        await dispatcher.start_polling(bot, handle_signals=True)
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=False)
        if web is not None:
            await web.cleanup()
        await poller.stop()
        await providers.close()
        await bot.session.close()
        await backends.close()
