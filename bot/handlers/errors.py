"""Errors a handler could not avoid: Telegram unreachable or failing while the bot answered a user.

aiogram logs any unhandled error with a traceback per update; during a Telegram outage that is a wall of
tracebacks for one known cause. Those errors become one warning line each, and the answer to a press or
a pre-checkout query that came too late (after a restart) one info line. Money is never at stake here:
handlers answer after the service step is committed, and a redelivered update finds it done.
"""

from __future__ import annotations

import logging
import re

from aiogram import Router
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import ExceptionMessageFilter, ExceptionTypeFilter
from aiogram.types import ErrorEvent

log = logging.getLogger(__name__)

#: Telegram's answer to answerCallbackQuery / answerPreCheckoutQuery past its deadline (QUERY_ID_INVALID).
_QUERY_TOO_OLD = re.compile(r".*(query is too old|query ID is invalid)", re.DOTALL)


async def telegram_unavailable(event: ErrorEvent) -> None:
    update = event.update
    log.warning(
        "update %s not fully answered: Telegram is unavailable (%s: %s)",
        update.update_id,
        type(event.exception).__name__,
        " ".join(str(event.exception).split()),  # aiogram's text has a second line: one line per refusal
    )


async def query_too_old(event: ErrorEvent) -> None:
    """A press or a checkout that waited for us too long (a restart, a backlog): the handler's work is
    done, only its answer came too late to show; the user can press or pay again."""
    log.info(
        "update %s answered too late: Telegram dropped the query (%s)",
        event.update.update_id,
        " ".join(str(event.exception).split()),
    )


def build_router() -> Router:
    router = Router(name="errors")
    router.errors.register(
        query_too_old, ExceptionTypeFilter(TelegramBadRequest), ExceptionMessageFilter(_QUERY_TOO_OLD)
    )
    router.errors.register(
        telegram_unavailable,
        ExceptionTypeFilter(TelegramNetworkError, TelegramServerError, TelegramRetryAfter),
    )
    return router
