"""The SQL functions directly on PostgreSQL: parallel debits and claims from many connections (as many
bot replicas would make them), and the API roles' privileges, read from the catalog so every new table
or function is covered without touching this file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import pytest

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
T = TypeVar("T")


@pytest.fixture
async def service_pool(postgres_db: str) -> AsyncIterator[asyncpg.Pool]:
    """Connections that act as `service_role` (set on every acquire: the pool resets sessions), the role
    the bot's key maps to, so grants apply."""

    async def as_service_role(conn: asyncpg.Connection) -> None:
        await conn.execute("set role service_role")

    pool = await asyncpg.create_pool(postgres_db, min_size=50, max_size=200, setup=as_service_role)
    try:
        yield pool
    finally:
        await pool.close()


async def rpc(pool: asyncpg.Pool, sql: str, *args: Any) -> Any:
    value = await pool.fetchval(sql, *args)
    return json.loads(value) if isinstance(value, str) else value


async def in_parallel(count: int, make: Callable[[int], Awaitable[T]]) -> list[T]:
    """`count` calls released together, each on its own connection."""
    gate, all_waiting = asyncio.Event(), asyncio.Event()
    waiting = 0

    async def one(i: int) -> T:
        nonlocal waiting
        waiting += 1
        if waiting == count:
            all_waiting.set()
        await gate.wait()
        return await make(i)

    tasks = [asyncio.create_task(one(i)) for i in range(count)]
    await all_waiting.wait()  # every task is at the gate before it opens
    gate.set()
    return await asyncio.gather(*tasks)


async def fund(pool: asyncpg.Pool, user_id: int, credits: int) -> None:
    await rpc(pool, "select public.ensure_user($1)", user_id)
    outcome = await rpc(
        pool, "select public.apply_ledger_entry($1, $2, 'admin', $3)", user_id, credits, f"admin:0:{user_id}"
    )
    assert outcome["outcome"] == "applied"


CREATE = """select public.create_generation(p_id => $1, p_user_id => $2, p_chat_id => $2, p_model => 'demo',
               p_mode => 't2v', p_prompt => 'p', p_request => '{}'::jsonb, p_cost => 1,
               p_created_at => $3, p_deadline_at => $4)"""


async def test_200_parallel_debits_of_one_credit_on_100_give_exactly_100(service_pool: asyncpg.Pool) -> None:
    await fund(service_pool, 1, 100)

    async def debit(i: int) -> str:
        outcome = await rpc(service_pool, CREATE, f"g{i:03d}", 1, NOW, NOW + timedelta(hours=1))
        return str(outcome["outcome"])

    outcomes = await in_parallel(200, debit)
    assert outcomes.count("created") == 100
    assert outcomes.count("insufficient") == 100
    wallet = await rpc(service_pool, "select public.get_user(1)")
    assert wallet["balance"] == 0
    audit = await service_pool.fetch("select * from public.audit_wallets()")
    assert [(r["balance"], r["ledger_sum"]) for r in audit] == [(0, 0)]
    debits = await service_pool.fetchval("select count(*) from public.ledger where kind = 'debit'")
    generations = await service_pool.fetchval("select count(*) from public.generations")
    assert debits == generations == 100


async def test_50_parallel_claimers_over_1000_due_generations_claim_each_once(
    service_pool: asyncpg.Pool,
) -> None:
    await fund(service_pool, 1, 1000)
    async with service_pool.acquire() as conn:
        for i in range(1000):
            await conn.fetchval(CREATE, f"g{i:04d}", 1, NOW - timedelta(seconds=i), NOW + timedelta(hours=1))

    async def claimer(i: int) -> list[str]:
        mine: list[str] = []
        while True:
            rows = await service_pool.fetch(
                "select id from public.claim_due_generations($1, $2, 300, 7)", NOW, f"worker-{i}"
            )
            if not rows:
                return mine
            mine.extend(r["id"] for r in rows)

    claims = await in_parallel(50, claimer)
    everything = [gen_id for mine in claims for gen_id in mine]
    assert len(everything) == 1000
    assert len(set(everything)) == 1000, "a generation was leased to two workers"
    assert sum(1 for mine in claims if mine) > 1, "the claims really ran side by side"
    owners = await service_pool.fetch("select id, lease_owner from public.generations")
    by_worker = {gen_id: f"worker-{i}" for i, mine in enumerate(claims) for gen_id in mine}
    assert {r["id"]: r["lease_owner"] for r in owners} == by_worker


