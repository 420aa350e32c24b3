"""Veo on the Gemini API: the pure request builder and parsers, then the real adapter against the fake."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from services.catalog import Route
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
    SubmitJob,
    TaskState,
    TaskStatus,
    UnauthorizedError,
    UnavailableError,
)
from services.providers.descriptor import ProviderConfig
from services.providers.gemini import (
    GeminiVeoProvider,
    build_create_body,
    classify_download_error,
    classify_error,
    decode_inline_video,
    operation_path,
    parse_status,
    person_generation,
)
from services.video_request import VideoRequest
from storage.errors import MediaTooLargeError
from tests.fakes.providers.gemini import API_KEY, VIDEO, FakeGemini, Fault, Outcome
from tests.fakes.sleeps import Sleeps

V31 = "veo-3.1-generate-preview"
V31_FAST = "veo-3.1-fast-generate-preview"
V31_LITE = "veo-3.1-lite-generate-preview"
V3 = "veo-3.0-generate-001"
V2 = "veo-2.0-generate-001"
PNG = InputImage(b"\x89PNG\r\n\x1a\nfirst", "image/png", 1280, 720)
JPG = InputImage(b"\xff\xd8\xffsecond", "image/jpeg", 1280, 720)
SOURCE_URI = "https://generativelanguage.googleapis.com/v1beta/files/abc:download?alt=media"


def b64(image: InputImage) -> dict[str, str]:
    return {"bytesBase64Encoded": base64.b64encode(image.data).decode(), "mimeType": image.mime_type}


def job(
    mode: str = "t2v",
    model_id: str = V31,
    *,
    prompt: str = "a red fox in the snow",
    duration: int | None = 8,
    resolution: str | None = "720p",
    aspect_ratio: str | None = "16:9",
    params: dict[str, Any] | None = None,
    **extra: Any,
) -> SubmitJob:
    """A submit job with the images the mode needs, unless the caller overrides them."""
    request_fields = {k: extra.pop(k) for k in ("negative_prompt", "seed", "audio") if k in extra}
    request = VideoRequest(
        model="veo",
        mode=mode,  # type: ignore[arg-type]
        prompt=prompt,
        duration=duration,
        resolution=resolution,
        aspect_ratio=aspect_ratio,
        **request_fields,
    )
    images: dict[str, Any] = {
        "first_frame": PNG if mode in ("i2v", "fl2v") else None,
        "last_frame": JPG if mode == "fl2v" else None,
        "reference_images": (PNG, JPG) if mode == "ref2v" else (),
        "source_result": SOURCE_URI if mode == "extend" else None,
    }
    images.update(extra)
    route = Route(provider="gemini", model_id=model_id, params=params or {})
    return SubmitJob(request=request, route=route, **images)


# ------------------------------------------------------------------------------------------ request body


def test_text_to_video_body_has_exactly_the_documented_fields() -> None:
    body = build_create_body(job(negative_prompt="blurry", seed=42, audio=False))
    assert body == {
        "instances": [{"prompt": "a red fox in the snow"}],
        "parameters": {
            "aspectRatio": "16:9",
            "resolution": "720p",
            "durationSeconds": 8,
            "negativePrompt": "blurry",
            "personGeneration": "allow_all",
            "sampleCount": 1,
        },
    }
    assert type(body["parameters"]["durationSeconds"]) is int


@pytest.mark.parametrize(
    ("mode", "instance"),
    [
        ("i2v", {"prompt": "a red fox in the snow", "image": b64(PNG)}),
        ("fl2v", {"prompt": "a red fox in the snow", "image": b64(PNG), "lastFrame": b64(JPG)}),
        (
            "ref2v",
            {
                "prompt": "a red fox in the snow",
                "referenceImages": [
                    {"image": b64(PNG), "referenceType": "asset"},
                    {"image": b64(JPG), "referenceType": "asset"},
                ],
            },
        ),
        ("extend", {"prompt": "a red fox in the snow", "video": {"uri": SOURCE_URI}}),
    ],
)
def test_each_mode_sends_only_its_own_inputs(mode: str, instance: dict[str, Any]) -> None:
    assert build_create_body(job(mode))["instances"] == [instance]


def test_images_the_mode_does_not_use_are_not_sent() -> None:
    body = build_create_body(job("i2v", last_frame=JPG, reference_images=(JPG,), source_result=SOURCE_URI))
    assert set(body["instances"][0]) == {"prompt", "image"}


def test_image_modes_may_omit_the_prompt() -> None:
    assert build_create_body(job("i2v", prompt="  "))["instances"] == [{"image": b64(PNG)}]


@pytest.mark.parametrize(
    ("model_id", "mode", "expected"),
    [
        (V31, "t2v", "allow_all"),
        (V31, "extend", "allow_all"),
        (V31, "i2v", "allow_adult"),
        (V31, "fl2v", "allow_adult"),
        (V31, "ref2v", "allow_adult"),
        (V31_FAST, "t2v", "allow_all"),
        (V31_LITE, "i2v", "allow_adult"),
        (V3, "t2v", "allow_all"),
        (V3, "i2v", "allow_adult"),
        ("veo-3.0-fast-generate-001", "i2v", "allow_adult"),
        (V2, "t2v", "allow_all"),
        (V2, "i2v", "allow_adult"),
        ("models/veo-2.0-generate-001", "t2v", "allow_all"),
    ],
)
def test_person_generation_follows_the_rules_table(model_id: str, mode: str, expected: str) -> None:
    assert person_generation(model_id, mode) == expected


@pytest.mark.parametrize(("model_id", "mode"), [(V3, "fl2v"), (V3, "extend"), (V2, "ref2v"), (V31, "remix")])
def test_modes_a_model_lacks_are_refused(model_id: str, mode: str) -> None:
    with pytest.raises(InvalidRequestError, match=f"does not support mode {mode}"):
        build_create_body(job(mode, model_id))


def test_veo_2_sends_no_resolution_and_takes_five_seconds() -> None:
    parameters = build_create_body(job(model_id=V2, duration=5))["parameters"]
    assert "resolution" not in parameters
    assert parameters["durationSeconds"] == 5


@pytest.mark.parametrize(
    ("mode", "resolution"),
    [("t2v", "1080p"), ("t2v", "4k"), ("ref2v", "720p"), ("extend", "720p"), ("fl2v", "720p")],
)
def test_eight_second_cases_pass_at_eight(mode: str, resolution: str) -> None:
    parameters = build_create_body(job(mode, resolution=resolution, duration=8))["parameters"]
    assert (parameters["durationSeconds"], parameters["resolution"]) == (8, resolution)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"resolution": "1080p", "duration": 6}, "1080p needs an 8-second clip"),
        ({"resolution": "4k", "duration": 4}, "4k needs an 8-second clip"),
        ({"mode": "ref2v", "duration": 6}, "ref2v needs an 8-second clip"),
        ({"mode": "extend", "duration": 4}, "extend needs an 8-second clip"),
        ({"mode": "fl2v", "duration": 6}, "fl2v needs an 8-second clip"),
        ({"duration": 5}, "makes clips of 4, 6, 8 seconds, not 5"),
        ({"model_id": V2, "duration": 4}, "makes clips of 5, 6, 8 seconds, not 4"),
        ({"model_id": V2, "resolution": "1080p"}, "does not render 1080p"),
        ({"model_id": V3, "resolution": "4k"}, "does not render 4k"),
        ({"model_id": V31_LITE, "resolution": "4k"}, "does not render 4k"),
        ({"model_id": V31_LITE, "mode": "ref2v"}, "does not take reference images"),
        ({"mode": "extend", "resolution": "1080p"}, "only available at 720p"),
        ({"aspect_ratio": "1:1"}, "aspect ratio 1:1 is not offered"),
        ({"prompt": " "}, "t2v needs a prompt"),
        ({"mode": "ref2v", "prompt": ""}, "ref2v needs a prompt"),
        ({"mode": "i2v", "first_frame": None}, "i2v needs a first frame"),
        ({"mode": "fl2v", "last_frame": None}, "fl2v needs a last frame"),
        ({"mode": "ref2v", "reference_images": (PNG, JPG, PNG, JPG)}, "1 to 3 reference images"),
        ({"mode": "ref2v", "reference_images": ()}, "1 to 3 reference images"),
        ({"mode": "extend", "source_result": None}, "file URI of an earlier Veo video"),
    ],
)
def test_requests_the_api_would_refuse_are_stopped_before_sending(kwargs: dict[str, Any], match: str) -> None:
    mode = kwargs.pop("mode", "t2v")
    with pytest.raises(InvalidRequestError, match=match) as caught:
        build_create_body(job(mode, **kwargs))
    assert not caught.value.failover, "a bad request is the same on every route"


def test_route_params_are_forwarded_but_refused_ones_never_are() -> None:
    params = {"enhancePrompt": True, "seed": 7, "generateAudio": True, "durationSeconds": 4}
    parameters = build_create_body(job(params=params))["parameters"]
    assert parameters["enhancePrompt"] is True
    assert "seed" not in parameters and "generateAudio" not in parameters
    assert parameters["durationSeconds"] == 8, "the request's own choices win over route params"


def test_unset_duration_defaults_to_eight() -> None:
    assert build_create_body(job(duration=None))["parameters"]["durationSeconds"] == 8


# -------------------------------------------------------------------------------------------- parsing

DONE = {"name": "models/m/operations/1", "done": True}


def video_response(**generated: Any) -> dict[str, Any]:
    return {**DONE, "response": {"@type": "x", "generateVideoResponse": generated}}


@pytest.mark.parametrize(
    ("payload", "state", "code", "content_policy"),
    [
        ({"name": "op"}, TaskState.RUNNING, None, False),
        ({"name": "op", "done": False}, TaskState.RUNNING, None, False),
        ({"name": "op", "done": False, "metadata": {"@type": "x"}}, TaskState.RUNNING, None, False),
        (video_response(generatedSamples=[{"video": {"uri": SOURCE_URI}}]), TaskState.SUCCEEDED, None, False),
        ({**DONE, "error": {"code": 3, "message": "bad image"}}, TaskState.FAILED, "INVALID_ARGUMENT", False),
        ({"name": "op", "error": {"code": 13, "message": "internal"}}, TaskState.FAILED, "INTERNAL", False),
        ({**DONE, "error": {"code": 99, "message": "odd"}}, TaskState.FAILED, "99", False),
        (
            {**DONE, "error": {"code": 3, "message": "The input image violates the usage guidelines."}},
            TaskState.FAILED,
            "INVALID_ARGUMENT",
            True,
        ),
        (
            video_response(raiMediaFilteredCount=1, raiMediaFilteredReasons=["child safety", "audio issue"]),
            TaskState.FAILED,
            "RAI_MEDIA_FILTERED",
            True,
        ),
        (video_response(raiMediaFilteredCount=1), TaskState.FAILED, "RAI_MEDIA_FILTERED", True),
        (video_response(raiMediaFilteredCount=0), TaskState.FAILED, "no_video", False),
        (video_response(), TaskState.FAILED, "no_video", False),
        (video_response(generatedSamples=[{"video": {}}, {}]), TaskState.FAILED, "no_video", False),
        (DONE, TaskState.FAILED, "no_video", False),
        ({**DONE, "response": "odd"}, TaskState.FAILED, "no_video", False),
    ],
)
def test_parse_status_decision_table(
    payload: dict[str, Any], state: TaskState, code: str | None, content_policy: bool
) -> None:
    status = parse_status(payload)
    assert (status.state, status.error_code, status.content_policy) == (state, code, content_policy)


def test_success_carries_the_uri_verbatim() -> None:
    status = parse_status(video_response(generatedSamples=[{"video": {"uri": SOURCE_URI}}]))
    assert status.result is not None
    assert status.result.url == SOURCE_URI
    assert status.result.mime_type == "video/mp4"


def test_filtered_reasons_become_the_message() -> None:
    status = parse_status(video_response(raiMediaFilteredCount=2, raiMediaFilteredReasons=["a", "b"]))
    assert status.error_message == "a; b"


def test_inline_video_is_kept_in_extra() -> None:
    encoded = base64.b64encode(b"mp4").decode()
    status = parse_status(
        video_response(generatedSamples=[{"video": {"encodedVideo": encoded, "encoding": "video/mp4"}}])
    )
    assert status.state is TaskState.SUCCEEDED and status.result is not None
    assert status.result.extra == {"encoded_video": encoded, "encoding": "video/mp4"}


def test_a_non_object_operation_is_a_transient_error() -> None:
    with pytest.raises(UnavailableError):
        parse_status(["not", "an", "operation"])


def test_inline_video_decoding() -> None:
    data = bytes(range(256)) * 3
    assert decode_inline_video(base64.urlsafe_b64encode(data).decode().rstrip("="), max_bytes=1000) == data
    with pytest.raises(MediaTooLargeError):
        decode_inline_video(base64.b64encode(data).decode(), max_bytes=100)
    with pytest.raises(UnavailableError, match="not valid base64"):
        decode_inline_video("***", max_bytes=100)


def google(
    status: int, grpc: str, message: str = "m", *, headers: dict[str, str] | None = None, **extra: Any
) -> HttpResponse:
    error = {"code": status, "message": message, "status": grpc, **extra}
    return HttpResponse(status, headers or {}, json.dumps({"error": error}).encode())


RETRY_INFO = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"}]


@pytest.mark.parametrize(
    ("response", "kind", "retry_after"),
    [
        (google(429, "RESOURCE_EXHAUSTED", details=RETRY_INFO), RateLimitedError, 17.0),
        (
            google(429, "RESOURCE_EXHAUSTED", headers={"Retry-After": "3"}, details=RETRY_INFO),
            RateLimitedError,
            3.0,
        ),
        (google(429, "RESOURCE_EXHAUSTED"), RateLimitedError, None),
        (google(403, "PERMISSION_DENIED"), UnauthorizedError, None),
        (google(401, "UNAUTHENTICATED"), UnauthorizedError, None),
        (
            google(400, "INVALID_ARGUMENT", "API key not valid.", details=[{"reason": "API_KEY_INVALID"}]),
            UnauthorizedError,
            None,
        ),
        (google(400, "INVALID_ARGUMENT", "durationSeconds out of range"), InvalidRequestError, None),
        (google(400, "FAILED_PRECONDITION", "Precondition check failed."), InvalidRequestError, None),
        (
            google(400, "FAILED_PRECONDITION", "Please enable billing on your project."),
            OutOfBalanceError,
            None,
        ),
        (google(400, "INVALID_ARGUMENT", "violates the usage guidelines"), ContentPolicyError, None),
        (google(404, "NOT_FOUND"), NotFoundError, None),
        (google(500, "INTERNAL"), UnavailableError, None),
        (google(503, "UNAVAILABLE", headers={"Retry-After": "5"}), UnavailableError, 5.0),
        (HttpResponse(502, {}, b"<html>Bad Gateway</html>"), UnavailableError, None),
        (HttpResponse(404, {}, b"Not Found"), NotFoundError, None),
    ],
)
def test_google_error_envelope_mapping(
    response: HttpResponse, kind: type[ProviderError], retry_after: float | None
) -> None:
    error = classify_error(response)
    assert type(error) is kind
    assert error.retry_after == retry_after
    assert error.provider == "gemini"


def test_an_expired_signed_link_is_not_found_but_a_google_403_is_the_key() -> None:
    expired = classify_download_error(HttpResponse(403, {}, b"<Error><Code>ExpiredToken</Code></Error>"))
    assert isinstance(expired, NotFoundError) and expired.code == "expired"
    assert isinstance(classify_download_error(HttpResponse(410, {}, b"")), NotFoundError)
    assert isinstance(classify_download_error(google(403, "PERMISSION_DENIED")), UnauthorizedError)


def test_operation_names_are_opaque_but_stay_under_the_api_version() -> None:
    assert operation_path("models/veo-3.1/operations/a b?c") == "v1beta/models/veo-3.1/operations/a%20b%3Fc"
    for bad in ("", "/abs", "models/../../x"):
        with pytest.raises(NotFoundError):
            operation_path(bad)


# ---------------------------------------------------------------------------------------- against the fake


@pytest.fixture
async def fake() -> AsyncIterator[FakeGemini]:
    server = FakeGemini()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def config(url: str, key: str | None = API_KEY) -> ProviderConfig:
    return ProviderConfig("gemini", url, SecretStr(key) if key else None, 20)


def make_provider(
    fake: FakeGemini, sleeps: Sleeps, *, key: str = API_KEY, read_timeout: float = 5
) -> GeminiVeoProvider:
    http = ProviderHttp(
        "gemini",
        fake.url,
        auth_headers={"x-goog-api-key": key},
        sleep=sleeps,
        backoff_base=0,
        retries=2,
        read_timeout=read_timeout,
    )
    return GeminiVeoProvider(config(fake.url, key), http=http)


@pytest.fixture
async def provider(fake: FakeGemini, sleeps: Sleeps) -> AsyncIterator[GeminiVeoProvider]:
    adapter = make_provider(fake, sleeps)
    try:
        yield adapter
    finally:
        await adapter.close()


async def run(
    provider: GeminiVeoProvider, submit: SubmitJob, *, max_polls: int = 10
) -> tuple[str, list[TaskStatus]]:
    """Submit and poll until a final state; returns the task id and every status seen."""
    submitted = await provider.submit(submit)
    seen = []
    for _ in range(max_polls):
        status = await provider.status(submitted.task_id)
        seen.append(status)
        if status.state in (TaskState.SUCCEEDED, TaskState.FAILED):
            return submitted.task_id, seen
    raise AssertionError(f"still running after {max_polls} polls: {seen}")


async def collect(stream: AsyncIterator[bytes], *, into: list[bytes] | None = None) -> list[bytes]:
    """Every chunk of a download; `into` keeps what arrived before an error."""
    chunks = [] if into is None else into
    async for chunk in stream:
        chunks.append(chunk)
    return chunks


async def test_success_after_polls_then_download_through_the_cdn(
    fake: FakeGemini, provider: GeminiVeoProvider
) -> None:
    fake.script(Outcome(polls=2))
    task_id, seen = await run(provider, job(negative_prompt="blurry"))
    assert task_id == "models/veo-3.1-generate-preview/operations/op1", "the operation name, verbatim"
    assert [s.state for s in seen] == [TaskState.RUNNING, TaskState.RUNNING, TaskState.SUCCEEDED]
    body = fake.created[0]
    assert body["parameters"]["personGeneration"] == "allow_all"
    assert "seed" not in body["parameters"] and "generateAudio" not in body["parameters"]

    result = seen[-1].result
    assert result is not None and result.url == fake.file_uri("op1")
    chunks = await collect(provider.download(seen[-1], max_bytes=len(VIDEO)))
    assert b"".join(chunks) == VIDEO
    assert len(chunks) > 1, "streamed, not read whole"
    api_download = next(s for s in fake.seen if s.host == "api" and s.path.endswith(":download"))
    assert api_download.headers["x-goog-api-key"] == API_KEY
    assert fake.cdn_headers(), "the file was served by the second host"
    assert all("x-goog-api-key" not in h for h in fake.cdn_headers()), "the key never leaves the API host"


@pytest.mark.parametrize("mode", ["i2v", "fl2v", "ref2v"])
async def test_image_modes_are_accepted_by_the_fake(
    fake: FakeGemini, provider: GeminiVeoProvider, mode: str
) -> None:
    _, seen = await run(provider, job(mode))
    assert seen[-1].state is TaskState.SUCCEEDED
    assert fake.created[0]["parameters"]["personGeneration"] == "allow_adult"


@pytest.mark.parametrize(("model_id", "duration"), [(V3, 4), (V2, 5), (V31_FAST, 6)])
async def test_other_models_are_accepted_by_the_fake(
    fake: FakeGemini, provider: GeminiVeoProvider, model_id: str, duration: int
) -> None:
    _, seen = await run(provider, job("i2v", model_id, duration=duration))
    assert seen[-1].state is TaskState.SUCCEEDED


async def test_extend_sends_the_earlier_video_uri(fake: FakeGemini, provider: GeminiVeoProvider) -> None:
    _, first = await run(provider, job())
    assert first[-1].result is not None
    _, seen = await run(provider, job("extend", source_result=first[-1].result.url, prompt="keep going"))
    assert seen[-1].state is TaskState.SUCCEEDED
    assert fake.created[1]["instances"][0]["video"] == {"uri": first[-1].result.url}
    assert fake.created[1]["parameters"]["personGeneration"] == "allow_all"


async def test_the_fake_refuses_what_the_real_api_refuses(fake: FakeGemini, sleeps: Sleeps) -> None:
    """The fake's checks bite, so the adapter passing them means something."""
    http = ProviderHttp("gemini", fake.url, auth_headers={"x-goog-api-key": API_KEY}, sleep=sleeps)
    good = build_create_body(job())
    bad_bodies = [
        {**good, "parameters": {**good["parameters"], "seed": 1}},
        {**good, "parameters": {**good["parameters"], "generateAudio": True}},
        {**good, "parameters": {**good["parameters"], "durationSeconds": "8"}},
        {**good, "parameters": {**good["parameters"], "resolution": "1080p", "durationSeconds": 6}},
        {**good, "parameters": {**good["parameters"], "personGeneration": "allow_adult"}},
        {**good, "parameters": {**good["parameters"], "aspectRatio": "1:1"}},
        {**good, "instances": [{"prompt": "x", "video": {"uri": "https://elsewhere/video.mp4"}}]},
        {**good, "instances": [{"prompt": "x", "lastFrame": b64(PNG)}]},
        {"instances": [{"prompt": "x"}, {"prompt": "y"}], "parameters": good["parameters"]},
    ]
    try:
        for body in bad_bodies:
            with pytest.raises(InvalidRequestError):
                await http.request(
                    "POST",
                    "v1beta/models/veo-3.1-generate-preview:predictLongRunning",
                    json_body=body,
                    classify=classify_error,
                )
        with pytest.raises(InvalidRequestError, match="personGeneration"):
            await http.request(
                "POST",
                "v1beta/models/veo-3.0-generate-001:predictLongRunning",
                json_body=build_create_body(job("i2v", V3))
                | {"parameters": {"personGeneration": "allow_all"}},
                classify=classify_error,
            )
    finally:
        await http.close()
    assert fake.created == []


