"""Runway adapter: pure request building and response parsing, then the real adapter against the fake."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from PIL import Image
from pydantic import SecretStr

from services.catalog import Route
from services.http import HttpResponse, ProviderHttp
from services.providers import registry
from services.providers.base import (
    ContentPolicyError,
    InputImage,
    InvalidRequestError,
    NotFoundError,
    OutOfBalanceError,
    ProviderError,
    RateLimitedError,
    ResultRef,
    SubmitJob,
    TaskState,
    TaskStatus,
    UnauthorizedError,
    UnavailableError,
    UncertainSubmitError,
)
from services.providers.descriptor import ProviderConfig
from services.providers.runway import (
    API_VERSION,
    DESCRIPTOR,
    MAX_DATA_URI,
    RunwayProvider,
    build_request,
    classify,
    data_uri,
    parse_created,
    parse_task,
)
from services.video_request import VideoRequest
from storage.errors import MediaTooLargeError
from tests.fakes.providers.runway import NO_CREDITS, VIDEO, FakeRunway, Script
from tests.fakes.sleeps import Sleeps

KEY = "key_runway_test_0123456789"
TASK = "9a6fc5d5-7f3e-4c2b-9a1d-0e1f2a3b4c5d"
PNG = InputImage(b"\x89PNG\r\n\x1a\nfirst", "image/png", 1280, 720)
JPEG = InputImage(b"\xff\xd8\xff\xe0last", "image/jpeg", 1280, 720)
PNG_URI = "data:image/png;base64," + base64.b64encode(PNG.data).decode()
JPEG_URI = "data:image/jpeg;base64," + base64.b64encode(JPEG.data).decode()


def job(
    model_id: str = "gen4.5",
    *,
    mode: str = "t2v",
    duration: int | None = 5,
    aspect_ratio: str = "16:9",
    resolution: str = "720p",
    prompt: str = "a red fox in the snow",
    params: dict[str, Any] | None = None,
    **kw: Any,
) -> SubmitJob:
    request_fields = {k: kw.pop(k) for k in ("negative_prompt", "seed", "audio") if k in kw}
    request = VideoRequest(
        model="m",
        mode=mode,  # type: ignore[arg-type]
        prompt=prompt,
        duration=duration,
        aspect_ratio=aspect_ratio,
        resolution=resolution,
        **request_fields,
    )
    route = Route(provider="runway", model_id=model_id, params=params or {})
    return SubmitJob(request=request, route=route, **kw)


# ---------------------------------------------------------------------------------------- request building


def test_text_to_video_body() -> None:
    """gen4.5 takes no audio or negative prompt: a catalog model's "audio never" (False) is not sent."""
    assert build_request(job(seed=7, audio=False, negative_prompt="blur")) == (
        "/v1/text_to_video",
        {
            "model": "gen4.5",
            "promptText": "a red fox in the snow",
            "ratio": "1280:720",
            "duration": 5,
            "seed": 7,
        },
    )


def test_image_to_video_sends_the_first_frame_as_a_data_uri() -> None:
    path, body = build_request(job("gen4_turbo", mode="i2v", duration=10, first_frame=PNG, last_frame=JPEG))
    assert path == "/v1/image_to_video"
    assert body == {
        "model": "gen4_turbo",
        "promptText": "a red fox in the snow",
        "promptImage": PNG_URI,
        "ratio": "1280:720",
        "duration": 10,
    }, "i2v sends only the first frame, even when a last one is at hand"


def test_first_and_last_frame_on_veo_3_1() -> None:
    path, body = build_request(
        job(
            "veo3.1",
            mode="fl2v",
            duration=8,
            resolution="1080p",
            aspect_ratio="9:16",
            audio=True,
            negative_prompt="blur",
            seed=3,
            first_frame=PNG,
            last_frame=JPEG,
        )
    )
    assert path == "/v1/image_to_video"
    assert body == {
        "model": "veo3.1",
        "promptText": "a red fox in the snow",
        "promptImage": [{"uri": PNG_URI, "position": "first"}, {"uri": JPEG_URI, "position": "last"}],
        "ratio": "1080:1920",
        "duration": 8,
        "audio": True,
        "negativePrompt": "blur",
    }, "veo3.1 takes no seed: it is left out rather than refused"


