"""LaoZhang's legacy chat-completions video mode: link extraction and body building table-driven, then the
real adapter against the fake gateway (one synchronous call, never sent twice once it may have been
billed, link on another host)."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from PIL import Image
from pydantic import SecretStr

from services.catalog import Route
from services.providers.base import (
    CallbackRejected,
    ContentPolicyError,
    InputImage,
    InvalidRequestError,
    NotFoundError,
    OutOfBalanceError,
    RateLimitedError,
    SubmitJob,
    TaskState,
    TaskStatus,
    UnauthorizedError,
    UnavailableError,
    UncertainSubmitError,
)
from services.providers.descriptor import ProviderConfig
from services.providers.laozhang_chat import (
    LaoZhangChatProvider,
    build_chat_body,
    extract_video_url,
    parse_chat_reply,
)
from services.providers.openai_videos import bearer_http
from services.video_request import VideoRequest
from storage.errors import MediaTooLargeError
from tests.fakes.providers.openai_videos import FakeOpenAIVideos
from tests.fakes.sleeps import Sleeps

KEY = "sk-lz-test-abcdef0123456789"


def picture(width: int = 64, height: int = 48, fmt: str = "JPEG") -> InputImage:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (1, 2, 3)).save(buffer, fmt)
    return InputImage(buffer.getvalue(), f"image/{fmt.lower()}", width, height)


def make_job(
    mode: str = "t2v", *, model: str = "veo-3.1-fast", prompt: str = "a lighthouse at dusk", **extra: Any
) -> SubmitJob:
    request = VideoRequest(model="veo-3.1-fast", mode=mode, prompt=prompt, duration=8, aspect_ratio="9:16")
    return SubmitJob(request=request, route=Route(provider="laozhang", model_id=model), **extra)


def reply(content: Any, finish_reason: str = "stop") -> dict[str, Any]:
    message = {"role": "assistant", "content": content}
    return {"choices": [{"index": 0, "message": message, "finish_reason": finish_reason}]}


# ------------------------------------------------------------------------------------------ pure units


@pytest.mark.parametrize(
    ("content", "url"),
    [
        ("Done!\n\n[download video](https://cdn.example/v/abc.mp4)", "https://cdn.example/v/abc.mp4"),
        (
            "✅ 视频生成成功\n[下载视频](https://filesystem.site/cdn/2026/x.mp4)",
            "https://filesystem.site/cdn/2026/x.mp4",
        ),
        ("[▶️ Watch online](https://cdn.example/play?id=7) and more text", "https://cdn.example/play?id=7"),
        (  # a preview image embed is not the video
            "![preview](https://cdn.example/p.jpg)\n[download](https://cdn.example/v.mp4)",
            "https://cdn.example/v.mp4",
        ),
        (
            "Your video: https://cdn.example/a/b.mp4?sig=1&exp=2, enjoy",
            "https://cdn.example/a/b.mp4?sig=1&exp=2",
        ),
        ("See https://example.com/page then https://cdn.example/c.WEBM.", "https://cdn.example/c.WEBM"),
        ("video <https://cdn.example/clip.mov>", "https://cdn.example/clip.mov"),
        ("at https://cdn.example/v.mov/get.mp4 now", "https://cdn.example/v.mov/get.mp4"),
        ("http://cdn.example/plain.mp4", "http://cdn.example/plain.mp4"),
        ("Result: https://cdn.example/result/42.", "https://cdn.example/result/42"),  # any https URL, last
        ("生成失败，请稍后再试", None),
        ("", None),
    ],
)
def test_extract_video_url(content: str, url: str | None) -> None:
    assert extract_video_url(content) == url


def test_build_chat_body_text_only() -> None:
    assert build_chat_body(make_job()) == {
        "model": "veo-3.1-fast",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "a lighthouse at dusk"}]}],
        "stream": False,
        "n": 1,
    }


def test_build_chat_body_sends_frames_as_data_urls() -> None:
    first, last = picture(), picture(fmt="PNG")
    body = build_chat_body(make_job("fl2v", model="veo-3.1-fast-fl", first_frame=first, last_frame=last))
    parts = body["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "image_url"]
    urls = [p["image_url"]["url"] for p in parts[1:]]
    assert urls[0] == "data:image/jpeg;base64," + base64.b64encode(first.data).decode()
    assert urls[1].startswith("data:image/png;base64,")
    assert base64.b64decode(urls[1].split(",", 1)[1]) == last.data


@pytest.mark.parametrize(
    "job",
    [
        make_job("remix", source_task_id="x"),
        make_job("ref2v"),
        make_job("i2v"),
        make_job("fl2v", first_frame=picture()),
    ],
)
def test_build_chat_body_refuses_what_the_route_cannot_do(job: SubmitJob) -> None:
    with pytest.raises(InvalidRequestError):
        build_chat_body(job)


def test_parse_chat_reply_reads_text_parts() -> None:
    parts = [{"type": "text", "text": "done"}, {"type": "text", "text": "[video](https://cdn.example/v.mp4)"}]
    assert parse_chat_reply(reply(parts)).url == "https://cdn.example/v.mp4"


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (reply("生成失败：提示词包含敏感内容"), ContentPolicyError),
        (reply("Your prompt violates our content policy."), ContentPolicyError),
        (reply("", "content_filter"), ContentPolicyError),
        (reply("Generation failed, please try again later."), UnavailableError),
        (reply(None), UnavailableError),
        # No message at all: the call was billed and may have made a video nobody can find.
        ({"choices": []}, UncertainSubmitError),
        ({"error": "odd"}, UncertainSubmitError),
        (None, UncertainSubmitError),
    ],
)
def test_parse_chat_reply_without_a_link(payload: Any, kind: type[Exception]) -> None:
    with pytest.raises(kind):
        parse_chat_reply(payload)


# ------------------------------------------------------------------------------ against the fake API


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAIVideos]:
    server = FakeOpenAIVideos(KEY)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def make_provider(fake: FakeOpenAIVideos, sleeps: Sleeps, key: str = KEY) -> LaoZhangChatProvider:
    config = ProviderConfig("laozhang", f"{fake.url}/v1", SecretStr(key), 30)
    return LaoZhangChatProvider(config, http=bearer_http(config, sleep=sleeps, backoff_base=0))


@pytest.fixture
async def provider(fake: FakeOpenAIVideos, sleeps: Sleeps) -> AsyncIterator[LaoZhangChatProvider]:
    adapter = make_provider(fake, sleeps)
    try:
        yield adapter
    finally:
        await adapter.close()


async def collect(provider: LaoZhangChatProvider, status: TaskStatus, max_bytes: int = 10_000_000) -> bytes:
    return b"".join([chunk async for chunk in provider.download(status, max_bytes=max_bytes)])


async def test_a_synchronous_generation_is_finished_at_submit(
    fake: FakeOpenAIVideos, provider: LaoZhangChatProvider
) -> None:
    submitted = await provider.submit(make_job())
    assert submitted.status.state is TaskState.SUCCEEDED
    result = submitted.status.result
    assert (
        result is not None and result.url.startswith(f"{fake.cdn_url}/files/") and result.url.endswith(".mp4")
    )
    assert fake.requests[0].json["stream"] is False and fake.requests[0].json["model"] == "veo-3.1-fast"
    with pytest.raises(NotFoundError):  # nothing to ask later: the submission records the result
        await provider.status(submitted.task_id)
    assert await collect(provider, submitted.status) == fake.video_bytes
    assert "Authorization" not in fake.cdn_requests[0]  # the key stays on the API host


async def test_each_submit_gets_its_own_id(provider: LaoZhangChatProvider) -> None:
    first, second = await provider.submit(make_job()), await provider.submit(make_job())
    assert first.task_id != second.task_id


async def test_image_to_video_on_a_frames_model(
    fake: FakeOpenAIVideos, provider: LaoZhangChatProvider
) -> None:
    submitted = await provider.submit(make_job("i2v", model="veo-3.1-fast-fl", first_frame=picture()))
    assert submitted.status.state is TaskState.SUCCEEDED
    assert fake.requests[0].json["messages"][0]["content"][1]["type"] == "image_url"


async def test_images_on_a_text_model_are_an_invalid_request(provider: LaoZhangChatProvider) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await provider.submit(make_job("i2v", model="veo-3.1-fast", first_frame=picture()))
    assert caught.value.http_status == 400


async def test_unknown_task_is_not_found(provider: LaoZhangChatProvider) -> None:
    with pytest.raises(NotFoundError):
        await provider.status("chat-unknown")


async def test_content_policy_reply(fake: FakeOpenAIVideos, provider: LaoZhangChatProvider) -> None:
    with pytest.raises(ContentPolicyError) as caught:
        await provider.submit(make_job(prompt="something forbidden"))
    assert not caught.value.failover


async def test_reply_without_a_video(fake: FakeOpenAIVideos, provider: LaoZhangChatProvider) -> None:
    fake.chat_reply = "Generation failed, please try again later."
    with pytest.raises(UnavailableError) as caught:
        await provider.submit(make_job())
    assert caught.value.failover and caught.value.code == "no_video"


async def test_429_is_a_refusal_waited_out_and_sent_again(
    fake: FakeOpenAIVideos, provider: LaoZhangChatProvider, sleeps: Sleeps
) -> None:
    """A 429 says LaoZhang took (and billed) nothing. (This test used to assert no retry at all.)"""
    fake.fail_next("chat", 429, code="rate_limit_exceeded", headers={"Retry-After": "9"})
    assert (await provider.submit(make_job())).status.state is TaskState.SUCCEEDED
    assert sleeps == [9.0] and len(fake.requests) == 1  # the refusal came before the handler recorded it


async def test_a_long_429_hint_is_handed_back_without_sending_again(
    fake: FakeOpenAIVideos, provider: LaoZhangChatProvider, sleeps: Sleeps
) -> None:
    fake.fail_next("chat", 429, code="rate_limit_exceeded", headers={"Retry-After": "90"})
    with pytest.raises(RateLimitedError) as caught:
        await provider.submit(make_job())
    assert caught.value.retry_after == 90.0
    assert sleeps == [] and fake.hits["chat"] == 1


async def test_5xx_is_not_retried_because_the_call_may_be_billed(
    fake: FakeOpenAIVideos, provider: LaoZhangChatProvider, sleeps: Sleeps
) -> None:
    fake.fail_next("chat", 500, code="server_error")
    with pytest.raises(UncertainSubmitError):
        await provider.submit(make_job())
    assert sleeps == [] and fake.hits["chat"] == 1
    assert (await provider.submit(make_job())).status.state is TaskState.SUCCEEDED  # the next call works


async def test_unrouted_model_is_unavailable(provider: LaoZhangChatProvider) -> None:
    with pytest.raises(UnavailableError) as caught:
        await provider.submit(make_job(model="veo-9"))
    assert caught.value.failover


async def test_out_of_balance(fake: FakeOpenAIVideos, provider: LaoZhangChatProvider) -> None:
    fake.fail_next("chat", 403, message="用户额度不足, 剩余额度: $0.01", code="insufficient_user_quota")
    with pytest.raises(OutOfBalanceError):
        await provider.submit(make_job())


async def test_wrong_key(fake: FakeOpenAIVideos, sleeps: Sleeps) -> None:
    wrong = "sk-not-the-key-987654321"
    adapter = make_provider(fake, sleeps, key=wrong)
    try:
        with pytest.raises(UnauthorizedError) as caught:
            await adapter.submit(make_job())
    finally:
        await adapter.close()
    assert "sk-no" not in str(caught.value) and "4321" not in str(caught.value)


async def test_expired_link(fake: FakeOpenAIVideos, provider: LaoZhangChatProvider) -> None:
    submitted = await provider.submit(make_job())
    fake.expired = True
    with pytest.raises(NotFoundError) as caught:
        await collect(provider, submitted.status)
    assert caught.value.http_status == 403


@pytest.mark.parametrize("declare_length", [True, False])
async def test_large_file(
    fake: FakeOpenAIVideos, provider: LaoZhangChatProvider, declare_length: bool
) -> None:
    fake.declare_length = declare_length
    submitted = await provider.submit(make_job())
    with pytest.raises(MediaTooLargeError):
        await collect(provider, submitted.status, max_bytes=1000)


async def test_slow_file(fake: FakeOpenAIVideos, provider: LaoZhangChatProvider) -> None:
    fake.hold_download = asyncio.Event()
    submitted = await provider.submit(make_job())
    chunks = provider.download(submitted.status, max_bytes=10_000_000)
    first = await anext(chunks)
    assert first and fake.downloads_finished == 0
    fake.hold_download.set()
    assert first + b"".join([chunk async for chunk in chunks]) == fake.video_bytes


async def test_no_cancel_and_no_callbacks(provider: LaoZhangChatProvider) -> None:
    assert provider.name == "laozhang" and provider.can_cancel is False
    assert await provider.cancel("chat-1") is False
    with pytest.raises(CallbackRejected):
        provider.parse_callback({}, b"{}")