async def test_prompt_refused_for_content_policy(fake: FakeGemini, provider: GeminiVeoProvider) -> None:
    with pytest.raises(ContentPolicyError) as caught:
        await provider.submit(job(prompt="a forbidden-celebrity dancing"))
    assert not caught.value.failover
    assert caught.value.code == "INVALID_ARGUMENT"


async def test_rai_filtered_completion_is_a_content_policy_failure(
    fake: FakeGemini, provider: GeminiVeoProvider
) -> None:
    fake.script(Outcome("filtered", polls=1, rai_reasons=("Audio could not be generated.",)))
    _, seen = await run(provider, job())
    final = seen[-1]
    assert final.state is TaskState.FAILED and final.content_policy
    assert final.error_message == "Audio could not be generated."


async def test_operation_error_is_a_failure_with_code_and_message(
    fake: FakeGemini, provider: GeminiVeoProvider
) -> None:
    """INTERNAL is Google's own failure: the next route may still make the video (item 3 of issue 13)."""
    fake.script(Outcome("error", error_code=13, error_message="Internal error while generating"))
    _, seen = await run(provider, job())
    assert seen[-1] == TaskStatus(
        TaskState.FAILED,
        error_code="INTERNAL",
        error_message="Internal error while generating",
        provider_fault=True,
    )


