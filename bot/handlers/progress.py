"""The cancel button under a progress message."""

from __future__ import annotations

from functools import partial

from aiogram import Bot, Router
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot.callbacks import CancelGeneration, alert
from bot.handlers.filters import FROM_USER, CallbackPrefixes
from bot.i18n import Texts
from bot.notices import replace_or_send
from services.generations import GenerationService
from services.notices import Notices
from storage.records import NoticeKind, Refunded, notice_key


async def cancel(
    query: CallbackQuery,
    callback_data: CancelGeneration,
    bot: Bot,
    generations: GenerationService,
    notices: Notices,
    callback_answer: CallbackAnswer,
    t: Texts,
) -> None:
    outcome = await generations.cancel(callback_data.id, user_id=query.from_user.id)
    if isinstance(outcome, Refunded):
        text = t("cancel-done", credits=outcome.entry.delta)
        callback_answer.text = text
        generation = outcome.generation
        shown = query.message.message_id if isinstance(query.message, Message) else None
        # the refund's notice, in place of the progress message (told once, also after a kill)
        tell = partial(replace_or_send, bot, generation.chat_id, shown or generation.status_message_id, text)
        await notices.send_now(notice_key(NoticeKind.REFUND, generation.id), tell)
        return
    key = "cancel-not-found" if outcome.generation is None else "cancel-too-late"
    alert(callback_answer, t(key))


def build_router() -> Router:
    router = Router(name="progress")
    router.callback_query.filter(CallbackPrefixes(CancelGeneration))
    router.callback_query.register(cancel, CancelGeneration.filter(), FROM_USER)
    return router
