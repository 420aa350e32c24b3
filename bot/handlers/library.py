"""/library: the user's generations, newest first, paged by keyset; open, regenerate, extend, remix, delete.

Callback data can be forged, so every press is checked: the cursor only positions a query scoped to the
presser's own rows, and every action gets its generation from the `OwnGeneration` filter, which asks the
library service (services/library.py: a foreign id looks the same as an unknown one); a press it refuses
reaches `not_found`. This module only renders and sends; CallbackAnswerMiddleware answers every press.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram import Bot, F, Router, flags
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import MenuAction, alert
from bot.delivery import VideoSender, fit_caption
from bot.formatting import TEXT_LIMIT, when
from bot.handlers.filters import COMMAND, FROM_USER, CallbackPrefixes, Magic
from bot.handlers.wizard import open_wizard
from bot.i18n import Texts
from bot.webapp.links import gallery_button
from bot.wizard.views import View
from services.catalog import SOURCE_MODES, Mode
from services.generations import GenerationService
from services.library import GENERATION_ID, Library, Page, deletable
from services.settings import Settings
from storage.records import Generation

log = logging.getLogger(__name__)

EXCERPT = 60
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NEWER, _OLDER = "n", "o"

#: Builds the VideoSender for this update's Bot (the dispatcher binds the media store to it once).
VideoSenders = Callable[[Bot], VideoSender]


class LibraryPage(CallbackData, prefix="lb"):
    """A page next to the one shown: `d` is n(ewer)/o(lder), `t`+`id` the edge row's (created_at µs, id)."""

    d: str
    t: int
    id: str


class LibraryAction(CallbackData, prefix="la"):
    """`action` (open, regen, extend, remix, del, delok, keep) on generation `id` (32 hex characters)."""

    action: str
    id: str


class OwnGeneration(Filter):
    """Hands a LibraryAction's handler `generation` if the presser owns it and has not deleted it."""

    async def __call__(
        self, query: CallbackQuery, callback_data: LibraryAction, library: Library
    ) -> bool | dict[str, Any]:
        generation = await library.own(callback_data.id, query.from_user.id)
        return False if generation is None else {"generation": generation}


def cursor_of(generation: Generation) -> tuple[int, str]:
    return (generation.created_at - EPOCH) // timedelta(microseconds=1), generation.id


def excerpt(prompt: str, limit: int = EXCERPT) -> str:
    prompt = " ".join(prompt.split())
    return prompt if len(prompt) <= limit else prompt[: limit - 1].rstrip() + "…"


# ------------------------------------------------------------------ the list


