"""OpenRouter's video generation API (reference/providers.md §10).

`POST /videos` answers 202 with a job id and a `polling_url` (absolute in the guide, relative to the
host in the OpenAPI examples), the job is polled there (or at `/videos/{id}`), and the finished video is
streamed from the API's own content endpoint with the key. There is no cancel endpoint. `usage.cost`
on the finished job is what it cost, in US dollars.

Whether OpenRouter refuses or silently clamps a value outside a model's lists is UNCONFIRMED, so every
value is checked against the model's capabilities from `GET /videos/models` (read once, again after an
hour) before anything paid is sent; a null list publishes no constraint. `size` is never sent, only
`resolution` + `aspect_ratio` (how the two forms combine is UNCONFIRMED). There is no negative prompt
field: a request's negative prompt is not sent, as on the other gateways.

Images: `frame_images` and `input_references` take URLs; the cookbook asks for public, directly
downloadable ones, and data URLs are UNCONFIRMED for video. An adapter here gets the image bytes only
(`SubmitJob` carries no public URL), so i2v, fl2v and ref2v are refused before anything is sent, and
the catalog routes take t2v only.

Callbacks: `callback_url` must be HTTPS, and deliveries are signed with the workspace signing secret
(`X-OpenRouter-Signature`, OPENROUTER_WEBHOOK_SECRET). Without that secret nothing could tell a genuine
delivery from a forged one, so no callback URL is sent and every callback is refused: polling alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote, urljoin, urlsplit

from services.http import HttpResponse, ProviderHttp
from services.providers.base import (
    CallbackEvent,
    CallbackRejected,
    ContentPolicyError,
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

NAME = "openrouter"
DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
MODELS_PATH = "videos/models"
#: The model list is read again after this many seconds: capabilities change rarely.
MODELS_TTL = 3600.0
#: Signed deliveries older (or newer) than this are refused, so a captured one cannot be replayed.
WEBHOOK_TOLERANCE = 300
#: Polling URLs kept for tasks in flight; past this the oldest fall back to `/videos/{id}`.
MAX_POLLING_URLS = 10_000

#: Catalog resolution → the API's enum (`480p`, `720p`, `768p`, `1080p`, `1K`, `2K`, `4K`).
RESOLUTIONS = {"480p": "480p", "720p": "720p", "1080p": "1080p", "4k": "4K"}
ASPECT_RATIOS = frozenset({"16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9", "9:21"})

_STATES = {
    "pending": TaskState.QUEUED,
    "in_progress": TaskState.RUNNING,
    "completed": TaskState.SUCCEEDED,
    "failed": TaskState.FAILED,
    "cancelled": TaskState.FAILED,
    "expired": TaskState.FAILED,
}
_EXPIRED_MESSAGE = "Job exceeded maximum time to live"
#: A failed job's `error` is a plain string ("Content policy violation"); upstream providers word theirs
#: in many ways, so refusals of the user's content are recognised by these words.
_POLICY = re.compile(
    r"content[ _-]?(?:polic|filter|moderation)|moderat|safety|nsfw|prohibited|flagged|inappropriate"
    r"|policy[ _-]?violation|sensitive",
    re.IGNORECASE,
)
#: A failure on OpenRouter's or its upstream's side (UNCONFIRMED wording): the next route may make it.
_PROVIDER_FAULT = re.compile(
    r"provider[ _-]?error|upstream|internal|server[ _-]?error|time[ds]?[ _-]?out|unavailable|overloaded",
    re.IGNORECASE,
)
_KEY_LIKE = re.compile(r"\bsk-or-[A-Za-z0-9*._-]+")


def _invalid(message: str, code: str) -> InvalidRequestError:
    return InvalidRequestError(message, provider=NAME, code=code)


def redact(message: str, secrets: tuple[str, ...] = ()) -> str:
    """No key in a message: the configured one, nor anything shaped like an OpenRouter key."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return _KEY_LIKE.sub("sk-or-***", message)


