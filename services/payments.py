"""Telegram Stars money steps: invoice payloads, pre-checkout rules, crediting a pack, paying one generation,
and refunding a Stars payment.

A pack's invoice payload is `pack:<credits>:<stars>`; a generation's is `gen:<credits>:<stars>:<order id>`
(old invoices must keep parsing, so these wire formats never change). Crediting is keyed on Telegram's
charge id, so a payment delivered twice counts once. A paid generation is ordered only after its credits
are recorded, with `stars:<charge id>` as request key (variants of one request bought together, its
total in one invoice: `stars:<charge id>:v<i>`); if it cannot be ordered, the credits stay. A refund
(`payment_refund:<charge id>`, at most the balance) is recorded once, whichever of the admin's /refund or
Telegram's `refunded_payment` comes first, and only that first one tells the user.

The Telegram side (sending invoices, refundStarPayment, the user's notice) is behind `StarsPort`, and the
orders waiting for payment behind `OrderBook`; both are implemented in bot/.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from services.generations import GenerationService, Invalid, LimitReached
from services.notices import Notices
from services.pricing import stars_for
from services.settings import Settings, StarsPack
from services.video_request import VideoRequest
from services.wallet import Wallet
from storage.interfaces import AccountStore
from storage.records import (
    AlreadyApplied,
    Applied,
    Generation,
    GenerationCreated,
    InsufficientFunds,
    NoticeKind,
    Payment,
    notice_key,
)

log = logging.getLogger(__name__)

CURRENCY = "XTR"


# ------------------------------------------------------------------ payloads


@dataclass(frozen=True, slots=True)
class GenerationInvoice:
    """What a one-generation invoice's payload says: the price and the order it pays for."""

    credits: int
    stars: int
    order_id: str


def pack_payload(pack: StarsPack) -> str:
    return f"pack:{pack.credits}:{pack.stars}"


def generation_payload(credits: int, stars: int, order_id: str) -> str:
    """Telegram allows 128 bytes; an order id is a uuid4 hex."""
    return f"gen:{credits}:{stars}:{order_id}"


def parse_payload(payload: str) -> StarsPack | GenerationInvoice | None:
    """The invoice a payload was built for, or None for anything we did not build."""
    kind, _, rest = payload.partition(":")
    if kind == "pack":
        credits, _, stars = rest.partition(":")
        if _number(credits) is None or _number(stars) is None:
            return None
        return StarsPack(int(credits), int(stars))
    parts = payload.split(":")
    if kind != "gen" or len(parts) != 4:
        return None
    _, credits, stars, order_id = parts
    if _number(credits) is None or _number(stars) is None or not (order_id.isascii() and order_id.isalnum()):
        return None
    return GenerationInvoice(int(credits), int(stars), order_id)


#: Digits a payload's number may have: prices and packs are far below a billion, and `int` refuses
#: (ValueError) strings of over 4,300 digits, which a forged update may carry.
_MAX_DIGITS = 9


def _number(text: str) -> int | None:
    """ASCII digits only: `str.isdigit` also accepts "²", which `int` refuses."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= _MAX_DIGITS else None


# ------------------------------------------------------------------ ports and inputs


@dataclass(frozen=True, slots=True)
class StarsOrder:
    """A generation waiting for its Stars payment: a snapshot of the draft, so later edits cannot change
    what a paid invoice buys."""

    id: str
    credits: int
    stars: int
    #: The VideoRequest to create once paid, as JSON.
    request: dict[str, Any]
    #: The wizard draft it came from, to close that wizard when the payment arrives.
    draft_id: str
    #: How many videos of the request it buys (`credits` is their total); orders kept before variants
    #: existed have no count and buy one.
    count: int = 1

    @property
    def payload(self) -> str:
        return generation_payload(self.credits, self.stars, self.id)


class OrderBook(Protocol):
    """Where a user's orders wait for payment (the bot keeps them in its FSM storage)."""

    async def get(self, order_id: str) -> StarsOrder | None: ...

    async def pop(self, order_id: str) -> StarsOrder | None: ...


