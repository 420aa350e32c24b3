"""The demo provider: no network, no key, a bundled clip after `DEMO_DELAY_SECONDS`.

It lets an operator try the whole bot (payment, progress, delivery, refunds) before buying any API
access, and gives end-to-end tests a provider that behaves like a real one. Everything a status needs
is in the task id (submit time, scripted outcome), so tasks survive a restart exactly like real ones.
The prompt scripts the outcome: the word "forbidden" ends in a content-policy failure (the refund
path), "noresult" in "done without a video".
"""

from __future__ import annotations

import asyncio
import io
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Annotated

from pydantic import Field

from services.http import ProviderHttp
from services.providers.base import (
    NotFoundError,
    ResultRef,
    SubmitJob,
    Submitted,
    TaskState,
    TaskStatus,
    VideoProvider,
)
from services.providers.descriptor import ProviderConfig, ProviderDescriptor, Setting
from storage.errors import MediaTooLargeError

#: The bundled clip (services/providers/demo.mp4: H.264 + AAC, faststart) and what it holds.
CLIP_RESOURCE = "demo.mp4"
CLIP_WIDTH = 1280
CLIP_HEIGHT = 720
CLIP_DURATION = 4.0
CLIP_MIME = "video/mp4"

#: The default of DEMO_DELAY_SECONDS.
DEFAULT_DELAY_SECONDS = 6.0
CHUNK_SIZE = 1 << 16

OK, POLICY, NO_RESULT = "ok", "policy", "noresult"
_TASK_ID = re.compile(r"demo-([0-9a-f]{32})-(\d{1,15})-(ok|policy|noresult)")
_FORBIDDEN = re.compile(r"\bforbidden\b", re.IGNORECASE)
_NO_RESULT = re.compile(r"\bnoresult\b", re.IGNORECASE)


def clip_path() -> Traversable:
    """The bundled clip, wherever the package is installed (a folder or a zip)."""
    return resources.files("services.providers").joinpath(CLIP_RESOURCE)


def scripted_outcome(prompt: str) -> str:
    """What the demo will answer for this prompt: OK, POLICY or NO_RESULT."""
    if _FORBIDDEN.search(prompt):
        return POLICY
    if _NO_RESULT.search(prompt):
        return NO_RESULT
    return OK


def make_task_id(submitted_at: float, outcome: str) -> str:
    """`demo-<uuid>-<unix ms>-<outcome>`: the submit time and outcome, nothing from the user."""
    return f"demo-{uuid.uuid4().hex}-{round(submitted_at * 1000)}-{outcome}"


def parse_task_id(task_id: str) -> tuple[float, str] | None:
    """(submit time in seconds, outcome), or None for an id this provider never issued."""
    match = _TASK_ID.fullmatch(task_id)
    if match is None:
        return None
    return int(match.group(2)) / 1000, match.group(3)


def task_status(task_id: str, outcome: str, elapsed: float, delay: float) -> TaskStatus:
    """RUNNING with progress proportional to elapsed/delay, then the scripted end."""
    if elapsed < delay:
        progress = min(99, max(0, round(100 * elapsed / delay)))
        return TaskStatus(TaskState.RUNNING, progress=progress, poll_after=delay - max(elapsed, 0.0))
    if outcome == POLICY:
        return TaskStatus(
            TaskState.FAILED,
            error_code="content_policy",
            error_message='the demo refuses prompts with the word "forbidden"',
            content_policy=True,
        )
    if outcome == NO_RESULT:
        return TaskStatus(TaskState.FAILED, error_code="no_video", error_message="no video")
    result = ResultRef(
        url=f"demo://{task_id}",
        mime_type=CLIP_MIME,
        width=CLIP_WIDTH,
        height=CLIP_HEIGHT,
        duration=CLIP_DURATION,
    )
    return TaskStatus(TaskState.SUCCEEDED, progress=100, result=result)


class DemoProvider(VideoProvider):
    name = "demo"
    #: Like a provider with a cancel endpoint, so the demo shows the cancel button and its refund.
    can_cancel = True
    #: A demo task costs nothing and lives in its id, so a create cut off by a restart is simply made.
    finds_submitted = True

    def __init__(
        self,
        config: ProviderConfig,
        *,
        http: ProviderHttp | None = None,
        delay_seconds: float = DEFAULT_DELAY_SECONDS,
        now: Callable[[], float] = time.time,
    ) -> None:
        """`http` is accepted for the common adapter shape: nothing is sent over it, `close` closes it.

        `now` is a wall clock (Unix seconds): the submit time travels in the task id, and only a wall
        clock still means the same thing after a restart or on another replica.
        """
        if delay_seconds < 0:
            raise ValueError("delay_seconds must not be negative")
        self.config = config
        self._http = http
        self._delay = delay_seconds
        self._now = now

    async def submit(self, job: SubmitJob) -> Submitted:
        task_id = make_task_id(self._now(), scripted_outcome(job.request.prompt))
        return Submitted(task_id, TaskStatus(TaskState.RUNNING, progress=0))

    async def find_submitted(self, job: SubmitJob, *, since: datetime) -> Submitted | None:
        """The task a create sent at `since` made: nothing upstream to ask, its id says it all."""
        task_id = make_task_id(since.timestamp(), scripted_outcome(job.request.prompt))
        return Submitted(task_id, TaskStatus(TaskState.RUNNING, progress=0))

    async def status(self, task_id: str) -> TaskStatus:
        parsed = parse_task_id(task_id)
        if parsed is None:
            raise NotFoundError("unknown task", provider=self.name, code="not_found")
        submitted_at, outcome = parsed
        return task_status(task_id, outcome, self._now() - submitted_at, self._delay)

    async def download(self, status: TaskStatus, *, max_bytes: int) -> AsyncIterator[bytes]:
        """Stream the bundled clip in chunks, refusing it whole when it exceeds `max_bytes`."""
        if status.result is None or parse_task_id(status.result.url.removeprefix("demo://")) is None:
            raise NotFoundError("no demo video for this status", provider=self.name, code="not_found")
        with clip_path().open("rb") as source:
            if source.seek(0, io.SEEK_END) > max_bytes:
                raise MediaTooLargeError(max_bytes)
            source.seek(0)
            while chunk := await asyncio.to_thread(source.read, CHUNK_SIZE):
                yield chunk

    async def cancel(self, task_id: str) -> bool:
        """Nothing runs, so any task we issued can be stopped; the poller stops following it."""
        return parse_task_id(task_id) is not None

    async def close(self) -> None:
        """Close the injected session, if any, like every adapter."""
        if self._http is not None:
            await self._http.close()


#: Switched on by DEMO_MODE instead of a key; a demo task ends within seconds.
DESCRIPTOR = ProviderDescriptor(
    name="demo",
    base_url="demo://",
    base_url_setting=False,
    adapters={"demo": DemoProvider},
    key=None,
    switch="mode",
    settings=(Setting("delay_seconds", Annotated[float, Field(ge=0)], DEFAULT_DELAY_SECONDS),),
    hard_timeout_minutes=5,
)
