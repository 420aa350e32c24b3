"""Payment updates are kept before Telegram is told they arrived, and replayed if their handler never
finished (services/inbox.py says why).

What confirms an update: in long polling, the next getUpdates' offset, which aiogram's loop moves only
after it was handed the update (and had it scheduled, not handled); in webhook mode, the HTTP answer,
which aiogram gives before handling. So the keeping happens inside the getUpdates request itself (a
session middleware: the loop never sees an unkept payment) and before the webhook answer. The handler
marks it handled (an outer middleware, after the handler returned); the dispatcher's start replays the
rest through the same handlers.
"""

from __future__ import annotations

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
            await dispatcher.feed_update(bot, update)
        except Exception as error:  # the next start tries again; one line, the books are untouched
            log.warning(
                "payment update %s still not handled (%s: %s)", kept.update_id, type(error).__name__, error
            )


class DurableWebhookHandler(WebhookHandler):
    """The webhook endpoint, keeping a payment update before the answer tells Telegram it arrived (a
    store that fails makes the answer a 500, and Telegram sends the update again)."""

    def __init__(self, *, inbox: PaymentInbox, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._inbox = inbox

    async def handle(self, request: web.Request) -> web.Response:
        if self.verify_secret(request.headers.get(SECRET_HEADER, ""), self.bot):
            update = None
            with contextlib.suppress(ValueError):  # not an update: the base class answers 400
                body = self.bot.session.json_loads(await request.text())
                update = Update.model_validate(body, context={"bot": self.bot})
            if update is not None:
                await keep_if_payment(self._inbox, update)
        return await super().handle(request)
