"""/library: the user's generations, newest first, paged by keyset; open, regenerate, extend, remix, delete.

Callback data can be forged, so every press is checked: the cursor only positions a query scoped to the
presser's own rows, and every action loads the generation through the library service's ownership check
(services/library.py: a foreign id looks the same as an unknown one). This module only renders and sends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import MenuAction
from bot.delivery import VideoSender, fit_caption
from bot.formatting import TEXT_LIMIT, when
from bot.handlers.wizard import open_wizard
from bot.i18n import Translator
from services.catalog import SOURCE_MODES
from services.generations import GenerationService
from services.library import GENERATION_ID, Library, Page, deletable
from services.settings import Settings
from storage.interfaces import MediaStore
from storage.records import Generation

log = logging.getLogger(__name__)

EXCERPT = 60
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NEWER, _OLDER = "n", "o"


class LibraryPage(CallbackData, prefix="lb"):
    """A page next to the one shown: `d` is n(ewer)/o(lder), `t`+`id` the edge row's (created_at µs, id)."""

    d: str
    t: int
    id: str


class LibraryAction(CallbackData, prefix="la"):
    """`action` (open, regen, extend, remix, del, delok, keep) on generation `id` (32 hex characters)."""

    action: str
    id: str


def cursor_of(generation: Generation) -> tuple[int, str]:
    return (generation.created_at - EPOCH) // timedelta(microseconds=1), generation.id


def excerpt(prompt: str, limit: int = EXCERPT) -> str:
    prompt = " ".join(prompt.split())
    return prompt if len(prompt) <= limit else prompt[: limit - 1].rstrip() + "…"


def model_name(generations: GenerationService, key: str) -> str:
    offer = generations.offer(key)
    return offer.model.name if offer is not None else key


# ------------------------------------------------------------------ the list


def render_page(
    page: Page,
    *,
    lang: str,
    translator: Translator,
    generations: GenerationService,
) -> tuple[str, InlineKeyboardMarkup | None]:
    if not page.rows:
        return translator(lang, "library-empty"), None
    lines = [translator(lang, "library-title")]
    builder = InlineKeyboardBuilder()
    for number, generation in enumerate(page.rows, start=1):
        lines.append(
            translator(
                lang,
                "library-entry",
                number=number,
                model=model_name(generations, generation.model),
                date=when(generation.created_at),
                status=translator(lang, "library-status", status=generation.status.value),
                prompt=excerpt(generation.prompt) or "—",
            )
        )
        builder.button(
            text=translator(lang, "library-button-open", number=number),
            callback_data=LibraryAction(action="open", id=generation.id),
        )
    builder.adjust(len(page.rows))
    nav = []
    if page.newer:
        t, gid = cursor_of(page.rows[0])
        data = LibraryPage(d=_NEWER, t=t, id=gid).pack()
        nav.append(InlineKeyboardButton(text=translator(lang, "library-button-newer"), callback_data=data))
    if page.older:
        t, gid = cursor_of(page.rows[-1])
        data = LibraryPage(d=_OLDER, t=t, id=gid).pack()
        nav.append(InlineKeyboardButton(text=translator(lang, "library-button-older"), callback_data=data))
    if nav:
        builder.row(*nav)
    return "\n\n".join(lines), builder.as_markup()


# ------------------------------------------------------------------ one generation


def actions_markup(
    generation: Generation, *, lang: str, translator: Translator, generations: GenerationService
) -> InlineKeyboardMarkup | None:
    builder = InlineKeyboardBuilder()
    offer = generations.offer(generation.model)
    if offer is not None:
        builder.button(
            text=translator(lang, "library-button-regenerate"),
            callback_data=LibraryAction(action="regen", id=generation.id),
        )
        if generation.result_path is not None:
            for mode in sorted(SOURCE_MODES & set(offer.model.modes)):
                builder.button(
                    text=translator(lang, f"library-button-{mode}"),
                    callback_data=LibraryAction(action=mode, id=generation.id),
                )
    if deletable(generation):
        builder.button(
            text=translator(lang, "library-button-delete"),
            callback_data=LibraryAction(action="del", id=generation.id),
        )
    builder.adjust(2)
    markup = builder.as_markup()
    return markup if markup.inline_keyboard else None


