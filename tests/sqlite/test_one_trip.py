"""One trip to the database thread per store call (storage/sqlite_connection.py), `ensure_user` of a user
as they were only reads, the poller's lane is a connection of its own, and a transaction is all or
nothing. Probes count calls and statements; nothing here is timed."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import storage.sqlite
from storage.errors import StoragePathError, UnknownUserError
from storage.records import (
    Applied,
    GenerationCreated,
    GenerationStatus,
    InsufficientFunds,
    LedgerKind,
    NewLedgerEntry,
    NewPayment,
    Refunded,
)
from storage.sqlite import SqliteStore, _append
from storage.sqlite_connection import SqliteConnection
from tests.contract.test_generations import NOW, new_generation
from tests.sqlite.test_concurrency import assert_books_straight

STAMP = "2026-12-03T12:00:00.000000+00:00"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(tmp_path / "bot.sqlite3")
    try:
        yield opened
    finally:
        await opened.close()


class Trips:
    """Counts `run()` calls on a connection, and the thread each function ran in."""

    def __init__(self, conn: SqliteConnection, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        self.threads: set[int] = set()
        original = conn.run

        async def counting(fn: Callable[..., Any], *args: Any) -> Any:
            self.calls.append(getattr(fn, "__name__", repr(fn)))

            def recorded(db: sqlite3.Connection, *inner: Any) -> Any:
                self.threads.add(threading.get_ident())
                return fn(db, *inner)

            return await original(recorded, *args)

        monkeypatch.setattr(conn, "run", counting)

    def take(self) -> list[str]:
        calls, self.calls = self.calls, []
        return calls


class Statements:
    """Every statement the connection runs (sqlite3's trace callback) and its `total_changes`."""

    def __init__(self, conn: SqliteConnection) -> None:
        self.conn = conn
        self.seen: list[str] = []

    async def start(self) -> None:
        await self.conn.run(lambda db: db.set_trace_callback(lambda sql: self.seen.append(sql)))

    async def changes(self) -> int:
        return await self.conn.run(lambda db: db.total_changes)

    def take(self) -> list[str]:
        seen, self.seen = self.seen, []
        return [" ".join(s.split()) for s in seen]


async def funded(store: SqliteStore, user_id: int, credits: int) -> None:
    await store.ensure_user(user_id)
    outcome = await store.apply_ledger_entry(
        NewLedgerEntry(user_id, credits, LedgerKind.ADMIN, f"admin:0:{user_id}")
    )
    assert isinstance(outcome, Applied)


# one trip a call


async def test_a_debit_is_one_trip_to_the_database_thread(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await funded(store, 1, 10)
    trips = Trips(store._conn, monkeypatch)
    outcome = await store.apply_ledger_entry(NewLedgerEntry(1, -3, LedgerKind.DEBIT, "debit:1"))
    assert isinstance(outcome, Applied) and outcome.balance == 7
    assert trips.take() == ["_transaction"]
    assert trips.threads and threading.get_ident() not in trips.threads, "ran in the connection's thread"

    refused = await store.apply_ledger_entry(NewLedgerEntry(1, -30, LedgerKind.DEBIT, "debit:2"))
    assert isinstance(refused, InsufficientFunds)
    assert len(trips.take()) == 1


async def test_every_money_operation_is_one_trip(store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    trips = Trips(store._conn, monkeypatch)
    user = await store.ensure_user(1, username="ann", welcome_credits=20)
    assert user.balance == 20
    assert len(trips.take()) == 1, "a new user with welcome credits"
    paid = await store.record_payment(NewPayment("ch-1", 1, stars=10, credits=10, payload="pack:10"))
    assert isinstance(paid, Applied) and paid.balance == 30
    assert len(trips.take()) == 1
    created = await store.create_generation(new_generation("g1", cost=5))
    assert isinstance(created, GenerationCreated) and created.balance == 25
    assert len(trips.take()) == 1
    refunded = await store.end_with_refund(
        "g1",
        to=GenerationStatus.FAILED,
        allowed_from=frozenset({GenerationStatus.QUEUED}),
        error_code="x",
        error_message=None,
        now=NOW,
    )
    assert isinstance(refunded, Refunded) and refunded.balance == 30
    assert len(trips.take()) == 1
    back = await store.record_payment_refund("ch-1", now=NOW)
    assert back is not None and back.debited == 10
    assert len(trips.take()) == 1
    await store.stats(since=datetime(2020, 1, 1, tzinfo=UTC))
    assert len(trips.take()) == 1, "five reads, one trip"
    await store.set_user_blocked(1, True)
    assert len(trips.take()) == 1
    with pytest.raises(UnknownUserError):
        await store.set_user_language(99, "en")
    assert len(trips.take()) == 1


# ensure_user of a user as they were only reads


async def test_ensure_user_of_an_unchanged_user_writes_nothing(store: SqliteStore) -> None:
    first = await store.ensure_user(1, username="ann", language="en", welcome_credits=5)
    statements = Statements(store._conn)
    await statements.start()
    before = await statements.changes()
    for call in (
        {"username": "ann", "language": "en"},
        {"username": "ann"},
        {"language": "de"},  # a set language is never replaced: nothing to write
        {},
        {"username": "ann", "language": "de", "welcome_credits": 5},
    ):
        again = await store.ensure_user(1, **call)  # type: ignore[arg-type]
        assert again == first
        seen = statements.take()
        assert len(seen) == 1 and seen[0].startswith("SELECT"), (call, seen)
    assert await statements.changes() == before
    [row] = await store._conn.execute("SELECT updated_at FROM users WHERE id = 1")
    assert row["updated_at"] == first.created_at.isoformat(timespec="microseconds")


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ({"username": "bob"}, ("bob", "en")),
        ({"username": "Ann"}, ("Ann", "en")),  # the name as shown now, case included
        ({"username": "bob", "language": "de"}, ("bob", "en")),  # a set language is kept
    ],
)
async def test_ensure_user_writes_what_changed(
    store: SqliteStore, call: dict[str, Any], expected: tuple[str, str]
) -> None:
    await store.ensure_user(1, username="ann", language="en")
    statements = Statements(store._conn)
    await statements.start()
    before = await statements.changes()
    user = await store.ensure_user(1, **call)
    assert (user.username, user.language) == expected
    seen = statements.take()
    assert seen[0].startswith("SELECT") and seen[1] == "BEGIN IMMEDIATE" and seen[-1] == "COMMIT", seen
    assert await statements.changes() > before


async def test_ensure_user_sets_a_missing_language_and_takes_a_held_name(store: SqliteStore) -> None:
    await store.ensure_user(1, username="ann")
    statements = Statements(store._conn)
    await statements.start()
    user = await store.ensure_user(1, language="en")
    assert user.language == "en"
    assert "BEGIN IMMEDIATE" in statements.take()

    # a row from before one holder per name still shows "carol": whoever shows it now takes it
    await store.ensure_user(2, username="carol")
    await store._conn.execute(
        "INSERT INTO users (id, username, created_at, updated_at) VALUES (3, 'Carol', ?, ?)", (STAMP, STAMP)
    )
    statements.take()
    user = await store.ensure_user(2, username="carol")
    assert user.username == "carol"
    assert "BEGIN IMMEDIATE" in statements.take()
    assert (await store.get_user(3)).username is None  # type: ignore[union-attr]
    assert (await store.find_user_by_username("CAROL")).id == 2  # type: ignore[union-attr]

    # a new user is written, welcome credits included, once
    new = await store.ensure_user(4, username="dan", welcome_credits=7)
    assert new.balance == 7
    assert "BEGIN IMMEDIATE" in statements.take()
    assert (await store.ensure_user(4, username="dan", welcome_credits=7)).balance == 7
    assert not any(s.startswith("BEGIN") for s in statements.take())
    assert [e.kind for e in await store.list_ledger(4)] == [LedgerKind.WELCOME]


# transactions are all or nothing


async def test_an_exception_inside_a_transaction_rolls_back_everything(store: SqliteStore) -> None:
    await funded(store, 1, 10)

    def half_done(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO users (id, created_at, updated_at) VALUES (2, ?, ?)", (STAMP, STAMP))
        outcome = _append(db, user_id=1, delta=-4, kind=LedgerKind.DEBIT, key="debit:lost", now=STAMP)
        assert isinstance(outcome, Applied)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await store._tx(half_done)
    assert await store.get_user(2) is None
    assert (await store.get_user(1)).balance == 10  # type: ignore[union-attr]
    assert [e.idempotency_key for e in await store.list_ledger(1)] == ["admin:0:1"]
    assert await store._conn.run(lambda db: db.in_transaction) is False
    # the connection goes on: the next transaction commits
    again = await store.apply_ledger_entry(NewLedgerEntry(1, -4, LedgerKind.DEBIT, "debit:lost"))
    assert isinstance(again, Applied) and again.balance == 6


async def test_errors_cross_the_thread_unchanged(store: SqliteStore) -> None:
    with pytest.raises(UnknownUserError) as raised:
        await store.apply_ledger_entry(NewLedgerEntry(5, 1, LedgerKind.ADMIN, "admin:0:5"))
    assert raised.value.user_id == 5
    await funded(store, 1, 3)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        await store._conn.execute("DELETE FROM ledger")
    assert await store._conn.run(lambda db: db.in_transaction) is False


async def test_a_call_cancelled_before_its_turn_is_not_run(store: SqliteStore) -> None:
    await funded(store, 1, 10)
    entered, release = threading.Event(), threading.Event()

    def hold(db: sqlite3.Connection) -> None:
        entered.set()
        release.wait(10)

    holding = asyncio.create_task(store._conn.run(hold))
    await asyncio.to_thread(entered.wait, 10)
    debit = asyncio.create_task(store.apply_ledger_entry(NewLedgerEntry(1, -1, LedgerKind.DEBIT, "d:1")))
    await asyncio.sleep(0)  # one step of the task: its call is queued behind `hold`
    assert store._conn._jobs.qsize() == 1
    debit.cancel()
    release.set()
    await holding
    with pytest.raises(asyncio.CancelledError):
        await debit
    assert (await store.get_user(1)).balance == 10  # type: ignore[union-attr]


async def test_open_maps_an_unusable_file_to_a_path_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("x")
    with pytest.raises(StoragePathError, match="cannot open the database"):
        await SqliteStore.open(tmp_path / "not-a-folder" / "bot.sqlite3")
    (tmp_path / "garbage.sqlite3").write_bytes(b"not a database, certainly not one" * 100)
    with pytest.raises(StoragePathError, match="not a database"):
        await SqliteStore.open(tmp_path / "garbage.sqlite3")


async def test_a_closed_store_refuses_calls(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "bot.sqlite3")
    await store.close()
    await store.close()  # twice does nothing
    with pytest.raises(sqlite3.ProgrammingError):
        await store.get_user(1)


# the poller's lane


async def test_the_lane_is_a_connection_of_its_own_that_sees_commits(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_migrations(db: sqlite3.Connection) -> list[int]:
        raise AssertionError("the lane must not run migrations")

    monkeypatch.setattr(storage.sqlite, "_apply_migrations", no_migrations)
    lane = await store.open_lane()
    assert isinstance(lane, SqliteStore) and lane is not store
    try:
        assert lane._conn is not store._conn
        lane_thread = await lane._conn.run(lambda db: threading.get_ident())
        store_thread = await store._conn.run(lambda db: threading.get_ident())
        assert lane_thread != store_thread
        for pragma, value in (("busy_timeout", 30000), ("journal_mode", "wal"), ("synchronous", 1)):
            [row] = await lane._conn.execute(f"PRAGMA {pragma}")
            assert row[0] == value, pragma
        [row] = await lane._conn.execute("PRAGMA foreign_keys")
        assert row[0] == 1

        await funded(store, 1, 10)
        assert (await lane.get_user(1)).balance == 10  # type: ignore[union-attr]
        await lane.apply_ledger_entry(NewLedgerEntry(1, -4, LedgerKind.DEBIT, "debit:lane"))
        assert (await store.get_user(1)).balance == 6  # type: ignore[union-attr]
    finally:
        await lane.close()
    # closing the lane closed only its connection
    assert lane._conn.closed and not store._conn.closed
    assert (await store.get_user(1)).balance == 6  # type: ignore[union-attr]


async def test_an_in_memory_store_is_its_own_lane() -> None:
    store = await SqliteStore.open(":memory:")
    try:
        assert await store.open_lane() is store
        await funded(store, 1, 3)
        assert (await store.get_user(1)).balance == 3  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_debits_through_the_store_and_the_lane_never_overdraw(
    store: SqliteStore, tmp_path: Path
) -> None:
    wallets, funds = 4, 60
    for user_id in range(1, wallets + 1):
        await funded(store, user_id, funds)
    lane = await store.open_lane()
    try:
        debits = [(1 + i % wallets, 1 + i % 3) for i in range(400)]  # 200 credits asked of each wallet

        async def debit(i: int) -> object:
            user_id, credits = debits[i]
            through = store if (i // wallets) % 2 else lane  # every wallet through both
            return await through.apply_ledger_entry(
                NewLedgerEntry(user_id, -credits, LedgerKind.DEBIT, f"debit:{i}")
            )

        outcomes = await asyncio.gather(*(debit(i) for i in range(len(debits))))
        # the same key through both connections lands once
        twice = await asyncio.gather(
            store.apply_ledger_entry(NewLedgerEntry(1, 5, LedgerKind.ADMIN, "admin:0:twice")),
            lane.apply_ledger_entry(NewLedgerEntry(1, 5, LedgerKind.ADMIN, "admin:0:twice")),
        )
    finally:
        await lane.close()
    assert sorted(type(o).__name__ for o in twice) == ["AlreadyApplied", "Applied"]
    assert all(isinstance(o, Applied | InsufficientFunds) for o in outcomes)
    assert any(isinstance(o, InsufficientFunds) for o in outcomes)
    for user_id in range(1, wallets + 1):
        taken = sum(
            credits
            for (debited, credits), outcome in zip(debits, outcomes, strict=True)
            if debited == user_id and isinstance(outcome, Applied)
        )
        ledger = await store.list_ledger(user_id, limit=1000)
        balance = (await store.get_user(user_id)).balance  # type: ignore[union-attr]
        bonus = 5 if user_id == 1 else 0
        assert balance >= 0
        assert balance == funds + bonus - taken == sum(e.delta for e in ledger)
        assert taken <= funds
    await assert_books_straight(store, tmp_path)
