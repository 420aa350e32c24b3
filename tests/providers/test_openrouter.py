"""The OpenRouter video adapter: pure builders and parsers table-driven, then the real adapter against the
loopback fake for every scripted behaviour (reference/providers.md §10)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from services.catalog import Route, load_catalog
from services.http import HttpResponse, ProviderHttp
from services.providers.base import (
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
from services.providers.descriptor import ProviderConfig
from services.providers.openrouter import (
    MODELS_TTL,
    Capabilities,
    OpenRouterProvider,
    build_submit_body,
    check_mode,
    checked_mp4,
    classify,
    classify_download,
    https_callback,
    on_api,
    parse_job,
    parse_models,
    parse_submitted,
    parse_webhook,
    verify_webhook,
    webhook_signature,
)
from services.providers.registry import Providers
from services.settings import Settings
from services.video_request import VideoRequest
from storage.errors import MediaTooLargeError
from tests.fakes.providers.openrouter import (
    API_KEY,
    MODELS,
    POLICY_MESSAGE,
    FakeOpenRouter,
    JobScript,
    sign,
)
from tests.fakes.sleeps import Sleeps

API = "https://openrouter.ai/api/v1/"
SECRET = "whsec-openrouter-workspace-secret"
NOW = 1_800_000_000
VEO = Capabilities(
    "google/veo-3.1",
    durations=frozenset({4, 6, 8}),
    resolutions=frozenset({"720p", "1080p"}),
    aspect_ratios=frozenset({"16:9", "9:16"}),
    generate_audio=True,
    seed=True,
)
SILENT = Capabilities("minimax/hailuo-3", generate_audio=False, seed=False)
OPEN = Capabilities("alibaba/wan-2.6")


def make_job(
    mode: str = "t2v",
    *,
    model: str = "google/veo-3.1",
    duration: int | None = 8,
    aspect: str | None = "16:9",
    resolution: str | None = "720p",
    audio: bool | None = True,
    seed: int | None = None,
    prompt: str = "a lighthouse in a storm at dusk",
    **extra: Any,
) -> SubmitJob:
    request = VideoRequest(
        model="veo-3.1",
        mode=mode,
        prompt=prompt,
        duration=duration,
        aspect_ratio=aspect,
        resolution=resolution,
        audio=audio,
        seed=seed,
        negative_prompt="blurry",
    )
    return SubmitJob(request=request, route=Route(provider="openrouter", model_id=model), **extra)


# ------------------------------------------------------------------------------------------ pure units


def test_build_submit_body_for_text_to_video() -> None:
    body = build_submit_body(
        make_job(seed=42), VEO, callback_url="https://bot.example/callbacks/openrouter/t"
    )
    assert body == {
        "model": "google/veo-3.1",
        "prompt": "a lighthouse in a storm at dusk",
        "duration": 8,
        "resolution": "720p",
        "aspect_ratio": "16:9",
        "generate_audio": True,
        "seed": 42,
        "callback_url": "https://bot.example/callbacks/openrouter/t",
    }, "no negative prompt: the API has no such field; no size next to resolution"


def test_unset_choices_are_left_to_the_api_and_null_lists_constrain_nothing() -> None:
    job = make_job(model="alibaba/wan-2.6", duration=None, aspect=None, resolution=None, audio=None)
    assert build_submit_body(job, OPEN) == {"model": "alibaba/wan-2.6", "prompt": job.request.prompt}
    anything = make_job(model="alibaba/wan-2.6", duration=13, aspect="21:9", resolution="4k", seed=7)
    body = build_submit_body(anything, OPEN)
    assert (body["duration"], body["aspect_ratio"], body["resolution"], body["seed"]) == (13, "21:9", "4K", 7)


def test_a_silent_model_gets_no_audio_flag_when_none_is_wanted() -> None:
    body = build_submit_body(
        make_job(model="minimax/hailuo-3", audio=False, aspect=None, resolution=None), SILENT
    )
    assert "generate_audio" not in body
    assert build_submit_body(make_job(audio=False), VEO)["generate_audio"] is False


@pytest.mark.parametrize(
    ("job", "capabilities", "code"),
    [
        (make_job(duration=5), VEO, "duration"),
        (make_job(resolution="4k"), VEO, "resolution"),
        (make_job(resolution="540p"), OPEN, "resolution"),  # not in the API's enum at all
        (make_job(aspect="1:1"), VEO, "aspect_ratio"),
        (make_job(aspect="5:4"), OPEN, "aspect_ratio"),
        (make_job(audio=True), SILENT, "generate_audio"),
        (make_job(audio=None, seed=3), SILENT, "seed"),
    ],
)
def test_values_outside_the_models_lists_are_refused(
    job: SubmitJob, capabilities: Capabilities, code: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        build_submit_body(job, capabilities)
    assert caught.value.code == code and not caught.value.failover


@pytest.mark.parametrize(("url", "sent"), [("http://bot.example/cb", None), (None, None), ("", None)])
def test_only_an_https_callback_is_sent(url: str | None, sent: str | None) -> None:
    assert https_callback(url) is sent
    assert "callback_url" not in build_submit_body(make_job(), VEO, callback_url=url)


def picture() -> InputImage:
    return InputImage(b"\xff\xd8\xff\xe0jpeg", "image/jpeg", 64, 64)


@pytest.mark.parametrize(
    ("mode", "code", "images"),
    [
        ("i2v", "images", {"first_frame": picture()}),
        ("fl2v", "images", {"first_frame": picture(), "last_frame": picture()}),
        ("ref2v", "images", {"reference_images": (picture(),)}),
        ("extend", "mode", {"source_task_id": "job-1"}),
        ("remix", "mode", {"source_task_id": "job-1"}),
    ],
)
def test_modes_other_than_text_are_refused(mode: str, code: str, images: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        check_mode(make_job(mode, **images))
    assert caught.value.code == code
    check_mode(make_job())


def test_parse_models_reads_lists_nulls_and_slugs() -> None:
    models = parse_models({"data": MODELS})
    assert models["google/veo-3.1"] == VEO
    assert models["google/veo-3.1-20260115"] is models["google/veo-3.1"], "found by canonical slug too"
    assert models["alibaba/wan-2.6"] == OPEN, "null lists are no constraint"
    hailuo = models["minimax/hailuo-3"]
    assert hailuo.durations == {6, 10} and hailuo.resolutions == {"768p", "1080p"}
    odd = parse_models(
        {"data": [{"id": "x/y", "supported_durations": "8", "seed": "yes"}, {"name": "no id"}, "junk"]}
    )
    assert odd == {"x/y": Capabilities("x/y")}, "fields of an unexpected shape constrain nothing"


@pytest.mark.parametrize("payload", [None, [], {"data": None}, {"models": []}])
def test_an_unreadable_model_list_is_unavailable(payload: Any) -> None:
    with pytest.raises(UnavailableError):
        parse_models(payload)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://openrouter.ai/api/v1/videos/abc", "https://openrouter.ai/api/v1/videos/abc"),
        ("/api/v1/videos/job-abc123", "https://openrouter.ai/api/v1/videos/job-abc123"),
        ("videos/abc", "https://openrouter.ai/api/v1/videos/abc"),
        ("https://evil.example/api/v1/videos/abc", None),
        ("//evil.example/api/v1/videos/abc", None),
        ("http://openrouter.ai/api/v1/videos/abc", None),  # the key never goes over plain HTTP
        ("", None),
        (None, None),
        (42, None),
    ],
)
def test_urls_are_resolved_against_the_api_host_and_kept_there(url: Any, expected: str | None) -> None:
    assert on_api(url, API) == expected


CONTENT = "https://openrouter.ai/api/v1/videos/abc/content?index=0"


@pytest.mark.parametrize(
    ("payload", "state"),
    [
        ({"id": "abc", "status": "pending"}, TaskState.QUEUED),
        ({"id": "abc", "status": "in_progress"}, TaskState.RUNNING),
        ({"id": "abc", "status": "rendering"}, TaskState.RUNNING),  # unknown: not an outcome
        ({"id": "abc"}, TaskState.RUNNING),
    ],
)
def test_parse_job_in_flight(payload: dict[str, Any], state: TaskState) -> None:
    assert parse_job(payload, job_id="abc", api_base=API) == TaskStatus(state)


@pytest.mark.parametrize(
    ("urls", "expected"),
    [
        ([CONTENT], CONTENT),
        (["/api/v1/videos/abc/content?index=0"], CONTENT),
        (["https://cdn.example/abc.mp4"], CONTENT),  # elsewhere: the API's own endpoint instead
        ([], CONTENT),
        (None, CONTENT),
        ("not a list", CONTENT),
    ],
)
def test_parse_job_completed_downloads_from_the_api(urls: Any, expected: str) -> None:
    status = parse_job(
        {"id": "abc", "status": "completed", "unsigned_urls": urls, "usage": {"cost": 0.25}},
        job_id="abc",
        api_base=API,
    )
    assert status == TaskStatus(
        TaskState.SUCCEEDED, progress=100, result=ResultRef(expected, mime_type="video/mp4"), cost_usd=0.25
    )


@pytest.mark.parametrize(
    ("usage", "cost"),
    [
        ({"cost": 0.5, "is_byok": False}, 0.5),
        ({"cost": 2}, 2.0),
        ({"cost": "0.125"}, 0.125),
        ({"cost": None}, None),
        ({"cost": True}, None),
        ({"cost": "free"}, None),
        ({"cost": -1}, None),
        ({"cost": "nan"}, None),
        (None, None),
    ],
)
def test_parse_job_cost(usage: Any, cost: float | None) -> None:
    status = parse_job({"status": "completed", "usage": usage}, job_id="abc", api_base=API)
    assert status.cost_usd == cost


@pytest.mark.parametrize(
    ("payload", "code", "message", "policy", "fault"),
    [
        ({"status": "failed", "error": POLICY_MESSAGE}, "failed", POLICY_MESSAGE, True, False),
        ({"status": "failed", "error": "Provider error: upstream timed out"}, "failed", None, False, True),
        ({"status": "failed", "error": "Invalid prompt"}, "failed", "Invalid prompt", False, False),
        (
            {"status": "failed", "error": {"code": 422, "message": "flagged by safety"}},
            "422",
            None,
            True,
            False,
        ),
        ({"status": "failed"}, "failed", "the job failed without a reason", False, False),
        (
            {"status": "cancelled", "error": "Job was cancelled"},
            "cancelled",
            "Job was cancelled",
            False,
            False,
        ),
        ({"status": "expired"}, "expired", "Job exceeded maximum time to live", False, True),
        ({"status": "expired", "error": "Job exceeded maximum time to live"}, "expired", None, False, True),
    ],
)
def test_parse_job_failures(
    payload: dict[str, Any], code: str, message: str | None, policy: bool, fault: bool
) -> None:
    status = parse_job(payload, job_id="abc", api_base=API)
    assert status.state is TaskState.FAILED and status.result is None
    assert (status.error_code, status.content_policy, status.provider_fault) == (code, policy, fault)
    assert status.error_message == (message or status.error_message) and status.error_message


def test_parse_job_never_repeats_a_key() -> None:
    status = parse_job({"status": "failed", "error": "bad key sk-or-v1-abcdef123"}, job_id="a", api_base=API)
    assert status.error_message == "bad key sk-or-***"


def test_parse_submitted() -> None:
    body = {"id": "job-abc123", "polling_url": "/api/v1/videos/job-abc123", "status": "pending"}
    submitted = parse_submitted(body, api_base=API)
    assert (submitted.task_id, submitted.status) == ("job-abc123", TaskStatus(TaskState.QUEUED))
    for payload in (None, {"status": "pending"}, {"id": ""}, ["job-abc123"]):
        with pytest.raises(UncertainSubmitError):
            parse_submitted(payload, api_base=API)


def envelope(code: int, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}, "user_id": "u1"}).encode()


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retry_after"),
    [
        (400, envelope(400, "Invalid request parameters"), {}, InvalidRequestError, None),
        (400, envelope(400, "Your prompt was flagged by moderation"), {}, ContentPolicyError, None),
        (401, envelope(401, "Missing Authentication header"), {}, UnauthorizedError, None),
        (402, envelope(402, "Insufficient credits"), {}, OutOfBalanceError, None),
        (403, envelope(403, "Key is disabled"), {}, UnauthorizedError, None),
        (404, envelope(404, "Not Found"), {}, NotFoundError, None),
        (429, envelope(429, "Rate limited"), {"Retry-After": "7"}, RateLimitedError, 7.0),
        (500, envelope(500, "Internal Server Error"), {}, UnavailableError, None),
        (502, b"<html>bad gateway</html>", {"Retry-After": "3"}, UnavailableError, 3.0),
        (422, b"", {}, InvalidRequestError, None),
    ],
)
def test_classify(
    status: int, body: bytes, headers: dict[str, str], kind: type[ProviderError], retry_after: float | None
) -> None:
    error = classify(HttpResponse(status, headers, body))
    assert type(error) is kind and error.http_status == status and error.retry_after == retry_after
    assert error.code == str(status) and error.provider == "openrouter"


def test_classify_never_repeats_a_key() -> None:
    body = envelope(401, f"No auth credentials found for key {API_KEY} (sk-or-v1-abc***)")
    error = classify(HttpResponse(401, {}, body), (API_KEY,))
    assert API_KEY not in str(error) and "sk-or-v1-abc" not in str(error)


@pytest.mark.parametrize("status", [403, 404, 410])
def test_a_gone_video_is_not_found(status: int) -> None:
    error = classify_download(HttpResponse(status, {}, b"<Error>AccessDenied</Error>"))
    assert isinstance(error, NotFoundError) and error.http_status == status
    assert isinstance(
        classify_download(HttpResponse(502, {}, envelope(502, "Provider error"))), UnavailableError
    )


async def chunks_of(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize(
    ("parts", "ok"),
    [
        ((b"\x00\x00", b"\x00\x18ft", b"ypmp42", b"rest"), True),
        ((b"\x00\x00\x00\x18ftypisom",), True),
        ((b'{"error": {"code": 502, "message": "Provider error"}}',), False),
        ((b"\x00\x00",), False),
        ((), False),
    ],
)
async def test_only_an_mp4_is_passed_on(parts: tuple[bytes, ...], ok: bool) -> None:
    if ok:
        assert b"".join([c async for c in checked_mp4(chunks_of(*parts))]) == b"".join(parts)
    else:
        with pytest.raises(UnavailableError):
            _ = [c async for c in checked_mp4(chunks_of(*parts))]


def test_webhook_signature_and_freshness() -> None:
    body = b'{"type": "video.generation.completed", "data": {"id": "abc123", "status": "completed"}}'
    good = {"X-OpenRouter-Signature": sign(SECRET, NOW, body)}
    assert good["X-OpenRouter-Signature"] == f"t={NOW},v1={webhook_signature(SECRET, str(NOW), body)}"
    verify_webhook(SECRET, good, body, now=NOW + 299)
    verify_webhook(SECRET, {"x-openrouter-signature": good["X-OpenRouter-Signature"]}, body, now=NOW)
    rotated = {
        "X-OpenRouter-Signature": f"t={NOW}, v1={'0' * 64}, v1={webhook_signature(SECRET, str(NOW), body)}"
    }
    verify_webhook(SECRET, rotated, body, now=NOW)
    rejected = [
        (good, body, NOW + 301),  # stale
        (good, body, NOW - 301),  # from the future
        (good, body.replace(b"abc123", b"abc124"), NOW),  # tampered
        ({"X-OpenRouter-Signature": sign("another secret", NOW, body)}, body, NOW),
        ({}, body, NOW),
        ({"X-OpenRouter-Signature": f"v1={webhook_signature(SECRET, str(NOW), body)}"}, body, NOW),
        (
            {"X-OpenRouter-Signature": f"t=yesterday,v1={webhook_signature(SECRET, 'yesterday', body)}"},
            body,
            NOW,
        ),
        ({"X-OpenRouter-Signature": f"t={NOW}"}, body, NOW),
    ]
    for headers, signed_body, now in rejected:
        with pytest.raises(CallbackRejected):
            verify_webhook(SECRET, headers, signed_body, now=now)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"type": "chat.completion", "data": {"id": "abc"}}',
        b'{"type": "video.generation.completed", "data": "abc"}',
        b'{"type": "video.generation.failed", "data": {"id": ""}}',
    ],
)
def test_webhook_shape_is_checked(body: bytes) -> None:
    with pytest.raises(CallbackRejected):
        parse_webhook(body, api_base=API)


# ------------------------------------------------------------------------------ against the fake API


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenRouter]:
    server = FakeOpenRouter()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_provider(
    fake: FakeOpenRouter, sleeps: Sleeps, *, key: str = API_KEY, **kw: Any
) -> OpenRouterProvider:
    config = ProviderConfig("openrouter", fake.base_url, SecretStr(key), 30)
    http = ProviderHttp(
        "openrouter",
        fake.base_url,
        auth_headers={"Authorization": f"Bearer {key}"},
        sleep=sleeps,
        backoff_base=0,
        read_timeout=kw.pop("read_timeout", 60.0),
    )
    return OpenRouterProvider(config, http=http, **kw)


@pytest.fixture
async def provider(fake: FakeOpenRouter, sleeps: Sleeps) -> AsyncIterator[OpenRouterProvider]:
    adapter = make_provider(fake, sleeps)
    try:
        yield adapter
    finally:
        await adapter.close()


async def collect(provider: OpenRouterProvider, status: TaskStatus, max_bytes: int = 10_000_000) -> bytes:
    return b"".join([chunk async for chunk in provider.download(status, max_bytes=max_bytes)])


async def finish(provider: OpenRouterProvider, task_id: str, limit: int = 10) -> list[TaskStatus]:
    """Poll until terminal (bounded: the fake ends after its script's polls)."""
    seen = [await provider.status(task_id)]
    while seen[-1].state in (TaskState.QUEUED, TaskState.RUNNING) and len(seen) < limit:
        seen.append(await provider.status(task_id))
    return seen


async def test_text_to_video_cycle(fake: FakeOpenRouter, provider: OpenRouterProvider) -> None:
    fake.script = JobScript(polls=2, cost=0.4)
    submitted = await provider.submit(make_job(seed=5))
    assert submitted.task_id == "job-0001" and submitted.status.state is TaskState.QUEUED
    (create,) = fake.at("api", "POST")
    assert create.path_qs == "/api/v1/videos"
    assert create.headers["Authorization"] == f"Bearer {API_KEY}"
    assert create.json == {
        "model": "google/veo-3.1",
        "prompt": "a lighthouse in a storm at dusk",
        "duration": 8,
        "resolution": "720p",
        "aspect_ratio": "16:9",
        "generate_audio": True,
        "seed": 5,
    }
    states = await finish(provider, submitted.task_id)
    assert [s.state for s in states] == [TaskState.RUNNING, TaskState.RUNNING, TaskState.SUCCEEDED]
    done = states[-1]
    assert done.cost_usd == 0.4 and done.result is not None
    assert done.result.url == f"{fake.base_url}/videos/job-0001/content?index=0"
    assert await collect(provider, done) == fake.video_bytes
    content = fake.seen[-1]
    assert content.path_qs == "/api/v1/videos/job-0001/content?index=0"
    assert content.headers["Authorization"] == f"Bearer {API_KEY}"
    assert fake.hits["models"] == 1 and fake.creates() == 1 and fake.at("elsewhere") == []


@pytest.mark.parametrize("polling_url", ["absolute", "relative", "elsewhere", "absent"])
async def test_every_polling_url_form_is_polled_on_the_api_host(
    fake: FakeOpenRouter, provider: OpenRouterProvider, polling_url: Any
) -> None:
    fake.script = JobScript(polls=1, polling_url=polling_url)
    submitted = await provider.submit(make_job())
    states = await finish(provider, submitted.task_id)
    assert states[-1].state is TaskState.SUCCEEDED
    polls = [s.path_qs for s in fake.at("api", "GET") if s.path_qs.startswith("/api/v1/videos/job")]
    assert polls == ["/api/v1/videos/job-0001"] * 2
    assert fake.at("elsewhere") == [], "a polling URL on another host is never followed"


@pytest.mark.parametrize("unsigned", ["api", "relative", "elsewhere", "none"])
async def test_the_video_comes_from_the_api_with_the_key_and_nowhere_else(
    fake: FakeOpenRouter, provider: OpenRouterProvider, unsigned: Any
) -> None:
    fake.script = JobScript(polls=0, unsigned_urls=unsigned)
    done = await provider.status((await provider.submit(make_job())).task_id)
    assert await collect(provider, done) == fake.video_bytes
    assert fake.seen[-1].path_qs == "/api/v1/videos/job-0001/content?index=0"
    assert fake.at("elsewhere") == []


async def test_a_content_redirect_is_followed_without_the_key(
    fake: FakeOpenRouter, provider: OpenRouterProvider
) -> None:
    fake.script = JobScript(polls=0)
    fake.content_redirect = True
    done = await provider.status((await provider.submit(make_job())).task_id)
    assert await collect(provider, done) == fake.video_bytes
    (storage,) = fake.at("elsewhere")
    assert storage.path_qs == "/files/job-0001.mp4" and "Authorization" not in storage.headers
    fake.expired = True
    with pytest.raises(NotFoundError):
        await collect(provider, done)


async def test_the_model_list_is_read_once_an_hour(fake: FakeOpenRouter, sleeps: Sleeps) -> None:
    clock = Clock()
    adapter = make_provider(fake, sleeps, monotonic=clock)
    try:
        await asyncio.gather(adapter.submit(make_job()), adapter.submit(make_job()))
        clock.now += MODELS_TTL - 1
        await adapter.submit(make_job(model="google/veo-3.1-20260115"))  # by canonical slug
        assert fake.hits["models"] == 1
        clock.now += 1
        await adapter.submit(make_job())
        assert fake.hits["models"] == 2 and fake.creates() == 4
        assert "Authorization" in fake.at("api", "GET")[0].headers
    finally:
        await adapter.close()


@pytest.mark.parametrize(
    "job",
    [
        make_job(duration=5),
        make_job(resolution="4k"),
        make_job(aspect="1:1"),
        make_job(model="openai/sora-2-pro", seed=1),
        make_job(model="minimax/hailuo-3", aspect="16:9", resolution="1080p", duration=6, audio=True),
    ],
)
async def test_values_the_model_lacks_are_refused_before_anything_paid(
    fake: FakeOpenRouter, provider: OpenRouterProvider, job: SubmitJob
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await provider.submit(job)
    assert caught.value.http_status is None and not caught.value.failover
    assert fake.hits["create"] == 0 and fake.creates() == 0


async def test_the_fake_refuses_what_the_adapter_checks_for(fake: FakeOpenRouter) -> None:
    """The refusals the capability checks spare us, as this fake models them (refuse, not clamp)."""
    auth = {"Authorization": f"Bearer {API_KEY}"}
    base = {"model": "google/veo-3.1", "prompt": "p"}
    bodies = [
        {**base, "duration": 5},
        {**base, "resolution": "4K"},
        {**base, "size": "1280x720", "resolution": "720p"},
        {**base, "callback_url": "http://bot.example/cb"},
        {**base, "frame_images": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
        {**base, "negative_prompt": "blurry"},
        {"model": "google/veo-9", "prompt": "p"},
    ]
    async with aiohttp.ClientSession() as session:
        for body in bodies:
            async with session.post(f"{fake.base_url}/videos", json=body, headers=auth) as response:
                answer = await response.json()
                assert response.status == 400 and answer["error"]["code"] == 400, body
        async with session.get(f"{fake.base_url}/videos/models") as response:
            assert response.status == 200, "the model list needs no key"
    assert fake.creates() == 0


async def test_a_model_openrouter_does_not_list_fails_over(
    fake: FakeOpenRouter, provider: OpenRouterProvider
) -> None:
    with pytest.raises(NotFoundError) as caught:
        await provider.submit(make_job(model="google/veo-9"))
    assert caught.value.failover and fake.hits["create"] == 0


async def test_image_modes_are_refused_without_a_call(
    fake: FakeOpenRouter, provider: OpenRouterProvider
) -> None:
    for job in (
        make_job("i2v", first_frame=picture()),
        make_job("fl2v", first_frame=picture(), last_frame=picture()),
        make_job("ref2v", reference_images=(picture(),)),
    ):
        with pytest.raises(InvalidRequestError, match="public image URLs"):
            await provider.submit(job)
    assert fake.seen == []


async def test_a_model_list_that_cannot_be_read_fails_over_and_is_read_again(
    fake: FakeOpenRouter, provider: OpenRouterProvider, sleeps: Sleeps
) -> None:
    fake.fail_next("models", 500, times=4)
    with pytest.raises(UnavailableError) as caught:
        await provider.submit(make_job())
    assert caught.value.failover and fake.creates() == 0 and len(sleeps) == 3
    await provider.submit(make_job())
    assert fake.hits["models"] == 5 and fake.creates() == 1


@pytest.mark.parametrize(
    ("outcome", "code", "policy", "fault"),
    [
        ("policy", "failed", True, False),
        ("failed", "failed", False, True),
        ("cancelled", "cancelled", False, False),
        ("expired", "expired", False, True),
    ],
)
async def test_failed_jobs(
    fake: FakeOpenRouter, provider: OpenRouterProvider, outcome: Any, code: str, policy: bool, fault: bool
) -> None:
    fake.script = JobScript(polls=1, outcome=outcome)
    final = (await finish(provider, (await provider.submit(make_job())).task_id))[-1]
    assert (final.state, final.error_code, final.content_policy, final.provider_fault) == (
        TaskState.FAILED,
        code,
        policy,
        fault,
    )
    assert final.result is None and final.error_message
    with pytest.raises(NotFoundError):
        await collect(provider, final)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, InvalidRequestError),
        (402, OutOfBalanceError),
        (404, NotFoundError),
    ],
)
async def test_refused_creates_are_not_retried(
    fake: FakeOpenRouter, provider: OpenRouterProvider, sleeps: Sleeps, status: int, kind: type[ProviderError]
) -> None:
    fake.fail_next("create", status, message="refused")
    with pytest.raises(kind) as caught:
        await provider.submit(make_job())
    assert caught.value.http_status == status and caught.value.message == "refused"
    assert fake.hits["create"] == 1 and sleeps == [] and fake.creates() == 0


