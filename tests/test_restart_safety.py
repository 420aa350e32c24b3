"""Restart safety: the bot process is SIGKILLed with generations in flight and started again.

Every generation must still end delivered or refunded exactly once: leases of the dead process expire,
the demo provider's tasks survive in their ids, and guarded transitions stop any outcome applying twice.
"""

from __future__ import annotations

import asyncio
import signal
from asyncio.subprocess import Process
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from services.catalog import load_catalog
from services.generations import GenerationService
from services.providers.registry import Providers
from services.settings import Settings
from services.video_request import VideoRequest
from storage.local_media import LocalMediaStore
from storage.records import ACTIVE_STATUSES, GenerationCreated, GenerationStatus, LedgerKind, NewLedgerEntry
from storage.sqlite import SqliteStore
from tests.conftest import TOKEN
from tests.fakes.bot_process import BotProcess, bot_env, kill_leftovers, start_bot
from tests.fakes.telegram import FakeTelegram
from tests.invariants import check_invariants

PROMPTS = ["a lighthouse in a storm", "forbidden scene", "noresult here"]
OK_USERS = range(7001, 7009)
POLICY_USERS = range(7101, 7103)
NO_VIDEO_USERS = range(7201, 7203)


async def order_generations(data: Path) -> dict[int, str]:
    """One demo generation per user, each user in their own chat, paid from a top-up."""
    settings = Settings(_env_file=None, bot_token=TOKEN, data_dir=data, demo_mode=True)  # type: ignore[call-arg]
    store = await SqliteStore.open(settings.database_path)
    service = GenerationService(store, load_catalog(), settings, Providers(settings))
    orders: dict[int, str] = {}
    try:
        for users, prompt in zip((OK_USERS, POLICY_USERS, NO_VIDEO_USERS), PROMPTS, strict=True):
            for user in users:
                await store.ensure_user(user, username=None, language="en")
                await store.apply_ledger_entry(
                    NewLedgerEntry(user, 20, LedgerKind.ADMIN, f"admin:1:{user}", 1)
                )
                request = VideoRequest(model="demo", mode="t2v", prompt=prompt)
                created = await service.create(user_id=user, chat_id=user, request=request)
                assert isinstance(created, GenerationCreated)
                orders[user] = created.generation.id
    finally:
        await store.close()
    return orders


async def count_in_flight(data: Path, orders: dict[int, str]) -> int:
    store = await SqliteStore.open(data / "bot.sqlite3")
    try:
        rows = [await store.get_generation(g) for g in orders.values()]
    finally:
        await store.close()
    return sum(1 for r in rows if r is not None and r.status in ACTIVE_STATUSES)


def chats_with(telegram: FakeTelegram, method: str, needle: str = "") -> set[int]:
    return {
        int(call.params["chat_id"])
        for call in telegram.calls_of(method)
        if call.ok and needle in str(call.params.get("text", call.params.get("caption", "")))
    }


async def test_sigkill_with_generations_in_flight_then_restart_ends_each_exactly_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    orders = await order_generations(data)
    telegram = FakeTelegram(TOKEN)
    await telegram.start()
    env = bot_env(
        telegram.url,
        data,
        DEMO_DELAY_SECONDS="3",
        POLL_INTERVAL_SECONDS="0.5",
        POLL_LEASE_SECONDS="2",
        PROGRESS_EDIT_SECONDS="1",
    )
    logs = []
    processes: list[BotProcess | Process] = []
    try:
        first = await start_bot(tmp_path, env)
        processes.append(first)
        # Killed once the tasks are submitted (their progress messages are out), before they finish.
        await telegram.wait_for(
            lambda t: len(chats_with(t, "sendMessage", "making your video")) >= 6, timeout=60
        )
        first.kill()
        output, _ = await first.communicate()
        logs.append(output.decode())
        assert first.returncode == -signal.SIGKILL
        assert await count_in_flight(data, orders) > 0, "the kill must catch generations in flight"

        second = await start_bot(tmp_path, env)
        processes.append(second)
        failing = set(POLICY_USERS) | set(NO_VIDEO_USERS)

        def settled(t: FakeTelegram) -> bool:
            notices = chats_with(t, "sendMessage", "returned") | chats_with(t, "editMessageText", "returned")
            return chats_with(t, "sendVideo") >= set(OK_USERS) and notices >= failing

        await telegram.wait_for(settled, timeout=90)
        second.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(second.communicate(), timeout=30)
        logs.append(output.decode())
        assert second.returncode == 0, logs[-1]
    finally:
        await kill_leftovers(processes)
        await telegram.close()

    store = await SqliteStore.open(data / "bot.sqlite3")
    try:
        for user, generation_id in orders.items():
            row = await store.get_generation(generation_id)
            assert row is not None
            kinds = Counter(e.kind for e in await store.list_ledger(user))
            if user in OK_USERS:
                assert row.status is GenerationStatus.DELIVERED, (user, row.status, logs)
                assert kinds == {LedgerKind.ADMIN: 1, LedgerKind.DEBIT: 1}
            else:
                assert row.status is GenerationStatus.FAILED, (user, row.status)
                assert kinds == {LedgerKind.ADMIN: 1, LedgerKind.DEBIT: 1, LedgerKind.REFUND: 1}
            assert row.lease_owner is None or row.status is not GenerationStatus.RUNNING
        videos = Counter(int(c.params["chat_id"]) for c in telegram.calls_of("sendVideo") if c.ok)
        # At-least-once delivery: a kill between the upload and its record may resend one video.
        assert set(videos) == set(OK_USERS) and max(videos.values()) <= 2
        media = LocalMediaStore(data / "media", public_base_url=None, link_secret=b"k")
        assert await check_invariants(store, media, now=datetime.now(UTC), poll_interval_seconds=0.5) == []
    finally:
        await store.close()
    assert all(TOKEN not in log for log in logs)
