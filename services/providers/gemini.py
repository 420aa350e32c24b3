"""Google Veo through the Gemini API (reference/providers.md §2).

A task is a long-running Operation: `POST /v1beta/models/{model}:predictLongRunning` starts it, `GET
/v1beta/{operation name}` reads it, and the finished video is a file URI fetched with the key (Google
answers it with a redirect to storage that must not see the key). The API rejects `seed` and
`generateAudio`, accepts only a few `personGeneration` values per model and mode, and wants 8-second
clips for HD, reference images, extension and first+last frame; the catalog enforces those rules for
users, and this module enforces them again so a catalog edit cannot buy a guaranteed 400.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from services.http import HttpResponse, ProviderHttp, default_error
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
    Submitted,
    TaskState,
    TaskStatus,
    UnauthorizedError,
    UnavailableError,
    UncertainSubmitError,
    VideoProvider,
)
from services.providers.descriptor import ProviderConfig, ProviderDescriptor
from storage.errors import MediaTooLargeError

log = logging.getLogger(__name__)

NAME = "gemini"
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
API_VERSION = "v1beta"
AUTH_HEADER = "x-goog-api-key"
MAX_REFERENCE_IMAGES = 3
#: Clip length the API insists on for HD, reference images, extension and first+last frame.
LONG_CLIP = 8
ASPECT_RATIOS = frozenset({"16:9", "9:16"})
HD_RESOLUTIONS = frozenset({"1080p", "4k"})
EIGHT_SECOND_MODES = frozenset({"fl2v", "ref2v", "extend"})
#: Parameters the Gemini API refuses (the SDK raises for them); never forwarded from route params.
FORBIDDEN_PARAMETERS = frozenset(
    {
        "seed",
        "generateAudio",
        "fps",
        "storageUri",
        "pubsubTopic",
        "mask",
        "compressionQuality",
        "labels",
        "resizeMode",
    }
)
INLINE_CHUNK = 1 << 16

Family = Literal["veo-3.1", "veo-3", "veo-2"]

#: The only `personGeneration` value each model family accepts per mode (Dec-2025 table, the value
#: that works everywhere); a mode missing here is one the family does not offer on the Gemini API.
PERSON_GENERATION: dict[Family, dict[str, str]] = {
    "veo-3.1": {
        "t2v": "allow_all",
        "extend": "allow_all",
        "i2v": "allow_adult",
        "fl2v": "allow_adult",
        "ref2v": "allow_adult",
    },
    "veo-3": {"t2v": "allow_all", "i2v": "allow_adult"},
    "veo-2": {"t2v": "allow_all", "i2v": "allow_adult"},
}
DURATIONS: dict[Family, frozenset[int]] = {
    "veo-3.1": frozenset({4, 6, 8}),
    "veo-3": frozenset({4, 6, 8}),
    "veo-2": frozenset({5, 6, 8}),
}
RESOLUTIONS: dict[Family, frozenset[str]] = {
    "veo-3.1": frozenset({"720p", "1080p", "4k"}),
    "veo-3": frozenset({"720p", "1080p"}),
    "veo-2": frozenset({"720p"}),
}

#: google.rpc.Code numbers, as they appear in a failed Operation's `error.code`.
RPC_CODES = {
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}
#: Operation errors that are Google's side (google.rpc semantics: a server error, overload, deadline).
PROVIDER_FAULTS = frozenset({"INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED"})
#: UNCONFIRMED wording: Google words prompt/image refusals this way in Veo errors; such a failure is the
#: user's content, so it is final instead of being failed over to another route.
_CONTENT_POLICY = re.compile(r"usage guideline|responsible ai|safety (?:filter|setting)|\brai\b", re.I)
_BILLING = re.compile(r"billing|paid tier|free tier|prepay|credit", re.I)
_RETRY_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def model_family(model_id: str) -> Family:
    """Which Veo generation a model id belongs to; unknown newer ids get the newest rules."""
    name = model_id.removeprefix("models/")
    if name.startswith("veo-2"):
        return "veo-2"
    if name.startswith("veo-3.0") or name.startswith("veo-3-"):
        return "veo-3"
    return "veo-3.1"


def _invalid(message: str) -> InvalidRequestError:
    return InvalidRequestError(message, provider=NAME, code="invalid_request")


def _image(image: InputImage) -> dict[str, str]:
    return {"bytesBase64Encoded": base64.b64encode(image.data).decode("ascii"), "mimeType": image.mime_type}


def person_generation(model_id: str, mode: str) -> str:
    """The `personGeneration` value this model accepts for this mode; other values are refused."""
    family = model_family(model_id)
    value = PERSON_GENERATION[family].get(mode)
    if value is None:
        raise _invalid(f"{model_id} does not support mode {mode} on the Gemini API")
    return value


def build_instance(job: SubmitJob) -> dict[str, Any]:
    """The single `instances[0]` object: prompt plus what the mode needs, and nothing it does not."""
    request = job.request
    model_id = job.provider_model_id
    prompt = request.prompt.strip()
    instance: dict[str, Any] = {"prompt": prompt} if prompt else {}
    mode = request.mode
    if mode in ("i2v", "fl2v"):
        if job.first_frame is None:
            raise _invalid(f"{mode} needs a first frame")
        instance["image"] = _image(job.first_frame)
    if mode == "fl2v":
        if job.last_frame is None:
            raise _invalid("fl2v needs a last frame")
        instance["lastFrame"] = _image(job.last_frame)
    if mode == "ref2v":
        if "lite" in model_id:
            raise _invalid(f"{model_id} does not take reference images")
        if not 1 <= len(job.reference_images) <= MAX_REFERENCE_IMAGES:
            raise _invalid(f"ref2v takes 1 to {MAX_REFERENCE_IMAGES} reference images")
        instance["referenceImages"] = [
            {"image": _image(image), "referenceType": "asset"} for image in job.reference_images
        ]
    if mode == "extend":
        if not job.source_result:
            raise _invalid("extend needs the file URI of an earlier Veo video")
        instance["video"] = {"uri": job.source_result}
    if mode in ("t2v", "ref2v") and not prompt:
        raise _invalid(f"{mode} needs a prompt")
    return instance


def build_parameters(job: SubmitJob) -> dict[str, Any]:
    """`parameters`: route extras first, then the request's choices, checked against the model's rules."""
    request = job.request
    model_id = job.provider_model_id
    family = model_family(model_id)
    mode = request.mode
    person = person_generation(model_id, mode)  # first, so an unsupported mode is named as such
    parameters: dict[str, Any] = {}
    for key, value in job.route.params.items():
        if key in FORBIDDEN_PARAMETERS:
            log.warning("gemini route %s: dropping parameter %s, which the Gemini API refuses", model_id, key)
        else:
            parameters[key] = value

    if request.aspect_ratio is not None:
        if request.aspect_ratio not in ASPECT_RATIOS:
            raise _invalid(f"aspect ratio {request.aspect_ratio} is not offered (16:9 or 9:16)")
        parameters["aspectRatio"] = request.aspect_ratio

    resolution = request.resolution or "720p"
    if resolution not in RESOLUTIONS[family] or (resolution == "4k" and "lite" in model_id):
        raise _invalid(f"{model_id} does not render {resolution}")
    if mode == "extend" and resolution != "720p":
        raise _invalid("extension is only available at 720p")
    if family != "veo-2":  # Veo 2 has no resolution parameter: it always renders 720p
        parameters["resolution"] = resolution

    duration = request.duration if request.duration is not None else LONG_CLIP
    if duration not in DURATIONS[family]:
        allowed = ", ".join(str(d) for d in sorted(DURATIONS[family]))
        raise _invalid(f"{model_id} makes clips of {allowed} seconds, not {duration}")
    if duration != LONG_CLIP and (resolution in HD_RESOLUTIONS or mode in EIGHT_SECOND_MODES):
        reason = resolution if resolution in HD_RESOLUTIONS else mode
        raise _invalid(f"{reason} needs an {LONG_CLIP}-second clip")
    parameters["durationSeconds"] = int(duration)

    negative = (request.negative_prompt or "").strip()
    if negative:
        parameters["negativePrompt"] = negative
    parameters["personGeneration"] = person
    parameters["sampleCount"] = 1
    return parameters


def build_create_body(job: SubmitJob) -> dict[str, Any]:
    """The predictLongRunning body; raises InvalidRequestError for what the API would refuse."""
    parameters = build_parameters(job)
    return {"instances": [build_instance(job)], "parameters": parameters}


def create_path(model_id: str) -> str:
    return f"{API_VERSION}/models/{quote(model_id.removeprefix('models/'), safe='')}:predictLongRunning"


def operation_path(task_id: str) -> str:
    """The poll path for an opaque operation name, quoted so it cannot leave /v1beta."""
    if not task_id or task_id.startswith("/") or ".." in task_id.split("/"):
        raise NotFoundError("not a Gemini operation name", provider=NAME, code="bad_task_id")
    return f"{API_VERSION}/{quote(task_id, safe='/')}"


def parse_retry_delay(envelope: Mapping[str, Any]) -> float | None:
    """Seconds from a google.rpc.RetryInfo detail (`"retryDelay": "17s"`), which Google sends on 429."""
    details = envelope.get("details")
    for detail in details if isinstance(details, list) else []:
        if not isinstance(detail, dict) or not str(detail.get("@type", "")).endswith("RetryInfo"):
            continue
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and (match := _RETRY_DELAY.match(delay)):
            return float(match.group(1))
    return None


def _error_reasons(envelope: Mapping[str, Any]) -> set[str]:
    details = envelope.get("details")
    return {
        str(detail["reason"])
        for detail in (details if isinstance(details, list) else [])
        if isinstance(detail, dict) and detail.get("reason")
    }


def classify_error(response: HttpResponse) -> ProviderError:
    """Map Google's envelope `{"error": {"code", "message", "status"}}` to a typed error."""
    body = response.json()
    envelope = body.get("error") if isinstance(body, dict) else None
    if not isinstance(envelope, dict):
        return default_error(NAME, response)
    status = str(envelope.get("status") or "")
    message = str(envelope.get("message") or f"HTTP {response.status}")[:500]
    kwargs: dict[str, Any] = {
        "provider": NAME,
        "http_status": response.status,
        "code": status or str(response.status),
    }
    if status == "RESOURCE_EXHAUSTED" or response.status == 429:
        retry_after = response.retry_after
        if retry_after is None:
            retry_after = parse_retry_delay(envelope)
        return RateLimitedError(message, retry_after=retry_after, **kwargs)
    # Google answers a wrong key with 400 INVALID_ARGUMENT and reason API_KEY_INVALID.
    if status in ("PERMISSION_DENIED", "UNAUTHENTICATED") or "API_KEY_INVALID" in _error_reasons(envelope):
        return UnauthorizedError(message, **kwargs)
    if status == "NOT_FOUND":
        return NotFoundError(message, **kwargs)
    if status in ("INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE"):
        if _BILLING.search(message):
            return OutOfBalanceError(message, **kwargs)
        if _CONTENT_POLICY.search(message):
            return ContentPolicyError(message, **kwargs)
        return InvalidRequestError(message, **kwargs)
    if status in ("UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED", "UNKNOWN") or response.status >= 500:
        return UnavailableError(message, retry_after=response.retry_after, **kwargs)
    return default_error(NAME, response)


