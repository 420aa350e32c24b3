"""The cancel button under a progress message."""

from __future__ import annotations

import contextlib

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message

from bot.callbacks import CancelGeneration
from bot.i18n import Translator
from services.poller import Poller
from storage.records import Refunded


async def cancel(
    query: CallbackQuery,
    callback_data: CancelGeneration,
    poller: Poller,
    lang: str,
    translator: Translator,
) -> None:
    outcome = await poller.cancel(callback_data.id, user_id=query.from_user.id)
    if isinstance(outcome, Refunded):
        text = translator(lang, "cancel-done", credits=outcome.entry.delta)
        await query.answer(text)
        if isinstance(query.message, Message):
            # The message may be gone or already show this; the refund is what matters.
            with contextlib.suppress(TelegramBadRequest):
                await query.message.edit_text(text, reply_markup=None)
        return
    key = "cancel-not-found" if outcome.generation is None else "cancel-too-late"
    await query.answer(translator(lang, key), show_alert=True)


def build_router() -> Router:
    router = Router(name="progress")
    router.callback_query.register(cancel, CancelGeneration.filter(), F.from_user)
    return router
