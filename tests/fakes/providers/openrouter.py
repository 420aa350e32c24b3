"""A fake of OpenRouter's video generation API on loopback (reference/providers.md §10).

Two sites: the API (`url`, everything below `/api/v1`, as on openrouter.ai) and another host
(`elsewhere_url`) that records whatever reaches it and serves files, standing in for a storage host a
content redirect leads to, or for a polling or result URL that points away from the API.

The API checks what the real one documents: Bearer auth on everything but the model list, a known
model, values from that model's capability lists (the fake refuses others with 400; whether the real
API refuses or clamps is UNCONFIRMED), an HTTPS `callback_url`, no `size` together with `resolution` or
`aspect_ratio`. Errors are `{"error": {"code", "message"}}`. Jobs follow a `JobScript` copied from
`script` at submit:

* `polls`: polls answered `in_progress` before the job is terminal (the create answers `pending`);
* `outcome`: completed, failed (a provider error), policy ("Content policy violation", a plain string),
  cancelled or expired;
* `polling_url`: absolute, relative (`/api/v1/videos/{id}`), elsewhere (another host) or absent;
* `unsigned_urls`: api (the content endpoint), relative, elsewhere, or none;
* `cost`: usage.cost (None: null).

`fail_next(endpoint, status, …)` answers the next calls with an error (429 + Retry-After, 5xx, HTML);
`break_next("create", fault, made=…)` gives a create HTML under 202 or no answer until the client gives
up, after the job was made (and paid) or not; `creates()` counts paid jobs. The content endpoint needs
the key, answers 404 once `expired`, can redirect to the other host (`content_redirect`) and serves
`video_bytes` declared or chunked, held halfway while `hold_download` is unset.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from aiohttp import web

API_KEY = "sk-or-v1-test-0123456789abcdef"
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
POLICY_MESSAGE = "Content policy violation"
PROVIDER_ERROR = "Provider error: upstream generation failed"

#: `GET /videos/models` as documented: capability lists per model, some null (no constraint).
MODELS: list[dict[str, Any]] = [
    {
        "id": "google/veo-3.1",
        "canonical_slug": "google/veo-3.1-20260115",
        "name": "Google: Veo 3.1",
        "created": 1770000000,
        "description": "Veo 3.1",
        "supported_resolutions": ["720p", "1080p"],
        "supported_aspect_ratios": ["16:9", "9:16"],
        "supported_sizes": ["1280x720", "720x1280", "1920x1080", "1080x1920"],
        "supported_durations": [4, 6, 8],
        "supported_frame_images": ["first_frame", "last_frame"],
        "generate_audio": True,
        "seed": True,
        "pricing_skus": {"per-video-second": "0.40", "per-video-second-1080p": "0.50"},
        "allowed_passthrough_parameters": ["personGeneration"],
        "upscale_factor": None,
        "creativity": None,
    },
    {
        "id": "openai/sora-2-pro",
        "canonical_slug": "openai/sora-2-pro",
        "name": "OpenAI: Sora 2 Pro",
        "supported_resolutions": ["720p", "1080p"],
        "supported_aspect_ratios": ["16:9", "9:16"],
        "supported_sizes": None,
        "supported_durations": [4, 8, 12],
        "supported_frame_images": ["first_frame"],
        "generate_audio": True,
        "seed": False,
        "pricing_skus": {"per-video-second": "0.30"},
        "allowed_passthrough_parameters": None,
        "upscale_factor": None,
        "creativity": None,
    },
    {
        "id": "alibaba/wan-2.6",
        "canonical_slug": "alibaba/wan-2.6",
        "name": "Alibaba: Wan 2.6",
        "supported_resolutions": None,
        "supported_aspect_ratios": None,
        "supported_sizes": None,
        "supported_durations": None,
        "supported_frame_images": None,
        "generate_audio": None,
        "seed": None,
        "pricing_skus": {"per-video-second": "0.10"},
        "allowed_passthrough_parameters": None,
        "upscale_factor": None,
        "creativity": None,
    },
    {
        "id": "minimax/hailuo-3",
        "canonical_slug": "minimax/hailuo-3",
        "name": "MiniMax: Hailuo 3",
        "supported_resolutions": ["768p", "1080p"],
        "supported_aspect_ratios": ["16:9"],
        "supported_sizes": None,
        "supported_durations": ["6", "10"],
        "supported_frame_images": ["first_frame"],
        "generate_audio": False,
        "seed": False,
        "pricing_skus": {"per-video": "0.50"},
        "allowed_passthrough_parameters": None,
        "upscale_factor": None,
        "creativity": None,
    },
]
RESOLUTIONS = frozenset({"480p", "720p", "768p", "1080p", "1K", "2K", "4K"})
ASPECT_RATIOS = frozenset({"16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9", "9:21"})
BODY_FIELDS = frozenset(
    {
        "model",
        "prompt",
        "duration",
        "resolution",
        "aspect_ratio",
        "size",
        "frame_images",
        "input_references",
        "generate_audio",
        "seed",
        "callback_url",
        "provider",
    }
)

Endpoint = Literal["models", "create", "poll", "content"]
Outcome = Literal["completed", "failed", "policy", "cancelled", "expired"]
PollingUrl = Literal["absolute", "relative", "elsewhere", "absent"]
UnsignedUrls = Literal["api", "relative", "elsewhere", "none"]
AnswerFault = Literal["malformed", "stall"]


@dataclass
class JobScript:
    polls: int = 1
    outcome: Outcome = "completed"
    polling_url: PollingUrl = "absolute"
    unsigned_urls: UnsignedUrls = "api"
    cost: float | None = 0.25


@dataclass
class FakeJob:
    id: str
    body: dict[str, Any]
    script: JobScript
    status: str = "pending"
    polls: int = 0

    @property
    def terminal(self) -> bool:
        return self.status in ("completed", "failed", "cancelled", "expired")


@dataclass
class Seen:
    """One request as it arrived (for assertions on what the adapter sent, and where)."""

    site: Literal["api", "elsewhere"]
    method: str
    path_qs: str
    headers: dict[str, str]
    json: Any = None


@dataclass
class _Injected:
    status: int
    body: dict[str, Any] | str
    headers: dict[str, str] = field(default_factory=dict)


def error_body(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """X-OpenRouter-Signature: `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>," + body)>`."""
    mac = hmac.new(secret.encode(), f"{timestamp},".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


class FakeOpenRouter:
    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.script = JobScript()
        self.jobs: dict[str, FakeJob] = {}
        self.seen: list[Seen] = []
        #: Calls per endpoint, refused ones included.
        self.hits: Counter[str] = Counter()
        self.expired = False
        self.content_redirect = False
        self.video_bytes = MP4_HEAD + bytes(range(256)) * 64
        self.declare_length = True
        self.hold_download: asyncio.Event | None = None
        self.downloads_finished = 0
        self._injected: dict[str, list[_Injected]] = {}
        self._broken: list[tuple[AnswerFault, bool]] = []
        self._ids = itertools.count(1)
        self._runners: list[web.AppRunner] = []
        self.url = self.elsewhere_url = ""

    # ---------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        api = web.Application()
        api.router.add_get("/api/v1/videos/models", self._models)
        api.router.add_post("/api/v1/videos", self._create)
        api.router.add_get("/api/v1/videos/{id}", self._poll)
        api.router.add_get("/api/v1/videos/{id}/content", self._content)
        elsewhere = web.Application()
        elsewhere.router.add_route("*", "/{path:.*}", self._elsewhere)
        self.url = await self._serve(api)
        self.elsewhere_url = await self._serve(elsewhere)

    async def _serve(self, app: web.Application) -> str:
        runner = web.AppRunner(app, handler_cancellation=True)  # a stalled answer ends at close
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self.hold_download is not None:
            self.hold_download.set()
        for runner in self._runners:
            await runner.cleanup()

    @property
    def base_url(self) -> str:
        """What OPENROUTER_BASE_URL would be."""
        return f"{self.url}/api/v1"

    # ---------------------------------------------------------------------------------------- scripting

    def fail_next(
        self,
        endpoint: Endpoint,
        status: int,
        *,
        message: str = "injected failure",
        headers: dict[str, str] | None = None,
        times: int = 1,
        raw: str | None = None,
    ) -> None:
        """Answer the next `times` calls to `endpoint` with this error (`raw`: a non-JSON body)."""
        body: dict[str, Any] | str = raw if raw is not None else error_body(status, message)
        self._injected.setdefault(endpoint, []).extend(
            _Injected(status, body, headers or {}) for _ in range(times)
        )

    def break_next(self, fault: AnswerFault, *, made: bool = True) -> None:
        """The next valid create gets an HTML page under 202 ("malformed") or nothing until the client
        gives up ("stall"); `made`: the job was made (and paid) before the answer broke."""
        self._broken.append((fault, made))

    def creates(self) -> int:
        """Jobs made: each one is paid."""
        return len(self.jobs)

    def at(self, site: Literal["api", "elsewhere"], method: str | None = None) -> list[Seen]:
        return [s for s in self.seen if s.site == site and (method is None or s.method == method)]

    def webhook(
        self, job_id: str, secret: str, *, timestamp: int, status: str = "completed"
    ) -> tuple[dict[str, str], bytes]:
        """A signed delivery of the event envelope for one job reaching `status`."""
        data: dict[str, Any] = {
            "id": job_id,
            "status": status,
            "generation_id": f"gen-{job_id}",
            "model": "google/veo-3.1",
        }
        if status == "completed":
            data["unsigned_urls"] = [f"{self.base_url}/videos/{job_id}/content?index=0"]
            data["usage"] = {"cost": 0.5, "is_byok": False}
        elif status == "cancelled":
            data["error"] = "Job was cancelled"
        elif status == "failed":
            data["error"] = POLICY_MESSAGE
        event = {"type": f"video.generation.{status}", "created_at": "2026-04-24T12:00:00.000Z", "data": data}
        body = json.dumps(event).encode()
        headers = {
            "Content-Type": "application/json",
            "X-OpenRouter-Idempotency-Key": f"{job_id}-{status}",
            "X-OpenRouter-Signature": sign(secret, timestamp, body),
        }
        return headers, body

    # -------------------------------------------------------------------------------------------- API

    @staticmethod
    def _error(status: int, message: str) -> web.Response:
        return web.json_response(error_body(status, message), status=status)

    async def _record(self, request: web.Request, site: Literal["api", "elsewhere"]) -> Seen:
        seen = Seen(site, request.method, request.path_qs, dict(request.headers))
        if request.can_read_body:
            try:
                seen.json = json.loads(await request.read())
            except ValueError:
                seen.json = None
        self.seen.append(seen)
        return seen

    def _guard(self, request: web.Request, endpoint: Endpoint, *, auth: bool = True) -> web.Response | None:
        self.hits[endpoint] += 1
        if auth:
            given = request.headers.get("Authorization")
            if given is None:
                return self._error(401, "Missing Authentication header")
            if given != f"Bearer {self.api_key}":
                return self._error(401, f"No auth credentials found for key {given.removeprefix('Bearer ')}")
        queue = self._injected.get(endpoint)
        if queue:
            injected = queue.pop(0)
            if isinstance(injected.body, str):
                return web.Response(status=injected.status, text=injected.body, headers=injected.headers)
            return web.json_response(injected.body, status=injected.status, headers=injected.headers)
        return None

    async def _models(self, request: web.Request) -> web.Response:
        await self._record(request, "api")
        if (denied := self._guard(request, "models", auth=False)) is not None:
            return denied
        return web.json_response({"data": MODELS})

    @staticmethod
    def _model(model_id: Any) -> dict[str, Any] | None:
        return next((m for m in MODELS if model_id in (m["id"], m["canonical_slug"])), None)

    @staticmethod
    def _refusal(body: Any) -> str | None:
        """Why the create body is invalid, or None."""
        if not isinstance(body, dict):
            return "The body must be a JSON object"
        unknown = set(body) - BODY_FIELDS
        if unknown:
            return f"Unknown parameter: {sorted(unknown)[0]}"
        model = FakeOpenRouter._model(body.get("model"))
        if model is None:
            return f"Model {body.get('model')!r} is not a video generation model"
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return "prompt is required for this model"
        checks = [
            ("duration", model["supported_durations"], lambda v: isinstance(v, int) and v >= 1),
            ("resolution", model["supported_resolutions"], lambda v: v in RESOLUTIONS),
            ("aspect_ratio", model["supported_aspect_ratios"], lambda v: v in ASPECT_RATIOS),
        ]
        for name, allowed, valid in checks:
            if name not in body:
                continue
            value = body[name]
            if not valid(value) or (allowed is not None and str(value) not in [str(a) for a in allowed]):
                return f"Invalid {name}: {value!r}"
        if "size" in body and ("resolution" in body or "aspect_ratio" in body):
            return "Send size or resolution/aspect_ratio, not both"
        if "generate_audio" in body and (
            not isinstance(body["generate_audio"], bool)
            or (body["generate_audio"] and model["generate_audio"] is False)
        ):
            return "generate_audio is not supported by this model"
        if "seed" in body and (not isinstance(body["seed"], int) or model["seed"] is False):
            return "seed is not supported by this model"
        callback = body.get("callback_url")
        if callback is not None and (not isinstance(callback, str) or not callback.startswith("https://")):
            return "callback_url must be an HTTPS URL"
        for frame in body.get("frame_images") or []:
            url = frame.get("image_url", {}).get("url", "") if isinstance(frame, dict) else ""
            kinds = model["supported_frame_images"]
            if not url.startswith("https://") or (kinds is not None and frame.get("frame_type") not in kinds):
                return "frame_images need a public https URL and a supported frame_type"
        return None

    def _polling_url(self, job: FakeJob) -> str | None:
        path = f"/api/v1/videos/{job.id}"
        return {
            "absolute": f"{self.url}{path}",
            "relative": path,
            "elsewhere": f"{self.elsewhere_url}{path}",
            "absent": None,
        }[job.script.polling_url]

    def _object(self, job: FakeJob) -> dict[str, Any]:
        answer: dict[str, Any] = {"id": job.id, "status": job.status}
        if (polling := self._polling_url(job)) is not None:
            answer["polling_url"] = polling
        if job.status != "pending":
            answer["generation_id"] = f"gen-{job.id}"
        if job.status == "completed":
            content = f"/api/v1/videos/{job.id}/content?index=0"
            urls = {
                "api": [f"{self.url}{content}"],
                "relative": [content],
                "elsewhere": [f"{self.elsewhere_url}/files/{job.id}.mp4"],
                "none": None,
            }[job.script.unsigned_urls]
            if urls is not None:
                answer["unsigned_urls"] = urls
            answer["usage"] = {"cost": job.script.cost, "is_byok": False}
        elif job.status == "failed":
            answer["error"] = POLICY_MESSAGE if job.script.outcome == "policy" else PROVIDER_ERROR
        elif job.status == "cancelled":
            answer["error"] = "Job was cancelled"
        elif job.status == "expired":
            answer["error"] = "Job exceeded maximum time to live"
        return answer

    async def _create(self, request: web.Request) -> web.Response:
        seen = await self._record(request, "api")
        if (denied := self._guard(request, "create")) is not None:
            return denied
        refusal = self._refusal(seen.json)
        if refusal is not None:
            return self._error(400, refusal)
        job = FakeJob(f"job-{next(self._ids):04d}", seen.json, replace(self.script))
        if not self._broken:
            self.jobs[job.id] = job
            return web.json_response(self._object(job), status=202)
        fault, made = self._broken.pop(0)
        if made:
            self.jobs[job.id] = job
        if fault == "stall":
            await asyncio.sleep(3600)  # cancelled when the client hangs up
        return web.Response(status=202, text="<html>accepted?</html>", content_type="text/html")

    async def _poll(self, request: web.Request) -> web.Response:
        await self._record(request, "api")
        if (denied := self._guard(request, "poll")) is not None:
            return denied
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return self._error(404, "Video generation job not found")
        if not job.terminal:
            if job.polls >= job.script.polls:
                outcome = job.script.outcome
                job.status = "failed" if outcome == "policy" else outcome
            else:
                job.status = "in_progress"
            job.polls += 1
        return web.json_response(self._object(job))

    async def _content(self, request: web.Request) -> web.StreamResponse:
        await self._record(request, "api")
        if (denied := self._guard(request, "content")) is not None:
            return denied
        job = self.jobs.get(request.match_info["id"])
        if job is None or self.expired:
            return self._error(404, "Video not found or expired")
        if job.status != "completed":
            return self._error(400, "Video is not ready")
        if request.query.get("index", "0") != "0":
            return self._error(404, "No output at this index")
        if self.content_redirect:
            raise web.HTTPFound(f"{self.elsewhere_url}/files/{job.id}.mp4")
        return await self._stream(request)

    async def _elsewhere(self, request: web.Request) -> web.StreamResponse:
        """Another host: it serves result files, and records every request (a key must never arrive)."""
        await self._record(request, "elsewhere")
        if request.method == "GET" and request.path.startswith("/files/"):
            if self.expired:
                return web.Response(status=403, text="<Error><Code>AccessDenied</Code></Error>")
            return await self._stream(request)
        return web.Response(status=404, text="not here")

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        if self.declare_length:
            response.content_length = len(self.video_bytes)
        await response.prepare(request)
        half = len(self.video_bytes) // 2
        await response.write(self.video_bytes[:half])
        if self.hold_download is not None:
            await self.hold_download.wait()
        await response.write(self.video_bytes[half:])
        await response.write_eof()
        self.downloads_finished += 1
        return response
