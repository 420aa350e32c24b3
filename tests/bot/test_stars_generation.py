"""Paying exactly one generation's price in Stars from the wizard's summary, end to end."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from services.wallet import Wallet
from storage.records import LedgerKind
from tests.bot.wizard_helpers import order_demo, press, replies, reply, screen, wizard
from tests.poller.conftest import USER, Rig


async def invoice_for_demo(rig: Rig, *, try_credits: bool = False) -> int:
    """Order on the demo model and ask for the Stars invoice (after trying credits, if asked)."""
    await order_demo(rig)
    if try_credits:
        await press(rig, "Pay 5 credits")
        await screen(rig, "Not enough credits")
    await press(rig, "Pay 5 Stars")
    invoices = await rig.telegram.wait_for(lambda t: [c for c in t.calls_of("sendInvoice") if c.ok])
    return int(invoices[-1].result["message_id"])


async def test_short_of_credits_pays_the_exact_price_in_stars_once(rig: Rig, polling: None) -> None:
    await rig.fund(USER, 3)
    invoice_id = await invoice_for_demo(rig, try_credits=True)
    invoice = rig.telegram.messages[(USER, invoice_id)]["invoice"]
    assert (invoice["currency"], invoice["total_amount"]) == ("XTR", 5)
    charge = await rig.telegram.pay(USER, invoice_id)
    assert charge is not None
    await reply(rig, lambda text: "your video is ordered" in text)
    assert wizard(rig.telegram) is None  # the wizard it was paid from is closed
    [generation] = await rig.store.list_user_generations(USER)
    assert (generation.request_key, generation.cost, generation.model) == (f"stars:{charge}", 5, "demo")
    assert await rig.balance() == 3  # bought 5, spent 5
    payment = await rig.store.get_payment(charge)
    assert payment is not None and (payment.stars, payment.credits) == (5, 5)

    [paid] = [m for m in rig.telegram.messages.values() if "successful_payment" in m]
    await rig.telegram.push_update("message", paid)  # Telegram delivers the payment again
    await rig.telegram.send_text(USER, "/balance")
    await reply(rig, lambda text: text.startswith("Your balance"))
    assert len(await rig.store.list_user_generations(USER)) == 1
    kinds = Counter(e.kind for e in await rig.store.list_ledger(USER))
    assert kinds == {LedgerKind.ADMIN: 1, LedgerKind.PURCHASE: 1, LedgerKind.DEBIT: 1}
    assert sum("your video is ordered" in text for text in replies(rig.telegram)) == 1
    await rig.settle(generation.id)
    await rig.telegram.wait_for(lambda t: [c for c in t.calls_of("sendVideo") if c.ok])


async def test_a_changed_star_price_is_refused_before_any_charge(rig: Rig, polling: None) -> None:
    invoice_id = await invoice_for_demo(rig)
    rig.settings.stars_per_credit = Decimal(2)  # the operator changed the rate meanwhile
    assert await rig.telegram.pay(USER, invoice_id) is None
    [answer] = rig.telegram.pre_checkout_answers.values()
    assert answer["ok"] == "false" and "not charged" in answer["error_message"]
    assert await rig.balance() == 0
    assert await rig.store.list_user_generations(USER) == []


async def test_an_invoice_is_paid_only_once(rig: Rig, polling: None) -> None:
    invoice_id = await invoice_for_demo(rig)
    assert await rig.telegram.pay(USER, invoice_id) is not None
    await reply(rig, lambda text: "your video is ordered" in text)
    assert await rig.telegram.pay(USER, invoice_id) is None  # the order was used up
    [generation] = await rig.store.list_user_generations(USER)
    await rig.settle(generation.id)


async def test_an_order_that_cannot_start_after_payment_keeps_the_credits(rig: Rig, polling: None) -> None:
    rig.settings.max_active_generations = 1
    await rig.fund(USER, 10)
    earlier = await rig.order(model="clip")  # spends all 10 credits and fills the one active slot
    invoice_id = await invoice_for_demo(rig)
    assert await rig.telegram.pay(USER, invoice_id) is not None
    text = await reply(rig, lambda text: "could not be ordered" in text)
    assert "You already have 1 video in progress" in text and "(5 credits)" in text
    assert await rig.balance() == 5
    assert [g.id for g in await rig.store.list_user_generations(USER)] == [earlier.id]
    await rig.settle(earlier.id)


async def test_a_payment_credited_before_a_crash_still_orders_once_when_redelivered(
    rig: Rig, polling: None
) -> None:
    invoice_id = await invoice_for_demo(rig)
    payload = rig.telegram.invoice_payloads[(USER, invoice_id)]
    # The first handling of this payment credited it and then the process died before ordering:
    # the fake's next charge id is known, so the store can be put in exactly that state.
    charge = "stxFAKE00000001"
    await Wallet(rig.store).purchase(user_id=USER, charge_id=charge, stars=5, credits=5, payload=payload)
    assert await rig.telegram.pay(USER, invoice_id) == charge  # Telegram delivers the update (again)
    await reply(rig, lambda text: "your video is ordered" in text)
    [generation] = await rig.store.list_user_generations(USER)
    assert generation.request_key == f"stars:{charge}"
    assert await rig.balance() == 0
    kinds = Counter(e.kind for e in await rig.store.list_ledger(USER))
    assert kinds == {LedgerKind.PURCHASE: 1, LedgerKind.DEBIT: 1}
    await rig.settle(generation.id)
