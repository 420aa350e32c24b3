"""Kling's official API (reference/providers.md §9): text2video and image2video tasks.

Every call carries a JWT that this adapter mints itself: HS256 over `{"iss": access key, "exp", "nbf"}`
with the secret key (KLING_ACCESS_KEY + KLING_SECRET_KEY), cached until shortly before it expires.
Answers are `{"code", "message", "request_id", "data"}` with `code == 0` on success; refusals carry
Kling's service code beside the HTTP status, and the code is what `classify` reads first.

A task is polled under the family that created it, so the task id handed out carries the family:
`"text2video:<task_id>"` or `"image2video:<task_id>"`. Callbacks post the bare task (no envelope, no
family, no signature), so the family must travel in the one field Kling echoes: `external_task_id`,
which is the job's request id for text2video and `"i2v-" + request id` for image2video. The same
external id finds the task after a create whose answer was lost (`find_submitted`). There is no cancel.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from services.http import HttpResponse, ProviderHttp, default_error, download_error
from services.media import to_jpeg_or_png
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
from services.providers.descriptor import Callbacks, ProviderConfig, ProviderDescriptor, Setting

T = TypeVar("T")

NAME = "kling"
DEFAULT_BASE_URL = "https://api-singapore.klingai.com"
TEXT2VIDEO = "text2video"
IMAGE2VIDEO = "image2video"
FAMILIES = (TEXT2VIDEO, IMAGE2VIDEO)
#: Marks an image2video task in its external_task_id, so a callback (which names no family) can tell.
I2V_EXTERNAL_PREFIX = "i2v-"

#: The docs' token: valid 30 minutes, `nbf` 5 s in the past for clock slack.
TOKEN_LIFETIME = 1800
TOKEN_NBF_SLACK = 5
#: A cached token is replaced this long before its `exp`, so a retried call never carries a dying one.
TOKEN_REFRESH_MARGIN = 300

PROMPT_MAX = 2500
ASPECT_RATIOS = frozenset({"16:9", "9:16", "1:1"})
#: std renders 720p, pro 1080p: a request's resolution picks the mode when the route does not.
RESOLUTION_MODES = {"720p": "std", "1080p": "pro"}
MODES = frozenset(RESOLUTION_MODES.values())
DURATIONS = frozenset({5, 10})
#: What Kling makes when no duration is sent.
DEFAULT_DURATION = 5
#: Models that take any whole number of seconds in this range instead of 5 or 10.
WIDE_DURATIONS = {"kling-v3": range(3, 16)}
#: Where a last frame (`image_tail`) is allowed, per the capability map: model → modes.
TAIL_MODES: dict[str, frozenset[str]] = {
    "kling-v1": frozenset({"std", "pro"}),
    "kling-v1-5": frozenset({"pro"}),
    "kling-v1-6": frozenset({"pro"}),
    "kling-v2-1": frozenset({"pro"}),
    "kling-v2-5-turbo": frozenset({"pro"}),
    "kling-v2-6": frozenset({"pro"}),
    "kling-v3": frozenset({"std", "pro"}),
}
#: kling-v1 makes first+last-frame videos of 5 seconds only.
TAIL_DURATIONS = {"kling-v1": frozenset({5})}
#: Where `sound: on` is allowed: model → modes (kling-v2-6 not together with a last frame).
SOUND_MODES: dict[str, frozenset[str]] = {
    "kling-v2-6": frozenset({"pro"}),
    "kling-v3": frozenset({"std", "pro"}),
}
#: The docs say kling-v2.x models do not support cfg_scale (UNCONFIRMED whether it is refused or
#: ignored): it is left out for them.
NO_CFG_SCALE = re.compile(r"^kling-v2")

IMAGE_MIME_TYPES = frozenset({"image/jpeg", "image/png"})
IMAGE_MAX_BYTES = 10 * 1024 * 1024
IMAGE_MIN_SIDE = 300
IMAGE_MAX_RATIO = 2.5

#: Kling's service codes (HTTP 400/401/403/404/429/5xx carry them) → error kind.
CODE_ERRORS: dict[int, type[ProviderError]] = {
    1000: UnauthorizedError,  # authentication failed
    1001: UnauthorizedError,  # Authorization empty
    1002: UnauthorizedError,  # Authorization invalid
    1003: UnauthorizedError,  # token not yet valid (nbf)
    1004: UnauthorizedError,  # token expired (exp)
    1100: UnauthorizedError,  # account exception
    1101: OutOfBalanceError,  # in arrears (postpaid)
    1102: OutOfBalanceError,  # resource pack used up or expired (prepaid)
    1103: UnauthorizedError,  # no access to this API or model
    1200: InvalidRequestError,  # invalid request parameters
    1201: InvalidRequestError,  # invalid key or value
    1202: InvalidRequestError,  # wrong method
    1203: NotFoundError,  # the resource (model, task) does not exist
    1300: InvalidRequestError,  # a platform policy (not said to be about the content)
    1301: ContentPolicyError,  # the content security policy
    1302: RateLimitedError,  # too fast
    1303: RateLimitedError,  # concurrency over the resource pack
    1304: UnauthorizedError,  # IP whitelist
    5000: UnavailableError,  # internal error
    5001: UnavailableError,  # maintenance
    5002: UnavailableError,  # timeout (backlog)
}
#: Codes that say our token is stale for Kling's clock: the cached token is dropped.
TOKEN_REFUSED_CODES = frozenset({1003, 1004})
#: Kling asks for a back-off of at least a second after 1302/1303 and sends no Retry-After.
RATE_LIMIT_BACKOFF = 1.0
#: A create answered with these may have made the task (an internal error or timeout after the insert).
UNCERTAIN_CODES = frozenset({5000, 5002})

#: Content-risk wording in `task_status_msg` (UNCONFIRMED: Kling documents no fixed list).
_POLICY = re.compile(
    r"risk|content secur|secur\w* polic|sensitive|polic|violat|inappropriate|prohibit|moderat|nsfw|unsafe"
    r"|审核|敏感|违规|风控",
    re.IGNORECASE,
)
#: Kling's own trouble in `task_status_msg` (UNCONFIRMED): the next route may still make the video.
_FAULT = re.compile(
    r"internal|server error|system error|timeout|timed out|busy|overload|unavailable|内部|超时|繁忙",
    re.IGNORECASE,
)


def is_policy_message(message: str | None) -> bool:
    return bool(message and _POLICY.search(message))


def is_fault_message(message: str | None) -> bool:
    return bool(message and _FAULT.search(message))


# ------------------------------------------------------------------------------------------------ JWT


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_json(value: Mapping[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())


def make_token(access_key: str, secret_key: str, *, now: float) -> str:
    """The API token: a JWT (RFC 7519) signed HS256 with the secret key, issued by the access key."""
    header = {"alg": "HS256", "typ": "JWT"}
    issued = int(now)
    payload = {"iss": access_key, "exp": issued + TOKEN_LIFETIME, "nbf": issued - TOKEN_NBF_SLACK}
    signing_input = f"{_b64url_json(header)}.{_b64url_json(payload)}"
    signature = hmac.new(secret_key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


class TokenCache:
    """One token reused until TOKEN_REFRESH_MARGIN before its `exp` (by our clock), then a new one."""

    def __init__(self, access_key: str, secret_key: str, *, clock: Callable[[], float] = time.time) -> None:
        self._access_key = access_key
        self._secret_key = secret_key
        self._clock = clock
        self._token: str | None = None
        self._renew_at = 0.0

    @property
    def secrets(self) -> tuple[str, ...]:
        """Everything that must never reach a message: both keys and the current token."""
        return tuple(s for s in (self._access_key, self._secret_key, self._token) if s)

    def token(self) -> str:
        now = self._clock()
        if self._token is None or now >= self._renew_at:
            self._token = make_token(self._access_key, self._secret_key, now=now)
            self._renew_at = int(now) + TOKEN_LIFETIME - TOKEN_REFRESH_MARGIN
        return self._token

    def forget(self) -> None:
        """Kling found the token not yet valid or expired (our clock moved): mint a new one next time."""
        self._token = None


# ------------------------------------------------------------------------------------------- errors


def _as_int(value: Any) -> int | None:
    """Codes come as numbers; numeric strings are accepted too."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _message(payload: Mapping[str, Any]) -> str:
    message = payload.get("message")
    return message.strip()[:500] if isinstance(message, str) else ""


