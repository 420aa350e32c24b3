"""Outer middlewares: every update from a user registers them and sets up the request's context.

Handlers then take what they need by name instead of building it: `user` (the registered User), `t` (the
translator bound to the user's language, bot/i18n.py Texts) and `view` (the wizard's screen context,
bot/wizard/views.py). A new user gets the trial credits (services/wallet.py); a user who writes again
after blocking the bot is unblocked, so the poller delivers to them again.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from aiogram.types import User as TelegramUser

from bot.i18n import Translator
from bot.wizard.views import View
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


class SkipRepeatedUpdates(BaseMiddleware):
    """Drop an update whose `update_id` was handled moments ago.

    Telegram re-sends a webhook update when the answer is slow or lost, and a restarted poller can see
    the last batch again. Money handlers are idempotent anyway (charge ids, request keys); this keeps
    the chat from getting the same reply twice. Memory is bounded: only the latest ids are kept.
    """

    def __init__(self, remember: int = 10_000) -> None:
        self._order: deque[int] = deque(maxlen=remember)
        self._seen: set[int] = set()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        update_id = getattr(event, "update_id", None)
        if update_id is None:
            return await handler(event, data)
        if update_id in self._seen:
            log.info("update %s seen before; skipped", update_id)
            return None
        if len(self._order) == self._order.maxlen:
            self._seen.discard(self._order[0])
        self._order.append(update_id)
        self._seen.add(update_id)
        return await handler(event, data)
