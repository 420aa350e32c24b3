"""The lease loop between "paid" and "video in the chat".

The poller's loop (`run`) claims due generations into its free room the moment they are due: a paid
generation is submitted at once (`submit_now`), a completion seen by a poll is delivered in the same
pass, and the next poll happens when the row asks for it — the loop sleeps until the earliest next poll
it knows of (rows other replicas released are found within one poll interval). Claiming never waits for
earlier work to finish, so one hanging provider request holds only its own slot: work is bounded
overall (POLL_CONCURRENCY) and per provider (PROVIDER_CONCURRENCY), and rows of a provider whose budget
is taken are handed back at once instead of crowding out the others. Leases mean a second replica or a
restarted process never works the same row at the same time.

What a step does lives in its own module: `submission` (routes and failover), `outcomes` (what a status
means: keep polling, keep the video, fail and refund), `delivery` (what the user sees). Provider
callbacks enter through `on_callback` and run the very same code. Money moves only through
GenerationService's guarded, atomic transitions: a duplicate callback, a poll racing a callback, two
replicas or a restart can never deliver twice for one debit or refund twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import os
import random
import socket
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.generations import Clock, GenerationService, utcnow
from services.next_step import Backoff, Failure, PollAgain, ProviderFault, RetryLater, Step
from services.outcomes import Outcomes
from services.poll_timing import backoff_gap, poll_gap
from services.providers.base import ErrorKind, ProviderError, ResultRef, TaskState, TaskStatus
from services.settings import Settings
from services.submission import Submission, stop_task
from storage.interfaces import GenerationStore
from storage.records import REFUNDED_STATUSES, Generation, GenerationStatus

log = logging.getLogger(__name__)

#: How long `stop()` lets in-flight work finish before cancelling it and releasing the leases.
STOP_GRACE_SECONDS = 10.0
#: Rows of one provider held at once, as a multiple of its concurrency: the rest wait in the database,
#: where the other providers' rows can pass them.
PROVIDER_HOLD_FACTOR = 2
#: The loop wakes no more often than this for the next known poll (times closer together are one pass).
_WAKE_RESOLUTION_SECONDS = 0.05
#: After the store failed to answer a claim, the loop waits this long (or one poll interval if shorter).
_CLAIM_RETRY_SECONDS = 5.0


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
        #: Generations this process holds a lease on and works (or is about to), by id.
        self._held: dict[str, asyncio.Task[None]] = {}
        #: Held rows per provider ("-" for a queued row that has no route yet).
        self._held_by_provider: Counter[str] = Counter()
        #: Row fields (progress, status message id, error count) written with the lease release, so a
        #: status check costs one database write.
        self._with_release: defaultdict[str, dict[str, Any]] = defaultdict(dict)
        #: Next polls of the rows this process released: the loop wakes for the earliest.
        self._next_polls: list[datetime] = []
        self._room = asyncio.Event()  # set whenever held work finishes
        self._wake = asyncio.Event()  # set when the loop should claim now
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        self._sleeping_until: datetime | None = None
        self._claimed = 0  # rows leased so far, for TickReport
        self._heartbeat: asyncio.Task[None] | None = None
        self._stopping = False

    # the loop

    def start(self) -> None:
        """Run the loop in the background until `stop()`."""
        if self._loop is None or self._loop.done():
            self._loop = asyncio.create_task(self.run())

    async def run(self) -> None:
        """Claim due rows whenever there is room and something is due; sleep until the next poll known
        (at most one poll interval, for rows other replicas released)."""
        self._ensure_heartbeat()
        while not self._stopping:
            self._wake.clear()
            try:
                full = await self._claim(self._clock())
            except Exception as error:  # a store outage: keep the loop, try again shortly
                log.warning("poller: claiming due generations failed: %s", error)
                await self._sleep(min(_CLAIM_RETRY_SECONDS, self._settings.poll_interval_seconds))
                continue
            if full:  # more is due than there is room for: claim again as soon as work finishes
                self._room.clear()
                await self._first(self._room.wait(), self._wake.wait())
            else:
                await self._sleep(self._until_next_poll())

    def submit_now(self, generation: Generation) -> None:
        """A generation was just paid for: claim and submit it now rather than at its first poll."""
        if not self._stopping and generation.id not in self._held:
            self._spawn(self._claim_one(generation.id))

    async def tick(self) -> TickReport:
        """Work everything due now and return when it is done, the work in flight included (a manual run,
        the tests); the loop (`run`) does the same without waiting."""
        started = time.monotonic()
        due_at = self._clock()
        self._ensure_heartbeat()
        claimed_before = self._claimed
        more = True
        while True:
            if more and not self._stopping and len(self._held) < self._settings.poll_concurrency:
                more = await self._claim(due_at)
            if not self._held:
                break
            self._room.clear()
            await self._room.wait()  # O(1) per finished row, unlike asyncio.wait over the whole set
        if self._tasks:  # rows handed back, callbacks
            await asyncio.wait(set(self._tasks))
        return TickReport(self._claimed - claimed_before, time.monotonic() - started)

    async def sweep(self) -> int:
        """End generations past their hard timeout, even when ordinary polls are backed up."""
        rows = await self._store.claim_due_generations(
            now=self._clock(),
            owner=self.owner,
            lease_seconds=self._settings.poll_lease_seconds,
            limit=self._settings.poll_concurrency,
            overdue_only=True,
        )
        started = [self._hold(g) for g in rows]
        if started:
            await asyncio.wait(started)
        return len(rows)

    async def finish_work_on(self, generation_id: str) -> None:
        """Wait until this process's current work on the generation, if any, is done (its lease freed)."""
        task = self._held.get(generation_id)
        if task is not None:
            await asyncio.wait({task})

    async def drain(self) -> None:
        """Wait until background work (callbacks accepted so far, work held) has finished."""
        while self._tasks or self._held:
            await asyncio.wait({*self._tasks, *self._held.values()})

    async def stop(self, *, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """Take no new work, let running work finish for a moment, then cancel it and free its leases."""
        self._stopping = True
        self._wake.set()
        if self._loop is not None:
            await asyncio.wait({self._loop})
        work = {*self._tasks, *self._held.values()}
        if work:
            _done, still = await asyncio.wait(work, timeout=grace_seconds)
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
        if found.id in self._held:
            log.info("%s callback for %s: this process is working on it", provider, found.id)
            return
        if await self._claim_one(found.id) is None:
            log.info("%s callback for %s: a poll is working on it", provider, found.id)

    # claiming

    async def _claim(self, due_at: datetime) -> bool:
        """Lease due rows into the free room (twice the concurrency, so a slot freed is filled at once);
        True when the room was filled, i.e. more may be due."""
        want = 2 * self._settings.poll_concurrency - len(self._held)
        if want <= 0:
            return True
        rows = await self._store.claim_due_generations(
            now=due_at, owner=self.owner, lease_seconds=self._settings.poll_lease_seconds, limit=want
        )
        self._claimed += len(rows)
        for generation in rows:
            if generation.id in self._held:  # a lease that ran out under us: ours still works it
                continue
            key = self._provider_key(generation)
            if self._held_by_provider[key] >= self._provider_hold:
                self._spawn(self._hand_back(generation, key))
            else:
                self._hold(generation)
        return len(rows) == want

    async def _claim_one(self, generation_id: str) -> Generation | None:
        """Lease one row by id and work it (a fresh order, a callback); None when it is leased already."""
        lease = self._settings.poll_lease_seconds
        generation = await self._store.claim_generation(
            generation_id, now=self._clock(), owner=self.owner, lease_seconds=lease
        )
        if generation is None or generation.id in self._held:
            return None
        self._claimed += 1
        await self._hold(generation)
        return generation

    def _hold(self, generation: Generation) -> asyncio.Task[None]:
        key = self._provider_key(generation)
        self._held_by_provider[key] += 1
        task = asyncio.create_task(self._work(generation, key))
        self._held[generation.id] = task

        def finished(_: asyncio.Task[None]) -> None:
            self._held.pop(generation.id, None)
            self._held_by_provider[key] -= 1
            self._room.set()

        task.add_done_callback(finished)
        return task

    async def _hand_back(self, generation: Generation, provider: str) -> None:
        """A row of a provider whose budget is taken (hanging requests, a backlog): back to the queue
        for the provider's next poll, untouched, so the rows behind it are claimed in its place."""
        later = self._next_poll(provider, None)
        await self._store.release_generation(generation.id, owner=self.owner, next_poll_at=later)

    def _provider_key(self, generation: Generation) -> str:
        """Whose budget a row counts against: its route's provider; for a queued row not yet routed, the
        provider its model is tried on first ("-" if it has none)."""
        if generation.route_provider is not None:
            return generation.route_provider
        offer = self._generations.offer(generation.model)
        return offer.routes[0].provider if offer is not None and offer.routes else "-"

    @property
    def _provider_hold(self) -> int:
        return PROVIDER_HOLD_FACTOR * self._settings.provider_concurrency

    # waiting

    def _until_next_poll(self) -> float:
        """Seconds until the earliest next poll this process knows of, at most one poll interval."""
        now = self._clock()
        while self._next_polls and self._next_polls[0] <= now:
            heapq.heappop(self._next_polls)
        gap = self._settings.poll_interval_seconds
        if self._next_polls:
            gap = min(gap, (self._next_polls[0] - now).total_seconds())
        return max(gap, _WAKE_RESOLUTION_SECONDS)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, unless woken (a fresh order, an earlier next poll, `stop()`)."""
        self._sleeping_until = self._clock() + timedelta(seconds=seconds)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        finally:
            self._sleeping_until = None

    @staticmethod
    async def _first(*waits: Coroutine[Any, Any, Any]) -> None:
        tasks = [asyncio.ensure_future(w) for w in waits]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()

    # one generation

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _work(self, generation: Generation, provider: str) -> None:
        """Advance one leased generation, then release the lease with the time of its next poll.

        The provider's slot is taken before the overall one, so rows waiting for a busy provider do not
        hold slots the other providers' rows could use."""
        next_poll: datetime | None = None
        try:
            async with self._provider_slots[provider], self._slots:
                next_poll = await self._advance(generation)
        except asyncio.CancelledError:
            next_poll = self._clock()  # stopped half-way: the next owner starts over at once
            raise
        except Exception:  # one broken row (a malformed reply, a bug) must not stop the others
            log.exception("generation %s: unexpected error; retrying later", generation.id)
            next_poll = self._backoff(generation, None)
        finally:
            fields = self._with_release.pop(generation.id, None)
            await asyncio.shield(
                self._store.release_generation(
                    generation.id, owner=self.owner, next_poll_at=next_poll, fields=fields
                )
            )
            if next_poll is not None:
                self._remember_next_poll(next_poll)

    def _remember_next_poll(self, when: datetime) -> None:
        """Keep the row's next poll for the loop, and wake it if it sleeps past that."""
        heapq.heappush(self._next_polls, when)
        if self._sleeping_until is not None and when < self._sleeping_until:
            self._wake.set()

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
        """A running task: poll it, and act on what it says. A task that runs out of time or that its
        provider lost counts against its route (`Outcomes.judged`), as a failed status does."""
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
                    raise self._outcomes.judged(generation, Failure("timeout", error.message)) from None
                if error.kind is ErrorKind.NOT_FOUND and generation.attempts:
                    # Not found, right after a poll that failed too: the provider lost the task it accepted.
                    gone = ProviderFault("provider_failed", f"the task is gone: {error.message}")
                    raise self._outcomes.judged(generation, gone) from None
                raise RetryLater(f"status poll failed: {error}", retry_after=error.retry_after) from None
        if overdue and status.state in (TaskState.QUEUED, TaskState.RUNNING):
            await stop_task(adapter, generation.provider_task_id)
            raise self._outcomes.judged(generation, Failure("timeout"))
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
        return self._clock() + timedelta(seconds=poll_gap(self._settings, provider, hint))

    def _backoff(self, generation: Generation, hint: float | None) -> datetime:
        """Exponential backoff with jitter from the row's error count; a provider's hint wins if longer."""
        attempts = generation.attempts + 1
        self._with_release[generation.id]["attempts"] = attempts
        gap = backoff_gap(
            self._settings, generation.route_provider, attempts, hint, jitter=random.uniform(0.8, 1.2)
        )
        return self._clock() + timedelta(seconds=gap)

    def _ensure_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.ensure_future(self._renew_leases())

    async def _renew_leases(self) -> None:
        """Keep leases of long work (a big download or upload) from expiring under us."""
        lease = self._settings.poll_lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            if self._held:
                await self._store.extend_leases(
                    sorted(self._held), owner=self.owner, now=self._clock(), lease_seconds=lease
                )
