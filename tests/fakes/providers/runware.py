"""A fake Runware API on loopback (reference/providers.md §4), reached through RUNWARE_BASE_URL.

`POST /v1` takes a JSON array of tasks with a Bearer key and answers `{"data": [...]}`, or
`{"errors": [...]}` with an HTTP status, the way Runware does. It checks what the real API checks:
the key, the array body, task types, UUIDv4 task ids, required fields and enum values, image
references by uploaded UUID, providerSettings per model family, and the duration/size combinations
of the models whose limits we know. Result files are served from a second port, so the result URL's
host differs from the API's (a CDN), as in production.

Scripts (`Script`, queued per `videoInference` task) make a task succeed after N polls, fail for
content policy or another reason (in `errors[]`, as an item with status "error", with HTTP 200 or
400), finish without a video, or leave a file that has expired, is slow or is large.
`fail_next` injects HTTP failures (429 with Retry-After, 5xx, 401/402/403, a 400 moderation refusal);
`break_next_ack` answers a `videoInference` with truncated JSON under HTTP 200, or holds the answer past
any read timeout, after making the task or not; `creates()` counts the video tasks sent.
UNCONFIRMED details (error codes, the HTTP status of a failed poll, duplicate taskUUID handling)
follow the reference's best guesses.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from aiohttp import web

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64
DOCS = "https://runware.ai/docs/en/video-inference/api-reference"

_AIR = re.compile(r"^[a-z0-9]+:[A-Za-z0-9._-]+@[A-Za-z0-9._-]+$")
_IMAGE_MIME = {"image/jpeg", "image/jpg", "image/png", "image/webp", "image/bmp", "image/gif"}
_VIDEO_FIELDS = {
    "taskType",
    "taskUUID",
    "model",
    "positivePrompt",
    "negativePrompt",
    "duration",
    "width",
    "height",
    "frameImages",
    "referenceImages",
    "deliveryMethod",
    "outputType",
    "outputFormat",
    "outputQuality",
    "numberResults",
    "seed",
    "fps",
    "includeCost",
    "webhookURL",
    "providerSettings",
}
_PROVIDER_SETTINGS = {
    "google": {"generateAudio", "enhancePrompt", "search", "resizeMode", "safetyTolerance"},
    "vidu": {"bgm", "style", "movementAmplitude", "audio", "template"},
    "klingai": {"sound", "cameraControl", "soundVolume", "multiPrompt"},
    "bytedance": {"cameraFixed", "audio", "draft", "fastMode"},
}
_RUNNING = ("processing", "pending", "queued", "scheduled", "waiting")
#: Settings whose values Runware checks (its Vidu provider page): anything else is a 400.
_SETTING_VALUES = {
    ("vidu", "movementAmplitude"): {"auto", "small", "medium", "large"},
    ("vidu", "style"): {"general", "anime"},
}
_BOOLEAN_SETTINGS = {"bgm", "generateAudio", "enhancePrompt"}

_HD = {(1920, 1080), (1080, 1920), (1080, 1080)}
_SD = {(1280, 720), (720, 1280), (720, 720)}
_LD = {(640, 360), (360, 640), (360, 360)}
#: The fake's own copy of the model limits (model → accepted (durations, sizes, music allowed)); kept
#: apart from the adapter's table so that a mistake in one is caught by the other.
MODEL_COMBOS: dict[str, list[tuple[set[int], set[tuple[int, int]], bool]]] = {
    "google:3@0": [({8}, {(1280, 720), (720, 1280), (1920, 1080), (1080, 1920)}, True)],
    "google:3@2": [({4, 6, 8}, {(1280, 720), (720, 1280), (1920, 1080), (1080, 1920)}, True)],
    "google:3@3": [({4, 6, 8}, {(1280, 720), (720, 1280), (1920, 1080), (1080, 1920)}, True)],
    "vidu:1@1": [({5}, {(1920, 1080)}, False)],
    "vidu:1@5": [({4}, _LD | _SD | _HD, True)],
    "vidu:2@0": [({4}, _LD | _SD | _HD, True), ({8}, _SD, False)],
}

#: Builds a 400 error entry for one parameter: (code, message, parameter).
Bad = Callable[[str, str, str], dict[str, Any]]
Outcome = Literal["success", "content_policy", "error", "error_item", "no_video"]
AckFault = Literal["malformed", "stall"]
FileMode = Literal["ok", "expired", "missing", "slow", "large", "large_declared"]


@dataclass
class Script:
    """How one `videoInference` task behaves."""

    polls: int = 1  #: getResponse answers that report "not finished" before the outcome
    running_status: str = "processing"  #: or pending/queued/scheduled/waiting, or "" for empty data
    outcome: Outcome = "success"
    failure_http_status: int = 200  #: a failed task's poll answers with this status
    error_code: str = "providerError"  #: the code of an "error" outcome (e.g. "timeout")
    url_field: str = "videoURL"  #: or "mediaURL"
    file: FileMode = "ok"


@dataclass
class Task:
    uuid: str
    body: dict[str, Any]
    script: Script
    polls: int = 0


@dataclass
class Injected:
    status: int
    code: str
    message: str
    task_type: str | None
    retry_after: str | None


@dataclass
class FakeRunware:
    api_key: str = "rw-test-key"
    scripts: list[Script] = field(default_factory=list)
    tasks: dict[str, Task] = field(default_factory=dict)
    images: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    requests: list[Any] = field(default_factory=list)
    api_headers: list[dict[str, str]] = field(default_factory=list)
    file_headers: list[dict[str, str]] = field(default_factory=list)
    injected: list[Injected] = field(default_factory=list)
    #: (fault, task made first) for the next `videoInference` submits.
    broken_acks: list[tuple[AckFault, bool]] = field(default_factory=list)
    #: Set when a `videoInference` arrives: a test waits for a create whose answer never comes.
    create_seen: asyncio.Event = field(default_factory=asyncio.Event)
    #: A "slow" file sends its first chunk, then waits for this before the rest.
    release_slow: asyncio.Event = field(default_factory=asyncio.Event)
    api_url: str = ""
    cdn_url: str = ""
    _used: set[str] = field(default_factory=set)
    _runner: web.AppRunner | None = None

    # ------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1", self._api)
        app.router.add_get("/videos/{name}", self._file)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        ports = []
        for _ in range(2):  # one port for the API, one for the "CDN": different hosts to the client
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            ports.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        self.api_url = f"http://127.0.0.1:{ports[0]}/v1"
        self.cdn_url = f"http://127.0.0.1:{ports[1]}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------------------------ scripting

    def script(self, *scripts: Script) -> None:
        """The next `videoInference` tasks behave like these (then like the default Script())."""
        self.scripts.extend(scripts)

    def fail_next(
        self,
        status: int,
        *,
        code: str = "error",
        message: str = "injected failure",
        times: int = 1,
        task_type: str | None = None,
        retry_after: str | None = None,
    ) -> None:
        """The next `times` requests (containing a `task_type` task, if given) get this error."""
        self.injected.extend(Injected(status, code, message, task_type, retry_after) for _ in range(times))

    def break_next_ack(self, fault: AckFault, *, made: bool = True) -> None:
        """The next `videoInference` gets no usable answer: truncated JSON with HTTP 200 ("malformed"),
        or none until the client gives up ("stall"). `made`: the task was created first, as when only
        the answer is lost; otherwise Runware dropped it."""
        self.broken_acks.append((fault, made))

    def creates(self) -> int:
        """`videoInference` tasks received, refused and broken ones included."""
        return sum(
            1
            for body in self.requests
            if isinstance(body, list)
            for task in body
            if isinstance(task, dict) and task.get("taskType") == "videoInference"
        )

    def video_tasks(self) -> list[dict[str, Any]]:
        return [task.body for task in self.tasks.values()]

    def callback_body(self, task_uuid: str) -> bytes:
        """What Runware POSTs to webhookURL when the task ends: the flat task object, or an errors body."""
        task = self.tasks[task_uuid]
        answer = self._outcome(task)
        if "data" in answer:
            return json.dumps(answer["data"][0]).encode()
        return json.dumps({"errors": answer["errors"]}).encode()

    async def deliver_callback(self, task_uuid: str) -> int:
        """POST the final result to the task's webhookURL; returns the receiver's HTTP status."""
        url = self.tasks[task_uuid].body["webhookURL"]
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                url, data=self.callback_body(task_uuid), headers={"Content-Type": "application/json"}
            ) as response,
        ):
            return response.status

    # ------------------------------------------------------------------------------------ API

    @staticmethod
    def _errors(status: int, *entries: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response({"errors": list(entries)}, status=status, headers=headers)

    @staticmethod
    def _entry(code: str, message: str, task: Any = None, parameter: str | None = None) -> dict[str, Any]:
        entry: dict[str, Any] = {"code": code, "message": message, "documentation": DOCS}
        if isinstance(task, dict):
            entry["taskType"] = task.get("taskType")
            entry["taskUUID"] = task.get("taskUUID")
        if parameter:
            entry["parameter"] = parameter
        return entry

    async def _api(self, request: web.Request) -> web.Response:
        self.api_headers.append(dict(request.headers))
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._errors(
                401,
                self._entry("invalidApiKey", "Invalid API key. Get one at runware.ai", parameter="apiKey"),
            )
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self._errors(400, self._entry("invalidJSON", "The request body is not valid JSON."))
        self.requests.append(body)
        if not isinstance(body, list) or not body:
            return self._errors(
                400, self._entry("invalidPayload", "The request body must be an array of tasks.")
            )
        injected = self._take_injected(body)
        if injected is not None:
            headers = {"Retry-After": injected.retry_after} if injected.retry_after else None
            first = body[0] if isinstance(body[0], dict) else None
            return self._errors(
                injected.status, self._entry(injected.code, injected.message, first), headers=headers
            )
        broken = None
        if any(isinstance(t, dict) and t.get("taskType") == "videoInference" for t in body):
            self.create_seen.set()
            broken = self.broken_acks.pop(0) if self.broken_acks else None
        data: list[dict[str, Any]] = []
        for task in body if broken is None or broken[1] else ():
            problem = self._check_common(task)
            if problem is not None:
                return self._errors(400, problem)
            handler = getattr(self, f"_t_{task['taskType'].lower()}")
            answer = handler(task)
            if isinstance(answer, web.Response):
                return answer
            data.append(answer)
        if broken is not None and broken[0] == "stall":
            await asyncio.sleep(3600)  # cancelled when the client hangs up
        if broken is not None:
            return web.Response(text='{"data": [{"taskType": "videoInfer', content_type="application/json")
        return web.json_response({"data": data})

    def _take_injected(self, body: list[Any]) -> Injected | None:
        types = {t.get("taskType") for t in body if isinstance(t, dict)}
        for index, item in enumerate(self.injected):
            if item.task_type is None or item.task_type in types:
                return self.injected.pop(index)
        return None

    def _check_common(self, task: Any) -> dict[str, Any] | None:
        if not isinstance(task, dict):
            return self._entry("invalidTask", "Every task must be an object.")
        if task.get("taskType") not in ("imageUpload", "videoInference", "getResponse"):
            return self._entry("invalidTaskType", "Unsupported taskType.", task, "taskType")
        raw = task.get("taskUUID")
        try:
            parsed = uuid.UUID(raw) if isinstance(raw, str) else None
        except ValueError:
            parsed = None
        if parsed is None or parsed.version != 4 or str(parsed) != raw.lower():
            return self._entry("invalidTaskUUID", "taskUUID must be a UUID v4 string.", task, "taskUUID")
        return None

    def _fresh(self, task: dict[str, Any]) -> dict[str, Any] | None:
        """A new task needs a UUID no earlier task used (UNCONFIRMED: Runware's exact reaction)."""
        if task["taskUUID"] in self._used:
            return self._entry("duplicateTaskUUID", "taskUUID was already used.", task, "taskUUID")
        self._used.add(task["taskUUID"])
        return None

    def _t_imageupload(self, task: dict[str, Any]) -> dict[str, Any] | web.Response:
        image = task.get("image")
        match = (
            re.fullmatch(r"data:([\w/+.-]+);base64,(.+)", image, re.DOTALL)
            if isinstance(image, str)
            else None
        )
        if match is None or match[1] not in _IMAGE_MIME:
            return self._errors(
                400,
                self._entry(
                    "invalidImage", "image must be a data URI of jpeg, png, webp, bmp or gif.", task, "image"
                ),
            )
        try:
            raw = base64.b64decode(match[2], validate=True)
        except (binascii.Error, ValueError):
            return self._errors(400, self._entry("invalidImage", "image is not valid base64.", task, "image"))
        problem = self._fresh(task)
        if problem is not None:
            return self._errors(400, problem)
        image_uuid = str(uuid.uuid4())
        self.images[image_uuid] = (match[1], raw)
        return {
            "taskType": "imageUpload",
            "taskUUID": task["taskUUID"],
            "imageUUID": image_uuid,
            "imageURL": f"{self.cdn_url}/images/{image_uuid}.{match[1].split('/')[1]}",
        }

    def _t_videoinference(self, task: dict[str, Any]) -> dict[str, Any] | web.Response:
        problem = self._check_video(task) or self._fresh(task)
        if problem is not None:
            return self._errors(400, problem)
        script = self.scripts.pop(0) if self.scripts else Script()
        self.tasks[task["taskUUID"]] = Task(task["taskUUID"], task, script)
        return {"taskType": "videoInference", "taskUUID": task["taskUUID"]}

    def _check_video(self, task: dict[str, Any]) -> dict[str, Any] | None:
        def bad(code: str, message: str, parameter: str) -> dict[str, Any]:
            return self._entry(code, message, task, parameter)

        unknown = sorted(set(task) - _VIDEO_FIELDS)
        if unknown:
            return bad("unsupportedParameter", f"Unsupported parameter {unknown[0]}.", unknown[0])
        model = task.get("model")
        if not isinstance(model, str) or not _AIR.match(model):
            return bad("invalidModel", "model must be an AIR identifier like google:3@2.", "model")
        prompt = task.get("positivePrompt")
        if not isinstance(prompt, str) or not 1 <= len(prompt) <= 4000:
            return bad("invalidPositivePrompt", "positivePrompt must be 1-4000 characters.", "positivePrompt")
        if "negativePrompt" in task and not isinstance(task["negativePrompt"], str):
            return bad("invalidNegativePrompt", "negativePrompt must be a string.", "negativePrompt")
        for name in ("width", "height"):
            value = task.get(name)
            if not isinstance(value, int) or isinstance(value, bool) or not 256 <= value <= 2048:
                return bad(f"invalid{name.title()}", f"{name} must be an integer between 256 and 2048.", name)
        duration = task.get("duration")
        if not isinstance(duration, int | float) or isinstance(duration, bool) or duration <= 0:
            return bad("invalidDuration", "duration must be a positive number of seconds.", "duration")
        if task.get("deliveryMethod") != "async":
            return bad(
                "invalidDeliveryMethod", "Video models support deliveryMethod async only.", "deliveryMethod"
            )
        if task.get("outputType", "URL") not in ("URL", "base64Data", "dataURI"):
            return bad("invalidOutputType", "outputType must be URL, base64Data or dataURI.", "outputType")
        if task.get("outputFormat", "MP4") not in ("MP4", "WEBM", "MOV"):
            return bad("invalidOutputFormat", "outputFormat must be MP4, WEBM or MOV.", "outputFormat")
        count = task.get("numberResults", 1)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 4:
            return bad("invalidNumberResults", "numberResults must be between 1 and 4.", "numberResults")
        if "includeCost" in task and not isinstance(task["includeCost"], bool):
            return bad("invalidIncludeCost", "includeCost must be a boolean.", "includeCost")
        seed = task.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            return bad("invalidSeed", "seed must be a non-negative integer.", "seed")
        hook = task.get("webhookURL")
        if hook is not None and not (isinstance(hook, str) and re.match(r"^https?://", hook)):
            return bad("invalidWebhookURL", "webhookURL must be an http(s) URL.", "webhookURL")
        return (
            self._check_images(task, bad)
            or self._check_settings(task, model, bad)
            or self._check_combo(task, model, duration, bad)
        )

    def _check_images(self, task: dict[str, Any], bad: Bad) -> dict[str, Any] | None:
        frames = task.get("frameImages", [])
        if not isinstance(frames, list) or len(frames) > 2:
            return bad("invalidFrameImages", "frameImages must be a list of at most 2 items.", "frameImages")
        for frame in frames:
            if not isinstance(frame, dict) or frame.get("frame") not in ("first", "last"):
                return bad("invalidFrameImages", "Each frame image needs frame first or last.", "frameImages")
            if frame.get("inputImage") not in self.images:
                return bad("invalidImageUUID", "inputImage is not an uploaded image.", "frameImages")
        references = task.get("referenceImages", [])
        if not isinstance(references, list) or any(ref not in self.images for ref in references):
            return bad("invalidImageUUID", "referenceImages must list uploaded images.", "referenceImages")
        return None

    @staticmethod
    def _check_settings(task: dict[str, Any], model: str, bad: Bad) -> dict[str, Any] | None:
        settings = task.get("providerSettings")
        if settings is None:
            return None
        family = model.split(":", 1)[0]
        if not isinstance(settings, dict) or set(settings) != {family}:
            return bad(
                "invalidProviderSettings", f"providerSettings must hold only {family}.", "providerSettings"
            )
        block = settings[family]
        if not isinstance(block, dict) or not set(block) <= _PROVIDER_SETTINGS.get(family, set()):
            return bad("invalidProviderSettings", f"Unsupported {family} settings.", "providerSettings")
        if any(not isinstance(block.get(k, False), bool) for k in _BOOLEAN_SETTINGS):
            return bad(
                "invalidProviderSettings",
                "bgm, generateAudio and enhancePrompt must be booleans.",
                "providerSettings",
            )
        for name, value in block.items():
            allowed = _SETTING_VALUES.get((family, name))
            if allowed is not None and value not in allowed:
                return bad(
                    "invalidProviderSettings",
                    f"{family}.{name} must be one of {', '.join(sorted(allowed))}.",
                    "providerSettings",
                )
        return None

    @staticmethod
    def _check_combo(task: dict[str, Any], model: str, duration: float, bad: Bad) -> dict[str, Any] | None:
        combos = MODEL_COMBOS.get(model)
        if combos is None:
            return None
        size = (task["width"], task["height"])
        music = bool(task.get("providerSettings", {}).get("vidu", {}).get("bgm"))
        if any(duration in d and size in s and (m or not music) for d, s, m in combos):
            return None
        return bad(
            "invalidDimensionsOrDuration",
            f"{model} does not support {duration}s at {size[0]}x{size[1]}"
            + (" with bgm" if music else "")
            + ".",
            "duration",
        )

    def _t_getresponse(self, task: dict[str, Any]) -> dict[str, Any] | web.Response:
        found = self.tasks.get(task["taskUUID"])
        if found is None:
            return self._errors(
                404, self._entry("taskNotFound", "No task with this taskUUID.", task, "taskUUID")
            )
        found.polls += 1
        script = found.script
        if found.polls <= script.polls:
            if not script.running_status:
                return web.json_response({"data": []})
            return web.json_response(
                {
                    "data": [
                        {
                            "taskType": "videoInference",
                            "taskUUID": found.uuid,
                            "status": script.running_status,
                        }
                    ]
                }
            )
        answer = self._outcome(found)
        status = script.failure_http_status if "errors" in answer else 200
        return web.json_response(answer, status=status)

    def _outcome(self, task: Task) -> dict[str, Any]:
        script = task.script
        base = {"taskType": "videoInference", "taskUUID": task.uuid}
        if script.outcome == "success":
            return {
                "data": [
                    {
                        **base,
                        "status": "success",
                        "videoUUID": str(uuid.UUID(int=int(uuid.UUID(task.uuid)) ^ 1)),
                        script.url_field: f"{self.cdn_url}/videos/{task.uuid}.mp4",
                        "cost": 0.4,
                        "seed": task.body.get("seed", 42),
                    }
                ]
            }
        if script.outcome == "no_video":
            return {"data": [{**base, "status": "success", "cost": 0}]}
        if script.outcome == "error_item":
            return {"data": [{**base, "status": "error", "message": "Generation failed upstream."}]}
        if script.outcome == "content_policy":
            entry = self._entry(
                "contentModeration",
                "The content was flagged by the provider's content moderation.",
                task.body,
            )
        else:
            entry = self._entry(script.error_code, "The provider could not generate the video.", task.body)
        return {"errors": [{**entry, "status": "error"}]}

    # ------------------------------------------------------------------------------------ files

    async def _file(self, request: web.Request) -> web.StreamResponse:
        self.file_headers.append(dict(request.headers))
        task = self.tasks.get(request.match_info["name"].removesuffix(".mp4"))
        mode = task.script.file if task is not None else "missing"
        if mode == "expired":
            return web.Response(
                status=403,
                text="<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                content_type="application/xml",
            )
        if mode == "missing":
            return web.Response(status=404, text="Not Found")
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
