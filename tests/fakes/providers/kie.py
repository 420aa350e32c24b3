"""A fake of KIE.ai's Veo 3.1 API on loopback (reference/providers.md §3), on three sites like the real one:

* the API (`url`): generate, extend, record-info, get-1080p-video, get-4k-video; business answers are
  HTTP 200 with the envelope `{"code", "msg", "data"}`, refusals carry KIE's codes (401, 402, 422, 400
  policy …);
* the file upload API (`upload_url`): file-base64-upload, which hosts the image on the file site;
* the file site (`files_url`): uploaded images and result videos, public (it records any key it is sent).

It checks requests the way the API does (Bearer key, required fields, enum values, imageUrls that its
own upload API issued) and is scripted per task with `TaskScript` and per call with `fail()`.
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
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import ClientSession, web

API_KEY = "kie-test-key-0123456789"
POLICY_MESSAGE = "Your prompt was flagged by Website as violating content policies."
FLOW_MESSAGE = "Your request was rejected by Flow(The prompt could not be submitted), please adjust it."
ENGLISH_MESSAGE = "Only English prompts are supported at this time."
HD_PROCESSING = "1080P is processing. It should be ready in 1-2 minutes. Please check back shortly."
UHD_PROCESSING = "4k is processing. It should be ready in 5-10 minutes. Please check back shortly."
UHD_DONE = "The video has been generated successfully"
UHD_UNAVAILABLE = "The 4K version of this video is unavailable. Please try another video."
FAILED_MESSAGE = "Generation failed, please try again later."

MODELS = frozenset({"veo3", "veo3_fast"})
EXTEND_MODELS = frozenset({"fast", "quality"})
GENERATION_TYPES = frozenset({"TEXT_2_VIDEO", "FIRST_AND_LAST_FRAMES_2_VIDEO", "REFERENCE_2_VIDEO"})
ASPECT_RATIOS = frozenset({"16:9", "9:16", "Auto"})
GENERATE_FIELDS = frozenset(
    {
        "prompt",
        "model",
        "imageUrls",
        "generationType",
        "aspect_ratio",
        "seeds",
        "callBackUrl",
        "enableTranslation",
        "watermark",
        "enableFallback",
    }
)
EXTEND_FIELDS = frozenset({"taskId", "prompt", "seeds", "watermark", "callBackUrl", "model"})
UHD_FIELDS = frozenset({"taskId", "index", "callBackUrl"})
VIDEO_HEADER = b"\x00\x00\x00\x18ftypmp42"

Outcome = Literal["success", "failed", "policy", "no_video"]
#: Where a finished record puts its URLs: the schema's array, the quickstart's JSON string at
#: data.resultUrls, fullResultUrls, or the OpenAPI example's unquoted "[http://…]" string.
UrlShape = Literal["array", "json_string", "full", "bracket_string"]
#: Where a get-1080p-video answer puts the 1080p URL: `data.resultUrl` (the reference), or the seed
#: documents' `data.video1080pUrl` and `data.info.resultUrls`.
HdShape = Literal["resultUrl", "video1080pUrl", "info"]
#: Where a finished get-4k-video answer puts the URLs: `data.resultUrls` (422 "generated successfully"),
#: the same under code 200, `data.info.resultUrls`, or the OpenAPI schema's snake_case `result_urls`.
UhdShape = Literal["data", "ok", "info", "snake"]
#: How the file site serves the video: whole with a length, chunked without one, expired (404/403),
#: slowly in small pieces, or stalled after the first piece.
FileMode = Literal["ok", "chunked", "expired", "forbidden", "slow", "stall"]


def callback_signature(key: str, task_id: str, timestamp: str) -> str:
    """KIE's webhook signature: base64(HMAC-SHA256(key, taskId + "." + timestamp))."""
    digest = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _variant(hd: bool, uhd: bool) -> str:
    """The file-name suffix of an upgraded video."""
    return "_4k" if uhd else "_1080p" if hd else ""


