"""KIE.ai's Veo 3.1 API (reference/providers.md §3).

KIE answers business results as HTTP 200 with an envelope `{"code", "msg", "data"}`, so every reply is
checked by `check_envelope` as well as by its HTTP status (`classify`). Input images must be public
URLs: each one first goes through KIE's file upload API (a second host, same key), and the returned
`downloadUrl` goes into `imageUrls`. Result URLs are public files on another host, fetched without the key.

1080p and 4k are a second step on a finished task: `get-1080p-video` (GET, free) and `get-4k-video`
(POST, extra credits; asked again it answers "4k is processing" and finally the URLs, so asking on every
poll orders it once). To stay stateless, the resolution travels in the task id this adapter hands out:
`"<KIE taskId>#1080p"` or `"<KIE taskId>#4k"` (720p tasks keep KIE's id as is), and `status()` asks for
the upgrade once the base task has succeeded, unless the record already carries a file of the ordered
resolution. Such tasks are submitted without a callBackUrl: KIE's callback would announce the 720p video
under the bare id, which is not what was ordered; polling fetches the upgraded file. 4k is asked for only
when the route offers it (its `resolutions` list 4k, or list nothing and take the model's).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, ClassVar

from pydantic import AnyHttpUrl

from services.http import HttpResponse, ProviderHttp, default_error, download_error
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

NAME = "kie"
DEFAULT_BASE_URL = "https://api.kie.ai"
DEFAULT_UPLOAD_BASE_URL = "https://kieai.redpandaai.co"
GENERATE_PATH = "/api/v1/veo/generate"
EXTEND_PATH = "/api/v1/veo/extend"
RECORD_INFO_PATH = "/api/v1/veo/record-info"
HD_PATH = "/api/v1/veo/get-1080p-video"
UHD_PATH = "/api/v1/veo/get-4k-video"
UPLOAD_PATH = "/api/file-base64-upload"
#: Folder on KIE's file host; each upload gets a fresh random name because a same name overwrites.
UPLOAD_FOLDER = "videobot/inputs"

SD = "720p"
HD = "1080p"
UHD = "4k"
HD_SUFFIX = "#" + HD
UHD_SUFFIX = "#" + UHD
#: What KIE renders, lowest first; an upgrade step makes the higher ones from a finished 720p task.
RESOLUTIONS = (SD, HD, UHD)
#: A record's `response.resolution` to its rank in RESOLUTIONS (2160p: another spelling of 4k, in case).
_RANKS = {SD: 0, HD: 1, UHD: 2, "2160p": 2}
ASPECT_RATIOS = frozenset({"16:9", "9:16"})
#: KIE makes 8-second clips only (its FAQ); route durations say so too, this guards a catalog edit.
CLIP_SECONDS = 8
SEEDS = range(10000, 100000)
MAX_REFERENCE_IMAGES = 3
REFERENCE_MODEL = "veo3_fast"
IMAGE_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
GENERATION_TYPES = {
    "t2v": "TEXT_2_VIDEO",
    "i2v": "FIRST_AND_LAST_FRAMES_2_VIDEO",  # one image: the video unfolds from it
    "fl2v": "FIRST_AND_LAST_FRAMES_2_VIDEO",
    "ref2v": "REFERENCE_2_VIDEO",
}
#: KIE's docs say the 1080p file takes 1-3 minutes and to ask again every 20-30 s.
HD_POLL_AFTER = 20.0
#: The 4k file takes 5-10 minutes; its docs say to ask again every 30 s or more.
UHD_POLL_AFTER = 30.0
#: A signed callback older (or newer) than this is refused, so a captured one cannot be replayed later.
CALLBACK_MAX_AGE = 300.0
#: Envelope codes on record-info that describe the task itself (it failed), not our call.
TASK_FAILURE_CODES = frozenset({400, 451, 501})
#: KIE's own internal error or timeout: a failed task's errorCode or callback code, and a create's
#: envelope code (which may follow the task's creation).
PROVIDER_FAULT_CODE = 500
#: Errors of an upgrade step that a later poll may not see again; others end the task.
TRANSIENT_KINDS = (RateLimitedError, UnavailableError, UnauthorizedError, OutOfBalanceError)

#: KIE's refusals name policies ("flagged … as violating content policies"), unsafe images, or Google
#: Flow's rejection; a failure in those words is the user's content, final and never failed over.
_POLICY = re.compile(r"polic|unsafe|flagged|violat|rejected by flow|safety|nsfw|prohibited|sensitive", re.I)


def is_policy_message(message: str | None) -> bool:
    return bool(message and _POLICY.search(message))


def _as_int(value: Any) -> int | None:
    """Codes come as numbers, sometimes as numeric strings."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _message(payload: Mapping[str, Any]) -> str:
    msg = payload.get("msg")
    return msg.strip()[:500] if isinstance(msg, str) else ""


