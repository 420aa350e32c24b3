"""Wan video on Alibaba Cloud Model Studio / DashScope (reference/providers.md §8).

An asynchronous task API: a create (`X-DashScope-Async: enable`, which the HTTP API requires) answers a
`task_id`, `GET tasks/{task_id}` reports `output.task_status`, and a finished task carries a presigned OSS
`video_url` (24 h), fetched without the key. Errors are `{"request_id", "code", "message"}` with an HTTP
status; a task's own failure is `output.code`/`output.message` on a 200.

Models differ in request shape, which `ModelSpec.shape` names: text-to-video takes `size` ("W*H"),
first-frame image-to-video takes `img_url` and `resolution` ("720P"), the first+last-frame (kf2v) models
take `first_frame_url`/`last_frame_url` on their own endpoint, and wan2.7 takes `resolution` plus, for
image input, a `media` list. Images go inline as data URIs (no upload step).

The base URL selects the region: Singapore `https://dashscope-intl.aliyuncs.com/api/v1` (default), Beijing
`https://dashscope.aliyuncs.com/api/v1`, or a workspace host; key, model and endpoint must share a region.
A task can be cancelled only while DashScope still queues it (PENDING), so `can_cancel` stays False.
No callbacks exist, and the usage block reports seconds and resolution, never money: `cost_usd` is unset.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlsplit

from services.http import HttpResponse, ProviderHttp, default_error, download_error
from services.providers.base import (
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

NAME = "dashscope"
DEFAULT_BASE_URL = "https://dashscope-intl.aliyuncs.com/api/v1"
API_ROOT = "/api/v1"
SYNTHESIS_PATH = "services/aigc/video-generation/video-synthesis"
#: The first+last-frame models live on their own task group.
KEYFRAME_PATH = "services/aigc/image2video/video-synthesis"
ASYNC_HEADERS = {"X-DashScope-Async": "enable"}

#: Extras a request may carry (`VideoRequest.extras`): a public soundtrack URL, and prompt enhancement.
AUDIO_URL_EXTRA = "audio_url"
#: Parameters the request itself sets; a route's `params` cannot replace them (`adapter` picks the class).
_PROTECTED = frozenset({"size", "resolution", "ratio", "duration", "seed", "audio", "adapter"})

SEEDS = range(0, 2_147_483_648)
NEGATIVE_PROMPT_MAX = 500
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/bmp"})
IMAGE_MIN_SIDE = 360
IMAGE_MAX_SIDE = 2000
IMAGE_MAX_BYTES = 10 * 1024 * 1024
#: Text-to-video `size` per (resolution, aspect ratio); DashScope writes it with an asterisk.
SIZES: dict[tuple[str, str], str] = {
    ("480p", "16:9"): "832*480",
    ("480p", "9:16"): "480*832",
    ("480p", "1:1"): "624*624",
    ("720p", "16:9"): "1280*720",
    ("720p", "9:16"): "720*1280",
    ("720p", "1:1"): "960*960",
    ("720p", "4:3"): "1088*832",
    ("720p", "3:4"): "832*1088",
    ("1080p", "16:9"): "1920*1080",
    ("1080p", "9:16"): "1080*1920",
    ("1080p", "1:1"): "1440*1440",
    ("1080p", "4:3"): "1632*1248",
    ("1080p", "3:4"): "1248*1632",
}
#: wan2.7 text-to-video takes an aspect `ratio` (UNCONFIRMED: the name is from third-party copies).
RATIOS = frozenset({"16:9", "9:16", "1:1", "4:3", "3:4"})
DEFAULT_ASPECT_RATIO = "16:9"

Shape = Literal["size", "img_url", "keyframes", "wan27_t2v", "wan27_i2v"]
#: "always": the model makes sound with no switch to turn it off (wan2.7, UNCONFIRMED); "unknown": a
#: model not in MODELS, whose `audio` flag is passed on as the request sets it.
Audio = Literal["never", "optional", "always", "unknown"]
#: Which of our modes each request shape serves (kf2v's last frame is optional, so it also does i2v).
SHAPE_MODES: dict[Shape, frozenset[str]] = {
    "size": frozenset({"t2v"}),
    "img_url": frozenset({"i2v"}),
    "keyframes": frozenset({"i2v", "fl2v"}),
    "wan27_t2v": frozenset({"t2v"}),
    "wan27_i2v": frozenset({"i2v", "fl2v"}),
}


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What one Wan model takes; None limits are not checked (a model not in MODELS)."""

    shape: Shape
    resolutions: frozenset[str] | None = None
    durations: frozenset[int] | None = None
    audio: Audio = "unknown"

    @property
    def endpoint(self) -> str:
        return KEYFRAME_PATH if self.shape == "keyframes" else SYNTHESIS_PATH


