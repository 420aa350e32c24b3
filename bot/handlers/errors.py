"""Errors a handler could not avoid: Telegram unreachable or failing while the bot answered a user.

aiogram logs any unhandled error with a traceback per update; during a Telegram outage that is a wall of
tracebacks for one known cause. Those errors become one warning line each. Money is never at stake here:
handlers answer after the service step is committed, and a redelivered update finds it done.
"""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent

log = logging.getLogger(__name__)


async def telegram_unavailable(event: ErrorEvent) -> None:
    update = event.update
    log.warning(
        "update %s not fully answered: Telegram is unavailable (%s: %s)",
        update.update_id,
        type(event.exception).__name__,
        event.exception,
    )


def build_router() -> Router:
    router = Router(name="errors")
    router.errors.register(
        telegram_unavailable,
        ExceptionTypeFilter(TelegramNetworkError, TelegramServerError, TelegramRetryAfter),
    )
    return router
