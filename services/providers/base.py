"""The adapter interface every provider implements, its typed errors, and the status it reports.

Adapters are small: request building and response parsing are pure functions (tested without a
network); transport, retries and streaming come from `services.http.ProviderHttp`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from services.catalog import Route
from services.video_request import VideoRequest


class ErrorKind(StrEnum):
    CONTENT_POLICY = "content_policy"
    INVALID_REQUEST = "invalid_request"
    UNAUTHORIZED = "unauthorized"
    OUT_OF_BALANCE = "out_of_balance"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    NOT_FOUND = "not_found"
    #: A create request may have reached the provider, and what it did is not known.
    UNCERTAIN = "uncertain"


#: Failures that say nothing about the user's request: another route of the same model may succeed.
FAILOVER_KINDS = frozenset(
    {ErrorKind.UNAUTHORIZED, ErrorKind.OUT_OF_BALANCE, ErrorKind.UNAVAILABLE, ErrorKind.NOT_FOUND}
)


class ProviderError(Exception):
    """A provider refused or failed. `message` is safe to log and show: it never holds a key."""

    kind: ClassVar[ErrorKind]

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        code: str | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{provider}: {message}")
        self.message = message
        self.provider = provider
        self.code = code
        self.http_status = http_status
        self.retry_after = retry_after

    @property
    def failover(self) -> bool:
        """True when the next route of the same model should be tried."""
        return self.kind in FAILOVER_KINDS


class ContentPolicyError(ProviderError):
    kind = ErrorKind.CONTENT_POLICY


class InvalidRequestError(ProviderError):
    kind = ErrorKind.INVALID_REQUEST


class UnauthorizedError(ProviderError):
    kind = ErrorKind.UNAUTHORIZED


class OutOfBalanceError(ProviderError):
    kind = ErrorKind.OUT_OF_BALANCE


class RateLimitedError(ProviderError):
    kind = ErrorKind.RATE_LIMITED


class UnavailableError(ProviderError):
    kind = ErrorKind.UNAVAILABLE


class NotFoundError(ProviderError):
    kind = ErrorKind.NOT_FOUND


class UncertainSubmitError(ProviderError):
    """A create request may have reached the provider, but its answer was lost (a timeout or reset after
    sending, a 500/502/504) or unreadable: a paid task may exist. It is never sent again, nor to another
    route; the task is looked up where the API allows (`VideoProvider.find_submitted`), else refunded."""

    kind = ErrorKind.UNCERTAIN


class CallbackRejected(Exception):
    """A webhook callback failed its signature or shape check; answer it 401/400 and ignore it."""


class TaskState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ResultRef:
    """Where the finished video is; `url` may need the provider's auth (OpenAI /content, Gemini files)."""

    url: str
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TaskStatus:
    state: TaskState
    progress: int | None = None
    result: ResultRef | None = None
    error_code: str | None = None
    error_message: str | None = None
    #: Seconds the provider asks us to wait before the next poll (Retry-After, openai-poll-after-ms).
    poll_after: float | None = None
    #: A failure caused by the user's content (safety filter): final, never failed over.
    content_policy: bool = False
    #: A failure on the provider's side after it accepted the task (its server error, its own timeout):
    #: nothing says the request was at fault, so the next route of the model may still make it.
    provider_fault: bool = False
    #: What the provider says this task cost, in US dollars, where its API reports it (Runware
    #: `includeCost`, OpenRouter `usage.cost`); None: the catalog's estimate stands.
    cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class InputImage:
    """An image already validated and converted by services.media, ready to send."""

    data: bytes
    mime_type: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class SubmitJob:
    """Everything an adapter needs to start one task on one route."""

    request: VideoRequest
    route: Route
    first_frame: InputImage | None = None
    last_frame: InputImage | None = None
    reference_images: tuple[InputImage, ...] = ()
    #: For extend/remix: the provider's task id and result reference of the source generation.
    source_task_id: str | None = None
    source_result: str | None = None
    callback_url: str | None = None
    #: Our id for this create request (a UUIDv4), recorded before it is sent: Runware takes it as the
    #: taskUUID, so an uncertain create can be looked up by it.
    request_id: str = ""

    @property
    def provider_model_id(self) -> str:
        return self.route.provider_model_id(self.request.mode)


@dataclass(frozen=True, slots=True)
class Submitted:
    task_id: str
    status: TaskStatus = field(default_factory=lambda: TaskStatus(TaskState.QUEUED))


@dataclass(frozen=True, slots=True)
class CallbackEvent:
    """A verified callback: which task to look at now. `status` is what the sender claims, kept for the
    adapter's own tests and logs; the poller never acts on it and re-reads the task instead."""

    task_id: str
    status: TaskStatus | None = None


class VideoProvider(ABC):
    name: ClassVar[str]
    #: Whether a running task can still be stopped (offers the cancel button while running).
    can_cancel: ClassVar[bool] = False
    #: Whether `find_submitted` can tell what an uncertain create made; without it such a create is
    #: refunded, because sending it again could start a second paid task.
    finds_submitted: bool = False

    @abstractmethod
    async def submit(self, job: SubmitJob) -> Submitted: ...

    @abstractmethod
    async def status(self, task_id: str) -> TaskStatus: ...

    @abstractmethod
    def download(self, status: TaskStatus, *, max_bytes: int) -> AsyncIterator[bytes]:
        """Stream the finished video; raises MediaTooLargeError past `max_bytes`."""

    async def find_submitted(self, job: SubmitJob, *, since: datetime) -> Submitted | None:
        """After an uncertain create of `job` sent at `since`: the task it made, or None when the provider
        has none. Raises ProviderError when the lookup itself failed. Only called if `finds_submitted`."""
        raise NotImplementedError(f"{self.name} cannot look up a create request")

    async def cancel(self, task_id: str) -> bool:
        """Stop the task if the API can; False when it cannot."""
        return False

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> CallbackEvent:
        """Turn a provider webhook into an event; raise CallbackRejected when it is not genuine."""
        raise CallbackRejected(f"{self.name} sends no callbacks")

    @abstractmethod
    async def close(self) -> None: ...
