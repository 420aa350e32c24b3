"""What a provider task's status means for its generation: keep polling, keep the video, or fail and refund.

The poller hands every status here, whether a poll or a callback brought it; money moves only through
GenerationService's guarded transitions, so applying the same status twice changes nothing. How a task
ended is also told to the routes' health (services/routing.py), which orders the next creates.
"""

from __future__ import annotations

import logging
from typing import Any

from services.delivery import Delivery
from services.generations import GenerationService, Succeeded
from services.next_step import TRANSIENT, Failure, PollAgain, ProviderFault, RetryLater, Step
from services.providers.base import ProviderError, TaskState, TaskStatus, VideoProvider
from services.routing import RouteHealth, counts_against
from services.settings import Settings
from storage.errors import MediaTooLargeError
from storage.interfaces import MediaStore, media_path
from storage.records import REFUNDED_STATUSES, Generation, Refunded

log = logging.getLogger(__name__)


class Outcomes:
    def __init__(
        self,
        *,
        media: MediaStore,
        generations: GenerationService,
        delivery: Delivery,
        settings: Settings,
        routing: RouteHealth,
    ) -> None:
        self._media = media
        self._generations = generations
        self._delivery = delivery
        self._settings = settings
        self._routing = routing

    async def apply(
        self, generation: Generation, adapter: VideoProvider, status: TaskStatus, release: dict[str, Any]
    ) -> Step:
        """Act on a running task's status; row fields to write with the lease go into `release`."""
        if status.state is TaskState.SUCCEEDED:
            return await self.complete(generation, adapter, status)
        if status.state is TaskState.FAILED:
            raise self.judged(generation, failure_of(status))
        if status.progress is not None and status.progress != generation.progress:
            release["progress"] = max(0, min(100, status.progress))
        await self._delivery.progress(generation, status.progress, adapter.can_cancel, release)
        if generation.attempts:
            release["attempts"] = 0
        return PollAgain(status.poll_after)

    async def complete(self, generation: Generation, adapter: VideoProvider, status: TaskStatus) -> Step:
        """Stream the result into the media store, record it, and deliver it."""
        result = status.result
        if result is None or (not result.url and not result.extra):
            raise self.judged(generation, Failure("no_video", status.error_message))
        path = media_path(generation.user_id, generation.id)
        limit = self._settings.max_video_bytes
        try:
            size = await self._media.write(path, adapter.download(status, max_bytes=limit), max_bytes=limit)
        except MediaTooLargeError:
            raise self.judged(generation, Failure("too_large")) from None
        except ProviderError as error:
            if error.kind in TRANSIENT:
                raise RetryLater(f"download failed: {error}", retry_after=error.retry_after) from None
            raise self.judged(generation, Failure("download_failed", error.message)) from None
        meta: dict[str, Any] = {
            "width": result.width,
            "height": result.height,
            "duration": result.duration,
            "size": size,
        }
        if status.cost_usd is not None:  # what the provider billed, for /stats margins
            meta["cost_usd"] = status.cost_usd
        outcome = await self._generations.mark_succeeded(
            generation.id, result_path=path, result_meta=meta, provider_result=result.url or None
        )
        if not isinstance(outcome, Succeeded):
            return None
        route = self._generations.route(generation)
        if route is not None and not outcome.late:  # a late video follows a timeout already counted
            self._routing.succeeded(
                route,
                started_at=generation.submit_started_at,
                duration=generation.request.get("duration"),
                cost_usd=status.cost_usd,
            )
        self._delivery.forget(generation.id)
        return await self._delivery.video(outcome.generation)

    def judged(self, generation: Generation, failure: Failure) -> Failure:
        """Tell the routes' health how the task of `generation` ended without a video, and return the
        failure to raise: the provider's faults and timeouts count against its route, anything else
        (content policy, a video too large) only lets a cooled route's next try go."""
        route = self._generations.route(generation)
        if route is not None:
            if counts_against(failure):
                self._routing.failed(route)
            else:
                self._routing.released(route)
        return failure

    async def finish_late(self, generation: Generation) -> Step:
        """A produced video waiting for delivery, or a callback about a task that ended with a refund:
        the provider's own status says whether a video exists after all."""
        if generation.result_path is not None:
            pending = generation.next_poll_at is not None and generation.delivered_at is None
            return await self._delivery.video(generation) if pending else None
        if generation.status not in REFUNDED_STATUSES or generation.provider_task_id is None:
            return None
        adapter = self._generations.adapter(generation)
        try:
            status = await adapter.status(generation.provider_task_id)
            if status.state is not TaskState.SUCCEEDED:
                return None
            return await self.complete(generation, adapter, status)
        except (Failure, RetryLater, ProviderError) as reason:
            log.info("late result of %s not kept: %s", generation.id, reason)
            return None

    async def rerouted(self, generation: Generation) -> None:
        """The generation went to another route after a provider fault: the user hears of it."""
        self._delivery.forget(generation.id)
        await self._delivery.rerouted(generation)

    async def fail(self, generation: Generation, failure: Failure) -> None:
        """Refund once and tell the user why; a duplicate finds the refund done and stays silent."""
        outcome = await self._generations.fail(generation.id, code=failure.code, message=failure.detail)
        self._delivery.forget(generation.id)
        if isinstance(outcome, Refunded):
            await self._delivery.failure(outcome.generation, refunded=outcome.entry.delta)


def failure_of(status: TaskStatus) -> Failure:
    """How a failed task ends (the poller and the operator CLI alike): content policy is final, a
    provider fault may go to the model's next route (ProviderFault), anything else ends the order."""
    if status.content_policy:
        return Failure("content_policy", status.error_message)
    code = "no_video" if status.error_code == "no_video" else "provider_failed"
    ending = ProviderFault if status.provider_fault else Failure
    return ending(code, _detail(status.error_code, status.error_message))


def _detail(code: str | None, message: str | None) -> str | None:
    parts = [p for p in (code, message) if p]
    return ": ".join(parts) or None
