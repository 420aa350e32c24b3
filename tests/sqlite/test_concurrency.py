"""SQLite under contention: parallel debits never overdraw, replays change nothing, two connections agree."""

from __future__ import annotations

import asyncio
from pathlib import Path

from storage.local_media import LocalMediaStore
from storage.records import (
    AlreadyApplied,
    Applied,
    GenerationCreated,
    InsufficientFunds,
    LedgerKind,
    NewLedgerEntry,
)
from storage.sqlite import SqliteStore, _migration_files
from tests.contract.test_generations import NOW, new_generation
from tests.invariants import check_invariants


async def assert_books_straight(store: SqliteStore, tmp_path: Path) -> None:
    media = LocalMediaStore(tmp_path / "media", public_base_url=None, link_secret=b"k")
    assert await check_invariants(store, media, now=NOW, poll_interval_seconds=10) == []


async def test_200_parallel_debits_on_100_credits(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "bot.sqlite3")
    try:
        await store.ensure_user(1)
        await store.apply_ledger_entry(
            NewLedgerEntry(user_id=1, delta=100, kind=LedgerKind.ADMIN, idempotency_key="admin:0:seed")
        )
        outcomes = await asyncio.gather(
            *(store.create_generation(new_generation(f"g{i}", cost=1)) for i in range(200))
        )
        created = [o for o in outcomes if isinstance(o, GenerationCreated)]
        refused = [o for o in outcomes if isinstance(o, InsufficientFunds)]
        assert (len(created), len(refused)) == (100, 100)
        assert sorted(o.balance for o in created) == list(range(100))
        assert all(o.balance == 0 and o.shortfall == 1 for o in refused)
        assert (await store.get_user(1)).balance == 0  # type: ignore[union-attr]
        ledger = await store.list_ledger(1, limit=1000)
        assert len(ledger) == 101
        assert sum(e.delta for e in ledger) == 0

        # replaying every key changes nothing
        replays = await asyncio.gather(
            *(
                store.create_generation(new_generation(f"again{i}", cost=1, request_key=None))
                for i in range(20)
            ),
            *(
                store.apply_ledger_entry(
                    NewLedgerEntry(
                        user_id=1, delta=100, kind=LedgerKind.ADMIN, idempotency_key="admin:0:seed"
                    )
                )
                for _ in range(20)
            ),
        )
        assert all(isinstance(r, InsufficientFunds) for r in replays[:20])
        assert all(isinstance(r, AlreadyApplied) for r in replays[20:])
        assert (await store.get_user(1)).balance == 0  # type: ignore[union-attr]
        await assert_books_straight(store, tmp_path)
    finally:
        await store.close()


async def test_two_connections_on_one_file_never_overdraw(tmp_path: Path) -> None:
    """Two processes (a restart racing the old one, a second poller) share the file: SQLite's lock decides."""
    path = tmp_path / "bot.sqlite3"
    first, second = await asyncio.gather(SqliteStore.open(path), SqliteStore.open(path))
    try:
        await first.ensure_user(1)
        await first.apply_ledger_entry(
            NewLedgerEntry(user_id=1, delta=100, kind=LedgerKind.ADMIN, idempotency_key="admin:0:seed")
        )

        async def debit(store: SqliteStore, i: int) -> object:
            return await store.apply_ledger_entry(
                NewLedgerEntry(user_id=1, delta=-1, kind=LedgerKind.ADMIN, idempotency_key=f"admin:0:d{i}")
            )

        outcomes = await asyncio.gather(*(debit(first if i % 2 else second, i) for i in range(200)))
        assert sum(isinstance(o, Applied) for o in outcomes) == 100
        assert sum(isinstance(o, InsufficientFunds) for o in outcomes) == 100
        assert (await second.get_user(1)).balance == 0  # type: ignore[union-attr]

        # the same key sent through both connections lands once
        both = await asyncio.gather(
            first.apply_ledger_entry(NewLedgerEntry(1, 7, LedgerKind.ADMIN, "admin:0:twice")),
            second.apply_ledger_entry(NewLedgerEntry(1, 7, LedgerKind.ADMIN, "admin:0:twice")),
        )
        assert sorted(type(o).__name__ for o in both) == ["AlreadyApplied", "Applied"]
        assert (await first.get_user(1)).balance == 7  # type: ignore[union-attr]
        await assert_books_straight(first, tmp_path)
    finally:
        await first.close()
        await second.close()


async def test_parallel_claimers_share_work_without_overlap(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    stores = [await SqliteStore.open(path) for _ in range(3)]
    try:
        await stores[0].ensure_user(1)
        await stores[0].apply_ledger_entry(NewLedgerEntry(1, 300, LedgerKind.ADMIN, "admin:0:seed"))
        for i in range(300):
            await stores[0].create_generation(new_generation(f"g{i:03d}", cost=1))
        claims = await asyncio.gather(
            *(
                stores[i % 3].claim_due_generations(now=NOW, owner=f"w{i}", lease_seconds=60, limit=7)
                for i in range(60)
            )
        )
        ids = [g.id for batch in claims for g in batch]
        assert len(ids) == len(set(ids)) == 300
        await assert_books_straight(stores[0], tmp_path)
    finally:
        for store in stores:
            await store.close()


async def test_migrations_apply_once_when_processes_start_together(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    stores = await asyncio.gather(*(SqliteStore.open(path) for _ in range(4)))
    shipped = [version for version, _name, _sql in _migration_files()]
    try:
        versions = await stores[0]._conn.execute("SELECT version FROM schema_migrations")
        assert [row[0] for row in versions] == shipped == list(range(1, len(shipped) + 1))
        [mode] = await stores[0]._conn.execute("PRAGMA journal_mode")
        assert mode[0] == "wal"
    finally:
        for store in stores:
            await store.close()
    reopened = await SqliteStore.open(path)
    await reopened.close()