def _by_http_status(status: int | None) -> type[ProviderError]:
    """The kind an unknown service code gets: the one its HTTP status says."""
    if status in (401, 403):
        return UnauthorizedError
    if status == 402:
        return OutOfBalanceError
    if status == 404:
        return NotFoundError
    if status == 429:
        return RateLimitedError
    if status is not None and status >= 500:
        return UnavailableError
    return InvalidRequestError


def code_error(
    code: int, message: str, *, http_status: int | None = None, retry_after: float | None = None
) -> ProviderError:
    """The typed error for a non-zero service code; an unknown code falls back to the HTTP status."""
    error_type = CODE_ERRORS.get(code) or _by_http_status(http_status)
    if error_type is RateLimitedError and retry_after is None:
        retry_after = RATE_LIMIT_BACKOFF
    return error_type(
        message or f"code {code}",
        provider=NAME,
        code=str(code),
        http_status=http_status,
        retry_after=retry_after,
    )


def classify(response: HttpResponse) -> ProviderError:
    """An HTTP error: Kling's service code when the body has one, the HTTP status otherwise."""
    payload = response.json()
    if isinstance(payload, Mapping):
        code = _as_int(payload.get("code"))
        if code is not None and code != 0:
            return code_error(
                code, _message(payload), http_status=response.status, retry_after=response.retry_after
            )
    return default_error(NAME, response)


