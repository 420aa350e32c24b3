"""Kling official API adapter: the JWT, pure request building and response parsing (table-driven), then
the real adapter against the loopback fake for each documented behaviour, callbacks included."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import io
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import ClientSession, web
from PIL import Image
from pydantic import SecretStr

from services.catalog import Route
from services.http import HttpResponse, ProviderHttp
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
    SubmitJob,
    TaskState,
    TaskStatus,
    UnauthorizedError,
    UnavailableError,
    UncertainSubmitError,
)
from services.providers.descriptor import Callbacks, ProviderConfig
from services.providers.kling import (
    DESCRIPTOR,
    RATE_LIMIT_BACKOFF,
    TOKEN_LIFETIME,
    TOKEN_REFRESH_MARGIN,
    KlingProvider,
    TokenCache,
    build_create_body,
    classify,
    classify_download,
    make_token,
    parse_callback_body,
    parse_created,
    parse_poll,
    split_task_id,
)
from services.video_request import VideoRequest
from storage.errors import MediaTooLargeError
from tests.fakes.providers.kling import (
    ACCESS_KEY,
    FAULT_MESSAGE,
    HTTP_STATUS,
    OTHER_MESSAGE,
    POLICY_MESSAGE,
    SECRET_KEY,
    FakeKling,
    Script,
    verify_token,
)
from tests.fakes.sleeps import Sleeps

NOW = 1_780_000_000.0
REQUEST_ID = "3f2b8c1e-6d4a-4f7b-9a1c-2e5d8f0b7a64"
SENT = datetime(2026, 6, 6, 10, 0, tzinfo=UTC)
URL = "https://cdn.klingai.com/bs2/upload-kling-api/1.mp4"
JPEG = InputImage(b"\xff\xd8\xff\xe0first-frame", "image/jpeg", 1280, 720)
PNG = InputImage(b"\x89PNG\r\n\x1a\nlast-frame", "image/png", 1280, 720)


def b64(image: InputImage) -> str:
    return base64.b64encode(image.data).decode()


def make_job(
    mode: str = "t2v",
    *,
    model_id: str = "kling-v2-5-turbo",
    params: dict[str, Any] | None = None,
    prompt: str = "a red fox runs through fresh snow",
    negative: str | None = None,
    duration: int | None = 5,
    aspect_ratio: str | None = "16:9",
    resolution: str | None = None,
    audio: bool | None = None,
    first: InputImage | None = None,
    last: InputImage | None = None,
    callback: str | None = None,
    request_id: str = REQUEST_ID,
) -> SubmitJob:
    request = VideoRequest(
        model="kling-2.5",
        mode=mode,  # type: ignore[arg-type]
        prompt=prompt,
        negative_prompt=negative,
        duration=duration,
        aspect_ratio=aspect_ratio,
        resolution=resolution,
        audio=audio,
    )
    route = Route(provider="kling", model_id=model_id, params={"mode": "pro"} if params is None else params)
    return SubmitJob(
        request=request,
        route=route,
        first_frame=first,
        last_frame=last,
        callback_url=callback,
        request_id=request_id,
    )


def unpadded(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


# ------------------------------------------------------------------------------------------------ JWT


def test_token_is_an_hs256_jwt_issued_by_the_access_key() -> None:
    token = make_token(ACCESS_KEY, SECRET_KEY, now=NOW)
    header, payload, signature = token.split(".")
    assert "=" not in token, "base64url without padding"
    assert json.loads(unpadded(header)) == {"alg": "HS256", "typ": "JWT"}
    assert json.loads(unpadded(payload)) == {"iss": ACCESS_KEY, "exp": int(NOW) + 1800, "nbf": int(NOW) - 5}
    expected = hmac.new(SECRET_KEY.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert unpadded(signature) == expected


@pytest.mark.parametrize(
    ("minted_with", "checked_at", "code"),
    [
        (SECRET_KEY, NOW, None),
        (SECRET_KEY, NOW - 4, None),
        (SECRET_KEY, NOW - 6, 1003),
        (SECRET_KEY, NOW + TOKEN_LIFETIME - 1, None),
        (SECRET_KEY, NOW + TOKEN_LIFETIME, 1004),
        ("another-secret", NOW, 1002),
    ],
)
def test_the_fakes_own_verifier_accepts_the_token_only_while_valid(
    minted_with: str, checked_at: float, code: int | None
) -> None:
    token = make_token(ACCESS_KEY, minted_with, now=NOW)
    verdict = verify_token(f"Bearer {token}", access_key=ACCESS_KEY, secret_key=SECRET_KEY, now=checked_at)
    assert verdict == code


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, 1001),
        ("", 1001),
        ("Bearer not-a-jwt", 1002),
        ("Basic a.b.c", 1002),
        (f"Bearer {make_token('someone-else', SECRET_KEY, now=NOW)}", 1002),
    ],
)
def test_the_fake_refuses_missing_and_malformed_tokens(header: str | None, code: int) -> None:
    assert verify_token(header, access_key=ACCESS_KEY, secret_key=SECRET_KEY, now=NOW) == code


@dataclass
class Clock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now


def test_token_cache_reuses_a_token_until_shortly_before_it_expires() -> None:
    clock = Clock()
    cache = TokenCache(ACCESS_KEY, SECRET_KEY, clock=clock)
    first = cache.token()
    clock.now += TOKEN_LIFETIME - TOKEN_REFRESH_MARGIN - 1
    assert cache.token() == first
    clock.now += 1
    second = cache.token()
    assert second != first
    assert json.loads(unpadded(second.split(".")[1]))["exp"] == int(clock.now) + TOKEN_LIFETIME
    clock.now += 1
    assert cache.token() == second
    cache.forget()
    assert cache.token() != second
    assert set(cache.secrets) == {ACCESS_KEY, SECRET_KEY, cache.token()}


# ------------------------------------------------------------------------------------- request building

BASE = {"model_name": "kling-v2-5-turbo", "prompt": "a red fox runs through fresh snow", "mode": "pro"}


@pytest.mark.parametrize(
    ("job", "family", "body"),
    [
        (
            make_job(),
            "text2video",
            {**BASE, "duration": "5", "aspect_ratio": "16:9", "external_task_id": REQUEST_ID},
        ),
        (
            make_job(
                params={},
                resolution="720p",
                duration=10,
                aspect_ratio="1:1",
                negative="blurry, text",
                callback="https://bot.example/callbacks/kling/t",
                request_id="",
            ),
            "text2video",
            {
                **BASE,
                "mode": "std",
                "duration": "10",
                "aspect_ratio": "1:1",
                "negative_prompt": "blurry, text",
                "callback_url": "https://bot.example/callbacks/kling/t",
            },
        ),
        (
            make_job(params={}, resolution=None, duration=None, aspect_ratio=None),
            "text2video",
            {**{k: v for k, v in BASE.items() if k != "mode"}, "external_task_id": REQUEST_ID},
        ),
        (
            make_job(model_id="kling-v1-6", params={"mode": "pro", "cfg_scale": 0.7, "adapter": "kling"}),
            "text2video",
            {
                **BASE,
                "model_name": "kling-v1-6",
                "duration": "5",
                "aspect_ratio": "16:9",
                "cfg_scale": 0.7,
                "external_task_id": REQUEST_ID,
            },
        ),
        (
            make_job(params={"mode": "pro", "cfg_scale": 0.7}),
            "text2video",
            {**BASE, "duration": "5", "aspect_ratio": "16:9", "external_task_id": REQUEST_ID},
        ),
        (
            make_job(model_id="kling-v3", params={"mode": "std"}, duration=12, audio=True),
            "text2video",
            {
                **BASE,
                "model_name": "kling-v3",
                "mode": "std",
                "duration": "12",
                "aspect_ratio": "16:9",
                "sound": "on",
                "external_task_id": REQUEST_ID,
            },
        ),
        (
            make_job("i2v", first=JPEG, last=PNG, resolution="1080p", prompt=""),
            "image2video",
            {
                "model_name": "kling-v2-5-turbo",
                "mode": "pro",
                "duration": "5",
                "image": b64(JPEG),
                "external_task_id": "i2v-" + REQUEST_ID,
            },
        ),
        (
            make_job("fl2v", first=JPEG, last=PNG, audio=False),
            "image2video",
            {
                **BASE,
                "duration": "5",
                "image": b64(JPEG),
                "image_tail": b64(PNG),
                "external_task_id": "i2v-" + REQUEST_ID,
            },
        ),
    ],
    ids=["t2v", "std-by-resolution", "defaults", "cfg-scale", "no-cfg-on-v2", "v3-sound", "i2v", "fl2v"],
)
def test_create_body(job: SubmitJob, family: str, body: dict[str, Any]) -> None:
    assert build_create_body(job) == (family, body)


def test_webp_is_sent_as_jpeg_base64_without_a_data_prefix() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 360), (200, 40, 40)).save(buffer, "WEBP")
    webp = InputImage(buffer.getvalue(), "image/webp", 640, 360)
    _family, body = build_create_body(make_job("i2v", first=webp))
    assert not body["image"].startswith("data:")
    assert base64.b64decode(body["image"]).startswith(b"\xff\xd8\xff")


@pytest.mark.parametrize(
    ("job", "reason"),
    [
        (make_job("ref2v"), "no ref2v mode"),
        (make_job("extend"), "no extend mode"),
        (make_job(prompt="  "), "needs a prompt"),
        (make_job(prompt="x" * 2501), "longer than 2500"),
        (make_job(negative="x" * 2501), "negative prompt is longer"),
        (make_job(duration=7), "does not make 7-second"),
        (make_job(model_id="kling-v3", duration=16), "does not make 16-second"),
        (make_job(aspect_ratio="4:3"), "aspect ratio 4:3"),
        (make_job(resolution="4k"), "not 4k"),
        (make_job(resolution="720p"), "renders pro, which is not 720p"),
        (make_job(params={"mode": "ultra"}), "std or pro"),
        (make_job(params={"mode": "pro", "cfg_scale": 1.5}), "cfg_scale"),
        (make_job(params={"mode": "pro", "cfg_scale": True}), "cfg_scale"),
        (make_job("i2v"), "needs a first frame"),
        (make_job("fl2v", first=JPEG), "needs a last frame"),
        (make_job("fl2v", first=JPEG, last=PNG, params={"mode": "std"}), "std takes no last frame"),
        (make_job("fl2v", model_id="kling-v2-master", first=JPEG, last=PNG), "takes no last frame"),
        (make_job("fl2v", model_id="kling-v1", first=JPEG, last=PNG, duration=10), "5 seconds only"),
        (make_job(audio=True), "makes no sound"),
        (make_job(model_id="kling-v2-6", params={"mode": "std"}, audio=True), "makes no sound"),
        (make_job("fl2v", model_id="kling-v2-6", first=JPEG, last=PNG, audio=True), "makes no sound"),
        (make_job("i2v", first=InputImage(b"GIF89a", "image/gif", 400, 400)), "not image/gif"),
        (make_job("i2v", first=InputImage(JPEG.data, "image/jpeg", 299, 720)), "at least 300 px"),
        (make_job("i2v", first=InputImage(JPEG.data, "image/jpeg", 2000, 600)), "between 1:2.5 and 2.5:1"),
        (
            make_job("i2v", first=InputImage(JPEG.data + bytes(10 * 1024 * 1024), "image/jpeg", 800, 800)),
            "too large",
        ),
    ],
)
def test_refused_before_anything_is_sent(job: SubmitJob, reason: str) -> None:
    with pytest.raises(InvalidRequestError, match=reason) as caught:
        build_create_body(job)
    assert not caught.value.failover


# ---------------------------------------------------------------------------------------- error mapping


def answer(
    status: int, code: int | None, message: str = "msg", headers: dict[str, str] | None = None
) -> HttpResponse:
    body = {"code": code, "message": message, "request_id": "r"} if code is not None else {}
    return HttpResponse(status, headers or {}, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("code", "error", "failover"),
    [
        (1000, UnauthorizedError, True),
        (1001, UnauthorizedError, True),
        (1002, UnauthorizedError, True),
        (1003, UnauthorizedError, True),
        (1004, UnauthorizedError, True),
        (1100, UnauthorizedError, True),
        (1101, OutOfBalanceError, True),
        (1102, OutOfBalanceError, True),
        (1103, UnauthorizedError, True),
        (1200, InvalidRequestError, False),
        (1201, InvalidRequestError, False),
        (1202, InvalidRequestError, False),
        (1203, NotFoundError, True),
        (1300, InvalidRequestError, False),
        (1301, ContentPolicyError, False),
        (1302, RateLimitedError, False),
        (1303, RateLimitedError, False),
        (1304, UnauthorizedError, True),
        (5000, UnavailableError, True),
        (5001, UnavailableError, True),
        (5002, UnavailableError, True),
    ],
)
def test_classify_reads_the_service_code(code: int, error: type[ProviderError], failover: bool) -> None:
    mapped = classify(answer(HTTP_STATUS[code], code, "the reason"))
    assert type(mapped) is error
    assert (mapped.code, mapped.http_status, mapped.message) == (str(code), HTTP_STATUS[code], "the reason")
    assert mapped.failover is failover


def test_classify_rate_limits_back_off_at_least_a_second_or_as_told() -> None:
    assert classify(answer(429, 1303)).retry_after == RATE_LIMIT_BACKOFF
    assert classify(answer(429, 1302, headers={"Retry-After": "4"})).retry_after == 4.0


@pytest.mark.parametrize(
    ("response", "error", "code"),
    [
        (answer(403, 1999), UnauthorizedError, "1999"),
        (answer(400, 1299), InvalidRequestError, "1299"),
        (answer(502, None), UnavailableError, "502"),
        (HttpResponse(502, {}, b"<html>Bad gateway</html>"), UnavailableError, "502"),
        (HttpResponse(404, {}, b"not json"), NotFoundError, "404"),
        (answer(500, "5000"), UnavailableError, "5000"),  # type: ignore[arg-type]
    ],
)
def test_classify_unknown_codes_and_bodies_by_http_status(
    response: HttpResponse, error: type[ProviderError], code: str
) -> None:
    mapped = classify(response)
    assert (type(mapped), mapped.code) == (error, code)


@pytest.mark.parametrize("status", [403, 404, 410])
def test_deleted_results_are_not_found(status: int) -> None:
    mapped = classify_download(HttpResponse(status, {}, b"<Error/>"))
    assert (type(mapped), mapped.code) == (NotFoundError, "expired")
    assert type(classify_download(HttpResponse(503, {}, b""))) is UnavailableError


# ------------------------------------------------------------------------------------ response parsing


def envelope(data: Any, code: int = 0) -> dict[str, Any]:
    return {"code": code, "message": "SUCCEED", "request_id": "r", "data": data}


def test_parse_created() -> None:
    created = parse_created(envelope({"task_id": "8001", "task_status": "submitted"}), "image2video")
    assert created.task_id == "image2video:8001"
    assert created.status.state is TaskState.QUEUED
    assert parse_created(envelope({"task_id": 8002}), "text2video").task_id == "text2video:8002"


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (envelope(None, 1301), ContentPolicyError),
        (envelope(None, 1102), OutOfBalanceError),
        (envelope(None, 5001), UnavailableError),
        (envelope(None, 5000), UncertainSubmitError),
        (envelope(None, 5002), UncertainSubmitError),
        (envelope({"task_status": "submitted"}), UncertainSubmitError),
        (envelope({"task_id": ""}), UncertainSubmitError),
        ({"message": "no code"}, UncertainSubmitError),
        (None, UncertainSubmitError),
    ],
)
def test_parse_created_refusals_and_uncertain_answers(payload: Any, error: type[ProviderError]) -> None:
    with pytest.raises(error):
        parse_created(payload, "text2video")


@dataclass(frozen=True)
class Expect:
    state: TaskState
    url: str | None = None
    error_code: str | None = None
    content_policy: bool = False
    provider_fault: bool = False
    duration: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self, status: TaskStatus) -> None:
        assert status.state is self.state
        assert (status.result.url if status.result else None) == self.url
        assert status.error_code == self.error_code
        assert (status.content_policy, status.provider_fault) == (self.content_policy, self.provider_fault)
        assert status.cost_usd is None, "Kling reports units, not dollars"
        if self.state is TaskState.FAILED:
            assert status.error_message
        if status.result is not None:
            assert status.result.duration == self.duration
            assert dict(status.result.extra) == self.extra


def task(status: str, **fields: Any) -> dict[str, Any]:
    return envelope({"task_id": "8001", "task_status": status, **fields})


@pytest.mark.parametrize(
    ("payload", "expect"),
    [
        (task("submitted"), Expect(TaskState.QUEUED)),
        (task("processing"), Expect(TaskState.RUNNING)),
        (task("rendering"), Expect(TaskState.RUNNING)),
        (
            task(
                "succeed",
                task_result={"videos": [{"id": "v1", "url": URL, "watermark_url": "", "duration": "5.1"}]},
                final_unit_deduction="2",
            ),
            Expect(
                TaskState.SUCCEEDED, URL, duration=5.1, extra={"video_id": "v1", "final_unit_deduction": "2"}
            ),
        ),
        (
            task("succeeded", task_result={"videos": [{"url": "ftp://x"}, {"url": URL, "duration": "n/a"}]}),
            Expect(TaskState.SUCCEEDED, URL),
        ),
        (task("succeed", task_result={"videos": []}), Expect(TaskState.FAILED, error_code="no_video")),
        (task("succeed"), Expect(TaskState.FAILED, error_code="no_video")),
        (task("succeed", task_result={"videos": "none"}), Expect(TaskState.FAILED, error_code="no_video")),
        (
            task("failed", task_status_msg=POLICY_MESSAGE),
            Expect(TaskState.FAILED, error_code="content_risk", content_policy=True),
        ),
        (
            task("failed", task_status_msg="输入内容涉及敏感信息"),
            Expect(TaskState.FAILED, error_code="content_risk", content_policy=True),
        ),
        (
            task("failed", task_status_msg=FAULT_MESSAGE),
            Expect(TaskState.FAILED, error_code="failed", provider_fault=True),
        ),
        (task("failed", task_status_msg=OTHER_MESSAGE), Expect(TaskState.FAILED, error_code="failed")),
        (task("failed"), Expect(TaskState.FAILED, error_code="failed")),
    ],
)
def test_parse_poll(payload: Any, expect: Expect) -> None:
    expect.check(parse_poll(payload))


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (envelope(None, 1203), NotFoundError),
        (envelope(None, 1004), UnauthorizedError),
        (envelope(None), UnavailableError),
        ({"message": "no code"}, UnavailableError),
        ("<html>", UnavailableError),
    ],
)
def test_parse_poll_raises_when_the_call_failed(payload: Any, error: type[ProviderError]) -> None:
    with pytest.raises(error):
        parse_poll(payload)


@pytest.mark.parametrize(
    ("task_id", "split"),
    [("text2video:8001", ("text2video", "8001")), ("image2video:8:1", ("image2video", "8:1"))],
)
def test_task_ids_carry_the_family(task_id: str, split: tuple[str, str]) -> None:
    assert split_task_id(task_id) == split


@pytest.mark.parametrize("task_id", ["8001", "omni-video:8001", "text2video:", ""])
def test_foreign_task_ids_are_not_found(task_id: str) -> None:
    with pytest.raises(NotFoundError):
        split_task_id(task_id)


CALLBACK = {
    "task_id": "8001",
    "task_status": "succeed",
    "task_status_msg": "",
    "created_at": 1722769557708,
    "updated_at": 1722769557708,
    "final_unit_deduction": "1",
    "task_info": {"external_task_id": REQUEST_ID, "parent_video": None},
    "task_result": {"images": [], "videos": [{"id": "v1", "url": URL, "duration": "5"}]},
}


@pytest.mark.parametrize(
    ("payload", "task_id", "state"),
    [
        (CALLBACK, "text2video:8001", TaskState.SUCCEEDED),
        (
            {**CALLBACK, "task_info": {"external_task_id": "i2v-" + REQUEST_ID}},
            "image2video:8001",
            TaskState.SUCCEEDED,
        ),
        ({**CALLBACK, "task_info": {}}, "text2video:8001", TaskState.SUCCEEDED),
        ({k: v for k, v in CALLBACK.items() if k != "task_info"}, "text2video:8001", TaskState.SUCCEEDED),
        (
            {"task_id": "8002", "task_status": "failed", "task_status_msg": POLICY_MESSAGE},
            "text2video:8002",
            TaskState.FAILED,
        ),
        (
            {"code": 0, "data": {"task_id": "8003", "task_status": "processing"}},
            "text2video:8003",
            TaskState.RUNNING,
        ),
    ],
    ids=["t2v", "i2v", "empty-info", "no-info", "failed", "enveloped"],
)
def test_parse_callback(payload: dict[str, Any], task_id: str, state: TaskState) -> None:
    event = parse_callback_body(json.dumps(payload).encode())
    assert event.task_id == task_id
    assert event.status is not None and event.status.state is state


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'"8001"',
        json.dumps({"task_status": "succeed"}).encode(),
        json.dumps({"task_id": "", "task_status": "succeed"}).encode(),
        json.dumps({"task_id": True, "task_status": "succeed"}).encode(),
        json.dumps({"task_id": "8001"}).encode(),
        json.dumps({"task_id": "8001", "task_status": 3}).encode(),
        json.dumps({**CALLBACK, "task_info": "x"}).encode(),
        json.dumps({**CALLBACK, "task_info": {"external_task_id": 5}}).encode(),
        json.dumps({"code": 0, "data": "8001"}).encode(),
    ],
)
def test_malformed_callbacks_are_rejected(body: bytes) -> None:
    with pytest.raises(CallbackRejected):
        parse_callback_body(body)


def test_descriptor_keeps_both_keys_and_takes_per_task_callbacks() -> None:
    assert DESCRIPTOR.adapters == {"kling": KlingProvider}
    assert DESCRIPTOR.callbacks is Callbacks.PER_TASK
    assert DESCRIPTOR.key == "access_key"
    assert [(s.name, s.partner) for s in DESCRIPTOR.settings] == [("secret_key", "access_key")]
    assert KlingProvider.can_cancel is False and KlingProvider.finds_submitted is True


def test_both_keys_are_required() -> None:
    for key, secret in ((None, SECRET_KEY), (SecretStr(ACCESS_KEY), None), (SecretStr(ACCESS_KEY), "")):
        with pytest.raises(ValueError, match="KLING_ACCESS_KEY and KLING_SECRET_KEY"):
            KlingProvider(
                ProviderConfig("kling", "https://api-singapore.klingai.com", key, 30), secret_key=secret
            )


# --------------------------------------------------------------------------------- against the fake API


@pytest.fixture
async def fake() -> AsyncIterator[FakeKling]:
    server = FakeKling()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


MakeProvider = Callable[..., KlingProvider]


@pytest.fixture
async def make_provider(fake: FakeKling, sleeps: Sleeps) -> AsyncIterator[MakeProvider]:
    made: list[KlingProvider] = []

    def make(
        *,
        access_key: str = ACCESS_KEY,
        secret_key: str = SECRET_KEY,
        clock: Callable[[], float] | None = None,
        read_timeout: float = 5.0,
    ) -> KlingProvider:
        http = ProviderHttp("kling", fake.api_url, sleep=sleeps, backoff_base=0, read_timeout=read_timeout)
        config = ProviderConfig("kling", fake.api_url, SecretStr(access_key), 30)
        provider = KlingProvider(config, secret_key=secret_key, http=http, clock=clock or fake.clock)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.close()


@pytest.fixture
async def provider(make_provider: MakeProvider) -> KlingProvider:
    return make_provider()


async def run_to_end(provider: KlingProvider, task_id: str, *, limit: int = 10) -> list[TaskStatus]:
    seen = []
    for _ in range(limit):
        seen.append(await provider.status(task_id))
        if seen[-1].state in (TaskState.SUCCEEDED, TaskState.FAILED):
            return seen
    raise AssertionError(f"still running after {limit} polls: {seen}")


async def read_all(provider: KlingProvider, status: TaskStatus, *, max_bytes: int = 1 << 20) -> bytes:
    return b"".join([chunk async for chunk in provider.download(status, max_bytes=max_bytes)])


async def test_text_to_video_succeeds_after_polls_and_downloads_without_the_token(
    fake: FakeKling, provider: KlingProvider
) -> None:
    fake.script(Script(queued=1, polls=2))
    submitted = await provider.submit(make_job(negative="blurry"))
    family, kling_id = split_task_id(submitted.task_id)
    assert (family, submitted.status.state) == ("text2video", TaskState.QUEUED)
    assert fake.calls[0].path == "/v1/videos/text2video"
    assert fake.create_bodies() == [build_create_body(make_job(negative="blurry"))[1]]
    assert fake.tasks[kling_id].external_task_id == REQUEST_ID
    seen = await run_to_end(provider, submitted.task_id)
    assert [s.state for s in seen] == [
        TaskState.QUEUED,
        TaskState.RUNNING,
        TaskState.RUNNING,
        TaskState.SUCCEEDED,
    ]
    final = seen[-1]
    assert final.result is not None and final.result.url == fake.video_url(kling_id)
    assert (final.result.duration, final.result.extra["final_unit_deduction"]) == (5.1, "2")
    assert await read_all(provider, final) == fake.video_bytes(kling_id)
    assert fake.file_requests == [(f"/videos/{kling_id}.mp4", None)], "the token stays on the API host"
    assert len(set(fake.tokens())) == 1, "one cached token for every call"


@pytest.mark.parametrize(
    ("job", "keys"),
    [
        (make_job("i2v", first=JPEG, aspect_ratio="9:16"), {"image": JPEG}),
        (make_job("fl2v", first=JPEG, last=PNG), {"image": JPEG, "image_tail": PNG}),
    ],
    ids=["i2v", "fl2v"],
)
async def test_image_to_video_sends_raw_base64_and_polls_its_family(
    fake: FakeKling, provider: KlingProvider, job: SubmitJob, keys: dict[str, InputImage]
) -> None:
    submitted = await provider.submit(job)
    family, kling_id = split_task_id(submitted.task_id)
    assert family == "image2video" and fake.calls[0].path == "/v1/videos/image2video"
    (body,) = fake.create_bodies()
    assert "aspect_ratio" not in body
    assert {k: base64.b64decode(body[k]) for k in keys} == {k: image.data for k, image in keys.items()}
    final = (await run_to_end(provider, submitted.task_id))[-1]
    assert final.state is TaskState.SUCCEEDED
    assert fake.calls[-1].path == f"/v1/videos/image2video/{kling_id}"


@pytest.mark.parametrize(
    ("outcome", "expect"),
    [
        ("policy", Expect(TaskState.FAILED, error_code="content_risk", content_policy=True)),
        ("fault", Expect(TaskState.FAILED, error_code="failed", provider_fault=True)),
        ("other", Expect(TaskState.FAILED, error_code="failed")),
        ("no_video", Expect(TaskState.FAILED, error_code="no_video")),
    ],
)
async def test_tasks_that_end_without_a_video(
    fake: FakeKling, provider: KlingProvider, outcome: str, expect: Expect
) -> None:
    fake.script(Script(polls=1, outcome=outcome))  # type: ignore[arg-type]
    submitted = await provider.submit(make_job())
    final = (await run_to_end(provider, submitted.task_id))[-1]
    expect.check(final)


@pytest.mark.parametrize(
    ("code", "error", "failover"),
    [
        (1102, OutOfBalanceError, True),
        (1101, OutOfBalanceError, True),
        (1301, ContentPolicyError, False),
        (1300, InvalidRequestError, False),
        (1201, InvalidRequestError, False),
        (1103, UnauthorizedError, True),
        (1203, NotFoundError, True),
        (1304, UnauthorizedError, True),
    ],
)
async def test_create_refusals_are_typed_and_not_resent(
    fake: FakeKling, provider: KlingProvider, code: int, error: type[ProviderError], failover: bool
) -> None:
    fake.fail_next(code, endpoint="create")
    with pytest.raises(error) as caught:
        await provider.submit(make_job())
    assert (caught.value.code, caught.value.http_status) == (str(code), HTTP_STATUS[code])
    assert caught.value.failover is failover
    assert fake.creates() == 1 and fake.tasks == {}


async def test_rate_limits_are_retried_after_a_second_or_the_hint(
    fake: FakeKling, provider: KlingProvider, sleeps: Sleeps
) -> None:
    fake.fail_next(1302, endpoint="create")
    fake.fail_next(1303, endpoint="create", retry_after="3")
    submitted = await provider.submit(make_job())
    assert sleeps == [RATE_LIMIT_BACKOFF, 3.0]
    assert fake.creates() == 3 and split_task_id(submitted.task_id)[1] in fake.tasks


async def test_concurrency_over_the_pack_is_reported_when_it_persists(
    fake: FakeKling, provider: KlingProvider, sleeps: Sleeps
) -> None:
    fake.fail_next(1303, endpoint="create", times=4)
    with pytest.raises(RateLimitedError) as caught:
        await provider.submit(make_job())
    assert "parallel task over resource pack limit" in caught.value.message
    assert len(sleeps) == 3 and fake.tasks == {}


async def test_maintenance_is_retried_and_a_poll_survives_5xx(
    fake: FakeKling, provider: KlingProvider, sleeps: Sleeps
) -> None:
    fake.fail_next(5001, endpoint="create", times=2)
    submitted = await provider.submit(make_job())
    assert fake.creates() == 3
    fake.fail_next(5000, endpoint="query", times=2)
    assert (await provider.status(submitted.task_id)).state is TaskState.RUNNING
    fake.fail_next(5002, endpoint="query", times=4)
    with pytest.raises(UnavailableError) as caught:
        await provider.status(submitted.task_id)
    assert caught.value.failover and len(sleeps) == 2 + 2 + 3


@pytest.mark.parametrize(
    ("code", "http_status", "envelope"),
    [(5000, None, True), (5002, None, True), (0, 502, False), (5000, 200, True)],
    ids=["internal", "timeout", "gateway-html", "internal-http-200"],
)
async def test_a_create_that_may_have_made_the_task_is_uncertain_and_never_resent(
    fake: FakeKling,
    provider: KlingProvider,
    sleeps: Sleeps,
    code: int,
    http_status: int | None,
    envelope: bool,
) -> None:
    fake.fail_next(code, endpoint="create", envelope=envelope, http_status=http_status)
    with pytest.raises(UncertainSubmitError):
        await provider.submit(make_job())
    assert fake.creates() == 1 and sleeps == []


@pytest.mark.parametrize(("mode", "made"), [("t2v", True), ("t2v", False), ("i2v", True), ("fl2v", False)])
async def test_a_malformed_ack_is_uncertain_and_looked_up_by_external_task_id(
    fake: FakeKling, provider: KlingProvider, mode: str, made: bool
) -> None:
    images = {"first": JPEG, "last": PNG} if mode != "t2v" else {}
    fake.break_next_ack("malformed", made=made)
    with pytest.raises(UncertainSubmitError):
        await provider.submit(make_job(mode, **images))
    # The poller rebuilds the job without its images before looking it up.
    found = await provider.find_submitted(make_job(mode), since=SENT)
    assert fake.creates() == 1
    family = "text2video" if mode == "t2v" else "image2video"
    assert fake.calls[-1].path.startswith(f"/v1/videos/{family}/")
    if not made:
        assert found is None
        return
    (task,) = fake.tasks.values()
    assert found is not None and found.task_id == f"{family}:{task.task_id}"
    assert found.status.state is TaskState.RUNNING
    assert (await provider.status(found.task_id)).state is TaskState.SUCCEEDED, "the found id polls"


async def test_a_stalled_ack_is_uncertain_and_found(
    fake: FakeKling, make_provider: MakeProvider, sleeps: Sleeps
) -> None:
    provider = make_provider(read_timeout=0.2)
    fake.break_next_ack("stall")
    with pytest.raises(UncertainSubmitError, match="SocketTimeoutError"):
        await provider.submit(make_job())
    assert fake.creates() == 1 and sleeps == []
    found = await provider.find_submitted(make_job(), since=SENT)
    assert found is not None and split_task_id(found.task_id)[1] in fake.tasks


async def test_a_failed_look_up_raises_and_one_without_an_id_is_final(
    fake: FakeKling, provider: KlingProvider
) -> None:
    fake.fail_next(1004, endpoint="query")
    with pytest.raises(UnauthorizedError):
        await provider.find_submitted(make_job(), since=SENT)
    with pytest.raises(UncertainSubmitError):
        await provider.find_submitted(make_job(request_id=""), since=SENT)


async def test_a_reused_external_task_id_is_refused(fake: FakeKling, provider: KlingProvider) -> None:
    await provider.submit(make_job())
    with pytest.raises(InvalidRequestError, match="external_task_id"):
        await provider.submit(make_job())
    assert len(fake.tasks) == 1


async def test_the_token_is_renewed_before_it_expires(fake: FakeKling, make_provider: MakeProvider) -> None:
    clock = Clock()
    fake.clock = clock
    provider = make_provider(clock=clock)
    submitted = await provider.submit(make_job())
    await provider.status(submitted.task_id)
    clock.now += TOKEN_LIFETIME - TOKEN_REFRESH_MARGIN
    await provider.status(submitted.task_id)
    first, again, renewed = fake.tokens()
    assert first == again != renewed


async def test_an_expired_token_is_unauthorized_and_never_echoed(
    fake: FakeKling, make_provider: MakeProvider
) -> None:
    clock = Clock()
    fake.clock = clock
    provider = make_provider(clock=Clock(NOW - TOKEN_LIFETIME - 60))
    with pytest.raises(UnauthorizedError) as caught:
        await provider.submit(make_job())
    assert (caught.value.code, caught.value.http_status) == ("1004", 401)
    assert caught.value.failover
    token = fake.tokens()[0]
    for secret in (token, SECRET_KEY, ACCESS_KEY):
        assert secret not in repr(caught.value) and secret not in caught.value.message


async def test_a_token_from_a_clock_that_ran_ahead_is_replaced_once_refused(
    fake: FakeKling, make_provider: MakeProvider
) -> None:
    fake.clock = Clock()
    ours = Clock(NOW + 60)
    provider = make_provider(clock=ours)
    with pytest.raises(UnauthorizedError) as caught:
        await provider.submit(make_job())
    assert caught.value.code == "1003"
    ours.now = NOW  # the clock is corrected: the cached token must not be used for another 25 minutes
    submitted = await provider.submit(make_job())
    assert split_task_id(submitted.task_id)[1] in fake.tasks
    assert len(set(fake.tokens())) == 2


async def test_an_echoed_token_is_hidden_even_as_it_is_dropped(
    fake: FakeKling, provider: KlingProvider
) -> None:
    fake.fail_next(1004, endpoint="query", message="token {token} has expired")
    with pytest.raises(UnauthorizedError) as caught:
        await provider.status("text2video:8001")
    (token,) = fake.tokens()
    assert caught.value.message == "token *** has expired"
    assert token not in str(caught.value)


async def test_a_wrong_secret_is_unauthorized_and_never_echoed(
    fake: FakeKling, make_provider: MakeProvider
) -> None:
    provider = make_provider(secret_key="sk-wrong-secret-key")
    fake.fail_next(1002, endpoint="query", message=f"bad token {ACCESS_KEY} sk-wrong-secret-key")
    with pytest.raises(UnauthorizedError) as caught:
        await provider.status("text2video:8001")
    assert caught.value.code == "1002"
    assert "sk-wrong-secret-key" not in str(caught.value) and ACCESS_KEY not in str(caught.value)
    with pytest.raises(UnauthorizedError):
        await provider.submit(make_job())
    assert fake.tasks == {}


async def test_default_construction_signs_every_call(fake: FakeKling) -> None:
    config = ProviderConfig("kling", fake.api_url + "/", SecretStr(ACCESS_KEY), 30)
    provider = KlingProvider(config, secret_key=SECRET_KEY)
    try:
        submitted = await provider.submit(make_job())
        assert (await provider.status(submitted.task_id)).state is TaskState.RUNNING
    finally:
        await provider.close()
    assert all(
        verify_token(call.authorization, access_key=ACCESS_KEY, secret_key=SECRET_KEY, now=fake.clock())
        is None
        for call in fake.calls
    )


async def test_unknown_tasks_and_other_families_are_not_found(
    fake: FakeKling, provider: KlingProvider
) -> None:
    submitted = await provider.submit(make_job())
    _family, kling_id = split_task_id(submitted.task_id)
    for task_id in ("text2video:999", f"image2video:{kling_id}"):
        with pytest.raises(NotFoundError) as caught:
            await provider.status(task_id)
        assert caught.value.code == "1203"


async def test_cancel_is_not_offered(fake: FakeKling, provider: KlingProvider) -> None:
    submitted = await provider.submit(make_job())
    assert await provider.cancel(submitted.task_id) is False
    assert [call.method for call in fake.calls] == ["POST"]


async def test_a_deleted_result_is_not_found(fake: FakeKling, provider: KlingProvider) -> None:
    fake.script(Script(polls=0, file="expired"))
    status = await provider.status((await provider.submit(make_job())).task_id)
    with pytest.raises(NotFoundError) as caught:
        await read_all(provider, status)
    assert caught.value.code == "expired"


@pytest.mark.parametrize("file", ["ok", "chunked"])
async def test_a_large_result_stops_at_the_cap(fake: FakeKling, provider: KlingProvider, file: str) -> None:
    fake.script(Script(polls=0, file=file, video_size=200_000))  # type: ignore[arg-type]
    submitted = await provider.submit(make_job())
    status = await provider.status(submitted.task_id)
    with pytest.raises(MediaTooLargeError):
        await read_all(provider, status, max_bytes=50_000)
    assert await read_all(provider, status, max_bytes=200_000) == fake.video_bytes(
        split_task_id(submitted.task_id)[1]
    )


async def test_download_without_a_result_is_refused(provider: KlingProvider) -> None:
    with pytest.raises(NotFoundError):
        await read_all(provider, TaskStatus(TaskState.RUNNING))


@pytest.mark.parametrize(
    ("family", "body"),
    [
        ("text2video", {"model_name": "kling-v2-5-turbo", "prompt": "p", "duration": 5}),
        ("text2video", {"model_name": "kling-v2-5-turbo", "prompt": ""}),
        ("text2video", {"model_name": "kling-v2-1", "prompt": "p"}),
        ("text2video", {"prompt": "p", "resolution": "1080p"}),
        ("text2video", {"prompt": "p", "model_name": "kling-v2-6", "cfg_scale": 0.5}),
        ("text2video", {"prompt": "p", "model_name": "kling-v2-5-turbo", "sound": "on"}),
        ("image2video", {"prompt": "p", "image": "data:image/png;base64," + b64(PNG)}),
        ("image2video", {"prompt": "p", "image": b64(JPEG), "aspect_ratio": "16:9"}),
        ("image2video", {"prompt": "p"}),
        ("image2video", {"model_name": "kling-v2-5-turbo", "image": b64(JPEG), "image_tail": b64(PNG)}),
        ("image2video", {"image": base64.b64encode(b"GIF89a...").decode()}),
    ],
)
async def test_the_fake_refuses_what_kling_refuses(
    fake: FakeKling, family: str, body: dict[str, Any]
) -> None:
    token = make_token(ACCESS_KEY, SECRET_KEY, now=fake.clock())
    async with (
        ClientSession() as session,
        session.post(
            f"{fake.api_url}/v1/videos/{family}", json=body, headers={"Authorization": f"Bearer {token}"}
        ) as response,
    ):
        payload = await response.json()
    assert (response.status, payload["code"]) == (400, 1201)
    assert fake.tasks == {}


# -------------------------------------------------------------------------------------------- callbacks


@dataclass
class Receiver:
    """The bot's callback endpoint in miniature: parse, answer 401 when rejected, 200 otherwise."""

    provider: KlingProvider | None = None
    events: list[CallbackEvent] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        assert self.provider is not None
        try:
            event = self.provider.parse_callback(request.headers, await request.read())
        except CallbackRejected:
            return web.Response(status=401)
        self.events.append(event)
        return web.Response(text="ok")


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    target = Receiver()
    app = web.Application()
    app.router.add_post("/callbacks/kling/token", target.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield target, f"http://127.0.0.1:{port}/callbacks/kling/token"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("job", "outcome", "state"),
    [
        (make_job(), "success", TaskState.SUCCEEDED),
        (make_job("i2v", first=JPEG), "success", TaskState.SUCCEEDED),
        (make_job("fl2v", first=JPEG, last=PNG), "policy", TaskState.FAILED),
    ],
    ids=["t2v", "i2v", "fl2v-policy"],
)
async def test_callbacks_name_the_task_as_submitted(
    fake: FakeKling,
    provider: KlingProvider,
    receiver: tuple[Receiver, str],
    job: SubmitJob,
    outcome: str,
    state: TaskState,
) -> None:
    target, url = receiver
    target.provider = provider
    fake.script(Script(polls=5, outcome=outcome))  # type: ignore[arg-type]
    submitted = await provider.submit(dataclasses.replace(job, callback_url=url))
    assert fake.create_bodies()[0]["callback_url"] == url
    assert await fake.deliver_callback(split_task_id(submitted.task_id)[1]) == 200
    (event,) = target.events
    assert event.task_id == submitted.task_id
    assert event.status is not None and event.status.state is state
    assert (await provider.status(event.task_id)).state is state, "the poller's re-read agrees"