def _res(*values: str) -> frozenset[str]:
    return frozenset(values)


def _secs(first: int, last: int | None = None) -> frozenset[int]:
    return frozenset(range(first, (last or first) + 1))


_HD = _res("720p", "1080p")
_ALL = _res("480p", "720p", "1080p")
_FIVE_OR_TEN = frozenset({5, 10})
#: The models §8 lists. Where copies of the official tables disagree (wan2.6: 5/10/15 or any 2–15) the
#: wider range is taken: the catalog offers the narrower one, and DashScope refuses the rest for free.
MODELS: dict[str, ModelSpec] = {
    "wan2.6-t2v": ModelSpec("size", _HD, _secs(2, 15), "optional"),
    "wan2.5-t2v-preview": ModelSpec("size", _ALL, _FIVE_OR_TEN, "optional"),
    "wan2.2-t2v-plus": ModelSpec("size", _res("480p", "1080p"), _secs(5), "never"),
    "wan2.1-t2v-turbo": ModelSpec("size", _res("480p", "720p"), _secs(5), "never"),
    "wan2.1-t2v-plus": ModelSpec("size", _res("720p"), _secs(5), "never"),
    "wan2.6-i2v": ModelSpec("img_url", _HD, _secs(2, 15), "optional"),
    "wan2.6-i2v-flash": ModelSpec("img_url", _HD, _secs(2, 15), "optional"),
    "wan2.5-i2v-preview": ModelSpec("img_url", _ALL, _FIVE_OR_TEN, "optional"),
    "wan2.2-i2v-plus": ModelSpec("img_url", _res("480p", "1080p"), _secs(5), "never"),
    "wan2.2-i2v-flash": ModelSpec("img_url", _ALL, _secs(5), "never"),
    "wan2.1-i2v-turbo": ModelSpec("img_url", _res("480p", "720p"), _secs(3, 5), "never"),
    "wan2.1-i2v-plus": ModelSpec("img_url", _res("720p"), _secs(5), "never"),
    "wan2.2-kf2v-flash": ModelSpec("keyframes", _ALL, _secs(5), "never"),
    "wan2.1-kf2v-plus": ModelSpec("keyframes", _res("720p"), _secs(5), "never"),
    "wan2.7-t2v": ModelSpec("wan27_t2v", _HD, _secs(2, 15), "always"),
    "wan2.7-i2v": ModelSpec("wan27_i2v", _HD, _secs(2, 15), "always"),
}


def _invalid(message: str, code: str = "invalid_request") -> InvalidRequestError:
    return InvalidRequestError(message, provider=NAME, code=code)


def spec_for(model_id: str) -> ModelSpec:
    """The model's spec; a newer name is read by its kind (`…-kf2v-…`, `…-i2v…`, `…-t2v…`) unchecked.
    Other families (r2v, videoedit, HappyHorse …) take inputs this adapter does not build."""
    spec = MODELS.get(model_id)
    if spec is not None:
        return spec
    name = model_id.lower()
    wan27 = name.startswith("wan2.7")
    if "kf2v" in name:
        return ModelSpec("keyframes")
    if "i2v" in name:
        return ModelSpec("wan27_i2v" if wan27 else "img_url")
    if "t2v" in name:
        return ModelSpec("wan27_t2v" if wan27 else "size")
    raise _invalid(f"{model_id} is not a Wan text- or image-to-video model", code="model")


def api_base(base_url: str) -> str:
    """The API root: a bare host (`https://dashscope-intl.aliyuncs.com`, the setting's old default)
    gets `/api/v1`; any other path is taken as the operator wrote it."""
    stripped = base_url.rstrip("/")
    return stripped + API_ROOT if urlsplit(stripped).path in ("", "/") else stripped


# ------------------------------------------------------------------------------------- request building


