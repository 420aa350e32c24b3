"""/start and /balance: register the user and show the balance."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from bot.i18n import Translator
from storage.interfaces import Store


async def _register(message: Message, store: Store, translator: Translator) -> tuple[str, int]:
    assert message.from_user is not None
    user = await store.ensure_user(
        message.from_user.id,
        username=message.from_user.username,
        language=translator.pick(message.from_user.language_code),
    )
    return user.language or translator.default, user.balance


async def start(message: Message, store: Store, translator: Translator) -> None:
    assert message.from_user is not None
    language, balance = await _register(message, store, translator)
    await message.answer(
        translator(language, "start-welcome", name=message.from_user.first_name, balance=balance)
    )


async def balance(message: Message, store: Store, translator: Translator) -> None:
    language, balance = await _register(message, store, translator)
    await message.answer(translator(language, "balance", balance=balance))


def build_router() -> Router:
    """A fresh router per Dispatcher (an aiogram router can be attached to only one parent)."""
    router = Router(name="start")
    router.message.register(start, CommandStart(), F.from_user)
    router.message.register(balance, Command("balance"), F.from_user)
    return router
