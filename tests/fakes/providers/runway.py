"""A fake Runway API on loopback (reference/providers.md §6), reached through RUNWAY_BASE_URL.

`POST /v1/text_to_video` and `/v1/image_to_video` make a task and answer `{"id", "estimatedCost"}`;
`GET /v1/tasks/{id}` answers the task object (PENDING → THROTTLED → RUNNING with `progress` → SUCCEEDED
with signed `output[]` URLs, or FAILED with `failure`/`failureCode`, or CANCELLED); `DELETE
/v1/tasks/{id}` cancels or deletes it (204), after which it is 404 `{"error": "Could not find Task"}`.
Every API call needs `Authorization: Bearer <key>` (401) and `X-Runway-Version: 2024-11-06` (400).
Bodies are validated per model the way Runway does, with its `Validation of body failed` shape: unknown
keys (`unrecognized_keys`), models an endpoint does not take (`invalid_value`), required fields, ratio and
duration values, prompt length in UTF-16 units, image URIs (data URIs of PNG/JPEG/WebP up to 5 MB, or
HTTPS URLs on a domain name), and `promptImage` positions. Result files are served from a second port
(the CDN) and need their `_jwt` token.

Scripts (`Script`, queued per created task) set how many polls each state lasts, the outcome (success,
failure code and text, cancelled, success without output), the reported cost, and how the result file
behaves (expired, slow, large). `fail_next` injects HTTP failures (429 with Retry-After, 5xx, 401, 400
out of credits) instead of a call, or after carrying it out (its answer lost); `break_next_ack` answers
a create with truncated JSON, an answer without an id, or holds it past any read timeout, after making the
task or not; `creates()` counts create requests.
UNCONFIRMED details (message texts, the order of the auth and version checks) follow the reference's
best guesses.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from aiohttp import web

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64
API_VERSION = "2024-11-06"
DOCS = "https://docs.dev.runwayml.com/api"
NOT_FOUND = {"error": "Could not find Task"}
NO_CREDITS = "You do not have enough credits to run this task."
#: Runway's limit on an inline image.
MAX_DATA_URI = 5 * 1024 * 1024
_DATA_URI = re.compile(r"data:image/(png|jpeg|webp);base64,(.+)", re.DOTALL)

_SIX = {"1280:720", "720:1280", "1104:832", "960:960", "832:1104", "1584:672"}
_WIDE = {"1280:720", "720:1280"}
_VEO = {"1280:720", "720:1280", "1080:1920", "1920:1080"}
_HAPPYHORSE = {
    "1280:720",
    "720:1280",
    "960:960",
    "1108:832",
    "832:1108",
    "1920:1080",
    "1080:1920",
    "1440:1440",
    "1662:1248",
    "1248:1662",
}


@dataclass(frozen=True)
class Schema:
    """One model on one endpoint: the fake's own copy of the SDK's unions, kept apart from the adapter's
    table so that a mistake in one is caught by the other."""

    required: frozenset[str]
    optional: frozenset[str] = frozenset()
    ratios: frozenset[str] = frozenset()
    durations: frozenset[int] | None = None
    prompt_max: int | None = 1000
    positions: frozenset[str] = frozenset({"first"})
    resolutions: frozenset[str] = frozenset()


def _s(required: str, optional: str = "", **kw: Any) -> Schema:
    return Schema(frozenset(required.split()) | {"model"}, frozenset(optional.split()), **kw)


_D2_10 = frozenset(range(2, 11))
_VEO_D = frozenset({4, 6, 8})
SCHEMAS: dict[str, dict[str, Schema]] = {
    "text_to_video": {
        "gen4.5": _s("promptText ratio duration", "seed contentModeration", ratios=_WIDE, durations=_D2_10),
        "veo3.1": _s("promptText ratio", "duration audio negativePrompt", ratios=_VEO, durations=_VEO_D),
        "veo3.1_fast": _s("promptText ratio", "duration audio negativePrompt", ratios=_VEO, durations=_VEO_D),
        "veo3": _s("promptText ratio duration", "negativePrompt", ratios=_VEO, durations=frozenset({8})),
        "happyhorse_1_0": _s("promptText", "ratio duration", ratios=frozenset(_HAPPYHORSE), prompt_max=2500),
        "gemini_omni_flash": _s(
            "promptText", "ratio duration", ratios=_WIDE, durations=frozenset(range(3, 11)), prompt_max=None
        ),
    },
    "image_to_video": {
        "gen4.5": _s(
            "promptImage promptText ratio duration", "seed contentModeration", ratios=_SIX, durations=_D2_10
        ),
        "gen4_turbo": _s(
            "promptImage ratio", "promptText duration seed contentModeration", ratios=_SIX, durations=_D2_10
        ),
        "veo3.1": _s(
            "promptImage ratio",
            "promptText duration audio negativePrompt",
            ratios=_VEO,
            durations=_VEO_D,
            positions=frozenset({"first", "last"}),
        ),
        "veo3.1_fast": _s(
            "promptImage ratio",
            "promptText duration audio negativePrompt",
            ratios=_VEO,
            durations=_VEO_D,
            positions=frozenset({"first", "last"}),
        ),
        "veo3": _s(
            "promptImage ratio duration", "promptText negativePrompt", ratios=_VEO, durations=frozenset({8})
        ),
        "happyhorse_1_0": _s(
            "promptImage", "promptText duration resolution", resolutions=frozenset({"720P", "1080P"})
        ),
        "gemini_omni_flash": _s(
            "promptImage",
            "promptText ratio duration",
            ratios=_WIDE,
            durations=frozenset(range(3, 11)),
            prompt_max=None,
        ),
    },
}

Outcome = Literal["success", "failed", "cancelled", "no_video"]
AckFault = Literal["malformed", "no_id", "stall"]
FileMode = Literal["ok", "expired", "slow", "large", "large_declared"]


@dataclass
class Script:
    """How one created task behaves, poll by poll."""

    pending: int = 1  #: GETs answered PENDING first
    throttled: int = 0  #: then THROTTLED (over the tier's concurrency)
    running: int = 1  #: then RUNNING, with a rising `progress`
    outcome: Outcome = "success"
    failure_code: str | None = "INTERNAL"  #: the failureCode of a "failed" outcome (None: null)
    failure: str = "An unexpected error occurred."
    cost_credits: float | None = 50  #: the task's `cost.credits` once it has ended (None: no cost field)
    outputs: int = 1
    file: FileMode = "ok"


@dataclass
class Task:
    id: str
    endpoint: str
    body: dict[str, Any]
    script: Script
    #: (position, mime type, bytes) of the images sent as data URIs, in order.
    images: list[tuple[str, str, bytes]]
    token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    polls: int = 0


@dataclass
class Injected:
    status: int
    body: dict[str, Any]
    method: str | None
    retry_after: str | None
    #: The call is carried out first, then answered with this failure (an answer lost on the way back).
    after_acting: bool

    def response(self) -> web.Response:
        headers = {"Retry-After": self.retry_after} if self.retry_after else None
        return web.json_response(self.body, status=self.status, headers=headers)


@dataclass
class FakeRunway:
    api_key: str = "key_runway_test_0123456789"
    scripts: list[Script] = field(default_factory=list)
    tasks: dict[str, Task] = field(default_factory=dict)
    #: Ids of the tasks DELETE removed, with the status they had then.
    deleted: dict[str, str] = field(default_factory=dict)
    #: (method, path, headers) of every API call.
    api_calls: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    file_headers: list[dict[str, str]] = field(default_factory=list)
    create_bodies: list[Any] = field(default_factory=list)
    injected: list[Injected] = field(default_factory=list)
    #: (fault, task made first) for the next creates.
    broken_acks: list[tuple[AckFault, bool]] = field(default_factory=list)
    #: A "slow" file sends its first chunk, then waits for this before the rest.
    release_slow: asyncio.Event = field(default_factory=asyncio.Event)
    api_url: str = ""
    cdn_url: str = ""
    _runner: web.AppRunner | None = None

    # ------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/{endpoint:text_to_video|image_to_video}", self._create)
        app.router.add_get("/v1/tasks/{id}", self._get)
        app.router.add_delete("/v1/tasks/{id}", self._delete)
        app.router.add_get("/videos/{name}", self._file)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        ports = []
        for _ in range(2):  # one port for the API, one for the "CDN": different hosts to the client
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            ports.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        self.api_url = f"http://127.0.0.1:{ports[0]}"
        self.cdn_url = f"http://127.0.0.1:{ports[1]}"

    async def close(self) -> None:
        self.release_slow.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------------------------ scripting

    def script(self, *scripts: Script) -> None:
        """The next created tasks behave like these (then like the default Script())."""
        self.scripts.extend(scripts)

    def fail_next(
        self,
        status: int,
        *,
        error: str = "injected failure",
        times: int = 1,
        method: str | None = None,
        retry_after: str | None = None,
        after_acting: bool = False,
    ) -> None:
        """The next `times` API calls (with this HTTP `method`, if given) get `{"error": ...}` and `status`,
        instead of being carried out or (`after_acting`) after it."""
        self.injected.extend(
            Injected(status, {"error": error}, method, retry_after, after_acting) for _ in range(times)
        )

    def break_next_ack(self, fault: AckFault, *, made: bool = True) -> None:
        """The next create gets no usable answer: truncated JSON ("malformed"), a 200 without an id
        ("no_id"), or none until the client gives up ("stall"). `made`: the task was created first."""
        self.broken_acks.append((fault, made))

    def creates(self) -> int:
        """Create requests received, refused and broken ones included."""
        return len(self.create_bodies)

    def calls(self, method: str) -> list[str]:
        return [path for m, path, _ in self.api_calls if m == method]

    # ------------------------------------------------------------------------------------ API

    def _refusal(self, request: web.Request) -> web.Response | None:
        """Auth, then the version header, then any injected failure."""
        self.api_calls.append((request.method, request.path, dict(request.headers)))
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": "Invalid API secret."}, status=401)
        if request.headers.get("X-Runway-Version") != API_VERSION:
            return web.json_response(
                {"error": "The X-Runway-Version header must be set to a supported version."}, status=400
            )
        injected = self._injected(request, after_acting=False)
        return injected.response() if injected is not None else None

    def _injected(self, request: web.Request, *, after_acting: bool) -> Injected | None:
        for index, item in enumerate(self.injected):
            if item.after_acting == after_acting and item.method in (None, request.method):
                return self.injected.pop(index)
        return None

    def _answer(self, request: web.Request, response: web.Response) -> web.Response:
        """The answer of a call carried out, unless a failure was injected to replace it."""
        lost = self._injected(request, after_acting=True)
        return lost.response() if lost is not None else response

    async def _create(self, request: web.Request) -> web.Response:
        endpoint = request.match_info["endpoint"]
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self.create_bodies.append(body)
        refused = self._refusal(request)
        if refused is not None:
            return refused
        if not isinstance(body, dict):
            return self._invalid([{"code": "invalid_type", "expected": "object", "path": []}])
        issues, images = self._validate(endpoint, body)
        if issues:
            return self._invalid(issues)
        broken = self.broken_acks.pop(0) if self.broken_acks else None
        task = None
        if broken is None or broken[1]:
            script = self.scripts.pop(0) if self.scripts else Script()
            task = Task(str(uuid.uuid4()), endpoint, body, script, images)
            self.tasks[task.id] = task
        if broken is not None:
            if broken[0] == "stall":
                await asyncio.sleep(3600)  # cancelled when the client hangs up
            if broken[0] == "no_id":
                return web.json_response({"estimatedCost": {"credits": 50}})
            return web.Response(text='{"id": "9a6fc5d5-', content_type="application/json")
        assert task is not None
        return self._answer(request, web.json_response({"id": task.id, "estimatedCost": {"credits": 50}}))

    @staticmethod
    def _invalid(issues: list[dict[str, Any]]) -> web.Response:
        return web.json_response(
            {"error": "Validation of body failed", "issues": issues, "docUrl": DOCS}, status=400
        )

    def _validate(
        self, endpoint: str, body: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], list[tuple[str, str, bytes]]]:
        models = SCHEMAS[endpoint]
        schema = models.get(body.get("model"))  # type: ignore[arg-type]
        if schema is None:
            return [{"code": "invalid_value", "values": sorted(models), "path": ["model"]}], []
        issues: list[dict[str, Any]] = []
        unknown = sorted(set(body) - schema.required - schema.optional)
        if unknown:
            issues.append({"code": "unrecognized_keys", "keys": unknown, "path": []})
        for name in sorted(schema.required - set(body)):
            issues.append({"code": "invalid_type", "message": "Required", "path": [name]})
        issues.extend(self._check_values(body, schema))
        images: list[tuple[str, str, bytes]] = []
        if "promptImage" in body:
            image_issues, images = self._check_images(body["promptImage"], schema)
            issues.extend(image_issues)
        return issues, images

    @staticmethod
    def _check_values(body: dict[str, Any], schema: Schema) -> list[dict[str, Any]]:
        issues: list[dict[str, Any]] = []
        prompt = body.get("promptText")
        if "promptText" in body:
            if not isinstance(prompt, str) or not prompt:
                issues.append(
                    {"code": "too_small", "message": "promptText must not be empty", "path": ["promptText"]}
                )
            elif schema.prompt_max is not None and len(prompt.encode("utf-16-le")) // 2 > schema.prompt_max:
                issues.append(
                    {
                        "code": "too_big",
                        "message": f"promptText must be at most {schema.prompt_max} characters",
                        "path": ["promptText"],
                    }
                )
        if "ratio" in body and body["ratio"] not in schema.ratios:
            issues.append({"code": "invalid_value", "values": sorted(schema.ratios), "path": ["ratio"]})
        if "resolution" in body and body["resolution"] not in schema.resolutions:
            issues.append(
                {"code": "invalid_value", "values": sorted(schema.resolutions), "path": ["resolution"]}
            )
        duration = body.get("duration")
        if "duration" in body:
            if not isinstance(duration, int) or isinstance(duration, bool):
                issues.append({"code": "invalid_type", "expected": "int", "path": ["duration"]})
            elif schema.durations is not None and duration not in schema.durations:
                big = duration > max(schema.durations)
                issues.append(
                    {
                        "code": "too_big" if big else "too_small",
                        "message": f"duration must be one of {sorted(schema.durations)}",
                        "path": ["duration"],
                    }
                )
        seed = body.get("seed")
        if "seed" in body and (
            not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= 4294967295
        ):
            issues.append({"code": "invalid_type", "expected": "int 0..4294967295", "path": ["seed"]})
        for name, kind in (("audio", bool), ("negativePrompt", str)):
            if name in body and not isinstance(body[name], kind):
                issues.append({"code": "invalid_type", "expected": kind.__name__, "path": [name]})
        moderation = body.get("contentModeration")
        if "contentModeration" in body and not (
            isinstance(moderation, dict)
            and set(moderation) <= {"publicFigureThreshold"}
            and moderation.get("publicFigureThreshold", "auto") in ("auto", "low")
        ):
            issues.append({"code": "invalid_value", "path": ["contentModeration"]})
        return issues

    @staticmethod
    def _check_uri(uri: Any, path: list[Any]) -> tuple[dict[str, Any] | None, tuple[str, bytes] | None]:
        """(issue, decoded data URI image): HTTPS on a domain name, runway://, or a data URI ≤ 5 MB."""
        if not isinstance(uri, str):
            return {"code": "invalid_type", "expected": "string", "path": path}, None
        if uri.startswith("data:"):
            match = _DATA_URI.fullmatch(uri)
            if match is None:
                return {"code": "invalid_format", "message": "Invalid data URI", "path": path}, None
            if len(uri) > MAX_DATA_URI:
                return {"code": "too_big", "message": "Data URI exceeds 5MB", "path": path}, None
            try:
                return None, (f"image/{match[1]}", base64.b64decode(match[2], validate=True))
            except (binascii.Error, ValueError):
                return {"code": "invalid_format", "message": "Invalid base64", "path": path}, None
        if uri.startswith("runway://"):
            return None, None
        parts = urlsplit(uri)
        host = parts.hostname or ""
        try:
            ipaddress.ip_address(host)
            is_ip = True
        except ValueError:
            is_ip = False
        if parts.scheme != "https" or not host or is_ip or len(uri) > 2048:
            return {
                "code": "invalid_format",
                "message": "URLs must use HTTPS on a domain name",
                "path": path,
            }, None
        return None, None

    def _check_images(
        self, value: Any, schema: Schema
    ) -> tuple[list[dict[str, Any]], list[tuple[str, str, bytes]]]:
        items = [{"uri": value, "position": "first"}] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            return [{"code": "invalid_type", "path": ["promptImage"]}], []
        issues: list[dict[str, Any]] = []
        images: list[tuple[str, str, bytes]] = []
        positions = []
        for index, item in enumerate(items):
            path: list[Any] = ["promptImage", index] if not isinstance(value, str) else ["promptImage"]
            if not isinstance(item, dict) or set(item) - {"uri", "position"}:
                issues.append({"code": "invalid_type", "path": path})
                continue
            position = item.get("position", "first")
            if position not in schema.positions:
                issues.append(
                    {"code": "invalid_value", "values": sorted(schema.positions), "path": [*path, "position"]}
                )
            positions.append(position)
            issue, image = self._check_uri(item.get("uri"), [*path, "uri"])
            if issue is not None:
                issues.append(issue)
            elif image is not None:
                images.append((position, *image))
        if len(set(positions)) != len(positions) or (positions and "first" not in positions):
            issues.append(
                {"code": "custom", "message": "A last frame needs a first frame", "path": ["promptImage"]}
            )
        return issues, images

    async def _get(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        task = self.tasks.get(request.match_info["id"])
        if task is None:
            return web.json_response(NOT_FOUND, status=404)
        task.polls += 1
        return self._answer(request, web.json_response(self._state(task)))

    def _state(self, task: Task) -> dict[str, Any]:
        script, n = task.script, task.polls
        base = {"id": task.id, "createdAt": "2026-08-25T23:17:00.540Z"}
        if n <= script.pending:
            return {**base, "status": "PENDING"}
        if n <= script.pending + script.throttled:
            return {**base, "status": "THROTTLED"}
        running = n - script.pending - script.throttled
        if running <= script.running:
            return {**base, "status": "RUNNING", "progress": round(running / (script.running + 1), 2)}
        cost = {"cost": {"credits": script.cost_credits}} if script.cost_credits is not None else {}
        if script.outcome == "success":
            urls = [
                f"{self.cdn_url}/videos/{task.id}-{i}.mp4?_jwt={task.token}" for i in range(script.outputs)
            ]
            return {**base, "status": "SUCCEEDED", "output": urls, **cost}
        if script.outcome == "no_video":
            return {**base, "status": "SUCCEEDED", "output": [], **cost}
        if script.outcome == "cancelled":
            return {**base, "status": "CANCELLED", **cost}
        return {
            **base,
            "status": "FAILED",
            "failure": script.failure,
            "failureCode": script.failure_code,
            **cost,
        }

    async def _delete(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        task = self.tasks.pop(request.match_info["id"], None)
        if task is None:
            return web.json_response(NOT_FOUND, status=404)
        self.deleted[task.id] = self._state(task)["status"]
        return self._answer(request, web.Response(status=204))

    # ------------------------------------------------------------------------------------ files

    async def _file(self, request: web.Request) -> web.StreamResponse:
        """A signed output URL: the task's token in `_jwt`; a deleted task's output is gone (404)."""
        self.file_headers.append(dict(request.headers))
        task_id = request.match_info["name"].removesuffix(".mp4").rsplit("-", 1)[0]
        task = self.tasks.get(task_id)
        if task is None:
            return web.Response(status=404, text="Not Found")
        if request.query.get("_jwt") != task.token or task.script.file == "expired":
            return web.Response(
                status=403, text="<Error><Code>AccessDenied</Code></Error>", content_type="application/xml"
            )
        mode = task.script.file
        if mode in ("ok", "large_declared"):
            return web.Response(body=VIDEO * (4 if mode == "large_declared" else 1), content_type="video/mp4")
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.enable_chunked_encoding()  # no Content-Length: the client must count while streaming
        await response.prepare(request)
        if mode == "slow":
            await response.write(VIDEO[:1024])
            await self.release_slow.wait()
            await response.write(VIDEO[1024:])
        else:
            for _ in range(4):
                await response.write(VIDEO)
        await response.write_eof()
        return response
