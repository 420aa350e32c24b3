"""The checker on corrupted SQLite books: it must see each kind of violation the constraints allow to exist.

Corruption needs raw SQL in SQLite's dialect, so these scenarios live beside the other SQLite-only tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.records import LedgerKind, NewLedgerEntry, NewPayment
from storage.sqlite import SqliteStore
from tests.conftest import BackendUnderTest, open_backend
from tests.contract.test_generations import fund, new_generation


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[BackendUnderTest]:
    under_test = await open_backend("sqlite", tmp_path)
    try:
        yield under_test
    finally:
        await under_test.store.close()


@pytest.fixture
def sqlite_backend(backend: BackendUnderTest) -> SqliteStore:
    assert isinstance(backend.store, SqliteStore)
    return backend.store


async def test_balance_out_of_step_breaks_invariant_1(
    backend: BackendUnderTest, sqlite_backend: SqliteStore
) -> None:
    await fund(backend, 1, 50)
    await sqlite_backend._conn.execute("UPDATE users SET balance = balance + 5 WHERE id = 1")
    assert await backend.violations() == ["invariant 1 broken for user 1: balance 55 != ledger sum 50"]


async def test_missing_debit_and_stray_refund_break_invariant_2(
    backend: BackendUnderTest, sqlite_backend: SqliteStore
) -> None:
    await fund(backend, 1, 50)
    await backend.store.create_generation(new_generation("g1", cost=10))
    await backend.store.create_generation(new_generation("g2", cost=10))
    db = sqlite_backend._conn
    await db.execute("DROP TRIGGER ledger_no_delete")
    await db.execute("DELETE FROM ledger WHERE idempotency_key = 'gen:g1'")
    await db.execute("UPDATE users SET balance = balance + 10")  # keep invariant 1 intact
    await db.execute(
        "INSERT INTO ledger (user_id, delta, kind, idempotency_key, generation_id, balance_after, created_at)"
        " VALUES (1, 10, 'refund', 'refund:g2', 'g2', 30, '2026-01-01T00:00:00.000000+00:00')"
    )
    await db.execute("UPDATE users SET balance = balance + 10")
    found = await backend.violations()
    assert len(found) == 2
    assert found[0].startswith("invariant 2 broken for generation g1: debits []")
    assert found[1].startswith("invariant 2 broken for generation g2: status queued with refunds [10]")


async def test_double_credited_charge_breaks_invariant_3(
    backend: BackendUnderTest, sqlite_backend: SqliteStore
) -> None:
    await backend.store.ensure_user(1)
    await backend.store.record_payment(NewPayment("c1", user_id=1, stars=10, credits=10, payload="p"))
    await sqlite_backend._conn.execute(
        "INSERT INTO ledger (user_id, delta, kind, idempotency_key, payment_charge_id, balance_after,"
        " created_at) VALUES (1, 10, 'purchase', 'purchase:c1:again', 'c1', 20, '2026-01-01T00:00:00+00:00')"
    )
    await sqlite_backend._conn.execute("UPDATE users SET balance = 20")
    assert await backend.violations() == [
        "invariant 3 broken for charge c1: 1 payment rows and 2 purchase entries"
    ]


async def test_ledger_is_append_only(backend: BackendUnderTest, sqlite_backend: SqliteStore) -> None:
    await backend.store.ensure_user(1)
    await backend.store.apply_ledger_entry(
        NewLedgerEntry(user_id=1, delta=5, kind=LedgerKind.ADMIN, idempotency_key="admin:1:1")
    )
    for statement in ("UPDATE ledger SET delta = 500", "DELETE FROM ledger"):
        with pytest.raises(Exception, match="append-only"):
            await sqlite_backend._conn.execute(statement)
    assert await backend.violations() == []
