"""Runware (reference/providers.md §4): one endpoint that takes a JSON array of tasks.

Images are uploaded first (`imageUpload` → `imageUUID`) and referenced by UUID, the video is started
with an async `videoInference` task whose client-generated UUID is also the task id, and the result is
read with `getResponse`. Webhooks POST the flat task object (no `data` wrapper). Runware forwards each
model's own limits, so the combinations it rejects are checked here before any money is spent upstream.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
from services.providers.descriptor import Callbacks, ProviderConfig, ProviderDescriptor

NAME = "runware"
DEFAULT_BASE_URL = "https://api.runware.ai/v1"

#: Safety-filter wording in Runware's and its upstream providers' error codes and messages (UNCONFIRMED:
#: Runware documents no fixed list; bare "safety" is left out because `safety` is also a request field).
_MODERATION = re.compile(
    r"moderat|nsfw|unsafe|safety[ _-]?(filter|system|check|polic)|content[ _-]?(polic|filter)"
    r"|inappropriate|prohibited|sensitive[ _-]?content|policy[ _-]?violation|flagged",
    re.IGNORECASE,
)
#: Error codes that name a cause more precisely than the HTTP status does (a 200 or 400 can carry them).
_CODE_ERRORS: tuple[tuple[re.Pattern[str], type[ProviderError]], ...] = (
    (re.compile(r"api[ _-]?key|unauthori[sz]ed", re.IGNORECASE), UnauthorizedError),
    (re.compile(r"credit|balance", re.IGNORECASE), OutOfBalanceError),
)
_HTTP_ERRORS: dict[int, type[ProviderError]] = {
    400: InvalidRequestError,
    401: UnauthorizedError,
    402: OutOfBalanceError,
    403: UnauthorizedError,
    404: NotFoundError,
    422: InvalidRequestError,
    429: RateLimitedError,
}
#: Error codes of a failed task that name Runware's or its upstream's own trouble (UNCONFIRMED: Runware
#: documents no fixed list), so the next route may still make the video.
_PROVIDER_FAULT = re.compile(
    r"timeout|timed ?out|internal|server ?error|unavailable|overloaded", re.IGNORECASE
)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)

# ------------------------------------------------------------------------------------------ dimensions

Size = tuple[int, int]
#: (resolution, aspect ratio) → width × height. Most video models on Runware use these.
_STANDARD_SIZES: dict[tuple[str, str], Size] = {
    ("360p", "16:9"): (640, 360),
    ("360p", "9:16"): (360, 640),
    ("360p", "1:1"): (360, 360),
    ("480p", "16:9"): (854, 480),
    ("480p", "9:16"): (480, 854),
    ("480p", "1:1"): (480, 480),
    ("540p", "16:9"): (960, 540),
    ("540p", "9:16"): (540, 960),
    ("540p", "1:1"): (540, 540),
    ("720p", "16:9"): (1280, 720),
    ("720p", "9:16"): (720, 1280),
    ("720p", "1:1"): (720, 720),
    ("1080p", "16:9"): (1920, 1080),
    ("1080p", "9:16"): (1080, 1920),
    ("1080p", "1:1"): (1080, 1080),
}
#: Families (the AIR's creator part) whose sizes differ. Seedance renders multiples of 16 (UNCONFIRMED
#: beyond 864×480: taken from the Seedance size list, check the model's schema.json).
_FAMILY_SIZES: dict[str, dict[tuple[str, str], Size]] = {
    "bytedance": {
        ("480p", "16:9"): (864, 480),
        ("480p", "9:16"): (480, 864),
        ("480p", "1:1"): (640, 640),
        ("720p", "16:9"): (1248, 704),
        ("720p", "9:16"): (704, 1248),
        ("720p", "1:1"): (960, 960),
        ("1080p", "16:9"): (1920, 1088),
        ("1080p", "9:16"): (1088, 1920),
        ("1080p", "1:1"): (1440, 1440),
    },
}


def family(model_id: str) -> str:
    """`google:3@2` → `google`: selects sizes and the providerSettings block."""
    return model_id.split(":", 1)[0]


def dimensions(model_id: str, resolution: str, aspect_ratio: str) -> Size:
    sizes = _FAMILY_SIZES.get(family(model_id), {})
    size = sizes.get((resolution, aspect_ratio)) or _STANDARD_SIZES.get((resolution, aspect_ratio))
    if size is None:
        raise InvalidRequestError(
            f"{resolution} {aspect_ratio} is not available through Runware", provider=NAME, code="size"
        )
    return size


# ------------------------------------------------------------------------------------------ model limits


@dataclass(frozen=True, slots=True)
class Allowed:
    """One accepted combination: these durations, at these sizes (None: any), music allowed or not."""

    durations: frozenset[int]
    sizes: frozenset[Size] | None = None
    music: bool = True

    def accepts(self, duration: int, size: Size, music: bool) -> bool:
        return (
            duration in self.durations
            and (self.sizes is None or size in self.sizes)
            and (self.music or not music)
        )


_VIDU_720P = frozenset({(1280, 720), (720, 1280), (720, 720)})
#: Veo's landscape and portrait sizes at 720p and 1080p (reference §4; Veo makes no square video).
_VEO_SIZES = frozenset({(1280, 720), (720, 1280), (1920, 1080), (1080, 1920)})
#: Per-model rules Runware enforces; a request must match one entry. Models not listed are unchecked.
#: Veo 3: 8-second clips at Veo's sizes. Vidu Q1 and 1.5 as the seed document (004) gives them: Q1
#: 5 s at 1920×1080 only (the reference's example agrees), 1.5 4 s only.
MODEL_LIMITS: dict[str, tuple[Allowed, ...]] = {
    "google:3@0": (Allowed(frozenset({8}), _VEO_SIZES),),
    "vidu:1@1": (Allowed(frozenset({5}), frozenset({(1920, 1080)})),),
    "vidu:1@5": (Allowed(frozenset({4})),),
    "vidu:2@0": (Allowed(frozenset({4})), Allowed(frozenset({8}), _VIDU_720P, music=False)),
}


def check_model_limits(model_id: str, duration: int, size: Size, music: bool) -> None:
    allowed = MODEL_LIMITS.get(model_id)
    if allowed is not None and not any(a.accepts(duration, size, music) for a in allowed):
        extra = " with background music" if music else ""
        raise InvalidRequestError(
            f"{model_id} does not take {duration} s at {size[0]}×{size[1]}{extra}",
            provider=NAME,
            code="model_limits",
        )


# ------------------------------------------------------------------------------------------ requests


#: Vidu's providerSettings that a route (`params`) or a request (`extras`) may set, with their documented
#: values (Runware's Vidu page and Vidu's own API: motion strength, and the general or anime look).
VIDU_SETTINGS: dict[str, frozenset[str]] = {
    "movementAmplitude": frozenset({"auto", "small", "medium", "large"}),
    "style": frozenset({"general", "anime"}),
}
#: Request extras (snake_case, as the other adapters' extras) → the Vidu setting each one sets.
VIDU_EXTRAS = {"movement_amplitude": "movementAmplitude", "style": "style"}


def _vidu_settings(job: SubmitJob) -> dict[str, Any]:
    """bgm from the request's audio; movementAmplitude/style from route params, then request extras
    (the user's choice over the route's), each checked against Vidu's values before anything is sent."""
    settings: dict[str, Any] = {"bgm": bool(job.request.audio)}
    chosen = {name: job.route.params[name] for name in VIDU_SETTINGS if name in job.route.params}
    chosen |= {VIDU_EXTRAS[key]: value for key, value in job.request.extras.items() if key in VIDU_EXTRAS}
    for name, value in chosen.items():
        if value not in VIDU_SETTINGS[name]:
            allowed = ", ".join(sorted(VIDU_SETTINGS[name]))
            raise InvalidRequestError(
                f"Vidu {name} must be one of {allowed}, not {value!r}",
                provider=NAME,
                code="provider_settings",
            )
        settings[name] = value
    return settings


