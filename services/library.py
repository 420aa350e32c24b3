"""The user's library: their generations, newest first, paged by keyset; their own one by id; hiding one and
deleting its video; remembering and finding what to resend.

Everything here is scoped to the asking user, so data forged in a button (a cursor, an id) can only position
or pick among the user's own rows: a foreign id looks the same as an unknown one.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from services.generations import Clock, GenerationService, utcnow
from services.notifications import StoredVideo
from storage.errors import StorageError
from storage.interfaces import GenerationStore, MediaStore
from storage.records import ACTIVE_STATUSES, Generation

log = logging.getLogger(__name__)

PAGE_SIZE = 5
GENERATION_ID = re.compile(r"[0-9a-f]{32}")

#: A row's place in the keyset order: (created_at, id).
Cursor = tuple[datetime, str]


@dataclass(frozen=True)
class Page:
    """At most PAGE_SIZE rows, newest first, and whether a newer and an older page exist."""

    rows: list[Generation]
    newer: bool
    older: bool


def deletable(generation: Generation) -> bool:
    """Nothing more can happen to it: not in flight, and no delivery pending."""
    return generation.status not in ACTIVE_STATUSES and generation.next_poll_at is None


def position(generation: Generation) -> Cursor:
    return generation.created_at, generation.id


class Library:
    def __init__(
        self,
        store: GenerationStore,
        media: MediaStore,
        generations: GenerationService,
        *,
        page_size: int = PAGE_SIZE,
        clock: Clock = utcnow,
    ) -> None:
        self._store = store
        self._media = media
        self._generations = generations
        self._page_size = page_size
        self._clock = clock

    async def page(self, user_id: int, *, after: Cursor | None = None, before: Cursor | None = None) -> Page:
        """The page just newer than `after`, just older than `before`, or the first page.

        Rows deleted meanwhile can leave a newer page short or an older one empty: the first page then.
        """
        size, store = self._page_size, self._store
        if after is not None:
            rows = await store.list_user_generations(user_id, after=after, limit=size + 1)
            if len(rows) > size:
                return Page(rows[-size:], newer=True, older=True)
        elif before is not None:
            rows = await store.list_user_generations(user_id, before=before, limit=size + 1)
            if rows:
                newer = await store.list_user_generations(user_id, after=position(rows[0]), limit=1)
                return Page(rows[:size], newer=bool(newer), older=len(rows) > size)
        rows = await store.list_user_generations(user_id, limit=size + 1)
        return Page(rows[:size], newer=False, older=len(rows) > size)

    async def own(self, generation_id: str, user_id: int) -> Generation | None:
        """The user's generation if it is still in their library; None for a malformed, foreign, unknown or
        deleted id alike."""
        if not GENERATION_ID.fullmatch(generation_id):
            return None
        generation = await self._generations.get_for_user(generation_id, user_id)
        if generation is None or generation.hidden_at is not None:
            return None
        return generation

    async def hide(self, generation_id: str, user_id: int) -> Generation | None:
        """Delete from the user's library: the row stays (the ledger refers to it), its video goes.

        None when it is not theirs, still in flight or already hidden, so the video is deleted once. A video
        that cannot be deleted now is already marked expired; the row is hidden all the same.
        """
        hidden = await self._store.hide_generation(generation_id, user_id=user_id, now=self._clock())
        if hidden is not None and hidden.result_path is not None:
            try:
                await self._media.delete(hidden.result_path)
            except StorageError as error:
                log.warning("generation %s hidden, but its video could not be deleted: %s", hidden.id, error)
        return hidden

    async def remember_file_id(self, generation: Generation, file_id: str) -> None:
        """Keep Telegram's file_id of an upload so the next resend needs none; not if the status moved on."""
        await self._store.update_generation(
            generation.id,
            only_if=frozenset({generation.status}),
            fields={"file_id": file_id},
            now=self._clock(),
        )

    async def stored_video(self, generation: Generation) -> StoredVideo | None:
        """The video to upload again, if it is still in the media store."""
        if generation.result_path is None or generation.media_expired_at is not None:
            return None
        size = await self._media.size(generation.result_path)
        if size is None:
            return None
        meta = generation.result_meta or {}
        return StoredVideo(
            path=generation.result_path,
            size=size,
            width=meta.get("width"),
            height=meta.get("height"),
            duration=meta.get("duration"),
        )
