"""Payment updates kept from the moment they arrive until their handler has finished.

Long polling confirms a batch to Telegram with the next getUpdates offset, before the batch's handlers
have run (a webhook answer does the same). A `successful_payment` killed in that window would be gone:
Telegram never sends it again. So each payment update is kept here before Telegram can be told it
arrived (bot/inbox.py), marked handled when its handler is done, and replayed at the next start if it
never was. Handling is idempotent (a charge id credits once, its order has a request key), so a replay
of one that was in fact handled changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.generations import Clock, utcnow
from storage.interfaces import InboxStore
from storage.records import ReceivedUpdate

#: Kept updates replayed at a start, at most (oldest first; the rest at the next start).
REPLAY_LIMIT = 1000


class PaymentInbox:
    def __init__(self, store: InboxStore, *, clock: Clock = utcnow) -> None:
        self._store = store
        self._clock = clock

    async def keep(self, update_id: int, body: Mapping[str, Any]) -> None:
        await self._store.keep_update(update_id, body, now=self._clock())

    async def handled(self, update_id: int) -> None:
        await self._store.finish_update(update_id, now=self._clock())

    async def pending(self) -> list[ReceivedUpdate]:
        return await self._store.pending_updates(limit=REPLAY_LIMIT)
