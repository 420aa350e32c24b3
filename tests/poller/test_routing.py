"""Routing by cost and health end to end: the rig's model "clip" has two routes, OpenAI first (0.10 $/s)
and LaoZhang second (0.25 $ a clip), each a fake OpenAI Videos API. The policy picks the route of each
create; a route that keeps failing cools down, new orders go to the other route without touching it,
and after the cool-down it gets one try. /stats shows each route's health."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiogram import Dispatcher

from bot.formatting import when
from storage.records import Generation, GenerationStatus, LedgerKind
from tests.bot.test_admin import ADMIN, command
from tests.poller.conftest import USER, Rig

COOLDOWN = 300  # ROUTING_COOLDOWN_SECONDS' default, after ROUTING_COOLDOWN_FAILURES = 3


@pytest.fixture
def rig_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {"admin_ids": [ADMIN], **getattr(request, "param", {})}


async def made(rig: Rig, count: int, prompt: str = "a cat surfing") -> list[Generation]:
    """`count` orders one after the other, each worked until delivered; their rows."""
    done = []
    for n in range(count):
        generation = await rig.order(f"{prompt} {n}")
        await rig.settle(generation.id)
        row = await rig.get(generation.id)
        assert row.status is GenerationStatus.DELIVERED, row
        done.append(row)
    return done


def routes(rows: list[Generation]) -> list[str | None]:
    return [row.route_provider for row in rows]


async def cool_down_openai(rig: Rig) -> None:
    """Three orders whose creates OpenAI refuses (no balance): each fails over to LaoZhang, and OpenAI
    cools down from the third refusal on."""
    rig.openai.fail_next(
        "create", 402, message="You exceeded your current quota", code="insufficient_quota", times=3
    )
    assert routes(await made(rig, 3)) == ["laozhang"] * 3
    assert rig.openai.hits["create"] == 3 and rig.laozhang.hits["create"] == 3


@pytest.mark.parametrize(
    ("rig_settings", "route"),
    [({}, "openai"), ({"routing_policy": "cheapest"}, "laozhang")],
    indirect=["rig_settings"],
    ids=["priority", "cheapest"],
)
async def test_the_policy_picks_the_route_cheapest_the_cheaper_one(rig: Rig, route: str) -> None:
    await rig.fund()
    assert routes(await made(rig, 2)) == [route, route]
    other = rig.laozhang if route == "openai" else rig.openai
    assert other.hits["create"] == 0
    assert await rig.balance() == 80
    assert await rig.violations() == []


@pytest.mark.parametrize("rig_settings", [{"routing_policy": "healthiest"}], indirect=True)
async def test_healthiest_sends_the_next_order_where_videos_were_made(rig: Rig) -> None:
    await rig.fund()
    rig.openai.fail_next("create", 402, message="insufficient quota", code="insufficient_quota")
    assert routes(await made(rig, 2)) == ["laozhang", "laozhang"]
    assert rig.openai.hits["create"] == 1, "OpenAI made 0 of 1, LaoZhang 1 of 1: no second try yet"
    assert await rig.violations() == []


async def test_a_route_that_keeps_failing_cools_down_then_gets_one_try(rig: Rig) -> None:
    await rig.fund(credits=200)
    await cool_down_openai(rig)

    assert routes(await made(rig, 1)) == ["laozhang"]
    assert rig.openai.hits["create"] == 3, "while it cools down OpenAI is not even asked"

    rig.clock.advance(seconds=COOLDOWN)
    together = [await rig.order(f"after the cool-down {n}") for n in range(2)]
    await rig.tick()  # both are submitted in the same pass: only one may be OpenAI's try
    assert rig.openai.hits["create"] == 4
    await rig.settle(*(g.id for g in together))
    assert sorted(routes([await rig.get(g.id) for g in together])) == ["laozhang", "openai"]

    assert routes(await made(rig, 2)) == ["openai", "openai"], "the video closed the breaker"
    assert await rig.balance() == 200 - 8 * 10
    assert await rig.violations() == []


async def test_a_failed_try_after_the_cool_down_starts_another(rig: Rig) -> None:
    await rig.fund()
    await cool_down_openai(rig)
    rig.clock.advance(seconds=COOLDOWN)
    rig.openai.fail_next("create", 503, message="Service Unavailable", times=4)  # all the transport's tries
    assert routes(await made(rig, 2)) == ["laozhang", "laozhang"]
    assert rig.openai.hits["create"] == 3 + 4, "the one try failed; the next order skips OpenAI again"
    assert await rig.violations() == []


async def test_tasks_the_provider_failed_on_its_side_cool_the_route_down(rig: Rig) -> None:
    await rig.fund()
    rig.openai.outcome = "server_error"  # accepted, then failed upstream: each goes once to LaoZhang
    assert routes(await made(rig, 3)) == ["laozhang"] * 3
    assert [row.failover_from for row in await rig.store.list_user_generations(USER, limit=3)] == [
        "openai:sora-2"
    ] * 3
    rig.openai.outcome = "completed"
    assert routes(await made(rig, 1)) == ["laozhang"]
    assert rig.openai.hits["create"] == 3 and rig.laozhang.hits["create"] == 4
    assert await rig.balance() == 60, "one debit per video, the reroutes included"
    assert await rig.violations() == []


async def test_content_policy_refusals_do_not_cool_a_route_down(rig: Rig) -> None:
    await rig.fund()
    for n in range(3):
        refused = await rig.order(f"something forbidden {n}")
        await rig.settle(refused.id)
        row = await rig.get(refused.id)
        assert row.status is GenerationStatus.FAILED and row.error_code == "content_policy"
    assert routes(await made(rig, 1)) == ["openai"]
    assert rig.openai.hits["create"] == 4 and rig.laozhang.hits["create"] == 0
    refunds = [e for e in await rig.store.list_ledger(USER) if e.kind is LedgerKind.REFUND]
    assert len(refunds) == 3 and await rig.balance() == 90
    assert await rig.violations() == []


async def test_stats_show_each_routes_health(rig: Rig, polling: Dispatcher) -> None:
    assert polling.workflow_data.get("routing") is rig.services.routing, "the tracker the poller feeds"
    await rig.fund()
    await cool_down_openai(rig)
    [third] = await rig.store.list_user_generations(USER, limit=1)
    assert third.submit_started_at is not None  # OpenAI's third refusal came in that same pass
    until = when(third.submit_started_at + timedelta(seconds=COOLDOWN))
    reply = await command(rig, "/stats")
    health = reply.split("\n🩺 ")[1]
    assert health.startswith("Routes now, in this process (latest results kept per route: 20):")
    assert "\n• laozhang · sora-2: 3 of 3 made a video (100 %), median time to a video 0:20\n" in health
    assert health.endswith(
        f"\n• openai · sora-2: 0 of 3 made a video (0 %), median time to a video —,"
        f" ❄️ cooling down until {until} UTC"
    )
    assert reply.count("\n\n") == 1, "two periods, the health under the last"
    assert await rig.violations() == []
