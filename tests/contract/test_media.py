"""Storage contract: the media store streams, never shows partial objects, and signs expiring links."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest

from storage.errors import MediaTooLargeError, UnsafeMediaPathError
from storage.interfaces import media_path
from storage.local_media import LocalMediaStore
from tests.conftest import BackendUnderTest


async def chunks(*parts: bytes, fail_after: int | None = None) -> AsyncIterator[bytes]:
    for index, part in enumerate(parts):
        if fail_after is not None and index == fail_after:
            raise ConnectionResetError("provider closed the download")
        yield part


async def read_all(media, path: str) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join([chunk async for chunk in media.read(path, chunk_size=3)])


async def test_streamed_write_round_trips(backend: BackendUnderTest) -> None:
    media = backend.media
    path = media_path(42, "abc")
    assert path == "42/abc.mp4"
    assert not await media.exists(path)
    size = await media.write(path, chunks(b"hello ", b"video ", b"bytes"))
    assert size == 17
    assert await media.exists(path)
    assert await media.size(path) == 17
    assert await read_all(media, path) == b"hello video bytes"
    assert await media.delete(path) is True
    assert await media.delete(path) is False
    assert await media.size(path) is None


async def test_interrupted_download_leaves_no_object(backend: BackendUnderTest) -> None:
    path = media_path(1, "broken")
    with pytest.raises(ConnectionResetError):
        await backend.media.write(path, chunks(b"a" * 10, b"b" * 10, fail_after=1))
    assert not await backend.media.exists(path)
    if isinstance(backend.media, LocalMediaStore):
        assert list(backend.media.resolve(path).parent.iterdir()) == [], "the temporary file is removed too"


async def test_size_cap_aborts_the_write(backend: BackendUnderTest) -> None:
    path = media_path(1, "big")
    with pytest.raises(MediaTooLargeError):
        await backend.media.write(path, chunks(b"x" * 600, b"x" * 600), max_bytes=1000)
    assert not await backend.media.exists(path)
    assert await backend.media.write(path, chunks(b"x" * 1000), max_bytes=1000) == 1000


async def test_overwrite_replaces_whole_object(backend: BackendUnderTest) -> None:
    path = media_path(3, "g")
    await backend.media.write(path, chunks(b"first version"))
    await backend.media.write(path, chunks(b"second"))
    assert await read_all(backend.media, path) == b"second"


@pytest.mark.parametrize(
    "path", ["../etc/passwd", "/etc/passwd", "1/../../x.mp4", "", "1//x.mp4", "1/.hidden", "a b/c.mp4"]
)
async def test_unsafe_paths_are_refused(backend: BackendUnderTest, path: str) -> None:
    with pytest.raises(UnsafeMediaPathError):
        await backend.media.write(path, chunks(b"x"))


async def test_links_expire_and_cannot_be_forged(backend: BackendUnderTest) -> None:
    path = media_path(5, "g5")
    await backend.media.write(path, chunks(b"v"))
    url = await backend.media.link(path, expires_in=600)
    assert url.startswith("https://")
    if isinstance(backend.media, LocalMediaStore):
        local = backend.media
        link = await local.link(path, expires_in=600, now=1_000_000)
        parts = urlsplit(link)
        assert parts.path == f"/media/{path}"
        query = parse_qs(parts.query)
        expires, signature = int(query["exp"][0]), query["sig"][0]
        assert expires == 1_000_600
        assert local.verify_link(path, expires, signature, now=1_000_500)
        assert not local.verify_link(path, expires, signature, now=1_000_601), "expired"
        assert not local.verify_link(media_path(6, "g5"), expires, signature, now=1_000_500), "other object"
        assert not local.verify_link(path, expires + 3600, signature, now=1_000_500), "extended expiry"
        other_key = LocalMediaStore(local.root, public_base_url="https://bot.example", link_secret=b"z" * 32)
        assert not other_key.verify_link(path, expires, signature, now=1_000_500), "signed with another key"
