"""Shared fixtures: clean settings, the storage backends under test, and the invariant check."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.settings import Settings
from storage.interfaces import MediaStore, Store
from storage.local_media import LocalMediaStore
from storage.sqlite import SqliteStore
from tests.fakes.postgres import tmpfs_with_room
from tests.fakes.sleeps import Sleeps
from tests.invariants import check_invariants

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"

pytest_plugins = ["tests.fakes.supabase_backend", "tests.fakes.redis_server"]

#: Backends every contract test runs against: SQLite, supabase-py through the protocol double onto a real
#: PostgreSQL, and a real Supabase project when SUPABASE_TEST_* are set (tests/fakes/supabase_backend.py).
_LIVE = all(os.environ.get(f"SUPABASE_TEST_{name}") for name in ("URL", "SERVICE_ROLE_KEY", "DB_URL"))
BACKENDS = ["sqlite", "supabase", *(["supabase-live"] if _LIVE else [])]


def pytest_configure(config: pytest.Config) -> None:
    """The tests' temporary directories go on tmpfs when it has room (tests/fakes/postgres.py): SQLite files,
    spooled uploads and the fakes' stored objects are made and deleted there without the disk's syncs,
    which halves the time of the file-heavy tests. An explicit --basetemp or PYTEST_DEBUG_TEMPROOT wins."""
    if config.option.basetemp or os.environ.get("PYTEST_DEBUG_TEMPROOT"):
        return
    tmpfs = tmpfs_with_room()
    if tmpfs is not None:
        os.environ["PYTEST_DEBUG_TEMPROOT"] = str(tmpfs)  # read by pytest when tmp_path is first used


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests see only the settings they pass: no machine variables, no developer's .env."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"bot_token": TOKEN, "data_dir": tmp_path / "data", "demo_mode": True}
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@dataclass
class BackendUnderTest:
    name: str
    store: Store
    media: MediaStore

    async def violations(self, *, now: datetime | None = None, poll_interval: float = 10.0) -> list[str]:
        found = await check_invariants(
            self.store, self.media, now=now or datetime.now(UTC), poll_interval_seconds=poll_interval
        )
        return [str(v) for v in found]


async def open_backend(name: str, root: Path) -> BackendUnderTest:
    if name == "sqlite":
        store = await SqliteStore.open(root / "bot.sqlite3")
        media = LocalMediaStore(root / "media", public_base_url="https://bot.example", link_secret=b"k" * 32)
        return BackendUnderTest(name, store, media)
    from tests.fakes import supabase_backend  # the plugin of pytest_plugins above

    if name == "supabase":
        store, media, _ = await supabase_backend.open_double_backend(root)
        return BackendUnderTest(name, store, media)
    if name == "supabase-live":
        store, media = await supabase_backend.open_live_backend(root)
        return BackendUnderTest(name, store, media)
    raise ValueError(name)


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BackendUnderTest]:
    """A fresh backend; every scenario ends with the money invariants of ARCHITECTURE §4."""
    under_test = await open_backend(request.param, tmp_path / request.param)
    try:
        yield under_test
        assert await under_test.violations() == []
    finally:
        await under_test.media.close()
        await under_test.store.close()


@pytest.fixture
def sleeps() -> Sleeps:
    """Injected as ProviderHttp(sleep=...) so retries are recorded, never waited for."""
    return Sleeps()
