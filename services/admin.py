"""What an admin reads: one user's recent generations and payments (/user), and the figures of /stats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.interfaces import Store
from storage.records import Generation, Payment, Stats


@dataclass(frozen=True, slots=True)
class Activity:
    """A user's latest generations and Stars payments, newest first."""

    generations: list[Generation]
    payments: list[Payment]


class AdminReports:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def activity(self, user_id: int, *, limit: int) -> Activity:
        return Activity(
            generations=await self._store.list_user_generations(user_id, limit=limit),
            payments=await self._store.list_payments(user_id, limit=limit),
        )

    async def stats(self, *, since: datetime) -> Stats:
        return await self._store.stats(since=since)
