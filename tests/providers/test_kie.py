"""KIE.ai Veo 3.1 adapter: pure request building and response parsing (every documented shape and quirk),
then the real adapter against the fake API for each scripted behaviour, callbacks included."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import ClientSession, web
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
from services.providers.descriptor import ProviderConfig
from services.providers.kie import (
    HD_POLL_AFTER,
    UHD_POLL_AFTER,
    UPLOAD_FOLDER,
    KieVeoProvider,
    build_extend_body,
    build_generate_body,
    build_upload_body,
    callback_task_id,
    check_envelope,
    classify,
    classify_download,
    parse_callback_status,
    parse_hd,
    parse_record,
    parse_uhd,
    parse_upload,
    split_task_id,
    task_id_for,
    url_list,
    validate_job,
    verify_signature,
)
from services.video_request import VideoRequest
from storage.errors import MediaTooLargeError
from tests.fakes.providers.kie import (
    API_KEY,
    ENGLISH_MESSAGE,
    FLOW_MESSAGE,
    POLICY_MESSAGE,
    UHD_DONE,
    UHD_PROCESSING,
    UHD_UNAVAILABLE,
    FakeKie,
    Fault,
    TaskScript,
    callback_signature,
)
from tests.fakes.sleeps import Sleeps

NOW = 1_780_000_000.0
HMAC_KEY = "whk-test-secret"
URL = "https://tempfile.aiquickdraw.com/v/veo_task_1.mp4"
URL2 = "https://tempfile.aiquickdraw.com/v/veo_task_1b.mp4"
JPEG = InputImage(b"\xff\xd8\xff\xe0first-frame", "image/jpeg", 1280, 720)
PNG = InputImage(b"\x89PNG\r\n\x1a\nlast-frame", "image/png", 1280, 720)
WEBP = InputImage(b"RIFF\x00\x00\x00\x00WEBPref", "image/webp", 720, 1280)


def make_job(
    mode: str = "t2v",
    *,
    model_id: str = "veo3_fast",
    prompt: str = "a red fox runs through fresh snow",
    resolution: str | None = "720p",
    aspect_ratio: str | None = "16:9",
    duration: int | None = 8,
    seed: int | None = None,
    first: InputImage | None = None,
    last: InputImage | None = None,
    refs: tuple[InputImage, ...] = (),
    source: str | None = None,
    callback: str | None = None,
    translate: bool = False,
    enhance: bool = False,
    route_resolutions: list[str] | None = None,
) -> SubmitJob:
    request = VideoRequest(
        model="veo-3.1-fast" if model_id == "veo3_fast" else "veo-3.1",
        mode=mode,  # type: ignore[arg-type]
        prompt=prompt,
        duration=duration,
        aspect_ratio=aspect_ratio,
        resolution=resolution,
        audio=True,
        seed=seed,
        translate_prompt=translate,
        enhance_prompt=enhance,
    )
    return SubmitJob(
        request=request,
        route=Route(provider="kie", model_id=model_id, resolutions=route_resolutions),
        first_frame=first,
        last_frame=last,
        reference_images=refs,
        source_task_id=source,
        callback_url=callback,
    )


# ------------------------------------------------------------------------------------- request building


@pytest.mark.parametrize(
    ("job", "reason"),
    [
        (make_job(resolution="2k"), "720p, 1080p or 4k, not 2k"),
        (make_job(resolution="4k", route_resolutions=["720p", "1080p"]), "does not offer 4k"),
        (make_job(aspect_ratio="1:1"), "aspect ratio 1:1"),
        (make_job(duration=6), "8-second clips, not 6"),
        (make_job("i2v"), "i2v needs a first frame"),
        (make_job("fl2v", first=JPEG), "fl2v needs a last frame"),
        (make_job("ref2v", model_id="veo3", refs=(JPEG,)), "only with veo3_fast"),
        (make_job("ref2v"), "1 to 3 reference images"),
        (make_job("ref2v", refs=(JPEG,) * 4), "1 to 3 reference images"),
        (make_job("extend"), "needs the KIE task id"),
        (make_job("extend", source="veo_task_1#1080p"), "upgraded to 1080p"),
        (make_job("remix", source="veo_task_1"), "no remix mode"),
        (make_job("i2v", first=InputImage(b"GIF89a", "image/gif", 10, 10)), "not image/gif"),
    ],
)
def test_validate_job_refuses_what_kie_refuses(job: SubmitJob, reason: str) -> None:
    with pytest.raises(InvalidRequestError, match=reason) as caught:
        validate_job(job)
    assert not caught.value.failover


@pytest.mark.parametrize(
    ("job", "images"),
    [
        (make_job(), []),
        (make_job(resolution=None, aspect_ratio=None, duration=None), []),
        (make_job("i2v", first=JPEG, last=PNG), [JPEG]),
        (make_job("fl2v", first=JPEG, last=PNG), [JPEG, PNG]),
        (make_job("ref2v", refs=(JPEG, PNG, WEBP)), [JPEG, PNG, WEBP]),
        (make_job("extend", model_id="veo3", source="veo_task_1"), []),
        (make_job(resolution="1080p", aspect_ratio="9:16"), []),
        (make_job(resolution="4k"), []),
        (make_job(resolution="4k", route_resolutions=["720p", "1080p", "4k"]), []),
        (make_job("extend", source="veo_task_1#4k"), []),
    ],
)
def test_validate_job_returns_the_images_to_upload_in_order(job: SubmitJob, images: list[InputImage]) -> None:
    assert validate_job(job) == images


BASE = {"prompt": "a red fox runs through fresh snow", "enableTranslation": False}


@pytest.mark.parametrize(
    ("job", "urls", "body"),
    [
        (
            make_job(),
            [],
            {**BASE, "model": "veo3_fast", "generationType": "TEXT_2_VIDEO", "aspect_ratio": "16:9"},
        ),
        (
            make_job(model_id="veo3", aspect_ratio="9:16", seed=12345, callback="https://bot.example/cb"),
            [],
            {
                **BASE,
                "model": "veo3",
                "generationType": "TEXT_2_VIDEO",
                "aspect_ratio": "9:16",
                "seeds": 12345,
                "callBackUrl": "https://bot.example/cb",
            },
        ),
        (
            make_job(seed=9999, aspect_ratio=None),
            [],
            {**BASE, "model": "veo3_fast", "generationType": "TEXT_2_VIDEO", "aspect_ratio": "16:9"},
        ),
        (
            make_job(seed=100000),
            [],
            {**BASE, "model": "veo3_fast", "generationType": "TEXT_2_VIDEO", "aspect_ratio": "16:9"},
        ),
        (
            make_job("i2v", first=JPEG, seed=99999),
            [URL],
            {
                **BASE,
                "model": "veo3_fast",
                "generationType": "FIRST_AND_LAST_FRAMES_2_VIDEO",
                "aspect_ratio": "16:9",
                "imageUrls": [URL],
                "seeds": 99999,
            },
        ),
        (
            make_job("fl2v", first=JPEG, last=PNG, seed=10000),
            [URL, URL2],
            {
                **BASE,
                "model": "veo3_fast",
                "generationType": "FIRST_AND_LAST_FRAMES_2_VIDEO",
                "aspect_ratio": "16:9",
                "imageUrls": [URL, URL2],
                "seeds": 10000,
            },
        ),
        (
            make_job("ref2v", refs=(JPEG, PNG)),
            [URL, URL2],
            {
                **BASE,
                "model": "veo3_fast",
                "generationType": "REFERENCE_2_VIDEO",
                "aspect_ratio": "16:9",
                "imageUrls": [URL, URL2],
            },
        ),
        (
            make_job(resolution="1080p", callback="https://bot.example/cb"),
            [],
            {**BASE, "model": "veo3_fast", "generationType": "TEXT_2_VIDEO", "aspect_ratio": "16:9"},
        ),
        (
            make_job(resolution="4k", callback="https://bot.example/cb"),
            [],
            {**BASE, "model": "veo3_fast", "generationType": "TEXT_2_VIDEO", "aspect_ratio": "16:9"},
        ),
        (
            make_job(translate=True),
            [],
            {
                **BASE,
                "enableTranslation": True,
                "model": "veo3_fast",
                "generationType": "TEXT_2_VIDEO",
                "aspect_ratio": "16:9",
            },
        ),
        (
            make_job(enhance=True),
            [],
            {**BASE, "model": "veo3_fast", "generationType": "TEXT_2_VIDEO", "aspect_ratio": "16:9"},
        ),
    ],
    ids=[
        "t2v",
        "quality-9x16-seed-callback",
        "seed-too-low",
        "seed-too-high",
        "i2v",
        "fl2v",
        "ref2v",
        "hd",
        "4k",
        "translate-on",
        "enhance-has-no-kie-field",
    ],
)
def test_generate_body(job: SubmitJob, urls: list[str], body: dict[str, Any]) -> None:
    assert build_generate_body(job, urls) == body


@pytest.mark.parametrize(
    ("job", "body"),
    [
        (
            make_job("extend", model_id="veo3", source="veo_task_1", seed=54321, callback="https://b/cb"),
            {
                "taskId": "veo_task_1",
                "prompt": BASE["prompt"],
                "model": "quality",
                "seeds": 54321,
                "callBackUrl": "https://b/cb",
            },
        ),
        (
            make_job("extend", source="veo_task_2", seed=5),
            {"taskId": "veo_task_2", "prompt": BASE["prompt"], "model": "fast"},
        ),
        (
            make_job("extend", source="veo_task_3#4k", translate=True),
            {"taskId": "veo_task_3", "prompt": BASE["prompt"], "model": "fast"},
        ),
    ],
)
def test_extend_body(job: SubmitJob, body: dict[str, Any]) -> None:
    assert build_extend_body(job) == body


@pytest.mark.parametrize(
    ("kie_id", "resolution", "task_id"),
    [
        ("veo_task_1", "720p", "veo_task_1"),
        ("veo_task_1", None, "veo_task_1"),
        ("abc", "1080p", "abc#1080p"),
        ("abc", "4k", "abc#4k"),
    ],
)
def test_task_id_carries_the_resolution(kie_id: str, resolution: str | None, task_id: str) -> None:
    assert task_id_for(kie_id, resolution) == task_id
    assert split_task_id(task_id) == (kie_id, resolution or "720p")


def test_upload_body_is_a_data_url() -> None:
    body = build_upload_body(PNG, "f.png")
    assert body == {
        "base64Data": "data:image/png;base64,iVBORw0KGgpsYXN0LWZyYW1l",
        "uploadPath": UPLOAD_FOLDER,
        "fileName": "f.png",
    }


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"success": True, "code": 200, "msg": "ok", "data": {"downloadUrl": URL, "fileName": "a"}}, URL),
        ({"code": 200, "msg": "ok", "data": {"fileUrl": URL2}}, URL2),
        ({"code": 200, "msg": "ok", "data": {"downloadUrl": ""}}, UnavailableError),
        ({"code": 200, "msg": "ok", "data": None}, UnavailableError),
        ({"code": 401, "msg": "Unauthorized"}, UnauthorizedError),
        ({"code": 500, "msg": "Server error"}, UnavailableError),
    ],
)
def test_parse_upload(payload: dict[str, Any], expected: str | type[ProviderError]) -> None:
    if isinstance(expected, str):
        assert parse_upload(payload) == expected
    else:
        with pytest.raises(expected):
            parse_upload(payload)


# ---------------------------------------------------------------------------------------- error mapping


@pytest.mark.parametrize(
    ("code", "msg", "error"),
    [
        (400, POLICY_MESSAGE, ContentPolicyError),
        (400, "Public error: unsafe image upload", ContentPolicyError),
        (400, ENGLISH_MESSAGE, InvalidRequestError),
        (400, "Image fetch failed", InvalidRequestError),
        (401, "You do not have access permissions", UnauthorizedError),
        ("402", "Credits insufficient", OutOfBalanceError),
        (402, "Credits insufficient", OutOfBalanceError),
        (404, "Not found", NotFoundError),
        (422, "record is null", NotFoundError),
        (422, FLOW_MESSAGE, ContentPolicyError),
        (422, "model must be one of veo3, veo3_fast", InvalidRequestError),
        (429, "Too many requests", RateLimitedError),
        (451, "Failed to fetch the image", InvalidRequestError),
        (455, "Service under maintenance", UnavailableError),
        (500, "Server error", UnavailableError),
        (501, "Generation failed", UnavailableError),
        (501, "The video was flagged by the safety system", ContentPolicyError),
        (505, "Feature disabled", UnavailableError),
    ],
)
def test_check_envelope_maps_kie_codes(code: int | str, msg: str, error: type[ProviderError]) -> None:
    with pytest.raises(error) as caught:
        check_envelope({"code": code, "msg": msg, "data": None}, retry_after=4.0)
    assert type(caught.value) is error
    assert caught.value.code == str(code)
    assert caught.value.message == msg
    if error is RateLimitedError:
        assert caught.value.retry_after == 4.0


def test_check_envelope_returns_data_and_refuses_what_is_not_an_envelope() -> None:
    assert check_envelope({"code": 200, "msg": "success", "data": {"taskId": "t"}}) == {"taskId": "t"}
    for payload in (None, [], "ok", {"msg": "no code"}, {"code": "two hundred"}):
        with pytest.raises(UnavailableError):
            check_envelope(payload)


@pytest.mark.parametrize(
    ("response", "error", "retry_after"),
    [
        (HttpResponse(429, {"Retry-After": "7"}, b'{"code":429,"msg":"Too many"}'), RateLimitedError, 7.0),
        (HttpResponse(429, {"Retry-After": "7"}, b""), RateLimitedError, 7.0),
        (HttpResponse(502, {}, b"<html>Bad gateway</html>"), UnavailableError, None),
        (HttpResponse(401, {}, b'{"code":401,"msg":"Unauthorized"}'), UnauthorizedError, None),
        (HttpResponse(403, {}, b""), UnauthorizedError, None),
        (
            HttpResponse(400, {}, json.dumps({"code": 422, "msg": FLOW_MESSAGE}).encode()),
            ContentPolicyError,
            None,
        ),
        (HttpResponse(404, {}, b'{"code":200,"msg":"odd"}'), NotFoundError, None),
    ],
)
def test_classify_http_errors(
    response: HttpResponse, error: type[ProviderError], retry_after: float | None
) -> None:
    mapped = classify(response)
    assert type(mapped) is error
    assert mapped.http_status == response.status
    assert mapped.retry_after == retry_after


@pytest.mark.parametrize(
    ("status", "error"), [(403, NotFoundError), (404, NotFoundError), (410, NotFoundError)]
)
def test_expired_result_urls_are_not_found(status: int, error: type[ProviderError]) -> None:
    mapped = classify_download(HttpResponse(status, {}, b"<Error>AccessDenied</Error>"))
    assert type(mapped) is error
    assert mapped.code == "expired"
    assert type(classify_download(HttpResponse(503, {}, b""))) is UnavailableError


# ------------------------------------------------------------------------------------ response parsing


@pytest.mark.parametrize(
    ("value", "urls"),
    [
        ([URL], [URL]),
        (json.dumps([URL, URL2]), [URL, URL2]),
        (f"[{URL}, {URL2}]", [URL, URL2]),
        (f"['{URL}']", [URL]),
        (URL, [URL]),
        ([None, 3, "ftp://x/y.mp4", f" {URL} "], [URL]),
        ("[]", []),
        ("", []),
        ("not a url", []),
        (None, []),
        ({"url": URL}, []),
    ],
)
def test_url_list_accepts_arrays_and_strings(value: Any, urls: list[str]) -> None:
    assert url_list(value) == urls


def record(flag: Any = 1, **data: Any) -> dict[str, Any]:
    return {"code": 200, "msg": "success", "data": {"taskId": "veo_task_1", "successFlag": flag, **data}}


@dataclass(frozen=True)
class Expect:
    state: TaskState
    url: str | None = None
    error_code: str | None = None
    content_policy: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self, status: TaskStatus) -> None:
        assert status.state is self.state
        assert (status.result.url if status.result else None) == self.url
        assert status.error_code == self.error_code
        assert status.content_policy is self.content_policy
        if self.state is TaskState.FAILED:
            assert status.error_message
        for key, value in self.extra.items():
            assert status.result is not None
            assert status.result.extra[key] == value


RUNNING = Expect(TaskState.RUNNING)
NO_VIDEO = Expect(TaskState.FAILED, error_code="no_video")


@pytest.mark.parametrize(
    ("payload", "expect"),
    [
        (record(0, response=None), RUNNING),
        (record(None), RUNNING),
        (record(1, response={"resultUrls": [URL], "resolution": "720p"}), Expect(TaskState.SUCCEEDED, URL)),
        (record("1", response={"resultUrls": [URL]}), Expect(TaskState.SUCCEEDED, URL)),
        (record(1, response=None, resultUrls=json.dumps([URL])), Expect(TaskState.SUCCEEDED, URL)),
        (record(1, response={"fullResultUrls": [URL]}), Expect(TaskState.SUCCEEDED, URL)),
        (record(1, response={"resultUrls": f"[{URL}]"}), Expect(TaskState.SUCCEEDED, URL)),
        (record(1, response=json.dumps({"resultUrls": [URL]})), Expect(TaskState.SUCCEEDED, URL)),
        (
            record(1, response={"resultUrls": [URL], "originUrls": [URL2], "resolution": "1080p"}),
            Expect(TaskState.SUCCEEDED, URL, extra={"resolution": "1080p", "origin_urls": (URL2,)}),
        ),
        (
            record(1, response={"resultUrls": [URL]}, fallbackFlag=True),
            Expect(TaskState.SUCCEEDED, URL, extra={"resolution": "1080p"}),
        ),
        (record(1, response={"resultUrls": []}), NO_VIDEO),
        (record(1, response=None), NO_VIDEO),
        (record(1, response={"resultUrls": "[]"}), NO_VIDEO),
        (
            record(2, errorCode=400, errorMessage=POLICY_MESSAGE),
            Expect(TaskState.FAILED, error_code="400", content_policy=True),
        ),
        (
            record(3, errorCode=501, errorMessage="Generation failed"),
            Expect(TaskState.FAILED, error_code="501"),
        ),
        (record(3, errorCode=None, errorMessage=""), Expect(TaskState.FAILED, error_code="flag_3")),
        (
            {"code": 400, "msg": POLICY_MESSAGE, "data": None},
            Expect(TaskState.FAILED, error_code="400", content_policy=True),
        ),
        ({"code": 400, "msg": ENGLISH_MESSAGE}, Expect(TaskState.FAILED, error_code="400")),
        ({"code": 451, "msg": "Image fetch failed"}, Expect(TaskState.FAILED, error_code="451")),
    ],
)
def test_parse_record(payload: Any, expect: Expect) -> None:
    expect.check(parse_record(payload))


HD_URL = "https://tempfile.aiquickdraw.com/v/veo_task_1_1080p.mp4"
BOTH = {"resultUrls": [URL], "resolution": "720p", "video1080pUrl": HD_URL}


@pytest.mark.parametrize(
    ("payload", "ordered", "url", "resolution"),
    [
        (record(1, response=BOTH), "720p", URL, "720p"),
        (record(1, response=BOTH), "1080p", HD_URL, "1080p"),
        (record(1, response=BOTH), "4k", HD_URL, "1080p"),  # the best below 4k; the 4k step follows
        (record(1, response={"resultUrls": [URL]}, video1080pUrl=HD_URL), "1080p", HD_URL, "1080p"),
        (record(1, response={"video1080pUrl": json.dumps([HD_URL])}), "1080p", HD_URL, "1080p"),
        (record(1, response={"video1080pUrl": HD_URL}), "720p", HD_URL, "1080p"),  # all there is
        (record(1, response={"resultUrls": [URL], "resolution": "1080p"}), "720p", URL, "1080p"),
        (record(1, response={"resultUrls": [URL], "resolution": "4k"}), "4k", URL, "4k"),
        (record(1, response={"resultUrls": [URL]}), "1080p", URL, None),
        (record(1, response=None, info={"resultUrls": [URL]}), "720p", URL, None),
    ],
)
def test_parse_record_prefers_the_ordered_resolution(
    payload: Any, ordered: str, url: str, resolution: str | None
) -> None:
    status = parse_record(payload, ordered=ordered)
    assert status.state is TaskState.SUCCEEDED and status.result is not None
    assert (status.result.url, status.result.extra.get("resolution")) == (url, resolution)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"code": 422, "msg": "record is null"}, NotFoundError),
        ({"code": 422, "msg": "Temporarily supports records within 14 days"}, InvalidRequestError),
        ({"code": 401, "msg": "Unauthorized"}, UnauthorizedError),
        ({"code": 429, "msg": "Too many requests"}, RateLimitedError),
        ({"code": 455, "msg": "Maintenance"}, UnavailableError),
        ({"code": 500, "msg": "Server error"}, UnavailableError),
        ({"code": 200, "msg": "success", "data": None}, UnavailableError),
        ("<html>", UnavailableError),
    ],
)
def test_parse_record_raises_when_the_call_not_the_task_failed(
    payload: Any, error: type[ProviderError]
) -> None:
    with pytest.raises(error):
        parse_record(payload)


@pytest.mark.parametrize(
    ("payload", "expect"),
    [
        ({"code": 200, "msg": "success", "data": {"resultUrl": URL}}, Expect(TaskState.SUCCEEDED, URL)),
        ({"code": 200, "msg": "success", "data": {"video1080pUrl": URL}}, Expect(TaskState.SUCCEEDED, URL)),
        (
            {"code": 200, "msg": "success", "data": {"taskId": "t", "info": {"resultUrls": [URL]}}},
            Expect(TaskState.SUCCEEDED, URL),
        ),
        (
            {"code": 200, "msg": "success", "data": {"info": json.dumps({"resultUrls": f"[{URL}]"})}},
            Expect(TaskState.SUCCEEDED, URL),
        ),
        (
            {"code": 200, "msg": "success", "data": {"resultUrl": "", "video1080pUrl": URL}},
            Expect(TaskState.SUCCEEDED, URL),
        ),
        ({"code": 200, "msg": "success", "data": {"video1080pUrl": "ftp://x/y.mp4"}}, RUNNING),
        ({"code": 200, "msg": "success", "data": {"info": {"resultUrls": []}}}, RUNNING),
        ({"code": 200, "msg": "success", "data": None}, RUNNING),
        ({"code": 400, "msg": "1080P is processing. It should be ready in 1-2 minutes."}, RUNNING),
        ({"code": 422, "msg": "1080p is processing"}, RUNNING),
        (
            {"code": 400, "msg": "The video is not generated successfully"},
            Expect(TaskState.FAILED, error_code="400"),
        ),
        ({"code": 501, "msg": "The 1080P version is unavailable"}, None),
    ],
)
def test_parse_hd(payload: Any, expect: Expect | None) -> None:
    if expect is None:  # a 5xx may pass: raise, so the poller asks again
        with pytest.raises(UnavailableError):
            parse_hd(payload)
        return
    status = parse_hd(payload)
    expect.check(status)
    if status.state is TaskState.SUCCEEDED:
        assert status.result is not None
        assert status.result.extra["resolution"] == "1080p"
    if status.state is TaskState.RUNNING:
        assert status.poll_after == HD_POLL_AFTER


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"code": 429, "msg": "Too many requests"}, RateLimitedError),
        ({"code": 455, "msg": "Maintenance"}, UnavailableError),
        ({"code": 401, "msg": "Unauthorized"}, UnauthorizedError),
        ({"code": 402, "msg": "Credits insufficient"}, OutOfBalanceError),
        ({"msg": "no code"}, UnavailableError),
        (None, UnavailableError),
    ],
)
def test_parse_hd_raises_for_passing_trouble(payload: Any, error: type[ProviderError]) -> None:
    with pytest.raises(error):
        parse_hd(payload)


UHD_URL = "https://tempfile.aiquickdraw.com/v/veo_task_1_4k.mp4"


def uhd(code: int, msg: str, data: Any = None) -> dict[str, Any]:
    return {"code": code, "msg": msg, "data": data}


@pytest.mark.parametrize(
    ("payload", "expect"),
    [
        (uhd(200, "success", {"taskId": "k", "resultUrls": None, "imageUrls": None}), RUNNING),
        (uhd(200, "success"), RUNNING),
        (uhd(422, UHD_PROCESSING), RUNNING),
        (uhd(422, UHD_DONE), RUNNING),  # done, the URLs come with a later answer
        (uhd(422, UHD_DONE, {"taskId": "k", "resultUrls": [UHD_URL]}), Expect(TaskState.SUCCEEDED, UHD_URL)),
        (uhd(200, "success", {"resultUrls": json.dumps([UHD_URL])}), Expect(TaskState.SUCCEEDED, UHD_URL)),
        (
            uhd(200, "4K Video generated successfully.", {"info": {"resultUrls": [UHD_URL]}}),
            Expect(TaskState.SUCCEEDED, UHD_URL),
        ),
        (
            uhd(422, UHD_DONE, {"task_id": "k", "result_urls": [UHD_URL]}),
            Expect(TaskState.SUCCEEDED, UHD_URL),
        ),
        (uhd(422, UHD_DONE, {"info": {"result_urls": f"[{UHD_URL}]"}}), Expect(TaskState.SUCCEEDED, UHD_URL)),
        (uhd(500, UHD_UNAVAILABLE), Expect(TaskState.FAILED, error_code="500")),
        (uhd(400, "The video is not generated successfully"), Expect(TaskState.FAILED, error_code="400")),
        (uhd(422, "record is null"), Expect(TaskState.FAILED, error_code="422")),
    ],
)
def test_parse_uhd(payload: Any, expect: Expect) -> None:
    status = parse_uhd(payload)
    expect.check(status)
    if status.state is TaskState.SUCCEEDED:
        assert status.result is not None and status.result.extra["resolution"] == "4k"
    if status.state is TaskState.RUNNING:
        assert status.poll_after == UHD_POLL_AFTER
    if status.state is TaskState.FAILED:
        assert "4k" in (status.error_message or "")
        assert status.provider_fault is (status.error_code == "500"), "only KIE's own 4k failure fails over"


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (uhd(429, "Too many requests"), RateLimitedError),
        (uhd(455, "Maintenance"), UnavailableError),
        (uhd(500, "Server error"), UnavailableError),
        (uhd(401, "Unauthorized"), UnauthorizedError),
        (uhd(402, "Credits insufficient"), OutOfBalanceError),
        ({"msg": "no code"}, UnavailableError),
        ("<html>", UnavailableError),
    ],
)
def test_parse_uhd_raises_for_passing_trouble(payload: Any, error: type[ProviderError]) -> None:
    with pytest.raises(error):
        parse_uhd(payload)


def callback(code: int, msg: str, **data: Any) -> dict[str, Any]:
    return {"code": code, "msg": msg, "data": {"taskId": "veo_task_1", "fallbackFlag": False, **data}}


DONE = "Veo3.1 video generated successfully."


@pytest.mark.parametrize(
    ("payload", "expect"),
    [
        (
            callback(200, DONE, info={"resultUrls": [URL], "resolution": "720p"}),
            Expect(TaskState.SUCCEEDED, URL),
        ),
        (callback(200, DONE, info={"resultUrls": f"[{URL}]"}), Expect(TaskState.SUCCEEDED, URL)),
        (callback(200, DONE, info={"resultUrls": json.dumps([URL])}), Expect(TaskState.SUCCEEDED, URL)),
        (
            callback(200, DONE, info=json.dumps({"resultUrls": [URL]}), promptJson='{"prompt": "fox"}'),
            Expect(TaskState.SUCCEEDED, URL),
        ),
        (
            callback(200, DONE, info={"result_urls": [URL]}, promptJson={"prompt": "x"}),
            Expect(TaskState.SUCCEEDED, URL),
        ),
        (callback(200, DONE, info={"resultUrls": []}), NO_VIDEO),
        (callback(200, DONE), NO_VIDEO),
        (callback(400, POLICY_MESSAGE), Expect(TaskState.FAILED, error_code="400", content_policy=True)),
        (callback(400, ENGLISH_MESSAGE), Expect(TaskState.FAILED, error_code="400")),
        (callback(422, FLOW_MESSAGE), Expect(TaskState.FAILED, error_code="422", content_policy=True)),
        (callback(500, "Internal error, timeout"), Expect(TaskState.FAILED, error_code="500")),
        (callback(501, "Generation failed"), Expect(TaskState.FAILED, error_code="501")),
    ],
)
def test_parse_callback_status(payload: dict[str, Any], expect: Expect) -> None:
    expect.check(parse_callback_status(payload))


@pytest.mark.parametrize(
    "payload",
    [
        {"code": 200},
        {"data": {}},
        {"data": {"taskId": ""}},
        {"data": {"taskId": 7}},
        {"data": "veo_task_1"},
        [],
    ],
)
def test_callback_without_a_task_id_is_rejected(payload: Any) -> None:
    with pytest.raises(CallbackRejected):
        callback_task_id(payload)


def test_callback_task_id_in_either_spelling() -> None:
    assert callback_task_id({"data": {"taskId": "veo_task_1"}}) == "veo_task_1"
    assert callback_task_id({"data": {"task_id": "veo_task_2"}}) == "veo_task_2"


def signed(task_id: str = "veo_task_1", *, key: str = HMAC_KEY, at: float = NOW) -> dict[str, str]:
    stamp = str(int(at))
    return {"X-Webhook-Timestamp": stamp, "X-Webhook-Signature": callback_signature(key, task_id, stamp)}


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        (signed(), None),
        (signed(at=NOW - 299), None),
        ({k.lower(): v for k, v in signed().items()}, None),
        (signed(key="another-key"), "bad KIE callback signature"),
        (signed("veo_task_other"), "bad KIE callback signature"),
        ({**signed(), "X-Webhook-Signature": "!!"}, "bad KIE callback signature"),
        (signed(at=NOW - 301), "stale"),
        (signed(at=NOW + 301), "stale"),
        ({"X-Webhook-Signature": signed()["X-Webhook-Signature"]}, "unsigned"),
        ({"X-Webhook-Timestamp": str(int(NOW))}, "unsigned"),
        ({}, "unsigned"),
        ({**signed(), "X-Webhook-Timestamp": "1.78e9"}, "unix seconds"),
    ],
)
def test_verify_signature(headers: dict[str, str], problem: str | None) -> None:
    if problem is None:
        verify_signature(headers, "veo_task_1", HMAC_KEY, now=NOW)
    else:
        with pytest.raises(CallbackRejected, match=problem):
            verify_signature(headers, "veo_task_1", HMAC_KEY, now=NOW)


def test_parse_callback_checks_json_and_signature_only_with_a_key() -> None:
    config = ProviderConfig("kie", "https://api.kie.ai", SecretStr(API_KEY), 30)
    body = json.dumps(callback(200, DONE, info={"resultUrls": [URL]})).encode()
    open_provider = KieVeoProvider(config)
    event = open_provider.parse_callback({}, body)
    assert event.task_id == "veo_task_1"
    assert event.status is not None
    assert event.status.result is not None
    assert event.status.result.url == URL
    strict = KieVeoProvider(config, webhook_hmac_key=HMAC_KEY, clock=lambda: NOW)
    assert strict.parse_callback(signed(), body).task_id == "veo_task_1"
    with pytest.raises(CallbackRejected, match="unsigned"):
        strict.parse_callback({}, body)
    for bad in (b"not json", b"\xff\xfe", b"[]"):
        with pytest.raises(CallbackRejected):
            open_provider.parse_callback({}, bad)


# --------------------------------------------------------------------------------- against the fake API


@pytest.fixture
async def fake() -> AsyncIterator[FakeKie]:
    server = FakeKie()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


MakeProvider = Callable[..., KieVeoProvider]


@pytest.fixture
async def make_provider(fake: FakeKie, sleeps: Sleeps) -> AsyncIterator[MakeProvider]:
    made: list[KieVeoProvider] = []

    def make(*, key: str = API_KEY, read_timeout: float = 5.0, hmac_key: str | None = None) -> KieVeoProvider:
        auth = {"Authorization": f"Bearer {key}"}

        def http(base_url: str) -> ProviderHttp:
            return ProviderHttp(
                "kie", base_url, auth_headers=auth, sleep=sleeps, backoff_base=0, read_timeout=read_timeout
            )

        provider = KieVeoProvider(
            ProviderConfig("kie", fake.url, SecretStr(key), 30),
            http=http(fake.url),
            upload_http=http(fake.upload_url),
            webhook_hmac_key=hmac_key,
            clock=lambda: NOW,
        )
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.close()


@pytest.fixture
async def provider(make_provider: MakeProvider) -> KieVeoProvider:
    return make_provider()


async def run_to_end(provider: KieVeoProvider, task_id: str, *, limit: int = 10) -> list[TaskStatus]:
    """Poll until a final state (the poller's job), returning every status seen."""
    seen = []
    for _ in range(limit):
        seen.append(await provider.status(task_id))
        if seen[-1].state in (TaskState.SUCCEEDED, TaskState.FAILED):
            return seen
    raise AssertionError(f"still running after {limit} polls: {seen}")


async def read_all(provider: KieVeoProvider, status: TaskStatus, *, max_bytes: int = 1 << 20) -> bytes:
    return b"".join([chunk async for chunk in provider.download(status, max_bytes=max_bytes)])


async def test_text_to_video_succeeds_after_polls_and_downloads_without_the_key(
    fake: FakeKie, provider: KieVeoProvider
) -> None:
    fake.script = TaskScript(polls=3)
    submitted = await provider.submit(make_job(seed=424242))
    assert submitted.task_id in fake.tasks
    assert submitted.status.state is TaskState.QUEUED
    body = fake.endpoint_calls("generate")[0]
    assert body["generationType"] == "TEXT_2_VIDEO"
    assert "seeds" not in body, "a seed out of KIE's range is left out"
    seen = await run_to_end(provider, submitted.task_id)
    assert [s.state for s in seen] == [TaskState.RUNNING] * 3 + [TaskState.SUCCEEDED]
    assert seen[-1].result is not None
    assert seen[-1].result.url == fake.video_url(submitted.task_id)
    assert await read_all(provider, seen[-1]) == fake.video_bytes(submitted.task_id)
    assert fake.file_requests
    assert all(r.authorization is None for r in fake.file_requests), "the key stays on the API host"
    assert fake.endpoint_calls("upload") == []


async def test_default_construction_sends_the_bearer_key_to_both_hosts(fake: FakeKie) -> None:
    config = ProviderConfig("kie", fake.url + "/", SecretStr(API_KEY), 30)
    provider = KieVeoProvider(config, upload_base_url=fake.upload_url, unrelated_option=1)
    try:
        submitted = await provider.submit(make_job("i2v", first=JPEG))
        assert (await provider.status(submitted.task_id)).state is TaskState.RUNNING
    finally:
        await provider.close()
    assert len(fake.uploads) == 1
    with pytest.raises(ValueError, match="KIE_API_KEY"):
        KieVeoProvider(ProviderConfig("kie", fake.url, None, 30))


@pytest.mark.parametrize(
    ("job", "images"),
    [
        (make_job("i2v", first=JPEG, aspect_ratio="9:16"), [JPEG]),
        (make_job("fl2v", model_id="veo3", first=JPEG, last=PNG), [JPEG, PNG]),
        (make_job("ref2v", refs=(JPEG, PNG, WEBP)), [JPEG, PNG, WEBP]),
    ],
)
async def test_images_are_uploaded_and_sent_as_public_urls_in_order(
    fake: FakeKie, provider: KieVeoProvider, job: SubmitJob, images: list[InputImage]
) -> None:
    submitted = await provider.submit(job)
    uploads = fake.endpoint_calls("upload")
    assert len({u["fileName"] for u in uploads}) == len(images), "fresh names: a same name overwrites"
    assert all(u["uploadPath"] == UPLOAD_FOLDER for u in uploads)
    body = fake.endpoint_calls("generate")[0]
    assert [fake.uploads[url] for url in body["imageUrls"]] == [image.data for image in images]
    assert body["generationType"] == build_generate_body(job, body["imageUrls"])["generationType"]
    assert body["model"] == job.provider_model_id
    assert (await run_to_end(provider, submitted.task_id))[-1].state is TaskState.SUCCEEDED


async def test_extend_continues_an_earlier_task(fake: FakeKie, provider: KieVeoProvider) -> None:
    fake.script = TaskScript(polls=0)
    source = await provider.submit(make_job(model_id="veo3"))
    await run_to_end(provider, source.task_id)
    extended = await provider.submit(make_job("extend", model_id="veo3", source=source.task_id, seed=77777))
    assert fake.endpoint_calls("extend") == [
        {"taskId": source.task_id, "prompt": BASE["prompt"], "model": "quality", "seeds": 77777}
    ]
    assert extended.task_id != source.task_id
    final = (await run_to_end(provider, extended.task_id))[-1]
    assert final.result is not None
    assert final.result.url == fake.video_url(extended.task_id)


async def test_1080p_waits_for_the_upgrade_and_delivers_the_hd_file(
    fake: FakeKie, provider: KieVeoProvider
) -> None:
    fake.script = TaskScript(polls=1, hd_polls=2)
    submitted = await provider.submit(make_job(resolution="1080p", callback="https://bot.example/kie"))
    kie_id, resolution = split_task_id(submitted.task_id)
    assert (resolution, submitted.task_id) == ("1080p", f"{kie_id}#1080p")
    assert "callBackUrl" not in fake.endpoint_calls("generate")[0]
    seen = await run_to_end(provider, submitted.task_id)
    assert [s.state for s in seen] == [TaskState.RUNNING] * 3 + [TaskState.SUCCEEDED]
    assert [s.poll_after for s in seen[1:3]] == [HD_POLL_AFTER, HD_POLL_AFTER]
    assert fake.endpoint_calls("get-1080p-video")[0] == {"taskId": kie_id, "index": "0"}
    assert seen[-1].result is not None
    assert seen[-1].result.url == fake.video_url(kie_id, hd=True)
    assert await read_all(provider, seen[-1]) == fake.video_bytes(kie_id, hd=True)
    with pytest.raises(InvalidRequestError, match="1080p"):
        await provider.submit(make_job("extend", source=submitted.task_id))
    assert fake.endpoint_calls("extend") == []


async def test_1080p_from_the_fallback_path_needs_no_upgrade(fake: FakeKie, provider: KieVeoProvider) -> None:
    fake.script = TaskScript(polls=0, already_hd=True)
    submitted = await provider.submit(make_job(resolution="1080p"))
    status = await provider.status(submitted.task_id)
    assert status.state is TaskState.SUCCEEDED
    assert status.result is not None
    assert status.result.url == fake.video_url(split_task_id(submitted.task_id)[0])
    assert fake.endpoint_calls("get-1080p-video") == []


@pytest.mark.parametrize("shape", ["resultUrl", "video1080pUrl", "info"])
async def test_the_1080p_answer_in_every_documented_shape(
    fake: FakeKie, provider: KieVeoProvider, shape: str
) -> None:
    fake.script = TaskScript(polls=0, hd_polls=1, hd_shape=shape)  # type: ignore[arg-type]
    submitted = await provider.submit(make_job(resolution="1080p"))
    kie_id, _ = split_task_id(submitted.task_id)
    seen = await run_to_end(provider, submitted.task_id)
    assert [s.state for s in seen] == [TaskState.RUNNING, TaskState.SUCCEEDED]
    assert seen[-1].result is not None
    assert seen[-1].result.url == fake.video_url(kie_id, hd=True)
    assert await read_all(provider, seen[-1]) == fake.video_bytes(kie_id, hd=True)


@pytest.mark.parametrize(("resolution", "hd"), [("720p", False), ("1080p", True)])
async def test_a_record_with_both_files_delivers_the_ordered_one(
    fake: FakeKie, provider: KieVeoProvider, resolution: str, hd: bool
) -> None:
    fake.script = TaskScript(polls=0, record_hd=True)
    submitted = await provider.submit(make_job(resolution=resolution))
    kie_id, _ = split_task_id(submitted.task_id)
    status = await provider.status(submitted.task_id)
    assert status.result is not None
    assert status.result.url == fake.video_url(kie_id, hd=hd)
    assert await read_all(provider, status) == fake.video_bytes(kie_id, hd=hd)
    assert fake.endpoint_calls("get-1080p-video") == [], "the record had the file: no upgrade call"


@pytest.mark.parametrize("shape", ["data", "ok", "info", "snake"])
async def test_4k_orders_the_upgrade_once_and_delivers_the_4k_file(
    fake: FakeKie, provider: KieVeoProvider, shape: str
) -> None:
    fake.script = TaskScript(polls=1, uhd_polls=2, uhd_shape=shape)  # type: ignore[arg-type]
    submitted = await provider.submit(make_job(resolution="4k", callback="https://bot.example/kie"))
    kie_id, resolution = split_task_id(submitted.task_id)
    assert (resolution, submitted.task_id) == ("4k", f"{kie_id}#4k")
    assert "callBackUrl" not in fake.endpoint_calls("generate")[0]
    seen = await run_to_end(provider, submitted.task_id)
    assert [s.state for s in seen] == [TaskState.RUNNING] * 4 + [TaskState.SUCCEEDED]
    assert [s.poll_after for s in seen[1:4]] == [UHD_POLL_AFTER] * 3
    calls = fake.endpoint_calls("get-4k-video")
    assert calls == [{"taskId": kie_id, "index": 0}] * 4
    assert fake.uhd_orders() == 1, "asking on every poll orders the paid 4k file once"
    assert fake.endpoint_calls("get-1080p-video") == []
    assert seen[-1].result is not None
    assert seen[-1].result.url == fake.video_url(kie_id, uhd=True)
    assert seen[-1].result.extra["resolution"] == "4k"
    assert await read_all(provider, seen[-1]) == fake.video_bytes(kie_id, uhd=True)
    assert all(r.authorization is None for r in fake.file_requests), "the key stays on the API host"


async def test_4k_unavailable_is_kies_failure(fake: FakeKie, provider: KieVeoProvider) -> None:
    fake.script = TaskScript(polls=0, uhd_polls=0, uhd_available=False)
    submitted = await provider.submit(make_job(resolution="4k"))
    final = (await run_to_end(provider, submitted.task_id))[-1]
    assert (final.state, final.error_code, final.result) == (TaskState.FAILED, "500", None)
    assert final.provider_fault and not final.content_policy
    assert fake.uhd_orders() == 1


async def test_4k_step_errors_are_reported_then_the_poll_goes_on(
    fake: FakeKie, provider: KieVeoProvider, sleeps: Sleeps
) -> None:
    fake.script = TaskScript(polls=0, uhd_polls=0)
    submitted = await provider.submit(make_job(resolution="4k"))
    fake.fail("get-4k-video", Fault(455, "Service under maintenance"))
    with pytest.raises(UnavailableError):
        await provider.status(submitted.task_id)
    fake.fail("get-4k-video", Fault(502, "Bad gateway", http_status=502, envelope=False))
    assert (await provider.status(submitted.task_id)).state is TaskState.RUNNING
    assert len(sleeps) == 1, "a lost answer is asked for again like a read"
    assert fake.uhd_orders() == 1
    final = (await run_to_end(provider, submitted.task_id))[-1]
    assert final.result is not None
    assert final.result.url == fake.video_url(split_task_id(submitted.task_id)[0], uhd=True)


async def test_a_4k_video_can_be_extended_under_kies_own_id(fake: FakeKie, provider: KieVeoProvider) -> None:
    fake.script = TaskScript(polls=0, uhd_polls=0)
    source = await provider.submit(make_job(resolution="4k"))
    await run_to_end(provider, source.task_id)
    extended = await provider.submit(make_job("extend", source=source.task_id))
    assert fake.endpoint_calls("extend")[0]["taskId"] == split_task_id(source.task_id)[0]
    assert (await run_to_end(provider, extended.task_id))[-1].state is TaskState.SUCCEEDED


@pytest.mark.parametrize("translate", [False, True])
async def test_translation_is_sent_as_asked(fake: FakeKie, provider: KieVeoProvider, translate: bool) -> None:
    await provider.submit(make_job(translate=translate, enhance=True))
    body = fake.endpoint_calls("generate")[0]
    assert body["enableTranslation"] is translate
    assert set(body) <= {"prompt", "model", "generationType", "aspect_ratio", "enableTranslation"}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"taskId": "veo_task_000001", "index": 1}, 422),
        ({"taskId": "veo_task_000001", "resolution": "4k"}, 422),
        ({"taskId": "veo_task_missing"}, 422),
    ],
)
async def test_the_fake_refuses_bad_4k_requests(
    fake: FakeKie, provider: KieVeoProvider, body: dict[str, Any], code: int
) -> None:
    fake.script = TaskScript(polls=0)
    await provider.submit(make_job())
    async with (
        ClientSession() as session,
        session.post(
            fake.url + "/api/v1/veo/get-4k-video", json=body, headers={"Authorization": f"Bearer {API_KEY}"}
        ) as response,
    ):
        payload = await response.json()
    assert (response.status, payload["code"]) == (200, code)
    assert fake.uhd_orders() == 0