async def test_a_wrong_key_is_unauthorized_and_never_echoed(fake: FakeOpenRouter, sleeps: Sleeps) -> None:
    wrong = "sk-or-v1-wrong-key-000000SECRET"
    adapter = make_provider(fake, sleeps, key=wrong)
    try:
        with pytest.raises(UnauthorizedError) as caught:
            await adapter.submit(make_job())
    finally:
        await adapter.close()
    assert (
        caught.value.failover and "SECRET" not in str(caught.value) and "wrong-key" not in str(caught.value)
    )
    assert fake.hits["models"] == 1, "the model list answers without a key check"


async def test_429_is_waited_out_then_the_create_goes_through(
    fake: FakeOpenRouter, provider: OpenRouterProvider, sleeps: Sleeps
) -> None:
    fake.fail_next("create", 429, message="Rate limit exceeded", headers={"Retry-After": "4"})
    submitted = await provider.submit(make_job())
    assert sleeps == [4.0] and fake.creates() == 1 and submitted.task_id in fake.jobs


@pytest.mark.parametrize("status", [500, 502])
async def test_a_server_error_after_a_create_is_uncertain_and_not_resent(
    fake: FakeOpenRouter, provider: OpenRouterProvider, sleeps: Sleeps, status: int
) -> None:
    fake.fail_next("create", status, message="Provider error")
    with pytest.raises(UncertainSubmitError) as caught:
        await provider.submit(make_job())
    assert caught.value.http_status == status and not caught.value.failover
    assert fake.hits["create"] == 1 and sleeps == []
    assert provider.finds_submitted is False


