"""SupabaseStore's RPC path: the request supabase-py's rpc() sends, kept-alive connections, a bounded pool,
PostgREST errors mapped as before, and `open_lane()`'s pool of its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiohttp import web

from storage import supabase
from storage.errors import StorageError
from storage.records import Applied, LedgerKind, NewLedgerEntry
from storage.supabase import SupabaseStore, _env_proxy
from tests.fakes.supabase import FakeSupabase
from tests.fakes.supabase_backend import ANON_KEY, SERVICE_KEY


@dataclass
class Stub:
    """A PostgREST stand-in that records each request's client port and headers; `gate`, when set, holds
    every request until it opens."""

    url: str = ""
    ports: list[int] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    gate: asyncio.Event | None = None
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    answer: Callable[[], web.Response] = lambda: web.Response(text="null", content_type="application/json")

    async def handle(self, request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.ports.append(peer[1] if peer else -1)
        self.headers.append(dict(request.headers))
        self.bodies.append(await request.read())
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            async with self.arrived:
                self.arrived.notify_all()
            if self.gate is not None:
                await self.gate.wait()
            return self.answer()
        finally:
            self.in_flight -= 1

    async def until_in_flight(self, count: int) -> None:
        async with self.arrived:
            await self.arrived.wait_for(lambda: self.in_flight >= count)


@pytest.fixture
async def stub() -> AsyncIterator[Stub]:
    state = Stub()
    app = web.Application()
    app.router.add_post("/rest/v1/rpc/{fn}", state.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        if state.gate is not None:
            state.gate.set()
        await runner.cleanup()


async def test_an_rpc_is_the_request_supabase_py_sends(stub: Stub) -> None:
    store = await SupabaseStore.open(stub.url, SERVICE_KEY)
    try:
        assert await store.get_user(5) is None
    finally:
        await store.close()
    headers = {k.lower(): v for k, v in stub.headers[0].items()}
    assert headers["apikey"] == SERVICE_KEY
    assert headers["authorization"] == f"Bearer {SERVICE_KEY}"
    assert headers["accept-profile"] == headers["content-profile"] == "public"
    assert headers["content-type"] == "application/json"
    assert headers["x-client-info"].startswith("supabase-py/")
    assert stub.bodies == [b'{"p_user_id":5}']


async def test_sequential_rpcs_reuse_one_connection(stub: Stub) -> None:
    store = await SupabaseStore.open(stub.url, SERVICE_KEY)
    try:
        for user_id in range(20):
            await store.get_user(user_id)
    finally:
        await store.close()
    assert len(stub.ports) == 20 and len(set(stub.ports)) == 1


async def test_the_pool_bounds_and_reuses_its_connections(
    stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supabase, "RPC_CONNECTIONS", 4)
    stub.gate = asyncio.Event()
    store = await SupabaseStore.open(stub.url, SERVICE_KEY)
    try:
        calls = [asyncio.create_task(store.get_user(i)) for i in range(10)]
        await stub.until_in_flight(4)
        stub.gate.set()
        assert await asyncio.gather(*calls) == [None] * 10
        first = set(stub.ports)
        for user_id in range(10):
            await store.get_user(user_id)
    finally:
        await store.close()
    assert stub.most_in_flight == 4, "never more requests at once than connections"
    assert len(first) == 4 and set(stub.ports) == first, "the same four connections, kept alive"


async def test_an_error_without_a_postgrest_body_keeps_its_code(stub: Stub) -> None:
    stub.answer = lambda: web.Response(
        status=503, text="<html>busy</html>", headers={"Proxy-Status": "PostgREST; error=PGRST003"}
    )
    store = await SupabaseStore.open(stub.url, SERVICE_KEY)
    try:
        with pytest.raises(StorageError) as caught:
            await store.get_user(1)
    finally:
        await store.close()
    assert str(caught.value) == "get_user failed: PGRST003 Service Unavailable"
    assert SERVICE_KEY not in str(caught.value)


def test_the_environments_proxy_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert _env_proxy("https://abc.supabase.co") is None
    monkeypatch.setenv("https_proxy", "http://proxy.internal:3128")
    assert _env_proxy("https://abc.supabase.co") == "http://proxy.internal:3128"
    assert _env_proxy("http://127.0.0.1:54321") is None
    monkeypatch.setenv("no_proxy", "abc.supabase.co")
    assert _env_proxy("https://abc.supabase.co") is None


# open_lane, through the double onto PostgreSQL


@pytest.fixture
async def double(postgres_db: str, tmp_path: Path) -> AsyncIterator[FakeSupabase]:
    fake = FakeSupabase(
        postgres_db, service_key=SERVICE_KEY, anon_key=ANON_KEY, storage_root=tmp_path / "objects", tls=False
    )
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


async def _debits_waiting_for_a_lock(postgres_db: str, count: int) -> None:
    """Until `count` backends wait for a lock (the debits the test started, behind its wallet lock)."""
    watcher = await asyncpg.connect(postgres_db)
    try:
        waiting = """select count(*) from pg_catalog.pg_stat_activity
                     where wait_event_type = 'Lock' and datname = current_database()"""
        while await watcher.fetchval(waiting) < count:  # each check is a round trip: no busy spin
            pass
    finally:
        await watcher.close()


async def test_the_lane_has_a_pool_of_its_own(
    double: FakeSupabase, postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supabase, "RPC_CONNECTIONS", 2)
    monkeypatch.setattr(supabase, "RPC_TIMEOUT", httpx.Timeout(30.0, connect=10.0, pool=0.2))
    store = await SupabaseStore.open(double.url, SERVICE_KEY)
    lane = await store.open_lane()
    holder = await asyncpg.connect(postgres_db)
    try:
        assert lane is not store
        await store.ensure_user(1)
        await store.apply_ledger_entry(NewLedgerEntry(1, 10, LedgerKind.ADMIN, "fund:1"))
        lock = holder.transaction()
        await lock.start()
        await holder.execute("select 1 from public.wallets where user_id = 1 for update")
        debits = [
            asyncio.create_task(store.apply_ledger_entry(NewLedgerEntry(1, -1, LedgerKind.DEBIT, f"d:{i}")))
            for i in range(2)
        ]
        await asyncio.wait_for(_debits_waiting_for_a_lock(postgres_db, 2), 30)

        # both of the store's connections wait on the lock: its next call finds none free, the lane's does
        with pytest.raises(httpx.PoolTimeout):
            await store.get_user(1)
        seen = await lane.get_user(1)
        assert seen is not None and seen.balance == 10

        await lock.rollback()
        assert all(isinstance(outcome, Applied) for outcome in await asyncio.gather(*debits))

        await lane.close()
        user = await store.get_user(1)  # closing the lane left the store's client alone
        assert user is not None and user.balance == 8
        lane = await store.open_lane()
        await store.close()
        user = await lane.get_user(1)  # and closing the store leaves the lane's alone
        assert user is not None and user.balance == 8
    finally:
        await holder.close()
        await lane.close()
        await store.close()
    for closed in (store, lane):
        with pytest.raises(RuntimeError, match="closed"):
            await closed.get_user(1)
