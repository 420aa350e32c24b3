"""The Dispatcher with every router, the services as workflow data, and the per-update middlewares.

Handlers reach storage only through the services of the composition root (bot/container.py,
ARCHITECTURE §2): the store and the media store are not workflow data. The one Telegram-side component
that reads the media store itself is the VideoSender (bot/delivery.py, the "send this video" port), which
/library gets through `video_senders`.

With REDIS_URL the FSM state is in Redis (bot/fsm.py), and so is what lets replicas share the updates:
one user's updates are handled one at a time whichever replica got them (aiogram's RedisEventIsolation,
a lock per user held through the handler, so a press sent right after a reply finds the state that
reply's handler wrote), and each update is handled once (SkipRepeatedUpdates over Redis,
services/dedup.py).
"""

from __future__ import annotations

from aiogram import Dispatcher
from aiogram.fsm.storage.redis import RedisStorage
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
from bot.inbox import FinishPayments, replay_payments
from bot.middlewares import SkipRepeatedUpdates, ThrottleUsers, UserContext
from services.dedup import seen_updates


def build_dispatcher(services: Container) -> Dispatcher:
    storage = services.fsm_storage()  # wizards and Stars orders outlive a restart (bot/fsm.py)
    shared = storage.redis if isinstance(storage, RedisStorage) else None
    dispatcher = Dispatcher(
        storage=storage,
        events_isolation=storage.create_isolation() if isinstance(storage, RedisStorage) else None,
        settings=services.settings,
        translator=services.translator,
        generations=services.generations,
        wallet=services.wallet,
        payments=services.payments,
        notices=services.notices,
        inbox=services.inbox,
        library=services.library,
        users=services.users,
        admin=services.admin,
        moderation=services.moderation,
        uploads=services.uploads,
        video_senders=services.video_sender,
        routing=services.routing,  # /stats shows each route's health (services/routing.py)
    )
    dispatcher.update.outer_middleware(SkipRepeatedUpdates(seen_updates(shared)))
    dispatcher.update.outer_middleware(ThrottleUsers())  # before UserContext's database write
    dispatcher.update.outer_middleware(UserContext())
    dispatcher.update.outer_middleware(FinishPayments())  # kept payment updates (bot/inbox.py)
    dispatcher.startup.register(replay_payments)
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
