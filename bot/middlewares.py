"""Outer middlewares: every update from a user registers them and tells handlers their language.

Handlers then take `user: User` and `lang: str` as arguments instead of repeating the lookup. A user who
writes again after blocking the bot is unblocked, so the poller delivers to them again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from aiogram.types import User as TelegramUser

from bot.i18n import Translator
from storage.interfaces import Store


class UserContext(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        sender: TelegramUser | None = data.get("event_from_user")
        if sender is None or sender.is_bot:
            return await handler(event, data)
        store: Store = data["store"]
        translator: Translator = data["translator"]
        user = await store.ensure_user(
            sender.id, username=sender.username, language=translator.pick(sender.language_code)
        )
        if user.blocked:
            await store.set_user_blocked(user.id, False)
        data["user"] = user
        data["lang"] = user.language or translator.default
        return await handler(event, data)