@dataclass(frozen=True, slots=True)
class StarsPayment:
    """A `successful_payment` as Telegram reported it."""

    user_id: int
    charge_id: str
    stars: int
    payload: str
    provider_charge_id: str | None = None
    currency: str = CURRENCY


@dataclass(frozen=True, slots=True)
class RefundRejected:
    """refundStarPayment said no: already refunded, no such charge, or another error (its text)."""

    code: Literal["already-refunded", "not-found", "failed"]
    error: str


@dataclass(frozen=True, slots=True)
class RefundRecorded:
    """A Stars payment marked refunded; `debited` (at most the balance then) credits were taken back.
    `new` is False when the other path recorded it first."""

    payment: Payment
    debited: int
    balance: int
    new: bool


class StarsPort(Protocol):
    """The Telegram calls a refund needs."""

    async def refund_star_payment(self, user_id: int, charge_id: str) -> RefundRejected | None: ...

    async def tell_refunded(self, refund: RefundRecorded, language: str | None) -> None: ...


# ------------------------------------------------------------------ outcomes


@dataclass(frozen=True, slots=True)
class CheckoutRefused:
    reason: Literal["invalid", "order-expired"]


@dataclass(frozen=True, slots=True)
class UnknownPayload:
    """A payment whose payload we did not build, or whose amount is not what that offer costs (a pack
    no longer sold, a forged update): nothing credited, support needs the charge id."""

    charge_id: str


@dataclass(frozen=True, slots=True)
class Redelivered:
    """Telegram sent the payment again and it was handled before: nothing changed, nothing to say."""


@dataclass(frozen=True, slots=True)
class PackCredited:
    credits: int
    balance: int


@dataclass(frozen=True, slots=True)
class OrderGone:
    """The generation's order is no longer kept: its credits stay on the balance."""

    credits: int
    balance: int


@dataclass(frozen=True, slots=True)
class GenerationOrdered:
    generation: Generation
    credits: int
    balance: int
    draft_id: str


@dataclass(frozen=True, slots=True)
class GenerationNotOrdered:
    """The order could not start (limits, model gone …): the bought credits stay on the balance."""

    credits: int
    balance: int
    reason: InsufficientFunds | Invalid | LimitReached
    draft_id: str


@dataclass(frozen=True, slots=True)
class VariantsOrdered:
    """Variants paid in one invoice (GenerationService.create_variants): `generations` were placed, all
    `count` of them unless `reason` stopped the rest (none at all when it came first); what was not
    spent stays on the balance."""

    generations: list[Generation]
    count: int
    credits: int
    balance: int
    reason: InsufficientFunds | Invalid | LimitReached | None
    draft_id: str


PaymentOutcome = (
    UnknownPayload
    | Redelivered
    | PackCredited
    | OrderGone
    | GenerationOrdered
    | GenerationNotOrdered
    | VariantsOrdered
)


@dataclass(frozen=True, slots=True)
class PayerUnknown:
    """No record of the charge and no payer id given: refundStarPayment needs the payer."""


@dataclass(frozen=True, slots=True)
class RefundedUntracked:
    """Telegram refunded a charge we have no record of; nothing to take back."""

    payer: int


AdminRefundOutcome = PayerUnknown | RefundRejected | RefundedUntracked | RefundRecorded