def classify_download_error(response: HttpResponse) -> ProviderError:
    """Storage answers an expired signed URL with a bare 403/410: the file is gone, not the key wrong."""
    body = response.json()
    if response.status in (403, 410) and not (isinstance(body, dict) and isinstance(body.get("error"), dict)):
        return NotFoundError(
            f"the video file has expired (HTTP {response.status})",
            provider=NAME,
            http_status=response.status,
            code="expired",
        )
    return classify_error(response)


def _failed(code: str, message: str, *, content_policy: bool = False) -> TaskStatus:
    return TaskStatus(
        TaskState.FAILED,
        error_code=code,
        error_message=message[:500],
        content_policy=content_policy,
        provider_fault=code in PROVIDER_FAULTS and not content_policy,
    )


def _result(video: Any) -> ResultRef | None:
    """A sample's video: a file URI, or (rarely) the bytes inline as base64 `encodedVideo`."""
    if not isinstance(video, dict):
        return None
    mime = video.get("encoding") or video.get("mimeType") or "video/mp4"
    if isinstance(video.get("uri"), str) and video["uri"]:
        return ResultRef(url=video["uri"], mime_type=mime)
    encoded = video.get("encodedVideo")
    if isinstance(encoded, str) and encoded:
        return ResultRef(url="", mime_type=mime, extra={"encoded_video": encoded, "encoding": mime})
    return None


