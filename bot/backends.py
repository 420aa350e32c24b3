"""Picks and opens the storage backend the settings ask for (ARCHITECTURE §5).

SUPABASE_URL with SUPABASE_SERVICE_ROLE_KEY selects Supabase (Postgres functions + a Storage bucket,
safe for several replicas); otherwise the embedded SQLite file and a local media folder.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from services.heartbeat import heartbeat_path
from services.settings import ConfigError, Settings
from storage.errors import StoragePathError, os_reason
from storage.interfaces import MediaStore, Store
from storage.local_media import LocalMediaStore
from storage.sqlite import SqliteStore
from storage.supabase import open_supabase, probe_supabase


@dataclass(frozen=True, slots=True)
class Backends:
    store: Store
    media: MediaStore
    #: The poller's own path to the same data (Store.open_lane); `store` itself where there is none.
    lane: Store

    async def close(self) -> None:
        await self.media.close()
        if self.lane is not self.store:
            await self.lane.close()
        await self.store.close()


async def _with_lane(store: Store, media: MediaStore) -> Backends:
    try:
        lane = await store.open_lane()
    except BaseException:
        await media.close()
        await store.close()
        raise
    return Backends(store, media, lane)


def data_dir_problem(settings: Settings) -> str | None:
    """Why the bot could not create or write what it keeps under DATA_DIR, in one line; None if it can.

    `python -m bot check` and the start both ask, so they agree. It leaves nothing behind: a folder is
    tested by creating and removing a temporary folder in it, or in its nearest existing parent when it
    does not exist yet; existing files the bot writes are opened for writing and closed unchanged.
    """
    folders = [("DATA_DIR", settings.data_dir)]
    files = [("Heartbeat file", heartbeat_path(settings))]
    if settings.storage_backend == "supabase":
        folders.append(("Upload spool", settings.data_dir / "uploads"))
    else:
        folders.append(("Media folder", settings.media_dir))
        database = settings.database_path
        files += [("Database", database.with_name(database.name + suffix)) for suffix in ("", "-wal", "-shm")]
    for label, folder in folders:
        problem = _folder_problem(folder)
        if problem is not None:
            return f"{label} {folder} {problem}"
    for label, path in files:
        try:
            with path.open("r+b"):
                pass
        except FileNotFoundError:
            continue
        except OSError as error:
            return f"{label} {path} is not writable: {os_reason(error)}"
    return None


def _folder_problem(folder: Path) -> str | None:
    for existing in (folder, *folder.parents):
        try:
            existing.stat()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as error:
            return f"cannot be reached: {os_reason(error)}"
        break
    if not existing.is_dir():
        return (
            "is not a directory"
            if existing == folder
            else f"cannot be created: {existing} is not a directory"
        )
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".write-test-", dir=existing))
    except OSError as error:
        where = "is not writable" if existing == folder else f"cannot be created in {existing}"
        return f"{where}: {os_reason(error)}"
    return None


async def reach_storage(settings: Settings) -> None:
    """Stop the start with one line (StorageOpenError) before anything is opened when the storage cannot
    work: DATA_DIR not writable (both backends keep files there), Supabase unreachable or refusing the key."""
    problem = data_dir_problem(settings)
    if problem is not None:
        raise StoragePathError(problem)
    key = settings.supabase_service_role_key
    if settings.storage_backend == "supabase" and key is not None:
        await probe_supabase(str(settings.supabase_url).rstrip("/"), key.get_secret_value())


async def open_backends(settings: Settings) -> Backends:
    if settings.storage_backend == "supabase":
        key = settings.supabase_service_role_key
        if settings.supabase_url is None or key is None:
            raise ConfigError(["SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY must be set together"])
        store, media = await open_supabase(
            str(settings.supabase_url),
            key.get_secret_value(),
            bucket=settings.supabase_bucket,
            spool_dir=settings.data_dir / "uploads",
        )
        return await _with_lane(store, media)
    store = await SqliteStore.open(settings.database_path)
    try:
        media = LocalMediaStore(
            settings.media_dir,
            public_base_url=None if settings.public_base_url is None else str(settings.public_base_url),
            link_secret=settings.media_link_key(),
        )
    except OSError as error:
        await store.close()
        raise StoragePathError(
            f"Media folder {settings.media_dir} cannot be created: {os_reason(error)}"
        ) from error
    return await _with_lane(store, media)
