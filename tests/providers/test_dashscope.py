"""DashScope (Wan) adapter: pure request building, response parsing and error mapping (every documented
shape and the UNCONFIRMED alternatives), then the real adapter against the fake task API."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import ClientSession
from PIL import Image
from pydantic import SecretStr

from services.catalog import Route
from services.http import HttpResponse, ProviderHttp
from services.providers.base import (
    ContentPolicyError,
    InputImage,
    InvalidRequestError,
    NotFoundError,
    OutOfBalanceError,
    ProviderError,
    RateLimitedError,
    SubmitJob,
    TaskState,
    TaskStatus,
    UnauthorizedError,
    UnavailableError,
    UncertainSubmitError,
)
from services.providers.dashscope import (
    ASYNC_HEADERS,
    DEFAULT_BASE_URL,
    DESCRIPTOR,
    KEYFRAME_PATH,
    SYNTHESIS_PATH,
    DashScopeProvider,
    api_base,
    build_request,
    classify,
    classify_download,
    parse_created,
    parse_task,
    spec_for,
    task_path,
)
from services.providers.descriptor import ProviderConfig
from services.providers.registry import submit as registry_submit
from services.video_request import VideoRequest
from storage.errors import MediaTooLargeError
from tests.fakes.providers.dashscope import (
    API_KEY,
    INTERNAL_CODE,
    POLICY_CODE,
    POLICY_MESSAGE,
    SYNC_REFUSED,
    FakeDashScope,
    Fault,
    TaskScript,
)
from tests.fakes.sleeps import Sleeps

PROMPT = "a red fox runs through fresh snow"
JPEG = InputImage(b"\xff\xd8\xff\xe0first-frame", "image/jpeg", 1280, 720)
PNG = InputImage(b"\x89PNG\r\n\x1a\nlast-frame", "image/png", 1280, 720)
URL = "https://dashscope-result-sgp.oss-ap-southeast-1.aliyuncs.com/1.mp4?Expires=1&Signature=x"
SOUND = "https://cdn.example/voice.mp3"


def uri(image: InputImage) -> str:
    return f"data:{image.mime_type};base64,{base64.b64encode(image.data).decode()}"


def make_job(
    mode: str = "t2v",
    *,
    model_id: str = "wan2.6-t2v",
    prompt: str = PROMPT,
    resolution: str | None = "720p",
    aspect_ratio: str | None = "16:9",
    duration: int | None = 5,
    audio: bool | None = True,
    seed: int | None = None,
    negative: str | None = None,
    first: InputImage | None = None,
    last: InputImage | None = None,
    params: dict[str, Any] | None = None,
    extras: dict[str, str | int | float | bool] | None = None,
    enhance: bool = False,
) -> SubmitJob:
    request = VideoRequest(
        model="wan-2.6",
        mode=mode,  # type: ignore[arg-type]
        prompt=prompt,
        duration=duration,
        aspect_ratio=aspect_ratio,
        resolution=resolution,
        audio=audio,
        seed=seed,
        negative_prompt=negative,
        extras=extras or {},
        enhance_prompt=enhance,
    )
    route = Route(provider="dashscope", model_id=model_id, params=params or {})
    return SubmitJob(request=request, route=route, first_frame=first, last_frame=last)


# ------------------------------------------------------------------------------------- request building


@pytest.mark.parametrize(
    ("job", "path", "body"),
    [
        (
            make_job(seed=42, negative="blurry"),
            SYNTHESIS_PATH,
            {
                "model": "wan2.6-t2v",
                "input": {"prompt": PROMPT, "negative_prompt": "blurry"},
                "parameters": {
                    "prompt_extend": False,
                    "size": "1280*720",
                    "duration": 5,
                    "audio": True,
                    "seed": 42,
                },
            },
        ),
        (
            make_job(resolution="1080p", aspect_ratio="9:16", duration=10, audio=False),
            SYNTHESIS_PATH,
            {
                "model": "wan2.6-t2v",
                "input": {"prompt": PROMPT},
                "parameters": {"prompt_extend": False, "size": "1080*1920", "duration": 10, "audio": False},
            },
        ),
        (
            make_job(model_id="wan2.5-t2v-preview", resolution="480p", aspect_ratio="1:1", audio=None),
            SYNTHESIS_PATH,
            {
                "model": "wan2.5-t2v-preview",
                "input": {"prompt": PROMPT},
                "parameters": {"prompt_extend": False, "size": "624*624", "duration": 5},
            },
        ),
        (
            make_job(model_id="wan2.2-t2v-plus", resolution="1080p", aspect_ratio="4:3", audio=False),
            SYNTHESIS_PATH,
            {
                "model": "wan2.2-t2v-plus",
                "input": {"prompt": PROMPT},
                "parameters": {"prompt_extend": False, "size": "1632*1248", "duration": 5},
            },
        ),
        (
            make_job("i2v", model_id="wan2.6-i2v", resolution="1080p", first=JPEG, last=PNG, prompt=" "),
            SYNTHESIS_PATH,
            {
                "model": "wan2.6-i2v",
                "input": {"img_url": uri(JPEG)},
                "parameters": {"prompt_extend": False, "resolution": "1080P", "duration": 5, "audio": True},
            },
        ),
        (
            make_job("fl2v", model_id="wan2.2-kf2v-flash", audio=False, first=JPEG, last=PNG),
            KEYFRAME_PATH,
            {
                "model": "wan2.2-kf2v-flash",
                "input": {"prompt": PROMPT, "first_frame_url": uri(JPEG), "last_frame_url": uri(PNG)},
                "parameters": {"prompt_extend": False, "resolution": "720P", "duration": 5},
            },
        ),
        (
            make_job("i2v", model_id="wan2.1-kf2v-plus", audio=None, first=PNG),
            KEYFRAME_PATH,
            {
                "model": "wan2.1-kf2v-plus",
                "input": {"prompt": PROMPT, "first_frame_url": uri(PNG)},
                "parameters": {"prompt_extend": False, "resolution": "720P", "duration": 5},
            },
        ),
        (
            make_job(model_id="wan2.7-t2v", aspect_ratio="3:4", duration=15, extras={"audio_url": SOUND}),
            SYNTHESIS_PATH,
            {
                "model": "wan2.7-t2v",
                "input": {"prompt": PROMPT, "audio_url": SOUND},
                "parameters": {"prompt_extend": False, "resolution": "720P", "ratio": "3:4", "duration": 15},
            },
        ),
        (
            make_job("fl2v", model_id="wan2.7-i2v", first=JPEG, last=PNG, extras={"audio_url": SOUND}),
            SYNTHESIS_PATH,
            {
                "model": "wan2.7-i2v",
                "input": {
                    "prompt": PROMPT,
                    "media": [
                        {"type": "first_frame", "url": uri(JPEG)},
                        {"type": "last_frame", "url": uri(PNG)},
                        {"type": "driving_audio", "url": SOUND},
                    ],
                },
                "parameters": {"prompt_extend": False, "resolution": "720P", "duration": 5},
            },
        ),
        (
            make_job(
                extras={"audio_url": SOUND},
                enhance=True,  # the user's toggle wins over a route's prompt_extend
                params={"prompt_extend": False, "watermark": True, "size": "1*1", "adapter": "dashscope"},
            ),
            SYNTHESIS_PATH,
            {
                "model": "wan2.6-t2v",
                "input": {"prompt": PROMPT, "audio_url": SOUND},
                "parameters": {
                    "prompt_extend": True,
                    "watermark": True,
                    "size": "1280*720",
                    "duration": 5,
                    "audio": True,
                },
            },
        ),
        (
            make_job(
                model_id="wan2.8-t2v",
                resolution="1080p",
                duration=20,
                audio=None,
                params={"shot_type": "multi"},
            ),
            SYNTHESIS_PATH,
            {
                "model": "wan2.8-t2v",
                "input": {"prompt": PROMPT},
                "parameters": {
                    "prompt_extend": False,
                    "shot_type": "multi",
                    "size": "1920*1080",
                    "duration": 20,
                },
            },
        ),
        (
            make_job(resolution=None, aspect_ratio=None, duration=None, audio=None, seed=2**31),
            SYNTHESIS_PATH,
            {
                "model": "wan2.6-t2v",
                "input": {"prompt": PROMPT},
                "parameters": {
                    "prompt_extend": False,
                },
            },
        ),
    ],
    ids=[
        "t2v-720p",
        "t2v-1080p-portrait-silent",
        "t2v-480p-square",
        "t2v-silent-model-4:3",
        "i2v-img-url",
        "kf2v-first-last",
        "kf2v-first-only",
        "wan2.7-t2v-ratio",
        "wan2.7-i2v-media",
        "route-params-and-extras",
        "unlisted-model-unchecked",
        "api-defaults-and-seed-out-of-range",
    ],
)
def test_build_request(job: SubmitJob, path: str, body: dict[str, Any]) -> None:
    assert build_request(job) == (path, body)


@pytest.mark.parametrize(
    ("job", "reason", "code"),
    [
        (make_job(resolution="480p"), "does not render 480p", "resolution"),
        (make_job(resolution="4k"), "does not render 4k", "resolution"),
        (
            make_job(model_id="wan2.2-t2v-plus", resolution="1080p", duration=10, audio=False),
            "5-second clips, not 10",
            "duration",
        ),
        (make_job(duration=20), "not 20", "duration"),
        (make_job(aspect_ratio="21:9"), "aspect ratio 21:9", "size"),
        (
            make_job(resolution="480p", model_id="wan2.5-t2v-preview", aspect_ratio="4:3"),
            "aspect ratio 4:3",
            "size",
        ),
        (make_job(model_id="wan2.7-t2v", aspect_ratio="21:9"), "aspect ratio 21:9", "size"),
        (make_job("i2v", first=JPEG), "wan2.6-t2v does not do i2v", "mode"),
        (make_job("fl2v", model_id="wan2.6-i2v", first=JPEG, last=PNG), "does not do fl2v", "mode"),
        (make_job("ref2v", model_id="wan2.6-i2v"), "does not do ref2v", "mode"),
        (make_job("i2v", model_id="wan2.6-i2v"), "i2v needs a first frame", "image"),
        (
            make_job("fl2v", model_id="wan2.2-kf2v-flash", audio=False, first=JPEG),
            "needs a last frame",
            "image",
        ),
        (make_job(model_id="wan2.2-t2v-plus", resolution="1080p"), "silent videos only", "audio"),
        (make_job(model_id="wan2.7-t2v", audio=False), "always makes sound", "audio"),
        (
            make_job(model_id="wan2.2-t2v-plus", audio=None, extras={"audio_url": SOUND}),
            "takes no audio",
            "audio",
        ),
        (make_job(audio=False, extras={"audio_url": SOUND}), "video without sound", "audio"),
        (make_job(extras={"audio_url": "file:///etc/passwd"}), "public http", "audio"),
        (make_job(negative="x" * 501), "longer than 500", "prompt"),
        (make_job(prompt="  "), "needs a prompt", "prompt"),
        (make_job(model_id="wan2.6-r2v"), "not a Wan text- or image-to-video model", "model"),
        (
            make_job("i2v", model_id="wan2.6-i2v", first=InputImage(b"GIF89a", "image/gif", 800, 800)),
            "not image/gif",
            "image",
        ),
        (
            make_job("i2v", model_id="wan2.6-i2v", first=InputImage(b"\xff\xd8", "image/jpeg", 300, 800)),
            "too small",
            "image",
        ),
        (
            make_job("i2v", model_id="wan2.6-i2v", first=InputImage(b"\xff\xd8", "image/jpeg", 2400, 1600)),
            "too large",
            "image",
        ),
        (
            make_job(
                "i2v",
                model_id="wan2.6-i2v",
                first=InputImage(b"\0" * (10 * 2**20 + 1), "image/png", 800, 800),
            ),
            "too large",
            "image",
        ),
    ],
)
def test_build_request_refuses_what_the_model_refuses(job: SubmitJob, reason: str, code: str) -> None:
    with pytest.raises(InvalidRequestError, match=reason) as caught:
        build_request(job)
    assert caught.value.code == code
    assert not caught.value.failover


@pytest.mark.parametrize(
    ("model_id", "shape", "checked"),
    [
        ("wan2.6-t2v", "size", True),
        ("wan2.1-kf2v-plus", "keyframes", True),
        ("wan2.7-i2v", "wan27_i2v", True),
        ("wan2.9-kf2v-pro", "keyframes", False),
        ("wan2.7-i2v-turbo", "wan27_i2v", False),
        ("wan2.7-t2v-fast", "wan27_t2v", False),
        ("wan3.1-i2v", "img_url", False),
    ],
)
def test_spec_for_known_and_newer_model_names(model_id: str, shape: str, checked: bool) -> None:
    spec = spec_for(model_id)
    assert spec.shape == shape
    assert (spec.durations is not None) is checked
    assert spec.endpoint == (KEYFRAME_PATH if shape == "keyframes" else SYNTHESIS_PATH)


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://dashscope-intl.aliyuncs.com", "https://dashscope-intl.aliyuncs.com/api/v1"),
        ("https://dashscope.aliyuncs.com/", "https://dashscope.aliyuncs.com/api/v1"),
        (DEFAULT_BASE_URL + "/", DEFAULT_BASE_URL),
        (
            "https://ws-1.ap-southeast-1.maas.aliyuncs.com/api/v1",
            "https://ws-1.ap-southeast-1.maas.aliyuncs.com/api/v1",
        ),
    ],
)
def test_api_base_adds_the_api_root_to_a_bare_host(base_url: str, expected: str) -> None:
    assert api_base(base_url) == expected


def test_descriptor_defaults_to_the_singapore_region_and_registers_the_adapter() -> None:
    assert DESCRIPTOR.base_url == "https://dashscope-intl.aliyuncs.com/api/v1"
    assert DESCRIPTOR.adapters == {"dashscope": DashScopeProvider}
    assert not DESCRIPTOR.callbacks.accepted
    assert DashScopeProvider.can_cancel is False
    assert DashScopeProvider.finds_submitted is False
    assert task_path("a/b c") == "tasks/a%2Fb%20c"


# ------------------------------------------------------------------------------------ response parsing


def test_parse_created() -> None:
    created = parse_created({"request_id": "r", "output": {"task_id": "t-1", "task_status": "PENDING"}})
    assert created.task_id == "t-1"
    assert created.status.state is TaskState.QUEUED
    with pytest.raises(InvalidRequestError, match="bad size"):
        parse_created({"request_id": "r", "code": "InvalidParameter", "message": "bad size"})
    with pytest.raises(ContentPolicyError):
        parse_created({"code": POLICY_CODE, "message": "Input data may contain inappropriate content."})


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {"request_id": "r"},
        {"request_id": "r", "output": {"task_status": "PENDING"}},
        {"request_id": "r", "output": {"task_id": "", "task_status": "PENDING"}},
        {"request_id": "r", "code": "InternalError", "message": "internal error"},
    ],
)
def test_a_create_answer_without_a_task_id_is_uncertain(payload: Any) -> None:
    with pytest.raises(UncertainSubmitError):
        parse_created(payload)


def task(status: str, **output: Any) -> dict[str, Any]:
    return {"request_id": "r", "output": {"task_id": "t-1", "task_status": status, **output}}


@pytest.mark.parametrize(
    ("payload", "state", "code", "policy", "fault"),
    [
        (task("PENDING"), TaskState.QUEUED, None, False, False),
        (task("SUSPENDED"), TaskState.QUEUED, None, False, False),
        (task("RUNNING"), TaskState.RUNNING, None, False, False),
        (task("running"), TaskState.RUNNING, None, False, False),
        (task("PREPARING"), TaskState.RUNNING, None, False, False),
        (task("SUCCEEDED"), TaskState.FAILED, "no_video", False, False),
        (task("SUCCEEDED", video_url="oss://bucket/1.mp4"), TaskState.FAILED, "no_video", False, False),
        (
            task("FAILED", code=POLICY_CODE, message=POLICY_MESSAGE),
            TaskState.FAILED,
            POLICY_CODE,
            True,
            False,
        ),
        (
            task("FAILED", code="IPInfringementSuspect", message="Input data is suspected of infringement."),
            TaskState.FAILED,
            "IPInfringementSuspect",
            True,
            False,
        ),
        (task("FAILED", code=INTERNAL_CODE, message="timeout"), TaskState.FAILED, INTERNAL_CODE, False, True),
        (
            task("FAILED", code="InternalError", message="oops"),
            TaskState.FAILED,
            "InternalError",
            False,
            True,
        ),
        (
            task("FAILED", code="InvalidParameter.DownloadFailed", message="download image failed"),
            TaskState.FAILED,
            "InvalidParameter.DownloadFailed",
            False,
            False,
        ),
        (task("FAILED"), TaskState.FAILED, "failed", False, False),
        (task("CANCELED"), TaskState.FAILED, "cancelled", False, False),
        (task("CANCELLED"), TaskState.FAILED, "cancelled", False, False),
        (task("UNKNOWN"), TaskState.FAILED, "task_unknown", False, False),
    ],
)
def test_parse_task(payload: Any, state: TaskState, code: str | None, policy: bool, fault: bool) -> None:
    status = parse_task(payload)
    assert (status.state, status.error_code, status.content_policy, status.provider_fault) == (
        state,
        code,
        policy,
        fault,
    )
    assert status.cost_usd is None, "DashScope reports no money"
    if state is TaskState.FAILED:
        assert status.error_message


def test_unknown_status_names_the_24_hour_expiry() -> None:
    message = parse_task(task("UNKNOWN")).error_message or ""
    assert "expired" in message and "24 h" in message


@pytest.mark.parametrize(
    ("usage", "duration", "size", "sr"),
    [
        ({"video_duration": 5, "video_count": 1, "SR": 720}, 5.0, (None, None), 720),
        ({"duration": "10", "video_ratio": "1280*720", "video_count": 1}, 10.0, (1280, 720), None),
        ({"size": "1920x1080"}, None, (1920, 1080), None),
        ("not an object", None, (None, None), None),
    ],
)
def test_success_reads_the_video_and_each_usage_shape(
    usage: Any, duration: float | None, size: tuple[int | None, int | None], sr: int | None
) -> None:
    payload = {
        **task("SUCCEEDED", video_url=URL, orig_prompt="p", actual_prompt="p, cinematic"),
        "usage": usage,
    }
    status = parse_task(payload)
    assert status.state is TaskState.SUCCEEDED
    assert status.result is not None
    assert (status.result.url, status.result.mime_type) == (URL, "video/mp4")
    assert status.result.duration == duration
    assert (status.result.width, status.result.height) == size
    assert status.result.extra.get("sr") == sr
    assert status.result.extra["actual_prompt"] == "p, cinematic"
    assert status.cost_usd is None


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (None, UnavailableError),
        ({"request_id": "r"}, UnavailableError),
        (
            {"request_id": "r", "code": "InvalidApiKey", "message": "Invalid API-key provided."},
            UnauthorizedError,
        ),
    ],
)
def test_a_task_answer_without_output_raises(payload: Any, error: type[ProviderError]) -> None:
    with pytest.raises(error):
        parse_task(payload)


def response(status: int, body: Any = None, *, headers: dict[str, str] | None = None) -> HttpResponse:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return HttpResponse(status, headers or {}, raw)


def err(code: str, message: str) -> dict[str, str]:
    return {"request_id": "7f3a", "code": code, "message": message}


@pytest.mark.parametrize(
    ("http", "body", "kind", "failover"),
    [
        (400, err("InvalidParameter", "url error, please check url!"), InvalidRequestError, False),
        (400, err(POLICY_CODE, "Input data may contain inappropriate content."), ContentPolicyError, False),
        (
            400,
            err("InvalidParameter", "Input image may contain inappropriate content"),
            ContentPolicyError,
            False,
        ),
        (401, err("InvalidApiKey", "Invalid API-key provided."), UnauthorizedError, True),
        (403, err("AccessDenied", SYNC_REFUSED), UnauthorizedError, True),
        (403, err("AccessDenied.Unpurchased", "Access to model denied."), UnauthorizedError, True),
        (
            403,
            err("Arrearage", "Access denied, please make sure your account is in good standing."),
            OutOfBalanceError,
            True,
        ),
        (404, err("ModelNotFound", "Model not exist."), NotFoundError, True),
        (429, err("Throttling.RateQuota", "Requests rate limit exceeded"), RateLimitedError, False),
        (429, err("Throttling", "Too many requests"), RateLimitedError, False),
        (429, err("Throttling.AllocationQuota", "Free allocated quota exceeded."), OutOfBalanceError, True),
        (
            403,
            err("AllocationQuota.FreeTierOnly", "The free tier of the model has been exhausted."),
            OutOfBalanceError,
            True,
        ),
        (500, err("InternalError", "An internal error has occured"), UnavailableError, True),
        (502, "<html>Bad Gateway</html>", UnavailableError, True),
        (401, "<html>401</html>", UnauthorizedError, True),
        (400, {"request_id": "r"}, InvalidRequestError, False),
    ],
)
def test_classify(http: int, body: Any, kind: type[ProviderError], failover: bool) -> None:
    error = classify(response(http, body, headers={"Retry-After": "7"}))
    assert type(error) is kind
    assert error.failover is failover
    assert error.http_status == http
    if isinstance(body, dict) and "code" in body:
        assert error.code == body["code"]
        assert error.message == body["message"]
    if kind is RateLimitedError:
        assert error.retry_after == 7.0


@pytest.mark.parametrize(
    ("http", "kind"), [(403, NotFoundError), (404, NotFoundError), (500, UnavailableError)]
)
def test_classify_download(http: int, kind: type[ProviderError]) -> None:
    error = classify_download(response(http, "<Error><Code>AccessDenied</Code></Error>"))
    assert type(error) is kind
    assert (error.code == "expired") is (kind is NotFoundError)


# --------------------------------------------------------------------------------- against the fake API


@pytest.fixture
async def fake() -> AsyncIterator[FakeDashScope]:
    server = FakeDashScope()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


MakeProvider = Callable[..., DashScopeProvider]


@pytest.fixture
async def make_provider(fake: FakeDashScope, sleeps: Sleeps) -> AsyncIterator[MakeProvider]:
    made: list[DashScopeProvider] = []

    def make(*, key: str = API_KEY, read_timeout: float = 5.0) -> DashScopeProvider:
        http = ProviderHttp(
            "dashscope",
            fake.base_url,
            auth_headers={"Authorization": f"Bearer {key}"},
            sleep=sleeps,
            backoff_base=0,
            read_timeout=read_timeout,
        )
        provider = DashScopeProvider(
            ProviderConfig("dashscope", fake.base_url, SecretStr(key), 30), http=http
        )
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.close()


@pytest.fixture
async def provider(make_provider: MakeProvider) -> DashScopeProvider:
    return make_provider()


async def run_to_end(provider: DashScopeProvider, task_id: str, *, limit: int = 10) -> list[TaskStatus]:
    """Poll until a final state (the poller's job), returning every status seen."""
    seen = []
    for _ in range(limit):
        seen.append(await provider.status(task_id))
        if seen[-1].state in (TaskState.SUCCEEDED, TaskState.FAILED):
            return seen
    raise AssertionError(f"still running after {limit} polls: {seen}")


async def read_all(provider: DashScopeProvider, status: TaskStatus, *, max_bytes: int = 1 << 20) -> bytes:
    return b"".join([chunk async for chunk in provider.download(status, max_bytes=max_bytes)])


async def test_text_to_video_is_created_async_polled_and_downloaded_without_the_key(
    fake: FakeDashScope, provider: DashScopeProvider
) -> None:
    fake.script = TaskScript(pending=1, running=2)
    submitted = await provider.submit(make_job(seed=7, negative="blurry", enhance=True))
    assert submitted.task_id in fake.tasks
    assert submitted.status.state is TaskState.QUEUED
    (_, path, headers, body) = fake.calls[0]
    assert path.endswith(SYNTHESIS_PATH)
    assert headers["X-DashScope-Async"] == "enable"
    assert body == build_request(make_job(seed=7, negative="blurry", enhance=True))[1]
    seen = await run_to_end(provider, submitted.task_id)
    assert [s.state for s in seen] == [
        TaskState.QUEUED,
        TaskState.RUNNING,
        TaskState.RUNNING,
        TaskState.SUCCEEDED,
    ]
    polls = [h for name, _p, h, _b in fake.calls if name == "task"]
    assert all("X-DashScope-Async" not in h for h in polls), "the async header belongs to the create only"
    result = seen[-1].result
    assert result is not None
    assert result.url.startswith(fake.video_url(submitted.task_id) + "?")
    assert (result.duration, result.extra["sr"], result.extra["actual_prompt"]) == (
        5.0,
        720,
        f"{PROMPT}, cinematic lighting",
    )
    assert seen[-1].cost_usd is None
    assert await read_all(provider, seen[-1]) == fake.video_bytes(submitted.task_id)
    assert fake.file_requests and all(r.authorization is None for r in fake.file_requests)
    assert "Signature" in fake.file_requests[0].query, "the presigned query is kept"
    assert fake.creates() == 1


@pytest.mark.parametrize(
    ("job", "images"),
    [
        (make_job("i2v", model_id="wan2.6-i2v", resolution="1080p", first=JPEG), [JPEG]),
        (make_job("fl2v", model_id="wan2.2-kf2v-flash", audio=None, first=JPEG, last=PNG), [JPEG, PNG]),
        (make_job("i2v", model_id="wan2.1-kf2v-plus", audio=None, first=PNG), [PNG]),
        (
            make_job("fl2v", model_id="wan2.7-i2v", first=JPEG, last=PNG, extras={"audio_url": SOUND}),
            [JPEG, PNG],
        ),
        (make_job("i2v", model_id="wan2.7-i2v", resolution="1080p", duration=12, first=PNG), [PNG]),
    ],
    ids=["i2v", "kf2v", "kf2v-first-only", "wan2.7-first-last-audio", "wan2.7-i2v"],
)
async def test_images_travel_as_data_uris_to_the_right_endpoint(
    fake: FakeDashScope, provider: DashScopeProvider, job: SubmitJob, images: list[InputImage]
) -> None:
    submitted = await provider.submit(job)
    assert fake.images[submitted.task_id] == [image.data for image in images]
    assert fake.tasks[submitted.task_id].path.endswith(spec_for(job.provider_model_id).endpoint)
    assert (await run_to_end(provider, submitted.task_id))[-1].state is TaskState.SUCCEEDED


@pytest.mark.parametrize(
    "job",
    [
        make_job(resolution="1080p", aspect_ratio="1:1", duration=15, audio=False),
        make_job(model_id="wan2.5-t2v-preview", resolution="480p", aspect_ratio="9:16", duration=10),
        make_job(
            model_id="wan2.1-t2v-turbo", resolution="480p", audio=False, params={"prompt_extend": False}
        ),
        make_job(model_id="wan2.7-t2v", resolution="1080p", aspect_ratio="4:3", extras={"audio_url": SOUND}),
    ],
)
async def test_every_text_to_video_shape_is_accepted(
    fake: FakeDashScope, provider: DashScopeProvider, job: SubmitJob
) -> None:
    fake.script = TaskScript(running=0, usage="ratio")
    submitted = await provider.submit(job)
    status = await provider.status(submitted.task_id)
    assert status.result is not None
    assert (status.result.width, status.result.height) == (1280, 720)
    assert status.result.duration == job.request.duration
    assert ("actual_prompt" in status.result.extra) is job.request.enhance_prompt


async def test_a_frame_that_is_too_large_is_sent_again_smaller_through_the_registry(
    fake: FakeDashScope, provider: DashScopeProvider
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (2400, 1350), (200, 40, 40)).save(buffer, "JPEG")
    big = InputImage(buffer.getvalue(), "image/jpeg", 2400, 1350)
    submitted = await registry_submit(provider, make_job("i2v", model_id="wan2.6-i2v", first=big))
    (sent,) = fake.images[submitted.task_id]
    with Image.open(io.BytesIO(sent)) as image:
        assert max(image.size) <= 2000
    assert fake.creates() == 1 and len(fake.endpoint_calls("create")) == 1, "refused before sending"


@pytest.mark.parametrize(
    ("outcome", "code", "policy", "fault"),
    [
        ("policy", POLICY_CODE, True, False),
        ("failed", INTERNAL_CODE, False, True),
        ("no_video", "no_video", False, False),
        ("expired", "task_unknown", False, False),
    ],
)
async def test_failed_tasks(
    fake: FakeDashScope, provider: DashScopeProvider, outcome: Any, code: str, policy: bool, fault: bool
) -> None:
    fake.script = TaskScript(running=1, outcome=outcome)
    submitted = await provider.submit(make_job())
    final = (await run_to_end(provider, submitted.task_id))[-1]
    assert final.state is TaskState.FAILED
    assert (final.error_code, final.content_policy, final.provider_fault) == (code, policy, fault)
    assert final.result is None and final.error_message


async def test_an_unknown_task_id_is_a_clear_failure(provider: DashScopeProvider) -> None:
    status = await provider.status("0385dc79-5ff8-4d82-bcb6-000000000000")
    assert (status.state, status.error_code) == (TaskState.FAILED, "task_unknown")


@pytest.mark.parametrize(
    ("fault", "error", "failover"),
    [
        (Fault(401, "InvalidApiKey", "Invalid API-key provided."), UnauthorizedError, True),
        (
            Fault(403, "Arrearage", "Access denied, please make sure your account is in good standing."),
            OutOfBalanceError,
            True,
        ),
        (Fault(400, POLICY_CODE, "Input data may contain inappropriate content."), ContentPolicyError, False),
        (
            Fault(400, "InvalidParameter", "The size is not match the allowed size"),
            InvalidRequestError,
            False,
        ),
        (Fault(404, "ModelNotFound", "Model not exist."), NotFoundError, True),
        (Fault(429, "Throttling.AllocationQuota", "Free allocated quota exceeded."), OutOfBalanceError, True),
    ],
)
async def test_create_refusals_are_typed_and_sent_once(
    fake: FakeDashScope,
    provider: DashScopeProvider,
    sleeps: Sleeps,
    fault: Fault,
    error: type[ProviderError],
    failover: bool,
) -> None:
    fake.fail("create", fault)
    with pytest.raises(error) as caught:
        await provider.submit(make_job())
    assert caught.value.failover is failover
    assert caught.value.code == fault.code
    assert len(fake.endpoint_calls("create")) == 1 and sleeps == []
    assert fake.creates() == 0


async def test_throttling_is_waited_out_with_the_hint(
    fake: FakeDashScope, provider: DashScopeProvider, sleeps: Sleeps
) -> None:
    throttled = Fault(
        429, "Throttling.RateQuota", "Requests rate limit exceeded", headers={"Retry-After": "2"}
    )
    fake.fail("create", throttled, times=2)
    submitted = await provider.submit(make_job())
    assert sleeps == [2.0, 2.0]
    assert fake.creates() == 1 and submitted.task_id in fake.tasks


async def test_a_503_create_is_resent_but_a_500_or_502_is_uncertain(
    fake: FakeDashScope, provider: DashScopeProvider, sleeps: Sleeps
) -> None:
    fake.fail("create", Fault(503, html=True, message="Service Unavailable"), times=2)
    await provider.submit(make_job())
    assert len(sleeps) == 2 and fake.creates() == 1
    for fault in (Fault(500, "InternalError", "An internal error has occured"), Fault(502, html=True)):
        calls = len(fake.endpoint_calls("create"))
        fake.fail("create", fault)
        with pytest.raises(UncertainSubmitError):
            await provider.submit(make_job())
        assert len(fake.endpoint_calls("create")) == calls + 1, "never sent twice"
    assert len(sleeps) == 2


@pytest.mark.parametrize("ack", ["truncated", "no_task_id", "html"])
async def test_a_broken_create_answer_is_uncertain_and_not_resent(
    fake: FakeDashScope, provider: DashScopeProvider, ack: Any
) -> None:
    fake.break_ack(ack)
    with pytest.raises(UncertainSubmitError):
        await provider.submit(make_job())
    assert fake.creates() == 1, "the paid task exists"
    assert len(fake.endpoint_calls("create")) == 1


async def test_a_held_create_answer_is_uncertain_and_not_resent(
    fake: FakeDashScope, make_provider: MakeProvider, sleeps: Sleeps
) -> None:
    provider = make_provider(read_timeout=0.2)
    fake.break_ack("held")
    with pytest.raises(UncertainSubmitError, match="no answer"):
        await provider.submit(make_job())
    assert fake.creates() == 1 and len(fake.endpoint_calls("create")) == 1 and sleeps == []


async def test_poll_errors_are_retried_then_reported(
    fake: FakeDashScope, provider: DashScopeProvider, sleeps: Sleeps
) -> None:
    submitted = await provider.submit(make_job())
    fake.fail("task", Fault(500, "InternalError", "An internal error has occured"), times=4)
    with pytest.raises(UnavailableError) as caught:
        await provider.status(submitted.task_id)
    assert caught.value.failover and len(sleeps) == 3
    fake.fail("task", Fault(429, "Throttling.RateQuota", "slow down"))
    assert (await provider.status(submitted.task_id)).state is TaskState.RUNNING


async def test_a_wrong_key_is_unauthorized_and_never_echoed(
    fake: FakeDashScope, make_provider: MakeProvider
) -> None:
    provider = make_provider(key="sk-wrong-secret-key-42")
    with pytest.raises(UnauthorizedError) as caught:
        await provider.submit(make_job())
    assert caught.value.failover and caught.value.code == "InvalidApiKey"
    with pytest.raises(UnauthorizedError) as polled:
        await provider.status("t-1")
    for error in (caught.value, polled.value):
        assert "sk-wrong-secret-key-42" not in repr(error) and "sk-wrong-secret-key-42" not in error.message
    assert fake.creates() == 0


async def test_default_construction_reaches_the_api_root_with_the_bearer_key(fake: FakeDashScope) -> None:
    """A bare host (the setting's old default) gets /api/v1; options for other adapters are ignored."""
    provider = DashScopeProvider(
        ProviderConfig("dashscope", fake.root, SecretStr(API_KEY), 30), other_option=1
    )
    keyless = DashScopeProvider(ProviderConfig("dashscope", fake.base_url, None, 30))
    try:
        submitted = await provider.submit(make_job())
        assert (await provider.status(submitted.task_id)).state is TaskState.RUNNING
        with pytest.raises(UnauthorizedError):
            await keyless.submit(make_job())
    finally:
        await provider.close()
        await keyless.close()
    assert fake.creates() == 1


async def test_cancel_stops_only_a_pending_task(fake: FakeDashScope, provider: DashScopeProvider) -> None:
    fake.script = TaskScript(pending=1, running=1)
    queued = await provider.submit(make_job())
    assert await provider.cancel(queued.task_id) is True
    status = await provider.status(queued.task_id)
    assert (status.state, status.error_code, status.provider_fault) == (TaskState.FAILED, "cancelled", False)

    fake.script = TaskScript(pending=0, running=3)
    running = await provider.submit(make_job())
    assert (await provider.status(running.task_id)).state is TaskState.RUNNING
    assert await provider.cancel(running.task_id) is False
    assert (await provider.status(running.task_id)).state is TaskState.RUNNING, "still running, still paid"
    assert await provider.cancel("no-such-task") is False
    fake.fail("cancel", Fault(401, "InvalidApiKey", "Invalid API-key provided."))
    with pytest.raises(UnauthorizedError):
        await provider.cancel(running.task_id)


async def test_the_fake_refuses_a_synchronous_call(fake: FakeDashScope) -> None:
    _, body = build_request(make_job())
    async with (
        ClientSession() as session,
        session.post(
            fake.base_url + "/" + SYNTHESIS_PATH, json=body, headers={"Authorization": f"Bearer {API_KEY}"}
        ) as answer,
    ):
        payload = await answer.json()
    assert (answer.status, payload["code"], payload["message"]) == (403, "AccessDenied", SYNC_REFUSED)
    assert fake.creates() == 0


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        (
            SYNTHESIS_PATH,
            {
                "model": "wan2.6-t2v",
                "input": {"prompt": "p"},
                "parameters": {"prompt_extend": False, "size": "1280x720"},
            },
            400,
        ),
        (
            SYNTHESIS_PATH,
            {
                "model": "wan2.6-t2v",
                "input": {"prompt": "p"},
                "parameters": {"prompt_extend": False, "resolution": "720P"},
            },
            400,
        ),
        (
            SYNTHESIS_PATH,
            {
                "model": "wan2.6-i2v",
                "input": {"img_url": uri(JPEG)},
                "parameters": {"prompt_extend": False, "resolution": "720p"},
            },
            400,
        ),
        (SYNTHESIS_PATH, {"model": "wan2.6-i2v", "input": {"img_url": "data:image/jpeg;base64,@@"}}, 400),
        (SYNTHESIS_PATH, {"model": "wan2.2-kf2v-flash", "input": {"first_frame_url": uri(JPEG)}}, 400),
        (
            SYNTHESIS_PATH,
            {
                "model": "wan2.2-t2v-plus",
                "input": {"prompt": "p"},
                "parameters": {"prompt_extend": False, "audio": True},
            },
            400,
        ),
        (SYNTHESIS_PATH, {"model": "wan2.6-t2v", "input": {"prompt": ""}}, 400),
        (
            SYNTHESIS_PATH,
            {
                "model": "wan2.6-t2v",
                "input": {"prompt": "p"},
                "parameters": {"prompt_extend": False, "seed": -1},
            },
            400,
        ),
        (
            SYNTHESIS_PATH,
            {
                "model": "wan2.6-t2v",
                "input": {"prompt": "p"},
                "parameters": {"prompt_extend": False, "duration": 16},
            },
            400,
        ),
        (
            SYNTHESIS_PATH,
            {"model": "wan2.7-i2v", "input": {"media": [{"type": "last_frame", "url": uri(PNG)}]}},
            400,
        ),
        (SYNTHESIS_PATH, {"model": "wan9-t2v", "input": {"prompt": "p"}}, 404),
        (KEYFRAME_PATH, {"model": "wan2.6-t2v", "input": {"prompt": "p"}}, 400),
        ("services/aigc/video-generation/generation", {"model": "wan2.6-t2v", "input": {"prompt": "p"}}, 400),
    ],
)
async def test_the_fake_refuses_what_dashscope_refuses(
    fake: FakeDashScope, path: str, body: dict[str, Any], status: int
) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", **ASYNC_HEADERS}
    async with (
        ClientSession() as session,
        session.post(f"{fake.base_url}/{path}", json=body, headers=headers) as answer,
    ):
        payload = await answer.json()
    assert answer.status == status
    assert payload["code"] in ("InvalidParameter", "ModelNotFound") and payload["request_id"]
    assert fake.creates() == 0


