"""The OpenAI Videos API (Sora 2) and the gateways that proxy it (LaoZhang's Sora and Veo forwarding).

One protocol, two provider names: "openai" and "laozhang" differ only in base URL and model ids
(reference/providers.md §1 and §5). Create is multipart (`seconds` is a string, `size` is "WxH", the
first frame is an `input_reference` file of exactly `size`), the task is polled at `videos/{id}`, and
the finished MP4 is streamed from `videos/{id}/content` with the key. Running jobs cannot be stopped
(DELETE only removes finished videos), so `can_cancel` stays False.

LaoZhang differs from the reference in places (the seed documents): a finished video object may carry
its file as `output.url`, and `/content` may answer the video's URL (JSON `{"url"}`, a text/plain URL,
or a redirect) instead of its bytes. Both forms are taken: the URL is fetched without the key unless it
is on the API's own host, and nothing is passed on to storage before the file starts with an MP4 `ftyp`
box.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import io
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from PIL import Image

from services import media
from services.http import HttpResponse, ProviderHttp, parse_retry_after
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

#: "WxH" per (resolution, aspect ratio). Sora takes 720p (and 1080p on sora-2-pro); LaoZhang's Veo
#: forwarding takes both. 4K sizes on LaoZhang are UNCONFIRMED, so they are not offered.
SIZES: dict[tuple[str, str], tuple[int, int]] = {
    ("720p", "16:9"): (1280, 720),
    ("720p", "9:16"): (720, 1280),
    ("1080p", "16:9"): (1920, 1080),
    ("1080p", "9:16"): (1080, 1920),
}
#: The API's own defaults (portrait 720p), used when a request leaves the choice open.
DEFAULT_RESOLUTION = "720p"
DEFAULT_ASPECT_RATIO = "9:16"

_STATES = {
    "queued": TaskState.QUEUED,
    "submitted": TaskState.QUEUED,  # LaoZhang
    "pending": TaskState.QUEUED,
    "in_progress": TaskState.RUNNING,
    "processing": TaskState.RUNNING,
    "completed": TaskState.SUCCEEDED,
    "failed": TaskState.FAILED,
}

_POLICY = re.compile(
    r"moderation|content[ _-]?(?:policy|filter)|safety|usage[ _-]polic|guardrail|sensitive|prohibited"
    r"|human face|敏感|违规|审核",
    re.IGNORECASE,
)
_BALANCE_CODES = frozenset(
    {
        "insufficient_quota",
        "insufficient_user_quota",
        "billing_hard_limit_reached",
        "pre_consume_token_quota_failed",
    }
)
_BALANCE = re.compile(
    r"insufficient (?:balance|quota|credit)|exceeded your current quota|quota is not enough"
    r"|额度不足|余额不足",
    re.IGNORECASE,
)
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9*._-]+")
#: A download answer that is not an MP4 may still name the video's URL (JSON `{"url"}` or a bare URL);
#: such an answer is short, so a longer one that is not an MP4 is refused without reading on.
LINK_BODY_MAX = 8192
#: A failed video's `error.code` that names the provider's own trouble (UNCONFIRMED list: OpenAI
#: documents no codes; gateways pass upstream errors and timeouts through like this).
_PROVIDER_FAULT = re.compile(r"server_error|internal|timeout|timed_out|unavailable|overloaded", re.IGNORECASE)


def looks_like_policy(*texts: str | None) -> bool:
    """Whether an error code or message says the content was refused (final, never failed over)."""
    return any(text and _POLICY.search(text) for text in texts)


def redact(message: str, secrets: Sequence[str] = ()) -> str:
    """Remove keys from a provider message: OpenAI echoes a masked key on 401, gateways may echo more."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return _KEY_LIKE.sub("sk-***", message)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name: `HttpResponse.headers` is a plain dict of the wire casing."""
    lowered = name.lower()
    return next((value for key, value in headers.items() if key.lower() == lowered), None)


