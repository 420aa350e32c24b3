"""The Dispatcher with every router, the services as workflow data, and the per-update middlewares.

Handlers reach storage only through the services of the composition root (bot/container.py,
ARCHITECTURE §2): the store and the media store are not workflow data. The one Telegram-side component
that reads the media store itself is the VideoSender (bot/delivery.py, the "send this video" port), which
/library gets through `video_senders`.
"""

from __future__ import annotations

from aiogram import Dispatcher
from aiogram.utils.callback_answer import CallbackAnswerMiddleware

from bot.container import Container
from bot.handlers import (
    admin,
    errors,
    fallback,
    language,
    library,
    payments,
    progress,
    refunds,
    start,
    wizard,
)
from bot.middlewares import SkipRepeatedUpdates, UserContext


def build_dispatcher(services: Container) -> Dispatcher:
    dispatcher = Dispatcher(
        settings=services.settings,
        translator=services.translator,
        generations=services.generations,
        wallet=services.wallet,
        payments=services.payments,
        library=services.library,
        users=services.users,
        admin=services.admin,
        uploads=services.uploads,
        video_senders=services.video_sender,
    )
    dispatcher.update.outer_middleware(SkipRepeatedUpdates())
    dispatcher.update.outer_middleware(UserContext())
    # every press is answered exactly once, after its handler (which sets the text, if any)
    dispatcher.callback_query.middleware(CallbackAnswerMiddleware())
    dispatcher.include_routers(
        errors.build_router(),
        fallback.build_cancel_router(),
        admin.build_router(),
        library.build_router(),
        refunds.build_router(),
        start.build_router(),
        language.build_router(),
        payments.build_router(),
        progress.build_router(),
        wizard.build_router(),
        fallback.build_router(),  # last: whatever nobody else handled
    )
    return dispatcher