def data_uri(image: InputImage) -> str:
    return f"data:{image.mime_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def check_image(image: InputImage, role: str) -> None:
    """DashScope takes JPEG/PNG/BMP/WEBP of 360–2000 px a side, at most 10 MB. "too large" in the message
    makes the registry retry once with a smaller JPEG."""
    if image.mime_type not in IMAGE_TYPES:
        raise _invalid(f"the {role} must be JPEG, PNG, BMP or WEBP, not {image.mime_type}", code="image")
    if len(image.data) > IMAGE_MAX_BYTES or max(image.width, image.height) > IMAGE_MAX_SIDE:
        raise _invalid(f"the {role} is too large (at most {IMAGE_MAX_SIDE} px a side, 10 MB)", code="image")
    if min(image.width, image.height) < IMAGE_MIN_SIDE:
        raise _invalid(f"the {role} is too small (at least {IMAGE_MIN_SIDE} px a side)", code="image")


def _frames(job: SubmitJob, spec: ModelSpec) -> tuple[InputImage | None, InputImage | None]:
    """(first, last) frames the mode sends, checked; the mode must be one the model's shape serves."""
    mode = job.request.mode
    if mode not in SHAPE_MODES[spec.shape]:
        raise _invalid(f"{job.provider_model_id} does not do {mode}", code="mode")
    if mode == "t2v":
        return None, None
    if job.first_frame is None:
        raise _invalid(f"{mode} needs a first frame", code="image")
    check_image(job.first_frame, "first frame")
    if mode != "fl2v":
        return job.first_frame, None
    if job.last_frame is None:
        raise _invalid("fl2v needs a last frame", code="image")
    check_image(job.last_frame, "last frame")
    return job.first_frame, job.last_frame


def _resolution(job: SubmitJob, spec: ModelSpec) -> str | None:
    resolution = job.request.resolution
    if resolution is None:
        return None
    resolution = resolution.lower()
    if resolution not in _ALL or (spec.resolutions is not None and resolution not in spec.resolutions):
        raise _invalid(f"{job.provider_model_id} does not render {job.request.resolution}", code="resolution")
    return resolution


def _duration(job: SubmitJob, spec: ModelSpec) -> int | None:
    duration = job.request.duration
    if duration is not None and spec.durations is not None and duration not in spec.durations:
        allowed = ", ".join(str(d) for d in sorted(spec.durations))
        model_id = job.provider_model_id
        raise _invalid(f"{model_id} makes {allowed}-second clips, not {duration}", code="duration")
    return duration


def _audio_url(job: SubmitJob, spec: ModelSpec) -> str | None:
    """A soundtrack from `extras["audio_url"]` (a public URL: DashScope fetches it itself)."""
    url = job.request.extras.get(AUDIO_URL_EXTRA)
    if url is None:
        return None
    if not isinstance(url, str) or not url.startswith(("http://", "https://", "oss://")):
        raise _invalid("audio_url must be a public http(s) URL", code="audio")
    if spec.audio == "never":
        raise _invalid(f"{job.provider_model_id} takes no audio", code="audio")
    if job.request.audio is False:
        raise _invalid("an audio track was given for a video without sound", code="audio")
    return url


def _audio_flag(job: SubmitJob, spec: ModelSpec) -> bool | None:
    """The `audio` parameter to send, if any; a sound choice the model cannot honour is refused."""
    audio = job.request.audio
    if spec.audio == "never" and audio:
        raise _invalid(f"{job.provider_model_id} makes silent videos only", code="audio")
    if spec.audio == "always" and audio is False:
        raise _invalid(f"{job.provider_model_id} always makes sound", code="audio")
    return audio if spec.audio in ("optional", "unknown") else None


def build_input(
    job: SubmitJob,
    spec: ModelSpec,
    first: InputImage | None,
    last: InputImage | None,
    audio_url: str | None,
) -> dict[str, Any]:
    """`input`: prompt, negative prompt, and the frames and soundtrack where this model's shape puts them."""
    request = job.request
    prompt = request.prompt.strip()
    if request.mode == "t2v" and not prompt:
        raise _invalid("text-to-video needs a prompt", code="prompt")
    body: dict[str, Any] = {"prompt": prompt} if prompt else {}
    negative = (request.negative_prompt or "").strip()
    if len(negative) > NEGATIVE_PROMPT_MAX:
        raise _invalid(f"the negative prompt is longer than {NEGATIVE_PROMPT_MAX} characters", code="prompt")
    if negative:
        body["negative_prompt"] = negative
    if spec.shape == "wan27_i2v":
        assert first is not None
        media = [{"type": "first_frame", "url": data_uri(first)}]
        if last is not None:
            media.append({"type": "last_frame", "url": data_uri(last)})
        if audio_url is not None:
            media.append({"type": "driving_audio", "url": audio_url})
        body["media"] = media
        return body
    if spec.shape == "keyframes":
        assert first is not None
        body["first_frame_url"] = data_uri(first)
        if last is not None:
            body["last_frame_url"] = data_uri(last)
    elif first is not None:
        body["img_url"] = data_uri(first)
    if audio_url is not None:
        body["audio_url"] = audio_url
    return body


