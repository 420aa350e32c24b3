"""Notices owed to users after money changes: a Stars payment credited, an order confirmed, a refund
told, a Stars refund told.

The backend writes each one into the outbox in the same transaction as the change it follows (the
credit, the debit, the refund, the payment marked refunded), so no kill between the change and the
message can lose it. The step that made the change sends it at once (`send_now`, under a lease, with
its own wording and the message it edits); the sender job (`drain`, scheduled) sends whatever is left
after `NOTICE_GRACE_SECONDS` through the `NoticeSender` port. A notice is marked done only after it went out:
at least once, and once unless a kill lands between the send and the mark (then once more, after the
lease expires).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from services.generations import Clock, utcnow
from services.notifications import DeliveryDeferred, RecipientUnavailable
from storage.interfaces import Store
from storage.records import Generation, Notice, NoticeKind, NoticeOutcome, Payment, PaymentRefunded

log = logging.getLogger(__name__)

#: A sender holds a notice this long; a sender killed mid-send leaves it to the job after it.
NOTICE_LEASE_SECONDS = 120.0
#: The job leaves a fresh notice to the step that made the change (which sends it with its own words).
NOTICE_GRACE_SECONDS = 30.0
#: A notice Telegram would not take this many times is given up (logged).
MAX_NOTICE_ATTEMPTS = 20
_RETRY_MAX_SECONDS = 600.0
_BATCH = 50


@dataclass(frozen=True, slots=True)
class OwedNotice:
    """A left-over notice with what its words need, read at send time."""

    notice: Notice
    language: str | None
    #: The order or refunded generation (None for a Stars payment's notices, or if it is gone).
    generation: Generation | None
    #: The Stars payment credited or refunded (None for a generation's notices).
    payment: Payment | None
    #: The Stars refund as first recorded (for payment_refund notices).
    payment_refund: PaymentRefunded | None
    balance: int


class NoticeSender(ABC):
    """Sends a left-over notice to its chat; the Telegram layer implements it (bot/notices.py)."""

    @abstractmethod
    async def send(self, owed: OwedNotice) -> None:
        """Raise RecipientUnavailable (nobody to tell) or DeliveryDeferred (try again later)."""


class Notices:
    def __init__(
        self,
        store: Store,
        *,
        owner: str,
        sender: NoticeSender | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._store = store
        self._owner = owner
        self._sender = sender
        self._clock = clock

    async def send_now(self, key: str, send: Callable[[], Awaitable[None]]) -> bool:
        """Send the notice `key` with `send` if it is still owed and nobody else is sending it; False
        when it was told already (a double tap, a redelivered update) or is being told right now."""
        notice = await self._store.claim_notice(
            key, now=self._clock(), owner=self._owner, lease_seconds=NOTICE_LEASE_SECONDS
        )
        if notice is None:
            return False
        await self._attempt(notice, send)
        return True

    async def settle(self, key: str) -> None:
        """The notice `key` was told by another notice's message (a Stars payment that ordered a video
        is told in the order's confirmation)."""
        await self.send_now(key, _nothing)

    async def drain(self) -> int:
        """The scheduled job: send every notice still owed past the grace (its step was killed, or
        Telegram was down); returns how many went out."""
        if self._sender is None:
            raise RuntimeError("Notices.drain needs a NoticeSender")
        sender = self._sender
        now = self._clock()
        sent = 0
        while True:
            batch = await self._store.claim_due_notices(
                now=now,
                created_before=now - timedelta(seconds=NOTICE_GRACE_SECONDS),
                owner=self._owner,
                lease_seconds=NOTICE_LEASE_SECONDS,
                limit=_BATCH,
            )
            for notice in batch:
                try:
                    owed = await self._owed(notice)
                    outcome = await self._attempt(notice, partial(sender.send, owed))
                except Exception:  # one broken notice (a bug, the store) must not stop the others
                    log.exception("notice %s: unexpected error; retrying later", notice.key)
                    continue
                if outcome is NoticeOutcome.SENT:
                    sent += 1
                    log.info("notice %s sent to user %s (left over)", notice.key, notice.user_id)
            if len(batch) < _BATCH:
                return sent

    async def _attempt(self, notice: Notice, send: Callable[[], Awaitable[None]]) -> NoticeOutcome | None:
        """One try under our lease, then mark it: done, or not sent with the time of the next try."""
        retry_after: float | None = None
        try:
            await send()
        except RecipientUnavailable as gone:
            log.info("notice %s: user %s is unreachable (%s)", notice.key, notice.user_id, gone)
            await self._store.set_user_blocked(notice.user_id, True)
            outcome: NoticeOutcome | None = NoticeOutcome.UNREACHABLE
        except DeliveryDeferred as deferred:
            outcome, retry_after = None, deferred.retry_after
            if notice.attempts + 1 >= MAX_NOTICE_ATTEMPTS:
                log.warning("notice %s: giving up after %d attempts", notice.key, notice.attempts + 1)
                outcome = NoticeOutcome.GAVE_UP
            else:
                log.warning("notice %s not sent yet: %s", notice.key, deferred)
        except BaseException:
            await self._release(notice, None)
            raise
        else:
            outcome = NoticeOutcome.SENT
        if outcome is None:
            await self._release(notice, retry_after)
        else:
            await self._store.finish_notice(notice.key, owner=self._owner, now=self._clock(), outcome=outcome)
        return outcome

    async def _release(self, notice: Notice, hint: float | None) -> None:
        """Not sent: the job may take it again after a backoff (doubling with its attempts)."""
        delay = min(_RETRY_MAX_SECONDS, NOTICE_GRACE_SECONDS * 2 ** min(notice.attempts, 10))
        now = self._clock()
        await self._store.finish_notice(
            notice.key,
            owner=self._owner,
            now=now,
            outcome=None,
            retry_at=now + timedelta(seconds=max(delay, hint or 0.0)),
        )

    async def _owed(self, notice: Notice) -> OwedNotice:
        """What the notice's words need, as it is now (the balance too)."""
        user = await self._store.get_user(notice.user_id)
        generation = None
        if notice.generation_id is not None:
            generation = await self._store.get_generation(notice.generation_id)
        payment = refund = None
        if notice.charge_id is not None:
            payment = await self._store.get_payment(notice.charge_id)
        if notice.kind is NoticeKind.PAYMENT_REFUND and notice.charge_id is not None:
            # recorded already (the notice is written with it): this returns that first outcome unchanged
            refund = await self._store.record_payment_refund(notice.charge_id, now=self._clock())
        return OwedNotice(
            notice=notice,
            language=None if user is None else user.language,
            generation=generation,
            payment=payment,
            payment_refund=refund,
            balance=0 if user is None else user.balance,
        )


async def _nothing() -> None:
    """The send of a notice another message already told."""
