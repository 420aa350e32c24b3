"""Stars refunds in our books: Telegram's `refunded_payment` message, and the shared step /refund uses.

Whichever path records a refund first (the admin's /refund right after refundStarPayment, or the
refunded_payment message Telegram then sends) takes the credits back and tells the user; the other finds
it recorded and changes nothing, so the user hears about it once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import Message

from bot.i18n import Translator
from storage.interfaces import Store
from storage.records import PaymentRefunded

log = logging.getLogger(__name__)


async def record_refund(
    charge_id: str, *, store: Store, bot: Bot, translator: Translator
) -> PaymentRefunded | None:
    """Mark the payment refunded and take back its credits (at most the balance), once; None if unknown."""
    outcome = await store.record_payment_refund(charge_id, now=datetime.now(UTC))
    if outcome is None:
        log.warning("Stars payment %s was refunded but is not in our records", charge_id)
        return None
    if not outcome.new:
        return outcome
    payment = outcome.payment
    log.info(
        "Stars payment %s refunded: user %s, %d Stars, %d credits taken back, balance %d",
        charge_id,
        payment.user_id,
        payment.stars,
        outcome.debited,
        outcome.balance,
    )
    user = await store.get_user(payment.user_id)
    text = translator(
        user.language if user is not None else None,
        "refund-notice",
        stars=payment.stars,
        debited=outcome.debited,
        balance=outcome.balance,
    )
    try:
        await bot.send_message(payment.user_id, text)
    except (TelegramForbiddenError, TelegramBadRequest) as error:
        log.info("could not tell user %s about refund %s: %s", payment.user_id, charge_id, error)
    return outcome


async def refunded_payment(message: Message, bot: Bot, store: Store, translator: Translator) -> None:
    refunded = message.refunded_payment
    assert refunded is not None
    await record_refund(refunded.telegram_payment_charge_id, store=store, bot=bot, translator=translator)


def build_router() -> Router:
    router = Router(name="refunds")
    router.message.register(refunded_payment, F.refunded_payment)
    return router
