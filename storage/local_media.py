"""Finished videos in a local folder, for the embedded backend.

Writes stream into a temporary file beside the target and are renamed into place only when complete,
so a crash mid-download never leaves a truncated video that looks finished. Links are HMAC-signed with
an expiry; the bot's web app serves `/media/<path>` after checking them with `verify_link`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import re
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from urllib.parse import quote

import aiofiles
import aiofiles.os

from storage.errors import MediaTooLargeError, StorageError, UnsafeMediaPathError
from storage.interfaces import MediaStore

_SAFE_PATH = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$")


class LocalMediaStore(MediaStore):
    def __init__(self, root: Path, *, public_base_url: str | None, link_secret: bytes) -> None:
        self.root = root.resolve()
        self._base_url = public_base_url.rstrip("/") if public_base_url else None
        self._secret = link_secret
        self.root.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        """Nothing to release: files are opened per call."""

    def resolve(self, path: str) -> Path:
        """The file for `path`, refusing anything that could escape the store."""
        if not _SAFE_PATH.match(path) or ".." in path.split("/"):
            raise UnsafeMediaPathError(f"unsafe media path: {path!r}")
        target = (self.root / path).resolve()
        if not target.is_relative_to(self.root):
            raise UnsafeMediaPathError(f"unsafe media path: {path!r}")
        return target

    async def write(
        self,
        path: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str = "video/mp4",
        max_bytes: int | None = None,
    ) -> int:
        target = self.resolve(path)
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        size = 0
        try:
            async with aiofiles.open(temp, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise MediaTooLargeError(max_bytes)
                    await out.write(chunk)
                await out.flush()
                await asyncio.to_thread(os.fsync, out.fileno())
            await aiofiles.os.replace(temp, target)
        except BaseException:
            await asyncio.to_thread(temp.unlink, missing_ok=True)
            raise
        return size

    async def exists(self, path: str) -> bool:
        return await aiofiles.os.path.isfile(self.resolve(path))

    async def size(self, path: str) -> int | None:
        target = self.resolve(path)
        try:
            return (await aiofiles.os.stat(target)).st_size
        except FileNotFoundError:
            return None

    async def read(self, path: str, *, chunk_size: int = 1 << 16) -> AsyncIterator[bytes]:
        async with aiofiles.open(self.resolve(path), "rb") as src:
            while chunk := await src.read(chunk_size):
                yield chunk

    async def delete(self, path: str) -> bool:
        try:
            await aiofiles.os.remove(self.resolve(path))
        except FileNotFoundError:
            return False
        return True

    async def link(self, path: str, *, expires_in: int, now: float | None = None) -> str:
        self.resolve(path)
        if self._base_url is None:
            raise StorageError("PUBLIC_BASE_URL is not set, so stored videos cannot be linked")
        expires = int(now if now is not None else time.time()) + expires_in
        return f"{self._base_url}/media/{quote(path)}?exp={expires}&sig={self._sign(path, expires)}"

    def verify_link(self, path: str, expires: int, signature: str, *, now: float | None = None) -> bool:
        """True when the signature is ours and the link has not expired."""
        if expires < (now if now is not None else time.time()):
            return False
        # bytes: compare_digest refuses a str with non-ASCII characters (a TypeError, not a refusal)
        return hmac.compare_digest(signature.encode(), self._sign(path, expires).encode())

    def _sign(self, path: str, expires: int) -> str:
        digest = hmac.new(self._secret, f"{path}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")
