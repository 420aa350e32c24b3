"""A fake of BytePlus ModelArk's Seedance task API on loopback (reference/providers.md §7), two sites:

* the API (`url`, ending in `/api/v3` like ARK_BASE_URL): `POST /contents/generations/tasks` (create),
  `GET …/tasks/{id}` (one task) and `DELETE …/tasks/{id}` (cancel while queued; a finished task's record is
  deleted; a running task can be neither), with a Bearer key and the error envelope
  `{"error": {"code", "message", "param", "type"}}` under the HTTP status;
* the object store (`cdn_url`, another port so another host): presigned result files, valid only with
  the signature they were issued with; it records the headers it gets, so a test sees no key reached it.

It checks a create the way Ark does: known fields and models (404 `InvalidEndpointOrModel.NotFound`,
`ModelNotOpen`), the `content[]` items and roles (a last frame needs a first frame, frames and references
do not mix, reference counts and modes per model), parameter values per model, input moderation (400
`InputTextSensitiveContentDetected` / `InputImageSensitiveContentDetected`) and text commands after the
prompt. Where §7 is silent it is strict on purpose, to prove the adapter relies on nothing undocumented:
a parameter sent both as a JSON field and as a text command, or a bad text-command value, is refused.
Its models table is its own copy, kept apart from the adapter's, so a mistake in one shows in the other.

Scripts (`Script`, one per create, else the default) say how many polls a task stays queued and running
and how it ends (success, failure with a code, output moderation, success without a URL, expired).
`fail_next` injects HTTP failures per endpoint (429 with Retry-After, 5xx, 401/403/404 ...);
`break_next_create` loses a create's answer (truncated JSON under HTTP 200, or none until the client
gives up), after making the task or not; `creates()` counts the create requests that arrived.
UNCONFIRMED details (the code of an unknown task's 404, DELETE's refusal of a running task, the body of
a DELETE, token counts) are the fake's own choices, named as such below.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import re
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import ClientSession, web

API_KEY = "ark-test-key-0123456789"
#: A prompt holding this word is refused by input moderation.
POLICY_WORD = "forbidden-topic"
#: An image holding these bytes is refused by input moderation.
NSFW_MARK = b"nsfw"
OUTPUT_POLICY_CODE = "OutputVideoSensitiveContentDetected"
OUTPUT_POLICY_MESSAGE = "The request failed because the output video may contain sensitive information."
VIDEO_HEADER = b"\x00\x00\x00\x18ftypmp42"
#: Tokens a second of video costs (the fake's choice: §7 shows 108900 for a 5 s task).
TOKENS_PER_SECOND = 21780

RATIOS = frozenset({"16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive", "9:21"})
FIELDS = frozenset(
    {
        "model",
        "content",
        "resolution",
        "ratio",
        "duration",
        "frames",
        "seed",
        "camera_fixed",
        "watermark",
        "generate_audio",
        "draft",
        "return_last_frame",
        "callback_url",
        "service_tier",
        "execution_expires_after",
        "priority",
        "safety_identifier",
    }
)
BOOL_FIELDS = frozenset({"camera_fixed", "watermark", "generate_audio", "draft", "return_last_frame"})
#: Text command (long and short form) → the JSON field it sets.
COMMANDS = {
    "resolution": "resolution",
    "rs": "resolution",
    "ratio": "ratio",
    "rt": "ratio",
    "duration": "duration",
    "dur": "duration",
    "framepersecond": "framespersecond",
    "fps": "framespersecond",
    "watermark": "watermark",
    "wm": "watermark",
    "seed": "seed",
    "camerafixed": "camera_fixed",
    "cf": "camera_fixed",
    "frames": "frames",
}
_COMMAND = re.compile(r"(?<!\S)--([A-Za-z]+)\s+(\S+)")
_DATA_URL = re.compile(r"^data:image/(jpeg|png|webp);base64,(.*)$", re.DOTALL)


@dataclass(frozen=True)
class FakeModel:
    t2v: bool
    first: bool
    last: bool
    references: int
    resolutions: frozenset[str]
    durations: range
    audio: bool
    default_resolution: str = "720p"


_ALL = frozenset({"480p", "720p", "1080p"})
MODELS: dict[str, FakeModel] = {
    "seedance-1-0-pro-250528": FakeModel(True, True, True, 0, _ALL, range(2, 13), False, "1080p"),
    "seedance-1-0-pro-fast-251015": FakeModel(True, True, False, 0, _ALL, range(2, 13), False, "1080p"),
    "seedance-1-0-lite-t2v-250428": FakeModel(True, False, False, 0, _ALL, range(2, 13), False),
    "seedance-1-0-lite-i2v-250428": FakeModel(False, True, True, 4, _ALL, range(2, 13), False),
    "seedance-1-5-pro-251215": FakeModel(True, True, True, 0, _ALL, range(4, 13), True),
    "dreamina-seedance-2-0-260128": FakeModel(True, True, True, 9, _ALL, range(4, 16), True),
    "dreamina-seedance-2-0-fast-260128": FakeModel(
        True, True, True, 9, frozenset({"480p", "720p"}), range(4, 16), True
    ),
}

Outcome = Literal["success", "failed", "policy", "no_video", "expired"]
#: How the object store serves the video: whole with a length, chunked without one, expired (403),
#: or stalled after the first piece.
FileMode = Literal["ok", "chunked", "expired", "stall"]
#: What DELETE answers for a running task (UNCONFIRMED in §7): a 400, a 409, or a 2xx that does nothing.
RunningDelete = Literal["refuse_400", "refuse_409", "ignore"]
AckFault = Literal["malformed", "stall"]
Endpoint = Literal["create", "get", "delete"]


@dataclass
class Script:
    queued_polls: int = 1  #: GETs that answer "queued" first
    running_polls: int = 1  #: then GETs that answer "running"
    outcome: Outcome = "success"
    error_code: str = "InternalServiceError"  #: the code of a "failed" outcome
    error_message: str = "The service encountered an unexpected internal error."
    url_field: Literal["video_url", "file_url"] = "video_url"
    file: FileMode = "ok"
    video_size: int = 4096
    #: The task starts running just as a DELETE arrives (the race between a cancel's read and its DELETE).
    starts_on_delete: bool = False


@dataclass
class FakeTask:
    id: str
    model: str
    body: dict[str, Any]
    #: The parameters in effect, from the JSON fields and the text commands.
    params: dict[str, Any]
    prompt: str
    #: (role, bytes or URL) of each image, in order.
    images: list[tuple[str, bytes | str]]
    script: Script
    signature: str
    steps: int = 0
    cancelled: bool = False

    @property
    def status(self) -> str:
        if self.cancelled:
            return "cancelled"
        if self.steps <= self.script.queued_polls:
            return "queued"
        if self.steps <= self.script.queued_polls + self.script.running_polls:
            return "running"
        return {"success": "succeeded", "no_video": "succeeded", "expired": "expired"}.get(
            self.script.outcome, "failed"
        )

    def start(self) -> None:
        self.steps = max(self.steps, self.script.queued_polls + 1)

    def finish(self) -> None:
        self.steps = max(self.steps, self.script.queued_polls + self.script.running_polls + 1)


@dataclass
class Injected:
    status: int
    code: str
    message: str
    endpoint: Endpoint | None
    retry_after: str | None
    html: bool


class Refused(Exception):
    """A create the fake refuses: its HTTP status, Ark's code, message and parameter."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param


