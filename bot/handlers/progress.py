"""The cancel button under a progress message."""

from __future__ import annotations

import contextlib

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.callbacks import CancelGeneration, alert
from bot.i18n import Texts
from services.generations import GenerationService
from storage.records import Refunded


async def cancel(
    query: CallbackQuery,
    callback_data: CancelGeneration,
    generations: GenerationService,
    callback_answer: CallbackAnswer,
    t: Texts,
) -> None:
    outcome = await generations.cancel(callback_data.id, user_id=query.from_user.id)
    if isinstance(outcome, Refunded):
        text = t("cancel-done", credits=outcome.entry.delta)
        callback_answer.text = text
        if isinstance(query.message, Message):
            # The message may be gone or already show this; the refund is what matters.
            with contextlib.suppress(TelegramBadRequest):
                await query.message.edit_text(text, reply_markup=None)
        return
    key = "cancel-not-found" if outcome.generation is None else "cancel-too-late"
    alert(callback_answer, t(key))


def build_router() -> Router:
    router = Router(name="progress")
    router.callback_query.register(cancel, CancelGeneration.filter(), F.from_user)
    return router