def error_fields(body: Any) -> tuple[str | None, str | None]:
    """(code, message) from the OpenAI envelope {"error": {"message", "type", "param", "code"}}."""
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    if isinstance(error, dict):
        code = error.get("code") or error.get("type")
        message = error.get("message")
        return (str(code) if code else None), (str(message) if message else None)
    if isinstance(error, str):
        return None, error
    message = body.get("message") or body.get("detail")
    return None, (str(message) if message else None)


def classify_error(provider: str, response: HttpResponse, secrets: Sequence[str] = ()) -> ProviderError:
    """Map an OpenAI-style HTTP error to a typed error; codes and messages refine the HTTP status."""
    status = response.status
    code, raw_message = error_fields(response.json())
    message = redact((raw_message or f"HTTP {status}")[:500], secrets)
    retry_after = parse_retry_after(header(response.headers, "retry-after"))
    kwargs: dict[str, Any] = {"provider": provider, "code": code or str(status), "http_status": status}
    if status == 402 or code in _BALANCE_CODES or _BALANCE.search(message):
        return OutOfBalanceError(message, **kwargs)
    if status == 429:
        return RateLimitedError(message, retry_after=retry_after, **kwargs)
    if status >= 500:
        return UnavailableError(message, retry_after=retry_after, **kwargs)
    if looks_like_policy(code, message):
        return ContentPolicyError(message, **kwargs)
    if status in (401, 403):
        return UnauthorizedError(message, **kwargs)
    if status in (404, 410):
        return NotFoundError(message, **kwargs)
    return InvalidRequestError(message, **kwargs)


def classify_download_error(
    provider: str, response: HttpResponse, secrets: Sequence[str] = ()
) -> ProviderError:
    """A result that is gone (expired asset, signed URL past its life) is "not found", not a key problem."""
    if response.status in (403, 404, 410):
        _, raw_message = error_fields(response.json())
        message = redact(
            f"the video is no longer available ({raw_message or f'HTTP {response.status}'})", secrets
        )
        return NotFoundError(
            message[:500], provider=provider, code=str(response.status), http_status=response.status
        )
    return classify_error(provider, response, secrets)


def video_size(aspect_ratio: str | None, resolution: str | None, *, provider: str) -> tuple[int, int]:
    """The API's "WxH" for a request; unsupported combinations are the request's fault."""
    key = (resolution or DEFAULT_RESOLUTION, aspect_ratio or DEFAULT_ASPECT_RATIO)
    if key not in SIZES:
        raise InvalidRequestError(f"no video size for {key[0]} {key[1]}", provider=provider, code="size")
    return SIZES[key]


def fit_image(image: InputImage, width: int, height: int) -> tuple[bytes, str]:
    """Crop-to-fill and resize to exactly width×height, as JPEG (or PNG for PNG input).

    The API answers 400 "Inpaint image must match the requested width and height" otherwise. An image
    that already fits, upright, as JPEG or PNG is passed through untouched.
    """
    with Image.open(io.BytesIO(image.data)) as source:
        upright = source.getexif().get(0x0112, 1) == 1
        if upright and source.size == (width, height) and source.format in ("JPEG", "PNG"):
            return image.data, "image/png" if source.format == "PNG" else "image/jpeg"
    fmt = "PNG" if image.mime_type == "image/png" else "JPEG"
    fitted = media.fit_image(image, width=width, height=height, mode="cover", fmt=fmt, quality=92)
    return fitted.data, fitted.mime_type


@dataclass(frozen=True, slots=True)
class FilePart:
    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """One create call: multipart `fields` + `files`, or a JSON body (remix)."""

    path: str
    fields: tuple[tuple[str, str], ...] = ()
    files: tuple[FilePart, ...] = ()
    json_body: dict[str, Any] | None = None

    def form(self) -> aiohttp.FormData:
        """A fresh form each call: aiohttp sends a FormData once, and the HTTP layer may retry."""
        form = aiohttp.FormData(default_to_multipart=True)  # urlencoded is not what the API takes
        for name, value in self.fields:
            form.add_field(name, value)
        for part in self.files:
            form.add_field(part.field, part.data, filename=part.filename, content_type=part.content_type)
        return form