class Payments:
    def __init__(
        self,
        store: AccountStore,
        wallet: Wallet,
        generations: GenerationService,
        settings: Settings,
        notices: Notices,
    ) -> None:
        self._store = store
        self._notices = notices
        self._wallet = wallet
        self._generations = generations
        self._settings = settings

    # -------------------------------------------------------------- before the charge

    async def check_checkout(
        self, payload: str, *, user_id: int, currency: str, total: int, orders: OrderBook
    ) -> CheckoutRefused | None:
        """Quick checks only (Telegram waits 10 s): the pack still sold, or the order still kept, at the
        price the user is about to pay. A refusal costs the user nothing."""
        invoice = parse_payload(payload)
        if isinstance(invoice, StarsPack):
            valid, reason = invoice in self._settings.stars_packs and total == invoice.stars, "invalid"
        elif isinstance(invoice, GenerationInvoice):
            kept = await orders.get(invoice.order_id)
            valid = (
                kept is not None
                and (kept.credits, kept.stars) == (invoice.credits, invoice.stars)
                and invoice.stars == stars_for(invoice.credits, self._settings.stars_per_credit)
                and total == invoice.stars
            )
            reason = "order-expired"
        else:
            valid, reason = False, "invalid"
        if valid and currency == CURRENCY:
            return None
        log.warning("pre-checkout refused for user %s: payload %r", user_id, payload)
        return CheckoutRefused(reason)

    # -------------------------------------------------------------- after the charge

    async def receive(self, paid: StarsPayment, *, chat_id: int, orders: OrderBook) -> PaymentOutcome:
        """Credit the payment once per charge id; for a generation invoice, then order what it paid for.

        Only what the configured pack, or the generation's price, gives for the Stars actually paid is
        credited: a payload is not a price list (a forged `pack:1000000:1` paid with 1 Star is refused).
        """
        invoice = parse_payload(paid.payload)
        if invoice is None:
            log.error("payment %s with unknown payload %r", paid.charge_id, paid.payload)
            return UnknownPayload(paid.charge_id)
        recorded = await self._store.get_payment(paid.charge_id) is not None  # then it matched once
        mismatch = None if recorded else await self.mismatch(paid, orders)
        if mismatch is not None:
            log.error(
                "payment %s refused, nothing credited: %s (user %s, %d %s, payload %r)",
                paid.charge_id,
                mismatch,
                paid.user_id,
                paid.stars,
                paid.currency,
                paid.payload,
            )
            return UnknownPayload(paid.charge_id)
        if isinstance(invoice, GenerationInvoice):
            return await self._pay_generation(paid, invoice, chat_id=chat_id, orders=orders)
        outcome = await self._purchase(paid, invoice.credits)
        if isinstance(outcome, AlreadyApplied):
            log.info("payment %s delivered again; already credited", paid.charge_id)
            return Redelivered()
        return PackCredited(invoice.credits, outcome.balance)

    async def payment(self, charge_id: str) -> Payment | None:
        """Our record of a Stars charge, if it was booked."""
        return await self._store.get_payment(charge_id)

    async def mismatch(self, paid: StarsPayment, orders: OrderBook | None = None) -> str | None:
        """Why the Stars paid do not buy what the payload names, or None when they do. Without the
        order book (or once the order is gone) a generation's price is checked against the rate."""
        invoice = parse_payload(paid.payload)
        if invoice is None:
            return "not a payload of ours"
        if paid.currency != CURRENCY:
            return f"currency {paid.currency!r}"
        if paid.stars != invoice.stars:
            return f"{paid.stars} Stars paid for an invoice of {invoice.stars}"
        if isinstance(invoice, StarsPack):
            return None if invoice in self._settings.stars_packs else "no such pack on sale"
        order = None if orders is None else await orders.get(invoice.order_id)
        if order is not None:
            same = (order.credits, order.stars) == (invoice.credits, invoice.stars)
            return None if same else "the order was for another price"
        if invoice.stars != stars_for(invoice.credits, self._settings.stars_per_credit):
            return f"{invoice.credits} credits do not cost {invoice.stars} Stars"
        return None

    async def _purchase(self, paid: StarsPayment, credits: int) -> Applied | AlreadyApplied:
        outcome = await self._wallet.purchase(
            user_id=paid.user_id,
            charge_id=paid.charge_id,
            stars=paid.stars,
            credits=credits,
            payload=paid.payload,
            provider_charge_id=paid.provider_charge_id,
        )
        assert isinstance(outcome, Applied | AlreadyApplied)  # a purchase only adds
        return outcome

    async def _pay_generation(
        self, paid: StarsPayment, invoice: GenerationInvoice, *, chat_id: int, orders: OrderBook
    ) -> PaymentOutcome:
        credits, charge_id = invoice.credits, paid.charge_id
        outcome = await self._purchase(paid, credits)
        order = await orders.get(invoice.order_id)
        if isinstance(outcome, AlreadyApplied) and order is None:
            log.info("payment %s delivered again; already credited and ordered", charge_id)
            return Redelivered()
        if order is None:
            log.warning(
                "payment %s for order %s that is no longer kept; credits stay", charge_id, invoice.order_id
            )
            return OrderGone(credits, outcome.balance)
        # A redelivered payment whose first handling stopped before this point orders now; the request
        # key makes a concurrent or repeated attempt return the same generation without a second debit.
        if order.count > 1:
            return await self._pay_variants(paid, order, outcome.balance, chat_id=chat_id, orders=orders)
        result = await self._generations.create(
            user_id=paid.user_id,
            chat_id=chat_id,
            request=VideoRequest.model_validate(order.request),
            request_key=f"stars:{charge_id}",
        )
        await orders.pop(invoice.order_id)
        if isinstance(result, GenerationCreated):
            if not result.new:
                return Redelivered()
            log.info(
                "generation %s paid in Stars: payment %s, user %s",
                result.generation.id,
                charge_id,
                paid.user_id,
            )
            return GenerationOrdered(result.generation, credits, result.balance, order.draft_id)
        log.info("payment %s: order %s not placed (%s); credits stay", charge_id, invoice.order_id, result)
        return GenerationNotOrdered(credits, outcome.balance, result, order.draft_id)

    async def _pay_variants(
        self, paid: StarsPayment, order: StarsOrder, balance: int, *, chat_id: int, orders: OrderBook
    ) -> PaymentOutcome:
        """The order's variants from the credits just bought, under request keys derived from
        `stars:<charge id>`: a redelivered payment places only what its first handling did not."""
        results = await self._generations.create_variants(
            user_id=paid.user_id,
            chat_id=chat_id,
            request=VideoRequest.model_validate(order.request),
            count=order.count,
            request_key=f"stars:{paid.charge_id}",
        )
        await orders.pop(order.id)
        placed = [r for r in results if isinstance(r, GenerationCreated)]
        reason = next((r for r in results if not isinstance(r, GenerationCreated)), None)
        if reason is None and not any(r.new for r in placed):
            return Redelivered()
        log.info(
            "payment %s: %d of %d variants placed for user %s",
            paid.charge_id,
            len(placed),
            order.count,
            paid.user_id,
        )
        return VariantsOrdered(
            generations=[r.generation for r in placed],
            count=order.count,
            credits=order.credits,
            balance=placed[-1].balance if placed else balance,
            reason=reason,
            draft_id=order.draft_id,
        )

    # -------------------------------------------------------------- refunds

    async def refund(self, charge_id: str, *, payer: int | None, telegram: StarsPort) -> AdminRefundOutcome:
        """The admin's /refund: refundStarPayment, then our books. The payer on record wins over the one
        given; a charge Telegram already refunded is still brought into our books."""
        payment = await self._store.get_payment(charge_id)
        if payment is not None:
            payer = payment.user_id
        if payer is None:
            return PayerUnknown()
        rejected = await telegram.refund_star_payment(payer, charge_id)
        if rejected is not None:
            if rejected.code == "already-refunded":
                await self.record_refund(charge_id, telegram=telegram)
            return rejected
        recorded = await self.record_refund(charge_id, telegram=telegram)
        return RefundedUntracked(payer) if recorded is None else recorded

    async def record_refund(self, charge_id: str, *, telegram: StarsPort) -> RefundRecorded | None:
        """Mark the payment refunded and take back its credits (at most the balance), once, and tell the
        user the first time; None if we have no record of the charge."""
        outcome = await self._store.record_payment_refund(charge_id, now=datetime.now(UTC))
        if outcome is None:
            log.warning("Stars payment %s was refunded but is not in our records", charge_id)
            return None
        recorded = RefundRecorded(outcome.payment, outcome.debited, outcome.balance, outcome.new)
        if not outcome.new:
            return recorded
        payment = outcome.payment
        log.info(
            "Stars payment %s refunded: user %s, %d Stars, %d credits taken back, balance %d",
            charge_id,
            payment.user_id,
            payment.stars,
            outcome.debited,
            outcome.balance,
        )
        user = await self._store.get_user(payment.user_id)
        language = user.language if user is not None else None
        await self._notices.send_now(
            notice_key(NoticeKind.PAYMENT_REFUND, charge_id),
            lambda: telegram.tell_refunded(recorded, language),
        )
        return recorded
