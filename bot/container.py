"""The composition root: every service built once from the settings and the storage backends.

The app, the test rigs and the benchmarks all build through `build_container`, so the wiring they run is
the wiring that ships; a rig swaps only what it must (the notifier, the adapters' factory, the clock).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from aiogram import Bot
from aiogram.fsm.storage.base import BaseStorage

from bot.delivery import TelegramNotifier, VideoSender
from bot.fsm import open_fsm_storage
from bot.i18n import Translator
from bot.inbox import KeepPayments
from bot.notices import TelegramNotices
from services.admin import AdminReports
from services.catalog import Catalog
from services.delivery import Delivery
from services.generations import Clock, GenerationService, utcnow
from services.inbox import PaymentInbox
from services.library import Library
from services.moderation import Moderation, ModerationRules
from services.notices import Notices
from services.notifications import Notifier
from services.outcomes import Outcomes
from services.payments import Payments
from services.poller import Poller, lease_owner
from services.providers.registry import Providers
from services.retention import MediaRetention
from services.routing import RouteHealth
from services.settings import Settings
from services.submission import Submission
from services.uploads import Uploads
from services.users import Users
from services.wallet import Wallet
from storage.interfaces import MediaStore, Store


@dataclass(frozen=True, slots=True)
class Container:
    settings: Settings
    catalog: Catalog
    store: Store
    media: MediaStore
    translator: Translator
    providers: Providers
    generations: GenerationService
    wallet: Wallet
    payments: Payments
    library: Library
    notifier: Notifier
    delivery: Delivery
    users: Users
    admin: AdminReports
    uploads: Uploads
    retention: MediaRetention
    poller: Poller
    #: The outbox: notices owed after money changes (services/notices.py).
    notices: Notices
    #: Payment updates kept until handled (services/inbox.py).
    inbox: PaymentInbox
    #: Bans, the prompt checks before any charge and their audit trail (services/moderation.py).
    moderation: Moderation
    #: The routes' health in this process: fed by the poller's submissions and outcomes, read by /stats.
    routing: RouteHealth

    def fsm_storage(self) -> BaseStorage:
        """A new FSM storage for one Dispatcher (which closes it on shutdown): Redis or the store."""
        return open_fsm_storage(self.settings, self.store)

    def video_sender(self, bot: Bot) -> VideoSender:
        """What /library resends a stored video with, through the bot that got the press."""
        return VideoSender(bot=bot, media=self.media, translator=self.translator, settings=self.settings)


def build_container(
    *,
    settings: Settings,
    catalog: Catalog,
    store: Store,
    media: MediaStore,
    bot: Bot | None = None,
    notifier: Notifier | None = None,
    providers: Providers | None = None,
    translator: Translator | None = None,
    clock: Clock = utcnow,
    monotonic: Callable[[], float] = time.monotonic,
    owner: str | None = None,
    lane: Store | None = None,
    submit_at_once: bool = True,
) -> Container:
    """Wire the services; the notifier is Telegram's (through `bot`) unless one is given.

    `lane` is the store the poller's side works through (`Store.open_lane`, so it never queues behind
    the handlers), `store` by default. `submit_at_once` hands every paid generation to the poller the
    moment it is placed; a test rig that steps the poller by hand turns it off.
    """
    lane = lane or store
    translator = translator or Translator(settings.default_language)
    providers = providers or Providers(settings)
    users = Users(store)
    sender = None  # the outbox job's; a rig or benchmark that brings its own notifier sends no left-overs
    if notifier is None:
        if bot is None:
            raise ValueError("build_container needs a bot or a notifier")
        telegram = TelegramNotifier(
            bot=bot, users=Users(lane), media=media, catalog=catalog, translator=translator, settings=settings
        )
        notifier = telegram
        sender = TelegramNotices(bot=bot, notifier=telegram, catalog=catalog, translator=translator)
    inbox = PaymentInbox(store, clock=clock)
    if bot is not None:  # payment updates are kept before the polling offset can confirm them
        bot.session.middleware(KeepPayments(inbox))
    moderation = Moderation(store, ModerationRules.load(settings.moderation_file), settings, clock=clock)
    generations = GenerationService(store, catalog, settings, providers, clock=clock, moderation=moderation)
    wallet = Wallet(store, welcome_credits=settings.welcome_credits)
    owner = owner or lease_owner()
    notices = Notices(store, owner=owner, sender=sender, clock=clock)
    # the poller's side: the same services over the lane
    polled = generations.through(lane)
    routing = RouteHealth(
        window=settings.routing_health_window,
        cooldown_failures=settings.routing_cooldown_failures,
        cooldown_seconds=settings.routing_cooldown_seconds,
        clock=clock,
    )
    delivery = Delivery(
        store=lane,
        media=media,
        notifier=notifier,
        notices=Notices(lane, owner=owner, sender=sender, clock=clock),
        generations=polled,
        settings=settings,
        clock=clock,
        monotonic=monotonic,
    )
    poller = Poller(
        store=lane,
        generations=polled,
        submission=Submission(
            store=lane,
            media=media,
            generations=polled,
            providers=providers,
            settings=settings,
            routing=routing,
            clock=clock,
        ),
        outcomes=Outcomes(
            media=media, generations=polled, delivery=delivery, settings=settings, routing=routing
        ),
        settings=settings,
        clock=clock,
        owner=owner,
    )
    if submit_at_once:
        generations.when_placed(poller.submit_now)
    return Container(
        settings=settings,
        catalog=catalog,
        store=store,
        media=media,
        translator=translator,
        providers=providers,
        generations=generations,
        wallet=wallet,
        payments=Payments(store, wallet, generations, settings, notices),
        notices=notices,
        inbox=inbox,
        moderation=moderation,
        routing=routing,
        library=Library(store, media, generations),
        notifier=notifier,
        delivery=delivery,
        users=users,
        admin=AdminReports(store),
        uploads=Uploads(media, settings),
        retention=MediaRetention(store=lane, media=media, settings=settings, clock=clock),
        poller=poller,
    )