def build_parameters(job: SubmitJob, spec: ModelSpec) -> dict[str, Any]:
    """Route params first (watermark, shot_type …), then the request's own choices. `prompt_extend` is
    always sent, as the user's prompt-enhancement toggle: DashScope rewrites the prompt unless told not to."""
    request = job.request
    parameters = {k: v for k, v in job.route.params.items() if k not in _PROTECTED}
    parameters["prompt_extend"] = request.enhance_prompt
    resolution = _resolution(job, spec)
    aspect = request.aspect_ratio or DEFAULT_ASPECT_RATIO
    if spec.shape == "size":
        if resolution is not None:
            if (resolution, aspect) not in SIZES:
                raise _invalid(f"no {resolution} size for aspect ratio {aspect}", code="size")
            parameters["size"] = SIZES[(resolution, aspect)]
    elif resolution is not None:  # a tier only: the image (or wan2.7's `ratio`) sets the aspect
        parameters["resolution"] = resolution.upper()
    if spec.shape == "wan27_t2v":
        if aspect not in RATIOS:
            raise _invalid(f"aspect ratio {aspect} is not offered", code="size")
        parameters["ratio"] = aspect
    duration = _duration(job, spec)
    if duration is not None:
        parameters["duration"] = duration
    audio = _audio_flag(job, spec)
    if audio is not None:
        parameters["audio"] = audio
    if request.seed is not None and request.seed in SEEDS:  # ours go to 2^32-1: the rest are left out
        parameters["seed"] = request.seed
    return parameters


def build_request(job: SubmitJob) -> tuple[str, dict[str, Any]]:
    """(endpoint path, body) for a job; raises InvalidRequestError for what the model would refuse."""
    model_id = job.provider_model_id
    spec = spec_for(model_id)
    first, last = _frames(job, spec)
    audio_url = _audio_url(job, spec)
    parameters = build_parameters(job, spec)
    body = {"model": model_id, "input": build_input(job, spec, first, last, audio_url)}
    return spec.endpoint, {**body, "parameters": parameters}


def task_path(task_id: str, suffix: str = "") -> str:
    return f"tasks/{quote(task_id, safe='')}{suffix}"


# ------------------------------------------------------------------------------------ error classification

#: Moderation (input or output): DataInspectionFailed and its variants, suspected IP infringement.
_POLICY_CODE = re.compile(r"datainspection|data_inspection|ipinfringement|inappropriate", re.I)
_POLICY_MESSAGE = re.compile(
    r"inappropriate|data inspection|moderation|sensitive|copyright|infring|违规|敏感|不当", re.I
)
#: Unpaid bills (403 Arrearage) and an exhausted free quota (429 Throttling.AllocationQuota, UNCONFIRMED
#: variants AllocationQuota.FreeTierOnly): the account, not the request, must change.
_BALANCE = re.compile(r"arrearage|allocationquota|freetieronly|overdue|good standing", re.I)
#: DashScope's own trouble, on a call or as a failed task's code.
_PROVIDER_FAULT = re.compile(r"internal|system|timeout|timed ?out|unavailable|overload|busy", re.I)