@pytest.mark.parametrize(
    ("code", "message", "fault"),
    [
        (4, "Deadline exceeded", True),
        (14, "The service is currently unavailable", True),
        (3, "Invalid argument: durationSeconds", False),
        (13, "Your prompt violates our usage guidelines", False),  # content policy wins
    ],
)
def test_which_operation_errors_are_googles_own(code: int, message: str, fault: bool) -> None:
    status = parse_status({"name": "op", "done": True, "error": {"code": code, "message": message}})
    assert status.state is TaskState.FAILED and status.provider_fault is fault


async def test_finished_without_a_video(fake: FakeGemini, provider: GeminiVeoProvider) -> None:
    fake.script(Outcome("empty"))
    _, seen = await run(provider, job())
    assert (seen[-1].state, seen[-1].error_code, seen[-1].content_policy) == (
        TaskState.FAILED,
        "no_video",
        False,
    )


async def test_inline_video_downloads_in_chunks_without_the_network(
    fake: FakeGemini, provider: GeminiVeoProvider
) -> None:
    fake.script(Outcome("inline"))
    _, seen = await run(provider, job())
    downloads_before = fake.hits["download"]
    chunks = await collect(provider.download(seen[-1], max_bytes=len(VIDEO)))
    assert b"".join(chunks) == VIDEO and len(chunks) > 1
    assert fake.hits["download"] == downloads_before
    with pytest.raises(MediaTooLargeError):
        await collect(provider.download(seen[-1], max_bytes=1000))


