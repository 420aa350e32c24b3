"""Storage contract: the FSM state the bot keeps in the store (bot/fsm.py), on both backends, and
aiogram's view of it through StoreStorage."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.storage.base import StorageKey

from bot.fsm import StoreStorage
from bot.wizard.states import Wizard
from storage.interfaces import StateStore
from tests.conftest import BackendUnderTest


async def test_a_record_is_replaced_whole_and_an_empty_one_leaves_nothing(backend: BackendUnderTest) -> None:
    store, key = backend.store, "fsm:1:2:2:default"
    assert await store.get_fsm(key) == (None, {})
    draft = {"wizard": {"id": "d1", "values": {"prompt": "ünï ✓", "duration": 8}}}
    await store.set_fsm(key, "Wizard:prompt", draft)
    assert await store.get_fsm(key) == ("Wizard:prompt", draft)
    await store.set_fsm(key, None, {"orders": []})
    assert await store.get_fsm(key) == (None, {"orders": []})
    await store.set_fsm(key, "Wizard:model", {})
    assert await store.get_fsm(key) == ("Wizard:model", {})
    await store.set_fsm(key, None, {})
    assert await store.get_fsm(key) == (None, {})
    await store.set_fsm(key, None, {})  # removing what is not there is fine
    assert await store.get_fsm("fsm:1:3:3:default") == (None, {}), "keys are separate"


async def test_aiogram_sees_the_same_state_from_a_second_storage(backend: BackendUnderTest) -> None:
    """What a restarted process sees: a new StoreStorage over the same store."""
    key = StorageKey(bot_id=42, chat_id=7, user_id=7)
    orders = StorageKey(bot_id=42, chat_id=7, user_id=7, destiny="stars-orders")
    first = StoreStorage(backend.store)
    await first.set_state(key, Wizard.summary)
    await first.update_data(key, {"wizard": {"id": "d1"}})
    await first.set_data(orders, {"orders": [{"id": "o1"}]})
    await first.close()  # the dispatcher's shutdown: the store stays open

    second = StoreStorage(backend.store)
    assert await second.get_state(key) == Wizard.summary.state
    assert await second.get_data(key) == {"wizard": {"id": "d1"}}
    assert await second.get_value(orders, "orders") == [{"id": "o1"}]
    assert await second.get_state(orders) is None
    await second.set_state(key, None)
    await second.set_data(key, {})
    assert (await second.get_state(key), await second.get_data(key)) == (None, {})


class SlowFirstWrite(StateStore):
    """A store whose first write is slower than the second, as a round trip to a remote database may be."""

    def __init__(self) -> None:
        self.records: dict[str, tuple[str | None, dict[str, Any]]] = {}
        self.first = asyncio.Event()
        self.writes = 0

    async def get_fsm(self, key: str) -> tuple[str | None, dict[str, Any]]:
        return self.records.get(key, (None, {}))

    async def set_fsm(self, key: str, state: str | None, data: Mapping[str, Any]) -> None:
        self.writes += 1
        if self.writes == 1:
            await self.first.wait()
        self.records[key] = (state, dict(data))


async def test_writes_reach_the_store_newest_last_and_reads_see_them_at_once() -> None:
    store = SlowFirstWrite()
    storage, key = StoreStorage(store), StorageKey(bot_id=42, chat_id=7, user_id=7)
    first = asyncio.create_task(storage.set_data(key, {"step": 1}))
    await asyncio.sleep(0)  # the first write is on its way
    second = asyncio.create_task(storage.set_data(key, {"step": 2}))
    await asyncio.sleep(0)
    assert await storage.get_data(key) == {"step": 2}, "the process sees its newest write at once"
    store.first.set()
    await asyncio.gather(first, second)
    assert store.records["fsm:42:7:7:default"] == (None, {"step": 2})


async def test_only_the_newest_records_stay_in_memory() -> None:
    store = SlowFirstWrite()
    store.first.set()
    storage = StoreStorage(store, keep=2)
    for user in (1, 2, 3):
        await storage.set_state(StorageKey(bot_id=42, chat_id=user, user_id=user), Wizard.prompt)
    store.records["fsm:42:1:1:default"] = ("Wizard:summary", {})  # changed behind its back
    assert await storage.get_state(StorageKey(bot_id=42, chat_id=1, user_id=1)) == "Wizard:summary"
    assert await storage.get_state(StorageKey(bot_id=42, chat_id=3, user_id=3)) == "Wizard:prompt"
