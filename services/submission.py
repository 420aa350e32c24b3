"""Submit a queued generation to its model's best route, failing over to the next route on reasons that
are not the user's content; the user's uploads are read back from the media store and re-checked. Which
route is best, and which next, is the routing policy's choice over the routes' health (services/routing.py),
which every create's answer feeds.

One paid generation makes at most one paid provider task: every create is recorded before it is sent,
and a create that may have reached the provider without a certain answer is looked up, not sent again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from services.catalog import AvailableModel, Route
from services.generations import Clock, GenerationService, utcnow
from services.media import ImageRejected, inspect_image
from services.next_step import TRANSIENT, Failure, ProviderFault, RetryLater
from services.providers.base import (
    ContentPolicyError,
    InputImage,
    ProviderError,
    SubmitJob,
    Submitted,
    TaskState,
    TaskStatus,
    UncertainSubmitError,
    VideoProvider,
)
from services.providers.registry import Providers, submit
from services.routing import RouteHealth, order_routes
from services.settings import Settings
from services.video_request import ImageRef, VideoRequest
from storage.errors import MediaTooLargeError
from storage.interfaces import GenerationStore, MediaStore
from storage.records import Generation

log = logging.getLogger(__name__)

#: How long after an uncertain create a provider that knows no task for it is asked again before the
#: generation is refunded: a create still being handled upstream may appear late.
LOOKUP_GRACE_SECONDS = 120.0


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
        routing: RouteHealth,
        clock: Clock = utcnow,
    ) -> None:
        self._store = store
        self._media = media
        self._generations = generations
        self._providers = providers
        self._settings = settings
        self._routing = routing
        self._clock = clock

    async def submit(self, generation: Generation) -> Accepted | None:
        """Try the routes in the routing policy's order; None when the user cancelled while it was being
        submitted. Each route is sent the request without the options it does not take
        (`VideoRequest.for_route`). The next route is chosen when the one before has answered, so the
        failover order follows the policy and what the routes did meanwhile; choosing it claims a cooled
        route's one try at once, so two generations submitted together cannot both take it.

        Each create is recorded (`begin_submit`) before it is sent, and one whose outcome is uncertain is
        never sent again nor to another route: it is looked up (`_look_up`). A generation found queued with
        a create on record (a restart between sending it and recording its task) is looked up the same way.
        Raises Failure (refund) when no route can make it, RetryLater when routes were only busy or down.
        """
        if generation.submit_request_id is not None:
            return await self._reconcile(generation)
        request = VideoRequest.model_validate(generation.request)
        offer = self._generations.offer(generation.model)
        if offer is None:
            raise Failure("model_unavailable")
        source = await self._source(generation, request)
        remaining = _routes(offer, request, source, skip=generation.failover_from)
        if not remaining:
            raise Failure("no_route")
        images = await self._images(request)
        last: ProviderError | None = None
        transient = False
        policy = self._settings.routing_policy
        while remaining:
            route = order_routes(policy, remaining, request, self._routing)[0]
            remaining.remove(route)
            self._routing.attempt(route)
            adapter = self._providers.for_route(route)
            job = SubmitJob(
                request=request.for_route(route),
                route=route,
                first_frame=images.get("first"),
                last_frame=images.get("last"),
                reference_images=tuple(v for k, v in sorted(images.items()) if k.startswith("ref")),
                source_task_id=None if source is None else source.provider_task_id,
                source_result=None if source is None else source.provider_result,
                callback_url=self._providers.callback_url(route.provider),
                request_id=str(uuid.uuid4()),
            )
            started = await self._generations.begin_submit(
                generation.id,
                request_id=job.request_id,
                provider=route.provider,
                provider_model_id=job.provider_model_id,
            )
            if started is None:  # cancelled by the user meanwhile
                self._routing.released(route)
                return None
            try:
                submitted = await submit(adapter, job)
            except UncertainSubmitError as error:
                log.warning(
                    "generation %s: create %s on %s has no certain outcome (%s)",
                    generation.id,
                    job.request_id,
                    route.provider,
                    error.message,
                )
                return await self._look_up(started, adapter, job, error.message)
            except ContentPolicyError as error:
                self._routing.released(route)
                raise Failure("content_policy", error.message) from None
            except ProviderError as error:
                if error.failover:
                    self._routing.failed(route)
                else:  # rate limited, or the request itself: nothing against the route
                    self._routing.released(route)
                if not error.failover and error.kind not in TRANSIENT:
                    raise Failure("invalid_request", error.message) from None
                await self._generations.end_submit(generation.id, request_id=job.request_id)
                log.warning(
                    "generation %s: route %s failed (%s); trying the next",
                    generation.id,
                    route.provider,
                    error,
                )
                last = error
                transient = transient or error.kind in TRANSIENT
                continue
            return await self._accept(generation, adapter, job, submitted)
        if transient:
            raise RetryLater(f"no route took it now: {last}", retry_after=last.retry_after if last else None)
        raise Failure("no_route", None if last is None else last.message)

    async def requeue(self, generation: Generation, fault: ProviderFault) -> Generation | None:
        """After the provider failed an accepted task on its own side: back to `queued` for the model's
        next route, once, under the same debit. None (the fault then ends it with its refund) when it went
        this way before or no other route can take it."""
        current = await self._store.get_generation(generation.id)
        if current is None or current.failover_from is not None or current.route_provider is None:
            return None
        offer = self._generations.offer(current.model)
        if offer is None:
            return None
        request = VideoRequest.model_validate(current.request)
        failed = f"{current.route_provider}:{current.route_model_id}"
        try:
            source = await self._source(current, request)
        except Failure:
            return None
        if not _routes(offer, request, source, skip=failed):
            return None
        return await self._generations.requeue(current, failed_route=failed, reason=fault.detail)

    async def _accept(
        self, generation: Generation, adapter: VideoProvider, job: SubmitJob, submitted: Submitted
    ) -> Accepted | None:
        """Record the task; a result that came with the submit answer (a synchronous route) with it."""
        status = submitted.status
        result = status.result if status.state is TaskState.SUCCEEDED else None
        running = await self._generations.mark_running(
            generation.id,
            provider=job.route.provider,
            provider_model_id=job.provider_model_id,
            task_id=submitted.task_id,
            provider_result=result.url if result is not None and result.url else None,
        )
        if running is None:  # cancelled by the user while we were submitting
            self._routing.released(job.route)
            await stop_task(adapter, submitted.task_id)
            return None
        return Accepted(running, adapter, status)

    async def _reconcile(self, generation: Generation) -> Accepted | None:
        """A queued generation with a create on record: the process stopped after sending it (or an
        earlier look-up could not tell yet). Rebuild the job as sent, without its images, and look it up."""
        route = self._generations.route(generation)
        if route is None:
            raise Failure("uncertain_submit", "the route of the create left the catalog")
        request = VideoRequest.model_validate(generation.request)
        source = await self._source(generation, request)
        job = SubmitJob(
            request=request.for_route(route),
            route=route,
            source_task_id=None if source is None else source.provider_task_id,
            source_result=None if source is None else source.provider_result,
            request_id=generation.submit_request_id or "",
        )
        return await self._look_up(
            generation, self._providers.for_route(route), job, "sent before the process stopped"
        )

    async def _look_up(
        self, generation: Generation, adapter: VideoProvider, job: SubmitJob, reason: str
    ) -> Accepted | None:
        """Settle an uncertain create: adopt the task the provider has for it. Where the API cannot be
        asked, or it still knows no such task after LOOKUP_GRACE_SECONDS, or the hard timeout comes first,
        refund with an "uncertain submit" record (a second create could be a second paid task), which
        counts against the route: it left a create without an answer."""
        try:
            return await self._find(generation, adapter, job, reason)
        except Failure:
            self._routing.failed(job.route)
            raise

    async def _find(
        self, generation: Generation, adapter: VideoProvider, job: SubmitJob, reason: str
    ) -> Accepted | None:
        """The look-up itself: the task found, RetryLater while it may still appear, else Failure."""
        if not adapter.finds_submitted:
            raise Failure("uncertain_submit", f"{job.route.provider} has no look-up: {reason}")
        assert generation.submit_started_at is not None
        now = self._clock()
        overdue = now >= generation.deadline_at
        try:
            found = await adapter.find_submitted(job, since=generation.submit_started_at)
        except UncertainSubmitError as error:
            raise Failure("uncertain_submit", error.message) from None
        except ProviderError as error:
            if overdue:
                raise Failure("uncertain_submit", f"look-up failed: {error.message}") from None
            raise RetryLater(f"look-up of create {job.request_id} failed: {error}") from None
        if found is not None:
            log.info(
                "generation %s: create %s found on %s as task %s",
                generation.id,
                job.request_id,
                job.route.provider,
                found.task_id,
            )
            return await self._accept(generation, adapter, job, found)
        waited = (now - generation.submit_started_at).total_seconds()
        if overdue or waited >= LOOKUP_GRACE_SECONDS:
            raise Failure("uncertain_submit", f"{job.route.provider} knows no task for it: {reason}")
        raise RetryLater(f"create {job.request_id} not found yet; looking again")

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


def _routes(
    offer: AvailableModel, request: VideoRequest, source: Generation | None, *, skip: str | None
) -> list[Route]:
    """The model's routes for this request, best first: only the source's provider for an extend or a
    remix, and never `skip` ("provider:model id"), a route whose provider failed this generation."""
    assert request.duration and request.resolution and request.aspect_ratio
    routes = offer.routes_for(
        mode=request.mode,
        duration=request.duration,
        resolution=request.resolution,
        aspect_ratio=request.aspect_ratio,
    )
    if source is not None:
        routes = [r for r in routes if r.provider == source.route_provider]
    return [r for r in routes if f"{r.provider}:{r.provider_model_id(request.mode)}" != skip]


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
