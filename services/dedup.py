"""Doing a thing once when several replicas could each do it: an update handled once (`SeenUpdates`)
and a scheduled job run by one replica per interval (`JobGate`).

Without REDIS_URL there is one process and both stay in it. With it, every replica asks Redis:

* An update is *claimed* before its handlers run (SET NX with a short expiry, `CLAIM_SECONDS`),
  *confirmed* when they returned (the key then lives `SEEN_SECONDS`, Telegram's own limit on keeping an
  update) and *released* when they raised or were cancelled. So a redelivery that arrives while some
  replica handles the update, or after one did, is skipped; one whose handler failed is handled again;
  and a replica killed mid-handler holds its claim `CLAIM_SECONDS` at most. De-duplicating only after
  success would let two replicas that got the same update at once both handle it; a claim with no
  expiry would lose forever an update whose handler died. Kept payment updates never depend on this:
  their row in the store's inbox says whether they were handled, and the replay goes past the seen-set
  (bot/inbox.py).
* A job takes a lock named after it (SET NX with an expiry of most of its interval, renewed while it
  runs, released if it fails), so one replica runs it per interval, and a dead replica's lock expires by
  itself. It is meant for jobs that are safe but wasteful to repeat (media retention, the Stars
  reconciliation); jobs whose rows are leased in the store (the hard-timeout sweep, left-over notices,
  the poller) need no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a claim on an update outlives a replica that died handling it (longer than any handler,
#: and the same as aiogram's per-user lock, RedisEventIsolation).
CLAIM_SECONDS = 60
#: How long a handled update id is remembered: Telegram keeps an undelivered update for 24 hours.
SEEN_SECONDS = 24 * 3600
#: A job's lock lasts this share of its interval, so the next run, on whichever replica, is never
#: skipped because the last lock has not quite expired.
LOCK_SHARE = 0.9
_DONE = "done"
#: Deletes a claim only if it is still the caller's (a claim that expired may be someone else's now).
_RELEASE_CLAIM = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class SeenUpdates(ABC):
    """The update ids handled, or being handled, by this bot (keys are `<bot id>:<update id>`)."""

    @abstractmethod
    async def claim(self, key: str) -> str | None:
        """A claim token when nobody handled or is handling `key`; None when someone did or does."""

    @abstractmethod
    async def confirm(self, key: str) -> None:
        """Its handlers returned: remember it as handled."""

    @abstractmethod
    async def release(self, key: str, token: str) -> None:
        """Its handlers failed: forget the claim, so that a redelivery is handled."""


class LocalSeenUpdates(SeenUpdates):
    """One process: the latest `remember` ids in memory (a restart starts afresh, as the process does)."""

    def __init__(self, remember: int = 10_000) -> None:
        self._remember = remember
        #: key → claim token while handled, `_DONE` after
        self._states: OrderedDict[str, str] = OrderedDict()

    async def claim(self, key: str) -> str | None:
        if key in self._states:
            return None
        token = uuid.uuid4().hex
        self._states[key] = token
        while len(self._states) > self._remember:
            self._states.popitem(last=False)
        return token

    async def confirm(self, key: str) -> None:
        self._states[key] = _DONE

    async def release(self, key: str, token: str) -> None:
        if self._states.get(key) == token:
            del self._states[key]


class RedisSeenUpdates(SeenUpdates):
    """Every replica of the bot: the ids in Redis, each under its own key with an expiry."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "videobot:update:",
        claim_seconds: int = CLAIM_SECONDS,
        seen_seconds: int = SEEN_SECONDS,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._claim_seconds = claim_seconds
        self._seen_seconds = seen_seconds
        self._release = redis.register_script(_RELEASE_CLAIM)

    async def claim(self, key: str) -> str | None:
        token = f"claim:{uuid.uuid4().hex}"
        if await self._redis.set(self._prefix + key, token, nx=True, ex=self._claim_seconds):
            return token
        return None

    async def confirm(self, key: str) -> None:
        await self._redis.set(self._prefix + key, _DONE, ex=self._seen_seconds)

    async def release(self, key: str, token: str) -> None:
        await self._release(keys=[self._prefix + key], args=[token])


class JobGate:
    """Runs scheduled jobs as they are: one process, nobody to share them with."""

    def once(
        self, name: str, every_seconds: float, job: Callable[[], Awaitable[T]]
    ) -> Callable[[], Awaitable[T | None]]:
        """`job`, run by one replica per `every_seconds` (here: always by this one)."""
        return job


class RedisJobGate(JobGate):
    """Replicas: a run first takes the job's lock in Redis (redis-py's Lock: a token, an expiry, release
    and renewal only by its owner); a replica that finds it taken skips that run."""

    def __init__(self, redis: Redis, *, prefix: str = "videobot:job:") -> None:
        self._redis = redis
        self._prefix = prefix

    def once(
        self, name: str, every_seconds: float, job: Callable[[], Awaitable[T]]
    ) -> Callable[[], Awaitable[T | None]]:
        ttl = max(1.0, every_seconds * LOCK_SHARE)

        @functools.wraps(job)  # APScheduler names the job after the function
        async def run() -> T | None:
            lock = self._redis.lock(self._prefix + name, timeout=ttl, blocking=False)
            try:
                if not await lock.acquire():
                    log.debug("job %s: another replica runs it in this interval", name)
                    return None
            except RedisError as error:
                log.warning("job %s skipped: Redis did not answer (%s)", name, type(error).__name__)
                return None
            renewing = asyncio.ensure_future(_renew(lock, name, ttl))
            try:
                result = await job()
            except BaseException:  # failed or cancelled: another replica may run it at once
                renewing.cancel()
                with contextlib.suppress(LockError, RedisError):
                    await lock.release()
                raise
            renewing.cancel()
            return result  # the lock stays until it expires: one run per interval

        return run


async def _renew(lock: Lock, name: str, ttl: float) -> None:
    """Keep a long run's lock from expiring under it."""
    while True:
        await asyncio.sleep(ttl / 3)
        try:
            await lock.reacquire()
        except (LockError, RedisError) as error:
            log.warning("job %s: its lock could not be renewed (%s)", name, type(error).__name__)
            return


def seen_updates(redis: Redis | None) -> SeenUpdates:
    return LocalSeenUpdates() if redis is None else RedisSeenUpdates(redis)


def job_gate(redis: Redis | None) -> JobGate:
    return JobGate() if redis is None else RedisJobGate(redis)
