"""Composition root: builds the Bot, the services, the poller and its scheduler, and receives updates
by long polling, or by webhook when WEBHOOK_URL is set."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import UTC, datetime

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web

from bot.backends import open_backends, reach_storage
from bot.commands import register_commands
from bot.container import build_container
from bot.dispatcher import build_dispatcher
from bot.inbox import DurableWebhookHandler
from bot.stars import RECONCILE_MINUTES, StarsReconciler
from bot.startup import ExitCode, StartupError, api_url, reach_redis, reach_telegram
from bot.telegram_retry import RetryRequests, quiet_polling_backoff
from bot.web import build_web_app, start_web_app
from bot.webapp.links import set_menu_button
from bot.webapp.wiring import gallery_services
from services.catalog import Catalog
from services.dedup import job_gate
from services.scheduler import build_scheduler
from services.settings import Settings
from storage.errors import os_reason

log = logging.getLogger(__name__)


def build_bot(settings: Settings) -> Bot:
    """A Bot that talks to TELEGRAM_API_URL (the cloud, a local Bot API server, or a test fake)."""
    server = TelegramAPIServer.from_base(str(settings.telegram_api_url).rstrip("/"))
    bot = Bot(settings.bot_token.get_secret_value(), session=AiohttpSession(api=server))
    bot.session.middleware(RetryRequests())
    return bot


async def run(settings: Settings, catalog: Catalog) -> None:
    """Start everything, serve until SIGTERM/SIGINT, stop. A start that cannot work fails early, local
    problems (storage) before Telegram, as StartupError or a typed error that bot.startup describes;
    an unreachable Bot API is retried for TELEGRAM_STARTUP_WAIT_SECONDS first."""
    await reach_storage(settings)
    redis = await reach_redis(settings)  # replicas share it (README, "Scaling out"); None without REDIS_URL
    backends = await open_backends(settings)
    bot = build_bot(settings)
    services = build_container(
        settings=settings,
        catalog=catalog,
        store=backends.store,
        media=backends.media,
        bot=bot,
        lane=backends.lane,
    )
    translator, providers, poller = services.translator, services.providers, services.poller
    dispatcher = build_dispatcher(services)
    gate = job_gate(redis)  # with Redis, one replica per interval runs the jobs that must run once
    scheduler = build_scheduler(poller, services.retention, services.notices, settings, gate=gate)
    reconciler = StarsReconciler(
        bot=bot, dispatcher=dispatcher, payments=services.payments, translator=translator
    )
    # Telegram's record of Stars against ours, at the start and then every RECONCILE_MINUTES
    scheduler.add_job(
        gate.once("stars-reconciliation", RECONCILE_MINUTES * 60, reconciler.run),
        "interval",
        minutes=RECONCILE_MINUTES,
        id="stars-reconciliation",
        next_run_time=datetime.now(UTC),
    )
    web = None
    try:
        me = await reach_telegram(bot, api_url(settings), wait=settings.telegram_startup_wait_seconds)
        log.info("Telegram Bot API at %s: this is @%s", api_url(settings), me.username)
        await register_commands(bot, translator, settings.admin_ids)
        await set_menu_button(bot, settings, translator)  # the gallery, when PUBLIC_BASE_URL is https
        if settings.public_base_url is not None or settings.webhook_url is not None:
            app = build_web_app(
                poller=poller,
                providers=providers,
                settings=settings,
                media=backends.media,
                gallery=gallery_services(services, bot),
                store=backends.store,
                redis=redis,
            )
            if settings.webhook_url is not None:
                await attach_webhook(app, dispatcher, bot, settings)
            web = await listen(app, settings)
            log.info("web app on %s:%d", settings.web_host, settings.web_port)
        scheduler.start()
        poller.start()
        if settings.webhook_url is None:
            await bot.delete_webhook(drop_pending_updates=False)  # polling and a webhook exclude each other
            log.info("starting long polling against %s", settings.telegram_api_url)
            quiet_polling_backoff()
            await dispatcher.start_polling(
                bot, handle_signals=True, tasks_concurrency_limit=settings.handler_concurrency
            )
        else:
            await serve_until_signal(dispatcher, bot, web)
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=False)
        if web is not None and web.server is not None:  # not stopped yet by serve_until_signal
            await web.cleanup()
        await poller.stop()
        await providers.close()
        await bot.session.close()
        await backends.close()
        if redis is not None:
            await redis.aclose()


async def listen(app: web.Application, settings: Settings) -> web.AppRunner:
    """Serve the web app on WEB_HOST:WEB_PORT; a port in use (another instance?) stops the start."""
    try:
        return await start_web_app(app, host=settings.web_host, port=settings.web_port)
    except OSError as error:
        raise StartupError(
            f"Cannot listen on {settings.web_host}:{settings.web_port} (WEB_HOST:WEB_PORT): "
            f"{os_reason(error)}",
            ExitCode.PORT_IN_USE,
        ) from error


async def attach_webhook(
    app: web.Application, dispatcher: Dispatcher, bot: Bot, settings: Settings
) -> DurableWebhookHandler:
    """Receive updates at WEBHOOK_URL's path; Telegram proves each one with WEBHOOK_SECRET in the
    X-Telegram-Bot-Api-Secret-Token header (anything else is answered 401 and never handled). At most
    HANDLER_CONCURRENCY of them are handled at once; the handler is returned for a look at its queue."""
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    secret = settings.webhook_secret.get_secret_value()
    inbox = dispatcher["inbox"]  # payment updates are kept before the answer confirms them (bot/inbox.py)
    handler = DurableWebhookHandler(
        inbox=inbox,
        concurrency=settings.handler_concurrency,
        dispatcher=dispatcher,
        bot=bot,
        secret_token=secret,
    )
    handler.register(app, path=settings.webhook_url.path or "/")
    await bot.set_webhook(
        str(settings.webhook_url),
        secret_token=secret,
        allowed_updates=dispatcher.resolve_used_update_types(),
        drop_pending_updates=False,
    )
    return handler


async def serve_until_signal(dispatcher: Dispatcher, bot: Bot, runner: web.AppRunner | None) -> None:
    """Webhook mode: the web app handles updates; wait here for SIGTERM/SIGINT, then shut down.

    The web app stops first: it takes no more updates (with replicas, Telegram's retries and the proxy
    reach the others) and finishes those it answered (bot/inbox.py) while the FSM storage is still open.
    The webhook stays set, so updates that arrive meanwhile wait at Telegram for the next start.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # what start_polling hands the hooks too (replay_payments needs the dispatcher and the inbox)
    hooks = {"dispatcher": dispatcher, "bots": [bot], **dispatcher.workflow_data, "bot": bot}
    await dispatcher.emit_startup(**hooks)
    log.info("webhook mode: waiting for updates")
    try:
        await stop.wait()
    finally:
        if runner is not None:
            await runner.cleanup()
        await dispatcher.emit_shutdown(**hooks)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
