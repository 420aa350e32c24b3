"""The invariant checker itself: it must see each kind of broken books, or the other tests prove nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from storage.records import ACTIVE_STATUSES, GenerationStatus, LedgerKind, NewLedgerEntry, NewPayment
from storage.sqlite import SqliteStore
from tests.conftest import BackendUnderTest
from tests.contract.test_generations import fund, new_generation

NOW = datetime.now(UTC).replace(microsecond=0)


async def one_chunk() -> AsyncIterator[bytes]:
    yield b"v"


async def test_clean_books_pass(backend: BackendUnderTest) -> None:
    await fund(backend, 1, 50)
    await backend.store.record_payment(NewPayment("c1", user_id=1, stars=10, credits=10, payload="p"))
    await backend.store.create_generation(new_generation("g1"))
    assert await backend.violations() == []


async def test_overdue_generation_breaks_invariant_4(backend: BackendUnderTest) -> None:
    await fund(backend, 1, 50)
    await backend.store.create_generation(new_generation("g1", at=NOW - timedelta(hours=1)))
    found = await backend.violations(now=NOW, poll_interval=10)
    assert len(found) == 1
    assert found[0].startswith("invariant 4 broken for generation g1")
    assert await backend.violations(now=NOW - timedelta(minutes=30), poll_interval=10) == [], "within grace"
    await backend.store.end_with_refund(
        "g1",
        to=GenerationStatus.FAILED,
        allowed_from=ACTIVE_STATUSES,
        error_code="timeout",
        error_message=None,
        now=NOW,
    )
    assert await backend.violations(now=NOW) == []


async def test_produced_video_missing_from_media_breaks_invariant_5(backend: BackendUnderTest) -> None:
    await fund(backend, 1, 50)
    await backend.store.create_generation(new_generation("g1"))
    await backend.store.transition_generation(
        "g1",
        to=GenerationStatus.SUCCEEDED,
        allowed_from=ACTIVE_STATUSES,
        fields={"result_path": "1/g1.mp4"},
        now=NOW,
    )
    found = await backend.violations()
    assert [v.split(":")[0] for v in found] == ["invariant 5 broken for generation g1"]
    await backend.media.write("1/g1.mp4", one_chunk())
    assert await backend.violations() == []


@pytest.fixture
async def sqlite_backend(backend: BackendUnderTest) -> SqliteStore:
    """Corruption needs raw SQL, so these scenarios run on the SQLite backend's connection."""
    if not isinstance(backend.store, SqliteStore):
        pytest.skip("raw corruption is written in SQLite's dialect")
    backend.check_invariants_at_end = False
    return backend.store


async def test_balance_out_of_step_breaks_invariant_1(
    backend: BackendUnderTest, sqlite_backend: SqliteStore
) -> None:
    await fund(backend, 1, 50)
    await sqlite_backend._db.execute("UPDATE users SET balance = balance + 5 WHERE id = 1")
    assert await backend.violations() == ["invariant 1 broken for user 1: balance 55 != ledger sum 50"]


async def test_missing_debit_and_stray_refund_break_invariant_2(
    backend: BackendUnderTest, sqlite_backend: SqliteStore
) -> None:
    await fund(backend, 1, 50)
    await backend.store.create_generation(new_generation("g1", cost=10))
    await backend.store.create_generation(new_generation("g2", cost=10))
    db = sqlite_backend._db
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
    await sqlite_backend._db.execute(
        "INSERT INTO ledger (user_id, delta, kind, idempotency_key, payment_charge_id, balance_after,"
        " created_at) VALUES (1, 10, 'purchase', 'purchase:c1:again', 'c1', 20, '2026-01-01T00:00:00+00:00')"
    )
    await sqlite_backend._db.execute("UPDATE users SET balance = 20")
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
            await sqlite_backend._db.execute(statement)
    backend.check_invariants_at_end = True