@pytest.mark.parametrize(
    ("model_id", "mode", "resolution", "aspect_ratio", "expected"),
    [
        ("gen4.5", "t2v", "720p", "16:9", {"ratio": "1280:720"}),
        ("gen4.5", "t2v", "720p", "9:16", {"ratio": "720:1280"}),
        ("gen4.5", "i2v", "720p", "1:1", {"ratio": "960:960"}),
        ("gen4.5", "i2v", "720p", "4:3", {"ratio": "1104:832"}),
        ("gen4_turbo", "i2v", "720p", "3:4", {"ratio": "832:1104"}),
        ("gen4_turbo", "i2v", "720p", "21:9", {"ratio": "1584:672"}),
        ("veo3.1_fast", "t2v", "1080p", "16:9", {"ratio": "1920:1080"}),
        ("veo3", "i2v", "720p", "9:16", {"ratio": "720:1280"}),
        ("happyhorse_1_0", "t2v", "1080p", "4:3", {"ratio": "1662:1248"}),
        ("happyhorse_1_0", "t2v", "720p", "3:4", {"ratio": "832:1108"}),
        ("happyhorse_1_0", "i2v", "1080p", "16:9", {"resolution": "1080P"}),
        ("gemini_omni_flash", "t2v", "720p", "9:16", {"ratio": "720:1280"}),
    ],
)
def test_ratio_per_model(
    model_id: str, mode: str, resolution: str, aspect_ratio: str, expected: dict[str, str]
) -> None:
    duration = 8 if model_id.startswith("veo") else 5
    submit = job(
        model_id,
        mode=mode,
        resolution=resolution,
        aspect_ratio=aspect_ratio,
        duration=duration,
        first_frame=PNG,
    )
    _, body = build_request(submit)
    assert {k: body[k] for k in ("ratio", "resolution") if k in body} == expected


@pytest.mark.parametrize(
    ("submit", "code"),
    [
        (job("gen4_turbo"), "mode"),  # gen4_turbo has no text-to-video
        (job("gen4.5", mode="fl2v", first_frame=PNG, last_frame=JPEG), "mode"),
        (job("veo3", mode="fl2v", duration=8, first_frame=PNG, last_frame=JPEG), "mode"),
        (job("gen4.5", mode="ref2v", reference_images=(PNG,)), "mode"),
        (job("gen4.5", mode="extend", source_task_id=TASK), "mode"),
        (job("seedance2"), "model"),
        (job("gen4.5", duration=11), "duration"),
        (job("gen4.5", duration=None), "duration"),
        (job("gen4_turbo", mode="i2v", duration=1, first_frame=PNG), "duration"),
        (job("veo3", duration=6), "duration"),
        (job("veo3.1", duration=5), "duration"),
        (job("gemini_omni_flash", duration=2), "duration"),
        (job("gen4.5", resolution="1080p"), "size"),
        (job("gen4.5", aspect_ratio="1:1"), "size"),  # t2v: 16:9 and 9:16 only
        (job("veo3.1", duration=8, aspect_ratio="1:1"), "size"),
        (job("happyhorse_1_0", mode="i2v", resolution="480p", first_frame=PNG), "size"),
        (job("gen4.5", prompt="  "), "prompt"),
        (job("veo3.1", duration=8, prompt=""), "prompt"),
        (job("gen4.5", prompt="x" * 1001), "prompt"),
        (job("gen4.5", prompt="🦊" * 501), "prompt"),  # 1002 UTF-16 code units
        (job("gen4.5", mode="i2v"), "images"),
        (job("veo3.1", mode="fl2v", duration=8, first_frame=PNG), "images"),
        (job("gen4.5", mode="i2v", first_frame=InputImage(b"GIF89a", "image/gif", 10, 10)), "image_type"),
    ],
)
def test_refused_before_anything_is_sent(submit: SubmitJob, code: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        build_request(submit)
    assert caught.value.code == code
    assert not caught.value.failover


def test_an_optional_prompt_is_left_out_and_limits_count_utf16() -> None:
    _, body = build_request(job("gen4_turbo", mode="i2v", prompt="", first_frame=PNG))
    assert "promptText" not in body
    _, body = build_request(job("gen4.5", prompt="🦊" * 500))
    assert body["promptText"] == "🦊" * 500


@pytest.mark.parametrize(("seed", "sent"), [(0, 0), (4294967295, 4294967295), (-1, None), (2**32, None)])
def test_seed_range(seed: int, sent: int | None) -> None:
    _, body = build_request(job(seed=seed))
    assert body.get("seed") == sent


def test_route_params_add_fields_but_never_replace_the_request() -> None:
    _, body = build_request(
        job(
            params={
                "contentModeration": {"publicFigureThreshold": "low"},
                "model": "gen4_turbo",
                "promptText": "other",
                "adapter": "runway",
            }
        )
    )
    assert body["contentModeration"] == {"publicFigureThreshold": "low"}
    assert (body["model"], body["promptText"]) == ("gen4.5", "a red fox in the snow")
    assert "adapter" not in body


def test_data_uri_limit_is_checked_on_the_encoded_size() -> None:
    fits = (MAX_DATA_URI - len("data:image/png;base64,")) // 4 * 3
    assert len(data_uri(InputImage(b"\0" * fits, "image/png", 1, 1))) <= MAX_DATA_URI
    with pytest.raises(InvalidRequestError, match="too large"):
        data_uri(InputImage(b"\0" * (fits + 3), "image/png", 1, 1))


# ---------------------------------------------------------------------------------------- response parsing


def test_parse_created() -> None:
    submitted = parse_created({"id": TASK, "estimatedCost": {"credits": 50}})
    assert (submitted.task_id, submitted.status.state) == (TASK, TaskState.QUEUED)
    for unreadable in (None, {}, {"id": ""}, {"id": 5}, [TASK], {"estimatedCost": {"credits": 1}}):
        with pytest.raises(UncertainSubmitError):  # a paid task may exist: never re-sent
            parse_created(unreadable)


def task(status: str, **fields: Any) -> dict[str, Any]:
    return {"id": TASK, "createdAt": "2026-08-25T23:17:00.540Z", "status": status, **fields}


URL = "https://dnznrvs05pmza.cloudfront.net/a.mp4?_jwt=token"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (task("PENDING"), TaskStatus(TaskState.QUEUED)),
        (task("THROTTLED"), TaskStatus(TaskState.QUEUED)),
        (task("RUNNING", progress=0.4), TaskStatus(TaskState.RUNNING, progress=40)),
        (task("RUNNING", progress=1), TaskStatus(TaskState.RUNNING, progress=100)),
        (task("RUNNING", progress=55), TaskStatus(TaskState.RUNNING, progress=55)),
        (task("RUNNING", progress="half"), TaskStatus(TaskState.RUNNING)),
        (task("RUNNING"), TaskStatus(TaskState.RUNNING)),
        (task("SOMETHING_NEW"), TaskStatus(TaskState.RUNNING)),
        (
            task("SUCCEEDED", output=[URL], cost={"credits": 60}),
            TaskStatus(
                TaskState.SUCCEEDED, progress=100, result=ResultRef(URL, mime_type="video/mp4"), cost_usd=0.6
            ),
        ),
        (
            task("SUCCEEDED", output=URL),
            TaskStatus(TaskState.SUCCEEDED, progress=100, result=ResultRef(URL, mime_type="video/mp4")),
        ),
        (
            task("SUCCEEDED", output=[{"url": URL}], cost=12),
            TaskStatus(
                TaskState.SUCCEEDED, progress=100, result=ResultRef(URL, mime_type="video/mp4"), cost_usd=0.12
            ),
        ),
        (
            task("SUCCEEDED", output=[URL, URL + "2"], estimatedCost={"credits": 60}),
            TaskStatus(
                TaskState.SUCCEEDED,
                progress=100,
                result=ResultRef(URL, mime_type="video/mp4", extra={"outputs": (URL, URL + "2")}),
            ),
        ),
        (
            task("SUCCEEDED", output=[]),
            TaskStatus(
                TaskState.FAILED,
                error_code="no_video",
                error_message="Runway reported success without a video",
            ),
        ),
        (
            task("CANCELLED"),
            TaskStatus(
                TaskState.FAILED, error_code="cancelled", error_message="the task was cancelled at Runway"
            ),
        ),
    ],
)
def test_parse_task(payload: Any, expected: TaskStatus) -> None:
    assert parse_task(payload) == expected


