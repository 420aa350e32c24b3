"""The last router: what nobody else handled. /cancel leaves any step in progress; an unknown command
(including an admin command from someone who is not an admin) gets the same plain answer; a stray
message gets a hint; a button nobody recognises (stale or forged) gets a polite answer, never silence."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.handlers.filters import COMMAND, FROM_USER, NOT_PAYMENT, Magic
from bot.i18n import Texts


async def cancel(message: Message, state: FSMContext, t: Texts) -> None:
    if await state.get_state() is None:
        await message.answer(t("cancel-nothing"))
        return
    await state.clear()
    await message.answer(t("cancel-wizard"))


async def unknown_command(message: Message, t: Texts) -> None:
    await message.answer(t("unknown-command"))


async def stray_message(message: Message, t: Texts) -> None:
    await message.answer(t("stray-message"))


async def unknown_button(query: CallbackQuery, callback_answer: CallbackAnswer, t: Texts) -> None:
    callback_answer.text = t("stale-button")


def build_router() -> Router:
    router = Router(name="fallback")
    router.message.register(unknown_command, Magic(F.text.startswith("/")), FROM_USER)
    router.message.register(stray_message, FROM_USER, NOT_PAYMENT)
    router.callback_query.register(unknown_button)
    return router


def build_cancel_router() -> Router:
    """/cancel goes before every other router, so it works in the middle of any step."""
    router = Router(name="cancel")
    router.message.filter(COMMAND)
    router.message.register(cancel, Command("cancel"), FROM_USER)
    return router
