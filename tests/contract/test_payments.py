"""The payments service on every backend: payloads, a pack credited once, a generation paid in Stars ordered
once, and a Stars refund applied once whichever path records it first (the `backend` fixture then checks
the invariants of ARCHITECTURE §4)."""

from __future__ import annotations

from typing import Literal

import pytest

from services.catalog import load_catalog
from services.generations import GenerationService
from services.notices import Notices
from services.payments import (
    CURRENCY,
    CheckoutRefused,
    GenerationInvoice,
    GenerationNotOrdered,
    GenerationOrdered,
    OrderGone,
    PackCredited,
    PayerUnknown,
    Payments,
    Redelivered,
    RefundedUntracked,
    RefundRecorded,
    RefundRejected,
    StarsOrder,
    StarsPayment,
    UnknownPayload,
    pack_payload,
    parse_payload,
)
from services.pricing import stars_for
from services.providers.registry import Providers
from services.settings import Settings, StarsPack
from services.video_request import VideoRequest
from services.wallet import Wallet
from storage.records import Applied, LedgerKind
from tests.conftest import BackendUnderTest

USER = 7
DEMO = VideoRequest(model="demo", mode="t2v", prompt="a red fox in the snow")


class Orders:
    """An in-memory OrderBook, as the bot's FSM-backed one behaves."""

    def __init__(self, *orders: StarsOrder) -> None:
        self.kept = {order.id: order for order in orders}

    async def get(self, order_id: str) -> StarsOrder | None:
        return self.kept.get(order_id)

    async def pop(self, order_id: str) -> StarsOrder | None:
        return self.kept.pop(order_id, None)


class Telegram:
    """The StarsPort: records refund calls and notices; `answer` is what refundStarPayment says."""

    def __init__(self, answer: RefundRejected | None = None) -> None:
        self.answer = answer
        self.refunds: list[tuple[int, str]] = []
        self.notices: list[tuple[RefundRecorded, str | None]] = []

    async def refund_star_payment(self, user_id: int, charge_id: str) -> RefundRejected | None:
        self.refunds.append((user_id, charge_id))
        return self.answer

    async def tell_refunded(self, refund: RefundRecorded, language: str | None) -> None:
        self.notices.append((refund, language))


@pytest.fixture
def generations(backend: BackendUnderTest, settings: Settings) -> GenerationService:
    return GenerationService(backend.store, load_catalog(), settings, Providers(settings))


@pytest.fixture
def payments(backend: BackendUnderTest, generations: GenerationService, settings: Settings) -> Payments:
    return Payments(
        backend.store, Wallet(backend.store), generations, settings, Notices(backend.store, owner="test")
    )


def order_for(generations: GenerationService, settings: Settings, request: VideoRequest = DEMO) -> StarsOrder:
    credits = generations.price(DEMO)
    assert credits is not None
    stars = stars_for(credits, settings.stars_per_credit)
    return StarsOrder("abc123", credits, stars, request.model_dump(mode="json"), draft_id="d1")


def paid(payload: str, stars: int, charge: str = "ch-1") -> StarsPayment:
    return StarsPayment(user_id=USER, charge_id=charge, stars=stars, payload=payload)


# ------------------------------------------------------------------ payloads


def test_payloads_round_trip_in_their_wire_formats() -> None:
    pack = StarsPack(100, 50)
    assert pack_payload(pack) == "pack:100:50"
    assert parse_payload("pack:100:50") == pack
    order = StarsOrder("0f3a9c", 12, 6, {}, draft_id="d")
    assert order.payload == "gen:12:6:0f3a9c"
    assert parse_payload(order.payload) == GenerationInvoice(12, 6, "0f3a9c")


@pytest.mark.parametrize(
    "forged",
    [
        "",
        "pack",
        "pack:100",
        "pack:100:",
        "pack:-1:5",
        "pack:1e3:5",
        "pack:²:5",
        "pack:100:50:extra",
        "gen:12:6",
        "gen:12:6:abc:def",
        "gen:12:6:ab-c",
        "gen:12:6:",
        "gen:x:6:abc",
        "gen:12:٣:abc",
        "refund:12:6:abc",
    ],
)
def test_forged_payloads_are_rejected(forged: str) -> None:
    assert parse_payload(forged) is None