@pytest.mark.parametrize(
    ("code", "failure", "content_policy", "provider_fault"),
    [
        ("SAFETY.INPUT.TEXT", "The prompt did not pass moderation.", True, False),
        ("SAFETY.INPUT.IMAGE", "The image did not pass moderation.", True, False),
        ("SAFETY.OUTPUT.VIDEO", "The output did not pass moderation.", True, False),
        ("INPUT_PREPROCESSING.SAFETY.TEXT", "Prompt flagged.", True, False),
        ("INPUT_PREPROCESSING.INTERNAL", "Try again later.", False, True),
        ("INTERNAL", "An unexpected error occurred.", False, True),
        ("INTERNAL.TIMEOUT", "Timed out.", False, True),
        ("THIRD_PARTY.UNAVAILABLE", "The partner model is unavailable.", False, True),
        ("INTERNAL.BAD_OUTPUT.CODE01", "Rejected for quality.", False, False),
        ("ASSET.INVALID", "The image could not be read.", False, False),
        (None, "Something went wrong.", False, False),
        (None, "Failed content moderation.", True, False),
    ],
)
def test_failure_codes(code: str | None, failure: str, content_policy: bool, provider_fault: bool) -> None:
    status = parse_task(task("FAILED", failure=failure, failureCode=code, cost={"credits": 0}))
    assert status.state is TaskState.FAILED
    assert (status.content_policy, status.provider_fault) == (content_policy, provider_fault)
    assert status.error_code == (code or "failed")
    assert status.error_message == failure
    assert status.cost_usd == 0.0


