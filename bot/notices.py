"""Telegram side of the outbox (services/notices.py): the order confirmation's words and where they go,
and the NoticeSender that tells users what a killed step or a Telegram outage left untold.

A wizard order's request key names the summary message it was paid from, so a confirmation sent after
a restart still turns that summary (and its Pay button) into the confirmation, as the press would have.
"""

from __future__ import annotations

from collections.abc import Callable

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest

from bot.delivery import TelegramNotifier, telegram_errors
from bot.i18n import Translator
from bot.stars import TelegramStars
from services.catalog import Catalog
from services.notices import NoticeSender, OwedNotice
from services.payments import RefundRecorded
from storage.records import Generation, GenerationStatus, NoticeKind

_WIZARD = "wizard"
_EDIT_GONE = ("message to edit not found", "message can't be edited")


def wizard_request_key(user_id: int, draft_id: str, message_id: int) -> str:
    """The pay press's request key: a double tap on the same summary orders once."""
    return f"{_WIZARD}:{user_id}:{draft_id}:{message_id}"


def wizard_screen(request_key: str | None) -> int | None:
    """The summary message a wizard order was paid from, if the key names one."""
    parts = (request_key or "").split(":")
    if len(parts) == 4 and parts[0] == _WIZARD and parts[3].isascii() and parts[3].isdigit():
        return int(parts[3])
    return None


def order_text(t: Callable[..., str], generation: Generation, *, balance: int, model: str) -> str:
    return t("wizard-started", price=generation.cost, balance=balance, model=model)


async def replace_or_send(bot: Bot, chat_id: int, message_id: int | None, text: str) -> None:
    """A notice in place of the message it belongs under (removing its buttons), or anew when there is
    none or it is gone; Telegram's failures as the Notifier port's (bot/delivery.py telegram_errors)."""
    async with telegram_errors("notice"):
        if message_id is not None:
            try:
                await bot.edit_message_text(text=text, chat_id=chat_id, message_id=message_id)
                return
            except TelegramBadRequest as error:
                if "message is not modified" in error.message:
                    return
                if not any(reason in error.message for reason in _EDIT_GONE):
                    raise
        await bot.send_message(chat_id, text)


class TelegramNotices(NoticeSender):
    def __init__(
        self,
        *,
        bot: Bot,
        notifier: TelegramNotifier,
        catalog: Catalog,
        translator: Translator,
    ) -> None:
        self._bot = bot
        self._notifier = notifier
        self._catalog = catalog
        self._t = translator
        self._stars = TelegramStars(bot, translator)

    async def send(self, owed: OwedNotice) -> None:
        notice, generation = owed.notice, owed.generation
        t = self._t.bind(owed.language or self._t.default)
        if notice.kind is NoticeKind.PURCHASE:
            payment = owed.payment
            assert payment is not None, notice.key
            text = t("payment-credited", credits=payment.credits, balance=owed.balance)
            await replace_or_send(self._bot, notice.chat_id, None, text)
            return
        if notice.kind is NoticeKind.PAYMENT_REFUND:
            refund = owed.payment_refund
            assert refund is not None, notice.key
            recorded = RefundRecorded(refund.payment, refund.debited, refund.balance, new=True)
            await self._stars.tell_refunded(recorded, owed.language)
            return
        assert generation is not None, notice.key
        if notice.kind is NoticeKind.REFUND and generation.status is GenerationStatus.FAILED:
            await self._notifier.report_failure(generation, refunded=generation.cost)
        elif notice.kind is NoticeKind.REFUND:
            text = t("cancel-done", credits=generation.cost)
            await replace_or_send(self._bot, notice.chat_id, generation.status_message_id, text)
        else:
            model = self._catalog.name_of(generation.model)
            text = order_text(t, generation, balance=owed.balance, model=model)
            await replace_or_send(self._bot, notice.chat_id, wizard_screen(generation.request_key), text)