async def test_an_expired_result_url_is_not_found(fake: FakeDashScope, provider: DashScopeProvider) -> None:
    fake.script = TaskScript(running=0, file="expired")
    status = await provider.status((await provider.submit(make_job())).task_id)
    with pytest.raises(NotFoundError) as caught:
        await read_all(provider, status)
    assert caught.value.code == "expired"


@pytest.mark.parametrize("file", ["ok", "chunked"])
async def test_a_result_past_the_cap_stops(
    fake: FakeDashScope, provider: DashScopeProvider, file: Any
) -> None:
    fake.script = TaskScript(running=0, file=file, video_size=200_000)
    status = await provider.status((await provider.submit(make_job())).task_id)
    with pytest.raises(MediaTooLargeError):
        await read_all(provider, status, max_bytes=50_000)
    assert len(await read_all(provider, status, max_bytes=200_000)) == 200_000


async def test_a_stalled_download_times_out(fake: FakeDashScope, make_provider: MakeProvider) -> None:
    provider = make_provider(read_timeout=0.2)
    fake.script = TaskScript(running=0, file="stall", video_size=100_000)
    status = await provider.status((await provider.submit(make_job())).task_id)
    with pytest.raises(UnavailableError, match="download failed"):
        await read_all(provider, status)


async def test_download_needs_a_result(provider: DashScopeProvider) -> None:
    with pytest.raises(ValueError, match="succeeded status"):
        await read_all(provider, TaskStatus(TaskState.RUNNING))
