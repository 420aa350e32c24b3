"""The port through which the poller talks to the user; the Telegram layer implements it (bot/delivery.py).

Keeping it here lets the lifecycle engine stay free of aiogram and lets tests drive it through a real
Bot against a fake Bot API, exactly as production does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import timedelta

from storage.records import Generation


@dataclass(frozen=True, slots=True)
class StoredVideo:
    """A finished video in the media store, with what sendVideo can show about it."""

    path: str
    size: int
    width: int | None = None
    height: int | None = None
    duration: float | None = None


class RecipientUnavailable(Exception):
    """The user blocked the bot or the chat is gone: keep the video in the library, stop sending."""


class DeliveryDeferred(Exception):
    """The chat could not be reached now (flood control, Telegram down): try again later.

    `uncertain` means Telegram may have carried the message out although it answered with an error
    (a 5xx, a lost answer): an upload then may be in the chat already.
    """

    def __init__(self, reason: str, *, retry_after: float | None = None, uncertain: bool = False) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.uncertain = uncertain


class Notifier(ABC):
    @abstractmethod
    async def show_progress(
        self, generation: Generation, *, progress: int | None, elapsed: timedelta, can_cancel: bool
    ) -> int | None:
        """Send or edit the generation's status message; return its message id."""

    @abstractmethod
    async def deliver(self, generation: Generation, video: StoredVideo) -> str | None:
        """Send the video to the chat, or a link to it when it is over the upload limit.

        Returns the Telegram file_id of an uploaded video (None for a link).
        """

    @abstractmethod
    async def report_rerouted(self, generation: Generation) -> None:
        """Tell the user their provider failed on its side and another one makes the video, at no cost."""

    @abstractmethod
    async def report_failure(self, generation: Generation, *, refunded: int) -> None:
        """Tell the user why it failed (`generation.error_code`) and that `refunded` credits are back."""