def _invalid(message: str) -> InvalidRequestError:
    return InvalidRequestError(message, provider=NAME, code="invalid_request")


def envelope_error(
    code: int, message: str, *, http_status: int | None = None, retry_after: float | None = None
) -> ProviderError:
    """The typed error for a non-200 envelope `code` (create/extend/record-info/1080p share the table)."""
    text = message or f"code {code}"
    kwargs: dict[str, Any] = {"provider": NAME, "code": str(code), "http_status": http_status}
    if code in (400, 422, 501) and is_policy_message(message):
        return ContentPolicyError(text, **kwargs)
    if code in (401, 403):
        return UnauthorizedError(text, **kwargs)
    if code == 402:
        return OutOfBalanceError(text, **kwargs)
    if code == 404 or (code == 422 and "record is null" in message.lower()):
        return NotFoundError(text, **kwargs)
    if code == 429:
        return RateLimitedError(text, retry_after=retry_after, **kwargs)
    if code == 455 or code >= 500:  # maintenance, server error, generation failed, feature disabled
        return UnavailableError(text, retry_after=retry_after, **kwargs)
    return InvalidRequestError(text, **kwargs)


def check_envelope(payload: Any, *, retry_after: float | None = None) -> Any:
    """`data` of a `code == 200` envelope; otherwise the typed error for its code."""
    if not isinstance(payload, Mapping):
        raise UnavailableError("the answer is not a JSON envelope", provider=NAME, code="bad_payload")
    code = _as_int(payload.get("code"))
    if code is None:
        raise UnavailableError("the answer has no envelope code", provider=NAME, code="bad_payload")
    if code != 200:
        raise envelope_error(code, _message(payload), retry_after=retry_after)
    return payload.get("data")


def parse_created(payload: Any, *, retry_after: float | None = None) -> str:
    """The taskId of a generate/extend answer. Its envelope codes are refusals, except 500 (a server
    error that may follow the task's creation); that, or an answer without code or taskId, is an
    uncertain submit: KIE has no lookup by anything but the taskId it did not hand over."""
    code = _as_int(payload.get("code")) if isinstance(payload, Mapping) else None
    if code is None or code == PROVIDER_FAULT_CODE:
        raise UncertainSubmitError(
            f"unreadable create answer (code {code})", provider=NAME, code=str(code or "bad_payload")
        )
    data = check_envelope(payload, retry_after=retry_after)
    task_id = data.get("taskId") if isinstance(data, Mapping) else None
    if not isinstance(task_id, str) or not task_id:
        raise UncertainSubmitError(
            "KIE accepted the task without a taskId", provider=NAME, code="bad_payload"
        )
    return task_id


def classify(response: HttpResponse) -> ProviderError:
    """An HTTP error: KIE's own envelope code when the body has one, the HTTP status otherwise."""
    payload = response.json()
    if isinstance(payload, Mapping):
        code = _as_int(payload.get("code"))
        if code is not None and code != 200:
            return envelope_error(
                code, _message(payload), http_status=response.status, retry_after=response.retry_after
            )
    return default_error(NAME, response)


def classify_download(response: HttpResponse) -> ProviderError:
    """The file host answers an expired result URL with a bare 403/404/410: the video is gone."""
    return download_error(NAME, response)


# ------------------------------------------------------------------------------------- request building