def classify_download(response: HttpResponse) -> ProviderError:
    """Results are deleted after 30 days: the file host then answers 403/404/410."""
    return download_error(NAME, response)


def redact(error: ProviderError, secrets: tuple[str, ...]) -> ProviderError:
    """Keys or the token echoed back by Kling never leave in a message."""
    message = error.message
    for secret in secrets:
        message = message.replace(secret, "***")
    if message != error.message:
        error.message = message
        error.args = (f"{error.provider}: {message}",)
    return error


# ------------------------------------------------------------------------------------ request building


def _invalid(message: str, code: str = "invalid_request") -> InvalidRequestError:
    return InvalidRequestError(message, provider=NAME, code=code)


def family_for(mode: str) -> str:
    if mode == "t2v":
        return TEXT2VIDEO
    if mode in ("i2v", "fl2v"):
        return IMAGE2VIDEO
    raise _invalid(f"Kling text2video/image2video has no {mode} mode", "mode")


def external_task_id(request_id: str, family: str) -> str:
    return I2V_EXTERNAL_PREFIX + request_id if family == IMAGE2VIDEO else request_id


def task_id_for(family: str, kling_task_id: str) -> str:
    return f"{family}:{kling_task_id}"


def split_task_id(task_id: str) -> tuple[str, str]:
    """(family, Kling's task id) from an id made by `task_id_for`."""
    family, _, kling_id = task_id.partition(":")
    if family not in FAMILIES or not kling_id:
        raise NotFoundError(f"not a Kling task id: {task_id[:80]!r}", provider=NAME, code="task_id")
    return family, kling_id


def kling_mode(job: SubmitJob) -> str | None:
    """`std`/`pro` from the route's `params.mode` or the request's resolution; both must agree."""
    routed = job.route.params.get("mode")
    if routed is not None and routed not in MODES:
        raise _invalid(f"route mode must be std or pro, not {routed!r}", "mode")
    resolution = job.request.resolution
    wanted = RESOLUTION_MODES.get(resolution) if resolution is not None else None
    if resolution is not None and wanted is None:
        raise _invalid(f"Kling renders 720p (std) or 1080p (pro), not {resolution}", "resolution")
    if routed is not None and wanted is not None and routed != wanted:
        raise _invalid(f"this route renders {routed}, which is not {resolution}", "resolution")
    return routed or wanted


def _check_duration(model: str, duration: int | None) -> None:
    if duration is None:
        return
    allowed = WIDE_DURATIONS.get(model, DURATIONS)
    if duration not in allowed:
        raise _invalid(f"{model} does not make {duration}-second videos", "duration")


def _cfg_scale(job: SubmitJob, model: str) -> float | None:
    value = job.route.params.get("cfg_scale")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise _invalid(f"cfg_scale must be a number from 0 to 1, not {value!r}", "cfg_scale")
    return None if NO_CFG_SCALE.match(model) else float(value)


