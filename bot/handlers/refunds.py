"""Telegram's `refunded_payment` message: the payments service records the refund once (the admin's
/refund may have recorded it first) and tells the user the first time."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import Message

from bot.handlers.filters import Magic
from bot.i18n import Translator
from bot.stars import TelegramStars
from services.payments import Payments


async def refunded_payment(message: Message, bot: Bot, payments: Payments, translator: Translator) -> None:
    refunded = message.refunded_payment
    assert refunded is not None
    await payments.record_refund(refunded.telegram_payment_charge_id, telegram=TelegramStars(bot, translator))


def build_router() -> Router:
    router = Router(name="refunds")
    router.message.register(refunded_payment, Magic(F.refunded_payment))
    return router
