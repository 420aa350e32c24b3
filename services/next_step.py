"""What working one generation decided, shared by the poller and the modules it hands work to:
keep polling, back off, fail with a refund (`Failure`), or retry later (`RetryLater`)."""

from __future__ import annotations

from dataclasses import dataclass

from services.providers.base import ErrorKind

#: Failures whose cause is transient: wait and try again (until the hard timeout) instead of failing.
TRANSIENT = frozenset({ErrorKind.UNAVAILABLE, ErrorKind.RATE_LIMITED})


class Failure(Exception):
    """Ends the generation with a refund: `code` picks the user's message, `detail` is the provider's."""

    def __init__(self, code: str, detail: str | None = None) -> None:
        super().__init__(code if detail is None else f"{code}: {detail}")
        self.code = code
        self.detail = detail


class ProviderFault(Failure):
    """The provider accepted the task, then failed on its own side (a server error, its own timeout, the
    task gone): the next route of the model may make the video under the same debit, once; otherwise it
    ends like any Failure."""


class RetryLater(Exception):
    """Nothing is decided yet: poll or submit again after a backoff (or the provider's own hint)."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class PollAgain:
    """The task is still running: poll it again after the provider's hint (or the poll interval)."""

    hint: float | None = None


@dataclass(frozen=True, slots=True)
class Backoff:
    """Something transient got in the way (a deferred delivery): try again after a growing delay."""

    hint: float | None = None


#: What working a generation decided; None means nothing is left to do for it.
Step = PollAgain | Backoff | None
