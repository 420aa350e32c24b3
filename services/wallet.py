"""Credits: Stars purchases, admin adjustments and other wallet movements, each idempotent by its key.

Generation debits and refunds are not here: they happen inside the generation lifecycle, in the same
atomic step as the status change they pay for (services/generations.py).
"""

from __future__ import annotations

from storage.interfaces import Store
from storage.records import LedgerEntry, LedgerKind, LedgerOutcome, NewLedgerEntry, NewPayment


class Wallet:
    def __init__(self, store: Store) -> None:
        self._store = store

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
        return await self._store.record_payment(
            NewPayment(
                charge_id=charge_id,
                user_id=user_id,
                stars=stars,
                credits=credits,
                payload=payload,
                provider_charge_id=provider_charge_id,
            )
        )

    async def admin_adjust(
        self, *, admin_id: int, operation_id: int | str, user_id: int, delta: int, reason: str | None = None
    ) -> LedgerOutcome:
        """Top up (delta > 0) or deduct (delta < 0). `operation_id` (the command's chat and message id) makes
        a re-delivered admin command a no-op; a deduction never takes the balance below zero."""
        if delta == 0:
            raise ValueError("an adjustment of zero credits changes nothing")
        return await self._store.apply_ledger_entry(
            NewLedgerEntry(
                user_id=user_id,
                delta=delta,
                kind=LedgerKind.ADMIN,
                idempotency_key=f"admin:{admin_id}:{operation_id}",
                admin_id=admin_id,
                reason=reason,
            )
        )

    async def debit(self, *, user_id: int, amount: int, key: str, reason: str | None = None) -> LedgerOutcome:
        """A charge that is not a generation (those are debited with their row); `key` makes it once-only."""
        if amount <= 0:
            raise ValueError("a debit takes a positive number of credits")
        if key.startswith(("gen:", "refund:", "purchase:", "admin:", "payment_refund:")):
            raise ValueError(f"{key!r} uses a key prefix reserved for another kind of entry")
        return await self._store.apply_ledger_entry(
            NewLedgerEntry(
                user_id=user_id, delta=-amount, kind=LedgerKind.DEBIT, idempotency_key=key, reason=reason
            )
        )

    async def history(self, user_id: int, *, limit: int = 20) -> list[LedgerEntry]:
        return await self._store.list_ledger(user_id, limit=limit)
