"""A fake of Alibaba Cloud Model Studio's Wan video API (DashScope, reference/providers.md §8) on loopback.

Two sites, like the real service:

* the API (`base_url`, ending in /api/v1): the async create on `services/aigc/video-generation/
  video-synthesis` and, for the first+last-frame models, `services/aigc/image2video/video-synthesis`
  (both refuse a call without `X-DashScope-Async: enable`: 403 AccessDenied), `GET tasks/{id}` (an unknown
  or expired id answers 200 with task_status UNKNOWN), `POST tasks/{id}/cancel` (only while PENDING);
  errors are `{"request_id", "code", "message"}` with DashScope's codes;
* the result bucket (`files_url`): presigned OSS-style video URLs, public (it records any key it is sent).

It checks requests the way the API does (Bearer key, per-model fields, sizes with `*`, resolutions with a
capital P, durations, seeds, data-URI images) and is scripted per task with `TaskScript`, per call with
`fail()`, and per create answer with `break_ack()` (the task is made, its answer is lost).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import re
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

API_KEY = "sk-dashscope-test-0123456789abcdef"
VIDEO_HEADER = b"\x00\x00\x00\x18ftypmp42"
POLICY_CODE = "DataInspectionFailed"
POLICY_MESSAGE = "Output data may contain inappropriate content."
INTERNAL_CODE = "InternalError.Timeout"
INTERNAL_MESSAGE = "An internal error has occured during execution, please try again later."
SYNC_REFUSED = "current user api does not support synchronous calls"

T2V_PATH = "/api/v1/services/aigc/video-generation/video-synthesis"
KF2V_PATH = "/api/v1/services/aigc/image2video/video-synthesis"

Kind = Literal["t2v", "i2v", "kf2v", "wan27_t2v", "wan27_i2v"]
_T2V_SIZES = {
    "480P": {"832*480", "480*832", "624*624"},
    "720P": {"1280*720", "720*1280", "960*960", "1088*832", "832*1088"},
    "1080P": {"1920*1080", "1080*1920", "1440*1440", "1632*1248", "1248*1632"},
}


@dataclass(frozen=True)
class FakeModel:
    kind: Kind
    resolutions: frozenset[str]
    durations: frozenset[int]
    #: The `audio` switch (2.5/2.6) and an `input.audio_url` soundtrack (2.5/2.6, wan2.7-t2v).
    audio_flag: bool = False
    audio_url: bool = False

    @property
    def path(self) -> str:
        return KF2V_PATH if self.kind == "kf2v" else T2V_PATH


def _model(kind: Kind, resolutions: str, durations: range | set[int], audio: bool = False) -> FakeModel:
    return FakeModel(kind, frozenset(resolutions.split()), frozenset(durations), audio, audio)


#: §8's model table, written out independently of the adapter's.
MODELS: dict[str, FakeModel] = {
    "wan2.6-t2v": _model("t2v", "720P 1080P", range(2, 16), audio=True),
    "wan2.5-t2v-preview": _model("t2v", "480P 720P 1080P", {5, 10}, audio=True),
    "wan2.2-t2v-plus": _model("t2v", "480P 1080P", {5}),
    "wan2.1-t2v-turbo": _model("t2v", "480P 720P", {5}),
    "wan2.1-t2v-plus": _model("t2v", "720P", {5}),
    "wan2.6-i2v": _model("i2v", "720P 1080P", range(2, 16), audio=True),
    "wan2.6-i2v-flash": _model("i2v", "720P 1080P", range(2, 16), audio=True),
    "wan2.5-i2v-preview": _model("i2v", "480P 720P 1080P", {5, 10}, audio=True),
    "wan2.2-i2v-plus": _model("i2v", "480P 1080P", {5}),
    "wan2.2-i2v-flash": _model("i2v", "480P 720P 1080P", {5}),
    "wan2.1-i2v-turbo": _model("i2v", "480P 720P", range(3, 6)),
    "wan2.1-i2v-plus": _model("i2v", "720P", {5}),
    "wan2.2-kf2v-flash": _model("kf2v", "480P 720P 1080P", {5}),
    "wan2.1-kf2v-plus": _model("kf2v", "720P", {5}),
    "wan2.7-t2v": FakeModel(
        "wan27_t2v", frozenset({"720P", "1080P"}), frozenset(range(2, 16)), audio_url=True
    ),
    "wan2.7-i2v": _model("wan27_i2v", "720P 1080P", range(2, 16)),
}
_COMMON_PARAMETERS = {"duration", "prompt_extend", "seed", "watermark"}
INPUT_FIELDS: dict[Kind, set[str]] = {
    "t2v": {"prompt", "negative_prompt", "audio_url"},
    "i2v": {"prompt", "negative_prompt", "img_url", "audio_url"},
    "kf2v": {"prompt", "negative_prompt", "first_frame_url", "last_frame_url"},
    "wan27_t2v": {"prompt", "negative_prompt", "audio_url"},
    "wan27_i2v": {"prompt", "negative_prompt", "media"},
}
PARAMETER_FIELDS: dict[Kind, set[str]] = {
    "t2v": _COMMON_PARAMETERS | {"size", "audio", "shot_type"},
    "i2v": _COMMON_PARAMETERS | {"resolution", "audio", "shot_type"},
    "kf2v": _COMMON_PARAMETERS | {"resolution"},
    "wan27_t2v": _COMMON_PARAMETERS | {"resolution", "ratio"},
    "wan27_i2v": _COMMON_PARAMETERS | {"resolution"},
}
MEDIA_TYPES = {"first_frame", "last_frame", "driving_audio", "first_clip"}
_DATA_URI = re.compile(r"data:image/(jpeg|jpg|png|bmp|webp);base64,(.*)", re.DOTALL)
MAX_IMAGE_BYTES = 10 * 1024 * 1024

#: "expired": the finished task is past DashScope's 24 h and answers UNKNOWN.
Outcome = Literal["success", "failed", "policy", "no_video", "expired"]
#: How usage describes the video: `video_duration` + `SR` (the poll example) or `duration` + `video_ratio`.
Usage = Literal["sr", "ratio"]
#: How the bucket serves the video: whole, chunked without a length, expired (403), or stalled.
FileMode = Literal["ok", "chunked", "expired", "stall"]
#: A broken create answer for a task that was made: cut-off JSON, JSON without task_id, an HTML page
#: with 200, or no answer at all until the client gives up.
Ack = Literal["truncated", "no_task_id", "html", "held"]


@dataclass
class TaskScript:
    #: Polls answered PENDING (the create answer is PENDING too), then polls answered RUNNING.
    pending: int = 0
    running: int = 1
    outcome: Outcome = "success"
    usage: Usage = "sr"
    file: FileMode = "ok"
    video_size: int = 4096


@dataclass(frozen=True)
class Fault:
    """One scripted error answer that replaces the next call to an endpoint, before any check."""

    http_status: int
    code: str = ""
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    #: A gateway's own page instead of DashScope's JSON.
    html: bool = False


@dataclass
class FakeTask:
    task_id: str
    path: str
    body: dict[str, Any]
    script: TaskScript
    polls: int = 0
    cancelled: bool = False

    def state(self) -> str:
        if self.cancelled:
            return "CANCELED"
        if self.polls <= self.script.pending:
            return "PENDING"
        if self.polls <= self.script.pending + self.script.running:
            return "RUNNING"
        return "DONE"


@dataclass
class FileRequest:
    path: str
    query: dict[str, str]
    authorization: str | None


class FakeDashScope:
    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.script = TaskScript()
        self.tasks: dict[str, FakeTask] = {}
        self.faults: dict[str, deque[Fault]] = {}
        self.acks: deque[Ack] = deque()
        #: (endpoint, path, headers, JSON body) of every API call, in order.
        self.calls: list[tuple[str, str, dict[str, str], Any]] = []
        self.file_requests: list[FileRequest] = []
        #: Decoded data-URI images of every accepted create, by task id, in the order sent.
        self.images: dict[str, list[bytes]] = {}
        self._ids = itertools.count(1)
        self._release = asyncio.Event()
        self._runners: list[web.AppRunner] = []
        self.root = self.base_url = self.files_url = ""

    # ---------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        api = web.Application(client_max_size=32 * 1024 * 1024)
        api.router.add_post(T2V_PATH, self._create)
        api.router.add_post(KF2V_PATH, self._create)
        api.router.add_get("/api/v1/tasks/{task_id}", self._task)
        api.router.add_post("/api/v1/tasks/{task_id}/cancel", self._cancel)
        api.router.add_route("*", "/{tail:.*}", self._wrong_url)
        files = web.Application()
        files.router.add_get("/{name}", self._video_file)
        self.root = await self._serve(api)
        self.base_url = self.root + "/api/v1"
        self.files_url = await self._serve(files)

    async def _serve(self, app: web.Application) -> str:
        runner = web.AppRunner(app, handler_cancellation=True)  # a held answer ends at close
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        self._release.set()
        for runner in self._runners:
            await runner.cleanup()

    # ------------------------------------------------------------------------------------------ scripting

    def fail(self, endpoint: str, fault: Fault, *, times: int = 1) -> None:
        """The next `times` calls to `endpoint` (create, task, cancel) get `fault` instead of an answer."""
        self.faults.setdefault(endpoint, deque()).extend([fault] * times)

    def break_ack(self, ack: Ack) -> None:
        """The next accepted create makes its task, then answers it this broken way."""
        self.acks.append(ack)

    def creates(self) -> int:
        """Tasks made, i.e. paid for."""
        return len(self.tasks)

    def endpoint_calls(self, endpoint: str) -> list[Any]:
        return [body for name, _path, _headers, body in self.calls if name == endpoint]

    def video_url(self, task_id: str) -> str:
        return f"{self.files_url}/{task_id}.mp4"

    def video_bytes(self, task_id: str) -> bytes:
        name = task_id.encode()
        size = self.tasks[task_id].script.video_size
        return (VIDEO_HEADER + name * (size // len(name) + 1))[:size]

    # ---------------------------------------------------------------------------------------------- API

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        body = {"request_id": str(uuid.uuid4()), "code": code, "message": message}
        return web.json_response(body, status=status)

    def _fault(self, endpoint: str) -> web.Response | None:
        queue = self.faults.get(endpoint)
        if not queue:
            return None
        fault = queue.popleft()
        if fault.html:
            html = f"<html><body>{fault.http_status} {fault.message}</body></html>"
            response = web.Response(status=fault.http_status, text=html, content_type="text/html")
        else:
            response = self._error(fault.http_status, fault.code, fault.message)
        response.headers.update(fault.headers)
        return response

    async def _begin(self, request: web.Request, endpoint: str) -> tuple[Any, web.Response | None]:
        """Log the call; answer a scripted fault or a missing key."""
        body: Any = None
        if request.method == "POST" and request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                body = None
        self.calls.append((endpoint, request.path, dict(request.headers), body))
        fault = self._fault(endpoint)
        if fault is not None:
            return body, fault
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return body, self._error(401, "InvalidApiKey", "Invalid API-key provided.")
        return body, None

    async def _wrong_url(self, request: web.Request) -> web.Response:
        self.calls.append(("wrong_url", request.path, dict(request.headers), None))
        return self._error(400, "InvalidParameter", "url error, please check url!")

    async def _create(self, request: web.Request) -> web.Response:
        body, refused = await self._begin(request, "create")
        if refused is not None:
            return refused
        if request.headers.get("X-DashScope-Async") != "enable":
            return self._error(403, "AccessDenied", SYNC_REFUSED)
        if not isinstance(body, dict):
            return self._error(400, "InvalidParameter", "The request body is not valid JSON.")
        model_name = body.get("model")
        model = MODELS.get(model_name) if isinstance(model_name, str) else None
        if model is None:
            return self._error(404, "ModelNotFound", f"Model not exist: {model_name}")
        if model.path != request.path:
            return self._error(400, "InvalidParameter", f"Model {model_name} is not supported by this API.")
        images: list[bytes] = []
        problem = self._problems(model, body, images)
        if problem is not None:
            return self._error(400, "InvalidParameter", problem)
        task_id = str(uuid.UUID(int=next(self._ids)))
        self.tasks[task_id] = FakeTask(task_id, request.path, body, TaskScript(**vars(self.script)))
        self.images[task_id] = images
        request_id = str(uuid.uuid4())
        answer = {"request_id": request_id, "output": {"task_id": task_id, "task_status": "PENDING"}}
        if not self.acks:
            return web.json_response(answer)
        ack = self.acks.popleft()
        if ack == "held":
            await self._release.wait()  # never set before close(): the client's read timeout fires
        if ack == "truncated":
            return web.Response(
                text='{"request_id": "' + request_id + '", "outp', content_type="application/json"
            )
        if ack == "no_task_id":
            return web.json_response({"request_id": request_id, "output": {"task_status": "PENDING"}})
        return web.Response(text="<html>OK</html>", content_type="text/html")

    def _problems(self, model: FakeModel, body: dict[str, Any], images: list[bytes]) -> str | None:
        given_input = body.get("input")
        parameters = body.get("parameters", {})
        if not isinstance(given_input, dict) or not isinstance(parameters, dict):
            return "input and parameters must be objects"
        unknown = sorted(set(given_input) - INPUT_FIELDS[model.kind]) + sorted(
            set(parameters) - PARAMETER_FIELDS[model.kind]
        )
        if "audio" in parameters and not model.audio_flag:
            unknown.append("audio")
        if "audio_url" in given_input and not model.audio_url:
            unknown.append("audio_url")
        if unknown:
            return f"Parameter(s) not supported by {body['model']}: {', '.join(unknown)}"
        return self._input_problems(model, given_input, images) or self._parameter_problems(model, parameters)

    def _input_problems(self, model: FakeModel, given: dict[str, Any], images: list[bytes]) -> str | None:
        prompt = given.get("prompt")
        if model.kind in ("t2v", "wan27_t2v") and (not isinstance(prompt, str) or not prompt.strip()):
            return "Field required: input.prompt"
        if "prompt" in given and not isinstance(prompt, str):
            return "input.prompt must be a string"
        negative = given.get("negative_prompt", "")
        if not isinstance(negative, str) or len(negative) > 500:
            return "input.negative_prompt must be a string of at most 500 characters"
        if "audio_url" in given and not str(given["audio_url"]).startswith(("http://", "https://", "oss://")):
            return "input.audio_url must be a URL"
        frames: list[str] = []
        if model.kind == "i2v":
            frames = ["img_url"]
        elif model.kind == "kf2v":
            frames = ["first_frame_url"] + (["last_frame_url"] if "last_frame_url" in given else [])
        for name in frames:
            problem = self._image(given.get(name), f"input.{name}", images)
            if problem is not None:
                return problem
        if model.kind == "wan27_i2v":
            return self._media_problems(given.get("media"), images)
        return None

    def _media_problems(self, media: Any, images: list[bytes]) -> str | None:
        if not isinstance(media, list) or not all(isinstance(m, dict) for m in media):
            return "image-to-video model wan2.7-i2v must provide an image"
        kinds = [m.get("type") for m in media]
        if kinds.count("first_frame") != 1 or kinds.count("last_frame") > 1 or set(kinds) - MEDIA_TYPES:
            return "input.media needs one first_frame and at most one last_frame"
        for item in sorted(media, key=lambda m: m.get("type") != "first_frame"):  # first frame first
            if item["type"] in ("first_frame", "last_frame"):
                problem = self._image(item.get("url"), f"media {item['type']}", images)
            elif not str(item.get("url", "")).startswith(("http://", "https://", "oss://")):
                problem = f"media {item['type']} must have a URL"
            else:
                problem = None
            if problem is not None:
                return problem
        return None

    @staticmethod
    def _image(value: Any, name: str, images: list[bytes]) -> str | None:
        """A public URL or oss:// reference (taken as is), or a data URI, which is decoded and kept."""
        if not isinstance(value, str) or not value:
            return f"Field required: {name}"
        if value.startswith(("http://", "https://", "oss://")):
            return None
        match = _DATA_URI.fullmatch(value)
        if match is None:
            return f"{name} must be a URL or a data:image/<format>;base64 URI"
        try:
            data = base64.b64decode(match[2], validate=True)
        except (binascii.Error, ValueError):
            return f"{name} is not valid base64"
        if len(data) > MAX_IMAGE_BYTES:
            return f"{name} is larger than 10 MB"
        images.append(data)
        return None

    @staticmethod
    def _parameter_problems(model: FakeModel, parameters: dict[str, Any]) -> str | None:
        size = parameters.get("size")
        if size is not None and not any(
            size in sizes for r, sizes in _T2V_SIZES.items() if r in model.resolutions
        ):
            return f"size {size!r} is not supported; use W*H from the model's table"
        resolution = parameters.get("resolution")
        if resolution is not None and resolution not in model.resolutions:
            return f"resolution must be one of {sorted(model.resolutions)}"
        if "ratio" in parameters and parameters["ratio"] not in {"16:9", "9:16", "1:1", "4:3", "3:4"}:
            return "ratio is not supported"
        duration = parameters.get("duration")
        if duration is not None and (isinstance(duration, bool) or duration not in model.durations):
            return f"duration must be one of {sorted(model.durations)}"
        seed = parameters.get("seed")
        if seed is not None and (
            not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**31
        ):
            return "seed must be an integer in [0, 2147483647]"
        for flag in ("prompt_extend", "watermark", "audio"):
            if flag in parameters and not isinstance(parameters[flag], bool):
                return f"{flag} must be a boolean"
        return None

    async def _task(self, request: web.Request) -> web.Response:
        _, refused = await self._begin(request, "task")
        if refused is not None:
            return refused
        task_id = request.match_info["task_id"]
        task = self.tasks.get(task_id)
        request_id = str(uuid.uuid4())
        if task is not None:
            task.polls += 1
        if task is None or (task.script.outcome == "expired" and task.state() == "DONE"):
            unknown = {"task_id": task_id, "task_status": "UNKNOWN"}
            return web.json_response({"request_id": request_id, "output": unknown})
        output, usage = self._output(task)
        answer: dict[str, Any] = {"request_id": request_id, "output": output}
        if usage:
            answer["usage"] = usage
        return web.json_response(answer)

    def _output(self, task: FakeTask) -> tuple[dict[str, Any], dict[str, Any]]:
        output: dict[str, Any] = {
            "task_id": task.task_id,
            "task_status": task.state(),
            "submit_time": "2026-04-25 15:03:25.848",
        }
        if output["task_status"] != "DONE":
            return output, {}
        output["end_time"] = "2026-04-25 15:04:05.882"
        outcome = task.script.outcome
        if outcome in ("policy", "failed"):
            policy = outcome == "policy"
            output["task_status"] = "FAILED"
            output["code"] = POLICY_CODE if policy else INTERNAL_CODE
            output["message"] = POLICY_MESSAGE if policy else INTERNAL_MESSAGE
            return output, {}
        output["task_status"] = "SUCCEEDED"
        prompt = task.body["input"].get("prompt", "")
        output["orig_prompt"] = prompt
        if task.body.get("parameters", {}).get("prompt_extend", True):
            output["actual_prompt"] = f"{prompt}, cinematic lighting"
        if outcome != "no_video":
            output["video_url"] = (
                f"{self.video_url(task.task_id)}?Expires=1777100000&OSSAccessKeyId=LTAI5tFake&Signature=s%3D"
            )
        seconds = task.body.get("parameters", {}).get("duration", 5)
        if task.script.usage == "sr":
            return output, {"video_duration": seconds, "video_count": 1, "SR": 720}
        return output, {"duration": seconds, "video_count": 1, "video_ratio": "1280*720"}

    async def _cancel(self, request: web.Request) -> web.Response:
        _, refused = await self._begin(request, "cancel")
        if refused is not None:
            return refused
        task = self.tasks.get(request.match_info["task_id"])
        if task is None:
            return self._error(400, "InvalidParameter", "task not found")
        if task.state() != "PENDING":
            return self._error(400, "UnsupportedOperation", "Only PENDING tasks can be canceled.")
        task.cancelled = True
        return web.json_response({"request_id": str(uuid.uuid4())})

    # -------------------------------------------------------------------------------------- file hosting

    async def _video_file(self, request: web.Request) -> web.StreamResponse:
        self.file_requests.append(
            FileRequest(request.path, dict(request.query), request.headers.get("Authorization"))
        )
        task = self.tasks.get(request.match_info["name"].removesuffix(".mp4"))
        if task is None or task.state() != "DONE" or "Signature" not in request.query:
            raise web.HTTPForbidden(text="<Error><Code>AccessDenied</Code></Error>")
        mode = task.script.file
        if mode == "expired":
            raise web.HTTPForbidden(
                text="<Error><Code>AccessDenied</Code><Message>Request has expired.</Message></Error>"
            )
        data = self.video_bytes(task.task_id)
        if mode == "ok":
            return web.Response(body=data, content_type="video/mp4")
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(data), 1 << 14):
            await response.write(data[start : start + (1 << 14)])
            if mode == "stall":
                await self._release.wait()  # never set before close(): the client's read timeout fires
        await response.write_eof()
        return response