async def test_429_with_a_retry_hint_is_waited_out(
    fake: FakeGemini, provider: GeminiVeoProvider, sleeps: Sleeps
) -> None:
    fake.fail("create", Fault(429, message="Quota exceeded", retry_delay="7s"))
    submitted = await provider.submit(job())
    assert submitted.task_id.endswith("/op1")
    assert sleeps == [7.0], "RetryInfo.retryDelay drives the wait"
    assert fake.hits["create"] == 2


async def test_429_that_persists_is_a_rate_limit_error(
    fake: FakeGemini, provider: GeminiVeoProvider, sleeps: Sleeps
) -> None:
    fake.fail("poll", *[Fault(429, message="Quota exceeded", retry_after="2")] * 3)
    submitted = await provider.submit(job())
    with pytest.raises(RateLimitedError) as caught:
        await provider.status(submitted.task_id)
    assert caught.value.retry_after == 2.0
    assert sleeps == [2.0, 2.0]


async def test_a_long_retry_hint_is_raised_at_once(
    fake: FakeGemini, provider: GeminiVeoProvider, sleeps: Sleeps
) -> None:
    fake.fail("create", Fault(429, retry_delay="120s"))
    with pytest.raises(RateLimitedError) as caught:
        await provider.submit(job())
    assert caught.value.retry_after == 120.0
    assert sleeps == [] and fake.created == []