def looks_like_policy(*texts: str | None) -> bool:
    return any(text and _POLICY.search(text) for text in texts)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name (aiohttp's headers are; a plain dict in a test is not)."""
    lowered = name.lower()
    return next((value for key, value in headers.items() if key.lower() == lowered), None)


# ------------------------------------------------------------------------------------------ capabilities


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What one model accepts, from `GET /videos/models`; None: no constraint published."""

    model_id: str
    durations: frozenset[int] | None = None
    #: Lower-cased, since the API spells `4K` and the catalog `4k`.
    resolutions: frozenset[str] | None = None
    aspect_ratios: frozenset[str] | None = None
    generate_audio: bool | None = None
    seed: bool | None = None


def _ints(value: Any) -> frozenset[int] | None:
    """Durations as a set; a missing, null or non-list field constrains nothing."""
    if not isinstance(value, list):
        return None
    found = set()
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool):
            found.add(item)
        elif isinstance(item, str) and item.strip().isdigit():
            found.add(int(item))
    return frozenset(found)


def _strings(value: Any) -> frozenset[str] | None:
    if not isinstance(value, list):
        return None
    return frozenset(item.strip().lower() for item in value if isinstance(item, str))


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def parse_models(payload: Any) -> dict[str, Capabilities]:
    """`{"data": [VideoModel…]}` → capabilities by model id and by canonical slug."""
    items = payload.get("data") if isinstance(payload, Mapping) else None
    if not isinstance(items, list):
        raise UnavailableError("the model list has no data array", provider=NAME, code="bad_payload")
    models: dict[str, Capabilities] = {}
    for item in items:
        model_id = item.get("id") if isinstance(item, Mapping) else None
        if not isinstance(model_id, str) or not model_id:
            continue
        capabilities = Capabilities(
            model_id=model_id,
            durations=_ints(item.get("supported_durations")),
            resolutions=_strings(item.get("supported_resolutions")),
            aspect_ratios=_strings(item.get("supported_aspect_ratios")),
            generate_audio=_flag(item.get("generate_audio")),
            seed=_flag(item.get("seed")),
        )
        slug = item.get("canonical_slug")
        if isinstance(slug, str) and slug:
            models.setdefault(slug, capabilities)
        models[model_id] = capabilities
    return models


# ------------------------------------------------------------------------------------------ requests


def check_mode(job: SubmitJob) -> None:
    """Refuse, before any call, what this adapter cannot send: every mode but text to video."""
    mode = job.request.mode
    if mode in ("i2v", "fl2v", "ref2v"):
        raise _invalid(
            f"{mode} needs public image URLs for OpenRouter, and only image data is at hand "
            "(data URLs are unconfirmed for video)",
            "images",
        )
    if mode != "t2v":
        raise _invalid(f"OpenRouter has no {mode} mode", "mode")


def https_callback(url: str | None) -> str | None:
    """OpenRouter takes only an HTTPS callback_url."""
    return url if url and urlsplit(url).scheme == "https" else None


def build_submit_body(
    job: SubmitJob, capabilities: Capabilities, *, callback_url: str | None = None
) -> dict[str, Any]:
    """The `POST /videos` body; every value is checked against the model's lists first."""
    request = job.request
    model = capabilities.model_id
    body: dict[str, Any] = {"model": job.provider_model_id, "prompt": request.prompt}
    if request.duration is not None:
        if capabilities.durations is not None and request.duration not in capabilities.durations:
            raise _invalid(f"{model} does not make {request.duration}-second videos", "duration")
        body["duration"] = request.duration
    if request.resolution is not None:
        resolution = RESOLUTIONS.get(request.resolution)
        if resolution is None:
            raise _invalid(f"OpenRouter has no {request.resolution} resolution", "resolution")
        if capabilities.resolutions is not None and resolution.lower() not in capabilities.resolutions:
            raise _invalid(f"{model} does not render {request.resolution}", "resolution")
        body["resolution"] = resolution
    if request.aspect_ratio is not None:
        ratio = request.aspect_ratio
        if ratio not in ASPECT_RATIOS or (
            capabilities.aspect_ratios is not None and ratio not in capabilities.aspect_ratios
        ):
            raise _invalid(f"{model} does not take aspect ratio {ratio}", "aspect_ratio")
        body["aspect_ratio"] = ratio
    if request.audio is not None:
        if request.audio and capabilities.generate_audio is False:
            raise _invalid(f"{model} makes no sound", "generate_audio")
        if capabilities.generate_audio is not False:  # a silent model's default is already no sound
            body["generate_audio"] = request.audio
    if request.seed is not None:
        if capabilities.seed is False:
            raise _invalid(f"{model} takes no seed", "seed")
        body["seed"] = request.seed
    callback = https_callback(callback_url)
    if callback:
        body["callback_url"] = callback
    return body


# ------------------------------------------------------------------------------------------ responses


def on_api(url: Any, api_base: str) -> str | None:
    """`url` (absolute, or relative to the API host) as an absolute URL, if it is on the API's own scheme
    and host; None otherwise, so the key never travels anywhere else."""
    if not isinstance(url, str) or not url.strip():
        return None
    resolved = urljoin(api_base, url.strip())
    target, api = urlsplit(resolved), urlsplit(api_base)
    return resolved if (target.scheme, target.netloc) == (api.scheme, api.netloc) else None


def video_path(job_id: str, suffix: str = "") -> str:
    return f"videos/{quote(job_id, safe='')}{suffix}"


def content_url(job_id: str, api_base: str) -> str:
    return urljoin(api_base, video_path(job_id, "/content?index=0"))


def _cost(usage: Any) -> float | None:
    value = usage.get("cost") if isinstance(usage, Mapping) else None
    if isinstance(value, bool):
        return None
    try:
        cost = float(value) if isinstance(value, int | float | str) else None
    except ValueError:
        return None
    return cost if cost is not None and 0 <= cost < float("inf") else None


def _error_text(error: Any) -> tuple[str | None, str | None]:
    """(code, message) of a failed job: a plain string as documented, or an object just in case."""
    if isinstance(error, str):
        return None, error.strip() or None
    if isinstance(error, Mapping):
        code, message = error.get("code"), error.get("message")
        return (str(code) if code not in (None, "") else None), (str(message) if message else None)
    return None, None


def parse_job(payload: Mapping[str, Any], *, job_id: str, api_base: str) -> TaskStatus:
    """A job object (a poll, or a webhook's `data`) → status. Unknown statuses read as running: only
    terminal ones end a task, and the hard timeout bounds the rest."""
    raw = str(payload.get("status") or "").lower()
    state = _STATES.get(raw, TaskState.RUNNING)
    cost = _cost(payload.get("usage"))
    if state is TaskState.SUCCEEDED:
        urls = payload.get("unsigned_urls")
        first = urls[0] if isinstance(urls, list) and urls else None
        url = on_api(first, api_base) or content_url(job_id, api_base)
        return TaskStatus(
            TaskState.SUCCEEDED,
            progress=100,
            result=ResultRef(url, mime_type="video/mp4"),
            cost_usd=cost,
        )
    if state is TaskState.FAILED:
        code, message = _error_text(payload.get("error"))
        code = code or raw
        if raw == "expired":
            message = message or _EXPIRED_MESSAGE
        message = redact((message or "the job failed without a reason")[:500])
        policy = raw == "failed" and looks_like_policy(code, message)
        # An expired job is OpenRouter's own time limit; a cancelled one was stopped on purpose by
        # whoever holds the account (this bot cannot), so it is not tried elsewhere.
        fault = raw == "expired" or (raw == "failed" and not policy and bool(_PROVIDER_FAULT.search(message)))
        return TaskStatus(
            TaskState.FAILED,
            error_code=code,
            error_message=message,
            content_policy=policy,
            provider_fault=fault,
            cost_usd=cost,
        )
    return TaskStatus(state)


def parse_submitted(payload: Any, *, api_base: str) -> Submitted:
    """The 202 answer `{"id", "polling_url", "status": "pending"}`. Without an id the job may still exist,
    and OpenRouter cannot be asked by anything else: an uncertain submit."""
    job_id = payload.get("id") if isinstance(payload, Mapping) else None
    if not isinstance(job_id, str) or not job_id:
        raise UncertainSubmitError("the submit answer has no job id", provider=NAME, code="bad_ack")
    return Submitted(job_id, parse_job(payload, job_id=job_id, api_base=api_base))


def classify(response: HttpResponse, secrets: tuple[str, ...] = ()) -> ProviderError:
    """`{"error": {"code", "message"}}` by HTTP status; a refusal in moderation words is the content's."""
    status = response.status
    body = response.json()
    error = body.get("error") if isinstance(body, Mapping) else None
    code, message = _error_text(error)
    if message is None and isinstance(body, Mapping) and isinstance(body.get("message"), str):
        message = body["message"]
    text = redact((message or f"HTTP {status}")[:500], secrets)
    kwargs: dict[str, Any] = {"provider": NAME, "code": code or str(status), "http_status": status}
    if status in (400, 403) and looks_like_policy(text):
        return ContentPolicyError(text, **kwargs)
    if status == 402:
        return OutOfBalanceError(text, **kwargs)
    if status in (401, 403):
        return UnauthorizedError(text, **kwargs)
    if status in (404, 410):
        return NotFoundError(text, **kwargs)
    if status == 429:
        return RateLimitedError(text, retry_after=response.retry_after, **kwargs)
    if status >= 500:
        return UnavailableError(text, retry_after=response.retry_after, **kwargs)
    return InvalidRequestError(text, **kwargs)


def classify_download(response: HttpResponse, secrets: tuple[str, ...] = ()) -> ProviderError:
    """A video that is gone (the API's 404, or a 403/410 from storage a redirect led to) is not found,
    not a key problem; anything else reads as on the API."""
    if response.status in (403, 404, 410):
        body = response.json()
        _, message = _error_text(body.get("error") if isinstance(body, Mapping) else None)
        text = redact(f"the video is no longer available ({message or f'HTTP {response.status}'})", secrets)
        return NotFoundError(
            text[:500], provider=NAME, code=str(response.status), http_status=response.status
        )
    return classify(response, secrets)


# ------------------------------------------------------------------------------------------ webhooks


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`v1` of X-OpenRouter-Signature: hex(HMAC-SHA256(secret, "<t>," + raw body))."""
    return hmac.new(secret.encode(), timestamp.encode() + b"," + body, hashlib.sha256).hexdigest()


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
    """Raise CallbackRejected unless `t=<unix>,v1=<hex>` is fresh and one v1 matches (constant time)."""
    signature = header(headers, "X-OpenRouter-Signature")
    if not signature:
        raise CallbackRejected("unsigned OpenRouter callback")
    fields: dict[str, list[str]] = {}
    for part in signature.split(","):
        key, sep, value = part.partition("=")
        if sep:
            fields.setdefault(key.strip(), []).append(value.strip())
    timestamps = fields.get("t", [])
    offered = [value.lower() for value in fields.get("v1", [])]
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not offered:
        raise CallbackRejected("malformed X-OpenRouter-Signature")
    if abs(now - int(timestamps[0])) > WEBHOOK_TOLERANCE:
        raise CallbackRejected("stale OpenRouter callback")
    expected = webhook_signature(secret, timestamps[0], body).encode()
    if not any(hmac.compare_digest(expected, candidate.encode()) for candidate in offered):
        raise CallbackRejected("OpenRouter callback signature does not match")


def parse_webhook(body: bytes, *, api_base: str) -> CallbackEvent:
    """The event envelope `{"type": "video.generation.<status>", "data": {job}}`."""
    try:
        event = json.loads(body)
    except ValueError:
        raise CallbackRejected("OpenRouter callback is not JSON") from None
    kind = event.get("type") if isinstance(event, dict) else None
    data = event.get("data") if isinstance(event, dict) else None
    if not isinstance(kind, str) or not kind.startswith("video.generation.") or not isinstance(data, dict):
        raise CallbackRejected("not a video.generation event")
    job_id = data.get("id")
    if not isinstance(job_id, str) or not job_id:
        raise CallbackRejected("OpenRouter callback has no data.id")
    return CallbackEvent(job_id, parse_job(data, job_id=job_id, api_base=api_base))


# ------------------------------------------------------------------------------------------ adapter


async def checked_mp4(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Pass the stream on once its first box is `ftyp`: the content endpoint proxies the upstream's
    bytes, and anything else (an error page under 200) must not be stored as the user's video."""
    head: bytes | None = b""
    async with aclosing(chunks) as stream:
        async for chunk in stream:
            if head is not None:
                head += chunk
                if len(head) < 8:
                    continue
                if head[4:8] != b"ftyp":
                    raise UnavailableError(
                        "the content endpoint answered something other than an MP4", provider=NAME
                    )
                chunk, head = head, None
            yield chunk
    if head is not None:
        raise UnavailableError("the content endpoint answered no video", provider=NAME)


class OpenRouterProvider(VideoProvider):
    """Text to video through OpenRouter; polls, and takes signed callbacks when a secret is set."""

    name: ClassVar[str] = NAME
    can_cancel: ClassVar[bool] = False

    def __init__(
        self,
        config: ProviderConfig,
        *,
        http: ProviderHttp | None = None,
        webhook_secret: str | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        **_options: object,  # composition-root options meant for other adapters
    ) -> None:
        """`webhook_secret` is OPENROUTER_WEBHOOK_SECRET (the workspace signing secret); `clock` dates
        callbacks, `monotonic` ages the model list."""
        if config.api_key is None:
            raise ValueError("OPENROUTER_API_KEY is not set")
        self._key = config.api_key.get_secret_value()
        self._http = http or ProviderHttp(
            NAME, config.base_url or DEFAULT_BASE_URL, auth_headers={"Authorization": f"Bearer {self._key}"}
        )
        self._api = self._http.base_url
        self._webhook_secret = webhook_secret or None
        self._clock = clock
        self._monotonic = monotonic
        self._models: dict[str, Capabilities] = {}
        self._models_read_at: float | None = None
        self._models_lock = asyncio.Lock()
        self._polling: OrderedDict[str, str] = OrderedDict()

    def _classify(self, response: HttpResponse) -> ProviderError:
        return classify(response, (self._key,))

    def _classify_download(self, response: HttpResponse) -> ProviderError:
        return classify_download(response, (self._key,))

    async def capabilities(self, model_id: str) -> Capabilities:
        """The model's capabilities, from a list read at most once an hour (one read at a time)."""
        async with self._models_lock:
            read_at = self._models_read_at
            if read_at is None or self._monotonic() - read_at >= MODELS_TTL:
                response = await self._http.request("GET", MODELS_PATH, classify=self._classify)
                self._models = parse_models(response.json())
                self._models_read_at = self._monotonic()
        found = self._models.get(model_id)
        if found is None:
            raise NotFoundError(f"OpenRouter lists no video model {model_id}", provider=NAME, code="model")
        return found

    def _remember(self, job_id: str, payload: Mapping[str, Any], status: TaskStatus) -> None:
        """Keep the job's polling URL while it runs (on the API's host only); forget it once it ends."""
        url = on_api(payload.get("polling_url"), self._api)
        if status.state in (TaskState.SUCCEEDED, TaskState.FAILED):
            self._polling.pop(job_id, None)
        elif url is not None:
            self._polling[job_id] = url
            self._polling.move_to_end(job_id)
            while len(self._polling) > MAX_POLLING_URLS:
                self._polling.popitem(last=False)

    async def submit(self, job: SubmitJob) -> Submitted:
        check_mode(job)
        capabilities = await self.capabilities(job.provider_model_id)
        callback = job.callback_url if self._webhook_secret else None
        body = build_submit_body(job, capabilities, callback_url=callback)
        response = await self._http.request("POST", "videos", json_body=body, classify=self._classify)
        payload = response.json()
        submitted = parse_submitted(payload, api_base=self._api)
        self._remember(submitted.task_id, payload, submitted.status)
        return submitted

    async def status(self, task_id: str) -> TaskStatus:
        url = self._polling.get(task_id) or video_path(task_id)
        response = await self._http.request("GET", url, classify=self._classify)
        payload = response.json()
        if not isinstance(payload, dict):
            raise UnavailableError(f"unexpected poll answer (HTTP {response.status})", provider=NAME)
        status = parse_job(payload, job_id=task_id, api_base=self._api)
        self._remember(task_id, payload, status)
        return status

    async def download(self, status: TaskStatus, *, max_bytes: int) -> AsyncIterator[bytes]:
        """The bytes from the API's content endpoint: the key goes along, to the API's host only (a
        redirect elsewhere is followed without it)."""
        if status.result is None:
            raise NotFoundError("the task has no result to download", provider=NAME)
        chunks = self._http.stream(status.result.url, max_bytes=max_bytes, classify=self._classify_download)
        async with aclosing(checked_mp4(chunks)) as video:
            async for chunk in video:
                yield chunk

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> CallbackEvent:
        if self._webhook_secret is None:
            raise CallbackRejected("OPENROUTER_WEBHOOK_SECRET is not set: callbacks cannot be verified")
        verify_webhook(self._webhook_secret, headers, body, now=self._clock())
        return parse_webhook(body, api_base=self._api)

    async def close(self) -> None:
        await self._http.close()


#: OpenRouter's docs poll every 10-30 s; jobs take 30 s to several minutes.
DESCRIPTOR = ProviderDescriptor(
    name=NAME,
    base_url=DEFAULT_BASE_URL,
    adapters={NAME: OpenRouterProvider},
    settings=(Setting("webhook_secret"),),
    callbacks=Callbacks.PER_TASK,
    min_poll_interval=10.0,
)