def validate_job(job: SubmitJob) -> list[InputImage]:
    """Refuse what KIE would refuse, before anything is uploaded; return the images to upload in order."""
    request = job.request
    if request.resolution is not None and request.resolution not in RESOLUTIONS:
        raise _invalid(f"KIE renders 720p, 1080p or 4k, not {request.resolution}")
    if request.resolution == UHD and not offers_4k(job):
        raise _invalid("this KIE route does not offer 4k")
    if request.aspect_ratio is not None and request.aspect_ratio not in ASPECT_RATIOS:
        raise _invalid(f"aspect ratio {request.aspect_ratio} is not offered (16:9 or 9:16)")
    if request.duration is not None and request.duration != CLIP_SECONDS:
        raise _invalid(f"KIE makes {CLIP_SECONDS}-second clips, not {request.duration}")
    mode = request.mode
    images: list[InputImage] = []
    if mode in ("i2v", "fl2v"):
        if job.first_frame is None:
            raise _invalid(f"{mode} needs a first frame")
        images.append(job.first_frame)
        if mode == "fl2v":
            if job.last_frame is None:
                raise _invalid("fl2v needs a last frame")
            images.append(job.last_frame)
    elif mode == "ref2v":
        if job.provider_model_id != REFERENCE_MODEL:
            raise _invalid(f"KIE takes reference images only with {REFERENCE_MODEL}")
        if not 1 <= len(job.reference_images) <= MAX_REFERENCE_IMAGES:
            raise _invalid(f"ref2v takes 1 to {MAX_REFERENCE_IMAGES} reference images")
        images.extend(job.reference_images)
    elif mode == "extend":
        if not job.source_task_id:
            raise _invalid("extend needs the KIE task id of an earlier video")
        if job.source_task_id.endswith(HD_SUFFIX):
            raise _invalid("KIE cannot extend a video that was upgraded to 1080p")
    elif mode != "t2v":
        raise _invalid(f"KIE Veo has no {mode} mode")
    for image in images:
        if image.mime_type not in IMAGE_EXTENSIONS:
            raise _invalid(f"KIE takes JPEG, PNG or WebP images, not {image.mime_type}")
    return images


def offers_4k(job: SubmitJob) -> bool:
    """4k costs extra credits: only a route that lists it (or leaves the model's list alone) asks."""
    return job.route.resolutions is None or UHD in job.route.resolutions


def _seed(job: SubmitJob) -> dict[str, int]:
    seed = job.request.seed
    return {"seeds": seed} if seed is not None and seed in SEEDS else {}


def _callback(job: SubmitJob) -> dict[str, str]:
    """callBackUrl, except for upgraded tasks (the callback would announce the 720p file; see the module
    doc)."""
    upgraded = job.request.resolution in (HD, UHD)
    return {"callBackUrl": job.callback_url} if job.callback_url and not upgraded else {}


def build_generate_body(job: SubmitJob, image_urls: Sequence[str]) -> dict[str, Any]:
    """The `/veo/generate` body for a validated job whose images are uploaded to `image_urls`.

    `enableTranslation` is always sent, because KIE's default is true and ours is off. KIE documents no
    prompt-enhancement field, so `enhance_prompt` has nothing to set here."""
    request = job.request
    body: dict[str, Any] = {
        "prompt": request.prompt,
        "model": job.provider_model_id,
        "generationType": GENERATION_TYPES[request.mode],
        "aspect_ratio": request.aspect_ratio or "16:9",
        "enableTranslation": request.translate_prompt,
    }
    if image_urls:
        body["imageUrls"] = list(image_urls)
    return {**body, **_seed(job), **_callback(job)}


def build_extend_body(job: SubmitJob) -> dict[str, Any]:
    """The `/veo/extend` body: the source task (KIE's own id: a 4k order's suffix is ours), a prompt, and
    `quality` for veo3 or `fast` otherwise."""
    body: dict[str, Any] = {
        "taskId": split_task_id(job.source_task_id or "")[0],
        "prompt": job.request.prompt,
        "model": "quality" if job.provider_model_id == "veo3" else "fast",
    }
    return {**body, **_seed(job), **_callback(job)}


def upload_file_name(image: InputImage) -> str:
    return f"{uuid.uuid4().hex}.{IMAGE_EXTENSIONS[image.mime_type]}"


def build_upload_body(image: InputImage, file_name: str) -> dict[str, str]:
    encoded = base64.b64encode(image.data).decode("ascii")
    return {
        "base64Data": f"data:{image.mime_type};base64,{encoded}",
        "uploadPath": UPLOAD_FOLDER,
        "fileName": file_name,
    }


