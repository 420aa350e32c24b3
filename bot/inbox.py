"""Payment updates are kept before Telegram is told they arrived, and replayed if their handler never
finished (services/inbox.py says why).

What confirms an update: in long polling, the next getUpdates' offset, which aiogram's loop moves only
after it was handed the update (and had it scheduled, not handled); in webhook mode, the HTTP answer,
which aiogram gives before handling. So the keeping happens inside the getUpdates request itself (a
session middleware: the loop never sees an unkept payment) and before the webhook answer. The handler
marks it handled (an outer middleware, after the handler returned); the dispatcher's start replays the
rest through the same handlers, past the seen-set of SkipRepeatedUpdates (an update another replica
claimed and then died on is still owed).

The webhook endpoint also bounds the work in flight: Telegram gets its answer at once, and at most
HANDLER_CONCURRENCY updates are handled at a time (the rest wait in the process, answered); at shutdown
the updates answered so far are finished before the dispatcher stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import TelegramObject, Update
from aiohttp import web

from bot.web import WebhookHandler
from services.inbox import PaymentInbox

if TYPE_CHECKING:
    from aiogram.types import Message

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: Workflow data of a replayed update: SkipRepeatedUpdates lets it through (bot/middlewares.py).
REPLAYING = "replaying_kept_update"
#: How long the webhook's shutdown waits for updates answered but not handled yet.
DRAIN_SECONDS = 10.0


def is_payment(update: Update) -> bool:
    """A successful or refunded Stars payment: money that must be booked even after a kill."""
    message: Message | None = update.message
    return message is not None and (
        message.successful_payment is not None or message.refunded_payment is not None
    )


async def keep_if_payment(inbox: PaymentInbox, update: Update) -> None:
    if is_payment(update):
        await inbox.keep(update.update_id, update.model_dump(mode="json", by_alias=True, exclude_none=True))


class KeepPayments(BaseRequestMiddleware):
    """Keeps the payment updates of a getUpdates answer before the polling loop gets them. When the
    store fails, the loop gets an error instead (logged, retried at the same offset): nothing unkept is
    ever confirmed."""

    def __init__(self, inbox: PaymentInbox) -> None:
        self._inbox = inbox

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Any:
        result = await make_request(bot, method)
        if isinstance(method, GetUpdates):
            for update in result:
                await keep_if_payment(self._inbox, update)
        return result


class FinishPayments(BaseMiddleware):
    """Marks a kept payment update handled once its handler returned (an error leaves it for the replay)."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        result = await handler(event, data)
        if isinstance(event, Update) and is_payment(event):
            inbox: PaymentInbox = data["inbox"]
            await inbox.handled(event.update_id)
        return result


async def replay_payments(bot: Bot, dispatcher: Dispatcher, inbox: PaymentInbox) -> None:
    """A startup hook: the kept payment updates whose handler never finished, handled now."""
    for kept in await inbox.pending():
        log.info("payment update %s was not handled before the restart: handling it now", kept.update_id)
        update = Update.model_validate(kept.body, context={"bot": bot})
        try:
            await dispatcher.feed_update(bot, update, **{REPLAYING: True})
        except Exception as error:  # the next start tries again; one line, the books are untouched
            log.warning(
                "payment update %s still not handled (%s: %s)", kept.update_id, type(error).__name__, error
            )


class DurableWebhookHandler(WebhookHandler):
    """The webhook endpoint, keeping a payment update before the answer tells Telegram it arrived (a
    store that fails makes the answer a 500, and Telegram sends the update again).

    aiogram answers first and handles in a background task; here at most `concurrency` of those tasks
    handle at once, so a burst queues in the process (cheap) instead of crowding the store, while
    Telegram's answer stays fast. Closing (the web app's shutdown, after its listener closed) finishes
    the updates answered so far, for up to `drain_seconds`; a payment among those cut off stays kept and
    is replayed at the next start. The bot's session is left open: the poller still delivers while it
    stops, and bot/app.py closes the session last.
    """

    def __init__(
        self,
        *,
        inbox: PaymentInbox,
        concurrency: int,
        drain_seconds: float = DRAIN_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._inbox = inbox
        self._slots = asyncio.Semaphore(concurrency)
        self._drain_seconds = drain_seconds
        self._queued = 0

    @property
    def queued(self) -> int:
        """Updates answered and waiting for a free slot."""
        return self._queued

    async def handle(self, request: web.Request) -> web.Response:
        if self.verify_secret(request.headers.get(SECRET_HEADER, ""), self.bot):
            update = None
            with contextlib.suppress(ValueError):  # not an update: the base class answers 400
                body = self.bot.session.json_loads(await request.text())
                update = Update.model_validate(body, context={"bot": self.bot})
            if update is not None:
                await keep_if_payment(self._inbox, update)
        return await super().handle(request)

    async def _background_feed_update(self, bot: Bot, update: dict[str, Any]) -> None:
        """aiogram's handling of an answered update, once a slot is free."""
        self._queued += 1
        try:
            await self._slots.acquire()
        finally:
            self._queued -= 1
        try:
            await super()._background_feed_update(bot, update)
        finally:
            self._slots.release()

    async def close(self) -> None:
        # aiogram's own set of the background tasks it started for answered updates
        handling = set(self._background_feed_update_tasks)
        if not handling:
            return
        _, late = await asyncio.wait(handling, timeout=self._drain_seconds)
        if late:
            log.warning(
                "shutdown: %d updates still waiting or being handled after %g s were cancelled "
                "(%d of them had not started; payments among them are replayed at the next start)",
                len(late),
                self._drain_seconds,
                self._queued,
            )
            for task in late:
                task.cancel()
            await asyncio.wait(late)