async def test_the_fake_orders_no_4k_before_the_video_exists(fake: FakeKie, provider: KieVeoProvider) -> None:
    fake.script = TaskScript(polls=3)
    submitted = await provider.submit(make_job())
    async with (
        ClientSession() as session,
        session.post(
            fake.url + "/api/v1/veo/get-4k-video",
            json={"taskId": submitted.task_id, "index": 0},
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as response,
    ):
        payload = await response.json()
    assert payload["code"] == 400 and fake.uhd_orders() == 0


@pytest.mark.parametrize("shape", ["array", "json_string", "full", "bracket_string"])
async def test_result_urls_in_every_shape(fake: FakeKie, provider: KieVeoProvider, shape: str) -> None:
    fake.script = TaskScript(polls=0, urls=shape)  # type: ignore[arg-type]
    submitted = await provider.submit(make_job())
    status = await provider.status(submitted.task_id)
    assert status.result is not None
    assert status.result.url == fake.video_url(submitted.task_id)
    assert await read_all(provider, status) == fake.video_bytes(submitted.task_id)


@pytest.mark.parametrize(
    ("outcome", "error_code", "content_policy"),
    [("policy", "400", True), ("failed", "501", False), ("no_video", "no_video", False)],
)
async def test_finished_without_a_video(
    fake: FakeKie, provider: KieVeoProvider, outcome: str, error_code: str, content_policy: bool
) -> None:
    fake.script = TaskScript(polls=1, outcome=outcome)  # type: ignore[arg-type]
    submitted = await provider.submit(make_job())
    final = (await run_to_end(provider, submitted.task_id))[-1]
    assert final.state is TaskState.FAILED
    assert (final.error_code, final.content_policy) == (error_code, content_policy)
    assert final.result is None
    assert final.error_message


async def test_record_info_refusing_the_task_for_policy_ends_it(
    fake: FakeKie, provider: KieVeoProvider
) -> None:
    submitted = await provider.submit(make_job())
    fake.fail("record-info", Fault(400, POLICY_MESSAGE))
    status = await provider.status(submitted.task_id)
    assert (status.state, status.content_policy) == (TaskState.FAILED, True)


@pytest.mark.parametrize(
    ("fault", "error", "failover"),
    [
        (Fault(400, POLICY_MESSAGE), ContentPolicyError, False),
        (Fault(422, FLOW_MESSAGE), ContentPolicyError, False),
        (Fault(400, ENGLISH_MESSAGE), InvalidRequestError, False),
        (Fault(402, "Credits insufficient. Please top up."), OutOfBalanceError, True),
        (Fault(401, "Unauthorized", http_status=401), UnauthorizedError, True),
        (Fault(455, "Service under maintenance"), UnavailableError, True),
        (Fault(505, "This feature is disabled"), UnavailableError, True),
        (Fault(501, "Generation failed"), UnavailableError, True),
        (Fault(429, "Rate limited"), RateLimitedError, False),
    ],
)
async def test_submit_refusals_become_typed_errors(
    fake: FakeKie, provider: KieVeoProvider, fault: Fault, error: type[ProviderError], failover: bool
) -> None:
    fake.fail("generate", fault)
    with pytest.raises(error) as caught:
        await provider.submit(make_job())
    assert caught.value.failover is failover
    assert caught.value.code == str(fault.code)
    assert len(fake.endpoint_calls("generate")) == 1, "a business refusal is not retried"
    assert fake.tasks == {}


async def test_http_429_is_retried_after_the_hint(
    fake: FakeKie, provider: KieVeoProvider, sleeps: Sleeps
) -> None:
    fake.fail(
        "generate", Fault(429, "Too many requests", http_status=429, headers={"Retry-After": "3"}), times=2
    )
    submitted = await provider.submit(make_job())
    assert submitted.task_id in fake.tasks
    assert sleeps == [3.0, 3.0]
    assert len(fake.endpoint_calls("generate")) == 3


async def test_envelope_429_on_a_poll_is_reported_not_slept(
    fake: FakeKie, provider: KieVeoProvider, sleeps: Sleeps
) -> None:
    submitted = await provider.submit(make_job())
    fake.fail("record-info", Fault(429, "Too many requests"))
    with pytest.raises(RateLimitedError):
        await provider.status(submitted.task_id)
    assert sleeps == []
    assert (await provider.status(submitted.task_id)).state is TaskState.RUNNING


async def test_5xx_is_retried_then_reported(fake: FakeKie, provider: KieVeoProvider, sleeps: Sleeps) -> None:
    """A create is sent again only after a 503 (KIE took nothing); reads are retried after any 5xx.

    (This test used to retry a create after 502s: a 502 may follow the task's creation, see below.)
    """
    fake.fail("generate", Fault(503, "Service unavailable", http_status=503, envelope=False), times=2)
    submitted = await provider.submit(make_job())
    assert len(sleeps) == 2
    fake.fail("record-info", Fault(500, "Server error", http_status=500), times=4)
    with pytest.raises(UnavailableError) as caught:
        await provider.status(submitted.task_id)
    assert caught.value.failover
    assert len(fake.endpoint_calls("record-info")) == 4


@pytest.mark.parametrize(
    "fault",
    [
        Fault(502, "Bad gateway", http_status=502, envelope=False),
        Fault(500, "Server error", http_status=500),
        Fault(500, "Server error"),  # HTTP 200, envelope code 500
    ],
)
async def test_a_create_answered_with_a_server_error_is_uncertain_and_not_resent(
    fake: FakeKie, provider: KieVeoProvider, sleeps: Sleeps, fault: Fault
) -> None:
    fake.fail("generate", fault)
    with pytest.raises(UncertainSubmitError):
        await provider.submit(make_job())
    assert len(fake.endpoint_calls("generate")) == 1 and sleeps == []


@pytest.mark.parametrize(
    "fault",
    [
        Fault(200, "an HTML page with HTTP 200", envelope=False),
        Fault(200, "success"),  # code 200 without data.taskId
    ],
)
async def test_an_unreadable_create_answer_is_uncertain(
    fake: FakeKie, provider: KieVeoProvider, fault: Fault
) -> None:
    fake.fail("generate", fault)
    with pytest.raises(UncertainSubmitError):
        await provider.submit(make_job())


async def test_1080p_step_errors(fake: FakeKie, provider: KieVeoProvider) -> None:
    fake.script = TaskScript(polls=0)
    submitted = await provider.submit(make_job(resolution="1080p"))
    fake.fail("get-1080p-video", Fault(455, "Service under maintenance"))
    with pytest.raises(UnavailableError):
        await provider.status(submitted.task_id)
    fake.fail("get-1080p-video", Fault(400, "This video cannot be upgraded to 1080P"))
    status = await provider.status(submitted.task_id)
    assert (status.state, status.error_code) == (TaskState.FAILED, "400")


async def test_wrong_key_is_unauthorized_and_never_echoed(fake: FakeKie, make_provider: MakeProvider) -> None:
    provider = make_provider(key="sk-wrong-secret-key")
    with pytest.raises(UnauthorizedError) as caught:
        await provider.submit(make_job("i2v", first=JPEG))
    assert caught.value.failover
    assert "sk-wrong-secret-key" not in str(caught.value)
    assert fake.endpoint_calls("generate") == [], "nothing is generated when the upload is refused"
    with pytest.raises(UnauthorizedError) as polled:
        await provider.status("veo_task_000001")
    assert "sk-wrong-secret-key" not in repr(polled.value)


async def test_upload_failure_stops_the_submit(
    fake: FakeKie, provider: KieVeoProvider, sleeps: Sleeps
) -> None:
    fake.fail("upload", Fault(500, "Upload failed", http_status=500), times=4)
    with pytest.raises(UnavailableError):
        await provider.submit(make_job("i2v", first=JPEG))
    assert len(sleeps) == 3
    assert fake.endpoint_calls("generate") == []


async def test_unknown_task_is_not_found(provider: KieVeoProvider) -> None:
    with pytest.raises(NotFoundError):
        await provider.status("veo_task_missing")


async def test_4k_is_refused_before_any_call_where_the_route_lacks_it(
    fake: FakeKie, provider: KieVeoProvider
) -> None:
    with pytest.raises(InvalidRequestError, match="4k"):
        await provider.submit(
            make_job("i2v", first=JPEG, resolution="4k", route_resolutions=["720p", "1080p"])
        )
    assert fake.calls == []


@pytest.mark.parametrize("file", ["expired", "forbidden"])
async def test_expired_result_url(fake: FakeKie, provider: KieVeoProvider, file: str) -> None:
    fake.script = TaskScript(polls=0, file=file)  # type: ignore[arg-type]
    status = await provider.status((await provider.submit(make_job())).task_id)
    with pytest.raises(NotFoundError) as caught:
        await read_all(provider, status)
    assert caught.value.code == "expired"


@pytest.mark.parametrize("file", ["ok", "chunked"])
async def test_too_large_result_stops(fake: FakeKie, provider: KieVeoProvider, file: str) -> None:
    fake.script = TaskScript(polls=0, file=file, video_size=200_000)  # type: ignore[arg-type]
    status = await provider.status((await provider.submit(make_job())).task_id)
    with pytest.raises(MediaTooLargeError):
        await read_all(provider, status, max_bytes=50_000)
    assert len(await read_all(provider, status, max_bytes=200_000)) == 200_000


async def test_slow_download_completes(fake: FakeKie, provider: KieVeoProvider) -> None:
    fake.script = TaskScript(polls=0, file="slow", video_size=6000)
    submitted = await provider.submit(make_job())
    status = await provider.status(submitted.task_id)
    chunks = [chunk async for chunk in provider.download(status, max_bytes=1 << 20)]
    assert b"".join(chunks) == fake.video_bytes(submitted.task_id)


async def test_stalled_download_times_out(fake: FakeKie, make_provider: MakeProvider) -> None:
    provider = make_provider(read_timeout=0.2)
    fake.script = TaskScript(polls=0, file="stall", video_size=100_000)
    status = await provider.status((await provider.submit(make_job())).task_id)
    with pytest.raises(UnavailableError, match="download failed"):
        await read_all(provider, status)


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "p", "model": "veo4"},
        {"prompt": "p", "model": "veo3", "generationType": "REFERENCE_2_VIDEO"},
        {"prompt": "p", "aspect_ratio": "1:1"},
        {"prompt": "p", "generationType": "IMAGE_2_VIDEO"},
        {"prompt": "", "model": "veo3_fast"},
        {"prompt": "p", "resolution": "1080p"},
        {"prompt": "p", "seeds": 5},
        {"prompt": "p", "imageUrls": ["https://example.com/not-uploaded.jpg"]},
    ],
)
async def test_the_fake_refuses_what_kie_refuses(fake: FakeKie, body: dict[str, Any]) -> None:
    async with (
        ClientSession() as session,
        session.post(
            fake.url + "/api/v1/veo/generate", json=body, headers={"Authorization": f"Bearer {API_KEY}"}
        ) as response,
    ):
        payload = await response.json()
    assert response.status == 200
    assert payload["code"] in (400, 422)
    assert fake.tasks == {}


