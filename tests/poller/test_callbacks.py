"""Provider callbacks through the web app: verified, answered at once, deduplicated, same completion path."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web as web_types
from aiohttp.test_utils import TestClient, TestServer

from bot.web import build_web_app
from storage.records import Generation, GenerationStatus, LedgerKind
from tests.fakes.providers.kie import FakeKie, callback_signature
from tests.poller.conftest import USER, WEBHOOK_SECRET, Rig

KIE_HMAC = "kie-hmac-key-for-tests"


@pytest.fixture
async def kie() -> AsyncIterator[FakeKie]:
    fake = FakeKie()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
def rig_settings(kie: FakeKie) -> dict[str, Any]:
    return {
        "kie_api_key": kie.api_key,
        "kie_base_url": kie.url,
        "kie_upload_base_url": kie.upload_url,
        "kie_webhook_hmac_key": KIE_HMAC,
    }


@pytest.fixture
async def web(rig: Rig) -> AsyncIterator[TestClient[Any, Any]]:
    app = build_web_app(poller=rig.poller, providers=rig.providers, settings=rig.settings, media=rig.media)
    async with TestClient(TestServer(app)) as client:
        yield client


def openai_path(rig: Rig) -> str:
    return f"/callbacks/openai/{rig.settings.callback_token('openai')}"


async def post_openai(
    rig: Rig, web: TestClient[Any, Any], video_id: str, event: str = "video.completed"
) -> int:
    headers, body = rig.openai.webhook(video_id, event, WEBHOOK_SECRET, timestamp=int(time.time()))
    response = await web.post(openai_path(rig), data=body, headers=headers)
    return response.status


async def submitted(rig: Rig) -> tuple[Generation, str]:
    """A funded user's generation, submitted to the OpenAI fake, which has it done by the first poll."""
    await rig.fund()
    rig.openai.polls_to_complete = 0
    generation = await rig.order()
    await rig.poller.tick()
    task_id = (await rig.get(generation.id)).provider_task_id
    assert task_id is not None
    return generation, task_id


async def test_a_completed_callback_delivers_without_waiting_for_a_poll(
    rig: Rig, web: TestClient[Any, Any]
) -> None:
    generation, task_id = await submitted(rig)
    assert await post_openai(rig, web, task_id) == 200
    await rig.poller.drain()
    done = await rig.get(generation.id)
    assert done.status is GenerationStatus.DELIVERED
    assert done.next_poll_at is None and done.lease_owner is None
    assert len(rig.telegram.calls_of("sendVideo")) == 1


async def test_a_duplicate_callback_changes_nothing(rig: Rig, web: TestClient[Any, Any]) -> None:
    generation, task_id = await submitted(rig)
    for _ in range(3):
        assert await post_openai(rig, web, task_id) == 200
    await rig.poller.drain()
    assert await post_openai(rig, web, task_id) == 200
    await rig.poller.drain()
    assert len(rig.telegram.calls_of("sendVideo")) == 1
    assert (await rig.get(generation.id)).status is GenerationStatus.DELIVERED
    kinds = sorted(e.kind for e in await rig.store.list_ledger(USER))
    assert kinds == [LedgerKind.ADMIN, LedgerKind.DEBIT]


async def test_a_callback_racing_a_poll_leaves_the_work_to_the_poll(
    rig: Rig, web: TestClient[Any, Any]
) -> None:
    """The poll holds the lease while it downloads; the callback for the same task must not deliver too."""
    generation, task_id = await submitted(rig)
    rig.openai.hold_download = asyncio.Event()
    rig.clock.advance(seconds=10)
    polling = asyncio.ensure_future(rig.poller.tick())
    await rig.openai.download_held.wait()
    headers, body = rig.openai.webhook(task_id, "video.completed", WEBHOOK_SECRET, timestamp=int(time.time()))
    event = rig.providers.for_key("openai").parse_callback(headers, body)
    await rig.poller.on_callback("openai", event.task_id)  # what the web app runs, awaited
    assert rig.telegram.calls_of("sendVideo") == []
    rig.openai.hold_download.set()
    await polling
    await rig.poller.drain()
    assert (await rig.get(generation.id)).status is GenerationStatus.DELIVERED
    assert len(rig.telegram.calls_of("sendVideo")) == 1
    assert rig.openai.hits["content"] == 1, "the video was downloaded once"


