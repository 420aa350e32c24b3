"""Telegram side of the payments service's StarsPort: refundStarPayment and the user's refund notice."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError

from bot.i18n import Translator
from services.payments import RefundRecorded, RefundRejected

log = logging.getLogger(__name__)


class TelegramStars:
    def __init__(self, bot: Bot, translator: Translator) -> None:
        self._bot = bot
        self._translator = translator

    async def refund_star_payment(self, user_id: int, charge_id: str) -> RefundRejected | None:
        """Telegram's refusals, mapped to the service's codes."""
        try:
            await self._bot.refund_star_payment(user_id=user_id, telegram_payment_charge_id=charge_id)
        except TelegramBadRequest as error:
            if "CHARGE_ALREADY_REFUNDED" in error.message:
                return RefundRejected("already-refunded", error.message)
            if "CHARGE_NOT_FOUND" in error.message:
                return RefundRejected("not-found", error.message)
            return RefundRejected("failed", error.message)
        return None

    async def tell_refunded(self, refund: RefundRecorded, language: str | None) -> None:
        """A user who blocked the bot misses the notice; the refund stands."""
        payment = refund.payment
        text = self._translator(
            language, "refund-notice", stars=payment.stars, debited=refund.debited, balance=refund.balance
        )
        try:
            await self._bot.send_message(payment.user_id, text)
        except (TelegramForbiddenError, TelegramBadRequest) as error:
            log.info("could not tell user %s about refund %s: %s", payment.user_id, payment.charge_id, error)