async def test_5xx_is_retried_then_reported(fake: FakeGemini, provider: GeminiVeoProvider) -> None:
    fake.fail("create", Fault(503, message="The service is currently unavailable."))
    assert (await provider.submit(job())).task_id.endswith("/op1")
    fake.fail("poll", *[Fault(500, "INTERNAL")] * 3)
    with pytest.raises(UnavailableError) as caught:
        await provider.status("models/veo-3.1-generate-preview/operations/op1")
    assert caught.value.failover and caught.value.http_status == 500


async def test_billing_refusal_is_out_of_balance(fake: FakeGemini, provider: GeminiVeoProvider) -> None:
    fake.fail("create", Fault(400, "FAILED_PRECONDITION", "Veo is only available on the paid tier."))
    with pytest.raises(OutOfBalanceError) as caught:
        await provider.submit(job())
    assert caught.value.failover


@pytest.mark.parametrize("key", ["wrong-key", None])
async def test_a_wrong_or_missing_key_is_unauthorized(fake: FakeGemini, key: str | None) -> None:
    adapter = GeminiVeoProvider(config(fake.url, key))
    try:
        with pytest.raises(UnauthorizedError) as caught:
            await adapter.submit(job())
    finally:
        await adapter.close()
    assert caught.value.failover
    assert "wrong-key" not in str(caught.value)