async def test_a_failed_callback_refunds_once_even_with_polls_after_it(
    rig: Rig, web: TestClient[Any, Any]
) -> None:
    rig.openai.outcome = "moderation"
    generation, task_id = await submitted(rig)
    assert await post_openai(rig, web, task_id, "video.failed") == 200
    assert await post_openai(rig, web, task_id, "video.failed") == 200
    await rig.poller.drain()
    await rig.tick()
    await rig.tick()
    failed = await rig.get(generation.id)
    assert failed.status is GenerationStatus.FAILED and failed.error_code == "content_policy"
    assert sorted(e.kind for e in await rig.store.list_ledger(USER)) == [
        LedgerKind.ADMIN,
        LedgerKind.DEBIT,
        LedgerKind.REFUND,
    ]


async def test_a_late_success_after_the_timeout_refund_is_delivered_free(
    rig: Rig, web: TestClient[Any, Any]
) -> None:
    await rig.fund()
    rig.openai.polls_to_complete = 10_000
    generation = await rig.order()
    await rig.poller.tick()
    running = await rig.get(generation.id)
    rig.clock.now = running.deadline_at + timedelta(seconds=1)
    await rig.poller.sweep()
    assert (await rig.get(generation.id)).status is GenerationStatus.FAILED
    assert await rig.balance() == 100

    video = rig.openai.videos[running.provider_task_id or ""]
    video.status = "completed"
    assert await post_openai(rig, web, video.id) == 200
    await rig.poller.drain()
    late = await rig.get(generation.id)
    assert late.status is GenerationStatus.FAILED, "the refund stands"
    assert late.result_path is not None and late.delivered_at is not None
    assert await rig.media.exists(late.result_path)
    assert len(rig.telegram.calls_of("sendVideo")) == 1
    assert await rig.balance() == 100, "no second charge, no second refund"
    assert await post_openai(rig, web, video.id) == 200
    await rig.poller.drain()
    assert len(rig.telegram.calls_of("sendVideo")) == 1


async def test_forged_or_misrouted_callbacks_are_rejected(rig: Rig, web: TestClient[Any, Any]) -> None:
    await rig.fund()
    generation = await rig.order()
    await rig.poller.tick()
    task_id = (await rig.get(generation.id)).provider_task_id or ""
    _headers, body = rig.openai.webhook(
        task_id, "video.completed", WEBHOOK_SECRET, timestamp=int(time.time())
    )
    assert (await web.post(openai_path(rig), data=body)).status == 401, "unsigned"
    forged, _ = rig.openai.webhook(
        task_id, "video.completed", "whsec_" + "b3RoZXI=", timestamp=int(time.time())
    )
    assert (await web.post(openai_path(rig), data=body, headers=forged)).status == 401, "wrong secret"
    assert (await web.post("/callbacks/openai/not-the-token", data=body)).status == 404
    runware_token = rig.settings.callback_token("runware")
    assert (await web.post(f"/callbacks/runware/{runware_token}", data=b"[]")).status == 404, "not configured"
    assert (
        await web.post(f"/callbacks/gemini/{rig.settings.callback_token('gemini')}", data=b"{}")
    ).status == 404
    await rig.poller.drain()
    assert (await rig.get(generation.id)).status is GenerationStatus.RUNNING
    assert rig.telegram.calls_of("sendVideo") == []


