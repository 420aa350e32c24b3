"""Telegram side of the payments service's StarsPort: refundStarPayment and the user's refund notice; and
the reconciliation of our books with Telegram's own record of the bot's Stars (getStarTransactions)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import StarTransaction, TransactionPartnerUser, Update

from bot.delivery import telegram_errors
from bot.i18n import Translator
from services.payments import CURRENCY, Payments, RefundRecorded, RefundRejected, StarsPayment

log = logging.getLogger(__name__)

#: getStarTransactions' largest page.
PAGE = 100
#: A charge younger than this may still be on its way as an update: a later run looks at it.
RECONCILE_GRACE = timedelta(minutes=10)
#: How often Telegram's record is read (and once at the start).
RECONCILE_MINUTES = 15


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
        """The refund's notice (sent through the outbox: services/notices.py). A user who blocked the bot
        misses it (RecipientUnavailable); the refund stands."""
        payment = refund.payment
        text = self._translator(
            language, "refund-notice", stars=payment.stars, debited=refund.debited, balance=refund.balance
        )
        async with telegram_errors("refund notice"):
            await self._bot.send_message(payment.user_id, text)


class StarsReconciler:
    """Telegram's record of the bot's Stars against our books, at the start and on a schedule.

    A charge with no payment row (its update lost: confirmed and then a kill before updates were kept,
    a webhook Telegram gave up on) is handled exactly as its `successful_payment` would have been: fed
    to the dispatcher, so it is credited (once: a charge id credits once), its order placed, the user
    told. A refund we never heard of is booked. A charge that matches no offer is logged, never
    credited. Each start reads the record from its first transaction, then each run from where the
    last one stopped (transactions only ever append).
    """

    def __init__(
        self,
        *,
        bot: Bot,
        dispatcher: Dispatcher,
        payments: Payments,
        translator: Translator,
        grace: timedelta = RECONCILE_GRACE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._bot = bot
        self._dispatcher = dispatcher
        self._payments = payments
        self._stars = TelegramStars(bot, translator)
        self._grace = grace
        self._clock = clock
        self._offset = 0
        self._refused: set[str] = set()
        #: Update ids for the payments handled here; Telegram's are positive, so these never collide.
        self._update_ids = itertools.count(-1, -1)

    async def run(self) -> int:
        """One pass over the transactions not read yet; how many charges and refunds it booked."""
        booked = 0
        settled = self._clock() - self._grace
        try:
            while True:
                answer = await self._bot.get_star_transactions(offset=self._offset, limit=PAGE)
                for transaction in answer.transactions:
                    if transaction.date > settled:
                        return booked
                    booked += await self._check(transaction)
                    self._offset += 1
                if len(answer.transactions) < PAGE:
                    return booked
        except TelegramAPIError as error:
            log.warning("Stars reconciliation stopped: Telegram answered %s: %s", type(error).__name__, error)
            return booked

    async def _check(self, transaction: StarTransaction) -> int:
        source = transaction.source
        if isinstance(source, TransactionPartnerUser) and source.transaction_type == "invoice_payment":
            return await self._charge(transaction, source)
        if isinstance(transaction.receiver, TransactionPartnerUser):  # a refund keeps the charge's id
            payment = await self._payments.payment(transaction.id)
            if payment is None or payment.refunded:
                return 0
            log.warning(
                "Stars payment %s was refunded without our hearing of it: booking it", payment.charge_id
            )
            await self._payments.record_refund(payment.charge_id, telegram=self._stars)
            return 1
        return 0

    async def _charge(self, transaction: StarTransaction, source: TransactionPartnerUser) -> int:
        charge_id = transaction.id
        if charge_id in self._refused or await self._payments.payment(charge_id) is not None:
            return 0
        payload = source.invoice_payload or ""
        paid = StarsPayment(
            user_id=source.user.id, charge_id=charge_id, stars=transaction.amount, payload=payload
        )
        problem = await self._payments.mismatch(paid)
        if problem is not None:
            self._refused.add(charge_id)
            log.error(
                "Stars charge %s of user %s (%d Stars) matches no offer, nothing credited: %s",
                charge_id,
                paid.user_id,
                paid.stars,
                problem,
            )
            return 0
        log.warning(
            "Stars charge %s of user %s (%d Stars) was never booked: handling it now",
            charge_id,
            paid.user_id,
            paid.stars,
        )
        await self._dispatcher.feed_update(self._bot, self._payment_update(transaction, source))
        return 1

    def _payment_update(self, transaction: StarTransaction, source: TransactionPartnerUser) -> Update:
        """The `successful_payment` Telegram would have sent, in the payer's private chat."""
        user = source.user.model_dump(mode="json", exclude_none=True)
        paid = {
            "currency": CURRENCY,
            "total_amount": transaction.amount,
            "invoice_payload": source.invoice_payload or "",
            "telegram_payment_charge_id": transaction.id,
            "provider_payment_charge_id": "",
        }
        message = {
            "message_id": 0,
            "date": int(transaction.date.timestamp()),
            "chat": {"id": source.user.id, "type": "private"},
            "from": user,
            "successful_payment": paid,
        }
        update = {"update_id": next(self._update_ids), "message": message}
        return Update.model_validate(update, context={"bot": self._bot})
