"""Seedance on BytePlus ModelArk / Volcengine Ark (reference/providers.md §7).

A task is created with `POST contents/generations/tasks`: a `content[]` array (one text item, images as
data URLs with the role `first_frame`, `last_frame` or `reference_image`) and the JSON parameter fields,
which are the current form. The older text commands (`--resolution 720p --duration 5` after the prompt)
are sent instead only when a route asks for them (`params.text_commands = true`); either way, commands a
user typed into the prompt are removed first, so a prompt cannot order a longer or sharper video than
the one paid for (how Ark combines a text command with a JSON field is UNCONFIRMED).

The task is read with `GET …/tasks/{id}`; its `content.video_url` is a presigned object-store URL (24 h),
fetched without the key. `DELETE …/tasks/{id}` cancels a task only while Ark still queues it; a running
task cannot be stopped, and a finished task's record would be deleted, so `cancel()` reads the task first.
Ark reports token usage, not a price: `cost_usd` stays None and the catalog's estimate stands. A create
has no client request id and the task list cannot be filtered by one, so an uncertain create is refunded.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

from services.http import EXPIRED_STATUSES, HttpResponse, ProviderHttp, download_error
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
from services.providers.descriptor import Callbacks, ProviderConfig, ProviderDescriptor

NAME = "ark"
DEFAULT_BASE_URL = "https://ark.ap-southeast.bytepluses.com/api/v3"
TASKS_PATH = "contents/generations/tasks"

RATIOS = frozenset({"16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"})
SEEDS = range(-1, 2**32)
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
#: Reference images Ark takes at most when the model is not in `MODELS` (2.x allows 9).
MAX_REFERENCES = 9
#: Route params copied into the body as they are: documented create fields a route may fix for all its
#: tasks (`camera_fixed = true`, `service_tier = "flex"` for the half-price offline tier ...).
ROUTE_FIELDS = frozenset({"camera_fixed", "watermark", "service_tier", "execution_expires_after"})
#: JSON field → its text command, for routes that send text commands (`params.text_commands`).
TEXT_COMMANDS = {
    "resolution": "resolution",
    "ratio": "ratio",
    "duration": "duration",
    "seed": "seed",
    "camera_fixed": "camerafixed",
    "watermark": "watermark",
}
#: Every documented text command and its short form: removed from what users type.
_USER_COMMAND = re.compile(
    r"(?<!\S)--(?:resolution|rs|ratio|rt|duration|dur|framepersecond|framespersecond|fps|watermark|wm"
    r"|seed|camerafixed|cf|frames)(?!\S)(?:[ \t]+(?!--)\S+)?",
    re.IGNORECASE,
)

#: Moderation in Ark's error codes (Volcengine `InputTextRiskDetection`, BytePlus `…SensitiveContent
#: Detected`, UNCONFIRMED) and in its messages ("the output video may contain sensitive information").
#: Bare "sensitive" is left out: an InvalidParameter message may say "case-sensitive".
_POLICY_CODE = re.compile(r"sensitive|risk ?detection|moderat", re.IGNORECASE)
_POLICY_MESSAGE = re.compile(
    r"sensitive (information|content)|risk detection|content (moderation|polic)", re.IGNORECASE
)
#: Error codes that name the cause better than the HTTP status does (Ark's error-code pages).
_CODE_ERRORS: tuple[tuple[re.Pattern[str], type[ProviderError]], ...] = (
    (re.compile(r"overdue|insufficient|arrear|balance", re.IGNORECASE), OutOfBalanceError),
    (re.compile(r"authentication|apikey|api_key|accessdenied", re.IGNORECASE), UnauthorizedError),
    (re.compile(r"notopen|notfound|closedendpoint", re.IGNORECASE), NotFoundError),
)
_HTTP_ERRORS: dict[int, type[ProviderError]] = {
    401: UnauthorizedError,
    402: OutOfBalanceError,
    403: UnauthorizedError,  # AccessDenied; AccountOverdueError is told apart by its code
    404: NotFoundError,
}
#: A failed task's codes that name Ark's own trouble (UNCONFIRMED list): the next route may make it.
_PROVIDER_FAULT = re.compile(r"internal|server|unavailable|timeout|timed ?out|overload", re.IGNORECASE)


# ------------------------------------------------------------------------------------------ models


@dataclass(frozen=True, slots=True)
class Model:
    """What one Seedance model takes (§7's table, from third-party copies: UNCONFIRMED where marked).

    Values the table lists as UNCONFIRMED or "per some copies" are allowed, so that Ark decides."""

    modes: frozenset[str]
    resolutions: frozenset[str]
    durations: range
    max_references: int = 0
    audio: bool = False


_ALL_RESOLUTIONS = frozenset({"480p", "720p", "1080p"})
_PRO = Model(frozenset({"t2v", "i2v", "fl2v"}), _ALL_RESOLUTIONS, range(2, 13))
_PRO_FAST = Model(frozenset({"t2v", "i2v"}), _ALL_RESOLUTIONS, range(2, 13))
_LITE_T2V = Model(frozenset({"t2v"}), _ALL_RESOLUTIONS, range(2, 13))
_LITE_I2V = Model(frozenset({"i2v", "fl2v", "ref2v"}), _ALL_RESOLUTIONS, range(2, 13), max_references=4)
_PRO_1_5 = Model(frozenset({"t2v", "i2v", "fl2v"}), _ALL_RESOLUTIONS, range(4, 13), audio=True)
_V2 = Model(frozenset({"t2v", "i2v", "fl2v", "ref2v"}), _ALL_RESOLUTIONS, range(4, 16), 9, audio=True)
_V2_FAST = Model(_V2.modes, frozenset({"480p", "720p"}), range(4, 16), 9, audio=True)

#: By BytePlus id and by Volcengine id. An endpoint id (`ep-…`) names its model with `params.base_model`;
#: a model found in neither is sent unchecked.
MODELS: dict[str, Model] = {
    "seedance-1-0-pro-250528": _PRO,
    "doubao-seedance-1-0-pro-250528": _PRO,
    "seedance-1-0-pro-fast-251015": _PRO_FAST,
    "doubao-seedance-1-0-pro-fast-251015": _PRO_FAST,
    "seedance-1-0-lite-t2v-250428": _LITE_T2V,
    "doubao-seedance-1-0-lite-t2v-250428": _LITE_T2V,
    "seedance-1-0-lite-i2v-250428": _LITE_I2V,
    "doubao-seedance-1-0-lite-i2v-250428": _LITE_I2V,
    "seedance-1-5-pro-251215": _PRO_1_5,
    "doubao-seedance-1-5-pro-251215": _PRO_1_5,
    "dreamina-seedance-2-0-260128": _V2,
    "doubao-seedance-2-0-260128": _V2,
    "dreamina-seedance-2-0-fast-260128": _V2_FAST,
    "doubao-seedance-2-0-fast-260128": _V2_FAST,
}


def model_for(job: SubmitJob) -> Model | None:
    base = job.route.params.get("base_model", job.provider_model_id)
    return MODELS.get(base) if isinstance(base, str) else None


# ------------------------------------------------------------------------------------------ requests


def _invalid(message: str, code: str = "invalid_request") -> InvalidRequestError:
    return InvalidRequestError(message, provider=NAME, code=code)


def strip_commands(prompt: str) -> str:
    """The prompt without text commands a user typed (`--dur 12`): they would override what was paid."""
    cleaned = _USER_COMMAND.sub("", prompt)
    return prompt if cleaned == prompt else " ".join(cleaned.split())


#: Mode → which images it sends: (first frame, last frame, reference images).
_MODE_IMAGES: dict[str, tuple[bool, bool, bool]] = {
    "t2v": (False, False, False),
    "i2v": (True, False, False),
    "fl2v": (True, True, False),
    "ref2v": (False, False, True),
}


def images_for(job: SubmitJob) -> list[tuple[InputImage, str]]:
    """The (image, role) pairs this mode sends, after the model's rules; refuses what Ark would refuse."""
    request = job.request
    mode = request.mode
    model = model_for(job)
    if mode not in _MODE_IMAGES or (model is not None and mode not in model.modes):
        raise _invalid(f"{job.provider_model_id} has no {mode} mode on Ark", "mode")
    wants_first, wants_last, wants_refs = _MODE_IMAGES[mode]
    images: list[tuple[InputImage, str]] = []
    if wants_first:
        if job.first_frame is None:
            raise _invalid(f"{mode} needs a first frame", "images")
        images.append((job.first_frame, "first_frame"))
    if wants_last:
        if job.last_frame is None:
            raise _invalid(f"{mode} needs a last frame", "images")
        images.append((job.last_frame, "last_frame"))
    if wants_refs:
        limit = model.max_references if model is not None else MAX_REFERENCES
        if not 1 <= len(job.reference_images) <= limit:
            raise _invalid(f"{job.provider_model_id} takes 1 to {limit} reference images", "images")
        images.extend((image, "reference_image") for image in job.reference_images)
    for image, _role in images:
        if image.mime_type not in IMAGE_TYPES:
            raise _invalid(f"Ark takes JPEG, PNG or WebP images, not {image.mime_type}", "images")
    return images


def parameters(job: SubmitJob) -> dict[str, Any]:
    """The JSON parameter fields, checked against the model's resolutions, durations and audio.

    `generate_audio` goes to models with sound (on or off as ordered); a model not in `MODELS` gets it
    only when sound is ordered, since Ark may refuse the field for a silent model (name an endpoint's
    model with `params.base_model` to ask for silence explicitly)."""
    request = job.request
    model = model_for(job)
    fields: dict[str, Any] = {}
    if request.resolution is not None:
        if model is not None and request.resolution not in model.resolutions:
            raise _invalid(f"{job.provider_model_id} does not render {request.resolution}", "resolution")
        fields["resolution"] = request.resolution
    if request.aspect_ratio is not None:
        if request.aspect_ratio not in RATIOS:
            raise _invalid(f"Ark has no aspect ratio {request.aspect_ratio}", "ratio")
        fields["ratio"] = request.aspect_ratio
    if request.duration is not None:
        if model is not None and request.duration not in model.durations:
            raise _invalid(
                f"{job.provider_model_id} does not make {request.duration}-second videos", "duration"
            )
        fields["duration"] = request.duration
    if request.seed is not None:
        if request.seed not in SEEDS:
            raise _invalid(f"seed {request.seed} is out of Ark's range", "seed")
        fields["seed"] = request.seed
    if model is not None and model.audio:
        if request.audio is not None:
            fields["generate_audio"] = request.audio
    elif request.audio:
        if model is not None:
            raise _invalid(f"{job.provider_model_id} makes no sound", "audio")
        fields["generate_audio"] = True  # an unknown model: sent, so that Ark decides
    fields.update({k: v for k, v in job.route.params.items() if k in ROUTE_FIELDS})
    return fields


def _command_value(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def data_url(image: InputImage) -> str:
    return f"data:{image.mime_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def build_body(job: SubmitJob) -> dict[str, Any]:
    """The create body: model, content (text, then images in order), parameters, callback_url."""
    images = images_for(job)
    fields = parameters(job)
    prompt = strip_commands(job.request.prompt).strip()
    if job.route.params.get("text_commands") is True:
        commands = [
            f"--{TEXT_COMMANDS[k]} {_command_value(fields.pop(k))}"
            for k in list(fields)
            if k in TEXT_COMMANDS
        ]
        prompt = " ".join([prompt, *commands]).strip()
    if not prompt and not images:
        raise _invalid("a text-to-video task needs a prompt", "prompt")
    content: list[dict[str, Any]] = [{"type": "text", "text": prompt}] if prompt else []
    content.extend(
        {"type": "image_url", "image_url": {"url": data_url(image)}, "role": role} for image, role in images
    )
    body: dict[str, Any] = {"model": job.provider_model_id, "content": content, **fields}
    if job.callback_url:
        body["callback_url"] = job.callback_url
    return body


# ------------------------------------------------------------------------------------------ responses


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _task_id(value: Any) -> str | None:
    """A task id, kept verbatim (opaque): any non-blank string."""
    return value if isinstance(value, str) and value.strip() else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def is_policy(code: str | None, message: str | None) -> bool:
    return bool((code and _POLICY_CODE.search(code)) or (message and _POLICY_MESSAGE.search(message)))


def _error_fields(payload: Any) -> tuple[str | None, str | None]:
    """(code, message) of `{"error": {"code", "message", ...}}`; the error may also be a bare string."""
    error = payload.get("error") if isinstance(payload, Mapping) else None
    if isinstance(error, Mapping):
        return _text(error.get("code")), _text(error.get("message"))
    return None, _text(error)


def error_for(
    http_status: int, code: str | None, message: str | None, *, retry_after: float | None = None
) -> ProviderError:
    """The typed error of a refused call: moderation first, then Ark's code, then the HTTP status."""
    text = (message or f"HTTP {http_status}")[:500]
    kwargs: dict[str, Any] = {"provider": NAME, "code": code or str(http_status), "http_status": http_status}
    if http_status == 429:
        return RateLimitedError(text, retry_after=retry_after, **kwargs)
    if http_status >= 500:
        return UnavailableError(text, retry_after=retry_after, **kwargs)
    if http_status != 401 and is_policy(code, message):
        return ContentPolicyError(text, **kwargs)
    if code:
        for pattern, error_type in _CODE_ERRORS:
            if pattern.search(code):
                return error_type(text, **kwargs)
    return _HTTP_ERRORS.get(http_status, InvalidRequestError)(text, **kwargs)


def classify(response: HttpResponse) -> ProviderError:
    code, message = _error_fields(response.json())
    return error_for(response.status, code, message, retry_after=response.retry_after)


def classify_download(response: HttpResponse) -> ProviderError:
    """A presigned URL past its 24 h answers 403 (or 404/410): the file is gone."""
    return download_error(NAME, response, expired=EXPIRED_STATUSES | {401})


def parse_created(payload: Any) -> str:
    """The task id of a create answer. A 2xx without one may still have made a task: uncertain."""
    task_id = _task_id(payload.get("id")) if isinstance(payload, Mapping) else None
    if task_id is None:
        raise UncertainSubmitError("the create answer has no task id", provider=NAME, code="bad_ack")
    return task_id


def ark_status(payload: Any) -> str:
    """The task's status word (`queued`, `running`, `succeeded` ...), lower-cased."""
    status = _text(payload.get("status")) if isinstance(payload, Mapping) else None
    if status is None:
        raise UnavailableError("the task answer has no status", provider=NAME, code="bad_payload")
    return status.lower()


def _failure(code: str, message: str, *, fault: bool | None = None) -> TaskStatus:
    policy = is_policy(code, message)
    return TaskStatus(
        TaskState.FAILED,
        error_code=code,
        error_message=message[:500],
        content_policy=policy,
        provider_fault=not policy and (bool(_PROVIDER_FAULT.search(code)) if fault is None else fault),
    )


def _success(payload: Mapping[str, Any], url: str, content: Mapping[str, Any]) -> TaskStatus:
    extra: dict[str, Any] = {}
    usage = payload.get("usage")
    if isinstance(usage, Mapping):
        extra.update(
            {k: usage[k] for k in ("completion_tokens", "total_tokens") if _int(usage.get(k)) is not None}
        )
    for key in ("seed", "framespersecond"):
        if _int(payload.get(key)) is not None:
            extra[key] = payload[key]
    for key in ("resolution", "ratio"):
        if _text(payload.get(key)):
            extra[key] = payload[key]
    last_frame = _text(content.get("last_frame_url"))
    if last_frame:
        extra["last_frame_url"] = last_frame
    duration = _int(payload.get("duration"))
    result = ResultRef(
        url, mime_type="video/mp4", duration=float(duration) if duration else None, extra=extra
    )
    return TaskStatus(TaskState.SUCCEEDED, progress=100, result=result)


def parse_task(payload: Any) -> TaskStatus:
    """A task object (GET, or a callback body) → status.

    queued → queued; running → running; succeeded → the video (failed "no_video" when `content` has no
    URL, as after the 24 h); failed → its `error`; expired (not done within `execution_expires_after`) →
    failed, Ark's fault; cancelled → failed. Any other status reads as running: the hard timeout bounds it.
    """
    status = ark_status(payload)
    if status == "queued":
        return TaskStatus(TaskState.QUEUED)
    if status == "succeeded":
        content = payload.get("content")
        content = content if isinstance(content, Mapping) else {}
        url = _text(content.get("video_url")) or _text(content.get("file_url"))  # SDK lists file_url too
        if url is None:
            return _failure("no_video", "Ark reported success without a video URL", fault=False)
        return _success(payload, url, content)
    code, message = _error_fields(payload)
    if status == "failed":
        return _failure(code or "failed", message or "the task failed")
    if status == "expired":
        return _failure(code or "expired", message or "Ark did not finish the task in time", fault=True)
    if status == "cancelled":
        return _failure("cancelled", message or "the task was cancelled", fault=False)
    return TaskStatus(TaskState.RUNNING)


def parse_callback_body(body: bytes) -> CallbackEvent:
    """A callback: the task object, as GET answers it (UNCONFIRMED); its id, and its status when readable."""
    try:
        payload = json.loads(body)
    except ValueError:
        raise CallbackRejected("ark callback is not JSON") from None
    if not isinstance(payload, Mapping):
        raise CallbackRejected("ark callback is not an object")
    task_id = _task_id(payload.get("id")) or _task_id(payload.get("task_id"))
    if task_id is None:
        raise CallbackRejected("ark callback has no task id")
    try:
        status: TaskStatus | None = parse_task(payload)
    except UnavailableError:
        status = None  # a hint all the same: the poller re-reads the task
    return CallbackEvent(task_id, status)


def _task_path(task_id: str) -> str:
    return f"{TASKS_PATH}/{quote(task_id, safe='')}"


# ------------------------------------------------------------------------------------------ adapter


class ArkProvider(VideoProvider):
    """Seedance through ModelArk: JSON create, GET polls, per-task callbacks, cancel while queued."""

    name: ClassVar[str] = NAME
    #: Ark cancels a task while it queues it (minutes when busy, or on the flex tier); `cancel()` says
    #: False once the task runs.
    can_cancel: ClassVar[bool] = True

    def __init__(self, config: ProviderConfig, *, http: ProviderHttp | None = None, **kw: Any) -> None:
        """`kw` holds options meant for other adapters. Without a key Ark answers 401, which fails over
        like any unauthorized route."""
        if http is None:
            secret = config.api_key.get_secret_value() if config.api_key is not None else ""
            http = ProviderHttp(
                NAME,
                config.base_url or DEFAULT_BASE_URL,
                auth_headers={"Authorization": f"Bearer {secret}"} if secret else None,
            )
        self._http = http

    async def submit(self, job: SubmitJob) -> Submitted:
        body = build_body(job)
        response = await self._http.request("POST", TASKS_PATH, json_body=body, classify=classify)
        return Submitted(parse_created(response.json()))

    async def _read(self, task_id: str) -> Any:
        response = await self._http.request("GET", _task_path(task_id), classify=classify)
        return response.json()

    async def status(self, task_id: str) -> TaskStatus:
        return parse_task(await self._read(task_id))

    async def cancel(self, task_id: str) -> bool:
        """DELETE while the task is queued. A running task cannot be stopped (False), and a finished one
        is left alone, because DELETE would erase its record. What DELETE answers for a task that started
        meanwhile is UNCONFIRMED, so after a refusal, or a 2xx, the task's state decides."""
        before = ark_status(await self._read(task_id))
        if before != "queued":
            return before == "cancelled"
        try:
            await self._http.request("DELETE", _task_path(task_id), classify=classify)
        except ProviderError:
            after = ark_status(await self._read(task_id))
            if after == "queued":
                raise  # refused for another reason (the key, a limit): nothing was stopped
            return after == "cancelled"
        try:
            after = ark_status(await self._read(task_id))
        except NotFoundError:
            return True  # the record is gone: nothing will be delivered
        return after in ("cancelled", "queued")  # a queued task's DELETE is its cancel (docs)

    async def download(self, status: TaskStatus, *, max_bytes: int) -> AsyncIterator[bytes]:
        if status.result is None:
            raise NotFoundError("the task has no result to download", provider=NAME)
        async for chunk in self._http.stream(
            status.result.url, max_bytes=max_bytes, classify=classify_download
        ):
            yield chunk

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> CallbackEvent:
        """Ark signs nothing: the web layer checks the secret token in the callback path before this."""
        return parse_callback_body(body)

    async def close(self) -> None:
        await self._http.close()


#: Polling every ~10 s is what Ark's examples do; callbacks report changes at once.
DESCRIPTOR = ProviderDescriptor(
    name=NAME,
    base_url=DEFAULT_BASE_URL,
    adapters={NAME: ArkProvider},
    callbacks=Callbacks.PER_TASK,
    min_poll_interval=10.0,
)
