"""SIGKILL between a create POST and the write of its task id (issue 13, item 1): the real process sends a
Runware `videoInference` whose answer never comes, is killed, and is started again. The second process
finds the task by its taskUUID (our client request id, recorded before the POST) instead of sending it
again: one paid generation, one provider task, one video.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime
from pathlib import Path

from services.catalog import load_catalog
from services.generations import GenerationService
from services.providers.registry import Providers
from services.settings import Settings
from services.video_request import VideoRequest
from storage.local_media import LocalMediaStore
from storage.records import GenerationCreated, GenerationStatus, LedgerKind, NewLedgerEntry
from storage.sqlite import SqliteStore
from tests.conftest import TOKEN
from tests.fakes.bot_process import Output, bot_env, kill_leftovers, start_bot
from tests.fakes.providers.runware import FakeRunware
from tests.fakes.telegram import FakeTelegram
from tests.invariants import check_invariants

CATALOG = Path(__file__).parent / "poller" / "submit_catalog.toml"
USER = 7301


async def test_sigkill_after_the_create_was_sent_is_reconciled_by_task_uuid(tmp_path: Path) -> None:
    data = tmp_path / "data"
    runware = FakeRunware()
    telegram = FakeTelegram(TOKEN)
    await runware.start()
    await telegram.start()
    provider_env = {"RUNWARE_API_KEY": runware.api_key, "RUNWARE_BASE_URL": runware.api_url}
    settings = Settings(
        _env_file=None,
        bot_token=TOKEN,
        data_dir=data,
        catalog_path=CATALOG,
        **{k.lower(): v for k, v in provider_env.items()},
    )  # type: ignore[call-arg]
    store = await SqliteStore.open(settings.database_path)
    try:
        await store.ensure_user(USER, language="en")
        await store.apply_ledger_entry(NewLedgerEntry(USER, 50, LedgerKind.ADMIN, f"admin:1:{USER}", 1))
        service = GenerationService(store, load_catalog(CATALOG), settings, Providers(settings))
        created = await service.create(
            user_id=USER, chat_id=USER, request=VideoRequest(model="rw", mode="t2v", prompt="a lighthouse")
        )
        assert isinstance(created, GenerationCreated)
    finally:
        await store.close()
    generation_id = created.generation.id

    runware.break_next_ack("stall")
    env = bot_env(
        telegram.url,
        data,
        CATALOG_PATH=str(CATALOG),
        POLL_INTERVAL_SECONDS="0.5",
        POLL_LEASE_SECONDS="2",
        MIN_POLL_INTERVALS="runware=0.5",
        **provider_env,
    )
    processes = []
    try:
        first = await start_bot(tmp_path, env)
        processes.append(first)
        assert first.stdout is not None
        before = Output(first.stdout)
        try:
            await asyncio.wait_for(runware.create_seen.wait(), timeout=60)
        except TimeoutError:
            raise AssertionError(f"no create was sent:\n{before.text}") from None
        first.send_signal(signal.SIGKILL)
        await first.wait()
        assert runware.creates() == 1, before.text
        [sent] = runware.tasks

        store = await SqliteStore.open(settings.database_path)
        try:
            left = await store.get_generation(generation_id)
        finally:
            await store.close()
        assert left is not None and left.status is GenerationStatus.QUEUED and left.submit_request_id == sent

        second = await start_bot(tmp_path, env)
        processes.append(second)
        assert second.stdout is not None
        output = Output(second.stdout)
        await output.wait_for(f"generation {generation_id} delivered")
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), timeout=30) == 0, output.text
        assert f"create {sent} found on runware" in output.text
    finally:
        await kill_leftovers(processes)
        await telegram.close()
        await runware.close()

    assert runware.creates() == 1, "the create was never sent again"
    store = await SqliteStore.open(settings.database_path)
    try:
        done = await store.get_generation(generation_id)
        assert done is not None and done.status is GenerationStatus.DELIVERED
        assert done.provider_task_id == done.submit_request_id == sent
        assert [e.kind for e in await store.list_ledger(USER)] == [LedgerKind.DEBIT, LedgerKind.ADMIN]
        media = LocalMediaStore(data / "media", public_base_url=None, link_secret=b"k")
        assert await check_invariants(store, media, now=datetime.now(UTC), poll_interval_seconds=0.5) == []
    finally:
        await store.close()
    assert [int(c.params["chat_id"]) for c in telegram.calls_of("sendVideo") if c.ok] == [USER]
