"""Everything the user sees of a generation while and after it runs: throttled progress edits, the video,
the refund notice — through the Notifier port, so this stays free of aiogram.

A user who blocked the bot is marked blocked once and the video stays in the library; Telegram being
unreachable defers delivery with a backoff, and after MAX_DELIVERY_ATTEMPTS the bot stops re-sending.

The generation row is the video's outbox: `succeeded` with `next_poll_at` set means "owed", written with
the success, and the guarded `delivered` transition marks it sent. Each upload is counted in the store
before it leaves; an upload whose answer was lost (a 5xx, a timeout, a kill) may still have reached the
chat, so after MAX_UPLOADS the video is not uploaded again: it reaches a chat at most twice, and stays in
/library. The refund notice goes through the outbox (services/notices.py).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from services.generations import Clock, GenerationService, utcnow
from services.next_step import Backoff
from services.notices import Notices
from services.notifications import DeliveryDeferred, Notifier, RecipientUnavailable, StoredVideo
from services.settings import Settings
from storage.interfaces import MediaStore, Store
from storage.records import Generation, NoticeKind, notice_key

log = logging.getLogger(__name__)

#: Give up re-sending a finished video after this many failed attempts (it stays in the library).
MAX_DELIVERY_ATTEMPTS = 12
#: Uploads of one video begun, at most: the second may duplicate a first whose answer was lost.
MAX_UPLOADS = 2


class Delivery:
    def __init__(
        self,
        *,
        store: Store,
        media: MediaStore,
        notifier: Notifier,
        notices: Notices,
        generations: GenerationService,
        settings: Settings,
        clock: Clock = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._media = media
        self._notifier = notifier
        self._notices = notices
        self._generations = generations
        self._settings = settings
        self._clock = clock
        self._monotonic = monotonic
        #: Last progress edit per generation, oldest first: stale entries (cancelled work never says
        #: goodbye) are dropped from the front, O(1) per edit however many generations run.
        self._last_progress: OrderedDict[str, float] = OrderedDict()

    async def video(self, generation: Generation) -> Backoff | None:
        """Send the stored video; a deferred send asks for a backoff until the attempts run out."""
        assert generation.result_path is not None
        size = await self._media.size(generation.result_path)
        if size is None:
            log.error("generation %s: stored video %s is missing", generation.id, generation.result_path)
            return None
        meta = generation.result_meta or {}
        video = StoredVideo(
            path=generation.result_path,
            size=size,
            width=meta.get("width"),
            height=meta.get("height"),
            duration=meta.get("duration"),
        )
        uploads = await self._store.begin_upload(generation.id, now=self._clock())
        if uploads > MAX_UPLOADS:
            log.warning(
                "generation %s: %d uploads may have reached the chat already; not uploading again, "
                "the video stays in the library",
                generation.id,
                uploads - 1,
            )
            return None
        try:
            file_id = await self._notifier.deliver(generation, video)
        except RecipientUnavailable:
            log.info(
                "user %s is unreachable; generation %s stays in the library",
                generation.user_id,
                generation.id,
            )
            await self._store.set_user_blocked(generation.user_id, True)
            return None
        except DeliveryDeferred as deferred:
            if not deferred.uncertain:  # refused for certain (flood control): that upload never arrived
                await self._store.upload_refused(generation.id, now=self._clock())
            if generation.attempts + 1 >= MAX_DELIVERY_ATTEMPTS:
                log.warning(
                    "generation %s: giving up delivery after %d attempts",
                    generation.id,
                    generation.attempts + 1,
                )
                return None
            return Backoff(deferred.retry_after)
        await self._generations.mark_delivered(generation.id, file_id=file_id)
        return None

    async def failure(self, generation: Generation, *, refunded: int) -> None:
        """Tell the user why and that the credits are back: the refund's notice, sent once (a deferred
        one is sent by the notice job later)."""
        await self._notices.send_now(
            notice_key(NoticeKind.REFUND, generation.id),
            lambda: self._notifier.report_failure(generation, refunded=refunded),
        )

    async def progress(
        self, generation: Generation, progress: int | None, can_cancel: bool, release: dict[str, Any]
    ) -> None:
        """At most one edit per PROGRESS_EDIT_SECONDS per generation, to stay under Telegram's limits;
        a new status message id goes into `release`, written with the lease."""
        now = self._monotonic()
        interval = self._settings.progress_edit_seconds
        last = self._last_progress.get(generation.id)
        if last is not None and now - last < interval:
            return
        while self._last_progress and now - next(iter(self._last_progress.values())) >= interval:
            self._last_progress.popitem(last=False)
        self._last_progress[generation.id] = now
        self._last_progress.move_to_end(generation.id)
        try:
            message_id = await self._notifier.show_progress(
                generation,
                progress=progress,
                elapsed=self._clock() - generation.created_at,
                can_cancel=can_cancel,
            )
        except RecipientUnavailable:
            await self._store.set_user_blocked(generation.user_id, True)
            return
        except DeliveryDeferred:
            return
        if message_id is not None and message_id != generation.status_message_id:
            release["status_message_id"] = message_id

    async def rerouted(self, generation: Generation) -> None:
        """Tell the user another provider makes their video now (best effort, like progress: the video or
        its refund notice follows in any case)."""
        try:
            await self._notifier.report_rerouted(generation)
        except RecipientUnavailable:
            await self._store.set_user_blocked(generation.user_id, True)
        except DeliveryDeferred as deferred:
            log.info("generation %s: reroute notice not sent (%s)", generation.id, deferred)

    def forget(self, generation_id: str) -> None:
        """The generation has ended: its next progress message, if any, is not throttled."""
        self._last_progress.pop(generation_id, None)
