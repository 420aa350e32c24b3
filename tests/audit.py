"""Read-only queries over a whole backend's books, for the invariant checker (tests/invariants.py).

Only tests ask these questions, so they stay out of the production ports: one implementation per
backend, reading through the store's own connection (SQLite: its connection and lock; Supabase: its
supabase-py client and the `audit_*` functions of migrations/supabase, granted to service_role only).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime

from storage.interfaces import Store
from storage.records import GenerationStatus, LedgerKind
from storage.rows import parse_optional_ts, parse_ts
from storage.sqlite import SqliteStore
from storage.supabase import SupabaseStore


@dataclass(frozen=True, slots=True)
class WalletAudit:
    user_id: int
    balance: int
    ledger_sum: int


@dataclass(frozen=True, slots=True)
class GenerationAudit:
    id: str
    status: GenerationStatus
    cost: int
    debits: list[int] = field(default_factory=list)
    refunds: list[int] = field(default_factory=list)
    deadline_at: datetime | None = None
    result_path: str | None = None
    media_expired: bool = False


@dataclass(frozen=True, slots=True)
class PaymentAudit:
    charge_id: str
    payment_rows: int
    purchase_entries: int


class Audit(ABC):
    """Every wallet, generation and charge id of one backend, with the ledger entries that match it."""

    @abstractmethod
    async def wallets(self) -> list[WalletAudit]: ...

    @abstractmethod
    async def generations(self) -> list[GenerationAudit]: ...

    @abstractmethod
    async def payments(self) -> list[PaymentAudit]: ...


def audit_of(store: Store) -> Audit:
    if isinstance(store, SqliteStore):
        return SqliteAudit(store)
    if isinstance(store, SupabaseStore):
        return SupabaseAudit(store)
    raise TypeError(f"no audit for {type(store).__name__}")


class SqliteAudit(Audit):
    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    async def wallets(self) -> list[WalletAudit]:
        async with self._store._read() as db:
            rows = await self._store._all(
                db,
                """SELECT u.id, u.balance, coalesce(sum(l.delta), 0) AS ledger_sum
                   FROM users u LEFT JOIN ledger l ON l.user_id = u.id GROUP BY u.id ORDER BY u.id""",
            )
        return [WalletAudit(r["id"], r["balance"], r["ledger_sum"]) for r in rows]

    async def generations(self) -> list[GenerationAudit]:
        async with self._store._read() as db:
            gens = await self._store._all(
                db, "SELECT id, status, cost, deadline_at, result_path, media_expired_at FROM generations"
            )
            moves = await self._store._all(
                db, "SELECT generation_id, kind, delta FROM ledger WHERE generation_id IS NOT NULL"
            )
        debits: dict[str, list[int]] = {}
        refunds: dict[str, list[int]] = {}
        for m in moves:
            target = debits if m["kind"] == LedgerKind.DEBIT else refunds
            target.setdefault(m["generation_id"], []).append(m["delta"])
        return [
            GenerationAudit(
                id=g["id"],
                status=GenerationStatus(g["status"]),
                cost=g["cost"],
                debits=debits.get(g["id"], []),
                refunds=refunds.get(g["id"], []),
                deadline_at=parse_ts(g["deadline_at"]),
                result_path=g["result_path"],
                media_expired=g["media_expired_at"] is not None,
            )
            for g in gens
        ]

    async def payments(self) -> list[PaymentAudit]:
        async with self._store._read() as db:
            rows = await self._store._all(
                db,
                """SELECT c.charge_id,
                          (SELECT count(*) FROM payments p WHERE p.telegram_payment_charge_id = c.charge_id)
                              AS payment_rows,
                          (SELECT count(*) FROM ledger l
                            WHERE l.payment_charge_id = c.charge_id AND l.kind = 'purchase')
                              AS purchase_entries
                   FROM (SELECT telegram_payment_charge_id AS charge_id FROM payments
                         UNION SELECT payment_charge_id FROM ledger WHERE payment_charge_id IS NOT NULL) c""",
            )
        return [PaymentAudit(r["charge_id"], r["payment_rows"], r["purchase_entries"]) for r in rows]


class SupabaseAudit(Audit):
    def __init__(self, store: SupabaseStore) -> None:
        self._store = store

    async def wallets(self) -> list[WalletAudit]:
        rows = await self._store._rpc("audit_wallets", {})
        return [WalletAudit(int(r["user_id"]), int(r["balance"]), int(r["ledger_sum"])) for r in rows]

    async def generations(self) -> list[GenerationAudit]:
        rows = await self._store._rpc("audit_generations", {})
        return [
            GenerationAudit(
                id=r["id"],
                status=GenerationStatus(r["status"]),
                cost=int(r["cost"]),
                debits=[int(d) for d in r["debits"]],
                refunds=[int(d) for d in r["refunds"]],
                deadline_at=parse_optional_ts(r["deadline_at"]),
                result_path=r["result_path"],
                media_expired=bool(r["media_expired"]),
            )
            for r in rows
        ]

    async def payments(self) -> list[PaymentAudit]:
        rows = await self._store._rpc("audit_payments", {})
        return [
            PaymentAudit(r["charge_id"], int(r["payment_rows"]), int(r["purchase_entries"])) for r in rows
        ]
