"""Picks and opens the storage backend the settings ask for (ARCHITECTURE §5)."""

from __future__ import annotations

from dataclasses import dataclass

from services.settings import ConfigError, Settings
from storage.interfaces import MediaStore, Store
from storage.local_media import LocalMediaStore
from storage.sqlite import SqliteStore


@dataclass(frozen=True, slots=True)
class Backends:
    store: Store
    media: MediaStore

    async def close(self) -> None:
        await self.media.close()
        await self.store.close()


async def open_backends(settings: Settings) -> Backends:
    if settings.storage_backend == "supabase":
        raise ConfigError(
            [
                "SUPABASE_URL is set, but this version has only the embedded store: unset SUPABASE_URL and "
                "SUPABASE_SERVICE_ROLE_KEY to run on SQLite"
            ]
        )
    store = await SqliteStore.open(settings.database_path)
    media = LocalMediaStore(
        settings.media_dir,
        public_base_url=None if settings.public_base_url is None else str(settings.public_base_url),
        link_secret=settings.media_link_key(),
    )
    return Backends(store, media)