async def test_the_adapter_built_from_config_sends_the_key(fake: FakeGemini) -> None:
    adapter = GeminiVeoProvider(config(fake.url + "/"))
    try:
        _, seen = await run(adapter, job())
    finally:
        await adapter.close()
    assert seen[-1].state is TaskState.SUCCEEDED
    assert all(s.headers.get("x-goog-api-key") == API_KEY for s in fake.seen if s.host == "api")


async def test_an_unknown_operation_is_not_found(provider: GeminiVeoProvider) -> None:
    with pytest.raises(NotFoundError):
        await provider.status("models/veo-3.1-generate-preview/operations/nope")


async def succeeded(fake: FakeGemini, provider: GeminiVeoProvider) -> TaskStatus:
    _, seen = await run(provider, job())
    assert seen[-1].state is TaskState.SUCCEEDED
    return seen[-1]


async def test_a_file_deleted_by_the_api_is_not_found(fake: FakeGemini, provider: GeminiVeoProvider) -> None:
    status = await succeeded(fake, provider)
    fake.expired_files.add("op1")
    with pytest.raises(NotFoundError):
        await collect(provider.download(status, max_bytes=len(VIDEO)))


async def test_an_expired_cdn_link_is_not_found(fake: FakeGemini, provider: GeminiVeoProvider) -> None:
    status = await succeeded(fake, provider)
    fake.expired_links.add("op1")
    with pytest.raises(NotFoundError, match="expired"):
        await collect(provider.download(status, max_bytes=len(VIDEO)))