@pytest.mark.parametrize(("fault", "made"), [("malformed", True), ("stall", True), ("stall", False)])
async def test_a_lost_create_answer_is_uncertain(
    fake: FakeOpenRouter, sleeps: Sleeps, fault: Any, made: bool
) -> None:
    adapter = make_provider(fake, sleeps, read_timeout=0.3)
    fake.break_next(fault, made=made)
    try:
        with pytest.raises(UncertainSubmitError):
            await adapter.submit(make_job())
    finally:
        await adapter.close()
    assert fake.hits["create"] == 1 and fake.creates() == int(made)


async def test_poll_errors(fake: FakeOpenRouter, provider: OpenRouterProvider, sleeps: Sleeps) -> None:
    with pytest.raises(NotFoundError):
        await provider.status("job-missing")
    fake.script = JobScript(polls=0)
    submitted = await provider.submit(make_job())
    fake.fail_next("poll", 502, raw="<html>bad gateway</html>", times=2)
    assert (await provider.status(submitted.task_id)).state is TaskState.SUCCEEDED
    assert len(sleeps) == 2
    fake.fail_next("poll", 429, message="Rate limited", headers={"Retry-After": "5"}, times=4)
    with pytest.raises(RateLimitedError) as caught:
        await provider.status(submitted.task_id)
    assert caught.value.retry_after == 5.0


