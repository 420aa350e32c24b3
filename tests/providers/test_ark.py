"""Seedance on BytePlus ModelArk: pure request building, response parsing and error mapping (table-driven),
then the real adapter against the fake API: create → poll → download, every documented failure, uncertain
creates, cancel while queued, callbacks."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from services.catalog import Route
from services.http import HttpResponse, ProviderHttp
from services.providers.ark import (
    DESCRIPTOR,
    ArkProvider,
    build_body,
    classify,
    classify_download,
    parse_callback_body,
    parse_created,
    parse_task,
    strip_commands,
)
from services.providers.base import (
    CallbackEvent,
    CallbackRejected,
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
from services.providers.descriptor import Callbacks, ProviderConfig
from services.video_request import VideoRequest
from storage.errors import MediaTooLargeError
from tests.fakes.providers.ark import (
    API_KEY,
    NSFW_MARK,
    OUTPUT_POLICY_CODE,
    OUTPUT_POLICY_MESSAGE,
    POLICY_WORD,
    TOKENS_PER_SECOND,
    FakeArk,
    Script,
)
from tests.fakes.sleeps import Sleeps

PRO = "seedance-1-0-pro-250528"
PRO_FAST = "seedance-1-0-pro-fast-251015"
LITE_T2V = "seedance-1-0-lite-t2v-250428"
LITE_I2V = "seedance-1-0-lite-i2v-250428"
PRO_15 = "seedance-1-5-pro-251215"
V2 = "dreamina-seedance-2-0-260128"
V2_FAST = "dreamina-seedance-2-0-fast-260128"
ENDPOINT = "ep-20261122-seed15"
PROMPT = "a red fox runs through fresh snow"
URL = "https://ark-content.tos-ap-southeast-1.bytepluses.com/cgt-1.mp4?X-Tos-Signature=abc"
JPEG = InputImage(b"\xff\xd8\xff\xe0first-frame", "image/jpeg", 1280, 720)
PNG = InputImage(b"\x89PNG\r\n\x1a\nlast-frame", "image/png", 1280, 720)
WEBP = InputImage(b"RIFF\x00\x00\x00\x00WEBPref", "image/webp", 720, 1280)


def job(
    model_id: str = PRO,
    *,
    mode: str = "t2v",
    prompt: str = PROMPT,
    duration: int | None = 5,
    aspect_ratio: str | None = "16:9",
    resolution: str | None = "720p",
    audio: bool | None = False,
    seed: int | None = None,
    params: dict[str, Any] | None = None,
    **kw: Any,
) -> SubmitJob:
    request = VideoRequest(
        model="seedance",
        mode=mode,  # type: ignore[arg-type]
        prompt=prompt,
        duration=duration,
        aspect_ratio=aspect_ratio,
        resolution=resolution,
        audio=audio,
        seed=seed,
    )
    return SubmitJob(
        request=request, route=Route(provider="ark", model_id=model_id, params=params or {}), **kw
    )


def data_url(image: InputImage) -> str:
    return f"data:{image.mime_type};base64,{base64.b64encode(image.data).decode()}"


def text(value: str) -> dict[str, str]:
    return {"type": "text", "text": value}


def image(img: InputImage, role: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": data_url(img)}, "role": role}


# ------------------------------------------------------------------------------------- request building

T2V = {"resolution": "720p", "ratio": "16:9", "duration": 5}


@pytest.mark.parametrize(
    ("submit_job", "body"),
    [
        (job(), {"model": PRO, "content": [text(PROMPT)], **T2V}),
        (
            job(seed=0, callback_url="https://bot.example/callbacks/ark/t"),
            {
                "model": PRO,
                "content": [text(PROMPT)],
                **T2V,
                "seed": 0,
                "callback_url": "https://bot.example/callbacks/ark/t",
            },
        ),
        (
            job(mode="i2v", first_frame=JPEG, last_frame=PNG, aspect_ratio="9:16"),
            {"model": PRO, "content": [text(PROMPT), image(JPEG, "first_frame")], **T2V, "ratio": "9:16"},
        ),
        (
            job(mode="fl2v", first_frame=JPEG, last_frame=PNG, resolution="1080p", duration=10),
            {
                "model": PRO,
                "content": [text(PROMPT), image(JPEG, "first_frame"), image(PNG, "last_frame")],
                **T2V,
                "resolution": "1080p",
                "duration": 10,
            },
        ),
        (
            job(LITE_I2V, mode="ref2v", reference_images=(JPEG, PNG, WEBP), first_frame=JPEG),
            {
                "model": LITE_I2V,
                "content": [
                    text(PROMPT),
                    image(JPEG, "reference_image"),
                    image(PNG, "reference_image"),
                    image(WEBP, "reference_image"),
                ],
                **T2V,
            },
        ),
        (
            job(mode="i2v", prompt="", first_frame=JPEG, resolution=None, aspect_ratio=None, duration=None),
            {"model": PRO, "content": [image(JPEG, "first_frame")]},
        ),
        (
            job(PRO_15, audio=True),
            {"model": PRO_15, "content": [text(PROMPT)], **T2V, "generate_audio": True},
        ),
        (
            job(PRO_15, audio=False),
            {"model": PRO_15, "content": [text(PROMPT)], **T2V, "generate_audio": False},
        ),
        (job(V2, audio=None), {"model": V2, "content": [text(PROMPT)], **T2V}),
        (
            job(params={"camera_fixed": True, "service_tier": "flex", "adapter": "ark", "frames": 29}),
            {"model": PRO, "content": [text(PROMPT)], **T2V, "camera_fixed": True, "service_tier": "flex"},
        ),
        (
            job(seed=7, params={"text_commands": True, "camera_fixed": False}),
            {
                "model": PRO,
                "content": [
                    text(f"{PROMPT} --resolution 720p --ratio 16:9 --duration 5 --seed 7 --camerafixed false")
                ],
            },
        ),
        (
            job(PRO_15, audio=True, params={"text_commands": True}),
            {
                "model": PRO_15,
                "content": [text(f"{PROMPT} --resolution 720p --ratio 16:9 --duration 5")],
                "generate_audio": True,
            },
        ),
        (
            job(prompt=f"{PROMPT} --dur 12 --rs 1080p --cf"),
            {"model": PRO, "content": [text(PROMPT)], **T2V},
        ),
        (
            job(ENDPOINT, duration=20, audio=True),
            {"model": ENDPOINT, "content": [text(PROMPT)], **T2V, "duration": 20, "generate_audio": True},
        ),
        (
            job(ENDPOINT, audio=False, params={"base_model": PRO_15}),
            {"model": ENDPOINT, "content": [text(PROMPT)], **T2V, "generate_audio": False},
        ),
    ],
    ids=[
        "t2v",
        "seed-callback",
        "i2v-sends-only-the-first-frame",
        "fl2v",
        "ref2v",
        "i2v-no-prompt-ark-defaults",
        "audio-on",
        "audio-off-is-sent",
        "audio-unset",
        "route-fields-only-documented-ones",
        "text-commands",
        "text-commands-keep-json-only-fields",
        "typed-commands-are-removed",
        "unknown-endpoint-unchecked",
        "endpoint-names-its-model",
    ],
)
def test_build_body(submit_job: SubmitJob, body: dict[str, Any]) -> None:
    assert build_body(submit_job) == body


@pytest.mark.parametrize(
    ("prompt", "cleaned"),
    [
        (PROMPT, PROMPT),
        ("a dog  on a beach\nat dusk", "a dog  on a beach\nat dusk"),
        ("a dog --rs 1080p --rt 21:9 --dur 12", "a dog"),
        ("--resolution 1080p a dog --DURATION 12 runs", "a dog runs"),
        ("a dog --seed -1 --wm true --fps 24 --frames 289 --camerafixed true", "a dog"),
        ("a dog --cf", "a dog"),
        ("a --rsvp party -- with friends", "a --rsvp party -- with friends"),
        ("an em—dash and x--rs y", "an em—dash and x--rs y"),
    ],
)
def test_typed_text_commands_are_removed(prompt: str, cleaned: str) -> None:
    assert strip_commands(prompt) == cleaned


@pytest.mark.parametrize(
    ("submit_job", "reason"),
    [
        (job(LITE_T2V, mode="i2v", first_frame=JPEG), "no i2v mode"),
        (job(LITE_I2V), "no t2v mode"),
        (job(PRO_FAST, mode="fl2v", first_frame=JPEG, last_frame=PNG), "no fl2v mode"),
        (job(PRO, mode="ref2v", reference_images=(JPEG,)), "no ref2v mode"),
        (job(mode="extend", source_task_id="cgt-1"), "no extend mode"),
        (job(ENDPOINT, mode="remix"), "no remix mode"),
        (job(mode="i2v"), "i2v needs a first frame"),
        (job(mode="fl2v", first_frame=JPEG), "fl2v needs a last frame"),
        (job(LITE_I2V, mode="ref2v"), "1 to 4 reference images"),
        (job(LITE_I2V, mode="ref2v", reference_images=(JPEG,) * 5), "1 to 4 reference images"),
        (job(V2, mode="ref2v", reference_images=(JPEG,) * 10), "1 to 9 reference images"),
        (job(ENDPOINT, mode="ref2v", reference_images=(JPEG,) * 10), "1 to 9 reference images"),
        (job(mode="i2v", first_frame=InputImage(b"GIF89a", "image/gif", 9, 9)), "not image/gif"),
        (job(V2_FAST, resolution="1080p"), "does not render 1080p"),
        (job(PRO, duration=15), "15-second"),
        (job(PRO_15, duration=2), "2-second"),
        (job(PRO, audio=True), "makes no sound"),
        (job(aspect_ratio="2:1"), "aspect ratio 2:1"),
        (job(seed=2**32), "out of Ark's range"),
        (job(prompt="  "), "needs a prompt"),
        (job(prompt="--dur 12 --rs 1080p"), "needs a prompt"),
    ],
)
def test_what_ark_refuses_is_refused_before_sending(submit_job: SubmitJob, reason: str) -> None:
    with pytest.raises(InvalidRequestError, match=reason) as caught:
        build_body(submit_job)
    assert not caught.value.failover


# ------------------------------------------------------------------------------------ response parsing

BASE = {"id": "cgt-1", "model": PRO, "created_at": 1, "updated_at": 2, "service_tier": "default"}
SUCCEEDED = {
    **BASE,
    "status": "succeeded",
    "content": {"video_url": URL, "last_frame_url": "https://x/last.png"},
    "usage": {"completion_tokens": 108900, "total_tokens": 108900},
    "seed": 10,
    "resolution": "720p",
    "ratio": "16:9",
    "duration": 5,
    "framespersecond": 24,
}


def failed(code: Any, message: Any = "the task failed") -> dict[str, Any]:
    return {**BASE, "status": "failed", "error": {"code": code, "message": message}}


@pytest.mark.parametrize(
    ("payload", "state", "code", "policy", "fault"),
    [
        ({**BASE, "status": "queued"}, TaskState.QUEUED, None, False, False),
        ({**BASE, "status": "running"}, TaskState.RUNNING, None, False, False),
        ({**BASE, "status": "Running"}, TaskState.RUNNING, None, False, False),
        ({**BASE, "status": "pending_review"}, TaskState.RUNNING, None, False, False),
        (SUCCEEDED, TaskState.SUCCEEDED, None, False, False),
        (
            {**BASE, "status": "succeeded", "content": {"file_url": URL}},
            TaskState.SUCCEEDED,
            None,
            False,
            False,
        ),
        ({**BASE, "status": "succeeded"}, TaskState.FAILED, "no_video", False, False),
        (
            {**BASE, "status": "succeeded", "content": {"video_url": ""}},
            TaskState.FAILED,
            "no_video",
            False,
            False,
        ),
        (
            failed(OUTPUT_POLICY_CODE, OUTPUT_POLICY_MESSAGE),
            TaskState.FAILED,
            OUTPUT_POLICY_CODE,
            True,
            False,
        ),
        (failed("OutputVideoRiskDetection"), TaskState.FAILED, "OutputVideoRiskDetection", True, False),
        (
            failed("GenerationFailed", OUTPUT_POLICY_MESSAGE),
            TaskState.FAILED,
            "GenerationFailed",
            True,
            False,
        ),
        (failed("InternalServiceError"), TaskState.FAILED, "InternalServiceError", False, True),
        (failed("ServiceUnavailable"), TaskState.FAILED, "ServiceUnavailable", False, True),
        (
            failed("InvalidParameter", "the image is case-sensitive"),
            TaskState.FAILED,
            "InvalidParameter",
            False,
            False,
        ),
        ({**BASE, "status": "failed", "error": "boom"}, TaskState.FAILED, "failed", False, False),
        ({**BASE, "status": "failed"}, TaskState.FAILED, "failed", False, False),
        ({**BASE, "status": "expired"}, TaskState.FAILED, "expired", False, True),
        ({**BASE, "status": "cancelled"}, TaskState.FAILED, "cancelled", False, False),
    ],
)
def test_parse_task(
    payload: dict[str, Any], state: TaskState, code: str | None, policy: bool, fault: bool
) -> None:
    status = parse_task(payload)
    assert (status.state, status.error_code, status.content_policy, status.provider_fault) == (
        state,
        code,
        policy,
        fault,
    )
    assert status.cost_usd is None, "Ark reports tokens, not dollars"
    if state is TaskState.FAILED:
        assert status.error_message


def test_a_succeeded_task_carries_its_url_usage_and_settings() -> None:
    status = parse_task(SUCCEEDED)
    assert status.result is not None
    assert (status.result.url, status.result.mime_type, status.result.duration) == (URL, "video/mp4", 5.0)
    assert dict(status.result.extra) == {
        "completion_tokens": 108900,
        "total_tokens": 108900,
        "seed": 10,
        "framespersecond": 24,
        "resolution": "720p",
        "ratio": "16:9",
        "last_frame_url": "https://x/last.png",
    }
    assert status.progress == 100


@pytest.mark.parametrize("payload", [None, [], "succeeded", {"id": "cgt-1"}, {"status": 3}, {"status": ""}])
def test_an_unreadable_task_answer_is_raised_for_the_poller_to_retry(payload: Any) -> None:
    with pytest.raises(UnavailableError):
        parse_task(payload)


def test_parse_created() -> None:
    assert parse_created({"id": "cgt-20250611112037-gx5l7", "safety_identifier": "u1"}) == (
        "cgt-20250611112037-gx5l7"
    )
    for payload in (None, {}, {"id": ""}, {"id": 5}, [{"id": "cgt-1"}], {"error": {"code": "x"}}):
        with pytest.raises(UncertainSubmitError):
            parse_created(payload)


def envelope(code: str, message: str = "refused. Request id: 2026112212") -> bytes:
    return json.dumps(
        {"error": {"code": code, "message": message, "param": "p", "type": "BadRequest"}}
    ).encode()


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (400, envelope("InvalidParameter"), InvalidRequestError, "InvalidParameter"),
        (400, envelope("MissingParameter"), InvalidRequestError, "MissingParameter"),
        (
            400,
            envelope("InvalidParameter", "`ratio` is case-sensitive"),
            InvalidRequestError,
            "InvalidParameter",
        ),
        (400, envelope("InputTextRiskDetection"), ContentPolicyError, "InputTextRiskDetection"),
        (400, envelope("InputImageRiskDetection"), ContentPolicyError, "InputImageRiskDetection"),
        (
            400,
            envelope("InputTextSensitiveContentDetected"),
            ContentPolicyError,
            "InputTextSensitiveContentDetected",
        ),
        (
            400,
            envelope("InputImageSensitiveContentDetected"),
            ContentPolicyError,
            "InputImageSensitiveContentDetected",
        ),
        (400, envelope("InvalidEndpoint.ClosedEndpoint"), NotFoundError, "InvalidEndpoint.ClosedEndpoint"),
        (401, envelope("AuthenticationError"), UnauthorizedError, "AuthenticationError"),
        (403, envelope("AccountOverdueError"), OutOfBalanceError, "AccountOverdueError"),
        (403, envelope("AccessDenied"), UnauthorizedError, "AccessDenied"),
        (404, envelope("InvalidEndpointOrModel.NotFound"), NotFoundError, "InvalidEndpointOrModel.NotFound"),
        (404, envelope("ModelNotOpen"), NotFoundError, "ModelNotOpen"),
        (
            429,
            envelope("RateLimitExceeded.EndpointRPMExceeded"),
            RateLimitedError,
            "RateLimitExceeded.EndpointRPMExceeded",
        ),
        (429, envelope("QuotaExceeded"), RateLimitedError, "QuotaExceeded"),
        (500, envelope("InternalServiceError"), UnavailableError, "InternalServiceError"),
        (502, b"<html>Bad gateway</html>", UnavailableError, "502"),
        (409, b"", InvalidRequestError, "409"),
    ],
)
def test_classify(status: int, body: bytes, error: type[ProviderError], code: str) -> None:
    mapped = classify(HttpResponse(status, {"Retry-After": "4"}, body))
    assert type(mapped) is error
    assert (mapped.code, mapped.http_status) == (code, status)
    assert mapped.message
    if error in (RateLimitedError, UnavailableError):
        assert mapped.retry_after == 4.0


@pytest.mark.parametrize(
    ("error", "failover"),
    [
        (ContentPolicyError, False),
        (InvalidRequestError, False),
        (RateLimitedError, False),
        (UnauthorizedError, True),
        (OutOfBalanceError, True),
        (NotFoundError, True),
        (UnavailableError, True),
    ],
)
def test_only_account_and_route_troubles_fail_over(error: type[ProviderError], failover: bool) -> None:
    assert error("x", provider="ark").failover is failover


@pytest.mark.parametrize("status", [401, 403, 404, 410])
def test_an_expired_result_url_is_gone(status: int) -> None:
    mapped = classify_download(HttpResponse(status, {}, b"<Error><Code>AccessDenied</Code></Error>"))
    assert type(mapped) is NotFoundError and mapped.code == "expired"
    assert type(classify_download(HttpResponse(503, {}, b""))) is UnavailableError


def test_parse_callback_body() -> None:
    event = parse_callback_body(json.dumps(SUCCEEDED).encode())
    assert event.task_id == "cgt-1"
    assert event.status == parse_task(SUCCEEDED)
    other_spelling = parse_callback_body(json.dumps({"task_id": "cgt-2", "status": "running"}).encode())
    assert other_spelling == CallbackEvent("cgt-2", TaskStatus(TaskState.RUNNING))
    assert parse_callback_body(b'{"id": "cgt-3"}') == CallbackEvent("cgt-3", None), "a hint all the same"


@pytest.mark.parametrize(
    "body",
    [b"not json", b"\xff\xfe", b"[]", b'"cgt-1"', b'{"status": "succeeded"}', b'{"id": ""}', b'{"id": 7}'],
)
def test_malformed_callbacks_are_rejected(body: bytes) -> None:
    with pytest.raises(CallbackRejected):
        parse_callback_body(body)


def test_the_descriptor() -> None:
    assert DESCRIPTOR.name == "ark"
    assert DESCRIPTOR.adapters == {"ark": ArkProvider}
    assert DESCRIPTOR.callbacks is Callbacks.PER_TASK
    assert DESCRIPTOR.base_url == "https://ark.ap-southeast.bytepluses.com/api/v3"
    assert ArkProvider.can_cancel and not ArkProvider.finds_submitted


# --------------------------------------------------------------------------------- against the fake API


@pytest.fixture
async def fake() -> AsyncIterator[FakeArk]:
    server = FakeArk()
    server.endpoints[ENDPOINT] = PRO_15
    await server.start()
    try:
        yield server
    finally:
        await server.close()


MakeProvider = Callable[..., ArkProvider]


@pytest.fixture
async def make_provider(fake: FakeArk, sleeps: Sleeps) -> AsyncIterator[MakeProvider]:
    made: list[ArkProvider] = []

    def make(*, key: str = API_KEY, read_timeout: float = 5.0) -> ArkProvider:
        http = ProviderHttp(
            "ark",
            fake.url,
            auth_headers={"Authorization": f"Bearer {key}"},
            sleep=sleeps,
            backoff_base=0,
            read_timeout=read_timeout,
        )
        provider = ArkProvider(ProviderConfig("ark", fake.url, SecretStr(key), 30), http=http)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.close()


@pytest.fixture
async def provider(make_provider: MakeProvider) -> ArkProvider:
    return make_provider()


async def run_to_end(provider: ArkProvider, task_id: str, *, limit: int = 10) -> list[TaskStatus]:
    """Poll until a final state (the poller's job), returning every status seen."""
    seen = []
    for _ in range(limit):
        seen.append(await provider.status(task_id))
        if seen[-1].state in (TaskState.SUCCEEDED, TaskState.FAILED):
            return seen
    raise AssertionError(f"still running after {limit} polls: {seen}")


async def read_all(provider: ArkProvider, status: TaskStatus, *, max_bytes: int = 1 << 20) -> bytes:
    return b"".join([chunk async for chunk in provider.download(status, max_bytes=max_bytes)])


async def test_text_to_video_queues_runs_succeeds_and_downloads_without_the_key(
    fake: FakeArk, provider: ArkProvider
) -> None:
    fake.script(Script(queued_polls=2, running_polls=2))
    submitted = await provider.submit(job(seed=424242, duration=10))
    assert submitted.task_id in fake.tasks
    assert submitted.status.state is TaskState.QUEUED
    (body,) = fake.created_bodies()
    assert body == {"model": PRO, "content": [text(PROMPT)], **T2V, "duration": 10, "seed": 424242}
    seen = await run_to_end(provider, submitted.task_id)
    assert [s.state for s in seen] == [TaskState.QUEUED] * 2 + [TaskState.RUNNING] * 2 + [TaskState.SUCCEEDED]
    final = seen[-1]
    assert final.result is not None
    assert final.result.url == fake.video_url(submitted.task_id)
    assert final.result.duration == 10.0
    assert final.result.extra["completion_tokens"] == 10 * TOKENS_PER_SECOND
    assert final.result.extra["seed"] == 424242
    assert final.cost_usd is None
    assert await read_all(provider, final) == fake.video_bytes(submitted.task_id)
    assert all(h["Authorization"] == f"Bearer {API_KEY}" for h in fake.api_headers)
    assert fake.file_headers and all("Authorization" not in h for h in fake.file_headers)


@pytest.mark.parametrize(
    ("submit_job", "roles", "images"),
    [
        (job(mode="i2v", first_frame=JPEG), ["first_frame"], [JPEG]),
        (job(mode="fl2v", first_frame=JPEG, last_frame=PNG), ["first_frame", "last_frame"], [JPEG, PNG]),
        (
            job(LITE_I2V, mode="ref2v", reference_images=(JPEG, PNG, WEBP)),
            ["reference_image"] * 3,
            [JPEG, PNG, WEBP],
        ),
        (job(V2, mode="ref2v", reference_images=(PNG,) * 9), ["reference_image"] * 9, [PNG] * 9),
    ],
)
async def test_images_travel_as_data_urls_with_their_roles(
    fake: FakeArk, provider: ArkProvider, submit_job: SubmitJob, roles: list[str], images: list[InputImage]
) -> None:
    submitted = await provider.submit(submit_job)
    task = fake.tasks[submitted.task_id]
    assert [role for role, _ in task.images] == roles
    assert [data for _, data in task.images] == [img.data for img in images]
    assert (await run_to_end(provider, submitted.task_id))[-1].state is TaskState.SUCCEEDED


async def test_text_commands_route_sets_what_was_paid_for(fake: FakeArk, provider: ArkProvider) -> None:
    submitted = await provider.submit(
        job(prompt=f"{PROMPT} --dur 12 --rs 480p", resolution="1080p", seed=9, params={"text_commands": True})
    )
    task = fake.tasks[submitted.task_id]
    assert task.prompt == PROMPT
    assert task.params == {"resolution": "1080p", "ratio": "16:9", "duration": 5, "seed": 9}
    final = (await run_to_end(provider, submitted.task_id))[-1]
    assert final.result is not None
    assert (final.result.extra["resolution"], final.result.duration) == ("1080p", 5.0)


async def test_commands_typed_into_the_prompt_never_reach_ark(fake: FakeArk, provider: ArkProvider) -> None:
    submitted = await provider.submit(job(prompt=f"{PROMPT} --duration 12 --resolution 1080p"))
    task = fake.tasks[submitted.task_id]
    assert (task.prompt, task.params["duration"], task.params["resolution"]) == (PROMPT, 5, "720p")


async def test_an_endpoint_id_runs_its_model_with_sound_settings(
    fake: FakeArk, provider: ArkProvider
) -> None:
    submitted = await provider.submit(job(ENDPOINT, audio=False, params={"base_model": PRO_15}))
    assert fake.tasks[submitted.task_id].params["generate_audio"] is False
    final = (await run_to_end(provider, submitted.task_id))[-1]
    assert final.state is TaskState.SUCCEEDED


async def test_what_only_ark_knows_is_refused_by_ark(fake: FakeArk, provider: ArkProvider) -> None:
    """An endpoint id is not checked here; Ark refuses a duration its model does not make."""
    with pytest.raises(InvalidRequestError) as caught:
        await provider.submit(job(ENDPOINT, duration=20))
    assert (caught.value.code, caught.value.http_status) == ("InvalidParameter", 400)
    assert "Request id" in caught.value.message
    assert fake.tasks == {}


@pytest.mark.parametrize(
    ("script", "code", "policy", "fault"),
    [
        (Script(outcome="policy"), OUTPUT_POLICY_CODE, True, False),
        (Script(outcome="failed"), "InternalServiceError", False, True),
        (
            Script(outcome="failed", error_code="InvalidImage", error_message="the image cannot be read"),
            "InvalidImage",
            False,
            False,
        ),
        (Script(outcome="expired"), "expired", False, True),
        (Script(outcome="no_video"), "no_video", False, False),
    ],
)
async def test_tasks_that_end_without_a_video(
    fake: FakeArk, provider: ArkProvider, script: Script, code: str, policy: bool, fault: bool
) -> None:
    fake.script(script)
    submitted = await provider.submit(job())
    final = (await run_to_end(provider, submitted.task_id))[-1]
    assert (final.state, final.error_code, final.content_policy, final.provider_fault) == (
        TaskState.FAILED,
        code,
        policy,
        fault,
    )
    assert final.result is None and final.error_message


async def test_the_sdk_file_url_is_accepted(fake: FakeArk, provider: ArkProvider) -> None:
    fake.script(Script(queued_polls=0, running_polls=0, url_field="file_url"))
    submitted = await provider.submit(job())
    status = await provider.status(submitted.task_id)
    assert await read_all(provider, status) == fake.video_bytes(submitted.task_id)


@pytest.mark.parametrize(
    ("submit_job", "code"),
    [
        (job(prompt=f"a {POLICY_WORD} scene"), "InputTextSensitiveContentDetected"),
        (
            job(mode="i2v", first_frame=InputImage(b"\xff\xd8" + NSFW_MARK, "image/jpeg", 9, 9)),
            "InputImageSensitiveContentDetected",
        ),
    ],
)
async def test_input_moderation_is_a_final_content_policy_refusal(
    fake: FakeArk, provider: ArkProvider, sleeps: Sleeps, submit_job: SubmitJob, code: str
) -> None:
    with pytest.raises(ContentPolicyError) as caught:
        await provider.submit(submit_job)
    assert caught.value.code == code and not caught.value.failover
    assert fake.tasks == {} and fake.creates() == 1 and sleeps == []


@pytest.mark.parametrize(
    ("setup", "error", "code"),
    [
        (
            lambda f: f.fail_next(403, "AccountOverdueError", "Your account is overdue."),
            OutOfBalanceError,
            "AccountOverdueError",
        ),
        (lambda f: f.fail_next(403, "AccessDenied", "No permission."), UnauthorizedError, "AccessDenied"),
        (lambda f: f.not_open.add(PRO), NotFoundError, "ModelNotOpen"),
        (
            lambda f: f.fail_next(400, "InvalidEndpoint.ClosedEndpoint", "Closed."),
            NotFoundError,
            "InvalidEndpoint.ClosedEndpoint",
        ),
    ],
)
async def test_account_and_route_refusals_fail_over(
    fake: FakeArk,
    provider: ArkProvider,
    setup: Callable[[FakeArk], None],
    error: type[ProviderError],
    code: str,
) -> None:
    setup(fake)
    with pytest.raises(error) as caught:
        await provider.submit(job())
    assert caught.value.code == code and caught.value.failover
    assert fake.tasks == {} and fake.creates() == 1


async def test_an_unknown_model_is_not_found(fake: FakeArk, provider: ArkProvider) -> None:
    with pytest.raises(NotFoundError) as caught:
        await provider.submit(job("seedance-9-0-ultra-991231"))
    assert caught.value.code == "InvalidEndpointOrModel.NotFound" and caught.value.failover


async def test_a_wrong_key_is_unauthorized_and_never_echoed(
    fake: FakeArk, make_provider: MakeProvider
) -> None:
    provider = make_provider(key="ark-wrong-secret-key")
    with pytest.raises(UnauthorizedError) as caught:
        await provider.submit(job())
    assert caught.value.failover and caught.value.code == "AuthenticationError"
    with pytest.raises(UnauthorizedError) as polled:
        await provider.status("cgt-1")
    for error in (caught.value, polled.value):
        assert "ark-wrong-secret-key" not in str(error) and "ark-wrong-secret-key" not in repr(error)


async def test_a_key_echoed_by_ark_is_redacted(fake: FakeArk, provider: ArkProvider) -> None:
    fake.fail_next(400, "InvalidParameter", f"bad header Bearer {API_KEY}")
    with pytest.raises(InvalidRequestError) as caught:
        await provider.submit(job())
    assert API_KEY not in str(caught.value) and "***" in caught.value.message


async def test_a_missing_key_sends_no_authorization(fake: FakeArk) -> None:
    provider = ArkProvider(ProviderConfig("ark", fake.url, None, 30), unrelated_option=1)
    try:
        with pytest.raises(UnauthorizedError):
            await provider.status("cgt-1")
    finally:
        await provider.close()
    assert "Authorization" not in fake.api_headers[-1]


async def test_default_construction_polls_with_the_bearer_key(fake: FakeArk) -> None:
    provider = ArkProvider(ProviderConfig("ark", fake.url + "/", SecretStr(API_KEY), 30))
    try:
        submitted = await provider.submit(job())
        assert (await provider.status(submitted.task_id)).state is TaskState.QUEUED
    finally:
        await provider.close()


async def test_429_is_waited_out_on_create_and_poll(
    fake: FakeArk, provider: ArkProvider, sleeps: Sleeps
) -> None:
    fake.fail_next(429, "RateLimitExceeded.EndpointRPMExceeded", endpoint="create", retry_after="3", times=2)
    submitted = await provider.submit(job())
    assert fake.creates() == 3 and len(fake.tasks) == 1
    fake.fail_next(429, "RateLimitExceeded.EndpointRPMExceeded", endpoint="get", retry_after="2")
    assert (await provider.status(submitted.task_id)).state is TaskState.QUEUED
    assert sleeps == [3.0, 3.0, 2.0]


async def test_a_long_retry_hint_goes_to_the_poller(
    fake: FakeArk, provider: ArkProvider, sleeps: Sleeps
) -> None:
    fake.fail_next(429, "QuotaExceeded", endpoint="create", retry_after="120")
    with pytest.raises(RateLimitedError) as caught:
        await provider.submit(job())
    assert caught.value.retry_after == 120.0 and not caught.value.failover
    assert sleeps == [] and fake.tasks == {}


async def test_a_503_is_a_refusal_and_retried(fake: FakeArk, provider: ArkProvider, sleeps: Sleeps) -> None:
    fake.fail_next(503, "ServiceUnavailable", endpoint="create", times=2, html=True)
    submitted = await provider.submit(job())
    assert len(sleeps) == 2 and list(fake.tasks) == [submitted.task_id]


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_a_create_answered_with_a_server_error_is_uncertain_and_not_resent(
    fake: FakeArk, provider: ArkProvider, sleeps: Sleeps, status: int
) -> None:
    fake.fail_next(status, "InternalServiceError", endpoint="create")
    with pytest.raises(UncertainSubmitError):
        await provider.submit(job())
    assert fake.creates() == 1 and sleeps == []


@pytest.mark.parametrize("made", [True, False])
async def test_a_malformed_ack_is_uncertain_and_not_resent(
    fake: FakeArk, provider: ArkProvider, made: bool
) -> None:
    fake.break_next_create("malformed", made=made)
    with pytest.raises(UncertainSubmitError) as caught:
        await provider.submit(job())
    assert caught.value.code == "bad_ack"
    assert fake.creates() == 1 and len(fake.tasks) == int(made)


async def test_a_held_answer_is_uncertain_and_not_resent(
    fake: FakeArk, make_provider: MakeProvider, sleeps: Sleeps
) -> None:
    provider = make_provider(read_timeout=0.2)
    fake.break_next_create("stall")
    with pytest.raises(UncertainSubmitError, match="Timeout"):
        await provider.submit(job())
    assert fake.creates() == 1 and sleeps == [] and len(fake.tasks) == 1


async def test_polls_retry_server_errors_then_report_them(
    fake: FakeArk, provider: ArkProvider, sleeps: Sleeps
) -> None:
    submitted = await provider.submit(job())
    fake.fail_next(500, "InternalServiceError", endpoint="get", times=2)
    assert (await provider.status(submitted.task_id)).state is TaskState.QUEUED
    fake.fail_next(502, "BadGateway", endpoint="get", times=4, html=True)
    with pytest.raises(UnavailableError) as caught:
        await provider.status(submitted.task_id)
    assert caught.value.failover and len(sleeps) == 5


async def test_an_unknown_task_is_not_found(fake: FakeArk, provider: ArkProvider) -> None:
    with pytest.raises(NotFoundError):
        await provider.status("cgt-missing")
    with pytest.raises(NotFoundError) as caught:
        await provider.status("../../models")
    assert caught.value.code == "ResourceNotFound", "the id stays one segment of the task's path"
    assert fake.requests[-1][:2] == ("GET", "/api/v3/contents/generations/tasks/../../models")


# -------------------------------------------------------------------------------------------- cancel


async def test_a_queued_task_is_cancelled(fake: FakeArk, provider: ArkProvider) -> None:
    fake.script(Script(queued_polls=5))
    submitted = await provider.submit(job())
    assert await provider.cancel(submitted.task_id) is True
    assert fake.tasks[submitted.task_id].status == "cancelled"
    status = await provider.status(submitted.task_id)
    assert (status.state, status.error_code, status.provider_fault) == (TaskState.FAILED, "cancelled", False)
    assert await provider.cancel(submitted.task_id) is True, "cancelling twice changes nothing"
    assert [m for m, _, _ in fake.requests].count("DELETE") == 1


@pytest.mark.parametrize("answer", ["refuse_400", "refuse_409", "ignore"])
async def test_a_running_task_cannot_be_cancelled(fake: FakeArk, provider: ArkProvider, answer: Any) -> None:
    """Also when it starts between the cancel's read and its DELETE, whatever DELETE then answers."""
    fake.running_delete = answer
    fake.script(
        Script(queued_polls=0, running_polls=3),
        Script(queued_polls=5, running_polls=3, starts_on_delete=True),
    )
    running = await provider.submit(job())
    racing = await provider.submit(job())
    assert await provider.cancel(running.task_id) is False
    assert await provider.cancel(racing.task_id) is False
    deletes = [path for method, path, _ in fake.requests if method == "DELETE"]
    assert deletes == [f"/api/v3/contents/generations/tasks/{racing.task_id}"], (
        "a running task is not sent DELETE"
    )
    for task_id in (running.task_id, racing.task_id):
        assert (await run_to_end(provider, task_id))[-1].state is TaskState.SUCCEEDED


@pytest.mark.parametrize("outcome", ["success", "failed"])
async def test_a_finished_task_is_not_deleted(fake: FakeArk, provider: ArkProvider, outcome: Any) -> None:
    fake.script(Script(queued_polls=0, running_polls=0, outcome=outcome))
    submitted = await provider.submit(job())
    assert await provider.cancel(submitted.task_id) is False
    assert all(method != "DELETE" for method, _, _ in fake.requests)
    assert submitted.task_id in fake.tasks, "DELETE would have erased the finished task's record"


async def test_a_cancel_refused_for_another_reason_is_raised(fake: FakeArk, provider: ArkProvider) -> None:
    fake.script(Script(queued_polls=5))
    submitted = await provider.submit(job())
    fake.fail_next(403, "AccessDenied", endpoint="delete")
    with pytest.raises(UnauthorizedError):
        await provider.cancel(submitted.task_id)
    assert fake.tasks[submitted.task_id].status == "queued"
    with pytest.raises(NotFoundError):
        await provider.cancel("cgt-missing")


# ------------------------------------------------------------------------------------------ downloads


async def test_an_expired_result_url_is_not_found(fake: FakeArk, provider: ArkProvider) -> None:
    fake.script(Script(queued_polls=0, running_polls=0, file="expired"))
    status = await provider.status((await provider.submit(job())).task_id)
    with pytest.raises(NotFoundError) as caught:
        await read_all(provider, status)
    assert caught.value.code == "expired"


async def test_a_result_url_is_used_as_signed(fake: FakeArk, provider: ArkProvider) -> None:
    fake.script(Script(queued_polls=0, running_polls=0))
    status = await provider.status((await provider.submit(job())).task_id)
    assert status.result is not None
    tampered = TaskStatus(TaskState.SUCCEEDED, result=ResultRef(status.result.url.split("&")[0]))
    with pytest.raises(NotFoundError):
        await read_all(provider, tampered)


@pytest.mark.parametrize("file", ["ok", "chunked"])
async def test_a_too_large_result_stops_at_the_cap(fake: FakeArk, provider: ArkProvider, file: Any) -> None:
    fake.script(Script(queued_polls=0, running_polls=0, file=file, video_size=200_000))
    status = await provider.status((await provider.submit(job())).task_id)
    with pytest.raises(MediaTooLargeError):
        await read_all(provider, status, max_bytes=50_000)
    assert len(await read_all(provider, status, max_bytes=200_000)) == 200_000


async def test_a_stalled_download_times_out(fake: FakeArk, make_provider: MakeProvider) -> None:
    provider = make_provider(read_timeout=0.2)
    fake.script(Script(queued_polls=0, running_polls=0, file="stall", video_size=100_000))
    status = await provider.status((await provider.submit(job())).task_id)
    with pytest.raises(UnavailableError, match="download failed"):
        await read_all(provider, status)


async def test_download_without_a_result_is_refused(provider: ArkProvider) -> None:
    with pytest.raises(NotFoundError):
        await read_all(provider, TaskStatus(TaskState.FAILED))


# -------------------------------------------------------------------------------------------- the fake


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": PRO, "content": [text(f"{PROMPT} --rs 720p")], "resolution": "720p"}, "resolution"),
        ({"model": PRO, "content": [text(f"{PROMPT} --dur 30")]}, "duration"),
        ({"model": PRO, "content": [text(PROMPT), image(PNG, "last_frame")]}, "content"),
        (
            {"model": LITE_I2V, "content": [image(PNG, "first_frame"), image(JPEG, "reference_image")]},
            "content",
        ),
        ({"model": PRO, "content": [text(PROMPT)], "duration": 5, "frames": 121}, "duration"),
        ({"model": PRO, "content": [text(PROMPT), image(PNG, "keyframe")]}, "content.role"),
        ({"model": PRO, "content": [text(PROMPT)], "negative_prompt": "blur"}, "negative_prompt"),
        ({"model": PRO, "content": [text(PROMPT)], "generate_audio": True}, "generate_audio"),
        ({"model": PRO, "content": [text(PROMPT)], "ratio": "2:1"}, "ratio"),
        ({"model": PRO, "content": [text(PROMPT)], "seed": 2**32}, "seed"),
        ({"model": LITE_T2V, "content": [text(PROMPT), image(PNG, "first_frame")]}, "content"),
        ({"model": PRO, "content": []}, "content"),
        ({"content": [text(PROMPT)]}, "model"),
    ],
)
async def test_the_fake_refuses_what_ark_refuses(fake: FakeArk, body: dict[str, Any], param: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            fake.url + "/contents/generations/tasks",
            json=body,
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as response,
    ):
        payload = await response.json()
    assert response.status == 400
    assert payload["error"]["param"] == param
    assert "Request id" in payload["error"]["message"]
    assert fake.tasks == {}


