"""Runway's API (reference/providers.md §6): `POST /v1/text_to_video` or `/v1/image_to_video`, then
`GET /v1/tasks/{id}` until SUCCEEDED (signed `output[]` URLs on a CDN) or FAILED/CANCELLED.

Every call carries `X-Runway-Version`. The body is camelCase and validated per model, and Runway refuses
any key a model does not take, so the per-model table below decides which fields are sent at all.
Images go inline as data URIs (Runway refuses loopback/`http://` URLs, and Telegram files are neither
public nor HTTPS); one past the 5 MB data-URI limit is refused as "too large", which makes the registry
retry once with a smaller JPEG. A running task is stopped with `DELETE /v1/tasks/{id}`. There are no
callbacks and no lookup by a client request id, so a create whose answer was lost is refunded.
"""

from __future__ import annotations

import base64
import contextlib
import math
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

from services.http import EXPIRED_STATUSES, HttpResponse, ProviderHttp, download_error
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

NAME = "runway"
DEFAULT_BASE_URL = "https://api.dev.runwayml.com"
#: The only API version the official SDK knows; Runway refuses a call without it.
API_VERSION = "2024-11-06"
VERSION_HEADER = "X-Runway-Version"
TEXT_TO_VIDEO = "/v1/text_to_video"
IMAGE_TO_VIDEO = "/v1/image_to_video"
TASK_PATH = "/v1/tasks/{id}"

#: Runway's limit on an image sent inline, applied to the whole data URI (the stricter reading of "5 MB").
MAX_DATA_URI = 5_000_000
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
#: The SDK only says "integer"; outside this range a seed is dropped rather than risk a refusal.
SEEDS = range(0, 2**32)
#: Runway bills API credits at $0.01 each (gen4_turbo's 5 credits/s is the catalog's $0.05/s).
USD_PER_CREDIT = 0.01

#: Body fields a route's `params` may not replace: they carry the request itself, or pick the adapter.
_PROTECTED = frozenset({"model", "promptText", "promptImage", "adapter"})
#: 400 texts about the account's credits ("You do not have enough credits to run this task.").
_CREDITS = re.compile(r"enough credits|insufficient credits|out of credits|credit balance", re.IGNORECASE)
#: Moderation wording in a failed task's `failure` text, for a FAILED task whose failureCode is null.
_POLICY_FAILURE = re.compile(r"moderat|safety|content polic|nsfw|inappropriate", re.IGNORECASE)
#: A create refused for its content (UNCONFIRMED: Runway documents moderation only as task failure codes);
#: narrow on purpose, so a validation issue about the `contentModeration` field is not mistaken for it.
_POLICY = re.compile(r"\bSAFETY\.|content polic|moderation (check )?failed|flagged by", re.IGNORECASE)


# ------------------------------------------------------------------------------------------- models

