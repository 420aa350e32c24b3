"""A fake of Kling's official API on loopback (reference/providers.md §9), reached through KLING_BASE_URL.

* `POST /v1/videos/text2video` and `/v1/videos/image2video` create a task; `GET /v1/videos/{family}/{id}`
  reads it by task_id or by external_task_id, under the family that made it only (UNCONFIRMED what
  the other family answers: here the 404/1203 of an unknown task).
* Every call needs `Authorization: Bearer <JWT>`: HS256 over `{"iss", "exp", "nbf"}`, signed with the
  secret key and issued by the access key. The fake checks it with its own code (not the adapter's)
  and refuses with 1001 (no header), 1002 (malformed, bad signature, unknown issuer), 1003 (`nbf` in
  the future), 1004 (expired), each with HTTP 401.
* Answers are `{"code", "message", "request_id", "data"}`; refusals carry the documented service code
  with its HTTP status (`HTTP_STATUS`). Bodies are checked the way the docs describe: fields per
  family, model names, `mode`, `duration` as a string, `aspect_ratio` for text2video only, images as
  URLs or raw Base64 without a `data:` prefix, the last frame and sound only where the capability map
  allows them, cfg_scale in 0–1 and not on kling-v2.x (UNCONFIRMED: refused here), a unique
  external_task_id.
* Tasks go submitted → processing → succeed/failed per `Script`; results (`task_result.videos[].url`)
  are served from a second port, like a CDN, and can be expired (deleted after 30 days) or chunked.
* `fail_next` injects a service code (with its HTTP status, or a gateway's HTML page); `break_next_ack`
  answers a create with truncated JSON or holds it past any read timeout, after making the task or
  not; `creates()` counts create calls; `deliver_callback` posts the documented callback body.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from aiohttp import web

ACCESS_KEY = "kling-test-access-key-0123"
SECRET_KEY = "kling-test-secret-key-4567"
VIDEO_HEADER = b"\x00\x00\x00\x18ftypmp42"
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

POLICY_MESSAGE = "Failure to pass the risk control system, please check the prompt or the image."
FAULT_MESSAGE = "Video generation failed due to an internal error, please try again later."
OTHER_MESSAGE = "The image could not be understood."

#: The documented service codes and their HTTP statuses.
HTTP_STATUS: dict[int, int] = {
    1000: 401,
    1001: 401,
    1002: 401,
    1003: 401,
    1004: 401,
    1100: 429,
    1101: 429,
    1102: 429,
    1103: 403,
    1200: 400,
    1201: 400,
    1202: 404,
    1203: 404,
    1300: 400,
    1301: 400,
    1302: 429,
    1303: 429,
    1304: 429,
    5000: 500,
    5001: 503,
    5002: 504,
}
MESSAGES: dict[int, str] = {
    1102: "Account balance not enough: resource pack used up",
    1301: "Trigger the content security policy of the platform",
    1302: "API request too fast, please slow down",
    1303: "parallel task over resource pack limit",
    5000: "Server internal error",
    5001: "Server temporarily unavailable, usually due to maintenance",
    5002: "Server internal timeout, usually due to a backlog",
}

T2V_MODELS = frozenset(
    {
        "kling-v1",
        "kling-v1-6",
        "kling-v2-master",
        "kling-v2-1-master",
        "kling-v2-5-turbo",
        "kling-v2-6",
        "kling-v3",
    }
)
I2V_MODELS = T2V_MODELS | {"kling-v1-5", "kling-v2-1"}
COMMON_FIELDS = frozenset(
    {
        "model_name",
        "model",
        "prompt",
        "negative_prompt",
        "multi_shot",
        "shot_type",
        "multi_prompt",
        "sound",
        "cfg_scale",
        "mode",
        "camera_control",
        "duration",
        "watermark_info",
        "callback_url",
        "external_task_id",
    }
)
T2V_FIELDS = COMMON_FIELDS | {"aspect_ratio"}
I2V_FIELDS = COMMON_FIELDS | {
    "image",
    "image_tail",
    "static_mask",
    "dynamic_masks",
    "element_list",
    "voice_list",
}
#: The fake's own copy of the capability map (kept apart from the adapter's, so each checks the other).
TAIL: dict[str, set[str]] = {
    "kling-v1": {"std", "pro"},
    "kling-v1-5": {"pro"},
    "kling-v1-6": {"pro"},
    "kling-v2-1": {"pro"},
    "kling-v2-5-turbo": {"pro"},
    "kling-v2-6": {"pro"},
    "kling-v3": {"std", "pro"},
}
SOUND: dict[str, set[str]] = {"kling-v2-6": {"pro"}, "kling-v3": {"std", "pro"}}
IMAGE_MAX_BYTES = 10 * 1024 * 1024

Family = Literal["text2video", "image2video"]
Outcome = Literal["success", "policy", "fault", "other", "no_video"]
FileMode = Literal["ok", "expired", "chunked"]
AckFault = Literal["malformed", "stall"]


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_token(authorization: str | None, *, access_key: str, secret_key: str, now: float) -> int | None:
    """The service code Kling answers for this Authorization header, or None when the token is good."""
    if not authorization:
        return 1001
    scheme, _, token = authorization.partition(" ")
    parts = token.split(".")
    if scheme != "Bearer" or len(parts) != 3:
        return 1002
    try:
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
        signature = _b64url_decode(parts[2])
    except (ValueError, binascii.Error):
        return 1002
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
        return 1002
    expected = hmac.new(secret_key.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature) or claims.get("iss") != access_key:
        return 1002
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, int | float) or (nbf is not None and not isinstance(nbf, int | float)):
        return 1002
    if nbf is not None and nbf > now:
        return 1003
    if exp <= now:
        return 1004
    return None


@dataclass
class Script:
    """How one task behaves: `queued` polls answer submitted, then `polls` answer processing."""

    queued: int = 0
    polls: int = 1
    outcome: Outcome = "success"
    file: FileMode = "ok"
    video_size: int = 4096


@dataclass
class Task:
    task_id: str
    family: Family
    body: dict[str, Any]
    script: Script
    created_at: int
    polls: int = 0

    @property
    def external_task_id(self) -> str | None:
        value = self.body.get("external_task_id")
        return value if isinstance(value, str) else None

    @property
    def status(self) -> str:
        if self.polls <= self.script.queued:
            return "submitted"
        if self.polls <= self.script.queued + self.script.polls:
            return "processing"
        return "failed" if self.script.outcome in ("policy", "fault", "other") else "succeed"


@dataclass
class Injected:
    code: int
    message: str
    http_status: int
    endpoint: Literal["create", "query"] | None
    retry_after: str | None
    envelope: bool


@dataclass
class Call:
    method: str
    path: str
    body: Any
    authorization: str | None


@dataclass
class FakeKling:
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    #: The fake's clock for token checks: a test moves it to expire tokens.
    clock: Callable[[], float] = time.time
    scripts: list[Script] = field(default_factory=list)
    tasks: dict[str, Task] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    #: Authorization headers and paths the CDN saw.
    file_requests: list[tuple[str, str | None]] = field(default_factory=list)
    injected: list[Injected] = field(default_factory=list)
    broken_acks: list[tuple[AckFault, bool]] = field(default_factory=list)
    api_url: str = ""
    cdn_url: str = ""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(823477843263897601))
    _runners: list[web.AppRunner] = field(default_factory=list)

    # ------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        api = web.Application(client_max_size=32 * 1024 * 1024)
        api.router.add_post("/v1/videos/{family}", self._create)
        api.router.add_get("/v1/videos/{family}/{task}", self._query)
        cdn = web.Application()
        cdn.router.add_get("/videos/{name}", self._file)
        self.api_url = await self._serve(api)
        self.cdn_url = await self._serve(cdn)

    async def _serve(self, app: web.Application) -> str:
        runner = web.AppRunner(app, handler_cancellation=True)  # a held answer ends at close
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        for runner in self._runners:
            await runner.cleanup()

    # ------------------------------------------------------------------------------------ scripting

    def script(self, *scripts: Script) -> None:
        """The next tasks behave like these (then like the default Script())."""
        self.scripts.extend(scripts)

    def fail_next(
        self,
        code: int,
        *,
        message: str | None = None,
        times: int = 1,
        endpoint: Literal["create", "query"] | None = None,
        http_status: int | None = None,
        retry_after: str | None = None,
        envelope: bool = True,
    ) -> None:
        """The next `times` calls (to `endpoint`, if given) answer service `code` with its documented
        HTTP status (or `http_status`); `envelope=False` answers a gateway's HTML page instead.
        "{token}" in `message` echoes the bearer token the call presented."""
        status = http_status if http_status is not None else HTTP_STATUS.get(code, 200)
        text = message if message is not None else MESSAGES.get(code, f"error {code}")
        self.injected.extend(
            Injected(code, text, status, endpoint, retry_after, envelope) for _ in range(times)
        )

    def break_next_ack(self, fault: AckFault, *, made: bool = True) -> None:
        """The next create gets no usable answer: truncated JSON under HTTP 200 ("malformed"), or none
        until the client gives up ("stall"); `made`: the task was created first."""
        self.broken_acks.append((fault, made))

    def creates(self) -> int:
        return sum(1 for call in self.calls if call.method == "POST")

    def create_bodies(self) -> list[dict[str, Any]]:
        return [call.body for call in self.calls if call.method == "POST" and isinstance(call.body, dict)]

    def tokens(self) -> list[str]:
        """The bearer tokens of every API call, in order."""
        return [(call.authorization or "").removeprefix("Bearer ") for call in self.calls]

    def finish(self, task_id: str) -> None:
        task = self.tasks[task_id]
        task.polls = max(task.polls, task.script.queued + task.script.polls + 1)

    def video_url(self, task_id: str) -> str:
        return f"{self.cdn_url}/videos/{task_id}.mp4"

    def video_bytes(self, task_id: str) -> bytes:
        size = self.tasks[task_id].script.video_size
        return (VIDEO_HEADER + task_id.encode() * (size // len(task_id) + 1))[:size]

    # ------------------------------------------------------------------------------------ callbacks

    def callback_body(self, task_id: str) -> dict[str, Any]:
        """The documented callback protocol: the task's fields at top level, no code/data envelope."""
        data = self._task_data(self.tasks[task_id])
        data.pop("watermark_info", None)
        data["task_info"] = {**data.get("task_info", {}), "parent_video": None}
        return data

    async def deliver_callback(self, task_id: str) -> int:
        """Finish the task and POST its callback to its callback_url; returns the receiver's status."""
        url = self.tasks[task_id].body.get("callback_url")
        assert isinstance(url, str), "the task was created without a callback_url"
        self.finish(task_id)
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json=self.callback_body(task_id)) as response,
        ):
            return response.status

    # ------------------------------------------------------------------------------------ API

    @staticmethod
    def _answer(code: int, message: str, data: Any = None, *, status: int | None = None) -> web.Response:
        body = {"code": code, "message": message, "request_id": str(uuid.uuid4())}
        if data is not None:
            body["data"] = data
        return web.json_response(body, status=status if status is not None else HTTP_STATUS.get(code, 200))

    def _refusal(self, request: web.Request, endpoint: Literal["create", "query"]) -> web.Response | None:
        for index, item in enumerate(self.injected):
            if item.endpoint in (None, endpoint):
                del self.injected[index]
                headers = {"Retry-After": item.retry_after} if item.retry_after else {}
                if not item.envelope:
                    return web.Response(
                        status=item.http_status,
                        text=f"<html>{item.message}</html>",
                        content_type="text/html",
                        headers=headers,
                    )
                presented = request.headers.get("Authorization", "").removeprefix("Bearer ")
                response = self._answer(
                    item.code, item.message.replace("{token}", presented), status=item.http_status
                )
                response.headers.update(headers)
                return response
        code = verify_token(
            request.headers.get("Authorization"),
            access_key=self.access_key,
            secret_key=self.secret_key,
            now=self.clock(),
        )
        if code is not None:
            return self._answer(code, "Auth failed")
        return None

    async def _create(self, request: web.Request) -> web.Response:
        family = request.match_info["family"]
        try:
            body: Any = json.loads(await request.read())
        except ValueError:
            body = None
        self.calls.append(Call("POST", request.path, body, request.headers.get("Authorization")))
        if family not in ("text2video", "image2video"):
            return self._answer(1202, "Request method or path is wrong")
        refused = self._refusal(request, "create")
        if refused is not None:
            return refused
        if not isinstance(body, dict):
            return self._answer(1200, "Invalid request parameters: the body must be a JSON object")
        problem = self._check(family, body)  # type: ignore[arg-type]
        if problem is not None:
            return self._answer(1201, f"Invalid request parameters: {problem}")
        broken = self.broken_acks.pop(0) if self.broken_acks else None
        task = None
        if broken is None or broken[1]:
            script = self.scripts.pop(0) if self.scripts else Script()
            task_id = str(next(self._ids))
            task = Task(task_id, family, body, script, int(self.clock() * 1000))  # type: ignore[arg-type]
            self.tasks[task_id] = task
        if broken is not None:
            if broken[0] == "stall":
                await asyncio.sleep(3600)  # cancelled when the client hangs up
            return web.Response(text='{"code": 0, "message": "SUCC', content_type="application/json")
        assert task is not None
        data = {
            "task_id": task.task_id,
            "task_info": {"external_task_id": task.external_task_id},
            "task_status": "submitted",
            "created_at": task.created_at,
            "updated_at": task.created_at,
        }
        return self._answer(0, "SUCCEED", data)

    def _check(self, family: Family, body: dict[str, Any]) -> str | None:
        allowed = T2V_FIELDS if family == "text2video" else I2V_FIELDS
        unknown = sorted(set(body) - allowed)
        if unknown:
            return f"unknown field {unknown[0]}"
        model = body.get("model_name", "kling-v1")
        if model not in (T2V_MODELS if family == "text2video" else I2V_MODELS):
            return f"model_name {model} is not supported by {family}"
        prompt = body.get("prompt", "")
        if not isinstance(prompt, str) or len(prompt) > 2500:
            return "prompt must be a string of at most 2500 characters"
        if family == "text2video" and not prompt.strip():
            return "prompt is required"
        negative = body.get("negative_prompt", "")
        if not isinstance(negative, str) or len(negative) > 2500:
            return "negative_prompt must be a string of at most 2500 characters"
        mode = body.get("mode", "std")
        if mode not in ("std", "pro"):
            return "mode must be std or pro"
        duration = body.get("duration", "5")
        allowed_durations = {str(n) for n in range(3, 16)} if model == "kling-v3" else {"5", "10"}
        if not isinstance(duration, str) or duration not in allowed_durations:
            return f"duration must be one of {sorted(allowed_durations, key=int)} (a string)"
        if "aspect_ratio" in body and body["aspect_ratio"] not in ("16:9", "9:16", "1:1"):
            return "aspect_ratio must be 16:9, 9:16 or 1:1"
        cfg = body.get("cfg_scale")
        if cfg is not None and (
            isinstance(cfg, bool)
            or not isinstance(cfg, int | float)
            or not 0 <= cfg <= 1
            or model.startswith("kling-v2")
        ):
            return "cfg_scale must be in [0, 1] and is not supported by kling-v2.x models"
        sound = body.get("sound", "off")
        if sound not in ("on", "off") or (sound == "on" and mode not in SOUND.get(model, set())):
            return f"sound {sound} is not supported by {model} {mode}"
        hook = body.get("callback_url")
        if hook is not None and not (isinstance(hook, str) and hook.startswith(("http://", "https://"))):
            return "callback_url must be a URL"
        external = body.get("external_task_id")
        if external is not None:
            if not isinstance(external, str) or not external:
                return "external_task_id must be a non-empty string"
            if any(task.external_task_id == external for task in self.tasks.values()):
                return "external_task_id already exists"
        if family == "image2video":
            return self._check_images(body, model, mode, duration, sound)
        return None

    @staticmethod
    def _check_image(value: Any, name: str) -> str | None:
        if not isinstance(value, str) or not value:
            return f"{name} must be a URL or Base64"
        if value.startswith(("http://", "https://")):
            return None
        if value.startswith("data:"):
            return f"{name} must be raw Base64 without a data: prefix"
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return f"{name} is not valid Base64"
        if len(data) > IMAGE_MAX_BYTES:
            return f"{name} is larger than 10MB"
        if not data.startswith((JPEG_MAGIC, PNG_MAGIC)):
            return f"{name} must be a jpg, jpeg or png image"
        return None

    def _check_images(
        self, body: dict[str, Any], model: str, mode: str, duration: str, sound: str
    ) -> str | None:
        if "image" not in body and "image_tail" not in body:
            return "image or image_tail is required"
        for name in ("image", "image_tail"):
            if name in body:
                problem = self._check_image(body[name], name)
                if problem is not None:
                    return problem
        if "image_tail" in body:
            if mode not in TAIL.get(model, set()):
                return f"image_tail is not supported by {model} {mode}"
            if model == "kling-v1" and duration != "5":
                return "kling-v1 supports image_tail with 5-second videos only"
            if model == "kling-v2-6" and sound == "on":
                return "kling-v2-6 supports image_tail only with sound off"
            if "camera_control" in body:
                return "image_tail and camera_control are mutually exclusive"
        return None

    async def _query(self, request: web.Request) -> web.Response:
        self.calls.append(Call("GET", request.path, None, request.headers.get("Authorization")))
        refused = self._refusal(request, "query")
        if refused is not None:
            return refused
        family, key = request.match_info["family"], request.match_info["task"]
        task = next(
            (t for t in self.tasks.values() if t.family == family and key in (t.task_id, t.external_task_id)),
            None,
        )
        if task is None:
            return self._answer(1203, "The requested resource does not exist: task not found")
        task.polls += 1
        return self._answer(0, "SUCCEED", self._task_data(task))

    def _task_data(self, task: Task) -> dict[str, Any]:
        status = task.status
        data: dict[str, Any] = {
            "task_id": task.task_id,
            "task_status": status,
            "task_status_msg": "",
            "task_info": {"external_task_id": task.external_task_id},
            "watermark_info": {"enabled": False},
            "created_at": task.created_at,
            "updated_at": task.created_at + 1000 * task.polls,
        }
        if status == "failed":
            data["task_status_msg"] = {
                "policy": POLICY_MESSAGE,
                "fault": FAULT_MESSAGE,
                "other": OTHER_MESSAGE,
            }[task.script.outcome]
        if status == "succeed":
            duration = task.body.get("duration", "5")
            videos = []
            if task.script.outcome != "no_video":
                videos = [
                    {
                        "id": f"video-{task.task_id}",
                        "url": self.video_url(task.task_id),
                        "watermark_url": "",
                        "duration": f"{duration}.1",
                    }
                ]
            data["task_result"] = {"videos": videos}
            data["final_unit_deduction"] = "2" if task.body.get("mode") == "pro" else "1"
        return data

    # ------------------------------------------------------------------------------------ files

    async def _file(self, request: web.Request) -> web.StreamResponse:
        self.file_requests.append((request.path, request.headers.get("Authorization")))
        task = self.tasks.get(request.match_info["name"].removesuffix(".mp4"))
        if task is None or task.status != "succeed" or task.script.file == "expired":
            return web.Response(status=404, text="<Error><Code>NoSuchKey</Code></Error>")
        data = self.video_bytes(task.task_id)
        if task.script.file == "ok":
            return web.Response(body=data, content_type="video/mp4")
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.enable_chunked_encoding()  # no Content-Length: the client must count while streaming
        await response.prepare(request)
        for start in range(0, len(data), 1 << 14):
            await response.write(data[start : start + (1 << 14)])
        await response.write_eof()
        return response
