"""A user's photo or image file for an image step: size-checked before download, validated and
re-encoded by services.media, then kept in the media store for the poller to read back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

from aiogram import Bot
from aiogram.types import Message

from services.media import ImageRejected, inspect_image
from services.settings import Settings
from services.video_request import ImageRef
from storage.interfaces import MediaStore

EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}


def attached_file(message: Message) -> tuple[str, int | None] | None:
    """(file_id, size) of the picture in a message: the largest photo size, or a document."""
    if message.photo:
        largest = message.photo[-1]
        return largest.file_id, largest.file_size
    if message.document is not None:
        return message.document.file_id, message.document.file_size
    return None


async def receive_image(
    bot: Bot, media: MediaStore, settings: Settings, *, user_id: int, file_id: str, size: int | None
) -> ImageRef:
    """Download, check and store one image; ImageRejected (a translated reason) if it is unusable."""
    limit = settings.max_image_bytes
    too_large = ImageRejected("error-image-too-large", {"max_mb": f"{settings.max_image_mb:g}"})
    if size is not None and size > limit:
        raise too_large
    downloaded = await bot.download(file_id)
    assert downloaded is not None
    image = await asyncio.to_thread(inspect_image, downloaded.read(), max_bytes=limit)
    if len(image.data) > limit:  # re-encoding can grow a file; the poller reads it back under the same limit
        raise too_large
    path = f"inputs/{user_id}/{uuid.uuid4().hex}{EXTENSIONS[image.mime_type]}"
    await media.write(path, _once(image.data), content_type=image.mime_type)
    return ImageRef(
        source=path,
        mime_type=image.mime_type,
        width=image.width,
        height=image.height,
        size_bytes=len(image.data),
    )


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
