"""Outer middlewares: every update from a user registers them and sets up the request's context.

Handlers then take what they need by name instead of building it: `user` (the registered User), `t` (the
translator bound to the user's language, bot/i18n.py Texts) and `view` (the wizard's screen context,
bot/wizard/views.py). A new user gets the trial credits (services/wallet.py); a user who writes again
after blocking the bot is unblocked, so the poller delivers to them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import TelegramAPIError
from aiogram.types import TelegramObject, Update
from aiogram.types import User as TelegramUser

from bot.i18n import Translator
from bot.inbox import REPLAYING
from bot.wizard.views import View
from services.dedup import LocalSeenUpdates, SeenUpdates
from services.generations import GenerationService
from services.settings import Settings
from services.wallet import Wallet

log = logging.getLogger(__name__)


class UserContext(BaseMiddleware):
    """Once per update, so no handler repeats the lookup or builds its own translator or view."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        sender: TelegramUser | None = data.get("event_from_user")
        if sender is None or sender.is_bot:
            return await handler(event, data)
        wallet: Wallet = data["wallet"]
        translator: Translator = data["translator"]
        user = await wallet.register(
            sender.id, username=sender.username, language=translator.pick(sender.language_code)
        )
        lang = user.language or translator.default
        generations: GenerationService = data["generations"]
        settings: Settings = data["settings"]
        data["user"] = user
        data["t"] = translator.bind(lang)
        data["view"] = View(lang, translator, generations, settings)
        return await handler(event, data)


class ThrottleUsers(BaseMiddleware):
    """Drop what one user sends beyond `burst` updates at once and `rate` a second after that, before
    anything is written for it (UserContext registers the user next), so one user's flood neither fills
    the database queue nor the bot's replies ahead of everyone else.

    Payments are never dropped (a pre-checkout query must be answered, a successful or refunded payment
    booked); a dropped button press is still answered, silently, so the user's spinner stops. A flood is
    logged once, when the dropping starts, until the user's bucket has filled up again. Memory stays
    bounded: past `REMEMBER` users, the buckets that have filled up again are forgotten.
    """

    REMEMBER = 10_000
    #: Updates one user may send at once by default (the benchmarks stay under it).
    BURST = 20

    def __init__(
        self, *, burst: int = BURST, rate: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._burst = burst
        self._rate = rate
        self._clock = clock
        #: user id → (tokens left, when counted, whether their dropping was logged)
        self._buckets: dict[int, tuple[float, float, bool]] = {}

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        sender: TelegramUser | None = data.get("event_from_user")
        if sender is None or sender.is_bot or not isinstance(event, Update) or _carries_money(event):
            return await handler(event, data)
        if self._take(sender.id):
            return await handler(event, data)
        if event.callback_query is not None:
            with contextlib.suppress(TelegramAPIError):
                await event.callback_query.answer()
        return None

    def _take(self, user_id: int) -> bool:
        """One token from the user's bucket; False when it is empty (the update is dropped)."""
        now = self._clock()
        if len(self._buckets) > self.REMEMBER:
            self._forget_full(now)
        tokens, since, logged = self._buckets.get(user_id, (float(self._burst), now, False))
        tokens = min(float(self._burst), tokens + (now - since) * self._rate)
        logged = logged and tokens < self._burst  # calm again: a new flood is logged anew
        if tokens >= 1:
            self._buckets[user_id] = (tokens - 1, now, logged)
            return True
        if not logged:
            log.warning(
                "user %s sends faster than %g updates a second: dropping the excess", user_id, self._rate
            )
        self._buckets[user_id] = (tokens, now, True)
        return False

    def _forget_full(self, now: float) -> None:
        for user_id, (tokens, since, _) in list(self._buckets.items()):
            if tokens + (now - since) * self._rate >= self._burst:
                del self._buckets[user_id]


def _carries_money(update: Update) -> bool:
    message = update.message
    return update.pre_checkout_query is not None or (
        message is not None
        and (message.successful_payment is not None or message.refunded_payment is not None)
    )


class SkipRepeatedUpdates(BaseMiddleware):
    """Handle each update once, however often it arrives and whichever replica it reaches.

    Telegram re-sends a webhook update when the answer is slow or lost (to any replica behind the URL),
    and a restarted poller can see the last batch again. Money handlers are idempotent anyway (charge ids,
    request keys); this keeps the chat from getting the same reply twice. `seen` remembers the ids
    (services/dedup.py): in the process by default, in Redis for replicas. An update is claimed before
    its handlers run and confirmed after they returned; if they raise or are cancelled the claim is
    released, so a redelivery is handled instead of lost. Two kinds pass without asking: the bot's own
    updates (the Stars reconciliation numbers them from -1 in each process, so they mean nothing to
    another) and a kept payment replayed from the inbox (bot/inbox.py), whose row, not the seen-set,
    says it was never handled.
    """

    def __init__(self, seen: SeenUpdates | None = None) -> None:
        self._seen = seen or LocalSeenUpdates()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        update_id = getattr(event, "update_id", None)
        if update_id is None or update_id <= 0:
            return await handler(event, data)
        key = f"{data['bot'].id}:{update_id}"
        if data.get(REPLAYING):
            result = await handler(event, data)
            await self._seen.confirm(key)
            return result
        token = await self._seen.claim(key)
        if token is None:
            log.info("update %s seen before; skipped", update_id)
            return UNHANDLED
        try:
            result = await handler(event, data)
        except BaseException:
            await asyncio.shield(self._seen.release(key, token))
            raise
        await self._seen.confirm(key)
        return result
