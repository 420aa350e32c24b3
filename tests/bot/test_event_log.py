"""The INFO log an operator reads: one line per event that matters, each with its generation (or payment)
and user id, no secrets, and none of APScheduler's per-run chatter over real ticks of the real scheduler."""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from typing import Any

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent

from services.heartbeat import heartbeat_path
from services.providers.demo import clip_path
from services.scheduler import build_scheduler
from tests.bot.test_admin import ADMIN, command, refund_notices
from tests.bot.test_stars_generation import invoice_for_demo
from tests.bot.wizard_helpers import reply
from tests.conftest import TOKEN
from tests.poller.conftest import USER, Rig

TICKS = 3
OURS = ("bot.", "services.")


@pytest.fixture
def rig_settings() -> dict[str, Any]:
    return {"admin_ids": [ADMIN]}


def ours(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The bot's own INFO-and-above lines (httpx and the fake servers' access logs are not the bot's)."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith(OURS)]


def info(caplog: pytest.LogCaptureFixture, mentioning: str) -> list[str]:
    return [line for line in ours(caplog) if mentioning in line]


def events(caplog: pytest.LogCaptureFixture, generation_id: str) -> list[str]:
    """The lifecycle events logged for one generation, in order ("placed", "submitted", ...)."""
    pattern = re.compile(rf"generation {generation_id} ([A-Za-z ]+):")
    return [m.group(1) for line in info(caplog, generation_id) if (m := pattern.match(line))]


async def test_a_demo_generation_logs_each_lifecycle_event_once(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await rig.fund()
    made = await rig.order(model="demo")
    failing = await rig.order("noresult please", model="demo")
    await rig.settle(made.id, failing.id)
    await rig.poller.tick()  # nothing left to do: nothing more is logged

    assert events(caplog, made.id) == ["placed", "submitted", "done", "delivered"]
    placed, submitted, done, delivered = info(caplog, made.id)
    size = len(clip_path().read_bytes())
    assert placed == f"generation {made.id} placed: user {USER}, model demo (t2v), 5 credits"
    assert re.fullmatch(
        rf"generation {made.id} submitted: user {USER}, route demo demo-clip, task demo-[0-9a-z-]+", submitted
    )
    assert done == f"generation {made.id} done: user {USER}, video stored ({size} bytes)"
    assert delivered == f"generation {made.id} delivered: user {USER}, uploaded"

    assert events(caplog, failing.id) == ["placed", "submitted", "refunded"]
    refunded = info(caplog, failing.id)[-1]
    assert refunded.startswith(f"generation {failing.id} refunded: user {USER}, 5 credits, reason no_video (")
    assert not [line for line in ours(caplog) if TOKEN in line]


async def test_a_url_token_in_a_failure_reason_never_reaches_the_log(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await rig.fund()
    generation = await rig.order(model="demo")
    detail = "result expired: https://cdn.example/v/1.mp4?X-Amz-Signature=s3cr3t&Expires=9 (403)"
    await rig.generations.fail(generation.id, code="download_failed", message=detail)
    [line] = [line for line in info(caplog, generation.id) if "refunded" in line]
    assert line.endswith("reason download_failed (result expired: https://cdn.example/v/1.mp4?… (403))")
    assert "s3cr3t" not in caplog.text, "in no logger at all"


async def test_payments_refunds_and_admin_changes_log_one_line_each(
    rig: Rig, polling: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    invoice_id = await invoice_for_demo(rig)
    charge = await rig.telegram.pay(USER, invoice_id)
    assert charge is not None
    await reply(rig, lambda text: "your video is ordered" in text)
    [generation] = await rig.store.list_user_generations(USER)
    await rig.settle(generation.id)
    assert "Refunded 5 ⭐" in await command(rig, f"/refund {charge}")
    await rig.telegram.wait_for(lambda t: not t.updates and refund_notices(t))  # refunded_payment came too
    await command(rig, "/topup 5001 7 sorry for the wait")
    await command(rig, "/deduct 5001 2")

    assert info(caplog, charge) == [
        f"Stars payment {charge} credited: user {USER} paid 5 Stars for 5 credits (gen invoice), balance 5",
        f"generation {generation.id} paid in Stars: payment {charge}, user {USER}",
        f"Stars payment {charge} refunded: user {USER}, 5 Stars, 0 credits taken back, balance 0",
    ]
    assert events(caplog, generation.id) == ["placed", "paid in Stars", "submitted", "done", "delivered"]
    assert info(caplog, f"by {ADMIN}:") == [
        f"admin top-up by {ADMIN}: user {USER} +7 credits, balance 7, reason 'sorry for the wait'",
        f"admin deduction by {ADMIN}: user {USER} -2 credits, balance 5, reason None",
    ]
    assert not [line for line in ours(caplog) if TOKEN in line]


async def test_scheduler_ticks_log_nothing_at_info_and_write_the_heartbeat(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = rig.settings.model_copy(update={"poll_interval_seconds": 0.25})
    scheduler = build_scheduler(rig.poller, rig.services.retention, rig.services.notices, settings)
    runs: Counter[str] = Counter()
    enough = asyncio.Event()

    def executed(event: JobExecutionEvent) -> None:
        runs[event.job_id] += 1
        if runs["hard-timeouts"] >= TICKS and runs["heartbeat"] >= TICKS:
            enough.set()

    scheduler.add_listener(executed, EVENT_JOB_EXECUTED)
    scheduler.start()
    try:
        await asyncio.wait_for(enough.wait(), timeout=30)
    finally:
        scheduler.shutdown(wait=False)
    assert heartbeat_path(settings).is_file()
    # a run skipped while the previous one still runs is a real warning, and depends on the load
    chatter = [
        r
        for r in caplog.records
        if r.name.startswith("apscheduler")
        and r.levelno >= logging.INFO
        and "maximum number of running instances reached" not in r.getMessage()
    ]
    assert chatter == [], [r.getMessage() for r in chatter]
