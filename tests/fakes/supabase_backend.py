"""Fixtures that put the Supabase backend under test (a pytest plugin loaded by tests/conftest.py).

By default: one real PostgreSQL per session (tests/fakes/postgres.py), started in the background while
the suite is collected; a fresh migrated database per test (copied ahead of need, dropped after it in
the background), and the PostgREST + Storage double in front of it, reached by the real supabase-py
client.

With SUPABASE_TEST_URL, SUPABASE_TEST_SERVICE_ROLE_KEY and SUPABASE_TEST_DB_URL set, the same tests
also run against that real project (local `supabase start` or a disposable hosted one): the tables are
wiped through the database URL before each test (the ledger is append-only by trigger, so the wipe
runs with triggers off) and the objects of the bucket are removed through the Storage API.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from services.settings import Settings
from storage.interfaces import MediaStore, Store
from storage.local_media import LocalMediaStore
from storage.sqlite import SqliteStore
from storage.supabase import SupabaseMediaStore, SupabaseStore, open_supabase
from tests.fakes.postgres import PostgresServer
from tests.fakes.supabase import FakeSupabase

LIVE_URL = os.environ.get("SUPABASE_TEST_URL", "")
LIVE_KEY = os.environ.get("SUPABASE_TEST_SERVICE_ROLE_KEY", "")
LIVE_DB_URL = os.environ.get("SUPABASE_TEST_DB_URL", "")
LIVE_BUCKET = os.environ.get("SUPABASE_TEST_BUCKET", "generations")

SERVICE_KEY = "sb_secret_" + "double-service-role-key-for-tests"
ANON_KEY = "sb_publishable_" + "double-anon-key-for-tests"


_server: concurrent.futures.Future[PostgresServer] | None = None
_server_lock = threading.Lock()


def _start_server(started: concurrent.futures.Future[PostgresServer]) -> None:
    try:
        server = PostgresServer.start()
        try:
            asyncio.run(server.build_template())  # this thread has no loop of its own
            server.prepare_databases()
        except BaseException:
            server.stop()
            raise
        atexit.register(server.stop)  # also when the session ends abnormally
    except BaseException as error:
        started.set_exception(error)
    else:
        started.set_result(server)


def start_postgres() -> concurrent.futures.Future[PostgresServer]:
    """The session's PostgreSQL, started (and the template migrated) in a background thread on first call,
    as soon as collection finds a test that needs it. `pytest_sessionfinish` stops it."""
    global _server
    with _server_lock:
        if _server is None:
            _server = concurrent.futures.Future()
            starter = threading.Thread(target=_start_server, args=(_server,), daemon=True)
            starter.start()
        return _server


def postgres() -> PostgresServer:
    """The session's PostgreSQL, waiting for it to be ready (from sync code; async code awaits
    `asyncio.wrap_future(start_postgres())`)."""
    return start_postgres().result()


def _needs_postgres(item: pytest.Item) -> bool:
    if {"postgres_db", "postgres_server"} & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec is not None else {}
    return "supabase" in (params.get("backend"), params.get("rig_backend"))


def pytest_itemcollected(item: pytest.Item) -> None:
    """Start the server while the rest of the suite is collected, not when the first such test runs."""
    if _server is None and not item.config.option.collectonly and _needs_postgres(item):
        start_postgres()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _server
    with _server_lock:
        started, _server = _server, None
    if started is not None and started.exception() is None:
        started.result().stop()


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    """One PostgreSQL for the whole session, with the migrations applied to a template database."""
    return postgres()


@pytest.fixture
async def postgres_db(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """The DSN (superuser) of a fresh database with every migration applied."""
    name = await postgres_server.create_database()
    try:
        yield postgres_server.dsn(name)
    finally:
        await postgres_server.drop_database(name)


class _DoubleMediaStore(SupabaseMediaStore):
    """The media store of a double-backed backend: closing it also stops the double and drops the
    test's database (the backend fixtures close media before the store, and the store holds no
    connection of its own)."""

    cleanups: list[Callable[[], Awaitable[None]]]

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            for cleanup in reversed(self.cleanups):
                await cleanup()


async def open_double_backend(root: Path) -> tuple[SupabaseStore, SupabaseMediaStore, FakeSupabase]:
    """supabase-py → the protocol double → a fresh migrated PostgreSQL database."""
    await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    server = await asyncio.wrap_future(start_postgres())
    name = await server.create_database()
    fake = FakeSupabase(
        server.dsn(name), service_key=SERVICE_KEY, anon_key=ANON_KEY, storage_root=root / "fake-storage"
    )
    try:
        await fake.start()
        verify = fake.client_ssl_context or True
        store = await SupabaseStore.open(fake.url, SERVICE_KEY, verify=verify)
        media = await _DoubleMediaStore.open(
            fake.url, SERVICE_KEY, bucket="generations", verify=verify, spool_dir=root
        )
    except BaseException:
        await fake.close()
        await server.drop_database(name)
        raise
    assert isinstance(media, _DoubleMediaStore)

    async def drop() -> None:
        await server.drop_database(name)

    media.cleanups = [drop, fake.close]
    return store, media, fake


async def _wipe_live() -> None:
    conn = await asyncpg.connect(LIVE_DB_URL)
    try:
        async with conn.transaction():
            await conn.execute("set local session_replication_role = replica")
            await conn.execute(
                "truncate public.ledger, public.generations, public.payments, public.wallets, public.users,"
                " public.outbox, public.video_uploads, public.telegram_updates, public.fsm_states"
            )
    finally:
        await conn.close()


async def _empty_bucket(media: SupabaseMediaStore) -> None:
    bucket = media._bucket
    folders = [""]
    while folders:
        prefix = folders.pop()
        entries = await bucket.list(prefix or None, {"limit": 1000})
        files = []
        for entry in entries:
            name = f"{prefix}/{entry['name']}" if prefix else entry["name"]
            if entry.get("id") is None:
                folders.append(name)
            else:
                files.append(name)
        if files:
            await bucket.remove(files)


async def open_live_backend(root: Path) -> tuple[SupabaseStore, SupabaseMediaStore]:
    await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    await _wipe_live()
    store, media = await open_supabase(LIVE_URL, LIVE_KEY, bucket=LIVE_BUCKET, spool_dir=root)
    await _empty_bucket(media)
    return store, media


#: Backends the poller/bot rig (tests/poller/conftest.py) runs its journeys on.
RIG_BACKENDS = ["sqlite", "supabase"]


#: Journeys that check the bot's own `/media/` links, which only the local media store makes (with
#: Supabase, links are Storage signed URLs).
LOCAL_LINK_TESTS = frozenset(
    {
        "test_health_and_signed_media_links",
        "test_video_over_the_upload_limit_is_sent_as_a_working_link",
        "test_a_server_with_a_smaller_limit_than_configured_gets_a_link_instead",
    }
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Journeys run on every rig backend, except in a module that opens SQLite itself (it is about the
    embedded store, e.g. a second replica on the same file) and those about local media links."""
    if "rig_backend" in metafunc.fixturenames:
        sqlite_only = (
            getattr(metafunc.module, "SqliteStore", None) is not None
            or metafunc.function.__name__ in LOCAL_LINK_TESTS
        )
        metafunc.parametrize("rig_backend", ["sqlite"] if sqlite_only else RIG_BACKENDS)


async def open_rig_backend(name: str, settings: Settings) -> tuple[Store, MediaStore]:
    """The rig's store and media store: the embedded pair under DATA_DIR, or Supabase via the double."""
    if name == "sqlite":
        store = await SqliteStore.open(settings.database_path)
        media = LocalMediaStore(
            settings.media_dir, public_base_url="https://bot.example", link_secret=settings.media_link_key()
        )
        return store, media
    if name == "supabase":
        store, media, _ = await open_double_backend(settings.data_dir / "supabase")
        return store, media
    raise ValueError(name)