@pytest.mark.parametrize("payload", [None, [], {}, {"id": TASK}, {"status": 3}, "text"])
def test_a_task_answer_without_a_status_is_a_bad_poll(payload: Any) -> None:
    with pytest.raises(UnavailableError):
        parse_task(payload)


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> HttpResponse:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return HttpResponse(status, headers or {}, raw)


VALIDATION = {
    "error": "Validation of body failed",
    "issues": [
        {"code": "invalid_value", "values": ["gen4_turbo", "gen4.5"], "path": ["model"]},
        {"code": "too_big", "message": "Number must be at most 10", "path": ["duration"]},
    ],
    "docUrl": "https://docs.dev.runwayml.com/api",
}


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (400, VALIDATION, InvalidRequestError, "invalid_value"),
        (400, {"error": "Unrecognized key(s) in object: 'contentModeration'"}, InvalidRequestError, None),
        (400, {"error": NO_CREDITS}, OutOfBalanceError, "credits"),
        (400, {"error": "Your prompt was flagged by our content moderation"}, ContentPolicyError, None),
        (401, {"error": "Invalid API secret."}, UnauthorizedError, "401"),
        (403, {"error": "Forbidden"}, UnauthorizedError, "403"),
        (404, {"error": "Could not find Task"}, NotFoundError, "not_found"),
        (405, {"error": "Method not allowed"}, InvalidRequestError, "405"),
        (429, {"error": "Too many requests"}, RateLimitedError, "rate_limited"),
        (502, "<html>bad gateway</html>", UnavailableError, "502"),
        (503, {"error": "Service unavailable"}, UnavailableError, "503"),
        (504, {"error": "Gateway timeout"}, UnavailableError, "504"),
    ],
)
def test_classify(status: int, body: Any, kind: type[ProviderError], code: str | None) -> None:
    error = classify(response(status, body))
    assert type(error) is kind
    assert error.http_status == status
    if code is not None:
        assert error.code == code


def test_validation_issues_are_named_in_the_message() -> None:
    error = classify(response(400, VALIDATION))
    assert (
        error.message
        == "Validation of body failed (model: invalid_value; duration: Number must be at most 10)"
    )


def test_retry_hints_are_kept() -> None:
    assert classify(response(429, {"error": "slow down"}, {"Retry-After": "7"})).retry_after == 7.0
    assert classify(response(503, {}, {"Retry-After": "2"})).retry_after == 2.0


# ---------------------------------------------------------------------------------------- against the fake


@pytest.fixture
async def fake() -> AsyncIterator[FakeRunway]:
    server = FakeRunway(api_key=KEY)
    await server.start()
    yield server
    await server.close()


def config(fake: FakeRunway, key: str | None = KEY) -> ProviderConfig:
    return ProviderConfig("runway", fake.api_url, SecretStr(key) if key else None, 30)


def http_for(fake: FakeRunway, sleeps: Sleeps, **kw: Any) -> ProviderHttp:
    return ProviderHttp(
        "runway",
        fake.api_url,
        auth_headers={"Authorization": f"Bearer {KEY}"},
        sleep=sleeps,
        backoff_base=0,
        **kw,
    )


@pytest.fixture
async def provider(fake: FakeRunway, sleeps: Sleeps) -> AsyncIterator[RunwayProvider]:
    adapter = RunwayProvider(config(fake), http=http_for(fake, sleeps))
    yield adapter
    await adapter.close()


async def download(adapter: RunwayProvider, status: TaskStatus, max_bytes: int = 1 << 20) -> bytes:
    return b"".join([chunk async for chunk in adapter.download(status, max_bytes=max_bytes)])


async def poll_until_done(adapter: RunwayProvider, task_id: str) -> list[TaskStatus]:
    seen = []
    for _ in range(20):
        status = await adapter.status(task_id)
        seen.append(status)
        if status.state not in (TaskState.QUEUED, TaskState.RUNNING):
            return seen
    raise AssertionError("never finished")