@pytest.mark.parametrize(
    ("status", "kind"), [(404, NotFoundError), (500, UnavailableError), (502, UnavailableError)]
)
async def test_content_errors(
    fake: FakeOpenRouter, provider: OpenRouterProvider, status: int, kind: type[ProviderError]
) -> None:
    fake.script = JobScript(polls=0)
    done = await provider.status((await provider.submit(make_job())).task_id)
    fake.fail_next("content", status, message="Provider error")
    with pytest.raises(kind) as caught:
        await collect(provider, done)
    assert caught.value.http_status == status


async def test_expired_or_non_mp4_content(fake: FakeOpenRouter, provider: OpenRouterProvider) -> None:
    fake.script = JobScript(polls=0)
    done = await provider.status((await provider.submit(make_job())).task_id)
    fake.video_bytes = b"<html>" + b"x" * 100
    with pytest.raises(UnavailableError, match="other than an MP4"):
        await collect(provider, done)
    fake.expired = True
    with pytest.raises(NotFoundError) as caught:
        await collect(provider, done)
    assert caught.value.http_status == 404


@pytest.mark.parametrize("declare_length", [True, False])
async def test_a_large_download_stops_at_the_cap(
    fake: FakeOpenRouter, provider: OpenRouterProvider, declare_length: bool
) -> None:
    fake.script = JobScript(polls=0)
    fake.declare_length = declare_length
    done = await provider.status((await provider.submit(make_job())).task_id)
    with pytest.raises(MediaTooLargeError):
        await collect(provider, done, max_bytes=len(fake.video_bytes) - 1)