# -------------------------------------------------------------------------------------------- callbacks


@dataclass
class Receiver:
    """The bot's callback endpoint in miniature: parse, answer 401 when rejected, 200 otherwise."""

    provider: KieVeoProvider | None = None
    events: list[CallbackEvent] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        assert self.provider is not None
        try:
            event = self.provider.parse_callback(request.headers, await request.read())
        except CallbackRejected as error:
            self.rejected.append(str(error))
            return web.Response(status=401)
        self.events.append(event)
        return web.Response(text="ok")


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    target = Receiver()
    app = web.Application()
    app.router.add_post("/callbacks/kie", target.handle)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield target, f"http://127.0.0.1:{port}/callbacks/kie"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("provider_key", "sign_key", "timestamp", "accepted"),
    [
        (HMAC_KEY, HMAC_KEY, NOW - 10, True),
        (HMAC_KEY, "someone-else", NOW - 10, False),
        (HMAC_KEY, HMAC_KEY, NOW - 600, False),
        (HMAC_KEY, None, None, False),
        (None, None, None, True),
    ],
    ids=["good", "bad-signature", "stale", "unsigned", "no-key-configured"],
)
async def test_callbacks(
    fake: FakeKie,
    make_provider: MakeProvider,
    receiver: tuple[Receiver, str],
    provider_key: str | None,
    sign_key: str | None,
    timestamp: float | None,
    accepted: bool,
) -> None:
    target, url = receiver
    target.provider = provider = make_provider(hmac_key=provider_key)
    fake.script = TaskScript(polls=5, urls="json_string")
    submitted = await provider.submit(make_job(callback=url))
    assert fake.endpoint_calls("generate")[0]["callBackUrl"] == url
    stamp = None if timestamp is None else int(timestamp)
    answer = await fake.deliver_callback(submitted.task_id, hmac_key=sign_key, timestamp=stamp)
    assert answer == (200 if accepted else 401)
    if not accepted:
        assert target.events == []
        assert len(target.rejected) == 1
        return
    (event,) = target.events
    assert event.task_id == submitted.task_id
    assert event.status is not None
    assert event.status.result is not None
    assert event.status.result.url == fake.video_url(submitted.task_id)


