"""Runware adapter: pure request building and response parsing, then the real adapter against the fake."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from services.catalog import Route
from services.http import HttpResponse, ProviderHttp
from services.providers.base import (
    CallbackRejected,
    ContentPolicyError,
    ErrorKind,
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
from services.providers.runware import (
    RunwareProvider,
    build_upload_task,
    build_video_task,
    classify,
    dimensions,
    images_for,
    parse_callback_body,
    parse_status,
    parse_submit,
    parse_upload,
)
from services.video_request import VideoRequest
from storage.errors import MediaTooLargeError
from tests.fakes.providers.runware import VIDEO, FakeRunware, Script
from tests.fakes.sleeps import Sleeps

KEY = "rw-test-key"
SENT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TASK = "2f1c7f2e-5d1b-4c3a-9e8f-0a1b2c3d4e5f"
PNG = InputImage(b"\x89PNG\r\n\x1a\nfirst", "image/png", 1280, 720)
JPEG = InputImage(b"\xff\xd8\xff\xe0last", "image/jpeg", 1280, 720)


def job(
    model_id: str = "google:3@2",
    *,
    mode: str = "t2v",
    duration: int = 8,
    aspect_ratio: str = "16:9",
    resolution: str = "720p",
    audio: bool | None = True,
    params: dict[str, Any] | None = None,
    **kw: Any,
) -> SubmitJob:
    request_fields = {
        k: kw.pop(k) for k in ("negative_prompt", "seed", "enhance_prompt", "extras") if k in kw
    }
    request = VideoRequest(
        model="m",
        mode=mode,  # type: ignore[arg-type]
        prompt="a red fox in the snow",
        duration=duration,
        aspect_ratio=aspect_ratio,
        resolution=resolution,
        audio=audio,
        **request_fields,
    )
    route = Route(provider="runware", model_id=model_id, params=params or {})
    return SubmitJob(request=request, route=route, **kw)


def uuids() -> Iterator[str]:
    """Distinct, valid UUIDv4 strings in a known order."""
    n = 0
    while True:
        n += 1
        yield str(uuid.UUID(int=n << 64, version=4))


# ---------------------------------------------------------------------------------------- request building


@pytest.mark.parametrize(
    ("model_id", "resolution", "aspect_ratio", "size"),
    [
        ("google:3@2", "720p", "16:9", (1280, 720)),
        ("google:3@2", "720p", "9:16", (720, 1280)),
        ("google:3@2", "1080p", "16:9", (1920, 1080)),
        ("google:3@2", "1080p", "9:16", (1080, 1920)),
        ("vidu:2@0", "720p", "1:1", (720, 720)),
        ("vidu:1@5", "360p", "16:9", (640, 360)),
        ("vidu:1@5", "360p", "9:16", (360, 640)),
        ("vidu:1@5", "360p", "1:1", (360, 360)),
        ("vidu:1@1", "1080p", "1:1", (1080, 1080)),
        ("bytedance:2@1", "480p", "16:9", (864, 480)),
        ("bytedance:2@1", "480p", "9:16", (480, 864)),
        ("bytedance:2@1", "1080p", "16:9", (1920, 1088)),
        ("klingai:6@1", "1080p", "16:9", (1920, 1080)),
    ],
)
def test_dimensions_per_family(
    model_id: str, resolution: str, aspect_ratio: str, size: tuple[int, int]
) -> None:
    assert dimensions(model_id, resolution, aspect_ratio) == size


@pytest.mark.parametrize(("resolution", "aspect_ratio"), [("4k", "16:9"), ("720p", "21:9")])
def test_unknown_size_is_refused(resolution: str, aspect_ratio: str) -> None:
    with pytest.raises(InvalidRequestError):
        dimensions("google:3@2", resolution, aspect_ratio)


def test_text_to_video_task_for_veo() -> None:
    task = build_video_task(job(), TASK)
    assert task == {
        "taskType": "videoInference",
        "taskUUID": TASK,
        "model": "google:3@2",
        "positivePrompt": "a red fox in the snow",
        "duration": 8,
        "width": 1280,
        "height": 720,
        "deliveryMethod": "async",
        "outputType": "URL",
        "outputFormat": "MP4",
        "numberResults": 1,
        "includeCost": True,
        "providerSettings": {"google": {"generateAudio": True}},
    }


def test_optional_fields_and_route_params() -> None:
    task = build_video_task(
        job(
            negative_prompt="blur",
            seed=7,
            callback_url="https://bot.example/cb/runware/tok",
            params={"fps": 24, "model": "evil:1@1", "taskUUID": "x"},
        ),
        TASK,
    )
    assert task["negativePrompt"] == "blur"
    assert task["seed"] == 7
    assert task["webhookURL"] == "https://bot.example/cb/runware/tok"
    assert task["fps"] == 24
    assert task["model"] == "google:3@2", "route params never replace the task's identity"
    assert task["taskUUID"] == TASK


def test_veo_2_sends_no_audio_setting() -> None:
    task = build_video_task(job("google:2@0", audio=False), TASK)
    assert "providerSettings" not in task


@pytest.mark.parametrize(("audio", "bgm"), [(True, True), (False, False), (None, False)])
def test_vidu_background_music_follows_audio(audio: bool | None, bgm: bool) -> None:
    task = build_video_task(job("vidu:1@5", duration=4, audio=audio), TASK)
    assert task["providerSettings"] == {"vidu": {"bgm": bgm}}


@pytest.mark.parametrize(
    ("params", "extras", "settings"),
    [
        ({"movementAmplitude": "large"}, {}, {"bgm": False, "movementAmplitude": "large"}),
        ({}, {"style": "anime"}, {"bgm": False, "style": "anime"}),
        ({}, {"movement_amplitude": "small"}, {"bgm": False, "movementAmplitude": "small"}),
        (
            {"movementAmplitude": "large", "style": "general"},
            {"movement_amplitude": "auto"},
            {"bgm": False, "movementAmplitude": "auto", "style": "general"},  # the user's choice wins
        ),
        ({"fps": 24}, {"prompt_extend": True}, {"bgm": False}),  # other keys are not Vidu's settings
    ],
)
def test_vidu_settings_from_route_params_and_request_extras(
    params: dict[str, Any], extras: dict[str, Any], settings: dict[str, Any]
) -> None:
    task = build_video_task(job("vidu:1@5", duration=4, audio=False, params=params, extras=extras), TASK)
    assert task["providerSettings"] == {"vidu": settings}
    assert "movementAmplitude" not in task and "style" not in task, "settings never sit on the task itself"


@pytest.mark.parametrize(
    ("params", "extras", "problem"),
    [
        ({"movementAmplitude": "huge"}, {}, "movementAmplitude must be one of auto, large, medium, small"),
        ({}, {"style": "cartoon"}, "style must be one of anime, general"),
        ({}, {"movement_amplitude": 3}, "movementAmplitude"),
        ({"style": "General"}, {}, "style"),
    ],
)
def test_vidu_settings_outside_the_documented_values_are_refused(
    params: dict[str, Any], extras: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InvalidRequestError, match=problem) as caught:
        build_video_task(job("vidu:2@0", duration=4, params=params, extras=extras), TASK)
    assert caught.value.code == "provider_settings" and not caught.value.failover


def test_vidu_extras_mean_nothing_to_other_models() -> None:
    task = build_video_task(job(extras={"style": "anime", "movement_amplitude": "huge"}), TASK)
    assert task["providerSettings"] == {"google": {"generateAudio": True}}


@pytest.mark.parametrize(
    ("model_id", "audio", "enhance", "settings"),
    [
        ("google:3@2", True, False, {"google": {"generateAudio": True}}),
        ("google:3@2", True, True, {"google": {"generateAudio": True, "enhancePrompt": True}}),
        ("google:2@0", False, True, {"google": {"enhancePrompt": True}}),
        ("google:2@0", False, False, None),
        ("klingai:6@1", None, True, None),  # enhancePrompt is a Google setting only
    ],
)
def test_enhance_prompt_is_sent_to_google_models_only_when_on(
    model_id: str, audio: bool | None, enhance: bool, settings: dict[str, Any] | None
) -> None:
    duration = 5 if model_id.startswith("kling") else 8
    task = build_video_task(job(model_id, duration=duration, audio=audio, enhance_prompt=enhance), TASK)
    assert task.get("providerSettings") == settings


def test_frames_and_references_are_referenced_by_uuid() -> None:
    task = build_video_task(job(mode="fl2v"), TASK, first="img-1", last="img-2")
    assert task["frameImages"] == [
        {"inputImage": "img-1", "frame": "first"},
        {"inputImage": "img-2", "frame": "last"},
    ]
    assert "referenceImages" not in task
    task = build_video_task(job("vidu:2@0", mode="ref2v", duration=4), TASK, references=["r1", "r2"])
    assert task["referenceImages"] == ["r1", "r2"]
    assert "frameImages" not in task


def test_upload_task_is_a_data_uri() -> None:
    assert build_upload_task(PNG, TASK) == {
        "taskType": "imageUpload",
        "taskUUID": TASK,
        "image": "data:image/png;base64,iVBORw0KGgpmaXJzdA==",
    }


@pytest.mark.parametrize(
    ("model_id", "duration", "resolution", "aspect_ratio", "audio", "ok"),
    [
        ("google:3@0", 8, "720p", "16:9", True, True),
        ("google:3@0", 8, "1080p", "9:16", True, True),
        ("google:3@0", 6, "720p", "16:9", True, False),
        ("google:3@0", 4, "720p", "16:9", True, False),
        ("google:3@0", 8, "1080p", "16:9", True, True),
        ("google:3@0", 8, "720p", "9:16", True, True),
        ("google:3@0", 8, "720p", "1:1", True, False),  # Veo makes no square video
        ("vidu:1@1", 5, "1080p", "16:9", False, True),
        ("vidu:1@1", 5, "1080p", "9:16", False, False),  # the seed: 1920×1080 only
        ("vidu:1@1", 5, "1080p", "1:1", False, False),
        ("vidu:1@1", 5, "720p", "16:9", False, False),
        ("vidu:1@1", 4, "1080p", "16:9", False, False),
        ("vidu:1@5", 4, "360p", "16:9", False, True),
        ("vidu:1@5", 4, "1080p", "1:1", True, True),
        ("vidu:1@5", 4, "720p", "9:16", True, True),
        ("vidu:1@5", 8, "720p", "9:16", False, False),  # the seed: 4 s only
        ("vidu:1@5", 8, "1080p", "16:9", False, False),
        ("vidu:1@5", 8, "360p", "16:9", False, False),
        ("vidu:1@5", 8, "720p", "16:9", True, False),
        ("vidu:2@0", 4, "720p", "16:9", True, True),
        ("vidu:2@0", 8, "720p", "1:1", False, True),
        ("vidu:2@0", 8, "1080p", "9:16", False, False),
        ("vidu:2@0", 8, "720p", "16:9", True, False),
        ("vidu:2@0", 5, "720p", "16:9", False, False),
        ("google:3@2", 6, "720p", "16:9", True, True),
    ],
)
def test_model_limits(
    model_id: str, duration: int, resolution: str, aspect_ratio: str, audio: bool, ok: bool
) -> None:
    submit = job(model_id, duration=duration, resolution=resolution, aspect_ratio=aspect_ratio, audio=audio)
    if ok:
        assert build_video_task(submit, TASK)["duration"] == duration
    else:
        with pytest.raises(InvalidRequestError) as caught:
            build_video_task(submit, TASK)
        assert caught.value.code == "model_limits"
        assert not caught.value.failover


@pytest.mark.parametrize(
    ("mode", "images", "expected"),
    [
        ("t2v", {"first_frame": PNG}, (None, None, ())),
        ("i2v", {"first_frame": PNG, "last_frame": JPEG}, (PNG, None, ())),
        ("fl2v", {"first_frame": PNG, "last_frame": JPEG}, (PNG, JPEG, ())),
        ("ref2v", {"reference_images": (PNG, JPEG)}, (None, None, (PNG, JPEG))),
    ],
)
def test_images_each_mode_sends(mode: str, images: dict[str, Any], expected: tuple[Any, ...]) -> None:
    assert images_for(job(mode=mode, **images)) == expected


@pytest.mark.parametrize(
    ("mode", "images"),
    [("i2v", {}), ("fl2v", {"first_frame": PNG}), ("ref2v", {}), ("extend", {}), ("remix", {})],
)
def test_missing_images_and_unsupported_modes_are_refused(mode: str, images: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError):
        images_for(job(mode=mode, **images))


# ---------------------------------------------------------------------------------------- response parsing

SUCCESS = {"taskType": "videoInference", "taskUUID": TASK, "status": "success"}


@pytest.mark.parametrize(
    ("payload", "state", "content_policy", "code"),
    [
        ({"data": []}, TaskState.RUNNING, False, None),
        ({}, TaskState.RUNNING, False, None),
        ({"data": [{"taskUUID": TASK, "status": "processing"}]}, TaskState.RUNNING, False, None),
        ({"data": [{"taskUUID": TASK, "status": "pending"}]}, TaskState.RUNNING, False, None),
        ({"data": [{"taskUUID": TASK, "status": "queued"}]}, TaskState.RUNNING, False, None),
        ({"data": [{"taskUUID": TASK, "status": "scheduled"}]}, TaskState.RUNNING, False, None),
        ({"data": [{"taskUUID": TASK, "status": "waiting"}]}, TaskState.RUNNING, False, None),
        ({"data": [{**SUCCESS}]}, TaskState.FAILED, False, "no_video"),
        (
            {"data": [{"taskUUID": TASK, "status": "error", "message": "upstream failed"}]},
            TaskState.FAILED,
            False,
            "error",
        ),
        (
            {"errors": [{"taskUUID": TASK, "code": "providerError", "message": "boom"}]},
            TaskState.FAILED,
            False,
            "providerError",
        ),
        (
            {"data": [], "errors": [{"taskUUID": TASK, "code": "contentModeration", "message": "x"}]},
            TaskState.FAILED,
            True,
            "contentModeration",
        ),
        (
            {
                "errors": [
                    {"taskUUID": TASK, "code": "providerError", "message": "Blocked by the safety filter"}
                ]
            },
            TaskState.FAILED,
            True,
            "providerError",
        ),
        (
            {"errors": [{"taskUUID": TASK, "code": "providerError", "message": "NSFW content detected"}]},
            TaskState.FAILED,
            True,
            "providerError",
        ),
        (
            {"data": [{"taskUUID": "other", "status": "success", "videoURL": "https://x/y.mp4"}]},
            TaskState.RUNNING,
            False,
            None,
        ),
        (
            {"data": [], "errors": [{"taskUUID": "other", "code": "providerError", "message": "not ours"}]},
            TaskState.RUNNING,
            False,
            None,
        ),
    ],
)
def test_parse_status(payload: Any, state: TaskState, content_policy: bool, code: str | None) -> None:
    status = parse_status(payload, TASK)
    assert status.state is state
    assert status.content_policy is content_policy
    assert status.error_code == code


@pytest.mark.parametrize("field", ["videoURL", "mediaURL"])
def test_success_carries_url_and_cost(field: str) -> None:
    item = {**SUCCESS, field: "https://vm.runware.ai/v/abc.mp4", "cost": 0.4, "seed": 3, "videoUUID": "v1"}
    status = parse_status({"data": [item]}, TASK)
    assert status.state is TaskState.SUCCEEDED
    assert status.result == ResultRef(
        "https://vm.runware.ai/v/abc.mp4",
        mime_type="video/mp4",
        extra={"cost": 0.4, "seed": 3, "videoUUID": "v1"},
    )
    assert status.cost_usd == 0.4, "the reported cost reaches /stats"


@pytest.mark.parametrize(
    ("cost", "expected"),
    [(0.25, 0.25), ("0.5", 0.5), (0, 0.0), (None, None), ("free", None), (-1, None), (float("nan"), None)],
)
def test_a_cost_that_is_not_a_dollar_amount_is_no_cost(cost: Any, expected: float | None) -> None:
    item = {**SUCCESS, "videoURL": "https://vm.runware.ai/v/abc.mp4", "cost": cost}
    assert parse_status({"data": [item]}, TASK).cost_usd == expected


def test_success_wins_over_a_stale_error_entry() -> None:
    payload = {
        "data": [{**SUCCESS, "videoURL": "https://vm.runware.ai/v/abc.mp4"}],
        "errors": [{"taskUUID": TASK, "code": "timeout", "message": "retrying"}],
    }
    assert parse_status(payload, TASK).state is TaskState.SUCCEEDED


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(status, headers or {}, json.dumps(body).encode())


def errors(code: str, message: str) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message, "taskUUID": TASK}]}


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, errors("invalidDuration", "duration must be 8"), InvalidRequestError),
        (400, errors("invalidPrompt", "Prompt flagged by content moderation"), ContentPolicyError),
        (400, errors("invalidApiKey", "bad key"), UnauthorizedError),
        (400, errors("insufficientCredits", "top up"), OutOfBalanceError),
        (422, errors("invalidWidth", "width"), InvalidRequestError),
        (401, errors("invalidApiKey", "Invalid API key"), UnauthorizedError),
        (402, errors("insufficientCredits", "Insufficient balance"), OutOfBalanceError),
        (403, errors("forbidden", "No permission"), UnauthorizedError),
        (404, errors("notFound", "nothing"), NotFoundError),
        (429, errors("rateLimited", "queue full"), RateLimitedError),
        (500, errors("internal", "oops"), UnavailableError),
        (503, errors("unavailable", "capacity"), UnavailableError),
        (504, errors("timeout", "upstream"), UnavailableError),
        (502, "<html>bad gateway</html>", UnavailableError),
        (409, {}, InvalidRequestError),
    ],
)
def test_classify_http_errors(status: int, body: Any, kind: type[ProviderError]) -> None:
    error = classify(response(status, body))
    assert type(error) is kind
    assert error.http_status == status


def test_classify_keeps_code_retry_hint_and_hides_the_key() -> None:
    error = classify(response(429, errors("rateLimited", "slow down"), {"Retry-After": "9"}), secret=KEY)
    assert (error.code, error.message, error.retry_after) == ("rateLimited", "slow down", 9.0)
    leaked = classify(response(401, errors("invalidApiKey", f"key {KEY} is not valid")), secret=KEY)
    assert KEY not in str(leaked)
    assert "***" in leaked.message


def test_parse_upload() -> None:
    data = {"data": [{"taskType": "imageUpload", "taskUUID": TASK, "imageUUID": "img-1", "imageURL": "u"}]}
    assert parse_upload(data, TASK) == "img-1"
    with pytest.raises(InvalidRequestError):
        parse_upload(errors("invalidImage", "bad image"), TASK)
    with pytest.raises(UnavailableError):
        parse_upload({"data": []}, TASK)


def test_parse_submit() -> None:
    ack = parse_submit({"data": [{"taskType": "videoInference", "taskUUID": TASK}]}, TASK)
    assert (ack.task_id, ack.status.state) == (TASK, TaskState.QUEUED)
    done = parse_submit({"data": [{**SUCCESS, "videoURL": "https://x/v.mp4"}]}, TASK)
    assert done.status.state is TaskState.SUCCEEDED
    with pytest.raises(ContentPolicyError):
        parse_submit(errors("contentModeration", "prompt rejected"), TASK)
    with pytest.raises(OutOfBalanceError):
        parse_submit(errors("insufficientCredits", "no money"), TASK)
    other = str(uuid.uuid4())
    for unreadable in (None, {}, {"data": []}, {"data": "ok"}, {"data": [{"taskUUID": other}]}):
        with pytest.raises(UncertainSubmitError):  # Runware may have the task: look it up, never resend
            parse_submit(unreadable, TASK)


@pytest.mark.parametrize(
    ("body", "state", "content_policy"),
    [
        ({**SUCCESS, "videoURL": "https://vm.runware.ai/v.mp4", "cost": 0.4}, TaskState.SUCCEEDED, False),
        ({**SUCCESS}, TaskState.FAILED, False),
        ({"taskType": "videoInference", "taskUUID": TASK, "status": "processing"}, TaskState.RUNNING, False),
        ({"taskUUID": TASK, "status": "error", "message": "failed"}, TaskState.FAILED, False),
        (errors("contentModeration", "flagged"), TaskState.FAILED, True),
        ({"data": [{**SUCCESS, "videoURL": "https://vm.runware.ai/v.mp4"}]}, TaskState.SUCCEEDED, False),
    ],
)
def test_parse_callback(body: Any, state: TaskState, content_policy: bool) -> None:
    event = parse_callback_body(json.dumps(body).encode())
    assert event.task_id == TASK
    assert event.status is not None
    assert (event.status.state, event.status.content_policy) == (state, content_policy)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'"text"',
        b"{}",
        json.dumps({"status": "success", "videoURL": "https://x"}).encode(),
        json.dumps({"taskUUID": "not-a-uuid", "status": "success"}).encode(),
        json.dumps({"taskUUID": 5}).encode(),
        json.dumps({"errors": []}).encode(),
    ],
)
def test_malformed_callbacks_are_rejected(body: bytes) -> None:
    with pytest.raises(CallbackRejected):
        parse_callback_body(body)


# ---------------------------------------------------------------------------------------- against the fake


@pytest.fixture
async def fake() -> AsyncIterator[FakeRunware]:
    server = FakeRunware(api_key=KEY)
    await server.start()
    yield server
    server.release_slow.set()
    await server.close()


def config(fake: FakeRunware, key: str = KEY) -> ProviderConfig:
    return ProviderConfig("runware", fake.api_url, SecretStr(key), 30)


@pytest.fixture
async def provider(fake: FakeRunware, sleeps: Sleeps) -> AsyncIterator[RunwareProvider]:
    http = ProviderHttp(
        "runware", fake.api_url, auth_headers={"Authorization": f"Bearer {KEY}"}, sleep=sleeps, backoff_base=0
    )
    adapter = RunwareProvider(config(fake), http=http, uuid_factory=uuids().__next__)
    yield adapter
    await adapter.close()


async def download(adapter: RunwareProvider, status: TaskStatus, max_bytes: int = 1 << 20) -> bytes:
    return b"".join([chunk async for chunk in adapter.download(status, max_bytes=max_bytes)])


async def poll_until_done(adapter: RunwareProvider, task_id: str) -> tuple[int, TaskStatus]:
    for polls in range(1, 20):
        status = await adapter.status(task_id)
        if status.state is not TaskState.RUNNING:
            return polls, status
    raise AssertionError("never finished")


async def test_succeeds_after_polls_and_downloads_without_the_key(
    fake: FakeRunware, provider: RunwareProvider
) -> None:
    fake.script(Script(polls=3))
    submitted = await provider.submit(job(seed=11))
    assert submitted.status.state is TaskState.QUEUED
    assert [await provider.status(submitted.task_id) for _ in range(3)] == [TaskStatus(TaskState.RUNNING)] * 3
    status = await provider.status(submitted.task_id)
    assert status.state is TaskState.SUCCEEDED
    assert status.result is not None
    assert status.result.extra["cost"] == 0.4
    assert status.result.url.startswith(fake.cdn_url)
    assert await download(provider, status) == VIDEO
    assert all(h["Authorization"] == f"Bearer {KEY}" for h in fake.api_headers)
    assert fake.file_headers and all("Authorization" not in h for h in fake.file_headers)
    (task,) = fake.video_tasks()
    assert task["taskUUID"] == submitted.task_id
    assert (task["width"], task["height"], task["seed"]) == (1280, 720, 11)
    assert fake.requests[-1] == [{"taskType": "getResponse", "taskUUID": submitted.task_id}]


@pytest.mark.parametrize("running", ["", "processing", "pending", "queued", "scheduled", "waiting"])
async def test_every_running_shape_keeps_polling(
    fake: FakeRunware, provider: RunwareProvider, running: str
) -> None:
    fake.script(Script(polls=2, running_status=running, url_field="mediaURL"))
    submitted = await provider.submit(job())
    polls, status = await poll_until_done(provider, submitted.task_id)
    assert (polls, status.state) == (3, TaskState.SUCCEEDED)
    assert await download(provider, status) == VIDEO


@pytest.mark.parametrize(
    ("model_id", "mode", "images", "duration", "expect_frames", "expect_refs"),
    [
        ("google:3@2", "i2v", {"first_frame": PNG}, 8, ["first"], 0),
        ("google:3@3", "fl2v", {"first_frame": PNG, "last_frame": JPEG}, 8, ["first", "last"], 0),
        ("vidu:2@0", "ref2v", {"reference_images": (PNG, JPEG)}, 4, [], 2),
    ],
)
async def test_images_are_uploaded_then_referenced(
    fake: FakeRunware,
    provider: RunwareProvider,
    model_id: str,
    mode: str,
    images: dict[str, Any],
    duration: int,
    expect_frames: list[str],
    expect_refs: int,
) -> None:
    submitted = await provider.submit(job(model_id, mode=mode, duration=duration, **images))
    uploads = [r[0] for r in fake.requests if r[0]["taskType"] == "imageUpload"]
    assert len(uploads) == len(expect_frames) + expect_refs
    (task,) = fake.video_tasks()
    frames = task.get("frameImages", [])
    assert [f["frame"] for f in frames] == expect_frames
    sent = [f["inputImage"] for f in frames] + task.get("referenceImages", [])
    sent_images = [fake.images[image_uuid] for image_uuid in sent]
    expected = [images[k] for k in ("first_frame", "last_frame") if k in images] + list(
        images.get("reference_images", ())
    )
    assert sent_images == [(i.mime_type, i.data) for i in expected]
    assert len({r[0]["taskUUID"] for r in fake.requests}) == len(fake.requests), "a fresh UUID per task"
    _, status = await poll_until_done(provider, submitted.task_id)
    assert status.state is TaskState.SUCCEEDED


@pytest.mark.parametrize("http_status", [200, 400])
async def test_content_policy_failure_when_polled(
    fake: FakeRunware, provider: RunwareProvider, http_status: int
) -> None:
    fake.script(Script(outcome="content_policy", failure_http_status=http_status))
    submitted = await provider.submit(job())
    polls, status = await poll_until_done(provider, submitted.task_id)
    assert polls == 2
    assert status.state is TaskState.FAILED
    assert status.content_policy
    assert status.error_code == "contentModeration"


@pytest.mark.parametrize(
    ("outcome", "http_status", "code"),
    [("error", 200, "providerError"), ("error", 400, "providerError"), ("error_item", 200, "error")],
)
async def test_other_failures_are_not_content_policy(
    fake: FakeRunware, provider: RunwareProvider, outcome: Any, http_status: int, code: str
) -> None:
    fake.script(Script(outcome=outcome, failure_http_status=http_status))
    submitted = await provider.submit(job())
    _, status = await poll_until_done(provider, submitted.task_id)
    assert (status.state, status.content_policy, status.error_code) == (TaskState.FAILED, False, code)
    assert status.error_message


async def test_finished_without_a_video(fake: FakeRunware, provider: RunwareProvider) -> None:
    fake.script(Script(outcome="no_video"))
    submitted = await provider.submit(job())
    _, status = await poll_until_done(provider, submitted.task_id)
    assert (status.state, status.error_code, status.result) == (TaskState.FAILED, "no_video", None)


async def test_prompt_refused_for_content_policy_at_submit(
    fake: FakeRunware, provider: RunwareProvider
) -> None:
    fake.fail_next(
        400,
        code="invalidPositivePrompt",
        message="Prompt rejected by content moderation",
        task_type="videoInference",
    )
    with pytest.raises(ContentPolicyError) as caught:
        await provider.submit(job())
    assert caught.value.kind is ErrorKind.CONTENT_POLICY
    assert not caught.value.failover
    assert fake.video_tasks() == []


async def test_429_with_retry_hint_is_waited_out(
    fake: FakeRunware, provider: RunwareProvider, sleeps: Sleeps
) -> None:
    submitted = await provider.submit(job())
    fake.fail_next(
        429, code="rateLimitExceeded", message="queue full", retry_after="3", task_type="getResponse"
    )
    await provider.status(submitted.task_id)  # the 429 is retried after the hinted 3 s
    assert sleeps == [3.0]
    assert (await provider.status(submitted.task_id)).state is TaskState.SUCCEEDED


async def test_a_long_retry_hint_is_handed_to_the_poller(
    fake: FakeRunware, provider: RunwareProvider, sleeps: Sleeps
) -> None:
    fake.fail_next(429, code="rateLimitExceeded", message="queue full", retry_after="120")
    with pytest.raises(RateLimitedError) as caught:
        await provider.submit(job())
    assert caught.value.retry_after == 120.0
    assert sleeps == []


async def test_5xx_is_retried_then_succeeds(
    fake: FakeRunware, provider: RunwareProvider, sleeps: Sleeps
) -> None:
    fake.fail_next(503, code="serviceUnavailable", message="capacity", times=2, task_type="videoInference")
    submitted = await provider.submit(job())
    assert len(sleeps) == 2
    assert [t["taskUUID"] for t in fake.video_tasks()] == [submitted.task_id]


async def test_the_client_request_id_is_the_task_uuid(fake: FakeRunware, provider: RunwareProvider) -> None:
    submitted = await provider.submit(job(request_id=TASK))
    assert submitted.task_id == TASK and list(fake.tasks) == [TASK]


@pytest.mark.parametrize("made", [True, False])
async def test_a_malformed_ack_is_uncertain_and_looked_up_by_its_task_uuid(
    fake: FakeRunware, provider: RunwareProvider, made: bool
) -> None:
    fake.break_next_ack("malformed", made=made)
    with pytest.raises(UncertainSubmitError):
        await provider.submit(job(request_id=TASK))
    found = await provider.find_submitted(job(request_id=TASK), since=SENT)
    assert fake.creates() == 1
    if made:
        assert found is not None and found.task_id == TASK and found.status.state is TaskState.RUNNING
    else:
        assert found is None


async def test_a_stalled_ack_is_uncertain_never_resent_and_found(fake: FakeRunware, sleeps: Sleeps) -> None:
    http = ProviderHttp(
        "runware",
        fake.api_url,
        auth_headers={"Authorization": f"Bearer {KEY}"},
        sleep=sleeps,
        read_timeout=0.2,
    )
    adapter = RunwareProvider(config(fake), http=http)
    try:
        fake.break_next_ack("stall")
        with pytest.raises(UncertainSubmitError, match="SocketTimeoutError"):
            await adapter.submit(job(request_id=TASK))
        assert fake.creates() == 1 and sleeps == []
        found = await adapter.find_submitted(job(request_id=TASK), since=SENT)
    finally:
        await adapter.close()
    assert found is not None and found.task_id == TASK


async def test_5xx_that_persists_is_unavailable(fake: FakeRunware, provider: RunwareProvider) -> None:
    """A 503 refuses the task: sent again, failing over when it persists. (This test used a 500, which
    may come after the task was made: now an uncertain submit, below.)"""
    fake.fail_next(503, code="serviceUnavailable", message="busy", times=10)
    with pytest.raises(UnavailableError) as caught:
        await provider.submit(job())
    assert caught.value.failover
    assert fake.creates() == 4


async def test_a_500_on_the_video_task_is_uncertain_but_uploads_are_retried(
    fake: FakeRunware, provider: RunwareProvider
) -> None:
    fake.fail_next(500, code="internalError", message="boom", task_type="imageUpload")
    fake.fail_next(500, code="internalError", message="boom", task_type="videoInference")
    with pytest.raises(UncertainSubmitError):
        await provider.submit(job(mode="i2v", first_frame=PNG))
    assert fake.creates() == 1
    assert sum(1 for body in fake.requests for t in body if t.get("taskType") == "imageUpload") == 2


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (402, "insufficientCredits", OutOfBalanceError),
        (403, "forbidden", UnauthorizedError),
        (400, "invalidModel", InvalidRequestError),
    ],
)
async def test_account_and_request_errors_are_typed(
    fake: FakeRunware, provider: RunwareProvider, status: int, code: str, kind: type[ProviderError]
) -> None:
    fake.fail_next(status, code=code, message="refused", task_type="videoInference")
    with pytest.raises(kind) as caught:
        await provider.submit(job())
    assert caught.value.code == code


async def test_wrong_key_is_unauthorized_and_never_echoed(fake: FakeRunware, sleeps: Sleeps) -> None:
    adapter = RunwareProvider(config(fake, "rw-wrong"))
    try:
        with pytest.raises(UnauthorizedError) as caught:
            await adapter.status(TASK)
    finally:
        await adapter.close()
    assert caught.value.code == "invalidApiKey"
    assert "rw-wrong" not in str(caught.value)
    assert fake.api_headers[-1]["Authorization"] == "Bearer rw-wrong"


async def test_unknown_task_is_not_found(provider: RunwareProvider) -> None:
    with pytest.raises(NotFoundError):
        await provider.status(TASK)


async def test_limits_are_refused_before_anything_is_sent(
    fake: FakeRunware, provider: RunwareProvider
) -> None:
    with pytest.raises(InvalidRequestError):
        await provider.submit(job("vidu:2@0", mode="i2v", duration=8, resolution="1080p", first_frame=PNG))
    with pytest.raises(InvalidRequestError):
        await provider.submit(job("google:3@0", duration=6))
    assert fake.requests == [], "no upload and no task for a combination Runware refuses"


@pytest.mark.parametrize(
    ("task_changes", "code"),
    [
        ({"model": "google:3@0", "duration": 6}, "invalidDimensionsOrDuration"),
        ({"model": "vidu:1@1", "duration": 5, "width": 1280, "height": 720}, "invalidDimensionsOrDuration"),
        ({"model": "vidu:1@5", "duration": 8, "width": 1920, "height": 1080}, "invalidDimensionsOrDuration"),
        ({"model": "vidu:1@5", "duration": 8, "width": 1280, "height": 720}, "invalidDimensionsOrDuration"),
        ({"model": "vidu:1@1", "duration": 5, "width": 1080, "height": 1920}, "invalidDimensionsOrDuration"),
        ({"model": "google:3@0", "width": 720, "height": 720}, "invalidDimensionsOrDuration"),
        (
            {"model": "vidu:1@5", "duration": 4, "providerSettings": {"vidu": {"movementAmplitude": "huge"}}},
            "invalidProviderSettings",
        ),
        (
            {"model": "vidu:1@5", "duration": 4, "providerSettings": {"vidu": {"style": "cartoon"}}},
            "invalidProviderSettings",
        ),
        ({"providerSettings": {"google": {"enhancePrompt": "yes"}}}, "invalidProviderSettings"),
        (
            {"model": "vidu:2@0", "duration": 8, "providerSettings": {"vidu": {"bgm": True}}},
            "invalidDimensionsOrDuration",
        ),
        ({"providerSettings": {"vidu": {"bgm": True}}}, "invalidProviderSettings"),
        ({"deliveryMethod": "sync"}, "invalidDeliveryMethod"),
        ({"outputFormat": "GIF"}, "invalidOutputFormat"),
        ({"frameImages": [{"inputImage": "not-uploaded", "frame": "first"}]}, "invalidImageUUID"),
        ({"referenceImages": ["not-uploaded"]}, "invalidImageUUID"),
        ({"positivePrompt": ""}, "invalidPositivePrompt"),
        ({"resolution": "720p"}, "unsupportedParameter"),
        ({"taskUUID": "1234"}, "invalidTaskUUID"),
        ({"taskUUID": str(uuid.uuid1())}, "invalidTaskUUID"),
        ({"taskType": "videoGeneration"}, "invalidTaskType"),
    ],
)
async def test_fake_refuses_what_runware_refuses(
    fake: FakeRunware, task_changes: dict[str, Any], code: str
) -> None:
    """The fake must be strict, or the adapter tests above would prove nothing."""
    task = {**build_video_task(job(), str(uuid.uuid4())), **task_changes}
    if task_changes.get("model", "").startswith("vidu") and "providerSettings" not in task_changes:
        task["providerSettings"] = {"vidu": {"bgm": False}}
    headers = {"Authorization": f"Bearer {KEY}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(fake.api_url, json=[task], headers=headers) as r,
    ):
        body = await r.json()
    assert r.status == 400
    assert body["errors"][0]["code"] == code


@pytest.mark.parametrize(
    ("model_id", "duration", "resolution", "aspect_ratio", "size"),
    [
        ("vidu:1@1", 5, "1080p", "16:9", (1920, 1080)),
        ("vidu:1@5", 4, "720p", "9:16", (720, 1280)),
        ("vidu:2@0", 8, "720p", "1:1", (720, 720)),
    ],
)
async def test_vidu_with_its_settings_through_the_full_cycle(
    fake: FakeRunware,
    provider: RunwareProvider,
    model_id: str,
    duration: int,
    resolution: str,
    aspect_ratio: str,
    size: tuple[int, int],
) -> None:
    submit = job(
        model_id,
        duration=duration,
        resolution=resolution,
        aspect_ratio=aspect_ratio,
        audio=False,
        params={"movementAmplitude": "medium"},
        extras={"style": "anime"},
    )
    submitted = await provider.submit(submit)
    (task,) = fake.video_tasks()
    assert (task["width"], task["height"], task["duration"]) == (*size, duration)
    assert task["providerSettings"] == {
        "vidu": {"bgm": False, "movementAmplitude": "medium", "style": "anime"}
    }
    _, status = await poll_until_done(provider, submitted.task_id)
    assert status.state is TaskState.SUCCEEDED
    assert await download(provider, status) == VIDEO


@pytest.mark.parametrize(
    "submit",
    [
        job("vidu:1@5", duration=4, params={"movementAmplitude": "wild"}),
        job(
            "vidu:1@1", mode="i2v", duration=5, resolution="1080p", extras={"style": "noir"}, first_frame=PNG
        ),
        job("vidu:1@5", duration=8, resolution="720p", audio=False),
        job("vidu:1@1", duration=5, resolution="1080p", aspect_ratio="9:16", audio=False),
        job("google:3@0", duration=8, aspect_ratio="1:1"),
    ],
    ids=["bad-amplitude", "bad-style", "vidu-1.5-8s", "vidu-q1-portrait", "veo-3-square"],
)
async def test_vidu_and_veo_3_refusals_cost_nothing(
    fake: FakeRunware, provider: RunwareProvider, submit: SubmitJob
) -> None:
    with pytest.raises(InvalidRequestError):
        await provider.submit(submit)
    assert fake.requests == [], "no upload and no task for what Runware would refuse"


@pytest.mark.parametrize(
    ("resolution", "aspect_ratio", "size"), [("720p", "16:9", (1280, 720)), ("1080p", "9:16", (1080, 1920))]
)
async def test_veo_3_at_its_sizes_through_the_full_cycle(
    fake: FakeRunware, provider: RunwareProvider, resolution: str, aspect_ratio: str, size: tuple[int, int]
) -> None:
    submitted = await provider.submit(job("google:3@0", resolution=resolution, aspect_ratio=aspect_ratio))
    (task,) = fake.video_tasks()
    assert (task["width"], task["height"], task["duration"]) == (*size, 8)
    _, status = await poll_until_done(provider, submitted.task_id)
    assert status.state is TaskState.SUCCEEDED


@pytest.mark.parametrize("enhance", [False, True])
async def test_enhance_prompt_reaches_runware_only_when_on(
    fake: FakeRunware, provider: RunwareProvider, enhance: bool
) -> None:
    submitted = await provider.submit(job(enhance_prompt=enhance))
    (task,) = fake.video_tasks()
    google = task["providerSettings"]["google"]
    assert google.get("enhancePrompt") is (True if enhance else None)
    _, status = await poll_until_done(provider, submitted.task_id)
    assert status.state is TaskState.SUCCEEDED


async def test_fake_refuses_a_body_that_is_not_an_array(fake: FakeRunware) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    task = build_video_task(job(), str(uuid.uuid4()))
    async with (
        aiohttp.ClientSession() as session,
        session.post(fake.api_url, json=task, headers=headers) as r,
    ):
        body = await r.json()
    assert (r.status, body["errors"][0]["code"]) == (400, "invalidPayload")


@pytest.mark.parametrize("file", ["expired", "missing"])
async def test_expired_result_url(fake: FakeRunware, provider: RunwareProvider, file: Any) -> None:
    fake.script(Script(file=file))
    submitted = await provider.submit(job())
    _, status = await poll_until_done(provider, submitted.task_id)
    with pytest.raises(NotFoundError):
        await download(provider, status)


async def test_download_without_result_is_refused(provider: RunwareProvider) -> None:
    with pytest.raises(NotFoundError):
        await download(provider, TaskStatus(TaskState.FAILED))


@pytest.mark.parametrize("file", ["large", "large_declared"])
async def test_large_file_stops_at_the_cap(fake: FakeRunware, provider: RunwareProvider, file: Any) -> None:
    fake.script(Script(file=file))
    submitted = await provider.submit(job())
    _, status = await poll_until_done(provider, submitted.task_id)
    with pytest.raises(MediaTooLargeError):
        await download(provider, status, max_bytes=len(VIDEO) * 2)
    assert await download(provider, status, max_bytes=len(VIDEO) * 4) == VIDEO * 4


async def test_slow_file_is_streamed_as_it_arrives(fake: FakeRunware, provider: RunwareProvider) -> None:
    fake.script(Script(file="slow"))
    submitted = await provider.submit(job())
    _, status = await poll_until_done(provider, submitted.task_id)
    chunks = provider.download(status, max_bytes=1 << 20)
    first = await asyncio.wait_for(anext(chunks), timeout=5)  # arrives while the server still holds the rest
    assert VIDEO.startswith(first)
    fake.release_slow.set()
    rest = b"".join([chunk async for chunk in chunks])
    assert first + rest == VIDEO


async def test_webhook_delivery_parses_into_the_same_status(
    fake: FakeRunware, provider: RunwareProvider
) -> None:
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        await received.put(await request.read())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hooks/runware/secret-token", hook)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        fake.script(Script(polls=0), Script(outcome="content_policy"))
        url = f"http://127.0.0.1:{port}/hooks/runware/secret-token"
        done = await provider.submit(job(callback_url=url))
        filtered = await provider.submit(job(callback_url=url))
        assert await fake.deliver_callback(done.task_id) == 200
        assert await fake.deliver_callback(filtered.task_id) == 200
        first = provider.parse_callback({}, await received.get())
        second = provider.parse_callback({}, await received.get())
    finally:
        await runner.cleanup()
    assert first.task_id == done.task_id
    assert first.status == await provider.status(done.task_id)
    assert first.status is not None and first.status.state is TaskState.SUCCEEDED
    assert second.task_id == filtered.task_id
    assert second.status is not None and second.status.content_policy


async def test_a_missing_key_is_unauthorized(fake: FakeRunware) -> None:
    adapter = RunwareProvider(ProviderConfig("runware", fake.api_url, None, 30))
    try:
        with pytest.raises(UnauthorizedError):
            await adapter.submit(job())
    finally:
        await adapter.close()
    assert "Authorization" not in fake.api_headers[-1]


@pytest.mark.parametrize(
    ("code", "fault"), [("timeout", True), ("internalServerError", True), ("contentModeration", False)]
)
def test_a_task_failed_by_a_timeout_or_server_error_is_a_provider_fault(code: str, fault: bool) -> None:
    status = parse_status({"errors": [{"taskUUID": TASK, "code": code, "message": "the task failed"}]}, TASK)
    assert status.state is TaskState.FAILED and status.provider_fault is fault