def parse_upload(payload: Any) -> str:
    """The public URL of an uploaded file (`downloadUrl`; one doc variant calls it `fileUrl`)."""
    data = check_envelope(payload)
    url = None
    if isinstance(data, Mapping):
        url = data.get("downloadUrl") or data.get("fileUrl")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise UnavailableError("the upload answered without a downloadUrl", provider=NAME, code="bad_payload")
    return url


def task_id_for(kie_task_id: str, resolution: str | None) -> str:
    return f"{kie_task_id}#{resolution}" if resolution in (HD, UHD) else kie_task_id


def split_task_id(task_id: str) -> tuple[str, str]:
    """(KIE's task id, the resolution ordered) from an id made by `task_id_for`."""
    for suffix, resolution in ((HD_SUFFIX, HD), (UHD_SUFFIX, UHD)):
        if task_id.endswith(suffix):
            return task_id.removesuffix(suffix), resolution
    return task_id, SD


# ------------------------------------------------------------------------------------ response parsing


def url_list(value: Any) -> list[str]:
    """URLs from an array, a JSON-encoded array string, an unquoted "[http://a, http://b]" string (the
    OpenAPI schema's example) or a single URL string."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return url_list(json.loads(text))
            except ValueError:
                return url_list([part.strip().strip("'\"") for part in text[1:-1].split(",")])
        return [text] if text.startswith(("http://", "https://")) else []
    if isinstance(value, list | tuple):
        return [
            v.strip() for v in value if isinstance(v, str) and v.strip().startswith(("http://", "https://"))
        ]
    return []


def _mapping(value: Any) -> Mapping[str, Any]:
    """A nested object that may come JSON-encoded as a string (promptJson, info)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, Mapping) else {}


def _first_urls(*values: Any) -> list[str]:
    """The URLs of the first value that has any."""
    for value in values:
        urls = url_list(value)
        if urls:
            return urls
    return []


def result_urls(data: Mapping[str, Any]) -> list[str]:
    """The first non-empty of the places KIE has been seen to put result URLs (the callback's
    `data.info` too)."""
    response = _mapping(data.get("response"))
    info = _mapping(data.get("info"))
    return _first_urls(
        response.get("resultUrls"),
        data.get("resultUrls"),
        response.get("fullResultUrls"),
        data.get("fullResultUrls"),
        info.get("resultUrls"),
    )


def hd_urls(data: Mapping[str, Any]) -> list[str]:
    """The 1080p file of a get-1080p-video `data`: `resultUrl` (the reference), `video1080pUrl` or
    `info.resultUrls` (the seed documents), each as a URL, an array or an array string."""
    info = _mapping(data.get("info"))
    return _first_urls(
        data.get("resultUrl"), data.get("video1080pUrl"), info.get("resultUrls"), info.get("result_urls")
    )


def uhd_urls(data: Mapping[str, Any]) -> list[str]:
    """The 4k file of a get-4k-video `data` (`resultUrls`) or 4k callback (`info.resultUrls`; the
    OpenAPI schema spells both snake_case)."""
    info = _mapping(data.get("info"))
    return _first_urls(
        data.get("resultUrls"), data.get("result_urls"), info.get("resultUrls"), info.get("result_urls")
    )


def rank(resolution: Any) -> int:
    """720p → 0, 1080p → 1, 4k → 2; an unknown or missing resolution counts as KIE's base, 720p."""
    return _RANKS.get(str(resolution or SD).lower(), 0)


def choose(candidates: Sequence[tuple[str, str | None]], ordered: str) -> tuple[str, str | None]:
    """(url, resolution) to deliver: the file of the ordered resolution, else the highest below it (an
    upgrade step follows), else the lowest above it (the fallback path's 1080p for a 720p order)."""
    exact = [c for c in candidates if rank(c[1]) == rank(ordered)]
    below = sorted((c for c in candidates if rank(c[1]) < rank(ordered)), key=lambda c: rank(c[1]))
    above = sorted((c for c in candidates if rank(c[1]) > rank(ordered)), key=lambda c: rank(c[1]))
    return (exact or below[-1:] or above)[0]