async def test_full_cycle_through_every_state(fake: FakeRunway, provider: RunwayProvider) -> None:
    fake.script(Script(pending=1, throttled=2, running=3, cost_credits=60))
    submitted = await provider.submit(job(seed=11, audio=False, negative_prompt="blur"))
    assert submitted.status.state is TaskState.QUEUED
    seen = await poll_until_done(provider, submitted.task_id)
    assert [s.state for s in seen] == [TaskState.QUEUED] * 3 + [TaskState.RUNNING] * 3 + [TaskState.SUCCEEDED]
    assert [s.progress for s in seen[3:6]] == [25, 50, 75]
    done = seen[-1]
    assert done.cost_usd == 0.6
    assert done.result is not None and done.result.url.startswith(fake.cdn_url)
    assert await download(provider, done) == VIDEO
    (made,) = fake.tasks.values()
    assert (made.id, made.endpoint, made.body["seed"]) == (submitted.task_id, "text_to_video", 11)
    assert all(
        h["Authorization"] == f"Bearer {KEY}" and h["X-Runway-Version"] == API_VERSION
        for _, _, h in fake.api_calls
    )
    assert fake.file_headers and all("Authorization" not in h for h in fake.file_headers)
    assert all("X-Runway-Version" not in h for h in fake.file_headers)


@pytest.mark.parametrize(
    ("submit", "positions"),
    [
        (job("gen4_turbo", mode="i2v", first_frame=PNG), ["first"]),
        (job("gen4.5", mode="i2v", aspect_ratio="21:9", first_frame=JPEG), ["first"]),
        (
            job("veo3.1_fast", mode="fl2v", duration=8, audio=True, first_frame=PNG, last_frame=JPEG),
            ["first", "last"],
        ),
        (job("happyhorse_1_0", mode="i2v", resolution="1080p", first_frame=PNG), ["first"]),
    ],
)
async def test_images_arrive_as_data_uris(
    fake: FakeRunway, provider: RunwayProvider, submit: SubmitJob, positions: list[str]
) -> None:
    submitted = await provider.submit(submit)
    made = fake.tasks[submitted.task_id]
    assert made.endpoint == "image_to_video"
    frames = [submit.first_frame, submit.last_frame][: len(positions)]
    assert made.images == [
        (p, f.mime_type, f.data) for p, f in zip(positions, frames, strict=True) if f is not None
    ]
    assert (await poll_until_done(provider, submitted.task_id))[-1].state is TaskState.SUCCEEDED


@pytest.mark.parametrize(
    ("code", "content_policy", "provider_fault"),
    [
        ("SAFETY.INPUT.TEXT", True, False),
        ("SAFETY.OUTPUT.VIDEO", True, False),
        ("INPUT_PREPROCESSING.SAFETY.TEXT", True, False),
        ("INTERNAL", False, True),
        ("INPUT_PREPROCESSING.INTERNAL", False, True),
        ("INTERNAL.BAD_OUTPUT.CODE01", False, False),
        ("ASSET.INVALID", False, False),
        (None, False, False),
    ],
)
async def test_failed_tasks_are_mapped(
    fake: FakeRunway, provider: RunwayProvider, code: str | None, content_policy: bool, provider_fault: bool
) -> None:
    fake.script(Script(outcome="failed", failure_code=code, failure="The task failed.", cost_credits=0))
    submitted = await provider.submit(job())
    status = (await poll_until_done(provider, submitted.task_id))[-1]
    assert status.state is TaskState.FAILED
    assert (status.content_policy, status.provider_fault) == (content_policy, provider_fault)
    assert (status.error_code, status.error_message, status.cost_usd) == (
        code or "failed",
        "The task failed.",
        0.0,
    )


async def test_a_task_cancelled_elsewhere_and_one_without_output(
    fake: FakeRunway, provider: RunwayProvider
) -> None:
    fake.script(Script(outcome="cancelled", cost_credits=None), Script(outcome="no_video"))
    cancelled = (await poll_until_done(provider, (await provider.submit(job())).task_id))[-1]
    assert (cancelled.state, cancelled.error_code, cancelled.cost_usd) == (
        TaskState.FAILED,
        "cancelled",
        None,
    )
    empty = (await poll_until_done(provider, (await provider.submit(job())).task_id))[-1]
    assert (empty.state, empty.error_code, empty.result) == (TaskState.FAILED, "no_video", None)


@pytest.mark.parametrize("polls", [0, 2], ids=["pending", "running"])
async def test_cancel_deletes_a_task_that_still_runs(
    fake: FakeRunway, provider: RunwayProvider, polls: int
) -> None:
    assert provider.can_cancel
    fake.script(Script(pending=1, running=5))
    submitted = await provider.submit(job())
    for _ in range(polls):
        await provider.status(submitted.task_id)
    assert await provider.cancel(submitted.task_id) is True
    assert fake.calls("DELETE") == [f"/v1/tasks/{submitted.task_id}"]
    assert fake.deleted == {submitted.task_id: "PENDING" if polls == 0 else "RUNNING"}
    with pytest.raises(NotFoundError):  # a deleted task can never be fetched again
        await provider.status(submitted.task_id)


