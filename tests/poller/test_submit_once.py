"""One paid generation, at most one paid provider task (issue 13, items 1, 2 and 7), and one failover
after acceptance (item 3), on both backends.

A create that may have reached the provider is never sent again, nor to another route: it is found by
its client request id (Runware's taskUUID) or in the provider's own list (OpenAI), or the generation is
refunded with an "uncertain submit" record. A restart between sending a create and recording its task is
simulated by leaving the row as such a process leaves it (queued, the create on record); the SIGKILL
version is in tests/test_restart_safety.py.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.container import build_container
from services.providers.base import SubmitJob
from services.providers.registry import Providers
from services.submission import LOOKUP_GRACE_SECONDS
from services.video_request import VideoRequest
from storage.records import Generation, GenerationStatus, LedgerKind
from tests.fakes.providers.runware import FakeRunware, Script
from tests.poller.conftest import USER, Rig, adapter_factory

CATALOG = Path(__file__).with_name("submit_catalog.toml")
#: Long enough for any answer over loopback, short enough to stall a provider past it quickly.
READ_TIMEOUT = 1.0


@pytest.fixture
async def runware() -> AsyncIterator[FakeRunware]:
    fake = FakeRunware()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
def rig_settings(runware: FakeRunware) -> dict[str, Any]:
    return {
        "catalog_path": CATALOG,
        "provider_read_timeout": READ_TIMEOUT,
        "runware_api_key": runware.api_key,
        "runware_base_url": runware.api_url,
    }


async def refunded_as_uncertain(rig: Rig, generation_id: str, *, credits: int) -> Generation:
    """The generation ended failed with its one refund, the user was told why, and /stats counts it."""
    failed = await rig.get(generation_id)
    assert failed.status is GenerationStatus.FAILED and failed.error_code == "uncertain_submit"
    refunds = [e for e in await rig.store.list_ledger(USER) if e.kind is LedgerKind.REFUND]
    assert [e.delta for e in refunds] == [credits]
    texts = [
        c.params["text"]
        for c in rig.telegram.requests
        if c.method.lower() in ("sendmessage", "editmessagetext")
    ]
    assert any("did not confirm that it started this video" in t for t in texts)
    figures = await rig.store.stats(since=rig.clock.now - timedelta(days=1))
    assert figures.uncertain_submits == 1
    return failed


async def sent_then_killed(rig: Rig, generation: Generation, *, send: bool = True) -> str:
    """What a process killed between a create and the write of its task id leaves behind: the create on
    record, the POST sent (`send`; False: killed just before it left), the row still queued."""
    model = rig.catalog.get(generation.model)
    assert model is not None
    route = min(model.routes, key=lambda r: r.priority)
    request_id = str(uuid.uuid4())
    started = await rig.generations.begin_submit(
        generation.id,
        request_id=request_id,
        provider=route.provider,
        provider_model_id=route.provider_model_id(generation.mode),
    )
    assert started is not None
    if send:
        job = SubmitJob(VideoRequest.model_validate(generation.request), route, request_id=request_id)
        await rig.providers.for_route(route).submit(job)
    return request_id


# ------------------------------------------------------------------------------ an answer lost or garbled


async def test_a_runware_create_that_stalls_past_the_read_timeout_is_found_by_its_task_uuid(
    rig: Rig, runware: FakeRunware
) -> None:
    await rig.fund()
    runware.break_next_ack("stall")
    generation = await rig.order(model="rw")
    await rig.settle(generation.id)
    done = await rig.get(generation.id)
    assert done.status is GenerationStatus.DELIVERED and done.route_provider == "runware"
    assert runware.creates() == 1 and list(runware.tasks) == [done.provider_task_id]
    assert done.provider_task_id == done.submit_request_id, "the taskUUID is our client request id"
    assert rig.openai.hits["create"] == 0, "no failover after an uncertain create"
    assert await rig.balance() == 80


async def test_a_malformed_runware_answer_is_reconciled_by_its_task_uuid(
    rig: Rig, runware: FakeRunware
) -> None:
    await rig.fund()
    runware.break_next_ack("malformed")
    generation = await rig.order(model="rw")
    await rig.tick()
    running = await rig.get(generation.id)
    assert (
        running.status is GenerationStatus.RUNNING and running.provider_task_id == running.submit_request_id
    )
    await rig.settle(generation.id)
    assert (await rig.get(generation.id)).status is GenerationStatus.DELIVERED
    assert runware.creates() == 1 and rig.openai.hits["create"] == 0
    assert await rig.balance() == 80


async def test_a_malformed_runware_answer_for_a_task_it_never_made_is_refunded_after_the_grace(
    rig: Rig, runware: FakeRunware
) -> None:
    await rig.fund()
    runware.break_next_ack("malformed", made=False)
    generation = await rig.order(model="rw")
    await rig.poller.tick()
    waiting = await rig.get(generation.id)
    assert waiting.status is GenerationStatus.QUEUED and waiting.submit_request_id is not None
    assert waiting.attempts == 1, "not found yet: looked up again later, not sent again"
    rig.clock.advance(seconds=LOOKUP_GRACE_SECONDS)
    await rig.settle(generation.id)
    await refunded_as_uncertain(rig, generation.id, credits=20)
    lookups = [b for b in runware.requests if isinstance(b, list) and b[0].get("taskType") == "getResponse"]
    assert runware.creates() == 1 and len(lookups) >= 2 and rig.openai.hits["create"] == 0
    assert await rig.balance() == 100


async def test_an_openai_create_that_stalls_is_found_in_its_video_list(rig: Rig) -> None:
    await rig.fund()
    rig.openai.clock = rig.clock.monotonic
    rig.openai.break_next("create", "stall")
    generation = await rig.order()
    await rig.settle(generation.id)
    done = await rig.get(generation.id)
    assert done.status is GenerationStatus.DELIVERED and done.route_provider == "openai"
    assert rig.openai.hits["create"] == 1 and list(rig.openai.videos) == [done.provider_task_id]
    assert rig.openai.hits["list"] == 1 and rig.laozhang.hits["create"] == 0
    assert await rig.balance() == 90


@pytest.mark.parametrize("fault", ["stall", "malformed"])
async def test_an_uncertain_create_without_a_look_up_is_refunded_recorded_and_never_sent_elsewhere(
    rig: Rig, fault: str
) -> None:
    """LaoZhang documents no way to find a task but by the id it did not hand over."""
    await rig.fund()
    rig.laozhang.break_next("create", fault)  # type: ignore[arg-type]
    generation = await rig.order(model="clip-lz")
    await rig.settle(generation.id)
    failed = await refunded_as_uncertain(rig, generation.id, credits=10)
    assert failed.route_provider == "laozhang" and failed.submit_request_id is not None
    assert rig.laozhang.hits["create"] == 1 and len(rig.laozhang.videos) == 1
    assert rig.openai.hits["create"] == 0, "failing over would be a second paid task"


async def test_definite_refusals_still_fail_over_and_a_503_is_sent_again(rig: Rig) -> None:
    await rig.fund()
    rig.laozhang.fail_next("create", 401, message="invalid token")
    rig.openai.fail_next("create", 503, times=2)
    generation = await rig.order(model="clip-lz")
    await rig.settle(generation.id)
    done = await rig.get(generation.id)
    assert done.status is GenerationStatus.DELIVERED and done.route_provider == "openai"
    assert rig.laozhang.hits["create"] == 1 and rig.openai.hits["create"] == 3
    assert rig.laozhang.videos == {} and len(rig.openai.videos) == 1


# ------------------------------------------------------------------------------ killed after the create


@pytest.mark.parametrize("model", ["rw", "clip"])
async def test_a_process_killed_after_sending_a_create_is_reconciled_not_resubmitted(
    rig: Rig, runware: FakeRunware, model: str
) -> None:
    await rig.fund()
    rig.openai.clock = rig.clock.monotonic
    generation = await rig.order(model=model)
    request_id = await sent_then_killed(rig, generation)
    await rig.settle(generation.id)
    done = await rig.get(generation.id)
    assert done.status is GenerationStatus.DELIVERED and done.submit_request_id == request_id
    if model == "rw":
        assert runware.creates() == 1 and done.provider_task_id == request_id
    else:
        assert rig.openai.hits["create"] == 1 and list(rig.openai.videos) == [done.provider_task_id]
    assert rig.laozhang.hits["create"] == 0


async def test_a_process_killed_before_the_create_reached_runware_is_refunded_once(
    rig: Rig, runware: FakeRunware
) -> None:
    await rig.fund()
    generation = await rig.order(model="rw")
    await sent_then_killed(rig, generation, send=False)
    await rig.settle(generation.id)
    await refunded_as_uncertain(rig, generation.id, credits=20)
    assert runware.creates() == 0 and rig.openai.hits["create"] == 0, "never submitted after all"


async def test_a_create_on_record_past_the_hard_timeout_is_still_looked_up(
    rig: Rig, runware: FakeRunware
) -> None:
    await rig.fund()
    generation = await rig.order(model="rw")
    await sent_then_killed(rig, generation)
    rig.clock.now = generation.deadline_at + timedelta(seconds=1)
    await rig.poller.sweep()
    assert (await rig.get(generation.id)).status is GenerationStatus.RUNNING
    await rig.settle(generation.id)
    assert (await rig.get(generation.id)).status is GenerationStatus.DELIVERED
    assert runware.creates() == 1


async def test_a_process_killed_after_a_create_without_a_look_up_is_refunded_once(rig: Rig) -> None:
    await rig.fund()
    generation = await rig.order(model="clip-lz")
    await sent_then_killed(rig, generation)
    await rig.settle(generation.id)
    await refunded_as_uncertain(rig, generation.id, credits=10)
    assert rig.laozhang.hits["create"] == 1 and rig.openai.hits["create"] == 0


# ------------------------------------------------------------------------------ LaoZhang's chat route


async def test_a_chat_result_survives_a_restart_without_a_second_call(rig: Rig) -> None:
    await rig.fund()
    rig.laozhang.fail_next("cdn", 503)  # the call finished; the download fails once, then the process stops
    generation = await rig.order(model="chat")
    await rig.poller.tick()
    kept = await rig.get(generation.id)
    assert kept.status is GenerationStatus.RUNNING and kept.provider_result is not None
    assert kept.provider_result.startswith(rig.laozhang.cdn_url)
    await rig.poller.stop(grace_seconds=0)

    fresh = Providers(rig.settings, factory=adapter_factory(rig.settings, rig.provider_sleeps, READ_TIMEOUT))
    restarted = build_container(
        settings=rig.settings,
        catalog=rig.catalog,
        store=rig.store,
        media=rig.media,
        notifier=rig.services.notifier,
        providers=fresh,
        clock=rig.clock,
        monotonic=rig.clock.monotonic,
        owner="after-restart",
    ).poller
    rig.extra_pollers.append(restarted)
    try:
        for _ in range(30):
            rig.clock.advance(seconds=60)
            await restarted.tick()
            if (await rig.get(generation.id)).status is GenerationStatus.DELIVERED:
                break
    finally:
        await fresh.close()
    assert (await rig.get(generation.id)).status is GenerationStatus.DELIVERED
    assert rig.laozhang.hits["chat"] == 1, "the billed call is not made again"
    assert len(rig.telegram.calls_of("sendVideo")) == 1
    assert await rig.balance() == 85


@pytest.mark.parametrize("cut", ["killed", "stall", "malformed"])
async def test_a_chat_call_cut_off_is_refunded_and_recorded_never_repeated(rig: Rig, cut: str) -> None:
    await rig.fund()
    generation = await rig.order(model="chat")
    if cut == "killed":
        await sent_then_killed(rig, generation, send=False)  # killed during the call: it may be billed
    else:
        rig.laozhang.break_next("chat", cut)  # type: ignore[arg-type]
    await rig.settle(generation.id)
    await refunded_as_uncertain(rig, generation.id, credits=15)
    assert rig.laozhang.hits["chat"] == (0 if cut == "killed" else 1)
    assert await rig.balance() == 100


# ------------------------------------------------------------------------------ failover after acceptance


def rerouted_notices(rig: Rig) -> list[str]:
    return [
        c.params["text"]
        for c in rig.telegram.calls_of("sendMessage")
        if c.ok and "another provider is making your video" in c.params["text"]
    ]


async def test_a_task_its_provider_failed_on_its_side_goes_once_to_the_next_route(rig: Rig) -> None:
    await rig.fund()
    rig.openai.outcome = "server_error"
    generation = await rig.order()
    await rig.settle(generation.id)
    done = await rig.get(generation.id)
    assert done.status is GenerationStatus.DELIVERED and done.route_provider == "laozhang"
    assert done.failover_from == "openai:sora-2"
    assert rig.openai.hits["create"] == 1 and rig.laozhang.hits["create"] == 1
    assert len(rerouted_notices(rig)) == 1
    assert sorted(e.kind for e in await rig.store.list_ledger(USER)) == [LedgerKind.ADMIN, LedgerKind.DEBIT]
    assert await rig.balance() == 90, "the same debit pays for the second route"


async def test_a_task_that_vanished_goes_to_the_next_route(rig: Rig) -> None:
    await rig.fund()
    rig.openai.polls_to_complete = 100
    generation = await rig.order()
    await rig.tick()
    assert (await rig.get(generation.id)).status is GenerationStatus.RUNNING
    rig.openai.videos.clear()  # the provider lost the task it had accepted
    await rig.tick()
    assert (await rig.get(generation.id)).route_provider == "openai", "one miss is not a loss yet"
    await rig.settle(generation.id)
    done = await rig.get(generation.id)
    assert done.status is GenerationStatus.DELIVERED and done.route_provider == "laozhang"
    assert len(rerouted_notices(rig)) == 1 and await rig.balance() == 90


async def test_a_second_provider_fault_ends_with_one_refund(rig: Rig) -> None:
    await rig.fund()
    rig.openai.outcome = rig.laozhang.outcome = "server_error"
    generation = await rig.order()
    await rig.settle(generation.id)
    failed = await rig.get(generation.id)
    assert failed.status is GenerationStatus.FAILED and failed.error_code == "provider_failed"
    assert rig.openai.hits["create"] == 1 and rig.laozhang.hits["create"] == 1, "failed over once only"
    assert [e.delta for e in await rig.store.list_ledger(USER) if e.kind is LedgerKind.REFUND] == [10]
    assert await rig.balance() == 100


async def test_a_content_policy_failure_after_acceptance_stays_final(rig: Rig) -> None:
    await rig.fund()
    rig.openai.outcome = "moderation"
    generation = await rig.order()
    await rig.settle(generation.id)
    failed = await rig.get(generation.id)
    assert failed.status is GenerationStatus.FAILED and failed.error_code == "content_policy"
    assert failed.failover_from is None and rig.laozhang.hits["create"] == 0
    assert rerouted_notices(rig) == [] and await rig.balance() == 100


async def test_a_runware_task_that_timed_out_upstream_goes_to_the_next_provider(
    rig: Rig, runware: FakeRunware
) -> None:
    await rig.fund()
    runware.script(Script(outcome="error", error_code="timeout"))
    generation = await rig.order(model="rw")
    await rig.settle(generation.id)
    done = await rig.get(generation.id)
    assert done.status is GenerationStatus.DELIVERED and done.route_provider == "openai"
    assert done.failover_from == "runware:google:3@3"
    assert runware.creates() == 1 and rig.openai.hits["create"] == 1
    assert len(rerouted_notices(rig)) == 1 and await rig.balance() == 80