@dataclass
class TaskScript:
    polls: int = 1
    outcome: Outcome = "success"
    urls: UrlShape = "array"
    #: The legacy fallback path renders 1080p already (record says resolution 1080p).
    already_hd: bool = False
    hd_polls: int = 1
    hd_shape: HdShape = "resultUrl"
    #: record-info lists the 1080p file as `response.video1080pUrl` next to the 720p one once done.
    record_hd: bool = False
    #: get-4k-video answers "processing" this many times after the order, then the URLs (or failure).
    uhd_polls: int = 1
    uhd_shape: UhdShape = "data"
    uhd_available: bool = True
    file: FileMode = "ok"
    video_size: int = 4096


@dataclass(frozen=True)
class Fault:
    """One scripted answer that replaces the next call to an endpoint (before any check)."""

    code: int
    msg: str
    http_status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    envelope: bool = True


@dataclass
class FakeTask:
    task_id: str
    kind: Literal["generate", "extend"]
    body: dict[str, Any]
    script: TaskScript
    polls: int = 0
    hd_polls: int = 0
    upgraded: bool = False
    #: The 4k task get-4k-video made (paid once), and its answers since.
    uhd_task: str | None = None
    uhd_polls: int = 0

    @property
    def done(self) -> bool:
        return self.polls > self.script.polls

    @property
    def succeeded(self) -> bool:
        return self.done and self.script.outcome == "success"


@dataclass
class FileRequest:
    path: str
    authorization: str | None


