"""Media retention: delete stored videos older than MEDIA_RETENTION_DAYS; Telegram's file_id can still
resend them, and the library shows them as expired."""

from __future__ import annotations

from datetime import timedelta

from services.generations import Clock, utcnow
from services.settings import Settings
from storage.interfaces import GenerationStore, MediaStore
from storage.records import GenerationStatus

#: Rows handled per run; the next hourly run takes the rest.
BATCH = 500


class MediaRetention:
    def __init__(
        self, *, store: GenerationStore, media: MediaStore, settings: Settings, clock: Clock = utcnow
    ) -> None:
        self._store = store
        self._media = media
        self._settings = settings
        self._clock = clock

    async def clean(self) -> int:
        """Delete what is past retention. The row is marked first, so a crash leaves at worst an orphan
        file, never a row without its video."""
        days = self._settings.media_retention_days
        if days == 0:
            return 0
        now = self._clock()
        removed = 0
        for generation in await self._store.list_expired_media(
            finished_before=now - timedelta(days=days), limit=BATCH
        ):
            marked = await self._store.update_generation(
                generation.id,
                only_if=frozenset(GenerationStatus),
                fields={"media_expired_at": now},
                now=now,
            )
            if marked is not None and generation.result_path is not None:
                await self._media.delete(generation.result_path)
                removed += 1
        return removed