def _video_path(video_id: str, suffix: str = "") -> str:
    return f"videos/{quote(video_id, safe='')}{suffix}"


def _reference_part(image: InputImage, width: int, height: int) -> FilePart:
    data, mime = fit_image(image, width, height)
    return FilePart("input_reference", "input.png" if mime == "image/png" else "input.jpg", mime, data)


def build_create_request(job: SubmitJob, *, provider: str) -> CreateRequest:
    """The create call for a job: new video, remix of an earlier one, or an extension of it.

    CPU-bound when an image must be resized: call it in a worker thread.
    """
    request = job.request
    if request.mode in ("remix", "extend"):
        if not job.source_task_id:
            raise InvalidRequestError(f"{request.mode} needs the source video id", provider=provider)
        if request.mode == "remix":
            return CreateRequest(
                _video_path(job.source_task_id, "/remix"), json_body={"prompt": request.prompt}
            )
        fields = [("prompt", request.prompt), ("video[id]", job.source_task_id)]
        if request.duration is not None:
            fields.append(("seconds", str(request.duration)))
        return CreateRequest("videos/extensions", fields=tuple(fields))
    if request.mode == "ref2v":
        raise InvalidRequestError("this API takes no reference images", provider=provider, code="mode")
    width, height = video_size(request.aspect_ratio, request.resolution, provider=provider)
    model = job.provider_model_id
    fields = [("model", model), ("prompt", request.prompt), ("size", f"{width}x{height}")]
    if request.duration is not None:
        fields.append(("seconds", str(request.duration)))
        if model.startswith("veo"):  # LaoZhang's Veo forwarding wants `duration` equal to `seconds`
            fields.append(("duration", str(request.duration)))
    files: list[FilePart] = []
    if request.mode in ("i2v", "fl2v"):
        if job.first_frame is None:
            raise InvalidRequestError("the first frame is missing", provider=provider, code="input_reference")
        files.append(_reference_part(job.first_frame, width, height))
    if request.mode == "fl2v":
        # UNCONFIRMED: LaoZhang's last-frame field; its legacy async route took 1–2 input_reference files.
        if job.last_frame is None:
            raise InvalidRequestError("the last frame is missing", provider=provider, code="input_reference")
        files.append(_reference_part(job.last_frame, width, height))
    return CreateRequest("videos", fields=tuple(fields), files=tuple(files))


def parse_poll_after(headers: Mapping[str, str]) -> float | None:
    """`openai-poll-after-ms` in seconds: how long the API asks us to wait before polling again."""
    value = header(headers, "openai-poll-after-ms")
    try:
        return max(0.0, int(value) / 1000) if value is not None else None
    except ValueError:
        return None


def _progress(value: Any) -> int | None:
    """An int percentage; gateways have sent floats and "45%" strings."""
    if value is None:
        return None
    try:
        return max(0, min(100, int(float(str(value).strip().rstrip("%")))))
    except (ValueError, OverflowError):  # also NaN and infinity
        return None


def _size(value: Any) -> tuple[int | None, int | None]:
    match = re.fullmatch(r"(\d+)x(\d+)", str(value or ""))
    return (int(match[1]), int(match[2])) if match else (None, None)