class FakeArk:
    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.scripts: deque[Script] = deque()
        self.tasks: dict[str, FakeTask] = {}
        #: Endpoint ids (`ep-…`) and the model each one runs.
        self.endpoints: dict[str, str] = {}
        #: Models the account has not activated (404 ModelNotOpen).
        self.not_open: set[str] = set()
        self.running_delete: RunningDelete = "refuse_400"
        #: (method, path, JSON body or None) of every API call, in order.
        self.requests: list[tuple[str, str, Any]] = []
        self.api_headers: list[dict[str, str]] = []
        self.file_headers: list[dict[str, str]] = []
        self.injected: list[Injected] = []
        self.broken_acks: deque[tuple[AckFault, bool]] = deque()
        self._ids = itertools.count(1)
        self._requests = itertools.count(1)
        self._stall = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = self.cdn_url = ""

    # ---------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/api/v3/contents/generations/tasks", self._create)
        app.router.add_get("/api/v3/contents/generations/tasks/{id}", self._get)
        app.router.add_delete("/api/v3/contents/generations/tasks/{id}", self._delete)
        app.router.add_get("/tos/{name}", self._file)
        self._runner = web.AppRunner(app, handler_cancellation=True)  # a stalled answer ends at hang-up
        await self._runner.setup()
        ports = []
        for _ in range(2):  # one port for the API, one for the object store: two hosts to the client
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            ports.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{ports[0]}/api/v3"
        self.cdn_url = f"http://127.0.0.1:{ports[1]}"

    async def close(self) -> None:
        self._stall.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # ---------------------------------------------------------------------------------------- scripting

    def script(self, *scripts: Script) -> None:
        """The next creates make tasks that behave like these (then like the default Script())."""
        self.scripts.extend(scripts)

    def fail_next(
        self,
        status: int,
        code: str,
        message: str = "injected failure",
        *,
        endpoint: Endpoint | None = None,
        times: int = 1,
        retry_after: str | None = None,
        html: bool = False,
    ) -> None:
        """The next `times` calls (to `endpoint`, if given) get this error instead of an answer; `html`:
        a gateway's own page instead of Ark's envelope."""
        self.injected.extend(
            Injected(status, code, message, endpoint, retry_after, html) for _ in range(times)
        )

    def break_next_create(self, fault: AckFault, *, made: bool = True) -> None:
        """The next create gets no usable answer: truncated JSON under HTTP 200 ("malformed"), or none
        until the client gives up ("stall"). `made`: the task was created first (only the answer is lost)."""
        self.broken_acks.append((fault, made))

    def creates(self) -> int:
        """Create requests that arrived, refused and broken ones included."""
        return sum(1 for method, path, _ in self.requests if method == "POST" and path.endswith("/tasks"))

    def created_bodies(self) -> list[dict[str, Any]]:
        return [task.body for task in self.tasks.values()]

    def video_url(self, task_id: str) -> str:
        task = self.tasks[task_id]
        return f"{self.cdn_url}/tos/{task_id}.mp4?X-Tos-Expires=86400&X-Tos-Signature={task.signature}"

    def video_bytes(self, task_id: str) -> bytes:
        size = self.tasks[task_id].script.video_size
        name = task_id.encode()
        return (VIDEO_HEADER + name * (size // len(name) + 1))[:size]

    def task_object(self, task: FakeTask) -> dict[str, Any]:
        """The task as GET shows it: few fields while queued/running, everything once finished."""
        obj: dict[str, Any] = {
            "id": task.id,
            "model": task.model,
            "status": task.status,
            "created_at": 1_790_000_000,
            "updated_at": 1_790_000_000 + 10 * task.steps,
            "service_tier": task.params.get("service_tier", "default"),
            "execution_expires_after": task.params.get("execution_expires_after", 172800),
        }
        if task.status == "failed":
            policy = task.script.outcome == "policy"
            obj["error"] = {
                "code": OUTPUT_POLICY_CODE if policy else task.script.error_code,
                "message": OUTPUT_POLICY_MESSAGE if policy else task.script.error_message,
            }
        if task.status != "succeeded":
            return obj
        model = MODELS[task.model]
        duration = task.params.get("duration", 5)
        seed = task.params.get("seed", -1)
        obj.update(
            {
                "usage": {
                    "completion_tokens": duration * TOKENS_PER_SECOND,
                    "total_tokens": duration * TOKENS_PER_SECOND,
                },
                "seed": 12345 if seed == -1 else seed,
                "resolution": task.params.get("resolution", model.default_resolution),
                "ratio": task.params.get("ratio", "adaptive" if task.images else "16:9"),
                "duration": duration,
                "framespersecond": 24,
                "draft": False,
            }
        )
        if model.audio:
            obj["generate_audio"] = task.params.get("generate_audio", True)
        if task.script.outcome != "no_video":
            obj["content"] = {task.script.url_field: self.video_url(task.id)}
        return obj

    async def deliver_callback(self, task_id: str) -> int:
        """Finish the task and POST it, as GET would show it, to its callback_url; the receiver's status."""
        task = self.tasks[task_id]
        url = task.body.get("callback_url")
        assert isinstance(url, str), "the task was created without a callback_url"
        task.finish()
        async with ClientSession() as session, session.post(url, json=self.task_object(task)) as response:
            return response.status

    # ---------------------------------------------------------------------------------------------- API

    def _error(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        request_id = f"20261122120000{next(self._requests):06d}"
        error: dict[str, Any] = {
            "code": code,
            "message": f"{message} Request id: {request_id}",
            "type": "BadRequest" if status == 400 else "Error",
        }
        if param:
            error["param"] = param
        return web.json_response(
            {"error": error}, status=status, headers={"X-Request-Id": request_id, **(headers or {})}
        )

    async def _begin(self, request: web.Request, endpoint: Endpoint) -> tuple[Any, web.Response | None]:
        """Log the call; answer a missing key or an injected failure."""
        self.api_headers.append(dict(request.headers))
        body: Any = None
        if request.method == "POST":
            raw = await request.read()
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        self.requests.append((request.method, request.path, body))
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return body, self._error(
                401, "AuthenticationError", "The API key in the request is missing or invalid."
            )
        for index, item in enumerate(self.injected):
            if item.endpoint in (None, endpoint):
                del self.injected[index]
                headers = {"Retry-After": item.retry_after} if item.retry_after else {}
                if item.html:
                    return body, web.Response(
                        status=item.status,
                        text=f"<html>{item.message}</html>",
                        content_type="text/html",
                        headers=headers,
                    )
                return body, self._error(item.status, item.code, item.message, headers=headers)
        return body, None

    async def _create(self, request: web.Request) -> web.Response:
        body, refused = await self._begin(request, "create")
        if refused is not None:
            return refused
        broken = self.broken_acks.popleft() if self.broken_acks else None
        try:
            task = self._new_task(body) if broken is None or broken[1] else None
        except Refused as error:
            return self._error(error.status, error.code, error.message, param=error.param)
        if broken is not None and broken[0] == "stall":
            await self._stall.wait()  # set only at close(): the client's read timeout fires first
        if broken is not None:
            return web.Response(text='{"id": "cgt-', content_type="application/json")
        assert task is not None
        return web.json_response({"id": task.id})

    def _new_task(self, body: Any) -> FakeTask:
        if not isinstance(body, dict):
            raise Refused(400, "InvalidParameter", "The request body must be a JSON object.")
        unknown = sorted(set(body) - FIELDS)
        if unknown:
            raise Refused(400, "InvalidParameter", f"Unknown parameter: {unknown[0]}.", unknown[0])
        model_id = body.get("model")
        if not isinstance(model_id, str) or not model_id:
            raise Refused(400, "MissingParameter", "The parameter `model` is required.", "model")
        model_id = self.endpoints.get(model_id, model_id)
        if model_id not in MODELS:
            raise Refused(
                404, "InvalidEndpointOrModel.NotFound", "The model or endpoint does not exist.", "model"
            )
        if model_id in self.not_open:
            raise Refused(404, "ModelNotOpen", "The model is not activated for this account.", "model")
        model = MODELS[model_id]
        prompt, images = self._content(body.get("content"), model)
        params = self._params({k: v for k, v in body.items() if k not in ("model", "content")}, model)
        prompt, commands = self._commands(prompt, model)
        both = sorted(set(commands) & set(params))
        if both:
            raise Refused(400, "InvalidParameter", f"`{both[0]}` is set twice.", both[0])
        if POLICY_WORD in prompt:
            raise Refused(
                400, "InputTextSensitiveContentDetected", "The input text may contain sensitive information."
            )
        script = self.scripts.popleft() if self.scripts else Script()
        number = next(self._ids)
        task = FakeTask(
            id=f"cgt-20261122{number:06d}-{number * 7919 % 100000:05d}",
            model=model_id,
            body=body,
            params={**params, **commands},
            prompt=prompt,
            images=images,
            script=script,
            signature=f"sig{number * 104729:x}",
        )
        self.tasks[task.id] = task
        return task

    @staticmethod
    def _content(content: Any, model: FakeModel) -> tuple[str, list[tuple[str, bytes | str]]]:
        if not isinstance(content, list) or not content:
            raise Refused(400, "MissingParameter", "The parameter `content` is required.", "content")
        texts: list[str] = []
        images: list[tuple[str, bytes | str]] = []
        for item in content:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind == "text" and isinstance(item.get("text"), str):
                texts.append(item["text"])
            elif kind == "image_url" and isinstance(item.get("image_url"), dict):
                url = item["image_url"].get("url")
                role = item.get("role", "")
                if role not in ("", "first_frame", "last_frame", "reference_image"):
                    raise Refused(400, "InvalidParameter", f"Unknown role {role!r}.", "content.role")
                images.append((role, FakeArk._image(url)))
            else:
                raise Refused(400, "InvalidParameter", "Unsupported content item.", "content")
        if len(texts) > 1:
            raise Refused(400, "InvalidParameter", "At most one text item.", "content")
        if len(images) == 1 and images[0][0] == "":
            images = [("first_frame", images[0][1])]  # a single image may leave its role out
        roles = [role for role, _ in images]
        if "" in roles:
            raise Refused(400, "InvalidParameter", "Each image needs a role.", "content.role")
        first, last, refs = (roles.count(r) for r in ("first_frame", "last_frame", "reference_image"))
        problem = None
        if first > 1 or last > 1:
            problem = "At most one first frame and one last frame."
        elif last and not first:
            problem = "A last frame needs a first frame."
        elif refs and (first or last):
            problem = "First/last frames and reference images cannot be mixed."
        elif refs > model.references:
            problem = f"The model takes at most {model.references} reference images."
        elif (first and not model.first) or (last and not model.last):
            problem = "The model does not support this image role."
        elif not images and not model.t2v:
            problem = "The model needs an image."
        elif not images and not (texts and texts[0].strip()):
            problem = "A text prompt is required."
        if problem:
            raise Refused(400, "InvalidParameter", problem, "content")
        return (texts[0] if texts else ""), images

    @staticmethod
    def _image(url: Any) -> bytes | str:
        if not isinstance(url, str):
            raise Refused(400, "InvalidParameter", "image_url.url must be a string.", "content.image_url")
        if url.startswith(("https://", "http://", "asset://")):
            return url
        match = _DATA_URL.match(url)
        if match is None:
            raise Refused(400, "InvalidParameter", "Unsupported image URL or format.", "content.image_url")
        try:
            data = base64.b64decode(match.group(2), validate=True)
        except (binascii.Error, ValueError):
            raise Refused(
                400, "InvalidParameter", "The image is not valid base64.", "content.image_url"
            ) from None
        if NSFW_MARK in data:
            raise Refused(
                400,
                "InputImageSensitiveContentDetected",
                "The input image may contain sensitive information.",
            )
        return data

    @staticmethod
    def _params(fields: dict[str, Any], model: FakeModel) -> dict[str, Any]:
        for name, value in fields.items():
            FakeArk._check(name, value, model)
        if "duration" in fields and "frames" in fields:
            raise Refused(400, "InvalidParameter", "Set duration or frames, not both.", "duration")
        return dict(fields)

    @staticmethod
    def _check(name: str, value: Any, model: FakeModel) -> None:
        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        ok = True
        if name == "resolution":
            ok = value in model.resolutions
        elif name == "ratio":
            ok = value in RATIOS
        elif name == "duration":
            ok = is_int(value) and value in model.durations
        elif name == "frames":
            ok = is_int(value) and 29 <= value <= 289 and (value - 25) % 4 == 0
        elif name == "seed":
            ok = is_int(value) and -1 <= value <= 2**32 - 1
        elif name == "framespersecond":
            ok = value == 24
        elif name in BOOL_FIELDS:
            ok = isinstance(value, bool) and (name != "generate_audio" or model.audio)
        elif name == "callback_url":
            ok = isinstance(value, str) and value.startswith(("http://", "https://"))
        elif name == "service_tier":
            ok = value in ("default", "flex")
        elif name in ("execution_expires_after", "priority"):
            ok = is_int(value) and value > 0
        elif name == "safety_identifier":
            ok = isinstance(value, str)
        if not ok:
            raise Refused(400, "InvalidParameter", f"The parameter `{name}` is invalid.", name)

    @staticmethod
    def _commands(text: str, model: FakeModel) -> tuple[str, dict[str, Any]]:
        """The prompt without its known text commands, and the parameters they set (checked)."""
        commands: dict[str, Any] = {}

        def take(match: re.Match[str]) -> str:
            name = COMMANDS.get(match.group(1).lower())
            if name is None:
                return match.group(0)  # not a command Ark knows: part of the prompt
            raw = match.group(2)
            value: Any = raw
            if name in ("duration", "seed", "frames", "framespersecond"):
                value = int(raw) if re.fullmatch(r"-?\d+", raw) else raw
            elif name in BOOL_FIELDS:
                value = {"true": True, "false": False}.get(raw.lower(), raw)
            FakeArk._check(name, value, model)
            if name in commands:
                raise Refused(400, "InvalidParameter", f"`{name}` is set twice.", name)
            commands[name] = value
            return ""

        return " ".join(_COMMAND.sub(take, text).split()), commands

    async def _get(self, request: web.Request) -> web.Response:
        _, refused = await self._begin(request, "get")
        if refused is not None:
            return refused
        task = self.tasks.get(request.match_info["id"])
        if task is None:  # the code is the fake's choice (UNCONFIRMED)
            return self._error(404, "ResourceNotFound", "The specified task does not exist.")
        task.steps += 1
        return web.json_response(self.task_object(task))

    async def _delete(self, request: web.Request) -> web.Response:
        _, refused = await self._begin(request, "delete")
        if refused is not None:
            return refused
        task = self.tasks.get(request.match_info["id"])
        if task is None:
            return self._error(404, "ResourceNotFound", "The specified task does not exist.")
        if task.script.starts_on_delete and task.status == "queued":
            task.start()
        if task.status == "queued":
            task.cancelled = True
        elif task.status == "running":
            if self.running_delete == "refuse_400":
                return self._error(400, "InvalidParameter", "Only a queued task can be cancelled.")
            if self.running_delete == "refuse_409":
                return self._error(409, "Conflict", "The task is running and cannot be cancelled.")
        else:
            del self.tasks[task.id]  # a finished task: its record is deleted
        return web.json_response({})

    # ------------------------------------------------------------------------------------ object store

    async def _file(self, request: web.Request) -> web.StreamResponse:
        self.file_headers.append(dict(request.headers))
        task = self.tasks.get(request.match_info["name"].removesuffix(".mp4"))
        if task is None or task.status != "succeeded":
            return web.Response(status=404, text="<Error><Code>NoSuchKey</Code></Error>")
        if request.query.get("X-Tos-Signature") != task.signature:
            return web.Response(status=403, text="<Error><Code>SignatureDoesNotMatch</Code></Error>")
        if task.script.file == "expired":
            return web.Response(
                status=403,
                text="<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                content_type="application/xml",
            )
        data = self.video_bytes(task.id)
        if task.script.file == "ok":
            return web.Response(body=data, content_type="video/mp4")
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.enable_chunked_encoding()  # no Content-Length: the client must count while streaming
        await response.prepare(request)
        for start in range(0, len(data), 1 << 14):
            await response.write(data[start : start + (1 << 14)])
            if task.script.file == "stall":
                await self._stall.wait()  # set only at close(): the client's read timeout fires first
        await response.write_eof()
        return response
