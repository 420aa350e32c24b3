"""Credits: Stars purchases, admin adjustments and other wallet movements, each idempotent by its key.

Generation debits and refunds are not here: they happen inside the generation lifecycle, in the same
atomic step as the status change they pay for (services/generations.py). A movement that happened logs
one INFO line; a replayed one (same key) logs nothing here.
"""

from __future__ import annotations

import logging

from storage.interfaces import AccountStore
from storage.records import Applied, LedgerEntry, LedgerKind, LedgerOutcome, NewLedgerEntry, NewPayment, User

log = logging.getLogger(__name__)


class Wallet:
    def __init__(self, store: AccountStore, *, welcome_credits: int = 0) -> None:
        self._store = store
        self._welcome_credits = welcome_credits

    async def register(self, user_id: int, *, username: str | None, language: str | None) -> User:
        """Record the user on every update; a new one gets the trial credits (WELCOME_CREDITS) once, in the
        same transaction that creates them (ledger key `welcome:<user_id>`)."""
        user = await self._store.ensure_user(
            user_id, username=username, language=language, welcome_credits=self._welcome_credits
        )
        if user.blocked:
            await self._store.set_user_blocked(user.id, False)
        return user

    async def balance(self, user_id: int) -> int:
        user = await self._store.get_user(user_id)
        return 0 if user is None else user.balance

    async def purchase(
        self,
        *,
        user_id: int,
        charge_id: str,
        stars: int,
        credits: int,
        payload: str,
        provider_charge_id: str | None = None,
    ) -> LedgerOutcome:
        """Credit a Stars payment once per Telegram charge id, however often the update arrives."""
        if credits <= 0 or stars <= 0:
            raise ValueError("a purchase buys a positive number of credits for a positive number of stars")
        outcome = await self._store.record_payment(
            NewPayment(
                charge_id=charge_id,
                user_id=user_id,
                stars=stars,
                credits=credits,
                payload=payload,
                provider_charge_id=provider_charge_id,
            )
        )
        if isinstance(outcome, Applied):
            log.info(
                "Stars payment %s credited: user %s paid %d Stars for %d credits (%s invoice), balance %d",
                charge_id,
                user_id,
                stars,
                credits,
                payload.partition(":")[0],
                outcome.balance,
            )
        return outcome

    async def admin_adjust(
        self, *, admin_id: int, operation_id: int | str, user_id: int, delta: int, reason: str | None = None
    ) -> LedgerOutcome:
        """Top up (delta > 0) or deduct (delta < 0). `operation_id` (the command's chat and message id) makes
        a re-delivered admin command a no-op; a deduction never takes the balance below zero."""
        if delta == 0:
            raise ValueError("an adjustment of zero credits changes nothing")
        outcome = await self._store.apply_ledger_entry(
            NewLedgerEntry(
                user_id=user_id,
                delta=delta,
                kind=LedgerKind.ADMIN,
                idempotency_key=f"admin:{admin_id}:{operation_id}",
                admin_id=admin_id,
                reason=reason,
            )
        )
        if isinstance(outcome, Applied):
            log.info(
                "admin %s by %s: user %s %+d credits, balance %d, reason %r",
                "top-up" if delta > 0 else "deduction",
                admin_id,
                user_id,
                delta,
                outcome.balance,
                reason,
            )
        return outcome

    async def debit(self, *, user_id: int, amount: int, key: str, reason: str | None = None) -> LedgerOutcome:
        """A charge that is not a generation (those are debited with their row); `key` makes it once-only."""
        if amount <= 0:
            raise ValueError("a debit takes a positive number of credits")
        if key.startswith(("gen:", "refund:", "purchase:", "admin:", "payment_refund:", "welcome:")):
            raise ValueError(f"{key!r} uses a key prefix reserved for another kind of entry")
        return await self._store.apply_ledger_entry(
            NewLedgerEntry(
                user_id=user_id, delta=-amount, kind=LedgerKind.DEBIT, idempotency_key=key, reason=reason
            )
        )

    async def history(self, user_id: int, *, limit: int = 20) -> list[LedgerEntry]:
        return await self._store.list_ledger(user_id, limit=limit)
