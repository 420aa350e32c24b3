"""The lease loop between "paid" and "video in the chat": tick, sweep, heartbeat.

Every tick leases due generations (so a second replica or a restarted process never works the same row at
the same time), works them with bounded concurrency overall and per provider, and releases each lease
with the time of its next poll. What a step does lives in its own module: `submission` (routes and
failover), `outcomes` (what a status means: keep polling, keep the video, fail and refund), `delivery`
(what the user sees). Provider callbacks enter through `on_callback` and run the very same code, so a
callback makes delivery immediate and polling stays the safety net. Money moves only through
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
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.generations import Clock, GenerationService, utcnow
from services.next_step import Backoff, Failure, PollAgain, ProviderFault, RetryLater, Step
from services.outcomes import Outcomes
from services.providers.base import ErrorKind, ProviderError, ResultRef, TaskState, TaskStatus
from services.settings import Settings
from services.submission import Submission, stop_task
from storage.interfaces import GenerationStore
from storage.records import REFUNDED_STATUSES, Generation, GenerationStatus

log = logging.getLogger(__name__)

_BACKOFF_MAX_SECONDS = 300.0
#: Never poll one task twice within this, whatever a provider hints (a hint of 0 would spin).
MIN_GAP_SECONDS = 1.0
#: How long `stop()` lets in-flight work finish before cancelling it and releasing the leases.
STOP_GRACE_SECONDS = 10.0


def lease_owner() -> str:
    """A lease owner unique per process, readable in the database when debugging a stuck row."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class TickReport:
    claimed: int
    seconds: float


class Poller:
    def __init__(
        self,
        *,
        store: GenerationStore,
        generations: GenerationService,
        submission: Submission,
        outcomes: Outcomes,
        settings: Settings,
        clock: Clock = utcnow,
        owner: str | None = None,
    ) -> None:
        self._store = store
        self._generations = generations
        self._submission = submission
        self._outcomes = outcomes
        self._settings = settings
        self._clock = clock
        #: Lease owner: unique per process, readable in the database when debugging a stuck row.
        self.owner = owner or lease_owner()
        self._slots = asyncio.Semaphore(settings.poll_concurrency)
        self._provider_slots: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.provider_concurrency)
        )
        self._working: set[str] = set()
        #: Row fields (progress, status message id, error count) written with the lease release, so a
        #: status check costs one database write.
        self._with_release: defaultdict[str, dict[str, Any]] = defaultdict(dict)
        self._tasks: set[asyncio.Task[None]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._stopping = False

    # scheduled jobs

    async def tick(self) -> TickReport:
        """Work everything due at the start of the tick, claiming leased batches as workers free up."""
        started = time.monotonic()
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
        return TickReport(claimed, time.monotonic() - started)

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

    # provider callbacks

    def accept_callback(self, provider: str, task_id: str) -> None:
        """Work a provider callback in the background, so the web handler can answer 200 at once."""
        if not self._stopping:
            self._spawn(self.on_callback(provider, task_id))

    async def on_callback(self, provider: str, task_id: str) -> None:
        """A callback is a hint, never a verdict: it says which task to look at now, and the outcome
        comes from the provider's own answer to a status read (KIE signs only taskId + timestamp, so a
        captured signature could carry another body). A duplicate finds the outcome applied; one that
        races a poll finds the row leased and leaves it to that poll."""
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
        await self._work(generation)

    # one generation

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _work(self, generation: Generation) -> None:
        """Advance one leased generation, then release the lease with the time of its next poll."""
        next_poll: datetime | None = None
        self._working.add(generation.id)
        try:
            async with self._slots, self._provider_slots[generation.route_provider or "-"]:
                next_poll = await self._advance(generation)
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

    async def _advance(self, generation: Generation) -> datetime | None:
        if generation.status in REFUNDED_STATUSES or generation.status is GenerationStatus.SUCCEEDED:
            return self._when(generation, await self._outcomes.finish_late(generation))
        if generation.status is GenerationStatus.DELIVERED:
            return None
        try:
            if generation.status is GenerationStatus.QUEUED:
                # A create on record may have made a task: the submission looks it up, even when late.
                if generation.submit_request_id is None and self._clock() >= generation.deadline_at:
                    raise Failure("timeout")
                if self._stopping:
                    return self._clock()
                step = await self._submit(generation)
            else:
                step = await self._follow(generation)
        except ProviderFault as fault:
            moved = await self._submission.requeue(generation, fault)
            if moved is None:
                await self._outcomes.fail(generation, fault)
                return None
            await self._outcomes.rerouted(moved)
            return self._clock()
        except Failure as failure:
            await self._outcomes.fail(generation, failure)
            return None
        except RetryLater as later:
            log.info("generation %s: %s", generation.id, later)
            return self._backoff(generation, later.retry_after)
        return self._when(generation, step)

    async def _submit(self, generation: Generation) -> Step:
        accepted = await self._submission.submit(generation)
        if accepted is None:
            return None
        release = self._with_release[generation.id]
        return await self._outcomes.apply(accepted.generation, accepted.adapter, accepted.status, release)

    async def _follow(self, generation: Generation) -> Step:
        """A running task: poll it, and act on what it says."""
        adapter = self._generations.adapter(generation)
        assert generation.provider_task_id is not None
        overdue = self._clock() >= generation.deadline_at
        if generation.provider_result is not None:
            # Done on submit (a synchronous route): the recorded result is the outcome, nothing to ask.
            status = TaskStatus(
                TaskState.SUCCEEDED, progress=100, result=ResultRef(generation.provider_result)
            )
        else:
            try:
                status = await adapter.status(generation.provider_task_id)
            except ProviderError as error:
                if overdue:
                    raise Failure("timeout", error.message) from None
                if error.kind is ErrorKind.NOT_FOUND and generation.attempts:
                    # Not found, right after a poll that failed too: the provider lost the task it accepted.
                    raise ProviderFault("provider_failed", f"the task is gone: {error.message}") from None
                raise RetryLater(f"status poll failed: {error}", retry_after=error.retry_after) from None
        if overdue and status.state in (TaskState.QUEUED, TaskState.RUNNING):
            await stop_task(adapter, generation.provider_task_id)
            raise Failure("timeout")
        return await self._outcomes.apply(generation, adapter, status, self._with_release[generation.id])

    # timing

    def _when(self, generation: Generation, step: Step) -> datetime | None:
        """The next poll time a step asks for."""
        if isinstance(step, PollAgain):
            return self._next_poll(generation.route_provider, step.hint)
        if isinstance(step, Backoff):
            return self._backoff(generation, step.hint)
        return None

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