async def send_item(
    generation: Generation,
    *,
    bot: Bot,
    library: Library,
    media: MediaStore,
    settings: Settings,
    lang: str,
    translator: Translator,
    generations: GenerationService,
) -> None:
    """Resend by file_id (no upload), else from the media store, else a card saying what happened."""
    model = model_name(generations, generation.model)
    markup = actions_markup(generation, lang=lang, translator=translator, generations=generations)
    sender = VideoSender(bot=bot, media=media, translator=translator, settings=settings)
    if generation.file_id is not None:
        try:
            await bot.send_video(
                generation.chat_id,
                generation.file_id,
                caption=sender.caption(generation, lang=lang, model=model),
                reply_markup=markup,
            )
            return
        except TelegramBadRequest as error:
            log.warning("file_id of generation %s refused (%s); trying the stored file", generation.id, error)
    video = await library.stored_video(generation)
    if video is not None:
        file_id = await sender.send(generation, video, lang=lang, model=model, reply_markup=markup)
        if file_id is not None:
            await library.remember_file_id(generation, file_id)
        return
    note = translator(lang, "library-unavailable") + "\n\n" if generation.result_path is not None else ""
    status = translator(lang, "library-status", status=generation.status.value)
    text = fit_caption(
        generation.prompt,
        lambda prompt: (
            note
            + translator(
                lang,
                "library-card",
                model=model,
                date=when(generation.created_at),
                status=status,
                prompt=prompt,
            )
        ),
        TEXT_LIMIT,
    )
    await bot.send_message(generation.chat_id, text, reply_markup=markup)


# ------------------------------------------------------------------ handlers


def chat_of(query: CallbackQuery) -> int:
    return query.message.chat.id if query.message is not None else query.from_user.id


async def edit_markup(bot: Bot, query: CallbackQuery, markup: InlineKeyboardMarkup | None) -> None:
    """Best effort: the message may be gone or already show this keyboard."""
    if query.message is None:
        return
    with contextlib.suppress(TelegramBadRequest):
        await bot.edit_message_reply_markup(
            chat_id=query.message.chat.id, message_id=query.message.message_id, reply_markup=markup
        )


async def show_library(
    message: Message, lang: str, translator: Translator, library: Library, generations: GenerationService
) -> None:
    assert message.from_user is not None
    page = await library.page(message.from_user.id)
    text, markup = render_page(page, lang=lang, translator=translator, generations=generations)
    await message.answer(text, reply_markup=markup)


async def library_from_menu(
    query: CallbackQuery,
    bot: Bot,
    lang: str,
    translator: Translator,
    library: Library,
    generations: GenerationService,
) -> None:
    await query.answer()
    page = await library.page(query.from_user.id)
    text, markup = render_page(page, lang=lang, translator=translator, generations=generations)
    await bot.send_message(chat_of(query), text, reply_markup=markup)


def parse_cursor(data: LibraryPage) -> tuple[datetime, str] | None:
    if data.d not in (_NEWER, _OLDER) or not GENERATION_ID.fullmatch(data.id) or data.t < 0:
        return None
    try:
        return EPOCH + timedelta(microseconds=data.t), data.id
    except OverflowError:
        return None


async def turn_page(
    query: CallbackQuery,
    callback_data: LibraryPage,
    bot: Bot,
    lang: str,
    translator: Translator,
    library: Library,
    generations: GenerationService,
) -> None:
    cursor = parse_cursor(callback_data)
    if cursor is None:
        await query.answer(translator(lang, "library-unknown-action"), show_alert=True)
        return
    if callback_data.d == _NEWER:
        page = await library.page(query.from_user.id, after=cursor)
    else:
        page = await library.page(query.from_user.id, before=cursor)
    text, markup = render_page(page, lang=lang, translator=translator, generations=generations)
    await show_page(query, bot, text, markup)
    await query.answer()


