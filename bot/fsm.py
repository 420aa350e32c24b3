"""Where aiogram keeps FSM state: the wizard in progress (bot/wizard/session.py) and the Stars orders
waiting for their payment (bot/wizard/orders.py). aiogram's default keeps it in the process, so a restart
lost every open wizard and every invoice's order; here it outlives the process.

With REDIS_URL set it is aiogram's own RedisStorage (shared by replicas); otherwise the bot's store keeps
it (a table in the SQLite file, or in Supabase's Postgres, through `StateStore`). Keys name the bot, the
chat, the user and the destiny, so the orders' own destiny (`stars-orders`) works with either.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections import Counter, OrderedDict
from collections.abc import Mapping
from typing import Any

from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StateType, StorageKey
from aiogram.fsm.storage.redis import RedisStorage

from services.settings import Settings
from storage.interfaces import StateStore

#: One key format for both storages, so switching to Redis changes where keys live, not what they are.
KEYS = DefaultKeyBuilder(with_bot_id=True, with_destiny=True)

Record = tuple[str | None, dict[str, Any]]


class StoreStorage(BaseStorage):
    """aiogram's FSM storage on the bot's own store: one record (state + JSON data) per key.

    Every change is written to the store before the call returns, so nothing a user was answered is lost
    by a restart. Records are also kept in memory (the `keep` used last): aiogram reads the state of every
    update, which then costs no round trip, and a handler sees its own writes at once, as with aiogram's
    memory storage. The wizard relies on that: it sends its message and then records the message's id,
    and a press must find that id (a Supabase round trip can take longer than the press takes to come).
    So one process owns its keys; several replicas set REDIS_URL.
    """

    def __init__(self, store: StateStore, *, keep: int = 10_000) -> None:
        self._store = store
        self._keep = keep
        self._records: OrderedDict[str, Record] = OrderedDict()
        #: writes under way per key (their record stays in memory until the store has it), and their turns
        self._writing: Counter[str] = Counter()
        self._turns: dict[str, asyncio.Lock] = {}

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        _, data = await self._record(key)
        await self._write(key, (state.state if isinstance(state, State) else state, data))

    async def get_state(self, key: StorageKey) -> str | None:
        state, _ = await self._record(key)
        return state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, dict):  # what aiogram's own storages refuse
            raise DataNotDictLikeError(f"Data must be a dict or dict-like object, got {type(data).__name__}")
        state, _ = await self._record(key)
        await self._write(key, (state, json.loads(json.dumps(data))))  # what the store will give back

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        _, data = await self._record(key)
        return copy.deepcopy(data)

    async def close(self) -> None:
        """Nothing of its own: the store is closed with the other backends (bot/backends.py)."""

    async def _record(self, key: StorageKey) -> Record:
        name = KEYS.build(key)
        if name in self._records:
            self._records.move_to_end(name)
            return self._records[name]
        loaded = await self._store.get_fsm(name)
        record = self._records.setdefault(name, loaded)  # a write made meanwhile is newer
        self._forget_oldest()
        return record

    async def _write(self, key: StorageKey, record: Record) -> None:
        """Remember `record`, then store the newest record of the key. Writes of one key are stored in
        the order they were made, whatever the store's latency."""
        name = KEYS.build(key)
        self._records[name] = record
        self._records.move_to_end(name)
        self._writing[name] += 1
        try:
            async with self._turns.setdefault(name, asyncio.Lock()):
                state, data = self._records[name]  # the newest, even if a later write made it
                await self._store.set_fsm(name, state, data)
        finally:
            self._writing[name] -= 1
            if not self._writing[name]:
                del self._writing[name], self._turns[name]
        self._forget_oldest()

    def _forget_oldest(self) -> None:
        while len(self._records) > self._keep:
            oldest = next((name for name in self._records if name not in self._writing), None)
            if oldest is None:
                return
            del self._records[oldest]


def open_fsm_storage(settings: Settings, store: StateStore) -> BaseStorage:
    """Redis when REDIS_URL is set (checked at start-up by bot/startup.py `reach_redis`), else the store."""
    if settings.redis_url is not None:
        return RedisStorage.from_url(settings.redis_url.get_secret_value(), key_builder=KEYS)
    return StoreStorage(store)