def provider_settings(job: SubmitJob) -> dict[str, Any] | None:
    """Google: sound on unless the model has none (Veo 2 resolves audio to False), and prompt enhancement
    only when the user turned it on; Vidu: music and its motion/style settings."""
    request = job.request
    match family(job.provider_model_id):
        case "google":
            google: dict[str, Any] = {}
            if request.audio is not False:
                google["generateAudio"] = True
            if request.enhance_prompt:
                google["enhancePrompt"] = True
            return {"google": google} if google else None
        case "vidu":
            return {"vidu": _vidu_settings(job)}
    return None


def data_uri(image: InputImage) -> str:
    return f"data:{image.mime_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def build_upload_task(image: InputImage, task_uuid: str) -> dict[str, Any]:
    return {"taskType": "imageUpload", "taskUUID": task_uuid, "image": data_uri(image)}


#: Task fields a route's `params` may not replace: they identify the task or carry the request itself.
_PROTECTED = frozenset({"taskType", "taskUUID", "model", "positivePrompt", "frameImages", "referenceImages"})


def _route_fields(job: SubmitJob) -> dict[str, Any]:
    """Route params that go into the task as they are (a Vidu route's settings go to providerSettings)."""
    kept = set(VIDU_SETTINGS) if family(job.provider_model_id) == "vidu" else set()
    return {k: v for k, v in job.route.params.items() if k not in _PROTECTED and k not in kept}


