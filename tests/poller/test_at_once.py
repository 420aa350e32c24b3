"""No waiting for the clock: a paid generation is submitted at once, the poller's loop polls a row when it
is due and delivers in the same pass, and one hanging provider holds only its own slots."""

from __future__ import annotations

from typing import Any

import pytest

from storage.records import GenerationStatus
from tests.fakes.telegram import FakeTelegram
from tests.poller.conftest import Rig


@pytest.fixture
def rig_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {
        "submit_at_once": True,
        # long enough that a stalled create is still hanging when the test ends
        "provider_read_timeout": 120,
        **getattr(request, "param", {}),
    }


def videos_sent(telegram: FakeTelegram) -> int:
    return len(telegram.calls_of("sendVideo"))


async def test_a_paid_generation_is_submitted_without_waiting_for_a_tick(rig: Rig) -> None:
    await rig.fund()
    generation = await rig.order()
    await rig.poller.drain()  # only what the order itself set off: no tick ran
    assert rig.openai.hits["create"] == 1
    row = await rig.get(generation.id)
    assert row.status is GenerationStatus.RUNNING and row.provider_task_id is not None
    assert row.lease_owner is None and row.next_poll_at is not None and row.next_poll_at > rig.clock.now
    report = await rig.poller.tick()
    assert report.claimed == 0, "nothing is due before the next poll the submit asked for"
    assert rig.openai.hits["create"] == 1


@pytest.mark.parametrize("rig_settings", [{"poll_interval_seconds": 1}], indirect=True)
async def test_the_loop_polls_when_due_and_delivers_in_the_same_pass(rig: Rig) -> None:
    rig.clock.follow_real_time()
    rig.openai.polls_to_complete = 1  # the first status read says in progress, the second completed
    await rig.fund()
    rig.poller.start()
    generation = await rig.order()
    await rig.telegram.wait_for(videos_sent, timeout=60)
    await rig.poller.finish_work_on(generation.id)
    row = await rig.get(generation.id)
    assert row.status is GenerationStatus.DELIVERED
    assert rig.openai.hits["create"] == 1 and rig.openai.hits["retrieve"] == 2, rig.openai.hits
    assert rig.openai.hits["content"] == 1 and videos_sent(rig.telegram) == 1


@pytest.mark.parametrize("rig_settings", [{"poll_interval_seconds": 1}], indirect=True)
async def test_a_hanging_provider_holds_only_its_own_slot(rig: Rig) -> None:
    rig.clock.follow_real_time()
    rig.openai.break_next("create", "stall", made=False)  # OpenAI takes the create and never answers
    await rig.fund()
    rig.poller.start()
    hanging = await rig.order()
    demo = await rig.order(model="demo")
    await rig.telegram.wait_for(videos_sent, timeout=60)
    await rig.poller.finish_work_on(demo.id)
    assert (await rig.get(demo.id)).status is GenerationStatus.DELIVERED
    stuck = await rig.get(hanging.id)
    assert stuck.status is GenerationStatus.QUEUED and stuck.submit_request_id is not None
    assert stuck.lease_owner == rig.poller.owner, "still being submitted: the create has not returned"
    assert rig.openai.hits["create"] == 1
    await rig.poller.stop(grace_seconds=0)
    released = await rig.get(hanging.id)
    assert released.lease_owner is None and released.submit_request_id is not None, "looked up next time"


@pytest.mark.parametrize(
    "rig_settings",
    [
        {
            "provider_concurrency": 1,
            "submit_at_once": False,
            "poll_interval_seconds": 1,
            "min_poll_intervals": {"openai": 600},  # a handed-back row stays back for the test
        }
    ],
    indirect=True,
)
async def test_rows_beyond_a_busy_providers_budget_go_back_and_the_others_pass(rig: Rig) -> None:
    rig.clock.follow_real_time()
    for _ in range(3):
        rig.openai.break_next("create", "stall", made=False)
    await rig.fund()
    clips = [await rig.order(f"clip {n}") for n in range(3)]
    demo = await rig.order(model="demo")
    rig.poller.start()
    await rig.telegram.wait_for(videos_sent, timeout=60)
    await rig.poller.finish_work_on(demo.id)
    assert (await rig.get(demo.id)).status is GenerationStatus.DELIVERED
    rows = [await rig.get(c.id) for c in clips]
    assert rig.openai.hits["create"] == 1, "one create at a time on a provider with concurrency 1"
    sending = [r for r in rows if r.submit_request_id is not None]
    waiting = [r for r in rows if r.submit_request_id is None and r.lease_owner == rig.poller.owner]
    handed_back = [r for r in rows if r.lease_owner is None]
    assert (len(sending), len(waiting), len(handed_back)) == (1, 1, 1), rows
    [back] = handed_back
    assert back.status is GenerationStatus.QUEUED and back.next_poll_at is not None
    assert back.next_poll_at > rig.clock.now, "back in the queue for later, not claimed again at once"
    await rig.poller.stop(grace_seconds=0)