class FakeKie:
    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.script = TaskScript()
        self.tasks: dict[str, FakeTask] = {}
        self.faults: dict[str, deque[Fault]] = {}
        #: (endpoint, JSON body or query) of every API and upload call, in order.
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.file_requests: list[FileRequest] = []
        #: Uploaded files by their downloadUrl.
        self.uploads: dict[str, bytes] = {}
        self._ids = itertools.count(1)
        self._stall = asyncio.Event()
        self._runners: list[web.AppRunner] = []
        self.url = self.upload_url = self.files_url = ""

    # ---------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        api = web.Application()
        api.router.add_post("/api/v1/veo/generate", self._generate)
        api.router.add_post("/api/v1/veo/extend", self._extend)
        api.router.add_get("/api/v1/veo/record-info", self._record_info)
        api.router.add_get("/api/v1/veo/get-1080p-video", self._get_hd)
        api.router.add_post("/api/v1/veo/get-4k-video", self._get_uhd)
        upload = web.Application(client_max_size=16 * 1024 * 1024)
        upload.router.add_post("/api/file-base64-upload", self._upload)
        files = web.Application()
        files.router.add_get("/videos/{name}", self._video_file)
        files.router.add_get("/uploads/{path:.+}", self._uploaded_file)
        self.url = await self._serve(api)
        self.upload_url = await self._serve(upload)
        self.files_url = await self._serve(files)

    async def _serve(self, app: web.Application) -> str:
        runner = web.AppRunner(app, handler_cancellation=True)  # a stalled download ends at close
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        self._stall.set()
        for runner in self._runners:
            await runner.cleanup()

    # ------------------------------------------------------------------------------------------ scripting

    def fail(self, endpoint: str, fault: Fault, *, times: int = 1) -> None:
        """The next `times` calls to `endpoint` (generate, extend, record-info, get-1080p-video,
        get-4k-video, upload) get `fault` instead of an answer."""
        self.faults.setdefault(endpoint, deque()).extend([fault] * times)

    def finish(self, task_id: str) -> None:
        """Let the task reach its scripted outcome without more polls (what a callback announces)."""
        task = self.tasks[task_id]
        task.polls = max(task.polls, task.script.polls + 1)

    def video_url(self, task_id: str, *, hd: bool = False, uhd: bool = False) -> str:
        return f"{self.files_url}/videos/{task_id}{_variant(hd, uhd)}.mp4"

    def video_bytes(self, task_id: str, *, hd: bool = False, uhd: bool = False) -> bytes:
        name = f"{task_id}{_variant(hd, uhd)}".encode()
        size = self.tasks[task_id].script.video_size
        return (VIDEO_HEADER + name * (size // max(1, len(name)) + 1))[:size]

    def endpoint_calls(self, endpoint: str) -> list[dict[str, Any]]:
        return [body for name, body in self.calls if name == endpoint]

    def uhd_orders(self) -> int:
        """Paid 4k upgrades made (repeated get-4k-video calls for one task order it once)."""
        return sum(1 for task in self.tasks.values() if task.uhd_task is not None)

    # ------------------------------------------------------------------------------------------ callbacks

    def callback_payload(self, task_id: str) -> dict[str, Any]:
        """The body KIE posts to callBackUrl for a finished task (promptJson as a string, as seen)."""
        task = self.tasks[task_id]
        data: dict[str, Any] = {"taskId": task_id, "fallbackFlag": False}
        outcome = task.script.outcome
        if outcome == "policy":
            return {"code": 400, "msg": POLICY_MESSAGE, "data": data}
        if outcome == "failed":
            return {"code": 501, "msg": FAILED_MESSAGE, "data": data}
        urls = [] if outcome == "no_video" else [self.video_url(task_id)]
        info_urls: Any = urls
        if task.script.urls in ("json_string", "bracket_string") and urls:
            info_urls = json.dumps(urls) if task.script.urls == "json_string" else f"[{urls[0]}]"
        data["info"] = {"resultUrls": info_urls, "originUrls": [], "resolution": "720p"}
        data["promptJson"] = json.dumps({"prompt": task.body.get("prompt", "")})
        return {"code": 200, "msg": "Veo3.1 video generated successfully.", "data": data}

    async def deliver_callback(
        self, task_id: str, *, hmac_key: str | None = None, timestamp: int | None = None
    ) -> int:
        """Finish the task and POST its callback to its callBackUrl, signed with `hmac_key` when given
        (at `timestamp`, unix seconds, default now); return the receiver's HTTP status."""
        task = self.tasks[task_id]
        url = task.body.get("callBackUrl")
        assert isinstance(url, str), "the task was submitted without a callBackUrl"
        self.finish(task_id)
        headers = {"Content-Type": "application/json"}
        if hmac_key is not None:
            stamp = str(int(time.time()) if timestamp is None else timestamp)
            headers["X-Webhook-Timestamp"] = stamp
            headers["X-Webhook-Signature"] = callback_signature(hmac_key, task_id, stamp)
        async with (
            ClientSession() as session,
            session.post(url, data=json.dumps(self.callback_payload(task_id)), headers=headers) as response,
        ):
            return response.status

    # ---------------------------------------------------------------------------------------------- API

    @staticmethod
    def _envelope(code: int, msg: str, data: Any = None, *, http_status: int = 200) -> web.Response:
        return web.json_response({"code": code, "msg": msg, "data": data}, status=http_status)

    def _fault(self, endpoint: str) -> web.Response | None:
        queue = self.faults.get(endpoint)
        if not queue:
            return None
        fault = queue.popleft()
        if fault.envelope:
            response = self._envelope(fault.code, fault.msg, http_status=fault.http_status)
        else:  # a gateway's own page, not KIE's envelope
            html = f"<html>{fault.msg}</html>"
            response = web.Response(status=fault.http_status, text=html, content_type="text/html")
        response.headers.update(fault.headers)
        return response

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def _begin(self, request: web.Request, endpoint: str) -> tuple[dict[str, Any], web.Response | None]:
        """Log the call; answer a scripted fault, a missing key or a body that is not a JSON object."""
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            try:
                params = await request.json()
            except ValueError:
                params = {}
                self.calls.append((endpoint, params))
                return params, self._envelope(400, "Request body is not valid JSON")
            if not isinstance(params, dict):
                self.calls.append((endpoint, {}))
                return {}, self._envelope(400, "Request body must be a JSON object")
        self.calls.append((endpoint, params))
        fault = self._fault(endpoint)
        if fault is not None:
            return params, fault
        if not self._authorized(request):
            return params, self._envelope(401, "You do not have access permissions")
        return params, None

    def _new_task(self, kind: Literal["generate", "extend"], body: dict[str, Any]) -> str:
        task_id = f"veo_task_{next(self._ids):06d}"
        self.tasks[task_id] = FakeTask(task_id, kind, body, TaskScript(**vars(self.script)))
        return task_id

    @staticmethod
    def _common_problems(body: dict[str, Any], allowed: frozenset[str]) -> str | None:
        unknown = sorted(set(body) - allowed)
        if unknown:
            return f"Unknown parameter(s): {', '.join(unknown)}"
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return "prompt is required"
        seeds = body.get("seeds")
        if "seeds" in body and (
            not isinstance(seeds, int) or isinstance(seeds, bool) or not 10000 <= seeds <= 99999
        ):
            return "seeds must be an integer between 10000 and 99999"
        if "callBackUrl" in body and not str(body["callBackUrl"]).startswith(("http://", "https://")):
            return "callBackUrl must be a URL"
        return None

    async def _generate(self, request: web.Request) -> web.Response:
        body, refused = await self._begin(request, "generate")
        if refused is not None:
            return refused
        problem = self._common_problems(body, GENERATE_FIELDS) or self._generate_problems(body)
        if problem is not None:
            return self._envelope(422, problem)
        urls = body.get("imageUrls") or []
        foreign = [url for url in urls if url not in self.uploads]
        if foreign:
            return self._envelope(400, "Image fetch failed. Please check the image URL is public.")
        return self._envelope(200, "success", {"taskId": self._new_task("generate", body)})

    @staticmethod
    def _generate_problems(body: dict[str, Any]) -> str | None:
        model = body.get("model", "veo3_fast")
        if model not in MODELS:
            return f"model must be one of {sorted(MODELS)}"
        if "aspect_ratio" in body and body["aspect_ratio"] not in ASPECT_RATIOS:
            return f"aspect_ratio must be one of {sorted(ASPECT_RATIOS)}"
        if "enableTranslation" in body and not isinstance(body["enableTranslation"], bool):
            return "enableTranslation must be a boolean"
        urls = body.get("imageUrls", [])
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            return "imageUrls must be an array of URLs"
        kind = body.get("generationType")
        if kind is not None and kind not in GENERATION_TYPES:
            return f"generationType must be one of {sorted(GENERATION_TYPES)}"
        if kind == "TEXT_2_VIDEO" and urls:
            return "TEXT_2_VIDEO takes no imageUrls"
        if kind == "FIRST_AND_LAST_FRAMES_2_VIDEO" and not 1 <= len(urls) <= 2:
            return "FIRST_AND_LAST_FRAMES_2_VIDEO takes 1 or 2 imageUrls"
        if kind == "REFERENCE_2_VIDEO":
            if model != "veo3_fast":
                return "REFERENCE_2_VIDEO is only supported by veo3_fast"
            if not 1 <= len(urls) <= 3:
                return "REFERENCE_2_VIDEO takes 1 to 3 imageUrls"
        if kind is None and len(urls) > 2:
            return "at most 2 imageUrls"
        return None

    async def _extend(self, request: web.Request) -> web.Response:
        body, refused = await self._begin(request, "extend")
        if refused is not None:
            return refused
        problem = self._common_problems(body, EXTEND_FIELDS)
        if problem is None and body.get("model", "fast") not in EXTEND_MODELS:
            problem = f"model must be one of {sorted(EXTEND_MODELS)}"
        if problem is not None:
            return self._envelope(422, problem)
        source = self.tasks.get(str(body.get("taskId")))
        if source is None:
            return self._envelope(422, "record is null")
        if not source.succeeded:
            return self._envelope(400, "The original video was not generated successfully")
        if source.upgraded:
            return self._envelope(400, "Videos upgraded to 1080P cannot be extended")
        return self._envelope(200, "success", {"taskId": self._new_task("extend", body)})

    async def _record_info(self, request: web.Request) -> web.Response:
        query, refused = await self._begin(request, "record-info")
        if refused is not None:
            return refused
        task = self.tasks.get(query.get("taskId", ""))
        if task is None:
            return self._envelope(422, "record is null")
        task.polls += 1
        return self._envelope(200, "success", self._record(task))

    def _record(self, task: FakeTask) -> dict[str, Any]:
        data: dict[str, Any] = {
            "taskId": task.task_id,
            "paramJson": json.dumps(task.body),
            "createTime": "2026-06-06 10:25:00",
            "completeTime": None,
            "successFlag": 0,
            "response": None,
            "errorCode": None,
            "errorMessage": "",
            "fallbackFlag": False,
        }
        if not task.done:
            return data
        data["completeTime"] = "2026-06-06 10:30:00"
        outcome = task.script.outcome
        if outcome == "policy":
            return {**data, "successFlag": 2, "errorCode": 400, "errorMessage": POLICY_MESSAGE}
        if outcome == "failed":
            return {**data, "successFlag": 3, "errorCode": 501, "errorMessage": FAILED_MESSAGE}
        urls = [] if outcome == "no_video" else [self.video_url(task.task_id)]
        response: dict[str, Any] = {
            "taskId": task.task_id,
            "resolution": "1080p" if task.script.already_hd else "720p",
        }
        if task.script.record_hd and urls:
            response["video1080pUrl"] = self.video_url(task.task_id, hd=True)
        shape = task.script.urls
        if shape == "array":
            response["resultUrls"] = urls
        elif shape == "full":
            response["fullResultUrls"] = urls
        elif shape == "bracket_string":
            response["resultUrls"] = f"[{', '.join(urls)}]"
        else:
            data["resultUrls"] = json.dumps(urls)
        return {**data, "successFlag": 1, "response": response}

    async def _get_hd(self, request: web.Request) -> web.Response:
        query, refused = await self._begin(request, "get-1080p-video")
        if refused is not None:
            return refused
        if query.get("index", "0") != "0":
            return self._envelope(422, "index out of range")
        task = self.tasks.get(query.get("taskId", ""))
        if task is None:
            return self._envelope(422, "record is null")
        if not task.succeeded:
            return self._envelope(400, "The video is not generated successfully")
        task.hd_polls += 1
        if task.hd_polls <= task.script.hd_polls:
            return self._envelope(400, HD_PROCESSING)
        task.upgraded = True
        url = self.video_url(task.task_id, hd=True)
        shape = task.script.hd_shape
        if shape == "info":
            return self._envelope(200, "success", {"taskId": task.task_id, "info": {"resultUrls": [url]}})
        return self._envelope(200, "success", {shape: url})

    async def _get_uhd(self, request: web.Request) -> web.Response:
        """POST get-4k-video: the first call orders the paid 4k file, later ones report on it."""
        body, refused = await self._begin(request, "get-4k-video")
        if refused is not None:
            return refused
        unknown = sorted(set(body) - UHD_FIELDS)
        if unknown:
            return self._envelope(422, f"Unknown parameter(s): {', '.join(unknown)}")
        if body.get("index", 0) != 0 or isinstance(body.get("index"), bool):
            return self._envelope(422, "index out of range")
        task = self.tasks.get(str(body.get("taskId")))
        if task is None:
            return self._envelope(422, "record is null")
        if not task.succeeded:
            return self._envelope(400, "The video is not generated successfully")
        if task.uhd_task is None:
            task.uhd_task = f"veo_4k_{next(self._ids):06d}"
            return self._envelope(
                200, "success", {"taskId": task.uhd_task, "resultUrls": None, "imageUrls": None}
            )
        task.uhd_polls += 1
        if task.uhd_polls <= task.script.uhd_polls:
            return self._envelope(422, UHD_PROCESSING)
        if not task.script.uhd_available:
            return self._envelope(500, UHD_UNAVAILABLE)
        urls = [self.video_url(task.task_id, uhd=True)]
        images = [f"{self.files_url}/videos/{task.task_id}_4k.jpg"]
        shape = task.script.uhd_shape
        if shape == "info":
            data: dict[str, Any] = {
                "taskId": task.uhd_task,
                "info": {"resultUrls": urls, "imageUrls": images},
            }
        elif shape == "snake":
            data = {"task_id": task.uhd_task, "result_urls": urls, "image_urls": images}
        else:
            data = {"taskId": task.uhd_task, "resultUrls": urls, "imageUrls": images}
        if shape == "ok":
            return self._envelope(200, "success", data)
        return self._envelope(422, UHD_DONE, data)

    # ------------------------------------------------------------------------------------------- upload

    async def _upload(self, request: web.Request) -> web.Response:
        body, refused = await self._begin(request, "upload")
        if refused is not None:
            return refused
        missing = [name for name in ("base64Data", "uploadPath", "fileName") if not body.get(name)]
        if missing:
            return self._envelope(400, f"Missing parameter(s): {', '.join(missing)}")
        encoded = str(body["base64Data"])
        mime = "application/octet-stream"
        if encoded.startswith("data:"):
            header, _, encoded = encoded.partition(",")
            mime = header.removeprefix("data:").removesuffix(";base64")
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return self._envelope(400, "base64Data is not valid base64")
        path = f"{str(body['uploadPath']).strip('/')}/{body['fileName']}"
        url = f"{self.files_url}/uploads/{path}"
        self.uploads[url] = data
        return web.json_response(
            {
                "success": True,
                "code": 200,
                "msg": "File uploaded successfully",
                "data": {
                    "fileName": body["fileName"],
                    "filePath": path,
                    "downloadUrl": url,
                    "fileSize": len(data),
                    "mimeType": mime,
                    "uploadedAt": "2026-06-06T10:25:00.000Z",
                },
            }
        )

    # -------------------------------------------------------------------------------------- file hosting

    async def _uploaded_file(self, request: web.Request) -> web.Response:
        self.file_requests.append(FileRequest(request.path, request.headers.get("Authorization")))
        data = self.uploads.get(f"{self.files_url}{request.path}")
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data)

    async def _video_file(self, request: web.Request) -> web.StreamResponse:
        self.file_requests.append(FileRequest(request.path, request.headers.get("Authorization")))
        name = request.match_info["name"].removesuffix(".mp4")
        hd, uhd = name.endswith("_1080p"), name.endswith("_4k")
        task = self.tasks.get(name.removesuffix("_1080p").removesuffix("_4k"))
        if task is None or not task.done or (uhd and task.uhd_task is None):
            raise web.HTTPNotFound()
        mode = task.script.file
        if mode == "expired":
            raise web.HTTPNotFound(text="<Error><Code>NoSuchKey</Code></Error>")
        if mode == "forbidden":
            raise web.HTTPForbidden(
                text="<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
            )
        data = self.video_bytes(task.task_id, hd=hd, uhd=uhd)
        if mode == "ok":
            return web.Response(body=data, content_type="video/mp4")
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        piece = 512 if mode == "slow" else 1 << 14
        for start in range(0, len(data), piece):
            await response.write(data[start : start + piece])
            if mode == "slow":
                await asyncio.sleep(0.002)  # a slow link, not synchronisation: the reader just waits
            elif mode == "stall":
                await self._stall.wait()  # never set before close(): the client's read timeout fires
        await response.write_eof()
        return response
