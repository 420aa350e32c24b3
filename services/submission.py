"""Submit a queued generation to its model's best route, failing over to the next route on reasons that
are not the user's content; the user's uploads are read back from the media store and re-checked."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from services.generations import GenerationService
from services.media import ImageRejected, inspect_image
from services.next_step import TRANSIENT, Failure, RetryLater
from services.providers.base import (
    ContentPolicyError,
    InputImage,
    ProviderError,
    SubmitJob,
    TaskStatus,
    VideoProvider,
)
from services.providers.registry import Providers, submit
from services.settings import Settings
from services.video_request import ImageRef, VideoRequest
from storage.errors import MediaTooLargeError
from storage.interfaces import GenerationStore, MediaStore
from storage.records import Generation

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Accepted:
    """A route took the task: the generation is running there, and this is its first status."""

    generation: Generation
    adapter: VideoProvider
    status: TaskStatus


class Submission:
    def __init__(
        self,
        *,
        store: GenerationStore,
        media: MediaStore,
        generations: GenerationService,
        providers: Providers,
        settings: Settings,
    ) -> None:
        self._store = store
        self._media = media
        self._generations = generations
        self._providers = providers
        self._settings = settings

    async def submit(self, generation: Generation) -> Accepted | None:
        """Try the routes in priority order; None when the user cancelled while it was being submitted.

        Raises Failure (refund) when no route can make it, RetryLater when routes were only busy or down.
        """
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
                callback_url=self._providers.callback_url(route.provider),
            )
            try:
                submitted = await submit(adapter, job)
            except ContentPolicyError as error:
                raise Failure("content_policy", error.message) from None
            except ProviderError as error:
                if not error.failover and error.kind not in TRANSIENT:
                    raise Failure("invalid_request", error.message) from None
                log.warning(
                    "generation %s: route %s failed (%s); trying the next",
                    generation.id,
                    route.provider,
                    error,
                )
                last = error
                transient = transient or error.kind in TRANSIENT
                continue
            running = await self._generations.mark_running(
                generation.id,
                provider=route.provider,
                provider_model_id=job.provider_model_id,
                task_id=submitted.task_id,
            )
            if running is None:  # cancelled by the user while we were submitting
                await stop_task(adapter, submitted.task_id)
                return None
            return Accepted(running, adapter, submitted.status)
        if transient:
            raise RetryLater(f"no route took it now: {last}", retry_after=last.retry_after if last else None)
        raise Failure("no_route", None if last is None else last.message)

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


async def stop_task(adapter: VideoProvider, task_id: str) -> None:
    """Best effort: stop paying for a task nobody will receive."""
    if adapter.can_cancel:
        try:
            await adapter.cancel(task_id)
        except ProviderError as error:
            log.info("could not cancel %s task %s: %s", adapter.name, task_id, error)


async def _read_all(chunks: AsyncIterator[bytes], *, limit: int) -> bytes:
    data = bytearray()
    async for chunk in chunks:
        data += chunk
        if len(data) > limit:
            raise MediaTooLargeError(limit)
    return bytes(data)
