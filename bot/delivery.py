"""Telegram side of the poller's Notifier port: progress messages, video delivery, failure notices.

Videos stream from the media store straight into the multipart upload (never whole in memory). Over the
Bot API upload limit the user gets an expiring link to the stored file instead. Telegram's answers are
mapped to the port's two outcomes: the recipient is gone (blocked, chat deleted) or try again later.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardMarkup, InputFile
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import CancelGeneration
from bot.i18n import Translator
from bot.telegram_retry import maybe_done
from services.catalog import Catalog
from services.notifications import DeliveryDeferred, Notifier, RecipientUnavailable, StoredVideo
from services.settings import Settings
from services.users import Users
from storage.errors import StorageError
from storage.interfaces import MediaStore
from storage.records import Generation

if TYPE_CHECKING:
    from aiogram.types import Message

log = logging.getLogger(__name__)

CAPTION_LIMIT = 1024
BAR_WIDTH = 10
#: A large upload may take minutes; aiogram's default request timeout is 60 s.
UPLOAD_TIMEOUT_SECONDS = 900
_GONE = ("chat not found", "user is deactivated", "bot was kicked")


class MediaInputFile(InputFile):
    """An upload read from the media store in chunks; every (re)try opens a fresh stream."""

    def __init__(self, open_stream: Callable[[], AsyncIterator[bytes]], filename: str) -> None:
        super().__init__(filename=filename)
        self._open = open_stream

    async def read(self, bot: Bot) -> AsyncGenerator[bytes, None]:
        async for chunk in self._open():
            yield chunk


def progress_bar(progress: int, width: int = BAR_WIDTH) -> str:
    filled = max(0, min(width, round(progress * width / 100)))
    return "▓" * filled + "░" * (width - filled)


def format_elapsed(elapsed: timedelta) -> str:
    seconds = max(0, int(elapsed.total_seconds()))
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}:{seconds:02d}"


def fit_caption(prompt: str, render: Callable[[str], str], limit: int = CAPTION_LIMIT) -> str:
    """The caption with as much of the prompt as fits in Telegram's 1024 characters.

    The prompt is cut before rendering too: Fluent replaces a placeable over 2,500 characters with
    "{???}", which would otherwise pass for a short caption.
    """
    if len(prompt) > limit:
        prompt = prompt[:limit]
    text = render(prompt)
    if len(text) <= limit:
        return text
    overflow = len(text) - limit
    return render(prompt[: max(0, len(prompt) - overflow - 1)].rstrip() + "…")


@asynccontextmanager
async def telegram_errors(what: str) -> AsyncIterator[None]:
    """Map aiogram's exceptions to the Notifier port's outcomes."""
    try:
        yield
    except TelegramForbiddenError as error:
        raise RecipientUnavailable(error.message) from None
    except TelegramBadRequest as error:
        if any(reason in error.message.lower() for reason in _GONE):
            raise RecipientUnavailable(error.message) from None
        raise
    except TelegramRetryAfter as error:
        raise DeliveryDeferred(f"{what}: flood control", retry_after=error.retry_after) from None
    except (TelegramServerError, TelegramNetworkError) as error:
        raise DeliveryDeferred(f"{what}: {type(error).__name__}", uncertain=maybe_done(error)) from None


class VideoSender:
    """Sends a stored video to its chat: uploaded when Telegram takes it, else an expiring link.

    Shared by the poller's delivery and /library, which resends a video whose file_id is unknown.
    """

    def __init__(self, *, bot: Bot, media: MediaStore, translator: Translator, settings: Settings) -> None:
        self._bot = bot
        self._media = media
        self._t = translator
        self._settings = settings

    def caption(self, generation: Generation, *, lang: str, model: str) -> str:
        return fit_caption(
            generation.prompt, lambda prompt: self._t(lang, "video-caption", model=model, prompt=prompt)
        )

    async def send(
        self,
        generation: Generation,
        video: StoredVideo,
        *,
        lang: str,
        model: str,
        reply_markup: InlineKeyboardMarkup | None = None,
    ) -> str | None:
        """The uploaded video's file_id, or None when a link was sent instead."""
        if video.size <= self._settings.upload_limit_bytes:
            try:
                return await self._upload(generation, video, lang, model, reply_markup)
            except TelegramEntityTooLarge:
                log.warning(
                    "generation %s: Telegram refused %d bytes as too large; sending a link",
                    generation.id,
                    video.size,
                )
        await self._send_link(generation, video, lang, reply_markup)
        return None

    async def _upload(
        self,
        generation: Generation,
        video: StoredVideo,
        lang: str,
        model: str,
        reply_markup: InlineKeyboardMarkup | None,
    ) -> str | None:
        message: Message = await self._bot.send_video(
            generation.chat_id,
            MediaInputFile(lambda: self._media.read(video.path), filename=f"{generation.id}.mp4"),
            duration=round(video.duration) if video.duration else None,
            width=video.width,
            height=video.height,
            caption=self.caption(generation, lang=lang, model=model),
            supports_streaming=True,
            reply_markup=reply_markup,
            request_timeout=UPLOAD_TIMEOUT_SECONDS,
        )
        return message.video.file_id if message.video is not None else None

    async def _send_link(
        self,
        generation: Generation,
        video: StoredVideo,
        lang: str,
        reply_markup: InlineKeyboardMarkup | None,
    ) -> None:
        size_mb = f"{video.size / (1024 * 1024):.0f}"
        ttl = self._settings.media_link_ttl_seconds
        try:
            url = await self._media.link(video.path, expires_in=ttl)
        except StorageError as error:
            log.warning("cannot link generation %s: %s", generation.id, error)
            text = self._t(lang, "video-no-link", size_mb=size_mb, id=generation.id)
        else:
            text = self._t(lang, "video-link", size_mb=size_mb, hours=max(1, ttl // 3600), url=url)
        await self._bot.send_message(generation.chat_id, text, reply_markup=reply_markup)


class TelegramNotifier(Notifier):
    def __init__(
        self,
        *,
        bot: Bot,
        users: Users,
        media: MediaStore,
        catalog: Catalog,
        translator: Translator,
        settings: Settings,
    ) -> None:
        self._bot = bot
        self._users = users
        self._catalog = catalog
        self._t = translator
        self._settings = settings
        self._sender = VideoSender(bot=bot, media=media, translator=translator, settings=settings)

    async def _language(self, user_id: int) -> str:
        return await self._users.language(user_id) or self._t.default

    async def show_progress(
        self, generation: Generation, *, progress: int | None, elapsed: timedelta, can_cancel: bool
    ) -> int | None:
        lang = await self._language(generation.user_id)
        model = self._catalog.name_of(generation.model)
        if progress is None:
            text = self._t(lang, "progress-waiting", model=model, elapsed=format_elapsed(elapsed))
        else:
            text = self._t(
                lang, "progress-running", model=model, bar=progress_bar(progress), progress=progress
            )
        markup = self._cancel_markup(lang, generation.id) if can_cancel else None
        async with telegram_errors("progress"):
            if generation.status_message_id is not None:
                try:
                    await self._bot.edit_message_text(
                        text=text,
                        chat_id=generation.chat_id,
                        message_id=generation.status_message_id,
                        reply_markup=markup,
                    )
                    return generation.status_message_id
                except TelegramBadRequest as error:
                    if "message is not modified" in error.message:
                        return generation.status_message_id
                    if "message to edit not found" not in error.message:
                        raise
            sent = await self._bot.send_message(generation.chat_id, text, reply_markup=markup)
            return sent.message_id

    def _cancel_markup(self, lang: str, generation_id: str) -> InlineKeyboardMarkup:
        builder = InlineKeyboardBuilder()
        builder.button(text=self._t(lang, "button-cancel"), callback_data=CancelGeneration(id=generation_id))
        return builder.as_markup()

    async def deliver(self, generation: Generation, video: StoredVideo) -> str | None:
        lang = await self._language(generation.user_id)
        async with telegram_errors("delivery"):
            file_id = await self._sender.send(
                generation, video, lang=lang, model=self._catalog.name_of(generation.model)
            )
        await self._clear_status(generation)
        return file_id

    async def _clear_status(self, generation: Generation) -> None:
        """Remove the progress message once the result is in the chat (best effort). One that is gone
        already (the user deleted it, or a delete whose answer was lost and then repeated) is done."""
        if generation.status_message_id is None:
            return
        try:
            await self._bot.delete_message(generation.chat_id, generation.status_message_id)
        except TelegramBadRequest as error:
            if "message to delete not found" not in error.message:
                log.info("could not delete status message of %s: %s", generation.id, error)
        except TelegramAPIError as error:
            log.info("could not delete status message of %s: %s", generation.id, error)

    async def report_rerouted(self, generation: Generation) -> None:
        lang = await self._language(generation.user_id)
        async with telegram_errors("reroute notice"):
            await self._bot.send_message(generation.chat_id, self._t(lang, "generation-rerouted"))

    async def report_failure(self, generation: Generation, *, refunded: int) -> None:
        lang = await self._language(generation.user_id)
        key = f"failure-{generation.error_code}"
        reason = self._t(lang, key if self._t.has(lang, key) else "failure-provider_failed")
        text = f"{reason}\n{self._t(lang, 'failure-refund', credits=refunded)}"
        async with telegram_errors("failure notice"):
            if generation.status_message_id is not None:
                try:
                    await self._bot.edit_message_text(
                        text=text, chat_id=generation.chat_id, message_id=generation.status_message_id
                    )
                    return
                except TelegramBadRequest as error:
                    if "message to edit not found" not in error.message:
                        raise
            await self._bot.send_message(generation.chat_id, text)