def encode_image(image: InputImage, role: str) -> str:
    """Raw Base64 without a `data:` prefix (as Kling asks), after Kling's own limits; WEBP becomes JPEG
    or PNG. "too large" in the message makes the registry retry once with a smaller JPEG."""
    if image.mime_type not in (*IMAGE_MIME_TYPES, "image/webp"):
        raise _invalid(f"Kling takes JPEG or PNG images, not {image.mime_type}", "image")
    image = to_jpeg_or_png(image)
    if len(image.data) > IMAGE_MAX_BYTES:
        raise _invalid(f"the {role} is too large for Kling (over 10 MB)", "image")
    if min(image.width, image.height) < IMAGE_MIN_SIDE:
        raise _invalid(f"the {role} must be at least {IMAGE_MIN_SIDE} px on each side", "image")
    if max(image.width, image.height) > IMAGE_MAX_RATIO * min(image.width, image.height):
        raise _invalid(f"the {role}'s aspect ratio must lie between 1:2.5 and 2.5:1", "image")
    return base64.b64encode(image.data).decode("ascii")


def build_create_body(job: SubmitJob) -> tuple[str, dict[str, Any]]:
    """(family, create body) for a job, refusing what Kling's capability map refuses before any call."""
    request = job.request
    family = family_for(request.mode)
    model = job.provider_model_id
    mode = kling_mode(job)
    effective_mode = mode or "std"
    prompt = request.prompt.strip()
    if family == TEXT2VIDEO and not prompt:
        raise _invalid("text-to-video needs a prompt", "prompt")
    if len(prompt) > PROMPT_MAX:
        raise _invalid(f"the prompt is longer than {PROMPT_MAX} characters", "prompt")
    negative = (request.negative_prompt or "").strip()
    if len(negative) > PROMPT_MAX:
        raise _invalid(f"the negative prompt is longer than {PROMPT_MAX} characters", "negative_prompt")
    _check_duration(model, request.duration)
    body: dict[str, Any] = {"model_name": model}
    if prompt:
        body["prompt"] = prompt
    if negative:
        body["negative_prompt"] = negative
    if mode is not None:
        body["mode"] = mode
    if request.duration is not None:
        body["duration"] = str(request.duration)  # Kling wants a string
    cfg_scale = _cfg_scale(job, model)
    if cfg_scale is not None:
        body["cfg_scale"] = cfg_scale
    tail = False
    if family == TEXT2VIDEO:
        if request.aspect_ratio is not None:
            if request.aspect_ratio not in ASPECT_RATIOS:
                raise _invalid(f"aspect ratio {request.aspect_ratio} is not offered", "aspect_ratio")
            body["aspect_ratio"] = request.aspect_ratio
    else:  # the output follows the image's shape: aspect_ratio is not a field here
        if job.first_frame is None:
            raise _invalid(f"{request.mode} needs a first frame", "image")
        body["image"] = encode_image(job.first_frame, "first frame")
        if request.mode == "fl2v":
            if job.last_frame is None:
                raise _invalid("fl2v needs a last frame", "image_tail")
            if effective_mode not in TAIL_MODES.get(model, frozenset()):
                raise _invalid(f"{model} {effective_mode} takes no last frame", "image_tail")
            tail_durations = TAIL_DURATIONS.get(model)
            if tail_durations is not None and (request.duration or DEFAULT_DURATION) not in tail_durations:
                raise _invalid(f"{model} makes first+last-frame videos of 5 seconds only", "duration")
            body["image_tail"] = encode_image(job.last_frame, "last frame")
            tail = True
    if request.audio:
        if effective_mode not in SOUND_MODES.get(model, frozenset()) or (tail and model == "kling-v2-6"):
            raise _invalid(f"{model} {effective_mode} makes no sound here", "sound")
        body["sound"] = "on"
    if job.callback_url:
        body["callback_url"] = job.callback_url
    if job.request_id:
        body["external_task_id"] = external_task_id(job.request_id, family)
    return family, body


# ------------------------------------------------------------------------------------ response parsing


def check_envelope(payload: Any, *, http_status: int = 200, retry_after: float | None = None) -> Any:
    """`data` of a `code == 0` answer; otherwise the typed error for its code."""
    if not isinstance(payload, Mapping):
        raise UnavailableError("the answer is not a JSON object", provider=NAME, code="bad_payload")
    code = _as_int(payload.get("code"))
    if code is None:
        raise UnavailableError("the answer has no code", provider=NAME, code="bad_payload")
    if code != 0:
        raise code_error(code, _message(payload), http_status=http_status, retry_after=retry_after)
    return payload.get("data")


def _task_id(data: Any) -> str | None:
    """`data.task_id`: documented as a string; a number is taken as its digits."""
    value = data.get("task_id") if isinstance(data, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value).strip() or None