async def test_a_slow_download_streams_what_has_arrived(
    fake: FakeOpenRouter, provider: OpenRouterProvider
) -> None:
    fake.script = JobScript(polls=0)
    fake.hold_download = asyncio.Event()
    done = await provider.status((await provider.submit(make_job())).task_id)
    chunks = provider.download(done, max_bytes=10_000_000)
    first = await anext(chunks)
    assert first.startswith(fake.video_bytes[:8]) and fake.downloads_finished == 0
    fake.hold_download.set()
    rest = b"".join([chunk async for chunk in chunks])
    assert first + rest == fake.video_bytes and fake.downloads_finished == 1


async def test_callbacks_need_the_secret(
    fake: FakeOpenRouter, sleeps: Sleeps, provider: OpenRouterProvider
) -> None:
    callback = "https://bot.example/callbacks/openrouter/token"
    await provider.submit(make_job(callback_url=callback))
    assert "callback_url" not in fake.seen[-1].json, "no URL for deliveries that could not be verified"
    headers, body = fake.webhook("job-0001", SECRET, timestamp=int(NOW))
    with pytest.raises(CallbackRejected, match="OPENROUTER_WEBHOOK_SECRET"):
        provider.parse_callback(headers, body)

    adapter = make_provider(fake, sleeps, webhook_secret=SECRET, clock=lambda: NOW + 30)
    try:
        await adapter.submit(make_job(callback_url=callback))
        assert fake.seen[-1].json["callback_url"] == callback
        await adapter.submit(make_job(callback_url="http://bot.example/callbacks/openrouter/token"))
        assert "callback_url" not in fake.seen[-1].json, "OpenRouter takes HTTPS callbacks only"
        event = adapter.parse_callback(headers, body)
        assert event.task_id == "job-0001" and event.status is not None
        assert (event.status.state, event.status.cost_usd) == (TaskState.SUCCEEDED, 0.5)
        assert event.status.result == ResultRef(
            f"{fake.base_url}/videos/job-0001/content?index=0", "video/mp4"
        )
        for status, state in (("failed", TaskState.FAILED), ("cancelled", TaskState.FAILED)):
            signed, payload = fake.webhook("job-0002", SECRET, timestamp=int(NOW), status=status)
            parsed = adapter.parse_callback(signed, payload)
            assert parsed.status is not None and parsed.status.state is state
        with pytest.raises(CallbackRejected):
            adapter.parse_callback(headers, body.replace(b"job-0001", b"job-0002"))
        with pytest.raises(CallbackRejected):
            adapter.parse_callback(*fake.webhook("job-0001", SECRET, timestamp=int(NOW) - 400))
    finally:
        await adapter.close()


