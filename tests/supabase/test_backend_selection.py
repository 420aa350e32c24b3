"""The bot picks the Supabase backend from its settings alone and talks to the project with the key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from bot.backends import open_backends
from services.settings import Settings
from storage.errors import StorageError
from storage.supabase import SupabaseMediaStore, SupabaseStore
from tests.fakes.supabase import FakeSupabase
from tests.fakes.supabase_backend import ANON_KEY, SERVICE_KEY


@pytest.fixture
async def plain_double(postgres_db: str, tmp_path: Path) -> AsyncIterator[FakeSupabase]:
    """Served over plain HTTP, like a local `supabase start`, so the bot's default TLS checks apply."""
    fake = FakeSupabase(
        postgres_db, service_key=SERVICE_KEY, anon_key=ANON_KEY, storage_root=tmp_path / "objects", tls=False
    )
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_supabase_settings_select_the_supabase_backend(
    plain_double: FakeSupabase, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(supabase_url=plain_double.url, supabase_service_role_key=SERVICE_KEY)
    assert settings.storage_backend == "supabase"
    backends = await open_backends(settings)
    try:
        assert isinstance(backends.store, SupabaseStore)
        assert isinstance(backends.media, SupabaseMediaStore)
        user = await backends.store.ensure_user(7, username="alice")
        assert (user.id, user.balance) == (7, 0)
        assert (
            await backends.media.write("inputs/7/photo.jpg", _chunks(b"jpeg"), content_type="image/jpeg") == 4
        )
        link = await backends.media.link("inputs/7/photo.jpg", expires_in=60)
        async with httpx.AsyncClient() as http:
            fetched = await http.get(link)  # a signed link needs no key
        assert fetched.content == b"jpeg"
        assert fetched.headers["content-type"] == "image/jpeg"
        assert not (settings.data_dir / "uploads").exists() or not any(
            (settings.data_dir / "uploads").iterdir()
        )
    finally:
        await backends.close()
    assert ("POST", "/rest/v1/rpc/ensure_user") in plain_double.requests
    assert not (settings.data_dir / "bot.sqlite3").exists(), "nothing went to the embedded store"


async def test_a_wrong_key_is_refused_and_never_echoed(
    plain_double: FakeSupabase, make_settings: Callable[..., Settings]
) -> None:
    wrong = "sb_secret_" + "not-the-right-one-0000000000"
    backends = await open_backends(
        make_settings(supabase_url=plain_double.url, supabase_service_role_key=wrong)
    )
    try:
        with pytest.raises(StorageError) as caught:
            await backends.store.ensure_user(1)
        assert wrong not in str(caught.value)
        with pytest.raises(StorageError) as refused:
            await backends.media.write("1/g.mp4", _chunks(b"v"))
        assert wrong not in str(refused.value)
    finally:
        await backends.close()


async def test_the_media_store_refuses_types_the_bucket_does_not_take(plain_double: FakeSupabase) -> None:
    media = await SupabaseMediaStore.open(plain_double.url, SERVICE_KEY, bucket="generations")
    try:
        with pytest.raises(StorageError, match="415"):
            await media.write("1/notes.txt", _chunks(b"hi"), content_type="text/plain")
        assert not await media.exists("1/notes.txt")
    finally:
        await media.close()
