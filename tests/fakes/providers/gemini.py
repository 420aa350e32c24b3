"""A fake of Veo on the Gemini API (reference/providers.md §2), on loopback, for the real adapter.

The API host (127.0.0.1) checks `x-goog-api-key` and the predictLongRunning body the way Google does
(instances/parameters shape, enum values, integer `durationSeconds`, the 8-second rules, the one allowed
`personGeneration` per model and mode, no `seed`/`generateAudio`) and answers errors in Google's envelope
`{"error": {"code", "message", "status"}}`. Operations finish as scripted (`Outcome`); a finished video's
file URI 302-redirects to a second host (127.0.0.2, the "CDN") that serves the MP4 and records the
headers it saw, so tests can prove the key never leaves the API host. `Fault`s inject 429/5xx/403.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

API_KEY = "test-gemini-key-0123456789"
#: A tiny MP4 header followed by filler, long enough to arrive in several chunks.
VIDEO = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(range(256)) * 1024

MODELS = {
    "veo-3.1-generate-preview": "veo-3.1",
    "veo-3.1-fast-generate-preview": "veo-3.1",
    "veo-3.1-lite-generate-preview": "veo-3.1-lite",
    "veo-3.0-generate-001": "veo-3",
    "veo-3.0-fast-generate-001": "veo-3",
    "veo-2.0-generate-001": "veo-2",
}
#: Which kinds of input each family takes, and the personGeneration value each kind requires.
PERSON_RULES = {
    "veo-3.1": {
        "text": "allow_all",
        "extension": "allow_all",
        "image": "allow_adult",
        "interpolation": "allow_adult",
        "reference": "allow_adult",
    },
    "veo-3.1-lite": {
        "text": "allow_all",
        "extension": "allow_all",
        "image": "allow_adult",
        "interpolation": "allow_adult",
    },
    "veo-3": {"text": "allow_all", "image": "allow_adult"},
    "veo-2": {"text": "allow_all", "image": "allow_adult"},
}
DURATIONS = {"veo-3.1": {4, 6, 8}, "veo-3.1-lite": {4, 6, 8}, "veo-3": {4, 6, 8}, "veo-2": {5, 6, 8}}
RESOLUTIONS = {
    "veo-3.1": {"720p", "1080p", "4k"},
    "veo-3.1-lite": {"720p", "1080p"},
    "veo-3": {"720p", "1080p"},
}
INSTANCE_FIELDS = {"prompt", "image", "lastFrame", "referenceImages", "video"}
PARAMETER_FIELDS = {
    "aspectRatio",
    "resolution",
    "durationSeconds",
    "negativePrompt",
    "personGeneration",
    "sampleCount",
    "enhancePrompt",
}
IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp"}
HTTP_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
}
RPC_NUMBERS = {"INVALID_ARGUMENT": 3, "RESOURCE_EXHAUSTED": 8, "INTERNAL": 13, "UNAVAILABLE": 14}


@dataclass
class Outcome:
    """How the next created operation ends, after `polls` answers that it is still running."""

    kind: Literal["video", "inline", "error", "filtered", "empty"] = "video"
    polls: int = 0
    error_code: int = 13
    error_message: str = "Video generation failed due to an internal error."
    rai_reasons: tuple[str, ...] = (
        "We encountered an issue with the audio for your prompt. You have not been charged.",
    )


@dataclass
class Fault:
    """One scripted HTTP failure for an endpoint ("create", "poll", "download" or "cdn")."""

    status: int
    grpc_status: str = ""
    message: str = "scripted failure"
    retry_delay: str | None = None
    retry_after: str | None = None


@dataclass
class Operation:
    name: str
    model: str
    body: dict[str, Any]
    outcome: Outcome
    polls: int = 0


@dataclass
class Seen:
    host: Literal["api", "cdn"]
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


def _envelope(
    status: int, grpc_status: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict:
    error: dict[str, Any] = {"code": status, "message": message, "status": grpc_status}
    if details:
        error["details"] = details
    return {"error": error}


class FakeGemini:
    def __init__(self, api_key: str = API_KEY, video: bytes = VIDEO) -> None:
        self.api_key = api_key
        self.video = video
        self.outcomes: deque[Outcome] = deque()
        self.faults: dict[str, deque[Fault]] = {}
        self.banned_words = ("forbidden-celebrity",)
        self.operations: dict[str, Operation] = {}
        self.files: dict[str, bytes] = {}
        self.expired_files: set[str] = set()  # the API answers 404 for these
        self.expired_links: set[str] = set()  # the CDN answers 403 (signed URL expired) for these
        self.cdn_chunk = 1 << 14
        self.cdn_chunk_delay = 0.0
        self.cdn_stall = False  # the CDN sends the headers, then nothing until close()
        self.cdn_content_length = True
        self.created: list[dict[str, Any]] = []
        self.seen: list[Seen] = []
        self.hits: Counter[str] = Counter()
        self._ids = itertools.count(1)
        self._runners: list[web.AppRunner] = []
        self._stall = asyncio.Event()
        self.url = ""
        self.cdn_url = ""

    # lifecycle

    async def start(self) -> None:
        api = web.Application()
        api.router.add_post("/v1beta/models/{model}:predictLongRunning", self._create)
        api.router.add_get("/v1beta/models/{model}/operations/{op}", self._poll)
        api.router.add_get("/v1beta/files/{file}:download", self._download)
        cdn = web.Application()
        cdn.router.add_get("/cdn/{file}", self._cdn)
        self.url = await self._serve(api, "127.0.0.1")
        self.cdn_url = await self._serve(cdn, "127.0.0.2")

    async def _serve(self, app: web.Application, host: str) -> str:
        runner = web.AppRunner(app, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, host, 0)
        await site.start()
        self._runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://{host}:{port}"

    async def close(self) -> None:
        self._stall.set()
        for runner in self._runners:
            await runner.cleanup()

    # scripting

    def script(self, *outcomes: Outcome) -> None:
        """Outcomes for the next operations, in order; later ones default to a video on the first poll."""
        self.outcomes.extend(outcomes)

    def fail(self, endpoint: str, *faults: Fault) -> None:
        self.faults.setdefault(endpoint, deque()).extend(faults)

    def file_uri(self, file_id: str) -> str:
        return f"{self.url}/v1beta/files/{file_id}:download?alt=media"

    def cdn_headers(self) -> list[dict[str, str]]:
        return [s.headers for s in self.seen if s.host == "cdn"]

    # helpers

    @staticmethod
    def _error(status: int, message: str, grpc_status: str = "", **details: Any) -> web.Response:
        grpc = grpc_status or HTTP_STATUS_NAMES.get(status, "INTERNAL")
        extra = [details] if details else None
        return web.json_response(_envelope(status, grpc, message, extra), status=status)

    def _fault(self, endpoint: str) -> web.Response | None:
        queue = self.faults.get(endpoint)
        if not queue:
            return None
        fault = queue.popleft()
        details = []
        if fault.retry_delay is not None:
            details.append(
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": fault.retry_delay}
            )
        grpc = fault.grpc_status or HTTP_STATUS_NAMES.get(fault.status, "UNAVAILABLE")
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
        return web.json_response(
            _envelope(fault.status, grpc, fault.message, details), status=fault.status, headers=headers
        )

    def _record(self, host: Literal["api", "cdn"], request: web.Request) -> None:
        self.seen.append(
            Seen(host, request.method, request.path, {k.lower(): v for k, v in request.headers.items()})
        )

    def _auth(self, request: web.Request) -> web.Response | None:
        """Google's answers: no key → 403 PERMISSION_DENIED; a wrong key → 400 with API_KEY_INVALID."""
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            return self._error(
                403,
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.",
            )
        if key != self.api_key:
            return self._error(
                400,
                "API key not valid. Please pass a valid API key.",
                "INVALID_ARGUMENT",
                **{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"},
            )
        return None

    # API host

    async def _create(self, request: web.Request) -> web.Response:
        self._record("api", request)
        self.hits["create"] += 1
        refused = self._auth(request) or self._fault("create")
        if refused is not None:
            return refused
        model = request.match_info["model"]
        if model not in MODELS:
            return self._error(404, f"models/{model} is not found for API version v1beta.")
        try:
            body = await request.json()
        except ValueError:
            return self._error(400, "Invalid JSON payload received.")
        problem = self._check_body(MODELS[model], body)
        if problem is not None:
            return self._error(400, problem)
        prompt = str(body["instances"][0].get("prompt", "")).lower()
        if any(word in prompt for word in self.banned_words):
            return self._error(
                400,
                "The prompt could not be submitted. This prompt contains words that violate the "
                "usage guidelines. Try rephrasing the prompt.",
            )
        self.created.append(body)
        name = f"models/{model}/operations/op{next(self._ids)}"
        outcome = self.outcomes.popleft() if self.outcomes else Outcome()
        self.operations[name] = Operation(name, model, body, outcome)
        return web.json_response({"name": name})

    async def _poll(self, request: web.Request) -> web.Response:
        self._record("api", request)
        self.hits["poll"] += 1
        refused = self._auth(request) or self._fault("poll")
        if refused is not None:
            return refused
        name = f"models/{request.match_info['model']}/operations/{request.match_info['op']}"
        operation = self.operations.get(name)
        if operation is None:
            return self._error(404, f"Operation {name} not found.")
        operation.polls += 1
        if operation.polls <= operation.outcome.polls:
            # Google omits `done` until the operation finishes; later polls say `false` explicitly.
            return web.json_response(
                {"name": name} if operation.polls == 1 else {"name": name, "done": False}
            )
        return web.json_response(self._finished(operation))

    def _finished(self, operation: Operation) -> dict[str, Any]:
        outcome = operation.outcome
        done: dict[str, Any] = {"name": operation.name, "done": True}
        if outcome.kind == "error":
            done["error"] = {"code": outcome.error_code, "message": outcome.error_message}
            return done
        generated: dict[str, Any] = {}
        file_id = operation.name.rsplit("/", 1)[-1]
        if outcome.kind == "video":
            self.files[file_id] = self.video
            generated["generatedSamples"] = [{"video": {"uri": self.file_uri(file_id)}}]
        elif outcome.kind == "inline":
            encoded = base64.b64encode(self.video).decode()
            generated["generatedSamples"] = [{"video": {"encodedVideo": encoded, "encoding": "video/mp4"}}]
        elif outcome.kind == "filtered":
            generated["raiMediaFilteredCount"] = 1
            generated["raiMediaFilteredReasons"] = list(outcome.rai_reasons)
        done["response"] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
            "generateVideoResponse": generated,
        }
        return done

    async def _download(self, request: web.Request) -> web.Response:
        self._record("api", request)
        self.hits["download"] += 1
        refused = self._auth(request) or self._fault("download")
        if refused is not None:
            return refused
        file_id = request.match_info["file"]
        if file_id not in self.files or file_id in self.expired_files:
            return self._error(404, f"File {file_id} not found or has expired.")
        raise web.HTTPFound(f"{self.cdn_url}/cdn/{file_id}.mp4?sig=signed-{file_id}")

    # CDN host

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        self._record("cdn", request)
        self.hits["cdn"] += 1
        fault = self._fault("cdn")
        if fault is not None:
            return fault
        file_id = request.match_info["file"].removesuffix(".mp4")
        if request.query.get("sig") != f"signed-{file_id}" or file_id not in self.files:
            return web.Response(status=403, text="<Error><Code>AccessDenied</Code></Error>")
        if file_id in self.expired_links:
            return web.Response(
                status=403,
                content_type="application/xml",
                text="<Error><Code>ExpiredToken</Code><Message>Request has expired</Message></Error>",
            )
        data = self.files[file_id]
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        if self.cdn_content_length:
            response.content_length = len(data)
        await response.prepare(request)
        if self.cdn_stall:
            await self._stall.wait()  # never set before close(): the client's read timeout decides
        for start in range(0, len(data), self.cdn_chunk):
            await response.write(data[start : start + self.cdn_chunk])
            if self.cdn_chunk_delay:
                await asyncio.sleep(self.cdn_chunk_delay)
        await response.write_eof()
        return response

    # request checks, as the real API does them

    def _check_body(self, family: str, body: Any) -> str | None:
        if not isinstance(body, dict):
            return "Invalid JSON payload received. Expected an object."
        unknown = set(body) - {"instances", "parameters"}
        if unknown:
            return f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}": Cannot find field.'
        instances = body.get("instances")
        if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
            return "instances must hold exactly one instance."
        parameters = body.get("parameters", {})
        if not isinstance(parameters, dict):
            return "parameters must be an object."
        kind, problem = self._check_instance(instances[0])
        if problem is not None:
            return problem
        if kind not in PERSON_RULES[family]:
            return f"This model does not support {kind} input."
        return self._check_parameters(family, kind, parameters)

    def _check_instance(self, instance: dict[str, Any]) -> tuple[str, str | None]:
        """The kind of input ("text", "image", "interpolation", "reference", "extension"), or a problem."""
        unknown = set(instance) - INSTANCE_FIELDS
        if unknown:
            return (
                "",
                f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}": Cannot find field.',
            )
        if "prompt" in instance and not isinstance(instance["prompt"], str):
            return "", "prompt must be a string."
        has_prompt = bool(instance.get("prompt", "").strip())
        for key in ("image", "lastFrame"):
            if key in instance and (problem := self._check_image(instance[key])):
                return "", f"{key}: {problem}"
        if "lastFrame" in instance and "image" not in instance:
            return "", "lastFrame requires image (the first frame)."
        if "video" in instance:
            video = instance["video"]
            if not isinstance(video, dict) or set(video) != {"uri"} or not isinstance(video["uri"], str):
                return "", "video must be {uri}: the Gemini API does not accept video bytes."
            if video["uri"] not in {self.file_uri(f) for f in self.files}:
                return "", "Only videos generated by Veo can be extended."
            if set(instance) & {"image", "lastFrame", "referenceImages"}:
                return "", "video cannot be combined with image, lastFrame or referenceImages."
            return "extension", None
        if "referenceImages" in instance:
            refs = instance["referenceImages"]
            if not isinstance(refs, list) or not 1 <= len(refs) <= 3:
                return "", "referenceImages takes 1 to 3 images."
            for ref in refs:
                if not isinstance(ref, dict) or set(ref) != {"image", "referenceType"}:
                    return "", "referenceImages[] must be {image, referenceType}."
                if str(ref["referenceType"]).lower() != "asset":
                    return "", "referenceType must be asset on the Gemini API."
                if problem := self._check_image(ref["image"]):
                    return "", f"referenceImages[].image: {problem}"
            if set(instance) & {"image", "lastFrame"}:
                return "", "referenceImages cannot be combined with image or lastFrame."
            if not has_prompt:
                return "", "A prompt is required with reference images."
            return "reference", None
        if "lastFrame" in instance:
            return "interpolation", None
        if "image" in instance:
            return "image", None
        return ("text", None) if has_prompt else ("", "A prompt is required for text-to-video.")

    @staticmethod
    def _check_image(image: Any) -> str | None:
        if not isinstance(image, dict) or set(image) != {"bytesBase64Encoded", "mimeType"}:
            return "an image must be {bytesBase64Encoded, mimeType} (gcsUri is not supported)."
        if image["mimeType"] not in IMAGE_TYPES:
            return f"unsupported mimeType {image['mimeType']!r}."
        try:
            base64.b64decode(image["bytesBase64Encoded"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            return "bytesBase64Encoded is not valid base64."
        return None

    @staticmethod
    def _check_parameters(family: str, kind: str, parameters: dict[str, Any]) -> str | None:
        for key in parameters:
            if key not in PARAMETER_FIELDS:
                return f"`{key}` isn't supported by this model. Please remove it and try again."
        aspect = parameters.get("aspectRatio", "16:9")
        if aspect not in ("16:9", "9:16"):
            return f"aspectRatio {aspect!r} is not supported; use 16:9 or 9:16."
        if "resolution" in parameters and family == "veo-2":
            return "`resolution` isn't supported by this model. Please remove it and try again."
        resolution = parameters.get("resolution", "720p")
        if family != "veo-2" and resolution not in RESOLUTIONS[family]:
            return f"resolution {resolution!r} is not supported by this model."
        if kind == "extension" and resolution != "720p":
            return "Video extension is only supported at 720p."
        duration = parameters.get("durationSeconds", 8)
        if not isinstance(duration, int) or isinstance(duration, bool):
            return "durationSeconds must be an integer."
        if duration not in DURATIONS[family]:
            return f"durationSeconds {duration} is out of the supported range for this model."
        if duration != 8 and (
            resolution in ("1080p", "4k") or kind in ("extension", "reference", "interpolation")
        ):
            return f"durationSeconds must be 8 for {resolution} / {kind}."
        person = parameters.get("personGeneration")
        expected = PERSON_RULES[family][kind]
        if person is not None and person != expected:
            return f"personGeneration {person!r} is not allowed for this use case; use {expected!r}."
        count = parameters.get("sampleCount", 1)
        if not isinstance(count, int) or not 1 <= count <= (2 if family == "veo-2" else 1):
            return "sampleCount is out of range for this model."
        return None