def is_policy(code: str | None, message: str | None) -> bool:
    return bool((code and _POLICY_CODE.search(code)) or (message and _POLICY_MESSAGE.search(message)))


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def error_for(
    code: str | None, message: str | None, *, http_status: int | None, retry_after: float | None = None
) -> ProviderError:
    """The typed error for DashScope's (code, message) on an HTTP status (200 for one in a body)."""
    status = http_status or 200
    text = (message or code or f"HTTP {status}")[:500]
    kwargs: dict[str, Any] = {"provider": NAME, "code": code or str(status), "http_status": http_status}
    probe = f"{code or ''} {message or ''}"
    if is_policy(code, message):
        return ContentPolicyError(text, **kwargs)
    if _BALANCE.search(probe) or status == 402:
        return OutOfBalanceError(text, **kwargs)
    if status in (401, 403) or (code or "").startswith(("InvalidApiKey", "AccessDenied")):
        return UnauthorizedError(text, **kwargs)
    if status == 404 or (code or "").startswith("ModelNotFound"):
        return NotFoundError(text, **kwargs)
    if status == 429 or (code or "").startswith("Throttling"):
        return RateLimitedError(text, retry_after=retry_after, **kwargs)
    if status >= 500 or (code or "").startswith(("InternalError", "SystemError", "ServiceUnavailable")):
        return UnavailableError(text, retry_after=retry_after, **kwargs)
    return InvalidRequestError(text, **kwargs)


def classify(response: HttpResponse) -> ProviderError:
    """An HTTP error: DashScope's `code`/`message` when the body has them, the HTTP status otherwise."""
    payload = response.json()
    if isinstance(payload, Mapping) and (_text(payload.get("code")) or _text(payload.get("message"))):
        return error_for(
            _text(payload.get("code")),
            _text(payload.get("message")),
            http_status=response.status,
            retry_after=response.retry_after,
        )
    return default_error(NAME, response)


def classify_download(response: HttpResponse) -> ProviderError:
    """The OSS URL answers 403 ("Request has expired") or 404 once its signature's 24 h are over."""
    return download_error(NAME, response)


# ------------------------------------------------------------------------------------ response parsing


def _body_error(payload: Mapping[str, Any]) -> ProviderError | None:
    """A 200 answer carrying DashScope's error fields instead of an `output`."""
    code, message = _text(payload.get("code")), _text(payload.get("message"))
    return error_for(code, message, http_status=None) if code or message else None


def parse_created(payload: Any) -> Submitted:
    """The create answer `{"output": {"task_id", "task_status"}}`. One without a task id, or a server
    error in the body, may still have made a paid task that nothing can find: an uncertain submit (a
    DashScope task can be looked up only by its id)."""
    output = payload.get("output") if isinstance(payload, Mapping) else None
    task_id = _text(output.get("task_id")) if isinstance(output, Mapping) else None
    if task_id is not None:
        return Submitted(task_id, parse_output(output, {}))
    error = _body_error(payload) if isinstance(payload, Mapping) else None
    if error is None or isinstance(error, UnavailableError):
        reason = error.message if error is not None else "the create answer has no task_id"
        raise UncertainSubmitError(reason, provider=NAME, code=error.code if error else "bad_payload")
    raise error


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _dimensions(value: Any) -> tuple[int | None, int | None]:
    """ "1280*720" (DashScope's own spelling) or "1280x720"."""
    match = re.fullmatch(r"\s*(\d+)\s*[*xX]\s*(\d+)\s*", value) if isinstance(value, str) else None
    return (int(match[1]), int(match[2])) if match else (None, None)


def _result(output: Mapping[str, Any], usage: Mapping[str, Any], url: str) -> ResultRef:
    """The video and what usage says about it; its keys vary by model (UNCONFIRMED list): seconds as
    `video_duration` or `duration`, size as `video_ratio` or `size`, the resolution tier as `SR`."""
    duration = _number(usage.get("video_duration"))
    if duration is None:
        duration = _number(usage.get("duration"))
    width, height = _dimensions(usage.get("video_ratio") or usage.get("size"))
    extra = {k: output[k] for k in ("actual_prompt", "orig_prompt") if _text(output.get(k))}
    if usage.get("SR") is not None:
        extra["sr"] = usage["SR"]
    return ResultRef(url, mime_type="video/mp4", width=width, height=height, duration=duration, extra=extra)


def _failed(code: str, message: str, *, provider_fault: bool | None = None) -> TaskStatus:
    policy = is_policy(code, message)
    fault = (not policy and bool(_PROVIDER_FAULT.search(code))) if provider_fault is None else provider_fault
    return TaskStatus(
        TaskState.FAILED,
        error_code=code,
        error_message=message[:500],
        content_policy=policy,
        provider_fault=fault,
    )


