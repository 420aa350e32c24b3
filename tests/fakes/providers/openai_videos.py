"""A fake OpenAI Videos API (and LaoZhang's proxy of it, plus its legacy chat route) on loopback.

It checks requests the way reference/providers.md §1 and §5 describe the real APIs: Bearer auth,
model enum, `seconds` as a string from the model's set, `size` from the model's set, `input_reference`
as an image *file* of exactly `size`, Veo's `duration` equal to `seconds`; failures use the OpenAI
envelope {"error": {"message", "type", "param", "code"}}. Scripts (attributes set before a call):

* `polls_to_complete`: GETs answered `in_progress` before the video is terminal;
* `outcome`: "completed", "moderation" (failed, moderation_blocked), "server_error" (failed on the
  provider's side) or "no_reason" (failed, error null);
* prompts containing `blocked_word` are refused at create (400 moderation_blocked), or in a chat reply;
* `fail_next(endpoint, status, ...)`: answer the next call(s) with an error (429 + retry-after, 5xx ...);
* `break_next(endpoint, fault, made=...)`: a create or chat call that gets HTML under HTTP 200 or no answer
  until the client gives up, after the video was made (and billed) or not;
* `GET /v1/videos` lists videos newest first (cursor pages), with `created_at` from `clock` (Unix seconds);
* `expired`: /content answers 404 and the chat CDN link 403, like assets past their life;
* `output_url`: a completed video object carries its file as `output.url` on the CDN (LaoZhang);
* `content_form`: what /content answers: the MP4 bytes, or (LaoZhang, per the seed documents) the CDN
  URL as JSON `{"url"}` or text/plain, a 302 to it, or something that is neither (an HTML page, a JSON
  body without a URL) under HTTP 200;
* `video_bytes`, `declare_length` (False: chunked, no Content-Length) and `hold_download` (an Event the
  download waits for after its first half: a slow file the test releases).

Chat links point at `cdn_url`, a second port of the same server, so the API key must not reach it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import itertools
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from PIL import Image, UnidentifiedImageError

SORA_SIZES = frozenset({"1280x720", "720x1280"})
SORA_PRO_SIZES = SORA_SIZES | {"1024x1792", "1792x1024", "1920x1080", "1080x1920"}
VEO_SIZES = frozenset({"1280x720", "720x1280", "1920x1080", "1080x1920"})
SORA_SECONDS = frozenset({"4", "8", "12", "16", "20"})
VEO_SECONDS = frozenset({"4", "6", "8"})
MODELS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "sora-2": (SORA_SIZES, SORA_SECONDS),
    "sora-2-2025-10-06": (SORA_SIZES, SORA_SECONDS),
    "sora-2-2025-12-08": (SORA_SIZES, SORA_SECONDS),
    "sora-2-pro": (SORA_PRO_SIZES, SORA_SECONDS),
    "sora-2-pro-2025-10-06": (SORA_PRO_SIZES, SORA_SECONDS),
    "veo-3.1-generate-preview": (VEO_SIZES, VEO_SECONDS),
    "veo-3.1-fast-generate-preview": (VEO_SIZES, VEO_SECONDS),
}
CHAT_MODELS = frozenset(
    {
        *(f"veo-3.1{o}{s}{fl}" for o in ("", "-landscape") for s in ("", "-fast") for fl in ("", "-fl")),
        *(f"sora_video2{o}{d}" for o in ("", "-landscape") for d in ("", "-15s")),
    }
)
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"

Endpoint = Literal["create", "extend", "retrieve", "content", "remix", "chat", "cdn", "list"]
AnswerFault = Literal["malformed", "stall"]
Outcome = Literal["completed", "moderation", "server_error", "no_reason"]
ContentForm = Literal["bytes", "json_url", "text_url", "redirect", "html", "json_without_url"]


@dataclass
class FakeVideo:
    id: str
    model: str
    prompt: str
    seconds: str
    size: str
    outcome: Outcome
    status: str
    polls_to_complete: int
    polls: int = 0
    remixed_from: str | None = None
    created_at: int = 0


@dataclass
class Recorded:
    """One API call as the fake understood it (for assertions on what the adapter sent)."""

    endpoint: str
    fields: dict[str, list[str]] = field(default_factory=dict)
    #: (field name, filename, content type, (width, height)) per uploaded file
    files: list[tuple[str, str, str, tuple[int, int]]] = field(default_factory=list)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Injected:
    status: int
    body: dict[str, Any] | str
    headers: dict[str, str]


def error_body(
    message: str, *, code: str | None = None, param: str | None = None, type_: str | None = None
) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": type_ or "invalid_request_error", "param": param, "code": code}
    }


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps(error_body(message)), content_type="application/json")


def sign_webhook(secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers, as OpenAI sends them for project webhooks."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


class FakeOpenAIVideos:
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.polls_to_complete = 1
        self.initial_status = "queued"  # LaoZhang answers "submitted"
        self.outcome: Outcome = "completed"
        self.poll_after_ms: int | None = None
        self.blocked_word = "forbidden"
        self.expired = False
        self.output_url = False
        self.content_form: ContentForm = "bytes"
        self.video_bytes = MP4_HEAD + bytes(range(256)) * 64
        self.declare_length = True
        self.hold_download: asyncio.Event | None = None
        #: Set when a download reaches `hold_download`: the test knows the client is mid-file.
        self.download_held = asyncio.Event()
        self.chat_reply: str | None = None  # None: a success message with a link to `cdn_url`
        #: The time the API stamps on new videos (a test sets its own clock).
        self.clock: Callable[[], float] = time.time
        self.videos: dict[str, FakeVideo] = {}
        self.requests: list[Recorded] = []
        #: Calls per endpoint, refused ones included.
        self.hits: Counter[str] = Counter()
        self.cdn_requests: list[dict[str, str]] = []
        self.downloads_finished = 0
        self._injected: dict[str, list[_Injected]] = {}
        self._broken: dict[str, list[tuple[AnswerFault, bool]]] = {}
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.cdn_url = ""

    # ------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_post("/v1/videos", self._create)
        app.router.add_get("/v1/videos", self._list)
        app.router.add_post("/v1/videos/extensions", self._extend)
        app.router.add_get("/v1/videos/{id}", self._retrieve)
        app.router.add_get("/v1/videos/{id}/content", self._content)
        app.router.add_post("/v1/videos/{id}/remix", self._remix)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/files/{name}", self._cdn)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        ports = []
        for _ in range(2):  # the API, and a "CDN" on another port (another host for the client)
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            ports.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        self.url, self.cdn_url = (f"http://127.0.0.1:{port}" for port in ports)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -------------------------------------------------------------------------------------- scripts

    def fail_next(
        self,
        endpoint: Endpoint,
        status: int,
        *,
        message: str = "injected failure",
        code: str | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
        raw: str | None = None,
    ) -> None:
        """Answer the next `times` calls to `endpoint` with this error (`raw`: a non-JSON body)."""
        body: dict[str, Any] | str = raw if raw is not None else error_body(message, code=code)
        self._injected.setdefault(endpoint, []).extend(
            _Injected(status, body, headers or {}) for _ in range(times)
        )

    def break_next(
        self, endpoint: Literal["create", "chat"], fault: AnswerFault, *, made: bool = True
    ) -> None:
        """The next valid call to `endpoint` gets no usable answer: an HTML page under HTTP 200
        ("malformed"), or nothing until the client gives up ("stall"). `made`: the video was made (and
        the chat call billed) before the answer broke; otherwise the request was dropped."""
        self._broken.setdefault(endpoint, []).append((fault, made))

    async def _finish(self, endpoint: str, answer: Callable[[], web.Response]) -> web.Response:
        """`answer()` (which makes the video), unless `break_next` broke this call."""
        broken = self._broken.get(endpoint)
        if not broken:
            return answer()
        fault, made = broken.pop(0)
        if made:
            answer()
        if fault == "stall":
            await asyncio.sleep(3600)  # cancelled when the client hangs up
        return web.Response(text="<html><body>upstream hiccup</body></html>", content_type="text/html")

    def webhook(
        self, video_id: str, event_type: str, secret: str, *, timestamp: int
    ) -> tuple[dict[str, str], bytes]:
        """A signed project-webhook delivery about one video."""
        event = {
            "id": f"evt_{next(self._ids)}",
            "object": "event",
            "type": event_type,
            "created_at": timestamp,
            "data": {"id": video_id},
        }
        body = json.dumps(event).encode()
        return sign_webhook(secret, f"wh_{next(self._ids)}", timestamp, body), body

    # -------------------------------------------------------------------------------------- helpers

    @staticmethod
    def _error(
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type_: str | None = None,
    ) -> web.Response:
        return web.json_response(error_body(message, code=code, param=param, type_=type_), status=status)

    def _guard(self, request: web.Request, endpoint: Endpoint) -> web.Response | None:
        """Auth (as OpenAI checks it), then any injected failure for this endpoint."""
        self.hits[endpoint] += 1
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return self._error(401, "You didn't provide an API key.", type_="invalid_request_error")
        key = auth.removeprefix("Bearer ")
        if key != self.api_key:
            masked = f"{key[:3]}{'*' * 8}{key[-4:]}"
            return self._error(401, f"Incorrect API key provided: {masked}.", code="invalid_api_key")
        queue = self._injected.get(endpoint)
        if queue:
            injected = queue.pop(0)
            if isinstance(injected.body, str):
                return web.Response(status=injected.status, text=injected.body, headers=injected.headers)
            return web.json_response(injected.body, status=injected.status, headers=injected.headers)
        return None

    @staticmethod
    async def _form(
        request: web.Request, record: Recorded
    ) -> tuple[dict[str, list[str]], dict[str, list[Any]]]:
        """Multipart or JSON fields; multipart file parts are kept apart from plain string parts."""
        strings: dict[str, list[str]] = {}
        files: dict[str, list[Any]] = {}
        if request.content_type == "application/json":
            body = await request.json()
            record.json = body
            if not isinstance(body, dict):
                raise _bad_request("The body must be a JSON object.")
            for name, value in body.items():
                strings.setdefault(name, []).append(value)
        elif request.content_type != "multipart/form-data":
            raise _bad_request(f"Unsupported content type: {request.content_type}")
        else:
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    files.setdefault(name, []).append(value)
                else:
                    strings.setdefault(name, []).append(value)
        record.fields = {k: [str(v) for v in vs] for k, vs in strings.items()}
        return strings, files

    def _new_video(
        self, model: str, prompt: str, seconds: str, size: str, remixed_from: str | None
    ) -> FakeVideo:
        video = FakeVideo(
            id=f"video_{next(self._ids):04d}",
            model=model,
            prompt=prompt,
            seconds=seconds,
            size=size,
            outcome=self.outcome,
            status=self.initial_status,
            polls_to_complete=self.polls_to_complete,
            remixed_from=remixed_from,
            created_at=int(self.clock()),
        )
        self.videos[video.id] = video
        return video

    def _object(self, video: FakeVideo) -> dict[str, Any]:
        done = video.status in ("completed", "failed")
        error = None
        if video.status == "failed" and video.outcome == "moderation":
            error = {
                "code": "moderation_blocked",
                "message": "Your video was blocked by our moderation system.",
            }
        elif video.status == "failed" and video.outcome == "server_error":
            error = {
                "code": "server_error",
                "message": "The server had an error while processing your request.",
            }
        output = (
            {"output": {"url": self.file_url(video.id)}}
            if self.output_url and video.status == "completed"
            else {}
        )
        return {
            **output,
            "id": video.id,
            "object": "video",
            "model": video.model,
            "status": video.status,
            "progress": 100 if done else min(99, 100 * video.polls // max(1, video.polls_to_complete)),
            "created_at": video.created_at,
            "completed_at": video.created_at + 60 if done else None,
            "expires_at": video.created_at + 3600 if video.status == "completed" else None,
            "prompt": video.prompt,
            "seconds": video.seconds,
            "size": video.size,
            "remixed_from_video_id": video.remixed_from,
            "error": error,
        }

    def file_url(self, video_id: str) -> str:
        """Where the CDN serves a finished video (LaoZhang's `output.url` and `/content` links)."""
        return f"{self.cdn_url}/files/{video_id}.mp4"

    def _answer(self, video: FakeVideo) -> web.Response:
        headers = {"openai-poll-after-ms": str(self.poll_after_ms)} if self.poll_after_ms is not None else {}
        return web.json_response(self._object(video), headers=headers)

    def _blocked(self, prompt: str) -> web.Response | None:
        if self.blocked_word in prompt.lower():
            return self._error(
                400, "Your request was blocked by our moderation system.", code="moderation_blocked"
            )
        return None

    # ------------------------------------------------------------------------------------- handlers

    async def _create(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request, "create")) is not None:
            return denied
        record = Recorded("create", headers=dict(request.headers))
        self.requests.append(record)
        strings, files = await self._form(request, record)
        prompt = strings.get("prompt", [""])[0]
        if not isinstance(prompt, str) or not prompt.strip():
            return self._error(
                400,
                "Missing required parameter: 'prompt'.",
                param="prompt",
                code="missing_required_parameter",
            )
        if len(prompt) > 32000:
            return self._error(400, "'prompt' is too long.", param="prompt", code="string_above_max_length")
        model = strings.get("model", ["sora-2"])[0]
        if model not in MODELS:
            return self._error(
                400,
                f"Invalid value: '{model}'. Supported values are: {sorted(MODELS)}.",
                param="model",
                code="invalid_value",
            )
        sizes, seconds_allowed = MODELS[model]
        seconds = strings.get("seconds", ["4"])[0]
        if not isinstance(seconds, str):
            return self._error(
                400,
                "Invalid type for 'seconds': expected a string, but got a number instead.",
                param="seconds",
                code="invalid_type",
            )
        if seconds not in seconds_allowed:
            return self._error(400, f"Invalid value: '{seconds}'.", param="seconds", code="invalid_value")
        size = strings.get("size", ["720x1280"])[0]
        if size not in sizes:
            return self._error(400, f"Invalid value: '{size}'.", param="size", code="invalid_value")
        if model.startswith("veo") and strings.get("duration", [seconds])[0] != seconds:
            return self._error(400, "duration must equal seconds", param="duration", code="invalid_value")
        if "input_reference" in strings:
            return self._error(
                400,
                "Invalid type for 'input_reference': expected a file, but got a string instead.",
                param="input_reference",
                code="invalid_type",
            )
        references = files.pop("input_reference", [])
        if files:
            return self._error(400, f"Unknown parameter: '{next(iter(files))}'.", code="unknown_parameter")
        if len(references) > (2 if model.startswith("veo") else 1):
            return self._error(
                400, "Too many input_reference files.", param="input_reference", code="invalid_value"
            )
        for part in references:
            try:
                with Image.open(io.BytesIO(part.file.read())) as image:
                    dims, kind = image.size, image.format
            except UnidentifiedImageError:
                return self._error(400, "Invalid image file.", param="input_reference", code="invalid_image")
            record.files.append(("input_reference", part.filename, part.content_type, dims))
            if kind not in ("JPEG", "PNG", "WEBP"):
                return self._error(
                    400, "Unsupported image format.", param="input_reference", code="invalid_image"
                )
            if f"{dims[0]}x{dims[1]}" != size:
                return self._error(
                    400, "Inpaint image must match the requested width and height", param="input_reference"
                )
        if (refused := self._blocked(prompt)) is not None:
            return refused
        return await self._finish(
            "create", lambda: self._answer(self._new_video(model, prompt, seconds, size, None))
        )

    async def _list(self, request: web.Request) -> web.Response:
        """`GET /v1/videos?order=&limit=&after=`: a cursor page of video objects."""
        if (denied := self._guard(request, "list")) is not None:
            return denied
        newest_first = request.query.get("order", "desc") == "desc"
        videos = sorted(self.videos.values(), key=lambda v: (v.created_at, v.id), reverse=newest_first)
        after = request.query.get("after")
        if after is not None:
            ids = [v.id for v in videos]
            videos = videos[ids.index(after) + 1 :] if after in ids else []
        limit = int(request.query.get("limit", "20"))
        page = [self._object(v) for v in videos[:limit]]
        return web.json_response(
            {
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": len(videos) > limit,
            }
        )

    async def _extend(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request, "extend")) is not None:
            return denied
        record = Recorded("extend", headers=dict(request.headers))
        self.requests.append(record)
        strings, _ = await self._form(request, record)
        prompt = strings.get("prompt", [""])[0]
        seconds = strings.get("seconds", [""])[0]
        source = self.videos.get(strings.get("video[id]", [""])[0])
        if not prompt or seconds not in SORA_SECONDS:
            return self._error(400, "prompt and seconds (4, 8, 12, 16, 20) are required", param="seconds")
        if source is None or source.status != "completed":
            return self._error(404, "Video not found or not completed.", param="video", code="not_found")
        if (refused := self._blocked(prompt)) is not None:
            return refused
        total = str(int(source.seconds) + int(seconds))
        return self._answer(self._new_video(source.model, prompt, total, source.size, None))

    async def _retrieve(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request, "retrieve")) is not None:
            return denied
        video = self.videos.get(request.match_info["id"])
        if video is None:
            return self._error(
                404, f"Video with id '{request.match_info['id']}' not found.", code="not_found"
            )
        if video.status not in ("completed", "failed"):
            if video.polls >= video.polls_to_complete:
                video.status = "completed" if video.outcome == "completed" else "failed"
            else:
                video.polls += 1
                video.status = "in_progress"
        return self._answer(video)

    async def _content(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._guard(request, "content")) is not None:
            return denied
        self.requests.append(Recorded("content", headers=dict(request.headers)))
        video = self.videos.get(request.match_info["id"])
        if video is None or self.expired:
            return self._error(404, "Video content not found or expired.", code="not_found")
        if video.status != "completed":
            return self._error(400, "Video is not ready yet.", code="video_not_ready")
        link = self.file_url(video.id)
        match self.content_form:
            case "json_url":
                return web.json_response({"url": link})
            case "text_url":
                return web.Response(text=link + "\n", content_type="text/plain")
            case "redirect":
                raise web.HTTPFound(link)
            case "html":
                return web.Response(
                    text="<html><body>upstream hiccup</body></html>", content_type="text/html"
                )
            case "json_without_url":
                return web.json_response({"status": "completed", "id": video.id})
        return await self._serve(request)

    async def _remix(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request, "remix")) is not None:
            return denied
        record = Recorded("remix", headers=dict(request.headers))
        self.requests.append(record)
        if request.content_type != "application/json":
            return self._error(400, "Remix takes a JSON body.")
        body = await request.json()
        record.json = body
        prompt = body.get("prompt") if isinstance(body, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            return self._error(400, "Missing required parameter: 'prompt'.", param="prompt")
        source = self.videos.get(request.match_info["id"])
        if source is None:
            return self._error(
                404, f"Video with id '{request.match_info['id']}' not found.", code="not_found"
            )
        if source.status != "completed":
            return self._error(400, "Only completed videos can be remixed.", code="invalid_value")
        if (refused := self._blocked(prompt)) is not None:
            return refused
        return self._answer(self._new_video(source.model, prompt, source.seconds, source.size, source.id))

    async def _chat(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request, "chat")) is not None:
            return denied
        record = Recorded("chat", headers=dict(request.headers))
        self.requests.append(record)
        try:
            body = await request.json()
        except ValueError:
            return self._error(400, "Invalid JSON body.")
        record.json = body
        model = body.get("model")
        if model not in CHAT_MODELS:
            return self._error(503, f"No available channel for model {model}.", code="model_not_found")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
            return self._error(400, "'messages' must be a non-empty array.", param="messages")
        content = messages[-1].get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(parts, list):
            return self._error(400, "Invalid 'content'.", param="messages")
        prompt = " ".join(p.get("text", "") for p in parts if p.get("type") == "text").strip()
        images = [p.get("image_url", {}).get("url", "") for p in parts if p.get("type") == "image_url"]
        if not prompt:
            return self._error(400, "A text prompt is required.", param="messages")
        if images and not model.endswith("-fl"):
            return self._error(400, f"{model} does not take images; use a -fl model.", param="model")
        if len(images) > 2 or any(not u.startswith(("data:image/", "https://")) for u in images):
            return self._error(400, "1-2 images as data: or https URLs.", param="messages")
        if self.chat_reply is not None:
            text = self.chat_reply
        elif self.blocked_word in prompt.lower():
            text = "❌ 生成失败：提示词包含敏感内容 (content policy violation)"
        else:
            link = f"{self.cdn_url}/files/v{next(self._ids)}.mp4"
            text = f"![preview]({link}.jpg)\n\n✅ 视频生成成功\n\n[下载视频]({link})"
        reply = {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
        }
        return await self._finish("chat", lambda: web.json_response(reply))

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        self.cdn_requests.append(dict(request.headers))
        if self.expired:
            return web.Response(
                status=403,
                text="<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
            )
        if (denied := self._injected.get("cdn")) and denied:
            injected = denied.pop(0)
            return web.Response(status=injected.status, text=str(injected.body), headers=injected.headers)
        return await self._serve(request)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        """The video bytes: declared or chunked, and held after the first half when a test says so."""
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        if self.declare_length:
            response.content_length = len(self.video_bytes)
        await response.prepare(request)
        half = len(self.video_bytes) // 2
        await response.write(self.video_bytes[:half])
        if self.hold_download is not None:
            self.download_held.set()
            await self.hold_download.wait()
        await response.write(self.video_bytes[half:])
        await response.write_eof()
        self.downloads_finished += 1
        return response