async def test_running_jobs_cannot_be_cancelled(provider: OpenRouterProvider) -> None:
    assert provider.can_cancel is False
    assert await provider.cancel("job-0001") is False


async def test_close_closes_the_session(fake: FakeOpenRouter, sleeps: Sleeps) -> None:
    adapter = make_provider(fake, sleeps)
    with pytest.raises(NotFoundError):
        await adapter.status("job-x")
    await adapter.close()
    assert adapter._http._session is not None and adapter._http._session.closed


async def test_settings_build_the_adapter(
    make_settings: Callable[..., Settings], fake: FakeOpenRouter
) -> None:
    settings = make_settings(
        openrouter_api_key=API_KEY, openrouter_base_url=fake.base_url, openrouter_webhook_secret=SECRET
    )
    assert "openrouter" in settings.usable_providers()
    providers = Providers(settings)
    try:
        adapter = providers.for_key("openrouter")
        assert isinstance(adapter, OpenRouterProvider)
        with pytest.raises(CallbackRejected, match="stale"):  # the secret is set; 1970 is too old
            adapter.parse_callback(*fake.webhook("job-0009", SECRET, timestamp=0))
        submitted = await adapter.submit(make_job())
        assert submitted.task_id in fake.jobs
    finally:
        await providers.close()
    with pytest.raises(ValueError, match="OPENROUTER_API_KEY"):
        OpenRouterProvider(ProviderConfig("openrouter", fake.base_url, None, 30))


def test_shipped_openrouter_routes_take_text_only_and_come_last() -> None:
    catalog = load_catalog()
    routes = {m.key: m.routes for m in catalog.models}
    found = {key: r for key, rs in routes.items() for r in rs if r.provider == "openrouter"}
    assert set(found) >= {"veo-3.1"}
    for key, route in found.items():
        assert route.modes == ["t2v"], key
        assert route.priority > max(r.priority for r in routes[key] if r.provider != "openrouter"), key
    assert found["veo-3.1"].model_id == "google/veo-3.1"
    assert float(found["veo-3.1"].cost_usd_per_second) == 0.40