def _seconds(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def parse_status(payload: Mapping[str, Any], *, poll_after: float | None = None) -> TaskStatus:
    """A video object as a TaskStatus. Unknown statuses read as running: only terminal ones end a task."""
    raw = str(payload.get("status") or "").lower()
    state = _STATES.get(raw, TaskState.RUNNING)
    progress = _progress(payload.get("progress"))
    if state is TaskState.FAILED:
        error = payload.get("error")
        if isinstance(error, dict):
            code, message = error.get("code"), error.get("message")
        else:
            code, message = None, error if isinstance(error, str) else payload.get("fail_reason")
        code = str(code) if code else "failed"
        message = str(message) if message else "the provider reported a failure without a reason"
        policy = looks_like_policy(code, message)
        return TaskStatus(
            TaskState.FAILED,
            progress=progress,
            error_code=code,
            error_message=redact(message[:500]),
            content_policy=policy,
            provider_fault=not policy and bool(_PROVIDER_FAULT.search(code)),
        )
    if state is TaskState.SUCCEEDED:
        video_id = str(payload.get("id") or "")
        link = result_link(payload)
        if not video_id and link is None:
            return TaskStatus(
                TaskState.FAILED, error_code="no_video", error_message="completed without a video to download"
            )
        width, height = _size(payload.get("size"))
        extra = {"expires_at": payload["expires_at"]} if payload.get("expires_at") else {}
        result = ResultRef(
            url=str(link) if link else _video_path(video_id, "/content"),
            mime_type="video/mp4",
            width=width,
            height=height,
            duration=_seconds(payload.get("seconds")),
            extra=extra,
        )
        return TaskStatus(TaskState.SUCCEEDED, progress=100, result=result)
    return TaskStatus(state, progress=progress, poll_after=poll_after)


def _http_url(value: Any) -> str | None:
    """`value` if it is one absolute http(s) URL (no spaces: not a sentence that contains one)."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc and not any(c.isspace() for c in value):
        return value
    return None


def result_link(payload: Mapping[str, Any]) -> str | None:
    """The finished video's own URL where the object carries one: LaoZhang's `output.url`, or its legacy
    async route's `video_url`/`url`. OpenAI (and LaoZhang's documented route) give none: `/content`."""
    output = payload.get("output")
    candidates = (
        output.get("url") if isinstance(output, Mapping) else None,
        payload.get("video_url"),
        payload.get("url"),
    )
    return next((url for url in map(_http_url, candidates) if url), None)


def link_in(body: bytes) -> str | None:
    """The video URL a download answered instead of the video: JSON `{"url": ...}` (or a JSON string),
    or a text/plain URL; None when the body is neither."""
    text = body.decode("utf-8", errors="replace").strip()
    if text.startswith(("{", '"')):
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return _http_url(value.get("url") if isinstance(value, dict) else value)
    return _http_url(text)


def parse_submitted(payload: Any, *, provider: str, poll_after: float | None = None) -> Submitted:
    """The create answer: the new video object, normally queued. Without its id the video may still
    exist upstream, so an unreadable answer is an uncertain submit, not a refusal."""
    video_id = payload.get("id") if isinstance(payload, Mapping) else None
    if not isinstance(video_id, str) or not video_id:
        raise UncertainSubmitError("create answered without a video id", provider=provider)
    return Submitted(video_id, parse_status(payload, poll_after=poll_after))


#: Providers of this protocol that document the video list (`GET /videos`); LaoZhang documents none.
LISTS_VIDEOS = frozenset({"openai"})
#: A listed video counts as our uncertain create if it was made at most this long before we recorded
#: sending it (clocks differ), and the list is read back at most this many pages (100 videos each).
CLOCK_SKEW_SECONDS = 120.0
LIST_PAGES = 5


def made_by(video: Mapping[str, Any], job: SubmitJob, *, not_before: float) -> bool:
    """Whether a listed video is what `job`'s create would have made. The API takes no client id, so
    the request's own fields must agree: prompt, creation time, and the model, size and seconds of a new
    video or the source of a remix (an extension's `seconds` is the stitched total, so only its prompt)."""
    created = video.get("created_at")
    if not isinstance(created, int | float) or created < not_before:
        return False
    request = job.request
    if video.get("prompt") != request.prompt:
        return False
    if request.mode == "remix":
        return video.get("remixed_from_video_id") == job.source_task_id
    if request.mode == "extend":
        return True
    width, height = video_size(request.aspect_ratio, request.resolution, provider=job.route.provider)
    return (
        video.get("model") == job.provider_model_id
        and video.get("size") == f"{width}x{height}"
        and (request.duration is None or str(video.get("seconds")) == str(request.duration))
    )


#: Standard Webhooks: reject deliveries older or newer than this (OpenAI's SDK uses 300 s).
WEBHOOK_TOLERANCE = 300
_WEBHOOK_EVENTS = frozenset({"video.completed", "video.failed"})


def webhook_signature(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """The base64 HMAC-SHA256 of "id.timestamp.body"; a "whsec_" secret is base64 of the key."""
    key = base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_") else secret.encode()
    signed = webhook_id.encode() + b"." + timestamp.encode() + b"." + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
    """Raise CallbackRejected unless a `v1,` signature in `webhook-signature` matches and is fresh."""
    webhook_id = header(headers, "webhook-id")
    timestamp = header(headers, "webhook-timestamp")
    signatures = header(headers, "webhook-signature")
    if not (webhook_id and timestamp and signatures):
        raise CallbackRejected("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise CallbackRejected("webhook-timestamp is not a number") from None
    if abs(now - sent_at) > WEBHOOK_TOLERANCE:
        raise CallbackRejected("webhook-timestamp is outside the tolerance")
    try:
        expected = webhook_signature(secret, webhook_id, timestamp, body)
    except (binascii.Error, ValueError):
        raise CallbackRejected("the configured webhook secret is not valid base64") from None
    offered = [part.split(",", 1)[1] for part in signatures.split() if part.startswith("v1,")]
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise CallbackRejected("webhook signature does not match")


def parse_webhook_event(body: bytes) -> CallbackEvent:
    """A `video.completed`/`video.failed` event names the video; the poller then fetches its status."""
    try:
        event = json.loads(body)
    except ValueError:
        raise CallbackRejected("webhook body is not JSON") from None
    if not isinstance(event, dict) or event.get("type") not in _WEBHOOK_EVENTS:
        raise CallbackRejected("not a video.completed or video.failed event")
    data = event.get("data")
    video_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(video_id, str) or not video_id:
        raise CallbackRejected("webhook event has no data.id")
    return CallbackEvent(video_id)


def bearer_http(config: ProviderConfig, **options: Any) -> ProviderHttp:
    """The transport for an OpenAI-style API: `Authorization: Bearer <key>` on the API host only."""
    if config.api_key is None:
        raise ValueError(f"{config.name}: no API key configured")
    auth = {"Authorization": f"Bearer {config.api_key.get_secret_value()}"}
    return ProviderHttp(config.name, config.base_url, auth_headers=auth, **options)


class OpenAIVideosProvider(VideoProvider):
    name = "openai"
    can_cancel = False

    def __init__(
        self,
        config: ProviderConfig,
        *,
        http: ProviderHttp | None = None,
        webhook_secret: str | None = None,
        clock: Callable[[], float] = time.time,
        **_options: object,  # composition-root options meant for other adapters
    ) -> None:
        self.name = config.name  # type: ignore[misc]  # "openai" or "laozhang": same protocol
        self.finds_submitted = config.name in LISTS_VIDEOS
        self._http = http or bearer_http(config)
        self._secrets = (config.api_key.get_secret_value(),) if config.api_key else ()
        self._webhook_secret = webhook_secret
        self._clock = clock

    def _classify(self, response: HttpResponse) -> ProviderError:
        return classify_error(self.name, response, self._secrets)

    def _object(self, response: HttpResponse) -> dict[str, Any]:
        payload = response.json()
        if not isinstance(payload, dict):
            raise UnavailableError(f"unexpected answer (HTTP {response.status})", provider=self.name)
        return payload

    async def submit(self, job: SubmitJob) -> Submitted:
        create = await asyncio.to_thread(build_create_request, job, provider=self.name)
        response = await self._http.request(
            "POST",
            create.path,
            json_body=create.json_body,
            data=None if create.json_body is not None else create.form,
            classify=self._classify,
        )
        return parse_submitted(
            response.json(), provider=self.name, poll_after=parse_poll_after(response.headers)
        )

    async def find_submitted(self, job: SubmitJob, *, since: datetime) -> Submitted | None:
        """Read the newest videos back to `since` and take the one `job` made (`made_by`). Two matches,
        or more recent videos than LIST_PAGES hold, leave it unknowable: UncertainSubmitError."""
        not_before = since.timestamp() - CLOCK_SKEW_SECONDS
        found: list[dict[str, Any]] = []
        params = {"order": "desc", "limit": "100"}
        for _ in range(LIST_PAGES):
            response = await self._http.request("GET", "videos", params=params, classify=self._classify)
            page = self._object(response)
            listed = page.get("data")
            videos = [v for v in listed if isinstance(v, dict)] if isinstance(listed, list) else []
            found += [v for v in videos if made_by(v, job, not_before=not_before)]
            oldest = videos[-1].get("created_at") if videos else None
            if not page.get("has_more") or not isinstance(oldest, int | float) or oldest < not_before:
                break
            params = {**params, "after": str(page.get("last_id") or videos[-1].get("id"))}
        else:
            raise UncertainSubmitError("too many recent videos to find the create in", provider=self.name)
        if len(found) > 1:
            raise UncertainSubmitError(f"{len(found)} recent videos match the create", provider=self.name)
        return parse_submitted(found[0], provider=self.name) if found else None

    async def status(self, task_id: str) -> TaskStatus:
        response = await self._http.request("GET", _video_path(task_id), classify=self._classify)
        return parse_status(self._object(response), poll_after=parse_poll_after(response.headers))

    async def download(self, status: TaskStatus, *, max_bytes: int) -> AsyncIterator[bytes]:
        if status.result is None:
            raise NotFoundError("the task has no result to download", provider=self.name)
        async for chunk in self._checked(status.result.url, max_bytes=max_bytes, follow_link=True):
            yield chunk

    async def _checked(self, url: str, *, max_bytes: int, follow_link: bool) -> AsyncIterator[bytes]:
        """Stream `url` once its first box is `ftyp`. An answer that is not an MP4 is held back (it is at
        most LINK_BODY_MAX bytes) and, when it names the video's URL, that URL is streamed instead, once:
        ProviderHttp follows redirects and sends the key to the API's host only."""
        chunks = self._http.stream(
            url,
            max_bytes=max_bytes,
            headers={"Accept": "application/binary"},
            classify=lambda response: classify_download_error(self.name, response, self._secrets),
        )
        head: bytes | None = b""
        async with aclosing(chunks) as stream:
            async for chunk in stream:
                if head is not None:
                    head += chunk
                    if len(head) < 8 or (head[4:8] != b"ftyp" and len(head) <= LINK_BODY_MAX):
                        continue
                    if head[4:8] != b"ftyp":
                        raise self._not_a_video()
                    chunk, head = head, None
                yield chunk
        if head is None:
            return
        link = link_in(head) if follow_link else None
        if link is None:
            raise self._not_a_video()
        async for chunk in self._checked(link, max_bytes=max_bytes, follow_link=False):
            yield chunk

    def _not_a_video(self) -> UnavailableError:
        """An error page under 200, or a link to something else: never stored as the user's video (a
        later attempt may get the file, until the hard timeout)."""
        return UnavailableError(
            "the download answered neither an MP4 nor a URL of one", provider=self.name, code="not_mp4"
        )

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> CallbackEvent:
        if self._webhook_secret:
            verify_webhook(self._webhook_secret, headers, body, now=self._clock())
        return parse_webhook_event(body)

    async def close(self) -> None:
        await self._http.close()


#: OpenAI recommends polling every 10-20 s; its webhooks are set once per project in the dashboard and
#: signed with OPENAI_WEBHOOK_SECRET.
DESCRIPTOR = ProviderDescriptor(
    name="openai",
    base_url="https://api.openai.com/v1",
    adapters={"openai": OpenAIVideosProvider},
    settings=(Setting("webhook_secret"),),
    callbacks=Callbacks.PROJECT_WEBHOOK,
    min_poll_interval=10.0,
)