def checked_size(job: SubmitJob) -> Size:
    """The width × height to ask for, after the model's own duration/size/music rules."""
    request = job.request
    model_id = job.provider_model_id
    if request.duration is None or request.resolution is None or request.aspect_ratio is None:
        raise InvalidRequestError("duration, resolution and aspect ratio must be set", provider=NAME)
    size = dimensions(model_id, request.resolution, request.aspect_ratio)
    music = family(model_id) == "vidu" and bool(request.audio)
    check_model_limits(model_id, request.duration, size, music)
    return size


def build_video_task(
    job: SubmitJob,
    task_uuid: str,
    *,
    first: str | None = None,
    last: str | None = None,
    references: Iterable[str] = (),
) -> dict[str, Any]:
    """The `videoInference` task; `first`/`last`/`references` are the uploaded images' UUIDs."""
    request = job.request
    model_id = job.provider_model_id
    width, height = checked_size(job)
    task: dict[str, Any] = {
        "taskType": "videoInference",
        "taskUUID": task_uuid,
        "model": model_id,
        "positivePrompt": request.prompt,
        "duration": request.duration,
        "width": width,
        "height": height,
        "deliveryMethod": "async",
        "outputType": "URL",
        "outputFormat": "MP4",
        "numberResults": 1,
        "includeCost": True,
    }
    if request.negative_prompt:
        task["negativePrompt"] = request.negative_prompt
    if request.seed is not None:
        task["seed"] = request.seed
    if job.callback_url:
        task["webhookURL"] = job.callback_url
    frames = [{"inputImage": first, "frame": "first"}] if first else []
    frames += [{"inputImage": last, "frame": "last"}] if last else []
    if frames:
        task["frameImages"] = frames
    references = list(references)
    if references:
        task["referenceImages"] = references
    settings = provider_settings(job)
    if settings:
        task["providerSettings"] = settings
    task.update(_route_fields(job))
    return task


#: Mode → which images it sends: (first frame, last frame, reference images).
_MODE_IMAGES: dict[str, tuple[bool, bool, bool]] = {
    "t2v": (False, False, False),
    "i2v": (True, False, False),
    "fl2v": (True, True, False),
    "ref2v": (False, False, True),
}


