"""Upgrading an embedded store that already holds money: the ledger rebuild of version 4 keeps every
entry, the balance and the append-only rule; the payments key renamed by version 5 keeps every payment,
its credit and the ledger's foreign key to it."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage.records import AlreadyApplied, Applied, LedgerKind, NewPayment
from storage.sqlite import SqliteStore, _migration_files, _statements


def database_at(path: Path, version: int) -> sqlite3.Connection:
    """A file with the schema as migrations 1..`version` left it, recorded as applied."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied_at TEXT NOT NULL)"
    )
    for number, name, sql in _migration_files():
        if number > version:
            break
        for statement in _statements(sql):
            db.execute(statement)
        db.execute("INSERT INTO schema_migrations VALUES (?, ?, '2026-11-22T00:00:00+00:00')", (number, name))
    return db


def version_3_database(path: Path) -> None:
    """A file as a bot before trial credits left it: one user with an admin top-up."""
    db = database_at(path, 3)
    now = "2026-11-22T12:00:00+00:00"
    db.execute("INSERT INTO users (id, balance, created_at, updated_at) VALUES (1, 40, ?, ?)", (now, now))
    db.execute(
        """INSERT INTO ledger (user_id, delta, kind, idempotency_key, admin_id, balance_after, created_at)
           VALUES (1, 40, 'admin', 'admin:9:1:2', 9, 40, ?)""",
        (now,),
    )
    db.close()


async def test_version_4_keeps_the_ledger_and_accepts_trial_credits(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    version_3_database(path)
    store = await SqliteStore.open(path)
    try:
        [entry] = await store.list_ledger(1)
        assert (entry.kind, entry.delta, entry.idempotency_key, entry.admin_id) == (
            LedgerKind.ADMIN,
            40,
            "admin:9:1:2",
            9,
        )
        assert (await store.ensure_user(2, welcome_credits=5)).balance == 5
        assert [e.id for e in await store.list_ledger(2)] == [entry.id + 1], "ids keep counting"
    finally:
        await store.close()
    db = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("UPDATE ledger SET delta = 1000")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("DELETE FROM ledger")
    finally:
        db.close()


def version_4_database(path: Path) -> None:
    """A file from before the payments key was renamed: a user who paid 50 Stars for 50 credits, then
    had a second payment of 20 Stars refunded with its credits taken back."""
    db = database_at(path, 4)
    now = "2026-11-22T12:00:00.000000+00:00"
    db.execute("INSERT INTO users (id, balance, created_at, updated_at) VALUES (1, 50, ?, ?)", (now, now))
    db.executemany(
        """INSERT INTO payments (charge_id, user_id, stars, credits, payload, provider_charge_id, refunded,
                                 created_at, refunded_at)
           VALUES (?, 1, ?, ?, ?, NULL, ?, ?, ?)""",
        [("ch-1", 50, 50, "pack:50", 0, now, None), ("ch-2", 20, 20, "pack:20", 1, now, now)],
    )
    db.executemany(
        """INSERT INTO ledger (user_id, delta, kind, idempotency_key, payment_charge_id, balance_after,
                               created_at)
           VALUES (1, ?, ?, ?, ?, ?, ?)""",
        [
            (50, "purchase", "purchase:ch-1", "ch-1", 50, now),
            (20, "purchase", "purchase:ch-2", "ch-2", 70, now),
            (-20, "payment_refund", "payment_refund:ch-2", "ch-2", 50, now),
        ],
    )
    db.close()


async def test_version_5_keeps_payments_their_credits_and_the_ledger_link(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    version_4_database(path)
    store = await SqliteStore.open(path)
    try:
        paid = await store.get_payment("ch-1")
        assert paid is not None
        assert (paid.user_id, paid.stars, paid.credits, paid.payload) == (1, 50, 50, "pack:50")
        assert not paid.refunded
        assert [(p.charge_id, p.refunded) for p in await store.list_payments(1)] == [
            ("ch-2", True),
            ("ch-1", False),
        ]
        assert [(e.kind, e.payment_charge_id) for e in await store.list_ledger(1)] == [
            (LedgerKind.PAYMENT_REFUND, "ch-2"),
            (LedgerKind.PURCHASE, "ch-2"),
            (LedgerKind.PURCHASE, "ch-1"),
        ]
        again = await store.record_payment(
            NewPayment("ch-1", user_id=1, stars=50, credits=50, payload="pack:50")
        )
        assert isinstance(again, AlreadyApplied), "a charge paid before the upgrade still credits once"
        assert again.balance == 50
        refunded = await store.record_payment_refund("ch-2", now=datetime.now(UTC))
        assert refunded is not None and (refunded.new, refunded.debited) == (False, 20)
        paid_after = await store.record_payment(NewPayment("ch-3", 1, 10, 10, "pack:10"))
        assert isinstance(paid_after, Applied) and paid_after.balance == 60
    finally:
        await store.close()
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA foreign_keys = ON")
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            db.execute(
                """INSERT INTO ledger (user_id, delta, kind, idempotency_key, payment_charge_id,
                                       balance_after, created_at)
                   VALUES (1, 5, 'purchase', 'purchase:nobody', 'nobody', 65, '2026-11-22T13:00:00+00:00')"""
            )
    finally:
        db.close()
