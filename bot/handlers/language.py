"""/language: the user picks English, Russian or Chinese; the choice is stored and wins over Telegram's
language from then on (the poller's later messages use it too)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import ChooseLanguage
from bot.handlers.filters import COMMAND, FROM_USER, CallbackPrefixes
from bot.i18n import LANGUAGES, Texts, Translator
from services.users import Users


async def language_menu(message: Message, t: Texts, translator: Translator) -> None:
    """Each language's button in that language, so a user who cannot read the current one finds theirs."""
    builder = InlineKeyboardBuilder()
    for code in LANGUAGES:
        builder.button(text=translator(code, "language-name"), callback_data=ChooseLanguage(code=code))
    builder.adjust(len(LANGUAGES))
    await message.answer(t("language-choose"), reply_markup=builder.as_markup())


async def choose_language(
    query: CallbackQuery,
    callback_data: ChooseLanguage,
    callback_answer: CallbackAnswer,
    users: Users,
    t: Texts,
    translator: Translator,
) -> None:
    if callback_data.code not in LANGUAGES:
        callback_answer.text = t("stale-button")
        return
    await users.set_language(query.from_user.id, callback_data.code)
    if isinstance(query.message, Message):
        await query.message.edit_text(translator(callback_data.code, "language-set"))


def build_router() -> Router:
    router = Router(name="language")
    router.message.filter(COMMAND)
    router.callback_query.filter(CallbackPrefixes(ChooseLanguage))
    router.message.register(language_menu, Command("language"), FROM_USER)
    router.callback_query.register(choose_language, ChooseLanguage.filter())
    return router
