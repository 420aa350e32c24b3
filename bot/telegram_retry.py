"""A session middleware that retries Telegram's flood control and transient server errors.

aiogram 3 has no built-in retry (reference/telegram.md §3.2). Each request is retried a few times after
Telegram's own `retry_after`; a wait longer than `max_wait` is handed back to the caller, which
reschedules the work instead of holding a worker that long.

An upload (sendVideo with a file) is not repeated here after an answer that may hide a success (a 5xx,
a timeout, a dropped connection): the video may be in the chat already, so the caller decides
(services/delivery.py uploads a video at most twice). A 413 is final for any request: the caller sends
a link instead.

getUpdates is left alone: aiogram's polling loop already survives an outage, backing off (1 s, growing
to 5 s) and logging the reason without a traceback; `quiet_polling_backoff` trims that to one line per try.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile
from aiohttp import ClientConnectorError

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)


class RetryRequests(BaseRequestMiddleware):
    def __init__(
        self,
        *,
        attempts: int = 3,
        max_wait: float = 30.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self._attempts = attempts
        self._max_wait = max_wait
        self._sleep = sleep

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Any:
        if isinstance(method, GetUpdates):  # the polling loop has its own backoff
            return await make_request(bot, method)
        for attempt in range(1, self._attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                if attempt == self._attempts or error.retry_after > self._max_wait:
                    raise
                wait = float(error.retry_after)
            except TelegramEntityTooLarge:  # a TelegramNetworkError to aiogram, but final
                raise
            except (TelegramServerError, TelegramNetworkError) as error:
                if attempt == self._attempts or (carries_upload(method) and maybe_done(error)):
                    raise
                wait = float(2 ** (attempt - 1))
            log.info("Telegram %s: retrying in %.0f s", type(method).__name__, wait)
            await self._sleep(wait)
        raise AssertionError("unreachable")


def carries_upload(method: TelegramMethod[Any]) -> bool:
    """A request that sends a file's bytes (a video upload), not a file_id or a URL."""
    return any(isinstance(getattr(method, name, None), InputFile) for name in type(method).model_fields)


def maybe_done(error: TelegramAPIError) -> bool:
    """Whether Telegram may have carried out the request although it failed: anything but a connection
    that was never made (or a plain refusal, which is not a server or network error)."""
    if isinstance(error, TelegramEntityTooLarge):
        return False
    if isinstance(error, TelegramNetworkError):
        return not isinstance(error.__cause__, ClientConnectorError)
    return isinstance(error, TelegramServerError)


class DropBackoffNotice(logging.Filter):
    """aiogram logs two lines per failed getUpdates: "Failed to fetch updates - <reason>" (ERROR) and
    "Sleep for N seconds and try again..." (WARNING). The second adds nothing an operator needs, and an
    outage of an hour would double the log, so it is dropped; the reason line and "Connection
    established" on recovery stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("Sleep for "))


_DROP_BACKOFF_NOTICE = DropBackoffNotice()


def quiet_polling_backoff() -> None:
    """Install the filter on aiogram's dispatcher logger, where the polling loop logs; twice is once."""
    logging.getLogger("aiogram.dispatcher").addFilter(_DROP_BACKOFF_NOTICE)
