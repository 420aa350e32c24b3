"""The engine between "paid" and "video in the chat": submit, poll, store, deliver, or fail and refund.

Every tick leases due generations (so a second replica or a restarted process never works the same row at
the same time), works them with bounded concurrency overall and per provider, and releases each lease
with the time of its next poll. Provider callbacks enter through `on_callback` and run the very same
code, so a callback makes delivery immediate and polling stays the safety net. Money moves only through
GenerationService's guarded, atomic transitions: a duplicate callback, a poll racing a callback, two
replicas or a restart can never deliver twice for one debit or refund twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.catalog import Catalog, Route
from services.generations import Clock, GenerationService, Succeeded, utcnow
from services.media import ImageRejected, inspect_image
from services.notifications import DeliveryDeferred, Notifier, RecipientUnavailable, StoredVideo
from services.providers.base import (
    ContentPolicyError,
    ErrorKind,
    InputImage,
    ProviderError,
    SubmitJob,
    TaskState,
    TaskStatus,
    VideoProvider,
)
from services.providers.registry import Providers, submit
from services.settings import Settings
from services.video_request import ImageRef, VideoRequest
from storage.errors import MediaTooLargeError
from storage.interfaces import MediaStore, Store, media_path
from storage.records import (
    REFUNDED_STATUSES,
    Generation,
    GenerationStatus,
    NotRefundable,
    Refunded,
    RefundOutcome,
)

log = logging.getLogger(__name__)

#: Providers that take a per-task callback URL (KIE `callBackUrl`, Runware `webhookURL`). OpenAI webhooks
#: are configured once per project in its dashboard; Gemini's are unconfirmed, so Gemini is polled.
CALLBACK_PROVIDERS = frozenset({"kie", "runware"})

#: Failures whose cause is transient: wait and submit again (until the hard timeout) when no route took it.
_TRANSIENT = frozenset({ErrorKind.UNAVAILABLE, ErrorKind.RATE_LIMITED})
_BACKOFF_MAX_SECONDS = 300.0
#: Never poll one task twice within this, whatever a provider hints (a hint of 0 would spin).
MIN_GAP_SECONDS = 1.0
#: Give up re-sending a finished video after this many failed attempts (it stays in the library).
MAX_DELIVERY_ATTEMPTS = 12
#: How long `stop()` lets in-flight work finish before cancelling it and releasing the leases.
STOP_GRACE_SECONDS = 10.0


class Failure(Exception):
    """Ends the generation with a refund: `code` picks the user's message, `detail` is the provider's."""

    def __init__(self, code: str, detail: str | None = None) -> None:
        super().__init__(code if detail is None else f"{code}: {detail}")
        self.code = code
        self.detail = detail


class RetryLater(Exception):
    """Nothing is decided yet: poll or submit again after a backoff (or the provider's own hint)."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class TickReport:
    claimed: int
    seconds: float


class Poller:
    def __init__(
        self,
        *,
        store: Store,
        media: MediaStore,
        catalog: Catalog,
        generations: GenerationService,
        providers: Providers,
        notifier: Notifier,
        settings: Settings,
        clock: Clock = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        owner: str | None = None,
    ) -> None:
        self._store = store
        self._media = media
        self._catalog = catalog
        self._generations = generations
        self._providers = providers
        self._notifier = notifier
        self._settings = settings
        self._clock = clock
        self._monotonic = monotonic
        #: Lease owner: unique per process, readable in the database when debugging a stuck row.
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._slots = asyncio.Semaphore(settings.poll_concurrency)
        self._provider_slots: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.provider_concurrency)
        )
        self._working: set[str] = set()
        #: Row fields (progress, status message id, error count) written with the lease release, so a
        #: status check costs one database write.
        self._with_release: defaultdict[str, dict[str, Any]] = defaultdict(dict)
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_progress: dict[str, float] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self._stopping = False

    # scheduled jobs

    async def tick(self) -> TickReport:
        """Work everything due at the start of the tick, claiming leased batches as workers free up."""
        started = self._monotonic()
        due_at = self._clock()
        batch = self._settings.poll_concurrency
        self._ensure_heartbeat()
        claimed = 0
        more = True
        pending: set[asyncio.Task[None]] = set()
        room = asyncio.Event()

        def finished(task: asyncio.Task[None]) -> None:
            pending.discard(task)
            room.set()

        while True:
            if more and not self._stopping and len(pending) < batch:
                want = 2 * batch - len(pending)
                rows = await self._store.claim_due_generations(
                    now=due_at, owner=self.owner, lease_seconds=self._settings.poll_lease_seconds, limit=want
                )
                claimed += len(rows)
                more = len(rows) == want
                for generation in rows:
                    task = self._spawn(self._work(generation))
                    pending.add(task)
                    task.add_done_callback(finished)
            if not pending:
                break
            room.clear()
            await room.wait()  # O(1) per finished row, unlike asyncio.wait over the whole set
        return TickReport(claimed, self._monotonic() - started)

    async def sweep(self) -> int:
        """End generations past their hard timeout, even when ordinary polls are backed up."""
        rows = await self._store.claim_due_generations(
            now=self._clock(),
            owner=self.owner,
            lease_seconds=self._settings.poll_lease_seconds,
            limit=self._settings.poll_concurrency,
            overdue_only=True,
        )
        if rows:
            await asyncio.wait({self._spawn(self._work(g)) for g in rows})
        return len(rows)

    async def clean_media(self) -> int:
        """Delete stored videos older than MEDIA_RETENTION_DAYS; Telegram's file_id can still resend them.

        The row is marked first, so a crash leaves at worst an orphan file, never a row without its video.
        """
        days = self._settings.media_retention_days
        if days == 0:
            return 0
        now = self._clock()
        removed = 0
        for generation in await self._store.list_expired_media(
            finished_before=now - timedelta(days=days), limit=500
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

    async def drain(self) -> None:
        """Wait until background work (callbacks accepted so far, running ticks) has finished."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def stop(self, *, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """Take no new work, let running work finish for a moment, then cancel it and free its leases."""
        self._stopping = True
        if self._tasks:
            _done, still = await asyncio.wait(set(self._tasks), timeout=grace_seconds)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still)
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat

    # callbacks and user actions

    def accept_callback(self, provider: str, task_id: str, status: TaskStatus | None) -> None:
        """Work a provider callback in the background, so the web handler can answer 200 at once."""
        if not self._stopping:
            self._spawn(self.on_callback(provider, task_id, status))

    async def on_callback(self, provider: str, task_id: str, status: TaskStatus | None) -> None:
        """Apply a callback like a poll result. A duplicate finds the outcome applied and does nothing;
        one that races a poll finds the row leased and leaves it to that poll, which sees the same state."""
        found = await self._store.find_generation_by_task(provider, task_id)
        if found is None:
            log.info("%s callback for unknown task %s ignored", provider, task_id)
            return
        if found.id in self._working:
            log.info("%s callback for %s: this process is working on it", provider, found.id)
            return
        generation = await self._store.claim_generation(
            found.id, now=self._clock(), owner=self.owner, lease_seconds=self._settings.poll_lease_seconds
        )
        if generation is None:
            log.info("%s callback for %s: a poll is working on it", provider, found.id)
            return
        await self._work(generation, status)

    async def cancel(self, generation_id: str, *, user_id: int) -> RefundOutcome:
        """The owner's cancel button: refund while queued, or while running if the provider stops it."""
        generation = await self._generations.get_for_user(generation_id, user_id)
        if generation is None:
            return NotRefundable(None)
        if generation.status is GenerationStatus.QUEUED:
            return await self._generations.cancel(generation_id, user_id=user_id, provider_can_stop=False)
        if generation.status is not GenerationStatus.RUNNING or generation.provider_task_id is None:
            return NotRefundable(generation)
        adapter = self._adapter(generation)
        if not adapter.can_cancel:
            return NotRefundable(generation)
        try:
            stopped = await adapter.cancel(generation.provider_task_id)
        except ProviderError as error:
            log.warning("cancel of %s failed: %s", generation_id, error)
            return NotRefundable(generation)
        if not stopped:
            return NotRefundable(generation)
        outcome = await self._generations.cancel(generation_id, user_id=user_id, provider_can_stop=True)
        self._last_progress.pop(generation_id, None)
        return outcome

    # one generation

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _work(self, generation: Generation, status: TaskStatus | None = None) -> None:
        """Advance one leased generation, then release the lease with the time of its next poll."""
        next_poll: datetime | None = None
        self._working.add(generation.id)
        try:
            async with self._slots, self._provider_slots[generation.route_provider or "-"]:
                next_poll = await self._advance(generation, status)
        except asyncio.CancelledError:
            next_poll = self._clock()  # stopped half-way: the next owner starts over at once
            raise
        except Exception:  # one broken row (a malformed reply, a bug) must not stop the others
            log.exception("generation %s: unexpected error; retrying later", generation.id)
            next_poll = self._backoff(generation, None)
        finally:
            self._working.discard(generation.id)
            fields = self._with_release.pop(generation.id, None)
            await asyncio.shield(
                self._store.release_generation(
                    generation.id, owner=self.owner, next_poll_at=next_poll, fields=fields
                )
            )

    async def _advance(self, generation: Generation, status: TaskStatus | None) -> datetime | None:
        if generation.status in REFUNDED_STATUSES or generation.status is GenerationStatus.SUCCEEDED:
            return await self._finish_late(generation, status)
        if generation.status is GenerationStatus.DELIVERED:
            return None
        try:
            if generation.status is GenerationStatus.QUEUED:
                if self._clock() >= generation.deadline_at:
                    raise Failure("timeout")
                if self._stopping:
                    return self._clock()
                return await self._submit(generation)
            return await self._follow(generation, status)
        except Failure as failure:
            await self._fail(generation, failure)
            return None
        except RetryLater as later:
            log.info("generation %s: %s", generation.id, later)
            return self._backoff(generation, later.retry_after)

    async def _finish_late(self, generation: Generation, status: TaskStatus | None) -> datetime | None:
        """A produced video waiting for delivery, or a callback about a task that ended with a refund."""
        if generation.result_path is not None:
            pending = generation.next_poll_at is not None and generation.delivered_at is None
            return await self._deliver(generation) if pending else None
        if generation.status not in REFUNDED_STATUSES or generation.provider_task_id is None:
            return None
        adapter = self._adapter(generation)
        try:
            if status is None:  # the callback only named the task
                status = await adapter.status(generation.provider_task_id)
            if status.state is not TaskState.SUCCEEDED:
                return None
            return await self._complete(generation, adapter, status)
        except (Failure, RetryLater, ProviderError) as reason:
            log.info("late result of %s not kept: %s", generation.id, reason)
            return None

    async def _follow(self, generation: Generation, status: TaskStatus | None) -> datetime | None:
        """A running task: poll it (unless a callback brought the status), and act on what it says."""
        adapter = self._adapter(generation)
        assert generation.provider_task_id is not None
        overdue = self._clock() >= generation.deadline_at
        if status is None:
            try:
                status = await adapter.status(generation.provider_task_id)
            except ProviderError as error:
                if overdue:
                    raise Failure("timeout", error.message) from None
                raise RetryLater(f"status poll failed: {error}", retry_after=error.retry_after) from None
        if overdue and status.state in (TaskState.QUEUED, TaskState.RUNNING):
            await self._stop_task(adapter, generation.provider_task_id)
            raise Failure("timeout")
        return await self._apply(generation, adapter, status)

    async def _apply(
        self, generation: Generation, adapter: VideoProvider, status: TaskStatus
    ) -> datetime | None:
        if status.state is TaskState.SUCCEEDED:
            return await self._complete(generation, adapter, status)
        if status.state is TaskState.FAILED:
            if status.content_policy:
                raise Failure("content_policy", status.error_message)
            code = "no_video" if status.error_code == "no_video" else "provider_failed"
            raise Failure(code, _detail(status.error_code, status.error_message))
        if status.progress is not None and status.progress != generation.progress:
            self._with_release[generation.id]["progress"] = max(0, min(100, status.progress))
        await self._show_progress(generation, status.progress, adapter.can_cancel)
        if generation.attempts:
            self._with_release[generation.id]["attempts"] = 0
        return self._next_poll(generation.route_provider, status.poll_after)

    async def _submit(self, generation: Generation) -> datetime | None:
        """Submit to the model's best route; fail over on reasons that are not the user's content."""
        request = VideoRequest.model_validate(generation.request)
        offer = self._generations.offer(generation.model)
        if offer is None:
            raise Failure("model_unavailable")
        assert request.duration and request.resolution and request.aspect_ratio
        routes = offer.routes_for(
            mode=request.mode,
            duration=request.duration,
            resolution=request.resolution,
            aspect_ratio=request.aspect_ratio,
        )
        source = await self._source(generation, request)
        if source is not None:
            routes = [r for r in routes if r.provider == source.route_provider]
        if not routes:
            raise Failure("no_route")
        images = await self._images(request)
        last: ProviderError | None = None
        transient = False
        for route in routes:
            adapter = self._providers.for_route(route)
            job = SubmitJob(
                request=request,
                route=route,
                first_frame=images.get("first"),
                last_frame=images.get("last"),
                reference_images=tuple(v for k, v in sorted(images.items()) if k.startswith("ref")),
                source_task_id=None if source is None else source.provider_task_id,
                source_result=None if source is None else source.provider_result,
                callback_url=self._settings.callback_url(route.provider)
                if route.provider in CALLBACK_PROVIDERS
                else None,
            )
            try:
                submitted = await submit(adapter, job)
            except ContentPolicyError as error:
                raise Failure("content_policy", error.message) from None
            except ProviderError as error:
                if not error.failover and error.kind not in _TRANSIENT:
                    raise Failure("invalid_request", error.message) from None
                log.warning(
                    "generation %s: route %s failed (%s); trying the next",
                    generation.id,
                    route.provider,
                    error,
                )
                last = error
                transient = transient or error.kind in _TRANSIENT
                continue
            running = await self._generations.mark_running(
                generation.id,
                provider=route.provider,
                provider_model_id=job.provider_model_id,
                task_id=submitted.task_id,
            )
            if running is None:  # cancelled by the user while we were submitting
                await self._stop_task(adapter, submitted.task_id)
                return None
            return await self._apply(running, adapter, submitted.status)
        if transient:
            raise RetryLater(f"no route took it now: {last}", retry_after=last.retry_after if last else None)
        raise Failure("no_route", None if last is None else last.message)

    async def _complete(
        self, generation: Generation, adapter: VideoProvider, status: TaskStatus
    ) -> datetime | None:
        """Stream the result into the media store, record it, and deliver it."""
        result = status.result
        if result is None or (not result.url and not result.extra):
            raise Failure("no_video", status.error_message)
        path = media_path(generation.user_id, generation.id)
        limit = self._settings.max_video_bytes
        try:
            size = await self._media.write(path, adapter.download(status, max_bytes=limit), max_bytes=limit)
        except MediaTooLargeError:
            raise Failure("too_large") from None
        except ProviderError as error:
            if error.kind in _TRANSIENT:
                raise RetryLater(f"download failed: {error}", retry_after=error.retry_after) from None
            raise Failure("download_failed", error.message) from None
        meta = {"width": result.width, "height": result.height, "duration": result.duration, "size": size}
        outcome = await self._generations.mark_succeeded(
            generation.id, result_path=path, result_meta=meta, provider_result=result.url or None
        )
        if not isinstance(outcome, Succeeded):
            return None
        self._last_progress.pop(generation.id, None)
        return await self._deliver(outcome.generation)

    async def _deliver(self, generation: Generation) -> datetime | None:
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
            if generation.attempts + 1 >= MAX_DELIVERY_ATTEMPTS:
                log.warning(
                    "generation %s: giving up delivery after %d attempts",
                    generation.id,
                    generation.attempts + 1,
                )
                return None
            return self._backoff(generation, deferred.retry_after)
        await self._generations.mark_delivered(generation.id, file_id=file_id)
        return None

    async def _fail(self, generation: Generation, failure: Failure) -> None:
        outcome = await self._generations.fail(generation.id, code=failure.code, message=failure.detail)
        self._last_progress.pop(generation.id, None)
        if not isinstance(outcome, Refunded):
            return
        try:
            await self._notifier.report_failure(outcome.generation, refunded=outcome.entry.delta)
        except RecipientUnavailable:
            await self._store.set_user_blocked(generation.user_id, True)
        except DeliveryDeferred as deferred:
            log.warning("could not tell user %s about the refund: %s", generation.user_id, deferred)

    # helpers

    async def _show_progress(self, generation: Generation, progress: int | None, can_cancel: bool) -> None:
        """At most one edit per PROGRESS_EDIT_SECONDS per generation, to stay under Telegram's limits."""
        now = self._monotonic()
        last = self._last_progress.get(generation.id)
        if last is not None and now - last < self._settings.progress_edit_seconds:
            return
        self._last_progress[generation.id] = now
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
            self._with_release[generation.id]["status_message_id"] = message_id

    def _adapter(self, generation: Generation) -> VideoProvider:
        provider = generation.route_provider
        if provider is None:
            raise LookupError(f"generation {generation.id} has no route yet")
        route = self._route(generation)
        return self._providers.for_route(route) if route is not None else self._providers.for_key(provider)

    def _route(self, generation: Generation) -> Route | None:
        model = self._catalog.get(generation.model)
        if model is None:
            return None
        return next(
            (
                r
                for r in model.routes
                if r.provider == generation.route_provider
                and r.provider_model_id(generation.mode) == generation.route_model_id
            ),
            None,
        )

    async def _source(self, generation: Generation, request: VideoRequest) -> Generation | None:
        """The generation an extend/remix continues: only the user's own, made by a provider we know."""
        if request.source_generation_id is None:
            return None
        source = await self._store.get_generation(request.source_generation_id)
        if source is None or source.user_id != generation.user_id or source.provider_task_id is None:
            raise Failure("source_unavailable")
        return source

    async def _images(self, request: VideoRequest) -> dict[str, InputImage]:
        """The user's validated uploads, read back from the media store."""
        refs: dict[str, ImageRef] = {}
        if request.first_frame is not None:
            refs["first"] = request.first_frame
        if request.last_frame is not None:
            refs["last"] = request.last_frame
        for index, ref in enumerate(request.reference_images):
            refs[f"ref{index:02d}"] = ref
        images = {}
        for key, ref in refs.items():
            try:
                data = await _read_all(self._media.read(ref.source), limit=self._settings.max_image_bytes)
                images[key] = inspect_image(data, max_bytes=self._settings.max_image_bytes)
            except (OSError, ImageRejected, MediaTooLargeError) as error:
                raise Failure("image_unavailable", type(error).__name__) from None
        return images

    async def _stop_task(self, adapter: VideoProvider, task_id: str) -> None:
        """Best effort: stop paying for a task nobody will receive."""
        if adapter.can_cancel:
            try:
                await adapter.cancel(task_id)
            except ProviderError as error:
                log.info("could not cancel %s task %s: %s", adapter.name, task_id, error)

    def _next_poll(self, provider: str | None, hint: float | None) -> datetime:
        gap = self._settings.poll_interval_seconds if hint is None else hint
        floor = self._settings.min_poll_interval(provider) if provider else 0.0
        return self._clock() + timedelta(seconds=max(gap, floor, MIN_GAP_SECONDS))

    def _backoff(self, generation: Generation, hint: float | None) -> datetime:
        """Exponential backoff with jitter from the row's error count; a provider's hint wins if longer."""
        attempts = generation.attempts + 1
        self._with_release[generation.id]["attempts"] = attempts
        base = self._settings.poll_interval_seconds * 2 ** min(attempts - 1, 10)
        delay = min(_BACKOFF_MAX_SECONDS, base) * random.uniform(0.8, 1.2)
        provider = generation.route_provider
        floor = self._settings.min_poll_interval(provider) if provider else 0.0
        return self._clock() + timedelta(seconds=max(delay, hint or 0.0, floor))

    def _ensure_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.ensure_future(self._renew_leases())

    async def _renew_leases(self) -> None:
        """Keep leases of long work (a big download or upload) from expiring under us."""
        lease = self._settings.poll_lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            if self._working:
                await self._store.extend_leases(
                    sorted(self._working), owner=self.owner, now=self._clock(), lease_seconds=lease
                )


def _detail(code: str | None, message: str | None) -> str | None:
    parts = [p for p in (code, message) if p]
    return ": ".join(parts) or None


async def _read_all(chunks: AsyncIterator[bytes], *, limit: int) -> bytes:
    data = bytearray()
    async for chunk in chunks:
        data += chunk
        if len(data) > limit:
            raise MediaTooLargeError(limit)
    return bytes(data)
