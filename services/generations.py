"""The generation lifecycle: paid → queued → running → succeeded → delivered, or failed/cancelled + refund.

Every step is one guarded storage operation ("only from these statuses"), so duplicate provider
callbacks, a poll racing a callback, two replicas or a restart can never apply an outcome twice. Each
step that happened logs one INFO line with the generation and user id, so a duplicate logs nothing.
"""

from __future__ import annotations

import copy
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from services.catalog import AvailableModel, Catalog, Route
from services.moderation import Moderation
from services.pricing import quote
from services.providers.base import ProviderError, VideoProvider
from services.providers.registry import Providers
from services.settings import Settings
from services.validation import SEED_MAX, Problem, validate_request
from services.video_request import VideoRequest
from storage.interfaces import GenerationStore, UserStore
from storage.records import (
    ACTIVE_STATUSES,
    REFUNDED_STATUSES,
    Generation,
    GenerationCreated,
    GenerationStatus,
    InsufficientFunds,
    NewGeneration,
    NotRefundable,
    Refunded,
    RefundOutcome,
    TooManyActive,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
#: A provider's error text may quote a signed URL: its query string (the token) never reaches the log.
_URL_QUERY = re.compile(r"(https?://[^\s?#]+)[?#]\S*")
_DETAIL_LIMIT = 300


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Invalid:
    """The request cannot be made as asked, or not by this user (a ban, a refused prompt); nothing was
    charged."""

    problems: list[Problem]


@dataclass(frozen=True, slots=True)
class Succeeded:
    generation: Generation
    #: True when the video arrived after the generation had already failed and been refunded.
    late: bool


@dataclass(frozen=True, slots=True)
class Ignored:
    """The outcome was already applied (duplicate callback, second poller) or the id is unknown."""

    generation: Generation | None


@dataclass(frozen=True, slots=True)
class LimitReached:
    """A per-user limit stops this order: too many generations in flight, or too many orders a minute."""

    kind: Literal["active", "rate"]
    limit: int


CreateResult = GenerationCreated | InsufficientFunds | Invalid | LimitReached
SuccessResult = Succeeded | Ignored

_QUEUED = frozenset({GenerationStatus.QUEUED})
_RUNNING = frozenset({GenerationStatus.RUNNING})
_SUCCEEDED = frozenset({GenerationStatus.SUCCEEDED})
#: The most videos of one request an order may ask for (the summary's "Variants" row).
MAX_VARIANTS = 4


class GenerationService:
    def __init__(
        self,
        store: GenerationStore,
        catalog: Catalog,
        settings: Settings,
        providers: Providers,
        *,
        clock: Clock = utcnow,
        moderation: Moderation | None = None,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._settings = settings
        self._providers = providers
        self._clock = clock
        self._moderation = moderation
        self.offers: dict[str, AvailableModel] = {
            o.model.key: o for o in catalog.available(settings.usable_providers())
        }
        self._placed: list[Callable[[Generation], None]] = []

    def through(self, store: GenerationStore) -> GenerationService:
        """The same service (its offers, its listeners) over another path to the data: the poller's lane."""
        twin = copy.copy(self)
        twin._store = store
        return twin

    def when_placed(self, listener: Callable[[Generation], None]) -> None:
        """Call `listener` with every newly paid generation (the poller submits it at once)."""
        self._placed.append(listener)

    def offer(self, model_key: str) -> AvailableModel | None:
        return self.offers.get(model_key)

    def model_name(self, model_key: str) -> str:
        """The model as the screens name it (Catalog.name_of), whether or not it is offered now."""
        return self._catalog.name_of(model_key)

    def price(self, request: VideoRequest) -> int | None:
        offer = self.offers.get(request.model)
        return None if offer is None else quote(offer.model, request)

    def check(self, request: VideoRequest) -> list[Problem]:
        offer = self.offers.get(request.model)
        if offer is None:
            return [Problem("error-model-unavailable", {"model": request.model})]
        return validate_request(request, offer)

    async def screen(self, user_id: int, request: VideoRequest) -> list[Problem]:
        """Why this user may not order this now (an admin's ban, a prompt the moderation refuses), before
        anything is charged or invoiced; [] when they may. Refused prompts go to the audit trail."""
        return [] if self._moderation is None else await self._moderation.screen(user_id, request)

    async def create(
        self, *, user_id: int, chat_id: int, request: VideoRequest, request_key: str | None = None
    ) -> CreateResult:
        """Validate, screen (ban, moderation), price, then debit and insert the row in one atomic step.

        `request_key` (e.g. the callback query id of the "pay" button) turns a double tap into one order.
        """
        problems = self.check(request) or await self.screen(user_id, request)
        if problems:
            return Invalid(problems)
        limited = await self._limit(user_id)
        if limited is not None:
            return limited
        offer = self.offers[request.model]
        request = request.with_defaults(offer.model)
        assert request.duration and request.resolution and request.aspect_ratio
        routes = offer.routes_for(
            mode=request.mode,
            duration=request.duration,
            resolution=request.resolution,
            aspect_ratio=request.aspect_ratio,
        )
        now = self._clock()
        timeout = self._settings.provider(routes[0].provider).hard_timeout_minutes
        created = await self._store.create_generation(
            NewGeneration(
                id=uuid.uuid4().hex,
                user_id=user_id,
                chat_id=chat_id,
                model=request.model,
                mode=request.mode,
                prompt=request.prompt.strip(),
                request=request.model_dump(mode="json"),
                cost=quote(offer.model, request),
                created_at=now,
                deadline_at=now + timedelta(minutes=timeout),
                request_key=request_key,
                max_active=self._settings.max_active_generations,
            )
        )
        if isinstance(created, TooManyActive):
            return LimitReached("active", created.limit)
        if isinstance(created, GenerationCreated) and created.new:
            placed = created.generation
            log.info(
                "generation %s placed: user %s, model %s (%s), %d credits",
                placed.id,
                user_id,
                placed.model,
                placed.mode,
                placed.cost,
            )
            for listener in self._placed:
                listener(placed)
        return created

    async def _limit(self, user_id: int) -> LimitReached | None:
        """The submit rate, a soft cap: two orders at the same instant may both pass (each is still paid
        for). The cap on generations in flight is exact: the store counts them with the insert."""
        rate = self._settings.max_submits_per_minute
        since = self._clock() - timedelta(minutes=1)
        if await self._store.count_generations_since(user_id, since) >= rate:
            return LimitReached("rate", rate)
        return None

    async def begin_submit(
        self, generation_id: str, *, request_id: str, provider: str, provider_model_id: str
    ) -> Generation | None:
        """Record the create about to be sent to this route, before it is sent; None when the generation
        is no longer queued (cancelled) or another create is on record (it is never sent twice)."""
        return await self._store.begin_submit(
            generation_id,
            request_id=request_id,
            provider=provider,
            provider_model_id=provider_model_id,
            now=self._clock(),
        )

    async def end_submit(self, generation_id: str, *, request_id: str) -> None:
        """The provider refused the create outright: another one (the next route, a later retry) may go."""
        await self._store.end_submit(generation_id, request_id=request_id, now=self._clock())

    async def mark_running(
        self,
        generation_id: str,
        *,
        provider: str,
        provider_model_id: str,
        task_id: str,
        provider_result: str | None = None,
    ) -> Generation | None:
        """The provider accepted the task; the hard timeout now counts from this route's provider.

        `provider_result` is the result of a task that was done on submit (a synchronous route): kept in
        the same step, so a restart downloads it instead of asking the provider again.
        """
        now = self._clock()
        timeout = self._settings.provider(provider).hard_timeout_minutes
        running = await self._store.transition_generation(
            generation_id,
            to=GenerationStatus.RUNNING,
            allowed_from=_QUEUED,
            fields={
                "route_provider": provider,
                "route_model_id": provider_model_id,
                "provider_task_id": task_id,
                "provider_result": provider_result,
                "progress": 0,
                "deadline_at": now + timedelta(minutes=timeout),
                "next_poll_at": now + timedelta(seconds=self._settings.poll_interval_seconds),
            },
            now=now,
        )
        if running is not None:
            log.info(
                "generation %s submitted: user %s, route %s %s, task %s",
                generation_id,
                running.user_id,
                provider,
                provider_model_id,
                task_id,
            )
        return running

    async def requeue(
        self, generation: Generation, *, failed_route: str, reason: str | None
    ) -> Generation | None:
        """The provider failed the accepted task on its own side: back to `queued` for the model's next
        route, once, under the same debit; None when it moved on meanwhile or went this way before."""
        assert generation.route_provider is not None
        now = self._clock()
        timeout = self._settings.provider(generation.route_provider).hard_timeout_minutes
        moved = await self._store.requeue_generation(
            generation.id, failed_route=failed_route, deadline_at=now + timedelta(minutes=timeout), now=now
        )
        if moved is not None:
            log.info(
                "generation %s rerouted: user %s, route %s failed on its side (%s)",
                generation.id,
                moved.user_id,
                failed_route,
                _URL_QUERY.sub(r"\1?…", reason or "no reason")[:_DETAIL_LIMIT],
            )
        return moved

    async def mark_succeeded(
        self,
        generation_id: str,
        *,
        result_path: str,
        result_meta: dict[str, Any] | None = None,
        provider_result: str | None = None,
    ) -> SuccessResult:
        """Record the stored video. After a refund the video is still kept and delivered, free of charge.

        `next_poll_at` marks the delivery as pending, so a restart before the upload still delivers it.
        """
        now = self._clock()
        stored = {
            "result_path": result_path,
            "result_meta": result_meta,
            "provider_result": provider_result,
            "next_poll_at": now,
        }
        generation = await self._store.transition_generation(
            generation_id,
            to=GenerationStatus.SUCCEEDED,
            allowed_from=ACTIVE_STATUSES,
            fields={**stored, "progress": 100},
            now=now,
        )
        if generation is None:
            current = await self._store.get_generation(generation_id)
            if current is None or current.status not in REFUNDED_STATUSES or current.result_path is not None:
                return Ignored(current)
            generation = await self._store.update_generation(
                generation_id, only_if=REFUNDED_STATUSES, fields=stored, now=now
            )
            if generation is None:
                return Ignored(current)
        late = generation.status in REFUNDED_STATUSES
        size = (result_meta or {}).get("size")
        log.info(
            "generation %s done: user %s, video stored (%s bytes)%s",
            generation_id,
            generation.user_id,
            size,
            ", after its refund: delivered free" if late else "",
        )
        return Succeeded(generation, late=late)

    async def mark_delivered(self, generation_id: str, *, file_id: str | None) -> Generation | None:
        """The video reached the chat; `file_id` lets /library resend it without an upload."""
        now = self._clock()
        generation = await self._store.transition_generation(
            generation_id,
            to=GenerationStatus.DELIVERED,
            allowed_from=_SUCCEEDED,
            fields={"file_id": file_id, "next_poll_at": None},
            now=now,
        )
        if generation is None:
            current = await self._store.get_generation(generation_id)
            if current is None or current.status not in REFUNDED_STATUSES or current.result_path is None:
                return None
            if current.delivered_at is not None:
                return None
            generation = await self._store.update_generation(
                generation_id,
                only_if=REFUNDED_STATUSES,
                fields={"file_id": file_id, "delivered_at": now, "next_poll_at": None},
                now=now,
            )
            if generation is None:
                return None
        log.info(
            "generation %s delivered: user %s, %s",
            generation_id,
            generation.user_id,
            "as a link" if file_id is None else "uploaded",
        )
        return generation

    async def fail(self, generation_id: str, *, code: str, message: str | None = None) -> RefundOutcome:
        """Failed for any reason (provider error, safety filter, no video, hard timeout): refund once."""
        outcome = await self._store.end_with_refund(
            generation_id,
            to=GenerationStatus.FAILED,
            allowed_from=ACTIVE_STATUSES,
            error_code=code,
            error_message=message,
            now=self._clock(),
        )
        _log_refund(outcome, code if message is None else f"{code} ({message})")
        return outcome

    async def cancel(self, generation_id: str, *, user_id: int) -> RefundOutcome:
        """The owner's cancel button: refund while queued, or while running if the provider stops it."""
        generation = await self.get_for_user(generation_id, user_id)
        if generation is None:
            return NotRefundable(None)
        if generation.status is GenerationStatus.QUEUED:
            return await self.refund_cancelled(generation_id, user_id=user_id, provider_stopped=False)
        if generation.status is not GenerationStatus.RUNNING or generation.provider_task_id is None:
            return NotRefundable(generation)
        adapter = self.adapter(generation)
        if not adapter.can_cancel:
            return NotRefundable(generation)
        try:
            stopped = await adapter.cancel(generation.provider_task_id)
        except ProviderError as error:
            log.warning("cancel of %s failed: %s", generation_id, error)
            return NotRefundable(generation)
        if not stopped:
            return NotRefundable(generation)
        return await self.refund_cancelled(generation_id, user_id=user_id, provider_stopped=True)

    async def refund_cancelled(
        self, generation_id: str, *, user_id: int, provider_stopped: bool
    ) -> RefundOutcome:
        """End the owner's generation as cancelled with its refund: always while queued, while running
        only once the provider has stopped the task (a running task still costs the operator)."""
        current = await self._store.get_generation(generation_id)
        if current is None or current.user_id != user_id:
            return NotRefundable(None)
        allowed = ACTIVE_STATUSES if provider_stopped else _QUEUED
        outcome = await self._store.end_with_refund(
            generation_id,
            to=GenerationStatus.CANCELLED,
            allowed_from=allowed,
            error_code="cancelled",
            error_message=None,
            now=self._clock(),
        )
        _log_refund(outcome, "cancelled by the user")
        return outcome

    def route(self, generation: Generation) -> Route | None:
        """The catalog route this generation's task runs on (or its create went to), while still listed."""
        model = self._catalog.get(generation.model)
        if generation.route_provider is None or model is None:
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

    def adapter(self, generation: Generation) -> VideoProvider:
        """The adapter running this generation's task: its route's (which may name another adapter of
        the same provider), or the provider's own when the route left the catalog meanwhile."""
        provider = generation.route_provider
        if provider is None:
            raise LookupError(f"generation {generation.id} has no route yet")
        route = self.route(generation)
        return self._providers.for_route(route) if route is not None else self._providers.for_key(provider)

    async def get_for_user(self, generation_id: str, user_id: int) -> Generation | None:
        """The generation only if `user_id` owns it: forged or foreign ids look the same as unknown ones."""
        generation = await self._store.get_generation(generation_id)
        return generation if generation is not None and generation.user_id == user_id else None

    async def create_variants(
        self, *, user_id: int, chat_id: int, request: VideoRequest, count: int, request_key: str
    ) -> list[CreateResult]:
        """`count` videos of one request, each a generation of its own (`create`): priced, debited with its
        own ledger entry, delivered or refunded on its own. Variant i goes under request key
        `<request_key>:v<i>` and, when the user set a seed, with seed + i (the same seed would make the
        same video).

        All or none: the balance, MAX_ACTIVE_GENERATIONS and the submit rate must take every variant not
        placed yet before the first is debited, else that one refusal is the answer. Variants a double tap
        or a replayed payment placed before are returned as they are, neither placed nor counted again, so
        an order never makes more than `count`. The results come in variant order; a refusal can only
        stop the rest mid-way when something changed meanwhile, and the variants before it stand, each a
        complete paid order.
        """
        if not 1 <= count <= MAX_VARIANTS:
            return [Invalid([Problem("error-variants-count", {"max": MAX_VARIANTS})])]
        problems = self.check(request) or await self.screen(user_id, request)
        if problems:
            return [Invalid(problems)]
        model = self.offers[request.model].model
        variants = [
            request
            if request.seed is None
            else request.model_copy(update={"seed": (request.seed + i) % (SEED_MAX + 1)})
            for i in range(count)
        ]
        keys = [f"{request_key}:v{i}" for i in range(count)]
        costs = [quote(model, variant) for variant in variants]
        store = self._store
        assert isinstance(store, UserStore), "the composition root hands every service the whole Store"
        # Read before looking for placed variants: one that a concurrent tap places meanwhile is then
        # found, or was placed after these reads by an order that had checked them all.
        user = await store.get_user(user_id)
        balance = 0 if user is None else user.balance
        active = await store.count_active_generations(user_id)
        recent = await store.count_generations_since(user_id, self._clock() - timedelta(minutes=1))
        placed = [
            await self._placed_before(user_id, chat_id, variant, cost, key)
            for variant, cost, key in zip(variants, costs, keys, strict=True)
        ]
        missing = [cost for cost, found in zip(costs, placed, strict=True) if found is None]
        rate, cap = self._settings.max_submits_per_minute, self._settings.max_active_generations
        refusal: CreateResult | None = None
        if missing and recent + len(missing) > rate:
            refusal = LimitReached("rate", rate)
        elif missing and active + len(missing) > cap:
            refusal = LimitReached("active", cap)
        elif balance < sum(missing):
            refusal = InsufficientFunds(balance=balance, required=sum(missing))
        if refusal is not None:
            return [*(found for found in placed if found is not None), refusal]
        results: list[CreateResult] = []
        for variant, key, found in zip(variants, keys, placed, strict=True):
            result = found or await self.create(
                user_id=user_id, chat_id=chat_id, request=variant, request_key=key
            )
            results.append(result)
            if not isinstance(result, GenerationCreated):
                log.warning(
                    "variants %s of user %s: %d of %d placed, then %s",
                    request_key,
                    user_id,
                    len(results) - 1,
                    count,
                    type(result).__name__,
                )
                break
        return results

    async def _placed_before(
        self, user_id: int, chat_id: int, request: VideoRequest, cost: int, request_key: str
    ) -> GenerationCreated | None:
        """The generation `request_key` placed before, read without placing one: the store answers a known
        key with its generation before it counts generations in flight (storage/interfaces.py
        create_generation), and a cap of 0 lets no new one in."""
        now = self._clock()
        found = await self._store.create_generation(
            NewGeneration(
                id=uuid.uuid4().hex,
                user_id=user_id,
                chat_id=chat_id,
                model=request.model,
                mode=request.mode,
                prompt=request.prompt.strip(),
                request=request.model_dump(mode="json"),
                cost=cost,
                created_at=now,
                deadline_at=now,
                request_key=request_key,
                max_active=0,
            )
        )
        return found if isinstance(found, GenerationCreated) else None


def _log_refund(outcome: RefundOutcome, reason: str) -> None:
    if isinstance(outcome, Refunded):
        generation = outcome.generation
        reason = _URL_QUERY.sub(r"\1?…", reason)[:_DETAIL_LIMIT]
        log.info(
            "generation %s refunded: user %s, %d credits, reason %s",
            generation.id,
            generation.user_id,
            outcome.entry.delta,
            reason,
        )