async def test_cancel_leaves_a_finished_task_and_its_video(
    fake: FakeRunway, provider: RunwayProvider
) -> None:
    fake.script(Script(pending=0, running=0))
    submitted = await provider.submit(job())
    assert await provider.cancel(submitted.task_id) is False
    assert fake.calls("DELETE") == [] and fake.deleted == {}
    done = await provider.status(submitted.task_id)
    assert await download(provider, done) == VIDEO


async def test_a_delete_whose_answer_was_lost_is_a_done_cancel(
    fake: FakeRunway, provider: RunwayProvider, sleeps: Sleeps
) -> None:
    """The first DELETE went through but its answer was a 502: the retry finds the task gone (404)."""
    fake.script(Script(running=5))
    submitted = await provider.submit(job())
    fake.fail_next(502, error="Bad gateway", method="DELETE", after_acting=True)
    assert await provider.cancel(submitted.task_id) is True
    assert len(fake.calls("DELETE")) == 2 and len(sleeps) == 1
    assert list(fake.deleted) == [submitted.task_id]


async def test_cancel_of_an_unknown_task_raises(provider: RunwayProvider) -> None:
    with pytest.raises(NotFoundError):
        await provider.cancel(TASK)


async def test_429_with_retry_hint_is_waited_out(
    fake: FakeRunway, provider: RunwayProvider, sleeps: Sleeps
) -> None:
    submitted = await provider.submit(job())
    fake.fail_next(429, error="Too many requests", retry_after="3", method="GET")
    assert (await provider.status(submitted.task_id)).state is TaskState.QUEUED
    assert sleeps == [3.0]


async def test_a_long_retry_hint_goes_back_to_the_poller(
    fake: FakeRunway, provider: RunwayProvider, sleeps: Sleeps
) -> None:
    """A 429 on create: the tier's daily limit. Refused, so nothing was made."""
    fake.fail_next(429, error="Daily generation limit reached", retry_after="3600", method="POST")
    with pytest.raises(RateLimitedError) as caught:
        await provider.submit(job())
    assert caught.value.retry_after == 3600.0
    assert (sleeps, fake.tasks) == ([], {})


async def test_a_503_on_create_is_sent_again(
    fake: FakeRunway, provider: RunwayProvider, sleeps: Sleeps
) -> None:
    fake.fail_next(503, error="Service unavailable", times=2, method="POST")
    submitted = await provider.submit(job())
    assert (fake.creates(), len(sleeps), list(fake.tasks)) == (3, 2, [submitted.task_id])


@pytest.mark.parametrize("status", [500, 502, 504])
@pytest.mark.parametrize("made", [False, True])
async def test_other_5xx_on_create_are_uncertain_and_never_resent(
    fake: FakeRunway, provider: RunwayProvider, status: int, made: bool
) -> None:
    fake.fail_next(status, error="upstream trouble", method="POST", after_acting=made)
    with pytest.raises(UncertainSubmitError):
        await provider.submit(job())
    assert fake.creates() == 1 and len(fake.tasks) == int(made)
    assert not provider.finds_submitted, "Runway has no lookup by client id: the create is refunded"


async def test_5xx_on_polls_is_retried(fake: FakeRunway, provider: RunwayProvider, sleeps: Sleeps) -> None:
    submitted = await provider.submit(job())
    fake.fail_next(502, times=2, method="GET")
    assert (await provider.status(submitted.task_id)).state is TaskState.QUEUED
    assert len(sleeps) == 2
    fake.fail_next(504, times=10, method="GET")
    with pytest.raises(UnavailableError):
        await provider.status(submitted.task_id)


@pytest.mark.parametrize(("fault", "made"), [("malformed", True), ("malformed", False), ("no_id", True)])
async def test_an_unreadable_ack_is_uncertain(
    fake: FakeRunway, provider: RunwayProvider, fault: Any, made: bool
) -> None:
    fake.break_next_ack(fault, made=made)
    with pytest.raises(UncertainSubmitError):
        await provider.submit(job())
    assert fake.creates() == 1 and len(fake.tasks) == int(made)


async def test_a_stalled_ack_is_uncertain_and_never_resent(fake: FakeRunway, sleeps: Sleeps) -> None:
    adapter = RunwayProvider(config(fake), http=http_for(fake, sleeps, read_timeout=0.2))
    try:
        fake.break_next_ack("stall")
        with pytest.raises(UncertainSubmitError, match="SocketTimeoutError"):
            await adapter.submit(job())
    finally:
        await adapter.close()
    assert fake.creates() == 1 and sleeps == [] and len(fake.tasks) == 1


async def test_out_of_credits_fails_over(fake: FakeRunway, provider: RunwayProvider) -> None:
    fake.fail_next(400, error=NO_CREDITS, method="POST")
    with pytest.raises(OutOfBalanceError) as caught:
        await provider.submit(job())
    assert caught.value.failover and fake.tasks == {}