async def test_anon_and_authenticated_are_denied_every_table_and_function(postgres_db: str) -> None:
    conn = await asyncpg.connect(postgres_db)
    try:
        tables = [
            r["name"]
            for r in await conn.fetch(
                """select c.relname as name from pg_class c
                   where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm')"""
            )
        ]
        functions = await conn.fetch(
            """select p.oid::regprocedure::text as signature, p.proname, p.proconfig,
                      p.prosecdef, p.prorettype = 'trigger'::regtype as is_trigger
               from pg_proc p where p.pronamespace = 'public'::regnamespace"""
        )
        assert {"users", "wallets", "ledger", "payments", "generations"} <= set(tables)
        assert len(functions) > 30
        for table in tables:
            assert await conn.fetchval(
                "select relrowsecurity from pg_class where oid = $1::regclass", f"public.{table}"
            ), f"RLS is off on {table}"
            for role in ("anon", "authenticated"):
                for privilege in ("select", "insert", "update", "delete", "truncate", "references"):
                    assert not await conn.fetchval(
                        "select has_table_privilege($1, $2, $3)", role, f"public.{table}", privilege
                    ), f"{role} has {privilege} on {table}"
                async with conn.transaction():
                    await conn.execute(f"set local role {role}")
                    with pytest.raises(asyncpg.InsufficientPrivilegeError):
                        await conn.fetch(f"select * from public.{table} limit 1")
        for function in functions:
            signature = function["signature"]
            for role in ("anon", "authenticated", "public"):
                granted = await conn.fetchval(
                    """select coalesce(bool_or(a.grantee = 0 or a.grantee = r.oid), false)
                       from pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a,
                            (select oid from pg_roles where rolname = $2
                             union all select 0 where $2 = 'public') r
                       where p.oid = $1::regprocedure and a.privilege_type = 'EXECUTE'""",
                    signature,
                    role,
                )
                assert not granted, f"{role} may execute {signature}"
            assert any(c.startswith("search_path=") for c in function["proconfig"] or []), (
                f"{signature} does not pin search_path"
            )
            assert not function["prosecdef"], f"{signature} is security definer"
            async with conn.transaction():
                await conn.execute("set local role anon")
                args = await conn.fetchval(
                    "select pronargs from pg_proc where oid = $1::regprocedure", signature
                )
                call = f"select public.{function['proname']}({', '.join(['null'] * args)})"
                if function["is_trigger"]:
                    continue  # a trigger function cannot be called at all
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.fetch(call)
        for role in ("service_role",):
            for function in functions:
                if function["proname"] == "ledger_append_only":
                    continue
                assert await conn.fetchval(
                    "select has_function_privilege($1, $2, 'execute')", role, function["signature"]
                ), f"{role} cannot execute {function['signature']}"
    finally:
        await conn.close()


async def test_the_ledger_is_append_only_even_for_the_service_role(service_pool: asyncpg.Pool) -> None:
    await fund(service_pool, 1, 5)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await service_pool.execute("update public.ledger set delta = 500")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await service_pool.execute("delete from public.ledger")
    with pytest.raises(asyncpg.CheckViolationError):
        await service_pool.execute("update public.wallets set balance = -1 where user_id = 1")


async def test_the_bucket_is_private_and_takes_videos_and_input_images(postgres_db: str) -> None:
    conn = await asyncpg.connect(postgres_db)
    try:
        bucket = await conn.fetchrow("select * from storage.buckets where id = 'generations'")
    finally:
        await conn.close()
    assert bucket is not None and bucket["public"] is False
    assert bucket["file_size_limit"] >= 50 * 1024 * 1024
    assert {"video/mp4", "image/jpeg", "image/png", "image/webp"} <= set(bucket["allowed_mime_types"])
