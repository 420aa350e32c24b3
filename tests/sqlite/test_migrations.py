"""Upgrading an embedded store that already holds money: the ledger rebuild of version 4 keeps every
entry, the balance and the append-only rule."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage.records import LedgerKind
from storage.sqlite import SqliteStore, _migration_files, _statements


def version_3_database(path: Path) -> None:
    """A file as a bot before trial credits left it: one user with an admin top-up."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied_at TEXT NOT NULL)"
    )
    for version, name, sql in _migration_files():
        if version > 3:
            break
        for statement in _statements(sql):
            db.execute(statement)
        db.execute(
            "INSERT INTO schema_migrations VALUES (?, ?, '2026-11-22T00:00:00+00:00')", (version, name)
        )
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