async def show_page(query: CallbackQuery, bot: Bot, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Edit the library message in place; send a new one if it cannot be edited any more."""
    if isinstance(query.message, Message):
        try:
            await query.message.edit_text(text, reply_markup=markup)
            return
        except TelegramBadRequest as error:
            if "message is not modified" in error.message:
                return
    await bot.send_message(chat_of(query), text, reply_markup=markup)


async def owned(
    query: CallbackQuery, data: LibraryAction, lang: str, translator: Translator, library: Library
) -> Generation | None:
    """The pressed generation if the presser owns it and has not deleted it; else answer "not found"."""
    generation = await library.own(data.id, query.from_user.id)
    if generation is None:
        await query.answer(translator(lang, "library-not-found"), show_alert=True)
        return None
    return generation


async def open_item(
    query: CallbackQuery,
    callback_data: LibraryAction,
    bot: Bot,
    lang: str,
    translator: Translator,
    library: Library,
    media: MediaStore,
    settings: Settings,
    generations: GenerationService,
) -> None:
    generation = await owned(query, callback_data, lang, translator, library)
    if generation is None:
        return
    await query.answer()
    await send_item(
        dataclasses.replace(generation, chat_id=chat_of(query)),
        bot=bot,
        library=library,
        media=media,
        settings=settings,
        lang=lang,
        translator=translator,
        generations=generations,
    )


async def regenerate(
    query: CallbackQuery,
    callback_data: LibraryAction,
    state: FSMContext,
    lang: str,
    translator: Translator,
    settings: Settings,
    library: Library,
    generations: GenerationService,
) -> None:
    """The wizard again with the same settings; its summary shows today's price."""
    generation = await owned(query, callback_data, lang, translator, library)
    if generation is None:
        return
    await start_wizard(query, state, dict(generation.request), lang, translator, settings, generations)


async def continue_video(
    query: CallbackQuery,
    callback_data: LibraryAction,
    state: FSMContext,
    lang: str,
    translator: Translator,
    settings: Settings,
    library: Library,
    generations: GenerationService,
) -> None:
    """Extend or remix: offered only when the model can and the generation has a video."""
    generation = await owned(query, callback_data, lang, translator, library)
    if generation is None:
        return
    offer = generations.offer(generation.model)
    if offer is None or callback_data.action not in offer.model.modes or generation.result_path is None:
        await query.answer(translator(lang, "library-action-unsupported"), show_alert=True)
        return
    preset = {"model": generation.model, "mode": callback_data.action, "source_generation_id": generation.id}
    await start_wizard(query, state, preset, lang, translator, settings, generations)


async def start_wizard(
    query: CallbackQuery,
    state: FSMContext,
    preset: dict[str, Any],
    lang: str,
    translator: Translator,
    settings: Settings,
    generations: GenerationService,
) -> None:
    if generations.offer(str(preset.get("model"))) is None:
        await query.answer(translator(lang, "library-model-unavailable"), show_alert=True)
        return
    if not isinstance(query.message, Message):
        await query.answer(translator(lang, "library-unknown-action"), show_alert=True)
        return
    await query.answer()
    await open_wizard(
        query.message,
        state,
        lang=lang,
        translator=translator,
        generations=generations,
        settings=settings,
        preset=preset,
    )


async def ask_delete(
    query: CallbackQuery,
    callback_data: LibraryAction,
    bot: Bot,
    lang: str,
    translator: Translator,
    library: Library,
) -> None:
    generation = await owned(query, callback_data, lang, translator, library)
    if generation is None:
        return
    if not deletable(generation):
        await query.answer(translator(lang, "library-delete-refused"), show_alert=True)
        return
    builder = InlineKeyboardBuilder()
    builder.button(
        text=translator(lang, "library-button-delete-yes"),
        callback_data=LibraryAction(action="delok", id=generation.id),
    )
    builder.button(
        text=translator(lang, "library-button-delete-no"),
        callback_data=LibraryAction(action="keep", id=generation.id),
    )
    await edit_markup(bot, query, builder.as_markup())
    await query.answer(translator(lang, "library-delete-confirm"))


async def keep(
    query: CallbackQuery,
    callback_data: LibraryAction,
    bot: Bot,
    lang: str,
    translator: Translator,
    library: Library,
    generations: GenerationService,
) -> None:
    generation = await owned(query, callback_data, lang, translator, library)
    if generation is None:
        return
    await edit_markup(
        bot, query, actions_markup(generation, lang=lang, translator=translator, generations=generations)
    )
    await query.answer()


async def delete(
    query: CallbackQuery,
    callback_data: LibraryAction,
    bot: Bot,
    lang: str,
    translator: Translator,
    library: Library,
) -> None:
    """Hide the row (kept for the books) and delete the stored video."""
    generation = await owned(query, callback_data, lang, translator, library)
    if generation is None:
        return
    if await library.hide(generation.id, query.from_user.id) is None:
        await query.answer(translator(lang, "library-delete-refused"), show_alert=True)
        return
    await edit_markup(bot, query, None)
    await query.answer(translator(lang, "library-deleted"))


async def unknown_button(query: CallbackQuery, lang: str, translator: Translator) -> None:
    """Forged or outdated library data that no handler above accepted."""
    await query.answer(translator(lang, "library-unknown-action"), show_alert=True)


def build_router() -> Router:
    router = Router(name="library")
    router.message.register(show_library, Command("library"), F.from_user)
    router.callback_query.register(library_from_menu, MenuAction.filter(F.action == "library"))
    router.callback_query.register(turn_page, LibraryPage.filter())
    router.callback_query.register(open_item, LibraryAction.filter(F.action == "open"))
    router.callback_query.register(regenerate, LibraryAction.filter(F.action == "regen"))
    router.callback_query.register(continue_video, LibraryAction.filter(F.action.in_(SOURCE_MODES)))
    router.callback_query.register(ask_delete, LibraryAction.filter(F.action == "del"))
    router.callback_query.register(delete, LibraryAction.filter(F.action == "delok"))
    router.callback_query.register(keep, LibraryAction.filter(F.action == "keep"))
    router.callback_query.register(unknown_button, F.data.startswith(("la:", "lb:")))
    return router
