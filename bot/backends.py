"""Picks and opens the storage backend the settings ask for (ARCHITECTURE §5).

SUPABASE_URL with SUPABASE_SERVICE_ROLE_KEY selects Supabase (Postgres functions + a Storage bucket,
safe for several replicas); otherwise the embedded SQLite file and a local media folder.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.settings import ConfigError, Settings
from storage.interfaces import MediaStore, Store
from storage.local_media import LocalMediaStore
from storage.sqlite import SqliteStore
from storage.supabase import open_supabase


@dataclass(frozen=True, slots=True)
class Backends:
    store: Store
    media: MediaStore

    async def close(self) -> None:
        await self.media.close()
        await self.store.close()


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
        return Backends(store, media)
    store = await SqliteStore.open(settings.database_path)
    media = LocalMediaStore(
        settings.media_dir,
        public_base_url=None if settings.public_base_url is None else str(settings.public_base_url),
        link_secret=settings.media_link_key(),
    )
    return Backends(store, media)
