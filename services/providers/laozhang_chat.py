"""LaoZhang's legacy chat-completions "video mode" (reference/providers.md §5): one synchronous call.

`POST /chat/completions` with the prompt (and first/last frame as data URLs) answers, minutes later,
with an assistant message holding the video as a markdown link. There is no task to poll: `submit`
returns a finished status whose result URL the submission records with the generation, so a restart
still downloads it, and `status` has nothing to ask. LaoZhang bills the call when the HTTP request
succeeds, so a sent call is never repeated: a lost or unreadable answer is an uncertain submit (no lookup
exists: refunded). Off unless an operator routes a model to it.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

from services.http import HttpResponse, ProviderHttp
from services.providers.base import (
    ContentPolicyError,
    InputImage,
    InvalidRequestError,
    NotFoundError,
    ProviderError,
    ResultRef,
    SubmitJob,
    Submitted,
    TaskState,
    TaskStatus,
    UnavailableError,
    UncertainSubmitError,
    VideoProvider,
)
from services.providers.descriptor import ProviderConfig
from services.providers.openai_videos import (
    bearer_http,
    classify_download_error,
    classify_error,
    looks_like_policy,
    redact,
)

#: A synchronous generation keeps the connection silent for minutes before the reply arrives.
READ_TIMEOUT = 600.0

_MARKDOWN_LINK = re.compile(r"(?<!!)\[[^\]]*\]\((https?://[^)\s]+)\)")  # not an ![image](…) embed
_VIDEO_URL = re.compile(
    r"https?://[^\s()<>\[\]\"']+?\.(?:mp4|webm|mov)(?![\w/-])(?:\?[^\s()<>\[\]\"']*)?", re.IGNORECASE
)
_ANY_HTTPS = re.compile(r"https://[^\s()<>\[\]\"']+")


def extract_video_url(content: str) -> str | None:
    """The documented chain: a markdown link, else the first .mp4/.webm/.mov URL, else any https URL."""
    for pattern in (_MARKDOWN_LINK, _VIDEO_URL, _ANY_HTTPS):
        match = pattern.search(content)
        if match:
            return (match.group(1) if pattern.groups else match.group(0)).rstrip(".,;:!?")
    return None


def _data_url(image: InputImage) -> str:
    return f"data:{image.mime_type};base64,{base64.b64encode(image.data).decode()}"


def build_chat_body(job: SubmitJob) -> dict[str, Any]:
    """The chat request: text prompt, then the first and last frame for the `-fl` models."""
    request = job.request
    if request.mode not in ("t2v", "i2v", "fl2v"):
        raise InvalidRequestError(
            f"mode {request.mode} is not offered here", provider="laozhang", code="mode"
        )
    images = [job.first_frame] if request.mode in ("i2v", "fl2v") else []
    if request.mode == "fl2v":
        images.append(job.last_frame)
    content: list[dict[str, Any]] = [{"type": "text", "text": request.prompt}]
    for image in images:
        if image is None:
            raise InvalidRequestError("an input frame is missing", provider="laozhang", code="image")
        content.append({"type": "image_url", "image_url": {"url": _data_url(image)}})
    return {
        "model": job.provider_model_id,
        "messages": [{"role": "user", "content": content}],
        "stream": False,
        "n": 1,
    }


def reply_text(payload: Any) -> tuple[str, str | None]:
    """(content, finish_reason) of the first choice; content may be a string or a list of text parts."""
    choices = payload.get("choices") if isinstance(payload, dict) else None
    first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
    message = first.get("message") if first else None
    if not isinstance(message, dict):  # billed, and maybe made, but unreadable
        raise UncertainSubmitError("the reply has no message", provider="laozhang")
    content = message.get("content")
    if isinstance(content, list):
        content = "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    finish = first.get("finish_reason") if first else None
    return (content if isinstance(content, str) else ""), (str(finish) if finish else None)


def parse_chat_reply(payload: Any) -> ResultRef:
    """The video link in the reply, or the typed error its text explains."""
    content, finish_reason = reply_text(payload)
    url = extract_video_url(content)
    if url is not None:
        return ResultRef(url=url)
    summary = redact(" ".join(content.split())[:300]) or "empty reply"
    if finish_reason == "content_filter" or looks_like_policy(content):
        raise ContentPolicyError(summary, provider="laozhang", code="content_policy")
    raise UnavailableError(f"no video link in the reply: {summary}", provider="laozhang", code="no_video")


class LaoZhangChatProvider(VideoProvider):
    name = "laozhang"
    can_cancel = False

    def __init__(
        self,
        config: ProviderConfig,
        *,
        http: ProviderHttp | None = None,
        **_options: object,  # composition-root options meant for other adapters
    ) -> None:
        self._http = http or bearer_http(config, read_timeout=READ_TIMEOUT)
        self._secrets = (config.api_key.get_secret_value(),) if config.api_key else ()

    def _classify(self, response: HttpResponse) -> ProviderError:
        return classify_error(self.name, response, self._secrets)

    async def submit(self, job: SubmitJob) -> Submitted:
        response = await self._http.request(
            "POST", "chat/completions", json_body=build_chat_body(job), classify=self._classify
        )
        status = TaskStatus(TaskState.SUCCEEDED, progress=100, result=parse_chat_reply(response.json()))
        return Submitted(f"chat-{uuid.uuid4().hex}", status)

    async def status(self, task_id: str) -> TaskStatus:
        """Never needed: the submission records the result with the generation, which is then done."""
        raise NotFoundError("synchronous route: the result came with the submit answer", provider=self.name)

    async def download(self, status: TaskStatus, *, max_bytes: int) -> AsyncIterator[bytes]:
        if status.result is None:
            raise NotFoundError("the task has no result to download", provider=self.name)
        chunks = self._http.stream(
            status.result.url,
            max_bytes=max_bytes,
            classify=lambda response: classify_download_error(self.name, response, self._secrets),
        )
        async for chunk in chunks:
            yield chunk

    async def close(self) -> None:
        await self._http.close()