def parse_status(payload: Any) -> TaskStatus:
    """Read an Operation: error → failed; done with a sample → succeeded; done and filtered → content
    policy; done with nothing → failed; otherwise still running (`done` may be absent)."""
    if not isinstance(payload, dict):
        raise UnavailableError("the operation is not a JSON object", provider=NAME, code="bad_payload")
    error = payload.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        name = RPC_CODES.get(code, str(code)) if isinstance(code, int) else str(error.get("status") or code)
        message = str(error.get("message") or "the generation failed")
        return _failed(name, message, content_policy=bool(_CONTENT_POLICY.search(message)))
    if payload.get("done") is not True:
        return TaskStatus(TaskState.RUNNING)
    response = payload.get("response")
    response = response if isinstance(response, dict) else {}
    generated = response.get("generateVideoResponse")
    generated = generated if isinstance(generated, dict) else response
    samples = generated.get("generatedSamples")
    for sample in samples if isinstance(samples, list) else []:
        result = _result(sample.get("video") if isinstance(sample, dict) else None)
        if result is not None:
            return TaskStatus(TaskState.SUCCEEDED, progress=100, result=result)
    reasons = generated.get("raiMediaFilteredReasons")
    reasons = [str(r) for r in reasons] if isinstance(reasons, list) else []
    filtered = generated.get("raiMediaFilteredCount")
    if (isinstance(filtered, int) and filtered > 0) or reasons:
        message = "; ".join(reasons) or "Google's safety filters blocked the video"
        return _failed("RAI_MEDIA_FILTERED", message, content_policy=True)
    return _failed("no_video", "the operation finished without a video")