def _failed(code: str, message: str, *, content_policy: bool | None = None) -> TaskStatus:
    """A failed task; code 500 is KIE's "internal error/timeout" (record-info and callbacks), its own."""
    policy = is_policy_message(message) if content_policy is None else content_policy
    return TaskStatus(
        TaskState.FAILED,
        error_code=code,
        error_message=message[:500],
        content_policy=policy,
        provider_fault=code == str(PROVIDER_FAULT_CODE) and not policy,
    )


def _no_video() -> TaskStatus:
    return _failed("no_video", "KIE reported success without a video", content_policy=False)


def _succeeded(urls: list[str], *, resolution: str | None, origin: list[str]) -> TaskStatus:
    extra: dict[str, Any] = {}
    if resolution:
        extra["resolution"] = resolution
    if origin:
        extra["origin_urls"] = tuple(origin)
    return TaskStatus(
        TaskState.SUCCEEDED, progress=100, result=ResultRef(urls[0], mime_type="video/mp4", extra=extra)
    )


def parse_record(payload: Any, *, ordered: str = SD, retry_after: float | None = None) -> TaskStatus:
    """A record-info answer. successFlag 0 → running, 1 → succeeded (failed without a URL), 2/3 → failed.
    Envelope codes 400/451/501 are the task's own failure (policy, English-only, image fetch); other
    non-200 codes raise, so the poller asks again later. A record may hold the base file and a 1080p one
    (`video1080pUrl`): the file of the `ordered` resolution is chosen (`choose`)."""
    if isinstance(payload, Mapping):
        code = _as_int(payload.get("code"))
        if code in TASK_FAILURE_CODES:
            return _failed(str(code), _message(payload) or f"code {code}")
    data = check_envelope(payload, retry_after=retry_after)
    if not isinstance(data, Mapping):
        raise UnavailableError("record-info answered without data", provider=NAME, code="bad_payload")
    flag = _as_int(data.get("successFlag"))
    if flag == 1:
        response = _mapping(data.get("response"))
        resolution = response.get("resolution")
        if not isinstance(resolution, str) and data.get("fallbackFlag") is True:
            resolution = HD  # videos from the legacy fallback path come in 1080p already
        candidates: list[tuple[str, str | None]] = []
        urls = result_urls(data)
        if urls:
            candidates.append((urls[0], resolution if isinstance(resolution, str) else None))
        hd = _first_urls(response.get("video1080pUrl"), data.get("video1080pUrl"))
        if hd:
            candidates.append((hd[0], HD))
        if not candidates:
            return _no_video()
        url, chosen = choose(candidates, ordered)
        origin = url_list(response.get("originUrls"))
        return _succeeded([url], resolution=chosen, origin=origin)
    if flag in (2, 3):
        error_code = data.get("errorCode")
        message = data.get("errorMessage")
        return _failed(
            str(error_code) if error_code not in (None, "") else f"flag_{flag}",
            message if isinstance(message, str) and message.strip() else "the generation failed",
        )
    return TaskStatus(TaskState.RUNNING)


def reached(status: TaskStatus, ordered: str) -> bool:
    """Whether a succeeded status already delivers the ordered resolution (no upgrade step needed)."""
    return status.result is not None and rank(status.result.extra.get("resolution")) >= rank(ordered)


def parse_hd(payload: Any, *, retry_after: float | None = None) -> TaskStatus:
    """A get-1080p-video answer: the 1080p URL, "still processing" (running), or the failure of the step."""
    if not isinstance(payload, Mapping):
        raise UnavailableError("get-1080p-video did not answer JSON", provider=NAME, code="bad_payload")
    code = _as_int(payload.get("code"))
    message = _message(payload)
    if code == 200:
        urls = hd_urls(_mapping(payload.get("data")))
        if urls:
            return _succeeded(urls, resolution=HD, origin=[])
        return TaskStatus(TaskState.RUNNING, poll_after=HD_POLL_AFTER)
    if "processing" in message.lower():
        return TaskStatus(TaskState.RUNNING, poll_after=HD_POLL_AFTER)
    if code is None:
        raise UnavailableError("get-1080p-video has no envelope code", provider=NAME, code="bad_payload")
    error = envelope_error(code, message, retry_after=retry_after)
    if isinstance(error, TRANSIENT_KINDS):
        raise error
    return _failed(str(code), f"the 1080p version failed: {error.message}")