_WAITING = {"PENDING": TaskState.QUEUED, "SUSPENDED": TaskState.QUEUED, "RUNNING": TaskState.RUNNING}


def parse_output(output: Mapping[str, Any], usage: Mapping[str, Any]) -> TaskStatus:
    """`output.task_status` → status. Statuses not known here read as running (the hard timeout bounds
    them); CANCELED is also accepted spelled with two Ls."""
    status = str(output.get("task_status") or "").strip().upper()
    code = _text(output.get("code"))
    message = _text(output.get("message"))
    if status == "SUCCEEDED":
        url = _text(output.get("video_url"))
        if url is None or not url.startswith(("http://", "https://")):
            return _failed("no_video", "DashScope reported success without a video_url", provider_fault=False)
        return TaskStatus(TaskState.SUCCEEDED, progress=100, result=_result(output, usage, url))
    if status == "FAILED":
        return _failed(code or "failed", message or "the generation failed")
    if status in ("CANCELED", "CANCELLED"):
        return _failed("cancelled", "the task was cancelled", provider_fault=False)
    if status == "UNKNOWN":
        return _failed(
            "task_unknown",
            "DashScope no longer knows this task: it does not exist or has expired (task ids last 24 h)",
            provider_fault=False,
        )
    return TaskStatus(_WAITING.get(status, TaskState.RUNNING))


def parse_task(payload: Any) -> TaskStatus:
    """A `GET tasks/{id}` answer; one without `output` is an error (raised typed) or unreadable."""
    if not isinstance(payload, Mapping):
        raise UnavailableError("the task answer is not JSON", provider=NAME, code="bad_payload")
    output = payload.get("output")
    if not isinstance(output, Mapping):
        raise _body_error(payload) or UnavailableError(
            "the task answer has no output", provider=NAME, code="bad_payload"
        )
    usage = payload.get("usage")
    return parse_output(output, usage if isinstance(usage, Mapping) else {})


# --------------------------------------------------------------------------------------------- adapter


class DashScopeProvider(VideoProvider):
    """Wan t2v, i2v and first+last-frame video through DashScope's async task API; polls only."""

    name: ClassVar[str] = NAME
    can_cancel: ClassVar[bool] = False

    def __init__(self, config: ProviderConfig, *, http: ProviderHttp | None = None, **kw: Any) -> None:
        """`kw` holds options meant for other adapters. Without a key DashScope answers 401, which fails
        over like any unauthorized route."""
        if http is None:
            key = config.api_key.get_secret_value() if config.api_key is not None else None
            http = ProviderHttp(
                NAME,
                api_base(config.base_url or DEFAULT_BASE_URL),
                auth_headers={"Authorization": f"Bearer {key}"} if key else None,
            )
        self._http = http

    async def submit(self, job: SubmitJob) -> Submitted:
        path, body = build_request(job)
        response = await self._http.request(
            "POST", path, json_body=body, headers=ASYNC_HEADERS, classify=classify
        )
        return parse_created(response.json())

    async def status(self, task_id: str) -> TaskStatus:
        response = await self._http.request("GET", task_path(task_id), classify=classify)
        return parse_task(response.json())

    async def cancel(self, task_id: str) -> bool:
        """Only a PENDING task can be cancelled; DashScope refuses the rest (400, code UnsupportedOperation
        UNCONFIRMED), which is False here. Sending it twice is harmless, so it is retried like a read."""
        try:
            response = await self._http.request(
                "POST", task_path(task_id, "/cancel"), classify=classify, idempotent=True
            )
        except (InvalidRequestError, NotFoundError):
            return False
        payload = response.json()
        return not (isinstance(payload, Mapping) and _text(payload.get("code")))

    async def download(self, status: TaskStatus, *, max_bytes: int) -> AsyncIterator[bytes]:
        if status.result is None:
            raise ValueError("download() needs a succeeded status with a result")
        async for chunk in self._http.stream(
            status.result.url, max_bytes=max_bytes, classify=classify_download
        ):
            yield chunk

    async def close(self) -> None:
        await self._http.close()


#: DashScope's docs suggest polling every 15 s (a run takes 1–5 minutes); tasks are kept 24 h.
DESCRIPTOR = ProviderDescriptor(
    name=NAME,
    base_url=DEFAULT_BASE_URL,
    adapters={NAME: DashScopeProvider},
    min_poll_interval=15.0,
)