async def test_a_refused_body_is_an_invalid_request_naming_the_field(
    fake: FakeRunway, provider: RunwayProvider
) -> None:
    """A route param the model does not take (audio on gen4.5) is refused by Runway, not failed over."""
    with pytest.raises(InvalidRequestError) as caught:
        await provider.submit(job(params={"audio": True}))
    assert caught.value.code == "unrecognized_keys"
    assert "Validation of body failed" in caught.value.message
    assert not caught.value.failover and fake.tasks == {}


async def test_wrong_key_is_unauthorized_and_never_echoed(fake: FakeRunway, sleeps: Sleeps) -> None:
    adapter = RunwayProvider(config(fake, "key_runway_wrong_987654"))
    try:
        with pytest.raises(UnauthorizedError) as caught:
            await adapter.submit(job())
    finally:
        await adapter.close()
    assert caught.value.failover
    assert fake.api_calls[-1][2]["Authorization"] == "Bearer key_runway_wrong_987654"
    assert fake.api_calls[-1][2]["X-Runway-Version"] == API_VERSION
    assert fake.tasks == {}


async def test_a_key_echoed_in_an_error_is_redacted(fake: FakeRunway, provider: RunwayProvider) -> None:
    fake.fail_next(401, error=f"The API secret {KEY} is disabled", method="POST")
    with pytest.raises(UnauthorizedError) as caught:
        await provider.submit(job())
    assert KEY not in str(caught.value) and KEY not in caught.value.message
    assert "***" in caught.value.message


async def test_a_missing_key_is_unauthorized(fake: FakeRunway) -> None:
    adapter = RunwayProvider(config(fake, None))
    try:
        with pytest.raises(UnauthorizedError):
            await adapter.status(TASK)
    finally:
        await adapter.close()
    assert "Authorization" not in fake.api_calls[-1][2]


async def test_an_unknown_task_is_not_found(provider: RunwayProvider) -> None:
    with pytest.raises(NotFoundError):
        await provider.status(TASK)


async def test_an_expired_result_url(fake: FakeRunway, provider: RunwayProvider) -> None:
    fake.script(Script(file="expired"))
    done = (await poll_until_done(provider, (await provider.submit(job())).task_id))[-1]
    with pytest.raises(NotFoundError) as caught:
        await download(provider, done)
    assert caught.value.code == "expired"
    assert done.result is not None and "_jwt" not in caught.value.message


async def test_download_without_a_result_is_refused(provider: RunwayProvider) -> None:
    with pytest.raises(NotFoundError):
        await download(provider, TaskStatus(TaskState.FAILED))


@pytest.mark.parametrize("file", ["large", "large_declared"])
async def test_a_large_file_stops_at_the_cap(fake: FakeRunway, provider: RunwayProvider, file: Any) -> None:
    fake.script(Script(file=file))
    done = (await poll_until_done(provider, (await provider.submit(job())).task_id))[-1]
    with pytest.raises(MediaTooLargeError):
        await download(provider, done, max_bytes=len(VIDEO) * 2)
    assert await download(provider, done, max_bytes=len(VIDEO) * 4) == VIDEO * 4


async def test_a_slow_file_is_streamed_as_it_arrives(fake: FakeRunway, provider: RunwayProvider) -> None:
    fake.script(Script(file="slow"))
    done = (await poll_until_done(provider, (await provider.submit(job())).task_id))[-1]
    chunks = provider.download(done, max_bytes=1 << 20)
    first = await asyncio.wait_for(anext(chunks), timeout=5)  # arrives while the server holds the rest
    assert VIDEO.startswith(first) and len(first) < len(VIDEO)
    fake.release_slow.set()
    assert first + b"".join([chunk async for chunk in chunks]) == VIDEO


def noise_png(width: int, height: int) -> InputImage:
    """Random pixels: PNG cannot compress them, so the file is about width × height × 3 bytes."""
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(out, "PNG", compress_level=1)
    return InputImage(out.getvalue(), "image/png", width, height)


async def test_an_image_too_large_to_inline_is_shrunk_by_the_registry(
    fake: FakeRunway, provider: RunwayProvider
) -> None:
    big = noise_png(1400, 1300)
    assert len(big.data) * 4 / 3 > MAX_DATA_URI
    submitted = await registry.submit(provider, job("gen4_turbo", mode="i2v", first_frame=big))
    ((position, mime, data),) = fake.tasks[submitted.task_id].images
    assert (position, mime) == ("first", "image/jpeg")
    assert len(data) < len(big.data) and fake.creates() == 1, "the oversized image never left"


def test_the_descriptor() -> None:
    assert DESCRIPTOR.adapters == {"runway": RunwayProvider}
    assert DESCRIPTOR.base_url == "https://api.dev.runwayml.com"
    assert DESCRIPTOR.min_poll_interval == 5.0 and not DESCRIPTOR.callbacks.accepted


