"""The Dispatcher with every router and the services injected as workflow data (ARCHITECTURE §2)."""

from __future__ import annotations

from aiogram import Dispatcher

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
from bot.i18n import Translator
from bot.middlewares import SkipRepeatedUpdates, UserContext
from services.generations import GenerationService
from services.library import Library
from services.payments import Payments
from services.poller import Poller
from services.settings import Settings
from services.wallet import Wallet
from storage.interfaces import MediaStore, Store


def build_dispatcher(
    *,
    store: Store,
    media: MediaStore,
    settings: Settings,
    translator: Translator,
    generations: GenerationService,
    poller: Poller,
) -> Dispatcher:
    wallet = Wallet(store, welcome_credits=settings.welcome_credits)
    dispatcher = Dispatcher(
        store=store,
        media=media,
        settings=settings,
        translator=translator,
        wallet=wallet,
        payments=Payments(store, wallet, generations, settings),
        library=Library(store, media, generations),
        generations=generations,
        poller=poller,
    )
    dispatcher.update.outer_middleware(SkipRepeatedUpdates())
    dispatcher.update.outer_middleware(UserContext())
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