async def test_checkout_refuses_what_is_not_on_sale_at_that_price(
    payments: Payments, generations: GenerationService, settings: Settings
) -> None:
    pack = settings.stars_packs[0]
    order = order_for(generations, settings)
    orders = Orders(order)

    async def check(payload: str, total: int, currency: str = CURRENCY) -> CheckoutRefused | None:
        return await payments.check_checkout(
            payload, user_id=USER, currency=currency, total=total, orders=orders
        )

    assert await check(pack_payload(pack), pack.stars) is None
    assert await check(order.payload, order.stars) is None
    assert await check(pack_payload(pack), pack.stars - 1) == CheckoutRefused("invalid")
    assert await check(pack_payload(StarsPack(pack.credits * 10, pack.stars)), pack.stars) == CheckoutRefused(
        "invalid"
    )
    assert await check(pack_payload(pack), pack.stars, currency="USD") == CheckoutRefused("invalid")
    assert await check("pack:²:5", 5) == CheckoutRefused("invalid")
    cheaper = f"gen:{order.credits}:{order.stars - 1}:{order.id}"
    assert await check(cheaper, order.stars - 1) == CheckoutRefused("order-expired")
    assert await check(f"gen:{order.credits}:{order.stars}:gone1", order.stars) == CheckoutRefused(
        "order-expired"
    )


# ------------------------------------------------------------------ packs


async def test_a_pack_is_credited_once_however_often_the_charge_arrives(
    backend: BackendUnderTest, payments: Payments, settings: Settings
) -> None:
    await backend.store.ensure_user(USER)
    pack = settings.stars_packs[0]
    payment = paid(pack_payload(pack), pack.stars)
    first = await payments.receive(payment, chat_id=USER, orders=Orders())
    again = await payments.receive(payment, chat_id=USER, orders=Orders())
    assert first == PackCredited(pack.credits, pack.credits)
    assert again == Redelivered()
    assert [e.kind for e in await backend.store.list_ledger(USER)] == [LedgerKind.PURCHASE]
    unknown = await payments.receive(paid("pack:1", 1, charge="ch-2"), chat_id=USER, orders=Orders())
    assert unknown == UnknownPayload("ch-2")
    assert await Wallet(backend.store).balance(USER) == pack.credits


# ------------------------------------------------------------------ one generation in Stars


async def test_a_generation_paid_in_stars_is_ordered_once_on_redelivery(
    backend: BackendUnderTest, payments: Payments, generations: GenerationService, settings: Settings
) -> None:
    await backend.store.ensure_user(USER)
    order = order_for(generations, settings)
    orders = Orders(order)
    payment = paid(order.payload, order.stars)
    first = await payments.receive(payment, chat_id=USER, orders=orders)
    assert isinstance(first, GenerationOrdered)
    assert (first.credits, first.balance, first.draft_id) == (order.credits, 0, "d1")
    assert await payments.receive(payment, chat_id=USER, orders=orders) == Redelivered()
    assert [g.id for g in await backend.store.list_user_generations(USER, limit=10)] == [first.generation.id]
    assert first.generation.request_key == "stars:ch-1"


async def test_a_payment_credited_before_a_crash_orders_once_when_redelivered(
    backend: BackendUnderTest, payments: Payments, generations: GenerationService, settings: Settings
) -> None:
    await backend.store.ensure_user(USER)
    order = order_for(generations, settings)
    payment = paid(order.payload, order.stars)
    credited = await Wallet(backend.store).purchase(
        user_id=USER, charge_id="ch-1", stars=order.stars, credits=order.credits, payload=order.payload
    )
    assert isinstance(credited, Applied)  # the first delivery stopped here
    outcome = await payments.receive(payment, chat_id=USER, orders=Orders(order))
    assert isinstance(outcome, GenerationOrdered) and outcome.balance == 0
    assert len(await backend.store.list_user_generations(USER, limit=10)) == 1