@pytest.mark.parametrize(
    ("outcome", "expect"),
    [
        ("policy", Expect(TaskState.FAILED, error_code="400", content_policy=True)),
        ("failed", Expect(TaskState.FAILED, error_code="501")),
        ("no_video", NO_VIDEO),
    ],
)
async def test_failure_callbacks(
    fake: FakeKie, make_provider: MakeProvider, receiver: tuple[Receiver, str], outcome: str, expect: Expect
) -> None:
    target, url = receiver
    target.provider = provider = make_provider(hmac_key=HMAC_KEY)
    fake.script = TaskScript(outcome=outcome)  # type: ignore[arg-type]
    submitted = await provider.submit(make_job(callback=url))
    assert await fake.deliver_callback(submitted.task_id, hmac_key=HMAC_KEY, timestamp=int(NOW)) == 200
    (event,) = target.events
    assert event.status is not None
    expect.check(event.status)


@pytest.mark.parametrize(("code", "fault"), [(500, True), (501, False), (400, False)])
def test_kies_own_internal_error_or_timeout_is_a_provider_fault(code: int, fault: bool) -> None:
    """errorCode/callback code 500 is KIE's "internal error/timeout": the next route may make the video."""
    data = {"taskId": "t1", "successFlag": 2, "errorCode": code, "errorMessage": "something went wrong"}
    record = parse_record({"code": 200, "msg": "success", "data": data})
    callback = parse_callback_status({"code": code, "msg": "something went wrong", "data": {"taskId": "t1"}})
    for status in (record, callback):
        assert status.state is TaskState.FAILED and status.provider_fault is fault