Sizes = Mapping[tuple[str, str], str]
#: (resolution, aspect ratio) → Runway's `ratio` (pixels, "W:H").
_GEN4_I2V: Sizes = {
    ("720p", "16:9"): "1280:720",
    ("720p", "9:16"): "720:1280",
    ("720p", "1:1"): "960:960",
    ("720p", "4:3"): "1104:832",
    ("720p", "3:4"): "832:1104",
    ("720p", "21:9"): "1584:672",
}
_WIDE_720P: Sizes = {("720p", "16:9"): "1280:720", ("720p", "9:16"): "720:1280"}
_VEO: Sizes = {
    **_WIDE_720P,
    ("1080p", "16:9"): "1920:1080",
    ("1080p", "9:16"): "1080:1920",
}
_HAPPYHORSE_T2V: Sizes = {
    **_WIDE_720P,
    ("720p", "1:1"): "960:960",
    ("720p", "4:3"): "1108:832",
    ("720p", "3:4"): "832:1108",
    ("1080p", "16:9"): "1920:1080",
    ("1080p", "9:16"): "1080:1920",
    ("1080p", "1:1"): "1440:1440",
    ("1080p", "4:3"): "1662:1248",
    ("1080p", "3:4"): "1248:1662",
}
#: happyhorse_1_0 image-to-video takes `resolution` instead of `ratio` (the aspect follows the image).
_HAPPYHORSE_RESOLUTIONS = {"720p": "720P", "1080p": "1080P"}


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What one Runway model takes, per endpoint ("t2v" or "i2v"); None where the SDK sets no bound."""

    ratios: Mapping[str, Sizes]
    durations: frozenset[int] | None = None
    duration_required: bool = False
    prompt_required: frozenset[str] = frozenset()
    prompt_max: int | None = None
    seed: bool = False
    last_frame: bool = False
    audio: bool = False
    negative_prompt: bool = False
    #: Endpoints that take `resolution` and no `ratio`.
    resolution_field: frozenset[str] = frozenset()

    @property
    def endpoints(self) -> frozenset[str]:
        return frozenset(self.ratios)


_BOTH = frozenset({"t2v", "i2v"})
_T2V = frozenset({"t2v"})
#: The models of SDK 5.13.0 whose values §6 lists. seedance2* are left out: their 24/12 ratio values and
#: duration range are not documented, and Runway refuses whatever a model does not take.
MODELS: dict[str, ModelSpec] = {
    "gen4.5": ModelSpec(
        {"t2v": _WIDE_720P, "i2v": _GEN4_I2V},
        frozenset(range(2, 11)),
        duration_required=True,
        prompt_required=_BOTH,
        prompt_max=1000,
        seed=True,
    ),
    "gen4_turbo": ModelSpec({"i2v": _GEN4_I2V}, frozenset(range(2, 11)), prompt_max=1000, seed=True),
    "veo3.1": ModelSpec(
        {"t2v": _VEO, "i2v": _VEO},
        frozenset({4, 6, 8}),
        prompt_required=_T2V,
        prompt_max=1000,
        last_frame=True,
        audio=True,
        negative_prompt=True,
    ),
    "veo3.1_fast": ModelSpec(
        {"t2v": _VEO, "i2v": _VEO},
        frozenset({4, 6, 8}),
        prompt_required=_T2V,
        prompt_max=1000,
        last_frame=True,
        audio=True,
        negative_prompt=True,
    ),
    "veo3": ModelSpec(
        {"t2v": _VEO, "i2v": _VEO},
        frozenset({8}),
        duration_required=True,
        prompt_required=_T2V,
        prompt_max=1000,
        negative_prompt=True,
    ),
    "happyhorse_1_0": ModelSpec(
        {"t2v": _HAPPYHORSE_T2V, "i2v": {}},
        prompt_required=_T2V,
        prompt_max=2500,
        resolution_field=frozenset({"i2v"}),
    ),
    "gemini_omni_flash": ModelSpec(
        {"t2v": _WIDE_720P, "i2v": _WIDE_720P}, frozenset(range(3, 11)), prompt_required=_T2V
    ),
}
#: Our mode → Runway's endpoint kind; fl2v is image-to-video with a first and a last `promptImage`.
_ENDPOINTS = {"t2v": "t2v", "i2v": "i2v", "fl2v": "i2v"}
_PATHS = {"t2v": TEXT_TO_VIDEO, "i2v": IMAGE_TO_VIDEO}


def _invalid(message: str, code: str) -> InvalidRequestError:
    return InvalidRequestError(message, provider=NAME, code=code)


def utf16_length(text: str) -> int:
    """Runway counts prompt length in UTF-16 code units: an emoji outside the BMP counts twice."""
    return len(text.encode("utf-16-le")) // 2


def data_uri(image: InputImage) -> str:
    """The image inline; past MAX_DATA_URI it is refused as "too large" (the registry shrinks and retries)."""
    if image.mime_type not in IMAGE_TYPES:
        raise _invalid(f"Runway takes JPEG, PNG or WebP images, not {image.mime_type}", "image_type")
    prefix = f"data:{image.mime_type};base64,"
    if len(prefix) + 4 * math.ceil(len(image.data) / 3) > MAX_DATA_URI:
        raise _invalid("the image is too large to send inline (5 MB as a data URI)", "image_too_large")
    return prefix + base64.b64encode(image.data).decode("ascii")


def endpoint_for(job: SubmitJob) -> tuple[str, ModelSpec]:
    """("t2v" | "i2v", the model's spec), after checking the model takes this mode."""
    model_id = job.provider_model_id
    spec = MODELS.get(model_id)
    if spec is None:
        raise _invalid(f"model {model_id} is not supported by the Runway adapter", "model")
    mode = job.request.mode
    endpoint = _ENDPOINTS.get(mode)
    if endpoint is None or endpoint not in spec.endpoints or (mode == "fl2v" and not spec.last_frame):
        raise _invalid(f"{model_id} has no {mode} mode on Runway", "mode")
    return endpoint, spec


def _size_fields(job: SubmitJob, endpoint: str, spec: ModelSpec) -> dict[str, str]:
    """`ratio` for the resolution and aspect ratio, or `resolution` where the model takes that instead."""
    request = job.request
    resolution = request.resolution or "720p"
    if endpoint in spec.resolution_field:
        value = _HAPPYHORSE_RESOLUTIONS.get(resolution)
        if value is None:
            raise _invalid(f"{job.provider_model_id} renders 720p or 1080p, not {resolution}", "size")
        return {"resolution": value}
    ratio = spec.ratios[endpoint].get((resolution, request.aspect_ratio or "16:9"))
    if ratio is None:
        raise _invalid(
            f"{job.provider_model_id} does not render {resolution} {request.aspect_ratio} on Runway", "size"
        )
    return {"ratio": ratio}


def _prompt_fields(job: SubmitJob, endpoint: str, spec: ModelSpec) -> dict[str, str]:
    prompt = job.request.prompt.strip()
    if not prompt:
        if endpoint in spec.prompt_required:
            raise _invalid(f"{job.provider_model_id} needs a prompt", "prompt")
        return {}  # Runway refuses an empty promptText: an optional prompt is left out instead
    if spec.prompt_max is not None and utf16_length(prompt) > spec.prompt_max:
        raise _invalid(f"the prompt is longer than {spec.prompt_max} characters", "prompt")
    return {"promptText": prompt}


def _duration_fields(job: SubmitJob, spec: ModelSpec) -> dict[str, int]:
    duration = job.request.duration
    if duration is None:
        if spec.duration_required:
            raise _invalid(f"{job.provider_model_id} needs a duration", "duration")
        return {}
    if spec.durations is not None and duration not in spec.durations:
        allowed = ", ".join(str(d) for d in sorted(spec.durations))
        raise _invalid(f"{job.provider_model_id} makes {allowed} s videos, not {duration} s", "duration")
    return {"duration": duration}


def _image_fields(job: SubmitJob, endpoint: str) -> dict[str, Any]:
    """One first frame as a plain URI (every model takes that form), first + last as positioned items."""
    if endpoint != "i2v":
        return {}
    if job.first_frame is None:
        raise _invalid(f"{job.request.mode} needs a first frame", "images")
    first = data_uri(job.first_frame)
    if job.request.mode != "fl2v":
        return {"promptImage": first}
    if job.last_frame is None:
        raise _invalid("fl2v needs a last frame", "images")
    return {
        "promptImage": [
            {"uri": first, "position": "first"},
            {"uri": data_uri(job.last_frame), "position": "last"},
        ]
    }


def _extra_fields(job: SubmitJob, spec: ModelSpec) -> dict[str, Any]:
    """Seed, sound and negative prompt, only for models that take them (others refuse the key)."""
    request = job.request
    fields: dict[str, Any] = {}
    if spec.seed and request.seed is not None and request.seed in SEEDS:
        fields["seed"] = request.seed
    if spec.audio and request.audio is not None:
        fields["audio"] = request.audio
    if spec.negative_prompt and request.negative_prompt:
        fields["negativePrompt"] = request.negative_prompt
    return fields


def build_request(job: SubmitJob) -> tuple[str, dict[str, Any]]:
    """(path, body) of the create call; refuses what Runway would refuse, before anything is sent."""
    endpoint, spec = endpoint_for(job)
    body: dict[str, Any] = {
        "model": job.provider_model_id,
        **_prompt_fields(job, endpoint, spec),
        **_image_fields(job, endpoint),
        **_size_fields(job, endpoint, spec),
        **_duration_fields(job, spec),
        **_extra_fields(job, spec),
    }
    body.update({k: v for k, v in job.route.params.items() if k not in _PROTECTED})
    return _PATHS[endpoint], body


# ------------------------------------------------------------------------------------------ responses


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse_created(payload: Any) -> Submitted:
    """`{"id": ...}` (and ignored extras such as `estimatedCost`). An answer without an id may still have
    made a paid task, and Runway has no lookup by anything else: an uncertain submit."""
    task_id = _text(payload.get("id")) if isinstance(payload, Mapping) else None
    if task_id is None:
        raise UncertainSubmitError("the create answer has no task id", provider=NAME, code="bad_ack")
    return Submitted(task_id, TaskStatus(TaskState.QUEUED))


def _progress(value: Any) -> int | None:
    """A 0..1 float (SDK); a value above 1 is read as a percentage, in case it comes that way."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    percent = value * 100 if value <= 1 else value
    return max(0, min(100, round(percent)))


def cost_usd(payload: Mapping[str, Any]) -> float | None:
    """`cost: {"credits": n}` (2026 answers; a bare number is accepted too) in US dollars. The estimate
    (`estimatedCost`) is not what the task cost, so it is never used."""
    cost = payload.get("cost")
    credits = cost.get("credits") if isinstance(cost, Mapping) else cost
    if isinstance(credits, bool) or not isinstance(credits, int | float) or credits < 0:
        return None
    return round(credits * USD_PER_CREDIT, 6)


def output_urls(value: Any) -> list[str]:
    """`output` is a list of URL strings (SDK); a single string or `{"url"|"uri"}` items are accepted too."""
    items = value if isinstance(value, list) else [value]
    urls = []
    for item in items:
        url = _text(item.get("url") or item.get("uri")) if isinstance(item, Mapping) else _text(item)
        if url and url.startswith(("https://", "http://")):
            urls.append(url)
    return urls


def is_policy_code(code: str) -> bool:
    """SAFETY.INPUT.*, SAFETY.OUTPUT.* and INPUT_PREPROCESSING.SAFETY.*: moderation of the user's content."""
    return code.upper().startswith(("SAFETY", "INPUT_PREPROCESSING.SAFETY"))


def is_provider_fault(code: str) -> bool:
    """Runway's own trouble, "retry" in its docs: INTERNAL, INPUT_PREPROCESSING.INTERNAL and
    THIRD_PARTY.* (UNCONFIRMED). INTERNAL.BAD_OUTPUT is not: it is usually caused by the input image."""
    upper = code.upper()
    if upper.startswith("INTERNAL.BAD_OUTPUT"):
        return False
    return (
        upper == "INTERNAL"
        or upper.startswith("INTERNAL.")
        or upper == "INPUT_PREPROCESSING.INTERNAL"
        or upper.startswith("THIRD_PARTY")
    )


def _failed(payload: Mapping[str, Any], cost: float | None) -> TaskStatus:
    code = _text(payload.get("failureCode"))
    message = (_text(payload.get("failure")) or "the generation failed")[:500]
    policy = is_policy_code(code) if code is not None else bool(_POLICY_FAILURE.search(message))
    return TaskStatus(
        TaskState.FAILED,
        error_code=code or "failed",
        error_message=message,
        content_policy=policy,
        provider_fault=code is not None and is_provider_fault(code),
        cost_usd=cost,
    )


def parse_task(payload: Any) -> TaskStatus:
    """A task object → status. PENDING and THROTTLED (over the tier's concurrency: it starts by itself
    later) are queued; an unknown status reads as running, bounded by the hard timeout. CANCELLED (cancelled
    or deleted elsewhere) is a failure with error code "cancelled"."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("status"), str):
        raise UnavailableError("the task answer has no status", provider=NAME, code="bad_payload")
    status = payload["status"].upper()
    if status in ("PENDING", "THROTTLED"):
        return TaskStatus(TaskState.QUEUED)
    if status == "SUCCEEDED":
        cost = cost_usd(payload)
        urls = output_urls(payload.get("output"))
        if not urls:
            return TaskStatus(
                TaskState.FAILED,
                error_code="no_video",
                error_message="Runway reported success without a video",
                cost_usd=cost,
            )
        extra = {"outputs": tuple(urls)} if len(urls) > 1 else {}
        return TaskStatus(
            TaskState.SUCCEEDED,
            progress=100,
            result=ResultRef(urls[0], mime_type="video/mp4", extra=extra),
            cost_usd=cost,
        )
    if status == "FAILED":
        return _failed(payload, cost_usd(payload))
    if status == "CANCELLED":
        return TaskStatus(
            TaskState.FAILED,
            error_code="cancelled",
            error_message="the task was cancelled at Runway",
            cost_usd=cost_usd(payload),
        )
    return TaskStatus(TaskState.RUNNING, progress=_progress(payload.get("progress")))


def error_message(payload: Any) -> tuple[str | None, str | None]:
    """(message, code) of an error body: `{"error": "..."}`, with validation `issues[]` summarised."""
    if not isinstance(payload, Mapping):
        return None, None
    message = _text(payload.get("error")) or _text(payload.get("message"))
    issues = payload.get("issues")
    code = None
    parts = []
    for issue in issues if isinstance(issues, list) else []:
        if not isinstance(issue, Mapping):
            continue
        path = issue.get("path")
        where = ".".join(str(p) for p in path) if isinstance(path, list) and path else "body"
        what = _text(issue.get("message")) or _text(issue.get("code")) or "invalid"
        code = code or _text(issue.get("code"))
        parts.append(f"{where}: {what}")
    if parts:
        message = f"{message or 'invalid request'} ({'; '.join(parts)})"
    return (message[:500] if message else None), code


def classify(response: HttpResponse) -> ProviderError:
    """A refused call, typed by its HTTP status; a 400 is refined by its text (credits, moderation)."""
    status = response.status
    message, issue_code = error_message(response.json())
    text = message or f"HTTP {status}"
    kwargs: dict[str, Any] = {"provider": NAME, "http_status": status}
    if status == 400:
        if message and _CREDITS.search(message):
            return OutOfBalanceError(text, code="credits", **kwargs)
        if message and _POLICY.search(message):
            return ContentPolicyError(text, code="content_policy", **kwargs)
        return InvalidRequestError(text, code=issue_code or "invalid_request", **kwargs)
    if status in (401, 403):
        return UnauthorizedError(text, code=str(status), **kwargs)
    if status == 402:
        return OutOfBalanceError(text, code=str(status), **kwargs)
    if status == 404:
        return NotFoundError(text, code="not_found", **kwargs)
    if status == 429:
        return RateLimitedError(text, code="rate_limited", retry_after=response.retry_after, **kwargs)
    if status >= 500:
        return UnavailableError(text, code=str(status), retry_after=response.retry_after, **kwargs)
    return InvalidRequestError(text, code=str(status), **kwargs)


def classify_download(response: HttpResponse) -> ProviderError:
    """The CDN answers an expired signed URL with 401/403/404/410: the file is gone."""
    return download_error(NAME, response, expired=EXPIRED_STATUSES | {401})


# ------------------------------------------------------------------------------------------- adapter


class RunwayProvider(VideoProvider):
    """Creates with one POST, polls the task, stops it with DELETE; no callbacks, no create lookup."""

    name: ClassVar[str] = NAME
    can_cancel: ClassVar[bool] = True

    def __init__(self, config: ProviderConfig, *, http: ProviderHttp | None = None, **kw: Any) -> None:
        """`kw` holds options meant for other adapters. Without a key the API answers 401, which fails
        over like any unauthorized route."""
        if http is None:
            secret = config.api_key.get_secret_value() if config.api_key is not None else ""
            http = ProviderHttp(
                NAME,
                config.base_url or DEFAULT_BASE_URL,
                auth_headers={"Authorization": f"Bearer {secret}"} if secret else None,
            )
        self._http = http

    async def _call(self, method: str, path: str, *, json_body: Any = None) -> HttpResponse:
        # The version header goes with API calls only (per request), never to the CDN.
        return await self._http.request(
            method, path, json_body=json_body, headers={VERSION_HEADER: API_VERSION}, classify=classify
        )

    @staticmethod
    def _task_path(task_id: str) -> str:
        return TASK_PATH.format(id=quote(task_id, safe=""))

    async def submit(self, job: SubmitJob) -> Submitted:
        path, body = build_request(job)
        response = await self._call("POST", path, json_body=body)
        return parse_created(response.json())

    async def status(self, task_id: str) -> TaskStatus:
        response = await self._call("GET", self._task_path(task_id))
        return parse_task(response.json())

    async def cancel(self, task_id: str) -> bool:
        """DELETE stops a PENDING/THROTTLED/RUNNING task, but also deletes a finished one with its video:
        a task that has already ended is left alone (False), so the poller still gets its outcome. A
        DELETE answered 404 (a retried DELETE whose first answer was lost) means the task is gone."""
        if (await self.status(task_id)).state not in (TaskState.QUEUED, TaskState.RUNNING):
            return False
        with contextlib.suppress(NotFoundError):
            await self._call("DELETE", self._task_path(task_id))
        return True

    async def download(self, status: TaskStatus, *, max_bytes: int) -> AsyncIterator[bytes]:
        if status.result is None:
            raise NotFoundError("the task has no result to download", provider=NAME)
        async for chunk in self._http.stream(
            status.result.url, max_bytes=max_bytes, classify=classify_download
        ):
            yield chunk

    async def close(self) -> None:
        await self._http.close()


#: Runway's SDK polls every 6 ± 1.5 s and its own skill every 5 s; there are no webhooks.
DESCRIPTOR = ProviderDescriptor(
    name=NAME, base_url=DEFAULT_BASE_URL, adapters={NAME: RunwayProvider}, min_poll_interval=5.0
)