async def test_the_fake_takes_text_commands_and_a_lone_image_without_a_role(fake: FakeArk) -> None:
    body = {
        "model": PRO,
        "content": [
            text(f"{PROMPT} --rs 480p --rt 9:21 --dur 3 --fps 24 --cf true --seed -1 --wm false"),
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        ],
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            fake.url + "/contents/generations/tasks",
            json=body,
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as response,
    ):
        task_id = (await response.json())["id"]
    task = fake.tasks[task_id]
    assert task.prompt == PROMPT and task.images == [("first_frame", "https://example.com/a.png")]
    assert task.params == {
        "resolution": "480p",
        "ratio": "9:21",
        "duration": 3,
        "framespersecond": 24,
        "camera_fixed": True,
        "seed": -1,
        "watermark": False,
    }


# -------------------------------------------------------------------------------------------- callbacks


async def test_a_callback_reads_as_the_polled_status(fake: FakeArk, provider: ArkProvider) -> None:
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        await received.put(await request.read())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/callbacks/ark/secret-token", hook)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/callbacks/ark/secret-token"
    try:
        fake.script(Script(queued_polls=5), Script(queued_polls=5, outcome="policy"))
        done = await provider.submit(job(callback_url=url))
        filtered = await provider.submit(job(callback_url=url))
        assert fake.tasks[done.task_id].body["callback_url"] == url
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