async def test_credits_stay_when_the_order_cannot_start_or_is_gone(
    backend: BackendUnderTest, payments: Payments, generations: GenerationService, settings: Settings
) -> None:
    await backend.store.ensure_user(USER)
    order = order_for(generations, settings, VideoRequest(model="no-such-model", mode="t2v", prompt="p"))
    outcome = await payments.receive(paid(order.payload, order.stars), chat_id=USER, orders=Orders(order))
    assert isinstance(outcome, GenerationNotOrdered)
    assert (outcome.credits, outcome.balance, outcome.draft_id) == (order.credits, order.credits, "d1")
    gone = await payments.receive(
        paid(order.payload, order.stars, charge="ch-2"), chat_id=USER, orders=Orders()
    )
    assert gone == OrderGone(order.credits, 2 * order.credits)
    assert await backend.store.list_user_generations(USER, limit=10) == []


# ------------------------------------------------------------------ refunds


async def credited_pack(backend: BackendUnderTest, payments: Payments, settings: Settings) -> StarsPack:
    await backend.store.ensure_user(USER, language="ru")
    pack = settings.stars_packs[0]
    assert isinstance(
        await payments.receive(paid(pack_payload(pack), pack.stars), chat_id=USER, orders=Orders()),
        PackCredited,
    )
    return pack


@pytest.mark.parametrize("first", ["admin", "telegram"])
async def test_a_refund_is_applied_once_whichever_path_comes_first(
    backend: BackendUnderTest, payments: Payments, settings: Settings, first: Literal["admin", "telegram"]
) -> None:
    pack = await credited_pack(backend, payments, settings)
    telegram = Telegram()
    if first == "telegram":
        recorded = await payments.record_refund("ch-1", telegram=telegram)
        telegram.answer = RefundRejected("already-refunded", "Bad Request: CHARGE_ALREADY_REFUNDED")
        admin = await payments.refund("ch-1", payer=None, telegram=telegram)
        assert admin == telegram.answer
    else:
        admin = await payments.refund("ch-1", payer=None, telegram=telegram)
        recorded = await payments.record_refund("ch-1", telegram=telegram)
        assert isinstance(admin, RefundRecorded) and admin.new and recorded is not None and not recorded.new
    assert recorded is not None and (recorded.debited, recorded.balance) == (pack.credits, 0)
    assert telegram.refunds == [(USER, "ch-1")]
    assert [(n.payment.charge_id, n.debited, language) for n, language in telegram.notices] == [
        ("ch-1", pack.credits, "ru")
    ], "the user hears about it once"
    entries = [e for e in await backend.store.list_ledger(USER) if e.kind != LedgerKind.PURCHASE]
    assert [(e.idempotency_key, e.delta) for e in entries] == [("payment_refund:ch-1", -pack.credits)]


async def test_a_refund_after_the_credits_were_spent_takes_back_only_what_is_left(
    backend: BackendUnderTest, payments: Payments, settings: Settings
) -> None:
    pack = await credited_pack(backend, payments, settings)
    spent = await Wallet(backend.store).debit(user_id=USER, amount=pack.credits - 3, key="spend:1")
    assert isinstance(spent, Applied) and spent.balance == 3
    telegram = Telegram()
    outcome = await payments.refund("ch-1", payer=None, telegram=telegram)
    assert isinstance(outcome, RefundRecorded) and (outcome.debited, outcome.balance) == (3, 0)
    assert outcome.payment.credits == pack.credits


async def test_a_refund_needs_a_payer_and_may_be_for_a_charge_we_never_saw(
    backend: BackendUnderTest, payments: Payments
) -> None:
    telegram = Telegram()
    assert await payments.refund("ch-x", payer=None, telegram=telegram) == PayerUnknown()
    assert telegram.refunds == []
    assert await payments.refund("ch-x", payer=USER, telegram=telegram) == RefundedUntracked(USER)
    assert telegram.refunds == [(USER, "ch-x")] and telegram.notices == []
    not_found = RefundRejected("not-found", "Bad Request: CHARGE_NOT_FOUND")
    assert await payments.refund("ch-y", payer=USER, telegram=Telegram(not_found)) == not_found
