"""A user's photo or image file for an image step: size-checked before download, then checked, re-encoded
and kept by the uploads service (services/uploads.py) for the poller to read back."""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import Message

from services.uploads import Uploads
from services.video_request import ImageRef


def attached_file(message: Message) -> tuple[str, int | None] | None:
    """(file_id, size) of the picture in a message: the largest photo size, or a document."""
    if message.photo:
        largest = message.photo[-1]
        return largest.file_id, largest.file_size
    if message.document is not None:
        return message.document.file_id, message.document.file_size
    return None


async def receive_image(
    bot: Bot, uploads: Uploads, *, user_id: int, file_id: str, size: int | None
) -> ImageRef:
    """Download one image from Telegram and hand it to the uploads service; ImageRejected if unusable."""
    uploads.check_size(size)
    downloaded = await bot.download(file_id)
    assert downloaded is not None
    return await uploads.keep_image(user_id, downloaded.read())