def render_page(
    page: Page, t: Texts, generations: GenerationService, gallery: InlineKeyboardButton | None = None
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The page's text and buttons; `gallery` opens the Mini App (bot/webapp), where there is one."""
    if not page.rows:
        markup = None if gallery is None else InlineKeyboardMarkup(inline_keyboard=[[gallery]])
        return t("library-empty"), markup
    lines = [t("library-title")]
    builder = InlineKeyboardBuilder()
    for number, generation in enumerate(page.rows, start=1):
        lines.append(
            t(
                "library-entry",
                number=number,
                model=generations.model_name(generation.model),
                date=when(generation.created_at),
                status=t("library-status", status=generation.status.value),
                prompt=excerpt(generation.prompt) or "—",
            )
        )
        builder.button(
            text=t("library-button-open", number=number),
            callback_data=LibraryAction(action="open", id=generation.id),
        )
    builder.adjust(len(page.rows))
    nav = []
    if page.newer:
        at, gid = cursor_of(page.rows[0])
        data = LibraryPage(d=_NEWER, t=at, id=gid).pack()
        nav.append(InlineKeyboardButton(text=t("library-button-newer"), callback_data=data))
    if page.older:
        at, gid = cursor_of(page.rows[-1])
        data = LibraryPage(d=_OLDER, t=at, id=gid).pack()
        nav.append(InlineKeyboardButton(text=t("library-button-older"), callback_data=data))
    if nav:
        builder.row(*nav)
    if gallery is not None:
        builder.row(gallery)
    return "\n\n".join(lines), builder.as_markup()


# ------------------------------------------------------------------ one generation


def continuations(generation: Generation, generations: GenerationService) -> list[Mode]:
    """Extend and remix, where a route of the provider that made this video can do them (they go
    nowhere else) and the video exists to continue."""
    offer = generations.offer(generation.model)
    if offer is None or generation.result_path is None or generation.provider_task_id is None:
        return []
    return offer.continuations(generation.route_provider)


def actions_markup(
    generation: Generation, t: Texts, generations: GenerationService
) -> InlineKeyboardMarkup | None:
    builder = InlineKeyboardBuilder()
    offer = generations.offer(generation.model)
    if offer is not None:
        builder.button(
            text=t("library-button-regenerate"),
            callback_data=LibraryAction(action="regen", id=generation.id),
        )
        for mode in continuations(generation, generations):
            builder.button(
                text=t(f"library-button-{mode}"),
                callback_data=LibraryAction(action=mode, id=generation.id),
            )
    if deletable(generation):
        builder.button(
            text=t("library-button-delete"),
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
    sender: VideoSender,
    t: Texts,
    generations: GenerationService,
) -> None:
    """Resend by file_id (no upload), else from the media store, else a card saying what happened."""
    model = generations.model_name(generation.model)
    markup = actions_markup(generation, t, generations)
    if generation.file_id is not None:
        try:
            await bot.send_video(
                generation.chat_id,
                generation.file_id,
                caption=sender.caption(generation, lang=t.lang, model=model),
                reply_markup=markup,
            )
            return
        except TelegramBadRequest as error:
            log.warning("file_id of generation %s refused (%s); trying the stored file", generation.id, error)
    video = await library.stored_video(generation)
    if video is not None:
        file_id = await sender.send(generation, video, lang=t.lang, model=model, reply_markup=markup)
        if file_id is not None:
            await library.remember_file_id(generation, file_id)
        return
    note = t("library-unavailable") + "\n\n" if generation.result_path is not None else ""
    status = t("library-status", status=generation.status.value)
    text = fit_caption(
        generation.prompt,
        lambda prompt: (
            note
            + t("library-card", model=model, date=when(generation.created_at), status=status, prompt=prompt)
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
    message: Message, t: Texts, library: Library, generations: GenerationService, settings: Settings
) -> None:
    assert message.from_user is not None
    page = await library.page(message.from_user.id)
    text, markup = render_page(page, t, generations, gallery_button(settings, t))
    await message.answer(text, reply_markup=markup)


async def library_from_menu(
    query: CallbackQuery,
    bot: Bot,
    t: Texts,
    library: Library,
    generations: GenerationService,
    settings: Settings,
) -> None:
    page = await library.page(query.from_user.id)
    text, markup = render_page(page, t, generations, gallery_button(settings, t))
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
    callback_answer: CallbackAnswer,
    t: Texts,
    library: Library,
    generations: GenerationService,
    settings: Settings,
) -> None:
    cursor = parse_cursor(callback_data)
    if cursor is None:
        alert(callback_answer, t("library-unknown-action"))
        return
    if callback_data.d == _NEWER:
        page = await library.page(query.from_user.id, after=cursor)
    else:
        page = await library.page(query.from_user.id, before=cursor)
    text, markup = render_page(page, t, generations, gallery_button(settings, t))
    await show_page(query, bot, text, markup)


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


@flags.callback_answer(pre=True)  # answered before the upload, which may take a while
async def open_item(
    query: CallbackQuery,
    generation: Generation,
    bot: Bot,
    t: Texts,
    library: Library,
    video_senders: VideoSenders,
    generations: GenerationService,
) -> None:
    await send_item(
        dataclasses.replace(generation, chat_id=chat_of(query)),
        bot=bot,
        library=library,
        sender=video_senders(bot),
        t=t,
        generations=generations,
    )


async def regenerate(
    query: CallbackQuery,
    generation: Generation,
    state: FSMContext,
    callback_answer: CallbackAnswer,
    view: View,
) -> None:
    """The wizard again with the same settings; its summary shows today's price. An extend or remix
    made again continues the same source, so it can go only to the provider this one was made on."""
    source_provider = generation.route_provider if generation.mode in SOURCE_MODES else None
    await start_wizard(query, state, dict(generation.request), callback_answer, view, source_provider)


async def continue_video(
    query: CallbackQuery,
    callback_data: LibraryAction,
    generation: Generation,
    state: FSMContext,
    callback_answer: CallbackAnswer,
    view: View,
) -> None:
    """Extend or remix: only where `continuations` offers it (a forged button gets a polite no)."""
    if callback_data.action not in continuations(generation, view.generations):
        alert(callback_answer, view.t("library-action-unsupported"))
        return
    preset = {"model": generation.model, "mode": callback_data.action, "source_generation_id": generation.id}
    await start_wizard(query, state, preset, callback_answer, view, generation.route_provider)


async def start_wizard(
    query: CallbackQuery,
    state: FSMContext,
    preset: dict[str, Any],
    callback_answer: CallbackAnswer,
    view: View,
    source_provider: str | None = None,
) -> None:
    if view.generations.offer(str(preset.get("model"))) is None:
        alert(callback_answer, view.t("library-model-unavailable"))
        return
    if not isinstance(query.message, Message):
        alert(callback_answer, view.t("library-unknown-action"))
        return
    await open_wizard(query.message, state, view, preset=preset, source_provider=source_provider)


async def ask_delete(
    query: CallbackQuery, generation: Generation, bot: Bot, callback_answer: CallbackAnswer, t: Texts
) -> None:
    if not deletable(generation):
        alert(callback_answer, t("library-delete-refused"))
        return
    builder = InlineKeyboardBuilder()
    builder.button(
        text=t("library-button-delete-yes"),
        callback_data=LibraryAction(action="delok", id=generation.id),
    )
    builder.button(
        text=t("library-button-delete-no"),
        callback_data=LibraryAction(action="keep", id=generation.id),
    )
    await edit_markup(bot, query, builder.as_markup())
    callback_answer.text = t("library-delete-confirm")


async def keep(
    query: CallbackQuery, generation: Generation, bot: Bot, t: Texts, generations: GenerationService
) -> None:
    await edit_markup(bot, query, actions_markup(generation, t, generations))


async def delete(
    query: CallbackQuery,
    generation: Generation,
    bot: Bot,
    callback_answer: CallbackAnswer,
    t: Texts,
    library: Library,
) -> None:
    """Hide the row (kept for the books) and delete the stored video."""
    if await library.hide(generation.id, query.from_user.id) is None:
        alert(callback_answer, t("library-delete-refused"))
        return
    await edit_markup(bot, query, None)
    callback_answer.text = t("library-deleted")


async def not_found(query: CallbackQuery, callback_answer: CallbackAnswer, t: Texts) -> None:
    """An action on a generation OwnGeneration refused: someone else's, unknown, or deleted."""
    alert(callback_answer, t("library-not-found"))


async def unknown_button(query: CallbackQuery, callback_answer: CallbackAnswer, t: Texts) -> None:
    """Forged or outdated library data that no handler above accepted."""
    alert(callback_answer, t("library-unknown-action"))


#: What each LibraryAction does with the presser's own generation.
ACTIONS = {
    "open": open_item,
    "regen": regenerate,
    **dict.fromkeys(SOURCE_MODES, continue_video),
    "del": ask_delete,
    "delok": delete,
    "keep": keep,
}


def build_router() -> Router:
    router = Router(name="library")
    router.message.filter(COMMAND)
    router.callback_query.filter(CallbackPrefixes(MenuAction, LibraryPage, LibraryAction))
    router.message.register(show_library, Command("library"), FROM_USER)
    router.callback_query.register(library_from_menu, MenuAction.filter(F.action == "library"))
    router.callback_query.register(turn_page, LibraryPage.filter())
    own = OwnGeneration()
    for action, handler in ACTIONS.items():
        router.callback_query.register(handler, LibraryAction.filter(F.action == action), own)
    router.callback_query.register(not_found, LibraryAction.filter(F.action.in_(set(ACTIONS))))
    router.callback_query.register(unknown_button, Magic(F.data.startswith(("la:", "lb:"))))
    return router