# ---------------------------------------------------------------------------------------- the fake is strict


async def raw_call(
    fake: FakeRunway, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    sent = {"Authorization": f"Bearer {KEY}", "X-Runway-Version": API_VERSION} if headers is None else headers
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, fake.api_url + path, json=body, headers=sent) as r,
    ):
        return r.status, await r.json(content_type=None) if r.status != 204 else None


async def test_fake_needs_the_version_header_and_the_key(fake: FakeRunway) -> None:
    _, body = build_request(job())
    status, answer = await raw_call(
        fake, "POST", "/v1/text_to_video", body, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert status == 400 and "X-Runway-Version" in answer["error"]
    status, _ = await raw_call(
        fake, "POST", "/v1/text_to_video", body, headers={"X-Runway-Version": API_VERSION}
    )
    assert status == 401
    assert fake.tasks == {}


@pytest.mark.parametrize(
    ("path", "changes", "issue"),
    [
        ("/v1/text_to_video", {"audio": True}, ("unrecognized_keys", [])),
        ("/v1/text_to_video", {"model": "gen4_turbo"}, ("invalid_value", ["model"])),
        ("/v1/text_to_video", {"ratio": "16:9"}, ("invalid_value", ["ratio"])),
        ("/v1/text_to_video", {"ratio": "960:960"}, ("invalid_value", ["ratio"])),
        ("/v1/text_to_video", {"duration": 11}, ("too_big", ["duration"])),
        ("/v1/text_to_video", {"duration": 5.0}, ("invalid_type", ["duration"])),
        ("/v1/text_to_video", {"promptText": ""}, ("too_small", ["promptText"])),
        ("/v1/text_to_video", {"promptText": "🦊" * 501}, ("too_big", ["promptText"])),
        ("/v1/text_to_video", {"seed": -1}, ("invalid_type", ["seed"])),
        ("/v1/image_to_video", {}, ("invalid_type", ["promptImage"])),
        (
            "/v1/image_to_video",
            {"promptImage": "http://example.com/a.png"},
            ("invalid_format", ["promptImage", "uri"]),
        ),
        (
            "/v1/image_to_video",
            {"promptImage": "https://127.0.0.1/a.png"},
            ("invalid_format", ["promptImage", "uri"]),
        ),
        (
            "/v1/image_to_video",
            {"promptImage": "data:image/gif;base64,R0lG"},
            ("invalid_format", ["promptImage", "uri"]),
        ),
        (
            "/v1/image_to_video",
            {"promptImage": "data:image/png;base64," + "A" * (5 * 1024 * 1024)},
            ("too_big", ["promptImage", "uri"]),
        ),
        (
            "/v1/image_to_video",
            {"promptImage": [{"uri": PNG_URI, "position": "last"}]},
            ("invalid_value", ["promptImage", 0, "position"]),
        ),
    ],
)
async def test_fake_refuses_what_runway_refuses(
    fake: FakeRunway, path: str, changes: dict[str, Any], issue: tuple[str, list[Any]]
) -> None:
    """The fake must be strict, or the adapter tests above would prove nothing."""
    _, body = build_request(job())
    status, answer = await raw_call(fake, "POST", path, {**body, **changes})
    assert status == 400 and answer["error"] == "Validation of body failed"
    assert issue in [(i["code"], i["path"]) for i in answer["issues"]]
    assert fake.tasks == {}


async def test_fake_refuses_a_last_frame_alone_and_accepts_a_pair(fake: FakeRunway) -> None:
    _, body = build_request(job("veo3.1", mode="fl2v", duration=8, first_frame=PNG, last_frame=JPEG))
    alone = {**body, "promptImage": [{"uri": JPEG_URI, "position": "last"}]}
    status, answer = await raw_call(fake, "POST", "/v1/image_to_video", alone)
    assert status == 400 and answer["issues"][0]["code"] == "custom"
    status, answer = await raw_call(fake, "POST", "/v1/image_to_video", body)
    assert status == 200 and answer["id"] in fake.tasks


async def test_fake_deletes_then_forgets_a_task(fake: FakeRunway) -> None:
    _, body = build_request(job())
    _, created = await raw_call(fake, "POST", "/v1/text_to_video", body)
    assert await raw_call(fake, "DELETE", f"/v1/tasks/{created['id']}") == (204, None)
    assert await raw_call(fake, "GET", f"/v1/tasks/{created['id']}") == (
        404,
        {"error": "Could not find Task"},
    )
    assert await raw_call(fake, "DELETE", f"/v1/tasks/{created['id']}") == (
        404,
        {"error": "Could not find Task"},
    )