def parse_created(payload: Any, family: str, *, retry_after: float | None = None) -> Submitted:
    """The task of a create answer. Its codes are refusals, except an internal error or timeout (which
    may follow the task's creation); that, or an answer without a code or task_id, is uncertain."""
    code = _as_int(payload.get("code")) if isinstance(payload, Mapping) else None
    if code is None or code in UNCERTAIN_CODES:
        raise UncertainSubmitError(
            f"unreadable create answer (code {code})", provider=NAME, code=str(code or "bad_payload")
        )
    data = check_envelope(payload, retry_after=retry_after)
    task_id = _task_id(data)
    if task_id is None:
        raise UncertainSubmitError(
            "Kling accepted the task without a task_id", provider=NAME, code="bad_payload"
        )
    return Submitted(task_id_for(family, task_id), parse_task(data))


def _duration(value: Any) -> float | None:
    try:
        return float(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else None
    except ValueError:
        return None


def _first_video(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    result = data.get("task_result")
    videos = result.get("videos") if isinstance(result, Mapping) else None
    for video in videos if isinstance(videos, list) else []:
        url = video.get("url") if isinstance(video, Mapping) else None
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            return video
    return None


def parse_task(data: Mapping[str, Any]) -> TaskStatus:
    """A task object (poll `data`, create `data` or a callback body) → status.

    submitted → queued, processing → running, succeed → succeeded (the first video's URL; none is a
    failure), failed → failed with `task_status_msg`. Any other status reads as running, which the
    hard timeout bounds.
    """
    status = data.get("task_status")
    if status in ("succeed", "succeeded"):  # "succeed" is documented; the grammatical form is accepted
        video = _first_video(data)
        if video is None:
            return TaskStatus(
                TaskState.FAILED,
                error_code="no_video",
                error_message="Kling reported success without a video",
            )
        extra = {
            key: value
            for key, value in (
                ("video_id", video.get("id")),
                ("watermark_url", video.get("watermark_url")),
                ("final_unit_deduction", data.get("final_unit_deduction")),
            )
            if value not in (None, "")
        }
        result = ResultRef(
            video["url"], mime_type="video/mp4", duration=_duration(video.get("duration")), extra=extra
        )
        return TaskStatus(TaskState.SUCCEEDED, progress=100, result=result)
    if status == "failed":
        message = data.get("task_status_msg")
        message = message.strip()[:500] if isinstance(message, str) and message.strip() else ""
        policy = is_policy_message(message)
        return TaskStatus(
            TaskState.FAILED,
            error_code="content_risk" if policy else "failed",
            error_message=message or "the generation failed",
            content_policy=policy,
            provider_fault=not policy and is_fault_message(message),
        )
    if status == "submitted":
        return TaskStatus(TaskState.QUEUED)
    return TaskStatus(TaskState.RUNNING)


def parse_poll(payload: Any, *, retry_after: float | None = None) -> TaskStatus:
    data = check_envelope(payload, retry_after=retry_after)
    if not isinstance(data, Mapping):
        raise UnavailableError("the task query answered without data", provider=NAME, code="bad_payload")
    return parse_task(data)


def parse_found(payload: Any, family: str) -> Submitted | None:
    """A query by external_task_id: the task it names, or None when Kling has no such task."""
    data = check_envelope(payload)
    task_id = _task_id(data)
    return None if task_id is None else Submitted(task_id_for(family, task_id), parse_task(data))


def parse_callback_body(body: bytes) -> CallbackEvent:
    """A callback: the task object at top level (the documented protocol), or wrapped in the query's
    `{"code", "data"}` envelope; the family comes from the external_task_id this adapter chose."""
    try:
        payload = json.loads(body)
    except ValueError:
        raise CallbackRejected("Kling callback is not JSON") from None
    if isinstance(payload, Mapping) and "task_id" not in payload and isinstance(payload.get("data"), Mapping):
        payload = payload["data"]
    if not isinstance(payload, Mapping):
        raise CallbackRejected("Kling callback is not an object")
    task_id = _task_id(payload)
    if task_id is None:
        raise CallbackRejected("Kling callback without a task_id")
    if not isinstance(payload.get("task_status"), str):
        raise CallbackRejected("Kling callback without a task_status")
    info = payload.get("task_info")
    if info is not None and not isinstance(info, Mapping):
        raise CallbackRejected("Kling callback task_info is not an object")
    external = info.get("external_task_id") if info else None
    if external is not None and not isinstance(external, str):
        raise CallbackRejected("Kling callback external_task_id is not a string")
    family = IMAGE2VIDEO if external and external.startswith(I2V_EXTERNAL_PREFIX) else TEXT2VIDEO
    return CallbackEvent(task_id_for(family, task_id), parse_task(payload))


# --------------------------------------------------------------------------------------------- adapter


def _path(family: str, task: str = "") -> str:
    return f"/v1/videos/{family}/{task}" if task else f"/v1/videos/{family}"


class KlingProvider(VideoProvider):
    """Kling text2video/image2video with a self-minted JWT; polls, takes per-task callbacks, finds an
    uncertain create by its external_task_id; Kling has no cancel."""

    name: ClassVar[str] = NAME
    can_cancel: ClassVar[bool] = False
    finds_submitted = True

    def __init__(
        self,
        config: ProviderConfig,
        *,
        secret_key: str | None = None,
        http: ProviderHttp | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`secret_key` is KLING_SECRET_KEY (the access key is the provider key); `clock` mints tokens."""
        if config.api_key is None or not secret_key:
            raise ValueError("KLING_ACCESS_KEY and KLING_SECRET_KEY must both be set")
        self._tokens = TokenCache(config.api_key.get_secret_value(), secret_key, clock=clock)
        # The token changes every 25 minutes, so it goes with each call, not as a fixed auth header.
        self._http = http or ProviderHttp(NAME, config.base_url or DEFAULT_BASE_URL)

    def _checked(self, error: ProviderError) -> ProviderError:
        """Keys and the token out of the message; a token Kling calls not yet valid or expired is
        dropped, so the next call mints one by the (perhaps corrected) clock."""
        secrets = self._tokens.secrets
        if _as_int(error.code) in TOKEN_REFUSED_CODES:
            self._tokens.forget()
        return redact(error, secrets)

    async def _call(self, method: str, path: str, json_body: Any = None) -> HttpResponse:
        return await self._http.request(
            method,
            path,
            json_body=json_body,
            headers={"Authorization": f"Bearer {self._tokens.token()}"},
            classify=lambda response: self._checked(classify(response)),
        )

    def _parsed(self, parse: Callable[[], T]) -> T:
        """Run a parser of a 200 answer: its service code may be a refusal too."""
        try:
            return parse()
        except ProviderError as error:
            raise self._checked(error) from None

    async def submit(self, job: SubmitJob) -> Submitted:
        family, body = build_create_body(job)
        response = await self._call("POST", _path(family), body)
        return self._parsed(lambda: parse_created(response.json(), family, retry_after=response.retry_after))

    async def status(self, task_id: str) -> TaskStatus:
        family, kling_id = split_task_id(task_id)
        response = await self._call("GET", _path(family, kling_id))
        return self._parsed(lambda: parse_poll(response.json(), retry_after=response.retry_after))

    async def find_submitted(self, job: SubmitJob, *, since: datetime) -> Submitted | None:
        """The task queried by the external_task_id the create carried; None when Kling knows none (1203
        / HTTP 404; UNCONFIRMED: an unknown external id might be refused otherwise, which is reported
        as a failed look-up, so the poller asks again until its grace period ends)."""
        if not job.request_id:
            raise UncertainSubmitError("the create carried no external_task_id", provider=NAME)
        family = family_for(job.request.mode)
        try:
            response = await self._call("GET", _path(family, external_task_id(job.request_id, family)))
            return self._parsed(lambda: parse_found(response.json(), family))
        except NotFoundError:
            return None

    async def download(self, status: TaskStatus, *, max_bytes: int) -> AsyncIterator[bytes]:
        if status.result is None:
            raise NotFoundError("the task has no result to download", provider=NAME)
        async for chunk in self._http.stream(
            status.result.url, max_bytes=max_bytes, classify=classify_download
        ):
            yield chunk

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> CallbackEvent:
        """Kling signs nothing; the web layer checks the secret token in the callback URL first."""
        return parse_callback_body(body)

    async def close(self) -> None:
        await self._http.close()


#: Kling's queries are free with no QPS limit; tasks take minutes, so every 5 s is plenty. Status
#: changes are also posted to the per-task callback_url.
DESCRIPTOR = ProviderDescriptor(
    name=NAME,
    base_url=DEFAULT_BASE_URL,
    adapters={NAME: KlingProvider},
    key="access_key",
    settings=(Setting("secret_key", partner="access_key"),),
    callbacks=Callbacks.PER_TASK,
    min_poll_interval=5.0,
)
