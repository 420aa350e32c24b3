"""The OpenAI Videos adapter (providers "openai" and "laozhang"): pure builders and parsers table-driven,
then the real adapter against the fake API for every scripted behaviour."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import aiohttp
import pytest
from PIL import Image
from pydantic import SecretStr

from services.catalog import Route
from services.http import HttpResponse
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
from services.providers.descriptor import ProviderConfig
from services.providers.openai_videos import (
    OpenAIVideosProvider,
    bearer_http,
    build_create_request,
    classify_download_error,
    classify_error,
    fit_image,
    link_in,
    parse_poll_after,
    parse_status,
    parse_submitted,
    redact,
    verify_webhook,
    video_size,
    webhook_signature,
)
from services.video_request import VideoRequest
from storage.errors import MediaTooLargeError
from storage.local_media import LocalMediaStore
from tests.fakes.providers.openai_videos import FakeOpenAIVideos, FakeVideo
from tests.fakes.sleeps import Sleeps

KEY = "sk-test-0123456789abcdefXYZ"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks reference vector's secret
NOW = 1_800_000_000


def picture(
    width: int, height: int, fmt: str = "JPEG", mode: str = "RGB", color: Any = (200, 30, 30)
) -> InputImage:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), color).save(buffer, fmt)
    return InputImage(buffer.getvalue(), f"image/{fmt.lower()}", width, height)


def dims(data: bytes) -> tuple[tuple[int, int], str | None]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size, image.format


def make_job(
    mode: str = "t2v",
    *,
    model: str = "sora-2",
    provider: str = "openai",
    duration: int | None = 8,
    aspect: str | None = "9:16",
    resolution: str | None = "720p",
    prompt: str = "a red fox trotting through fresh snow",
    **extra: Any,
) -> SubmitJob:
    request = VideoRequest(
        model="sora-2",
        mode=mode,
        prompt=prompt,
        duration=duration,
        aspect_ratio=aspect,
        resolution=resolution,
    )
    return SubmitJob(request=request, route=Route(provider=provider, model_id=model), **extra)


# ------------------------------------------------------------------------------------------ pure units


@pytest.mark.parametrize(
    ("aspect", "resolution", "expected"),
    [
        ("16:9", "720p", (1280, 720)),
        ("9:16", "720p", (720, 1280)),
        ("16:9", "1080p", (1920, 1080)),
        ("9:16", "1080p", (1080, 1920)),
        (None, None, (720, 1280)),  # the API's own default, portrait 720p
    ],
)
def test_video_size(aspect: str | None, resolution: str | None, expected: tuple[int, int]) -> None:
    assert video_size(aspect, resolution, provider="openai") == expected


@pytest.mark.parametrize(("aspect", "resolution"), [("1:1", "720p"), ("16:9", "4k"), ("16:9", "480p")])
def test_video_size_rejects_what_the_api_lacks(aspect: str, resolution: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        video_size(aspect, resolution, provider="laozhang")
    assert caught.value.provider == "laozhang"


def test_fit_image_crops_to_fill_from_the_centre() -> None:
    source = Image.new("RGB", (2000, 1000), (0, 0, 255))  # blue edges, a green middle band
    source.paste((0, 255, 0), (700, 0, 1300, 1000))
    buffer = io.BytesIO()
    source.save(buffer, "JPEG")
    data, mime = fit_image(InputImage(buffer.getvalue(), "image/jpeg", 2000, 1000), 720, 1280)
    assert mime == "image/jpeg"
    assert dims(data) == ((720, 1280), "JPEG")
    with Image.open(io.BytesIO(data)) as fitted:
        red, green, blue = fitted.convert("RGB").getpixel((360, 640))
        left = fitted.convert("RGB").getpixel((5, 640))
    assert green > 200 and red < 60 and blue < 60  # the centre survives
    assert left[1] > 200  # the 500-px crop keeps only green: the blue edges are cut off


def test_fit_image_passes_an_exact_image_through() -> None:
    exact = picture(1280, 720)
    assert fit_image(exact, 1280, 720) == (exact.data, "image/jpeg")


def test_fit_image_keeps_png_and_alpha() -> None:
    data, mime = fit_image(picture(500, 500, "PNG", "RGBA", (10, 20, 30, 128)), 1280, 720)
    assert mime == "image/png"
    with Image.open(io.BytesIO(data)) as fitted:
        assert (fitted.size, fitted.format, fitted.mode) == ((1280, 720), "PNG", "RGBA")


def test_fit_image_turns_webp_into_jpeg() -> None:
    data, mime = fit_image(picture(300, 400, "WEBP"), 720, 1280)
    assert (dims(data), mime) == (((720, 1280), "JPEG"), "image/jpeg")


def test_fit_image_applies_exif_orientation_before_measuring() -> None:
    sideways = Image.new("RGB", (1280, 720), (0, 128, 0))
    exif = sideways.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": upright it is 720×1280
    buffer = io.BytesIO()
    sideways.save(buffer, "JPEG", exif=exif)
    raw = buffer.getvalue()
    data, _ = fit_image(InputImage(raw, "image/jpeg", 1280, 720), 720, 1280)
    assert data != raw
    assert dims(data)[0] == (720, 1280)


def test_build_create_for_sora_text_to_video() -> None:
    create = build_create_request(make_job(), provider="openai")
    assert create.path == "videos"
    assert dict(create.fields) == {
        "model": "sora-2",
        "prompt": "a red fox trotting through fresh snow",
        "size": "720x1280",
        "seconds": "8",
    }
    assert create.files == () and create.json_body is None


def test_build_create_for_laozhang_veo_sends_duration_equal_to_seconds() -> None:
    job = make_job(
        model="veo-3.1-fast-generate-preview", provider="laozhang", aspect="16:9", resolution="1080p"
    )
    fields = dict(build_create_request(job, provider="laozhang").fields)
    assert (fields["size"], fields["seconds"], fields["duration"]) == ("1920x1080", "8", "8")


def test_build_create_leaves_seconds_to_the_api_when_unset() -> None:
    fields = dict(build_create_request(make_job(duration=None), provider="openai").fields)
    assert "seconds" not in fields and "duration" not in fields


def test_build_create_image_to_video_fits_the_first_frame() -> None:
    job = make_job("i2v", aspect="16:9", first_frame=picture(900, 900, "PNG"))
    (part,) = build_create_request(job, provider="openai").files
    assert (part.field, part.filename, part.content_type) == ("input_reference", "input.png", "image/png")
    assert dims(part.data) == ((1280, 720), "PNG")


def test_build_create_first_and_last_frame_sends_two_references() -> None:
    job = make_job(
        "fl2v",
        model="veo-3.1-generate-preview",
        provider="laozhang",
        aspect="16:9",
        first_frame=picture(640, 480),
        last_frame=picture(1280, 720),
    )
    parts = build_create_request(job, provider="laozhang").files
    assert [p.field for p in parts] == ["input_reference", "input_reference"]
    assert [dims(p.data)[0] for p in parts] == [(1280, 720), (1280, 720)]


def test_build_remix_and_extend() -> None:
    remix = build_create_request(
        make_job("remix", prompt="make it night", source_task_id="video_1"), provider="x"
    )
    assert (remix.path, remix.json_body) == ("videos/video_1/remix", {"prompt": "make it night"})
    extend = build_create_request(
        make_job("extend", prompt="keep going", source_task_id="video_1"), provider="x"
    )
    assert extend.path == "videos/extensions"
    assert dict(extend.fields) == {"prompt": "keep going", "video[id]": "video_1", "seconds": "8"}


@pytest.mark.parametrize(
    "job",
    [
        make_job("ref2v"),
        make_job("i2v"),  # no first frame
        make_job("fl2v", model="veo-3.1-generate-preview", first_frame=picture(720, 1280)),  # no last frame
        make_job("remix"),  # no source video
        make_job("extend"),
    ],
)
def test_build_create_refuses_incomplete_jobs(job: SubmitJob) -> None:
    with pytest.raises(InvalidRequestError):
        build_create_request(job, provider="openai")


@pytest.mark.parametrize(
    ("payload", "state", "progress"),
    [
        ({"id": "v", "status": "queued", "progress": 0}, TaskState.QUEUED, 0),
        ({"id": "v", "status": "submitted"}, TaskState.QUEUED, None),  # LaoZhang
        ({"id": "v", "status": "in_progress", "progress": 37}, TaskState.RUNNING, 37),
        ({"id": "v", "status": "processing", "progress": 12.7}, TaskState.RUNNING, 12),  # LiteLLM-style
        ({"id": "v", "status": "rendering", "progress": "45%"}, TaskState.RUNNING, 45),  # unknown → running
        ({"id": "v", "status": "IN_PROGRESS", "progress": 250}, TaskState.RUNNING, 100),
        ({"id": "v", "progress": "soon"}, TaskState.RUNNING, None),
        ({"id": "v", "status": "queued", "progress": "nan"}, TaskState.QUEUED, None),
    ],
)
def test_parse_status_in_flight(payload: dict[str, Any], state: TaskState, progress: int | None) -> None:
    status = parse_status(payload, poll_after=4.0)
    assert (status.state, status.progress, status.poll_after, status.result) == (state, progress, 4.0, None)


def test_parse_status_completed_points_at_the_content_endpoint() -> None:
    status = parse_status(
        {
            "id": "video_a/b",
            "status": "completed",
            "seconds": "12",
            "size": "1280x720",
            "expires_at": 1760003600,
        }
    )
    assert status.state is TaskState.SUCCEEDED and status.progress == 100
    assert status.result == ResultRef(
        url="videos/video_a%2Fb/content",
        mime_type="video/mp4",
        width=1280,
        height=720,
        duration=12.0,
        extra={"expires_at": 1760003600},
    )


def test_parse_status_completed_with_a_legacy_link_uses_it() -> None:
    status = parse_status({"id": "video_1", "status": "completed", "video_url": "https://cdn.example/v.mp4"})
    assert status.result is not None and status.result.url == "https://cdn.example/v.mp4"


CDN = "https://cdn.laozhang.example/v/video_1.mp4"


@pytest.mark.parametrize(
    ("payload", "url"),
    [
        ({"id": "video_1", "status": "completed", "output": {"url": CDN}}, CDN),
        ({"status": "completed", "output": {"url": CDN}}, CDN),  # no id, but a file
        ({"id": "video_1", "status": "completed", "output": {"url": CDN}, "video_url": "https://x/y"}, CDN),
        (
            {"id": "video_1", "status": "completed", "output": {"url": "s3://bucket/v.mp4"}},
            "videos/video_1/content",
        ),
        ({"id": "video_1", "status": "completed", "output": {"url": None}}, "videos/video_1/content"),
        ({"id": "video_1", "status": "completed", "output": CDN}, "videos/video_1/content"),
        ({"id": "video_1", "status": "completed", "output": {}, "url": CDN}, CDN),
    ],
)
def test_parse_status_reads_output_url_as_the_result(payload: dict[str, Any], url: str) -> None:
    status = parse_status(payload)
    assert status.state is TaskState.SUCCEEDED
    assert status.result is not None and status.result.url == url


@pytest.mark.parametrize(
    ("body", "url"),
    [
        (json.dumps({"url": CDN}).encode(), CDN),
        (f"{CDN}\n".encode(), CDN),
        (f"  {CDN}  ".encode(), CDN),
        (json.dumps(CDN).encode(), CDN),
        (json.dumps({"url": CDN, "expires_in": 3600}).encode(), CDN),
        (b"http://127.0.0.1:8080/files/v.mp4", "http://127.0.0.1:8080/files/v.mp4"),
        (json.dumps({"link": CDN}).encode(), None),
        (json.dumps({"url": 5}).encode(), None),
        (json.dumps({"url": "ftp://x/v.mp4"}).encode(), None),
        (b"<html><body>upstream hiccup</body></html>", None),
        (f"see {CDN}".encode(), None),
        (b"{not json", None),
        (b"\xff\xfe\x00", None),
        (b"", None),
    ],
)
def test_link_in_a_download_answer(body: bytes, url: str | None) -> None:
    assert link_in(body) == url


def test_parse_status_completed_without_anything_to_download_is_a_failure() -> None:
    status = parse_status({"status": "completed"})
    assert (status.state, status.error_code, status.result) == (TaskState.FAILED, "no_video", None)


@pytest.mark.parametrize(
    ("error", "code", "policy"),
    [
        (
            {"code": "moderation_blocked", "message": "Blocked by our moderation system."},
            "moderation_blocked",
            True,
        ),
        ({"code": None, "message": "This request violates our content policy."}, "failed", True),
        ({"code": "internal_error", "message": "Video generation failed."}, "internal_error", False),
        ("视频包含敏感内容", "failed", True),  # a gateway's plain string
        (None, "failed", False),  # "done without a video" and no reason given
    ],
)
def test_parse_status_failed(error: Any, code: str, policy: bool) -> None:
    status = parse_status({"id": "v", "status": "failed", "progress": 90, "error": error})
    assert status.state is TaskState.FAILED
    assert (status.error_code, status.content_policy) == (code, policy)
    assert status.error_message


def test_parse_status_failed_reads_a_gateway_fail_reason() -> None:
    status = parse_status({"id": "v", "status": "failed", "fail_reason": "upstream timeout"})
    assert status.error_message == "upstream timeout"


def test_parse_submitted_needs_an_id() -> None:
    """Without its id the video may still exist upstream: an uncertain submit (this test used to expect
    UnavailableError, which failed over to another route: a possible second paid task)."""
    submitted = parse_submitted({"id": "video_9", "status": "queued", "progress": 0}, provider="openai")
    assert (submitted.task_id, submitted.status.state) == ("video_9", TaskState.QUEUED)
    for payload in ({"object": "video"}, None, ["video_9"]):
        with pytest.raises(UncertainSubmitError):
            parse_submitted(payload, provider="openai")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"openai-poll-after-ms": "2500"}, 2.5),
        ({"OpenAI-Poll-After-Ms": "10000"}, 10.0),
        ({"openai-poll-after-ms": "soon"}, None),
        ({}, None),
    ],
)
def test_parse_poll_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_poll_after(headers) == expected


def envelope(message: str, code: str | None = None, type_: str = "invalid_request_error") -> bytes:
    return json.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}}).encode()


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "code", "retry_after"),
    [
        (
            400,
            envelope("Invalid value: '7'.", "invalid_value"),
            {},
            InvalidRequestError,
            "invalid_value",
            None,
        ),
        (
            400,
            envelope("Inpaint image must match the requested width and height"),
            {},
            InvalidRequestError,
            None,
            None,
        ),
        (400, envelope("Blocked by moderation.", "moderation_blocked"), {}, ContentPolicyError, None, None),
        (
            400,
            envelope("billing hard limit", "billing_hard_limit_reached"),
            {},
            OutOfBalanceError,
            None,
            None,
        ),
        (401, envelope("Incorrect API key provided", "invalid_api_key"), {}, UnauthorizedError, None, None),
        (
            403,
            envelope("Your organization must be verified to use sora-2."),
            {},
            UnauthorizedError,
            None,
            None,
        ),
        (403, envelope("Rejected by our safety system."), {}, ContentPolicyError, None, None),
        (
            403,
            envelope("用户额度不足", "insufficient_user_quota", "new_api_error"),
            {},
            OutOfBalanceError,
            None,
            None,
        ),
        (402, b'{"message": "payment required"}', {}, OutOfBalanceError, "402", None),
        (404, envelope("Video not found.", "not_found"), {}, NotFoundError, "not_found", None),
        (410, b"", {}, NotFoundError, "410", None),
        (422, b"", {}, InvalidRequestError, "422", None),
        (
            429,
            envelope("Rate limit reached.", "rate_limit_exceeded"),
            {"retry-after": "3"},
            RateLimitedError,
            None,
            3.0,
        ),
        (
            429,
            envelope("You exceeded your current quota.", "insufficient_quota"),
            {},
            OutOfBalanceError,
            None,
            None,
        ),
        (500, envelope("The server had an error.", None, "server_error"), {}, UnavailableError, None, None),
        (
            503,
            envelope("当前分组 default 下对于模型 sora-2 无可用渠道", "model_not_found"),
            {},
            UnavailableError,
            None,
            None,
        ),
        (502, b"<html>Bad gateway</html>", {"Retry-After": "12"}, UnavailableError, "502", 12.0),
    ],
)
def test_classify_error(
    status: int,
    body: bytes,
    headers: dict[str, str],
    kind: type[ProviderError],
    code: str | None,
    retry_after: float | None,
) -> None:
    error = classify_error("openai", HttpResponse(status, headers, body))
    assert type(error) is kind
    assert error.http_status == status and error.provider == "openai"
    assert error.retry_after == retry_after
    if code is not None:
        assert error.code == code


def test_classify_error_never_repeats_a_key() -> None:
    body = envelope(f"Incorrect API key provided: sk-te********dXYZ. Also {KEY}.", "invalid_api_key")
    error = classify_error("openai", HttpResponse(401, {}, body), (KEY,))
    assert "sk-te" not in str(error) and KEY not in str(error) and "dXYZ" not in str(error)
    assert redact("key sk-abc123 and sk-***x") == "key sk-*** and sk-***"


@pytest.mark.parametrize("status", [403, 404, 410])
def test_classify_download_error_reads_gone_results_as_not_found(status: int) -> None:
    error = classify_download_error("laozhang", HttpResponse(status, {}, b"<Error>AccessDenied</Error>"))
    assert isinstance(error, NotFoundError) and error.failover


def test_standard_webhooks_reference_vector() -> None:
    body = b'{"test": 2432232314}'
    assert (
        webhook_signature(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body)
        == "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        # a signature from a rotated-out key comes first; any match is enough
        "webhook-signature": "v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    verify_webhook(SECRET, headers, body, now=1614265330 + 299)
    with pytest.raises(CallbackRejected):
        verify_webhook(SECRET, headers, body, now=1614265330 + 301)
    with pytest.raises(CallbackRejected):
        verify_webhook(SECRET, headers, body.replace(b"2", b"3"), now=1614265330)


# ------------------------------------------------------------------------------ against the fake API


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAIVideos]:
    server = FakeOpenAIVideos(KEY)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def make_provider(
    fake: FakeOpenAIVideos, sleeps: Sleeps, name: str = "openai", **kw: Any
) -> OpenAIVideosProvider:
    config = ProviderConfig(name, f"{fake.url}/v1", SecretStr(kw.pop("key", KEY)), 30)
    return OpenAIVideosProvider(config, http=bearer_http(config, sleep=sleeps, backoff_base=0), **kw)


@pytest.fixture
async def provider(fake: FakeOpenAIVideos, sleeps: Sleeps) -> AsyncIterator[OpenAIVideosProvider]:
    adapter = make_provider(fake, sleeps)
    try:
        yield adapter
    finally:
        await adapter.close()


async def collect(provider: OpenAIVideosProvider, status: TaskStatus, max_bytes: int = 10_000_000) -> bytes:
    return b"".join([chunk async for chunk in provider.download(status, max_bytes=max_bytes)])


async def finish(provider: OpenAIVideosProvider, task_id: str, limit: int = 10) -> list[TaskStatus]:
    """Poll until terminal (a bounded loop: the fake ends after `polls_to_complete`)."""
    seen = [await provider.status(task_id)]
    while seen[-1].state in (TaskState.QUEUED, TaskState.RUNNING) and len(seen) < limit:
        seen.append(await provider.status(task_id))
    return seen


async def test_text_to_video_succeeds_after_polls_and_downloads(
    fake: FakeOpenAIVideos, provider: OpenAIVideosProvider
) -> None:
    fake.polls_to_complete = 2
    fake.poll_after_ms = 2500
    submitted = await provider.submit(make_job())
    assert submitted.status.state is TaskState.QUEUED and submitted.status.poll_after == 2.5
    sent = fake.requests[0]
    assert sent.fields == {
        "model": ["sora-2"],
        "prompt": ["a red fox trotting through fresh snow"],
        "size": ["720x1280"],
        "seconds": ["8"],
    }
    assert sent.headers["Content-Type"].startswith("multipart/form-data")
    states = await finish(provider, submitted.task_id)
    assert [(s.state, s.progress) for s in states] == [
        (TaskState.RUNNING, 50),
        (TaskState.RUNNING, 99),
        (TaskState.SUCCEEDED, 100),
    ]
    assert states[0].poll_after == 2.5
    result = states[-1].result
    assert result is not None and (result.width, result.height, result.duration) == (720, 1280, 8.0)
    assert await collect(provider, states[-1]) == fake.video_bytes
    content = fake.requests[-1]
    assert content.endpoint == "content"
    assert content.headers["Authorization"] == f"Bearer {KEY}"
    assert content.headers["Accept"] == "application/binary"


async def test_image_to_video_sends_a_reference_the_api_accepts(
    fake: FakeOpenAIVideos, provider: OpenAIVideosProvider
) -> None:
    submitted = await provider.submit(make_job("i2v", aspect="16:9", first_frame=picture(1000, 1000)))
    assert fake.requests[0].files == [("input_reference", "input.jpg", "image/jpeg", (1280, 720))]
    assert (await finish(provider, submitted.task_id))[-1].state is TaskState.SUCCEEDED


async def test_laozhang_veo_first_and_last_frame(fake: FakeOpenAIVideos, sleeps: Sleeps) -> None:
    fake.initial_status = "submitted"
    fake.polls_to_complete = 0
    adapter = make_provider(fake, sleeps, "laozhang")
    try:
        assert adapter.name == "laozhang"
        job = make_job(
            "fl2v",
            model="veo-3.1-fast-generate-preview",
            provider="laozhang",
            aspect="16:9",
            resolution="1080p",
            first_frame=picture(800, 600, "PNG"),
            last_frame=picture(600, 800),
        )
        submitted = await adapter.submit(job)
        assert submitted.status.state is TaskState.QUEUED
        sent = fake.requests[0]
        assert (sent.fields["seconds"], sent.fields["duration"], sent.fields["size"]) == (
            ["8"],
            ["8"],
            ["1920x1080"],
        )
        assert [f[2:] for f in sent.files] == [("image/png", (1920, 1080)), ("image/jpeg", (1920, 1080))]
        done = await adapter.status(submitted.task_id)
        assert done.state is TaskState.SUCCEEDED
        assert await collect(adapter, done) == fake.video_bytes
    finally:
        await adapter.close()


async def test_the_fake_refuses_references_of_the_wrong_size_or_type(fake: FakeOpenAIVideos) -> None:
    """The check the image fitting exists for, as the real API makes it."""
    auth = {"Authorization": f"Bearer {KEY}"}

    async def post(form: aiohttp.FormData) -> tuple[int, dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{fake.url}/v1/videos", data=form, headers=auth) as response,
        ):
            return response.status, await response.json()

    wrong = aiohttp.FormData({"model": "sora-2", "prompt": "p", "size": "1280x720", "seconds": "4"})
    wrong.add_field("input_reference", picture(1000, 1000).data, filename="a.jpg", content_type="image/jpeg")
    assert await post(wrong) == (
        400,
        {
            "error": {
                "message": "Inpaint image must match the requested width and height",
                "type": "invalid_request_error",
                "param": "input_reference",
                "code": None,
            }
        },
    )
    text = aiohttp.FormData(
        {"prompt": "p", "input_reference": "https://example.com/a.jpg"}, default_to_multipart=True
    )
    status, body = await post(text)
    assert (status, body["error"]["code"], body["error"]["param"]) == (400, "invalid_type", "input_reference")
    status, body = await post(aiohttp.FormData({"prompt": "p"}))  # urlencoded
    assert status == 400 and "content type" in body["error"]["message"]
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.url}/v1/videos", json={"prompt": "p", "seconds": 8}, headers=auth) as response,
    ):
        assert response.status == 400 and (await response.json())["error"]["param"] == "seconds"


async def test_a_size_the_model_lacks_is_an_invalid_request(
    fake: FakeOpenAIVideos, provider: OpenAIVideosProvider
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await provider.submit(make_job(resolution="1080p"))  # 1080p is sora-2-pro only
    assert caught.value.http_status == 400 and not caught.value.failover
    assert fake.videos == {}


async def test_content_policy_at_submit(
    fake: FakeOpenAIVideos, provider: OpenAIVideosProvider, sleeps: Sleeps
) -> None:
    with pytest.raises(ContentPolicyError) as caught:
        await provider.submit(make_job(prompt="something forbidden"))
    assert caught.value.code == "moderation_blocked" and not caught.value.failover
    assert sleeps == [] and len(fake.requests) == 1


async def test_content_policy_while_running(fake: FakeOpenAIVideos, provider: OpenAIVideosProvider) -> None:
    fake.outcome = "moderation"
    submitted = await provider.submit(make_job())
    final = (await finish(provider, submitted.task_id))[-1]
    assert (final.state, final.content_policy, final.error_code) == (
        TaskState.FAILED,
        True,
        "moderation_blocked",
    )
    assert final.result is None


async def test_finished_without_a_video(fake: FakeOpenAIVideos, provider: OpenAIVideosProvider) -> None:
    fake.outcome = "no_reason"
    submitted = await provider.submit(make_job())
    final = (await finish(provider, submitted.task_id))[-1]
    assert (final.state, final.content_policy, final.error_code) == (TaskState.FAILED, False, "failed")
    with pytest.raises(NotFoundError):
        await collect(provider, final)


async def test_429_with_a_retry_hint_is_waited_out(
    fake: FakeOpenAIVideos, provider: OpenAIVideosProvider, sleeps: Sleeps
) -> None:
    fake.fail_next("create", 429, code="rate_limit_exceeded", headers={"retry-after": "7"})
    submitted = await provider.submit(make_job())
    assert sleeps == [7.0]
    assert submitted.task_id in fake.videos


async def test_429_that_persists_reaches_the_caller_with_its_hint(
    fake: FakeOpenAIVideos, provider: OpenAIVideosProvider, sleeps: Sleeps
) -> None:
    submitted = await provider.submit(make_job())
    fake.fail_next("retrieve", 429, code="rate_limit_exceeded", headers={"retry-after": "5"}, times=4)
    with pytest.raises(RateLimitedError) as caught:
        await provider.status(submitted.task_id)
    assert caught.value.retry_after == 5.0 and sleeps == [5.0, 5.0, 5.0]


async def test_out_of_quota_is_not_retried(
    fake: FakeOpenAIVideos, provider: OpenAIVideosProvider, sleeps: Sleeps
) -> None:
    fake.fail_next("create", 429, message="You exceeded your current quota.", code="insufficient_quota")
    with pytest.raises(OutOfBalanceError) as caught:
        await provider.submit(make_job())
    assert caught.value.failover and sleeps == []


async def test_5xx_is_retried_then_succeeds(
    fake: FakeOpenAIVideos, provider: OpenAIVideosProvider, sleeps: Sleeps
) -> None:
    fake.polls_to_complete = 0
    submitted = await provider.submit(make_job())
    fake.fail_next("retrieve", 500, code="server_error", times=2)
    assert (await provider.status(submitted.task_id)).state is TaskState.SUCCEEDED
    assert len(sleeps) == 2


async def test_5xx_that_persists_fails_over(fake: FakeOpenAIVideos, provider: OpenAIVideosProvider) -> None:
    """A 503 refuses the create, so it is sent again, and fails over when it persists. (This test used
    a 502, which is now an uncertain submit: see the next test.)"""
    fake.fail_next("create", 503, raw="<html><body>503 Service Unavailable</body></html>", times=4)
    with pytest.raises(UnavailableError) as caught:
        await provider.submit(make_job())
    assert caught.value.failover and caught.value.message == "HTTP 503"
    assert fake.hits["create"] == 4 and fake.videos == {}


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_a_5xx_after_sending_a_create_is_uncertain_and_not_resent(
    fake: FakeOpenAIVideos, provider: OpenAIVideosProvider, sleeps: Sleeps, status: int
) -> None:
    fake.fail_next("create", status, raw="<html><body>gateway trouble</body></html>")
    with pytest.raises(UncertainSubmitError) as caught:
        await provider.submit(make_job())
    assert not caught.value.failover and caught.value.http_status == status
    assert fake.hits["create"] == 1 and sleeps == []


async def test_a_create_answer_without_an_id_is_uncertain(
    fake: FakeOpenAIVideos, provider: OpenAIVideosProvider
) -> None:
    fake.fail_next("create", 200, raw="<html>ok</html>")
    with pytest.raises(UncertainSubmitError):
        await provider.submit(make_job())
    assert fake.hits["create"] == 1


SENT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("fault", ["malformed", "stall"])
async def test_an_uncertain_create_is_found_in_the_video_list(
    fake: FakeOpenAIVideos, sleeps: Sleeps, fault: Literal["malformed", "stall"]
) -> None:
    """OpenAI takes no client id, but lists videos: the one with this job's prompt, model, size and
    seconds made since the create was sent is its task."""
    fake.clock = lambda: SENT.timestamp() + 5
    config = ProviderConfig("openai", f"{fake.url}/v1", SecretStr(KEY), 30)
    adapter = OpenAIVideosProvider(config, http=bearer_http(config, sleep=sleeps, read_timeout=0.3))
    try:
        await adapter.submit(make_job(prompt="an older video, same prompt"))
        fake.clock = lambda: SENT.timestamp() + 400
        await adapter.submit(make_job(prompt="another prompt"))
        fake.break_next("create", fault)
        with pytest.raises(UncertainSubmitError):
            await adapter.submit(make_job(prompt="an older video, same prompt"))
        found = await adapter.find_submitted(
            make_job(prompt="an older video, same prompt"), since=SENT + timedelta(seconds=390)
        )
    finally:
        await adapter.close()
    assert adapter.finds_submitted and fake.hits["create"] == 3
    assert found is not None and found.task_id == max(fake.videos) and found.status.state is TaskState.QUEUED


async def test_no_video_or_two_matching_videos(
    fake: FakeOpenAIVideos, provider: OpenAIVideosProvider
) -> None:
    fake.clock = SENT.timestamp
    fake.break_next("create", "malformed", made=False)
    with pytest.raises(UncertainSubmitError):
        await provider.submit(make_job())
    assert await provider.find_submitted(make_job(), since=SENT) is None
    assert await provider.find_submitted(make_job(duration=4), since=SENT) is None
    await provider.submit(make_job())
    await provider.submit(make_job())
    with pytest.raises(UncertainSubmitError, match="2 recent videos"):
        await provider.find_submitted(make_job(), since=SENT)


async def test_the_list_is_read_back_page_by_page(
    fake: FakeOpenAIVideos, provider: OpenAIVideosProvider
) -> None:
    fake.clock = SENT.timestamp
    await provider.submit(make_job(prompt="the first one"))
    for number in range(150):
        fake.videos[f"video_x{number:03d}"] = FakeVideo(
            f"video_x{number:03d}", "sora-2", "noise", "8", "720x1280", "completed", "completed", 0,
            created_at=int(SENT.timestamp()) + 1 + number,
        )  # fmt: skip
    found = await provider.find_submitted(make_job(prompt="the first one"), since=SENT)
    assert found is not None and found.task_id == "video_0001"
    assert fake.hits["list"] == 2


def test_laozhang_documents_no_video_list() -> None:
    config = ProviderConfig("laozhang", "https://api.laozhang.ai/v1", SecretStr(KEY), 30)
    assert OpenAIVideosProvider(config).finds_submitted is False


async def test_wrong_key_is_unauthorized_and_never_echoed(fake: FakeOpenAIVideos, sleeps: Sleeps) -> None:
    wrong = "sk-wrong-key-000000SECRET"
    adapter = make_provider(fake, sleeps, key=wrong)
    try:
        with pytest.raises(UnauthorizedError) as caught:
            await adapter.submit(make_job())
    finally:
        await adapter.close()
    assert caught.value.failover
    assert "sk-wr" not in str(caught.value) and "CRET" not in str(caught.value)


async def test_unknown_task_is_not_found(provider: OpenAIVideosProvider) -> None:
    with pytest.raises(NotFoundError):
        await provider.status("video_missing")


async def test_expired_download_is_not_found(fake: FakeOpenAIVideos, provider: OpenAIVideosProvider) -> None:
    fake.polls_to_complete = 0
    done = await provider.status((await provider.submit(make_job())).task_id)
    fake.expired = True
    with pytest.raises(NotFoundError) as caught:
        await collect(provider, done)
    assert caught.value.http_status == 404


@pytest.mark.parametrize("declare_length", [True, False])
async def test_large_download_stops_at_the_cap(
    fake: FakeOpenAIVideos, provider: OpenAIVideosProvider, declare_length: bool
) -> None:
    fake.polls_to_complete = 0
    fake.declare_length = declare_length
    done = await provider.status((await provider.submit(make_job())).task_id)
    with pytest.raises(MediaTooLargeError):
        await collect(provider, done, max_bytes=len(fake.video_bytes) - 1)


async def test_slow_download_streams_what_has_arrived(
    fake: FakeOpenAIVideos, provider: OpenAIVideosProvider
) -> None:
    fake.polls_to_complete = 0
    fake.hold_download = asyncio.Event()
    done = await provider.status((await provider.submit(make_job())).task_id)
    chunks = provider.download(done, max_bytes=10_000_000)
    first = await anext(chunks)
    assert first and fake.downloads_finished == 0  # the rest is still held by the server
    fake.hold_download.set()
    rest = b"".join([chunk async for chunk in chunks])
    assert first + rest == fake.video_bytes and fake.downloads_finished == 1


@pytest.mark.parametrize("form", ["json_url", "text_url", "redirect"])
async def test_laozhang_content_that_names_the_video_is_followed_without_the_key(
    fake: FakeOpenAIVideos, sleeps: Sleeps, form: Any
) -> None:
    fake.polls_to_complete = 0
    fake.content_form = form
    adapter = make_provider(fake, sleeps, "laozhang")
    try:
        submitted = await adapter.submit(make_job(provider="laozhang"))
        done = await adapter.status(submitted.task_id)
        assert done.result is not None and done.result.url == f"videos/{submitted.task_id}/content"
        assert await collect(adapter, done) == fake.video_bytes
    finally:
        await adapter.close()
    assert fake.requests[-1].endpoint == "content"
    assert fake.requests[-1].headers["Authorization"] == f"Bearer {KEY}"
    assert len(fake.cdn_requests) == 1
    assert "Authorization" not in fake.cdn_requests[0], "the key never leaves the API's host"


async def test_laozhang_output_url_is_downloaded_from_the_cdn(fake: FakeOpenAIVideos, sleeps: Sleeps) -> None:
    fake.polls_to_complete = 1
    fake.output_url = True
    adapter = make_provider(fake, sleeps, "laozhang")
    try:
        submitted = await adapter.submit(make_job(provider="laozhang"))
        states = await finish(adapter, submitted.task_id)
        assert [s.state for s in states] == [TaskState.RUNNING, TaskState.SUCCEEDED]
        result = states[-1].result
        assert result is not None and result.url == fake.file_url(submitted.task_id)
        assert await collect(adapter, states[-1]) == fake.video_bytes
    finally:
        await adapter.close()
    assert fake.hits["content"] == 0
    assert [("Authorization" in h) for h in fake.cdn_requests] == [False]


STORED = "u1/g1.mp4"


async def store_download(adapter: OpenAIVideosProvider, status: TaskStatus, store: LocalMediaStore) -> None:
    """Stream the download into the media store the way services/outcomes.py does."""
    await store.write(STORED, adapter.download(status, max_bytes=10_000_000), max_bytes=10_000_000)


async def drain(chunks: AsyncIterator[bytes], into: list[bytes]) -> None:
    """Read a download chunk by chunk, keeping what arrived before any error."""
    async for chunk in chunks:
        into.append(chunk)


def files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


@pytest.mark.parametrize(
    ("form", "cdn_body"),
    [
        ("html", None),
        ("json_without_url", None),
        ("json_url", "<html><body>bucket error</body></html>"),  # the link leads to no MP4
        ("text_url", "https://cdn.laozhang.example/elsewhere.mp4"),  # a link to a link: one hop only
    ],
    ids=["html-under-200", "json-without-url", "link-to-a-page", "link-to-a-link"],
)
async def test_a_download_that_is_neither_an_mp4_nor_a_url_stores_nothing(
    fake: FakeOpenAIVideos, sleeps: Sleeps, tmp_path: Path, form: Any, cdn_body: str | None
) -> None:
    fake.polls_to_complete = 0
    fake.content_form = form
    if cdn_body is not None:
        fake.fail_next("cdn", 200, raw=cdn_body, times=2)  # the same answer for both downloads below
    adapter = make_provider(fake, sleeps, "laozhang")
    try:
        done = await adapter.status((await adapter.submit(make_job(provider="laozhang"))).task_id)
        chunks: list[bytes] = []
        with pytest.raises(UnavailableError, match="neither an MP4 nor a URL") as caught:
            await drain(adapter.download(done, max_bytes=10_000_000), chunks)
        assert chunks == [], "nothing is handed on before the MP4 signature"
        assert caught.value.code == "not_mp4" and KEY not in str(caught.value)
        store = LocalMediaStore(tmp_path, public_base_url=None, link_secret=b"test-secret")
        with pytest.raises(UnavailableError):
            await store_download(adapter, done, store)
    finally:
        await adapter.close()
    assert not await store.exists(STORED)
    assert await asyncio.to_thread(files_under, tmp_path) == [], "no file, not even a partial one"
    assert len(fake.cdn_requests) == (2 if cdn_body is not None else 0)
    assert all("Authorization" not in headers for headers in fake.cdn_requests)


async def test_a_large_answer_without_the_signature_is_refused_without_reading_on(
    fake: FakeOpenAIVideos, provider: OpenAIVideosProvider
) -> None:
    fake.polls_to_complete = 0
    fake.video_bytes = b"<html>" + b"x" * 200_000
    done = await provider.status((await provider.submit(make_job())).task_id)
    with pytest.raises(UnavailableError, match="neither an MP4"):
        await collect(provider, done)


async def test_an_mp4_from_content_is_stored_whole(
    fake: FakeOpenAIVideos, provider: OpenAIVideosProvider, tmp_path: Path
) -> None:
    fake.polls_to_complete = 0
    fake.declare_length = False
    done = await provider.status((await provider.submit(make_job())).task_id)
    store = LocalMediaStore(tmp_path, public_base_url=None, link_secret=b"test-secret")
    await store_download(provider, done, store)
    assert b"".join([c async for c in store.read(STORED)]) == fake.video_bytes


async def test_remix_of_a_finished_video(fake: FakeOpenAIVideos, provider: OpenAIVideosProvider) -> None:
    fake.polls_to_complete = 0
    source = (await provider.submit(make_job())).task_id
    assert (await provider.status(source)).state is TaskState.SUCCEEDED
    remix = await provider.submit(make_job("remix", prompt="same scene at night", source_task_id=source))
    assert fake.requests[-1].json == {"prompt": "same scene at night"}
    assert fake.videos[remix.task_id].remixed_from == source
    with pytest.raises(NotFoundError):
        await provider.submit(make_job("remix", prompt="again", source_task_id="video_gone"))


async def test_extend_a_finished_video(fake: FakeOpenAIVideos, provider: OpenAIVideosProvider) -> None:
    fake.polls_to_complete = 0
    source = (await provider.submit(make_job(duration=4))).task_id
    await provider.status(source)
    extended = await provider.submit(
        make_job("extend", prompt="the fox runs on", source_task_id=source, duration=8)
    )
    assert fake.requests[-1].fields == {
        "prompt": ["the fox runs on"],
        "video[id]": [source],
        "seconds": ["8"],
    }
    done = await provider.status(extended.task_id)
    assert done.result is not None and done.result.duration == 12.0  # stitched total


async def test_running_jobs_cannot_be_cancelled(provider: OpenAIVideosProvider) -> None:
    assert provider.can_cancel is False
    assert await provider.cancel("video_1") is False


async def test_webhook_from_the_fake_is_accepted_with_the_secret(
    fake: FakeOpenAIVideos, sleeps: Sleeps
) -> None:
    adapter = make_provider(fake, sleeps, webhook_secret=SECRET, clock=lambda: NOW + 10)
    try:
        for event_type in ("video.completed", "video.failed"):
            headers, body = fake.webhook("video_7", event_type, SECRET, timestamp=NOW)
            assert adapter.parse_callback(headers, body) == CallbackEvent("video_7")
        headers, body = fake.webhook("video_7", "video.completed", SECRET, timestamp=NOW)
        rejected = [
            (headers, body.replace(b"video_7", b"video_8")),  # tampered
            ({k: v for k, v in headers.items() if k != "webhook-signature"}, body),  # unsigned
            ({**headers, "webhook-timestamp": str(NOW - 400)}, body),  # replayed
            ({**headers, "webhook-timestamp": "yesterday"}, body),
            fake.webhook(
                "video_7", "video.completed", "whsec_" + "QUJD" * 8, timestamp=NOW
            ),  # another secret
        ]
        for bad_headers, bad_body in rejected:
            with pytest.raises(CallbackRejected):
                adapter.parse_callback(bad_headers, bad_body)
    finally:
        await adapter.close()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"type": "response.completed", "data": {"id": "resp_1"}}',
        b'{"type": "video.completed", "data": {}}',
        b'{"type": "video.completed", "data": "video_1"}',
        b"[]",
    ],
)
async def test_webhook_shape_is_checked(provider: OpenAIVideosProvider, body: bytes) -> None:
    with pytest.raises(CallbackRejected):
        provider.parse_callback({}, body)


async def test_webhook_without_a_configured_secret_names_the_video(provider: OpenAIVideosProvider) -> None:
    body = b'{"id": "evt_1", "object": "event", "type": "video.failed", "data": {"id": "video_3"}}'
    assert provider.parse_callback({}, body) == CallbackEvent("video_3", None)


async def test_close_closes_the_session(fake: FakeOpenAIVideos, sleeps: Sleeps) -> None:
    adapter = make_provider(fake, sleeps)
    with pytest.raises(NotFoundError):
        await adapter.status("video_x")  # opens the session
    await adapter.close()
    assert adapter._http._session is not None and adapter._http._session.closed


def test_an_adapter_needs_a_key_to_build_its_own_transport() -> None:
    with pytest.raises(ValueError, match="no API key"):
        OpenAIVideosProvider(ProviderConfig("openai", "https://api.openai.com/v1", None, 30))


@pytest.mark.parametrize(
    ("code", "fault"),
    [("server_error", True), ("timeout", True), ("moderation_blocked", False), (None, False)],
)
def test_a_failure_named_a_server_error_or_timeout_is_a_provider_fault(code: str | None, fault: bool) -> None:
    status = parse_status({"id": "v", "status": "failed", "error": {"code": code, "message": "it failed"}})
    assert status.state is TaskState.FAILED and status.provider_fault is fault