def images_for(job: SubmitJob) -> tuple[InputImage | None, InputImage | None, tuple[InputImage, ...]]:
    """The images this mode sends (first, last, references); a missing one is refused before upload."""
    mode = job.request.mode
    if mode not in _MODE_IMAGES:
        raise InvalidRequestError(f"mode {mode} is not available through Runware", provider=NAME, code="mode")
    wants_first, wants_last, wants_refs = _MODE_IMAGES[mode]
    first = job.first_frame if wants_first else None
    last = job.last_frame if wants_last else None
    references = job.reference_images if wants_refs else ()
    if (wants_first and first is None) or (wants_last and last is None) or (wants_refs and not references):
        raise InvalidRequestError(f"mode {mode} needs its input images", provider=NAME, code="images")
    return first, last, references


# ------------------------------------------------------------------------------------------ responses


def _entries(payload: Any, key: str) -> list[dict[str, Any]]:
    items = payload.get(key) if isinstance(payload, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _for_task(items: list[dict[str, Any]], task_uuid: str) -> list[dict[str, Any]]:
    """Items about this task; one without a taskUUID answers the only task we sent."""
    return [item for item in items if item.get("taskUUID") in (task_uuid, None)]


def _cost(value: Any) -> float | None:
    """The task's `cost` in US dollars: a non-negative number (or numeric text); anything else is none."""
    try:
        cost = float(value)
    except (TypeError, ValueError):
        return None
    return cost if cost >= 0 and cost == cost and cost != float("inf") else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def is_moderation(code: str | None, message: str | None) -> bool:
    return bool(_MODERATION.search(f"{code or ''} {message or ''}"))


def _failure(entry: Mapping[str, Any]) -> TaskStatus:
    code = _text(entry.get("code")) or "error"
    message = (_text(entry.get("message")) or _text(entry.get("error")) or "the task failed")[:500]
    policy = is_moderation(code, message)
    return TaskStatus(
        TaskState.FAILED,
        error_code=code,
        error_message=message,
        content_policy=policy,
        provider_fault=not policy and bool(_PROVIDER_FAULT.search(code)),
    )


def parse_status(payload: Any, task_uuid: str) -> TaskStatus:
    """A `getResponse` answer (or a wrapped webhook) → status.

    Not finished: an empty answer, or an item whose status is processing (docs), pending, queued,
    scheduled or waiting (older docs, SDK) — or any status Runware may add later, which the hard
    timeout bounds.
    """
    items = _for_task(_entries(payload, "data"), task_uuid)
    for item in items:
        url = _text(item.get("videoURL")) or _text(item.get("mediaURL"))
        if url and item.get("status", "success") == "success":
            extra = {k: item[k] for k in ("cost", "seed", "videoUUID") if item.get(k) is not None}
            return TaskStatus(
                TaskState.SUCCEEDED,
                result=ResultRef(url, mime_type="video/mp4", extra=extra),
                cost_usd=_cost(item.get("cost")),  # USD, sent because every task asks `includeCost`
            )
    errors = _for_task(_entries(payload, "errors"), task_uuid)
    if errors:
        return _failure(errors[0])
    for item in items:
        if item.get("status") == "error":
            return _failure(item)
        if item.get("status") == "success":
            return TaskStatus(
                TaskState.FAILED, error_code="no_video", error_message="finished without a video"
            )
    return TaskStatus(TaskState.RUNNING)


def error_from(
    entries: list[dict[str, Any]], *, http_status: int, retry_after: float | None = None, secret: str = ""
) -> ProviderError:
    """Typed error for a refused call: the HTTP status first, refined by Runware's code on 200/400/422."""
    entry = entries[0] if entries else {}
    code = _text(entry.get("code")) or str(http_status)
    message = _text(entry.get("message")) or f"HTTP {http_status}"
    if secret:
        message = message.replace(secret, "***")
    message = message[:500]
    error_type = _HTTP_ERRORS.get(http_status) or (
        UnavailableError if http_status >= 500 else InvalidRequestError
    )
    if http_status in (200, 400, 422):
        if is_moderation(code, message):
            error_type = ContentPolicyError
        else:
            error_type = next((t for p, t in _CODE_ERRORS if p.search(code)), error_type)
    return error_type(message, provider=NAME, code=code, http_status=http_status, retry_after=retry_after)


def classify(response: HttpResponse, *, secret: str = "") -> ProviderError:
    payload = response.json()
    return error_from(
        _entries(payload, "errors"),
        http_status=response.status,
        retry_after=response.retry_after,
        secret=secret,
    )


def parse_upload(payload: Any, task_uuid: str, *, secret: str = "") -> str:
    """The stored image's UUID, or the typed error Runware reported for the upload."""
    errors = _for_task(_entries(payload, "errors"), task_uuid)
    if errors:
        raise error_from(errors, http_status=200, secret=secret)
    for item in _for_task(_entries(payload, "data"), task_uuid):
        image_uuid = _text(item.get("imageUUID"))
        if image_uuid:
            return image_uuid
    raise UnavailableError("image upload answered without an imageUUID", provider=NAME)


def parse_submit(payload: Any, task_uuid: str, *, secret: str = "") -> Submitted:
    """The acknowledgement of `videoInference`; an error listed for the task is raised, typed.

    An answer that neither acknowledges nor refuses the task is an uncertain submit: Runware may have
    started it, and only a `getResponse` for its taskUUID can tell.
    """
    errors = _for_task(_entries(payload, "errors"), task_uuid)
    if errors:
        raise error_from(errors, http_status=200, secret=secret)
    if not _for_task(_entries(payload, "data"), task_uuid):
        raise UncertainSubmitError(
            "the submit answer does not acknowledge the task", provider=NAME, code="bad_ack"
        )
    status = parse_status(payload, task_uuid)
    return Submitted(task_uuid, status) if status.state is TaskState.SUCCEEDED else Submitted(task_uuid)


def parse_callback_body(body: bytes) -> CallbackEvent:
    """A webhook: the flat task object, or an `errors` envelope; anything else is rejected."""
    try:
        payload = json.loads(body)
    except ValueError:
        raise CallbackRejected("runware callback is not JSON") from None
    if not isinstance(payload, dict):
        raise CallbackRejected("runware callback is not an object")
    if "data" in payload or "errors" in payload:
        items = _entries(payload, "data") + _entries(payload, "errors")
        task_uuid = items[0].get("taskUUID") if items else None
        wrapped = payload
    else:
        task_uuid = payload.get("taskUUID")
        wrapped = {"data": [payload]}
    if not isinstance(task_uuid, str) or not _UUID.match(task_uuid):
        raise CallbackRejected("runware callback has no valid taskUUID")
    return CallbackEvent(task_uuid, parse_status(wrapped, task_uuid))


class _TaskFailed(InvalidRequestError):
    """A poll answered 400 listing this task's error: that is the task's outcome, not a refused poll."""

    def __init__(self, payload: Any) -> None:
        super().__init__("the task failed", provider=NAME, http_status=400)
        self.payload = payload


def _expired_download(response: HttpResponse) -> ProviderError:
    """A signed result URL that answers 401/403/404/410 has expired: there is nothing left to fetch."""
    if response.status in (401, 403, 404, 410):
        return NotFoundError(
            f"result URL answered HTTP {response.status}", provider=NAME, http_status=response.status
        )
    return default_error(NAME, response)


# ------------------------------------------------------------------------------------------ adapter


class RunwareProvider(VideoProvider):
    """Submits through image uploads + `videoInference`, polls with `getResponse`; no cancel exists.

    The task's UUID is the job's client request id, so an uncertain submit is looked up by it.
    """

    name = NAME
    finds_submitted = True

    def __init__(
        self,
        config: ProviderConfig,
        *,
        http: ProviderHttp | None = None,
        uuid_factory: Callable[[], str] = lambda: str(uuid.uuid4()),
        **kw: Any,
    ) -> None:
        """`uuid_factory` makes task UUIDs predictable in tests; `kw` holds options meant for other
        adapters. Without a key the API answers 401, which fails over like any unauthorized route."""
        self._secret = config.api_key.get_secret_value() if config.api_key is not None else ""
        if http is None:
            http = ProviderHttp(
                NAME,
                config.base_url or DEFAULT_BASE_URL,
                auth_headers={"Authorization": f"Bearer {self._secret}"} if self._secret else None,
            )
        self._http = http
        self._new_uuid = uuid_factory
        # Runware takes tasks at the base URL itself, not below it.
        self._endpoint = http.base_url.rstrip("/")

    async def _post(
        self,
        tasks: list[dict[str, Any]],
        *,
        classify_with: Callable[[HttpResponse], ProviderError] | None = None,
        idempotent: bool,
    ) -> Any:
        """Every task goes to one URL; `idempotent` says whether sending it twice is harmless (uploads,
        reads) or starts a second paid video (a `videoInference`)."""
        response = await self._http.request(
            "POST",
            self._endpoint,
            json_body=tasks,
            classify=classify_with or (lambda r: classify(r, secret=self._secret)),
            idempotent=idempotent,
        )
        return response.json()

    async def _upload(self, image: InputImage) -> str:
        task_uuid = self._new_uuid()
        payload = await self._post([build_upload_task(image, task_uuid)], idempotent=True)
        return parse_upload(payload, task_uuid, secret=self._secret)

    async def submit(self, job: SubmitJob) -> Submitted:
        first, last, references = images_for(job)
        checked_size(job)  # before uploading, so a refused combination costs no upload
        provider_settings(job)  # likewise a setting outside Vidu's values
        task_uuid = job.request_id or self._new_uuid()
        first_uuid = await self._upload(first) if first else None
        last_uuid = await self._upload(last) if last else None
        reference_uuids = [await self._upload(image) for image in references]
        task = build_video_task(job, task_uuid, first=first_uuid, last=last_uuid, references=reference_uuids)
        payload = await self._post([task], idempotent=False)
        return parse_submit(payload, task_uuid, secret=self._secret)

    async def find_submitted(self, job: SubmitJob, *, since: datetime) -> Submitted | None:
        """`getResponse` for the job's taskUUID: the task in whatever state it is, None when Runware knows
        no such task (HTTP 404; UNCONFIRMED: an unknown UUID might also answer an empty `data`, which
        reads as running and ends at the hard timeout)."""
        try:
            return Submitted(job.request_id, await self.status(job.request_id))
        except NotFoundError:
            return None

    async def status(self, task_id: str) -> TaskStatus:
        def classify_poll(response: HttpResponse) -> ProviderError:
            payload = response.json()
            if response.status == 400 and _for_task(_entries(payload, "errors"), task_id):
                return _TaskFailed(payload)
            return classify(response, secret=self._secret)

        try:
            payload = await self._post(
                [{"taskType": "getResponse", "taskUUID": task_id}],
                classify_with=classify_poll,
                idempotent=True,
            )
        except _TaskFailed as outcome:
            payload = outcome.payload
        return parse_status(payload, task_id)

    async def download(self, status: TaskStatus, *, max_bytes: int) -> AsyncIterator[bytes]:
        if status.result is None:
            raise NotFoundError("the task has no result to download", provider=NAME)
        async for chunk in self._http.stream(
            status.result.url, max_bytes=max_bytes, classify=_expired_download
        ):
            yield chunk

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> CallbackEvent:
        """Runware signs nothing; the web layer authenticates the secret path token before this."""
        return parse_callback_body(body)

    async def close(self) -> None:
        await self._http.close()


#: Runware's SDK polls every 3 s; a `webhookURL` sent with each task reports the result at once.
DESCRIPTOR = ProviderDescriptor(
    name=NAME,
    base_url=DEFAULT_BASE_URL,
    adapters={NAME: RunwareProvider},
    callbacks=Callbacks.PER_TASK,
    min_poll_interval=3.0,
)
