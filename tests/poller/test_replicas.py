"""Two pollers on one database, cancellation, the scheduler's jobs, shutdown and media retention."""

from __future__ import annotations

import asyncio
from collections import Counter

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from services.scheduler import build_scheduler
from storage.interfaces import media_path
from storage.records import GenerationStatus, LedgerKind, NotRefundable, Refunded
from storage.sqlite import SqliteStore
from tests.poller.conftest import USER, Rig


async def test_two_pollers_on_one_database_deliver_and_refund_each_generation_once(rig: Rig) -> None:
    second_store = await SqliteStore.open(rig.settings.database_path)
    try:
        other = rig.new_poller(second_store, owner="poller-b")
        users = [USER + n for n in range(6)]
        for user in users:
            await rig.fund(user)
        rig.openai.polls_to_complete = 2
        ordered = []
        for user in users:
            ordered.append(await rig.order("a calm lake at dawn", user_id=user))
            ordered.append(await rig.order("forbidden words", user_id=user))
            ordered.append(await rig.order("noresult", model="demo", user_id=user))
        ids = [g.id for g in ordered]
        for _ in range(12):
            await asyncio.gather(rig.poller.tick(), other.tick(), rig.poller.sweep(), other.sweep())
            rig.clock.advance(seconds=10)
        rows = [await rig.get(i) for i in ids]
        assert Counter(r.status for r in rows) == {
            GenerationStatus.DELIVERED: len(users),
            GenerationStatus.FAILED: 2 * len(users),
        }
        captions = Counter(c.params["chat_id"] for c in rig.telegram.calls_of("sendVideo"))
        assert captions == Counter(str(u) for u in users), "exactly one video per delivered generation"
        notices = [
            c
            for c in rig.telegram.requests
            if c.method.lower() in ("sendmessage", "editmessagetext")
            and "returned" in c.params.get("text", "")
        ]
        assert len(notices) == 2 * len(users), "one refund notice per failed generation"
        for user in users:
            kinds = Counter(e.kind for e in await rig.store.list_ledger(user))
            assert kinds == {LedgerKind.ADMIN: 1, LedgerKind.DEBIT: 3, LedgerKind.REFUND: 2}
        assert {r.route_provider for r in rows if r.status is GenerationStatus.DELIVERED} == {"openai"}
        assert rig.openai.hits["create"] == 2 * len(users), "each generation submitted once"
    finally:
        await second_store.close()


async def test_cancel_while_queued_refunds_and_the_poller_never_submits(rig: Rig) -> None:
    await rig.fund()
    generation = await rig.order()
    outcome = await rig.generations.cancel(generation.id, user_id=USER)
    assert isinstance(outcome, Refunded) and outcome.entry.delta == 10
    await rig.tick()
    assert rig.openai.hits["create"] == 0
    assert (await rig.get(generation.id)).status is GenerationStatus.CANCELLED
    assert await rig.balance() == 100


async def test_cancel_needs_the_owner_and_a_provider_that_can_stop(rig: Rig) -> None:
    await rig.fund()
    await rig.fund(USER + 1)
    generation = await rig.order()
    await rig.tick()
    assert await rig.generations.cancel(generation.id, user_id=USER + 1) == NotRefundable(None), "not yours"
    assert await rig.generations.cancel("f" * 32, user_id=USER) == NotRefundable(None), "unknown id"
    outcome = await rig.generations.cancel(generation.id, user_id=USER)
    assert isinstance(outcome, NotRefundable), "OpenAI cannot stop a running task"
    assert rig.telegram.calls_of("sendMessage")[0].params.get("reply_markup") is None, "so no cancel button"
    await rig.settle(generation.id)
    assert (await rig.get(generation.id)).status is GenerationStatus.DELIVERED


async def test_cancel_a_running_demo_task_shows_the_button_and_refunds(rig: Rig) -> None:
    rig.settings.demo_delay_seconds = 3600
    await rig.fund()
    generation = await rig.order(model="demo")
    await rig.tick()
    progress = rig.telegram.calls_of("sendMessage")[0]
    buttons = progress.params["reply_markup"]["inline_keyboard"][0]
    assert buttons[0]["callback_data"] == f"gc:{generation.id}"
    outcome = await rig.generations.cancel(generation.id, user_id=USER)
    assert isinstance(outcome, Refunded)
    again = await rig.generations.cancel(generation.id, user_id=USER)
    assert again == NotRefundable(await rig.get(generation.id))
    await rig.tick()
    assert (await rig.get(generation.id)).status is GenerationStatus.CANCELLED
    assert await rig.balance() == 100


async def test_scheduled_jobs_never_overlap_the_loop_submits_and_stop_releases_leases(rig: Rig) -> None:
    rig.openai.polls_to_complete = 10_000
    await rig.fund()
    generation = await rig.order()
    scheduler = build_scheduler(rig.poller, rig.services.retention, rig.services.notices, rig.settings)
    assert isinstance(scheduler, AsyncIOScheduler)
    scheduler.start()  # inside the running loop, as the bot does
    rig.poller.start()
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == {"hard-timeouts", "notices", "heartbeat", "media-retention"}
        assert all(job.max_instances == 1 and job.coalesce for job in jobs.values()), "runs never overlap"
        submitted = await rig.telegram.wait_for(lambda t: t.calls_of("sendMessage"))
        assert submitted, "the poller's loop claimed the due generation at start and submitted it"
    finally:
        scheduler.shutdown(wait=False)
    await rig.poller.stop(grace_seconds=5)
    row = await rig.get(generation.id)
    assert row.status is GenerationStatus.RUNNING and row.lease_owner is None


async def test_stop_cancels_long_work_and_frees_its_lease(rig: Rig) -> None:
    await rig.fund()
    rig.openai.polls_to_complete = 0
    generation = await rig.order()
    await rig.tick()
    rig.openai.hold_download = asyncio.Event()
    ticking = asyncio.ensure_future(rig.poller.tick())
    await rig.openai.download_held.wait()
    assert (await rig.get(generation.id)).lease_owner == "poller-a"
    await rig.poller.stop(grace_seconds=0)
    await asyncio.wait({ticking})
    row = await rig.get(generation.id)
    assert row.status is GenerationStatus.RUNNING and row.lease_owner is None
    assert row.next_poll_at is not None and row.next_poll_at <= rig.clock.now, "the next owner starts at once"
    assert not await rig.media.exists(media_path(USER, generation.id)), "no half-written file"
    rig.openai.hold_download.set()


async def test_media_retention_deletes_old_videos_and_marks_them(rig: Rig) -> None:
    await rig.fund()
    old = await rig.order()
    await rig.settle(old.id)
    rig.clock.advance(days=rig.settings.media_retention_days + 1)
    fresh = await rig.order()
    await rig.settle(fresh.id)
    assert await rig.services.retention.clean() == 1
    expired = await rig.get(old.id)
    assert expired.media_expired_at is not None and expired.file_id is not None
    assert not await rig.media.exists(expired.result_path or "")
    kept = await rig.get(fresh.id)
    assert kept.media_expired_at is None and await rig.media.exists(kept.result_path or "")
    assert await rig.services.retention.clean() == 0