def parse_uhd(payload: Any, *, retry_after: float | None = None) -> TaskStatus:
    """A get-4k-video answer. The first call orders the file (code 200, `resultUrls` null); later calls
    answer 422 "4k is processing" or 422 "The video has been generated successfully" with the URLs.
    Code 500 "The 4K version of this video is unavailable" ends the task on KIE's side (a provider
    fault, so another route may still make it); passing trouble raises, so the poller asks again."""
    if not isinstance(payload, Mapping):
        raise UnavailableError("get-4k-video did not answer JSON", provider=NAME, code="bad_payload")
    code = _as_int(payload.get("code"))
    message = _message(payload)
    urls = uhd_urls(_mapping(payload.get("data")))
    if code in (200, 422) and urls:
        return _succeeded(urls, resolution=UHD, origin=[])
    lowered = message.lower()
    # Ordered, processing, or done with the URLs still to come in a later answer.
    if code == 200 or "processing" in lowered or (code == 422 and "successfully" in lowered):
        return TaskStatus(TaskState.RUNNING, poll_after=UHD_POLL_AFTER)
    if code is None:
        raise UnavailableError("get-4k-video has no envelope code", provider=NAME, code="bad_payload")
    if code == PROVIDER_FAULT_CODE and "unavailable" in lowered:
        return _failed(str(code), f"the 4k version failed: {message}")
    error = envelope_error(code, message, retry_after=retry_after)
    if isinstance(error, TRANSIENT_KINDS):
        raise error
    return _failed(str(code), f"the 4k version failed: {error.message}")


def callback_task_id(payload: Any) -> str:
    data = payload.get("data") if isinstance(payload, Mapping) else None
    task_id = None
    if isinstance(data, Mapping):
        task_id = data.get("taskId") or data.get("task_id")  # KIE's signing sample reads task_id
    if not isinstance(task_id, str) or not task_id:
        raise CallbackRejected("KIE callback without data.taskId")
    return task_id


def parse_callback_status(payload: Mapping[str, Any]) -> TaskStatus:
    """A callback body: code 200 with `data.info.resultUrls` (array or string) or a failure code."""
    code = _as_int(payload.get("code"))
    message = _message(payload)
    if code == 200:
        info = _mapping(_mapping(payload.get("data")).get("info"))
        urls = url_list(info.get("resultUrls")) or url_list(info.get("result_urls"))
        if not urls:
            return _no_video()
        resolution = info.get("resolution")
        origin = url_list(info.get("originUrls"))
        return _succeeded(urls, resolution=resolution if isinstance(resolution, str) else None, origin=origin)
    return _failed(str(code) if code is not None else "unknown", message or "the generation failed")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def webhook_signature(key: str, task_id: str, timestamp: str) -> str:
    digest = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(headers: Mapping[str, str], task_id: str, key: str, *, now: float) -> None:
    """X-Webhook-Signature = base64(HMAC-SHA256(key, taskId + "." + X-Webhook-Timestamp)), fresh."""
    timestamp = _header(headers, "X-Webhook-Timestamp")
    signature = _header(headers, "X-Webhook-Signature")
    if not timestamp or not signature:
        raise CallbackRejected("unsigned KIE callback")
    timestamp = timestamp.strip()
    if not timestamp.isdigit():
        raise CallbackRejected("KIE callback timestamp is not unix seconds")
    if abs(now - int(timestamp)) > CALLBACK_MAX_AGE:
        raise CallbackRejected("stale KIE callback")
    expected = webhook_signature(key, task_id, timestamp)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise CallbackRejected("bad KIE callback signature")


# --------------------------------------------------------------------------------------------- adapter


def _bearer(config: ProviderConfig) -> dict[str, str]:
    if config.api_key is None:
        raise ValueError("KIE_API_KEY is not set")
    return {"Authorization": f"Bearer {config.api_key.get_secret_value()}"}