async def test_kie_callbacks_need_a_valid_hmac_signature(rig: Rig, web: TestClient[Any, Any]) -> None:
    path = f"/callbacks/kie/{rig.settings.callback_token('kie')}"
    body = json.dumps({"code": 200, "msg": "ok", "data": {"taskId": "veo_unknown", "info": {}}}).encode()
    assert (await web.post(path, data=body)).status == 401
    stamp = str(int(time.time()))
    signed = {
        "X-Webhook-Timestamp": stamp,
        "X-Webhook-Signature": callback_signature(KIE_HMAC, "veo_unknown", stamp),
    }
    assert (await web.post(path, data=body, headers=signed)).status == 200, (
        "genuine, for a task we don't know"
    )
    bad = {**signed, "X-Webhook-Signature": callback_signature("other", "veo_unknown", stamp)}
    assert (await web.post(path, data=body, headers=bad)).status == 401
    assert (await web.post(path, data=b"not json", headers=signed)).status == 401
    await rig.poller.drain()


async def test_health_and_signed_media_links(rig: Rig, web: TestClient[Any, Any]) -> None:
    assert (await web.get("/healthz")).status == 200
    await rig.fund()
    generation = await rig.order()
    await rig.settle(generation.id)
    path = (await rig.get(generation.id)).result_path or ""
    link = await rig.media.link(path, expires_in=60)
    local = link.removeprefix("https://bot.example")
    response = await web.get(local)
    assert response.status == 200 and await response.read() == rig.openai.video_bytes
    assert (await web.get(local.replace("sig=", "sig=x"))).status == 403
    assert (await web.get(f"/media/{path}")).status == 403


async def test_a_signed_kie_callback_with_a_forged_body_cannot_choose_the_outcome(
    rig: Rig, web: TestClient[Any, Any], kie: FakeKie
) -> None:
    """KIE signs taskId + timestamp only: a captured signature may come with any body. The outcome and
    the result URL come from record-info, so a forged "success" cannot deliver the sender's video."""
    fetched: list[str] = []

    async def evil(request: web_types.Request) -> web_types.Response:
        fetched.append(request.path)
        return web_types.Response(body=b"not the user's video", content_type="video/mp4")

    attacker = web_types.Application()
    attacker.router.add_get("/{name}", evil)
    async with TestClient(TestServer(attacker)) as evil_site:
        await rig.fund()
        kie.script.polls = 10_000  # still running whenever record-info is asked
        generation = await rig.order(model="veo")
        await rig.poller.tick()
        task_id = (await rig.get(generation.id)).provider_task_id or ""
        assert task_id in kie.tasks
        path = f"/callbacks/kie/{rig.settings.callback_token('kie')}"
        stamp = str(int(time.time()))
        signed = {
            "X-Webhook-Timestamp": stamp,
            "X-Webhook-Signature": callback_signature(KIE_HMAC, task_id, stamp),
        }
        forged = {
            "code": 200,
            "msg": "success",
            "data": {
                "taskId": task_id,
                "info": {"resultUrls": [str(evil_site.make_url("/evil.mp4"))], "resolution": "720p"},
            },
        }
        assert (await web.post(path, data=json.dumps(forged).encode(), headers=signed)).status == 200
        await rig.poller.drain()
        assert (await rig.get(generation.id)).status is GenerationStatus.RUNNING, "record-info says running"

        kie.script.outcome, kie.tasks[task_id].script.outcome = "failed", "failed"
        kie.tasks[task_id].polls = kie.tasks[task_id].script.polls = 0  # done at the next record-info
        failed = {"code": 501, "msg": "internal error", "data": {"taskId": task_id}}
        assert (await web.post(path, data=json.dumps(failed).encode(), headers=signed)).status == 200
        await rig.poller.drain()
        assert (await rig.get(generation.id)).status is GenerationStatus.FAILED

        assert (await web.post(path, data=json.dumps(forged).encode(), headers=signed)).status == 200
        await rig.poller.drain()
    done = await rig.get(generation.id)
    assert done.status is GenerationStatus.FAILED and done.result_path is None, "the refund stands"
    assert fetched == [], "the sender's URL is never fetched"
    assert rig.telegram.calls_of("sendVideo") == []
    assert await rig.balance() == 100
    assert kie.endpoint_calls("record-info"), "every callback was checked against record-info"