def decode_inline_video(encoded: str, *, max_bytes: int) -> bytes:
    """Bytes of an inline `encodedVideo` (standard or URL-safe base64), refused past `max_bytes`."""
    if len(encoded) * 3 // 4 > max_bytes + 2:
        raise MediaTooLargeError(max_bytes)
    text = encoded.strip().replace("-", "+").replace("_", "/")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise UnavailableError("the inline video is not valid base64", provider=NAME) from None
    if len(data) > max_bytes:
        raise MediaTooLargeError(max_bytes)
    return data


class GeminiVeoProvider(VideoProvider):
    """Veo 3.1 / 3 / 2 on the Gemini API; poll-only (the webhook payload is undocumented)."""

    name: ClassVar[str] = NAME
    can_cancel: ClassVar[bool] = False

    def __init__(self, config: ProviderConfig, *, http: ProviderHttp | None = None, **kw: Any) -> None:
        """`kw` holds options meant for other adapters; this one needs none."""
        if http is None:
            key = config.api_key.get_secret_value() if config.api_key is not None else None
            http = ProviderHttp(
                NAME,
                config.base_url or DEFAULT_BASE_URL,
                auth_headers={AUTH_HEADER: key} if key else None,
            )
        self._http = http

    async def submit(self, job: SubmitJob) -> Submitted:
        body = build_create_body(job)
        response = await self._http.request(
            "POST", create_path(job.provider_model_id), json_body=body, classify=classify_error
        )
        payload = response.json()
        name = payload.get("name") if isinstance(payload, dict) else None
        if not isinstance(name, str) or not name:
            # The operation may have started; without its name nobody can find it again.
            raise UncertainSubmitError("the API answered without an operation name", provider=NAME)
        if payload.get("done") is True or "error" in payload:
            return Submitted(name, parse_status(payload))
        return Submitted(name)

    async def status(self, task_id: str) -> TaskStatus:
        response = await self._http.request("GET", operation_path(task_id), classify=classify_error)
        return parse_status(response.json())

    async def download(self, status: TaskStatus, *, max_bytes: int) -> AsyncIterator[bytes]:
        if status.result is None:
            raise ValueError("download() needs a succeeded status with a result")
        encoded = status.result.extra.get("encoded_video")
        if isinstance(encoded, str):
            data = decode_inline_video(encoded, max_bytes=max_bytes)
            for start in range(0, len(data), INLINE_CHUNK):
                yield data[start : start + INLINE_CHUNK]
            return
        async for chunk in self._http.stream(
            status.result.url, max_bytes=max_bytes, classify=classify_download_error
        ):
            yield chunk

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> CallbackEvent:
        """The webhookConfig event format is UNCONFIRMED, so nothing unverified is trusted: poll instead."""
        raise CallbackRejected("gemini callbacks are not accepted (payload format unconfirmed); polling")

    async def close(self) -> None:
        await self._http.close()


#: Google's samples poll every 10 s (10 RPM preview quotas); Veo answers within ~6 minutes.
DESCRIPTOR = ProviderDescriptor(
    name=NAME,
    base_url=DEFAULT_BASE_URL,
    adapters={NAME: GeminiVeoProvider},
    min_poll_interval=10.0,
    hard_timeout_minutes=20,
)
