"""`ensure_user` (migration 20261203000300) only reads when nothing changed, and writes as before otherwise.

"Wrote" is read from PostgreSQL itself: a transaction that changed no row and took no row lock has no
transaction id (`pg_current_xact_id_if_assigned()` is null), and a rewritten row has a new `xmin`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest


@pytest.fixture
async def conn(postgres_db: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection acting as service_role, the role the bot's key maps to."""
    connection = await asyncpg.connect(postgres_db, server_settings={"role": "service_role"})
    try:
        yield connection
    finally:
        await connection.close()


async def ensure(
    conn: asyncpg.Connection, user_id: int, username: str | None = None, language: str | None = None
) -> tuple[dict[str, Any], bool]:
    """The user `ensure_user` returns, and whether its transaction wrote anything."""
    async with conn.transaction():
        user = await conn.fetchval(
            "select public.ensure_user($1, $2, $3, 5)::text", user_id, username, language
        )
        xid = await conn.fetchval("select pg_catalog.pg_current_xact_id_if_assigned()")
    return json.loads(user), xid is not None


async def row_versions(conn: asyncpg.Connection, user_id: int) -> tuple[str, str]:
    return (
        await conn.fetchval("select xmin::text from public.users where id = $1", user_id),
        await conn.fetchval("select xmin::text from public.wallets where user_id = $1", user_id),
    )


async def test_an_unchanged_user_is_only_read(conn: asyncpg.Connection) -> None:
    created, wrote = await ensure(conn, 1, "alice", "ru")
    assert wrote and created["balance"] == 5
    versions = await row_versions(conn, 1)

    for username, language in [("alice", "ru"), (None, None), ("alice", None), (None, "en"), ("alice", "en")]:
        user, wrote = await ensure(conn, 1, username, language)
        assert not wrote, f"ensure_user(1, {username!r}, {language!r}) wrote"
        assert (user["username"], user["language"], user["balance"]) == ("alice", "ru", 5)
    assert await row_versions(conn, 1) == versions
    assert await conn.fetchval("select count(*) from public.ledger where user_id = 1") == 1


async def test_changes_are_written_as_before(conn: asyncpg.Connection) -> None:
    await ensure(conn, 1, "alice")
    user, wrote = await ensure(conn, 1, "Alice")  # the name as shown now, case included
    assert wrote and user["username"] == "Alice"
    user, wrote = await ensure(conn, 1, "Alice", "en")  # a language for a user who had none
    assert wrote and user["language"] == "en"
    user, wrote = await ensure(conn, 1, "alice_2", "ru")  # a new name; the language stays the first one
    assert wrote and (user["username"], user["language"]) == ("alice_2", "en")
    assert user["balance"] == 5, "welcome credits once"


async def test_a_name_shown_by_someone_else_moves_to_them(conn: asyncpg.Connection) -> None:
    await ensure(conn, 1, "alice")
    user, wrote = await ensure(conn, 2, "ALICE")
    assert wrote and user["username"] == "ALICE"
    assert (await ensure(conn, 1))[0]["username"] is None
    assert await conn.fetchval("select count(*) from public.users where lower(username) = 'alice'") == 1


async def test_a_second_holder_from_before_one_holder_per_name_loses_it(
    conn: asyncpg.Connection, postgres_db: str
) -> None:
    await ensure(conn, 1, "alice")
    await ensure(conn, 2, "bob")
    admin = await asyncpg.connect(postgres_db)  # such rows predate the rule, so only a superuser makes one
    try:
        await admin.execute("update public.users set username = 'Alice' where id = 2")
    finally:
        await admin.close()

    user, wrote = await ensure(conn, 1, "alice")
    assert wrote and user["username"] == "alice"
    assert await conn.fetchval("select username from public.users where id = 2") is None


async def test_a_user_without_a_wallet_gets_one(conn: asyncpg.Connection, postgres_db: str) -> None:
    admin = await asyncpg.connect(postgres_db)
    try:
        await admin.execute("insert into public.users (id, username) values (3, 'carol')")
    finally:
        await admin.close()

    user, wrote = await ensure(conn, 3, "carol")
    assert wrote and user["balance"] == 0, "an existing user gets no welcome credits"
    assert await conn.fetchval("select count(*) from public.wallets where user_id = 3") == 1
    assert not (await ensure(conn, 3, "carol"))[1]
