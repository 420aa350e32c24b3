"""The images a user sends on the wizard's image steps: checked and re-encoded by services.media, then kept
in the media store under inputs/<user id>/ for the poller to read back when it submits the request."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

from services.media import ImageRejected, inspect_image
from services.settings import Settings
from services.video_request import ImageRef
from storage.interfaces import MediaStore

EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
#: Images checked at once: each decode may fill services.media.MAX_DECODED_BYTES and a few copies, so
#: many users sending big pictures together wait their turn instead of adding up in memory.
DECODES_AT_ONCE = 2


class Uploads:
    def __init__(self, media: MediaStore, settings: Settings) -> None:
        self._media = media
        self._settings = settings
        self._decodes = asyncio.Semaphore(DECODES_AT_ONCE)

    def check_size(self, size: int | None) -> None:
        """Refuse a file by the size Telegram states, before it is downloaded (ImageRejected)."""
        if size is not None and size > self._settings.max_image_bytes:
            raise self._too_large()

    async def keep_image(self, user_id: int, data: bytes) -> ImageRef:
        """Check and store one image; ImageRejected (a translated reason) if it is unusable."""
        limit = self._settings.max_image_bytes
        async with self._decodes:
            image = await asyncio.to_thread(inspect_image, data, max_bytes=limit)
        if (
            len(image.data) > limit
        ):  # re-encoding can grow a file; the poller reads it back under the same limit
            raise self._too_large()
        path = f"inputs/{user_id}/{uuid.uuid4().hex}{EXTENSIONS[image.mime_type]}"
        await self._media.write(path, _once(image.data), content_type=image.mime_type)
        return ImageRef(
            source=path,
            mime_type=image.mime_type,
            width=image.width,
            height=image.height,
            size_bytes=len(image.data),
        )

    def _too_large(self) -> ImageRejected:
        return ImageRejected("error-image-too-large", {"max_mb": f"{self._settings.max_image_mb:g}"})


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