class KieVeoProvider(VideoProvider):
    """Veo 3.1 (veo3 = Quality, veo3_fast = Fast) through KIE.ai; polls, and takes signed callbacks."""

    name: ClassVar[str] = NAME
    can_cancel: ClassVar[bool] = False

    def __init__(
        self,
        config: ProviderConfig,
        *,
        http: ProviderHttp | None = None,
        upload_http: ProviderHttp | None = None,
        upload_base_url: str = DEFAULT_UPLOAD_BASE_URL,
        webhook_hmac_key: str | None = None,
        clock: Callable[[], float] = time.time,
        **kw: Any,
    ) -> None:
        """`upload_base_url` is KIE_UPLOAD_BASE_URL; `webhook_hmac_key` (KIE_WEBHOOK_HMAC_KEY) makes
        callbacks require a valid signature; `kw` holds options meant for other adapters."""
        self._http = http or ProviderHttp(
            NAME, config.base_url or DEFAULT_BASE_URL, auth_headers=_bearer(config)
        )
        self._upload_http = upload_http or ProviderHttp(NAME, upload_base_url, auth_headers=_bearer(config))
        self._hmac_key = webhook_hmac_key or None
        self._clock = clock

    async def _upload(self, image: InputImage) -> str:
        body = build_upload_body(image, upload_file_name(image))
        # Uploads are free and each gets a fresh name: sending one twice costs nothing.
        response = await self._upload_http.request(
            "POST", UPLOAD_PATH, json_body=body, classify=classify, idempotent=True
        )
        return parse_upload(response.json())

    async def submit(self, job: SubmitJob) -> Submitted:
        images = validate_job(job)
        if job.request.mode == "extend":
            path, body = EXTEND_PATH, build_extend_body(job)
        else:
            urls = await asyncio.gather(*(self._upload(image) for image in images))
            path, body = GENERATE_PATH, build_generate_body(job, urls)
        response = await self._http.request("POST", path, json_body=body, classify=classify)
        task_id = parse_created(response.json(), retry_after=response.retry_after)
        return Submitted(task_id_for(task_id, job.request.resolution))

    async def status(self, task_id: str) -> TaskStatus:
        kie_id, resolution = split_task_id(task_id)
        response = await self._http.request(
            "GET", RECORD_INFO_PATH, params={"taskId": kie_id}, classify=classify
        )
        status = parse_record(response.json(), ordered=resolution, retry_after=response.retry_after)
        if status.state is not TaskState.SUCCEEDED or reached(status, resolution):
            return status
        if resolution == HD:
            response = await self._http.request(
                "GET", HD_PATH, params={"taskId": kie_id, "index": "0"}, classify=classify
            )
            return parse_hd(response.json(), retry_after=response.retry_after)
        # Asking again never orders a second 4k file (KIE answers "processing"), so a lost answer may be
        # asked for again like a read.
        response = await self._http.request(
            "POST", UHD_PATH, json_body={"taskId": kie_id, "index": 0}, classify=classify, idempotent=True
        )
        return parse_uhd(response.json(), retry_after=response.retry_after)

    async def download(self, status: TaskStatus, *, max_bytes: int) -> AsyncIterator[bytes]:
        if status.result is None:
            raise ValueError("download() needs a succeeded status with a result")
        async for chunk in self._http.stream(
            status.result.url, max_bytes=max_bytes, classify=classify_download
        ):
            yield chunk

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> CallbackEvent:
        try:
            payload = json.loads(body)
        except ValueError:
            raise CallbackRejected("KIE callback is not JSON") from None
        task_id = callback_task_id(payload)
        if self._hmac_key is not None:
            verify_signature(headers, task_id, self._hmac_key, now=self._clock())
        return CallbackEvent(task_id, parse_callback_status(payload))

    async def close(self) -> None:
        await self._http.close()
        await self._upload_http.close()


#: Status reads poll every 10 s at most; task updates also arrive as signed per-task callbacks.
DESCRIPTOR = ProviderDescriptor(
    name=NAME,
    base_url=DEFAULT_BASE_URL,
    adapters={NAME: KieVeoProvider},
    settings=(
        Setting("upload_base_url", AnyHttpUrl, AnyHttpUrl(DEFAULT_UPLOAD_BASE_URL)),
        Setting("webhook_hmac_key"),
    ),
    callbacks=Callbacks.PER_TASK,
    min_poll_interval=10.0,
)
