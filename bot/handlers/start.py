"""/start and /balance: greet the user (registered by the UserContext middleware) and show the balance."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from bot.i18n import Translator
from storage.records import User


async def start(message: Message, user: User, lang: str, translator: Translator) -> None:
    assert message.from_user is not None
    await message.answer(
        translator(lang, "start-welcome", name=message.from_user.first_name, balance=user.balance)
    )


async def balance(message: Message, user: User, lang: str, translator: Translator) -> None:
    await message.answer(translator(lang, "balance", balance=user.balance))


def build_router() -> Router:
    """A fresh router per Dispatcher (an aiogram router can be attached to only one parent)."""
    router = Router(name="start")
    router.message.register(start, CommandStart(), F.from_user)
    router.message.register(balance, Command("balance"), F.from_user)
    return router