@pytest.mark.parametrize("declared", [True, False])
async def test_a_file_over_the_cap_is_refused(
    fake: FakeGemini, provider: GeminiVeoProvider, declared: bool
) -> None:
    status = await succeeded(fake, provider)
    fake.cdn_content_length = declared
    received: list[bytes] = []
    with pytest.raises(MediaTooLargeError):
        await collect(provider.download(status, max_bytes=len(VIDEO) // 2), into=received)
    assert sum(map(len, received)) <= len(VIDEO) // 2


async def test_a_slow_file_still_arrives_whole(fake: FakeGemini, provider: GeminiVeoProvider) -> None:
    status = await succeeded(fake, provider)
    fake.cdn_chunk, fake.cdn_chunk_delay = 1 << 16, 0.01
    chunks = await collect(provider.download(status, max_bytes=len(VIDEO)))
    assert b"".join(chunks) == VIDEO


async def test_a_stalled_file_is_a_transient_error(fake: FakeGemini, sleeps: Sleeps) -> None:
    adapter = make_provider(fake, sleeps, read_timeout=0.2)
    try:
        status = await succeeded(fake, adapter)
        fake.cdn_stall = True
        with pytest.raises(UnavailableError, match="download failed"):
            await collect(adapter.download(status, max_bytes=len(VIDEO)))
    finally:
        await adapter.close()


async def test_no_cancel_and_no_callbacks(provider: GeminiVeoProvider) -> None:
    assert GeminiVeoProvider.can_cancel is False
    assert await provider.cancel("models/x/operations/1") is False
    with pytest.raises(CallbackRejected):
        provider.parse_callback({"content-type": "application/json"}, b'{"name": "op", "done": true}')
