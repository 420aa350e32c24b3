"""Stars payments end to end: /buy → invoice → pre-checkout → successful_payment, over the fake Bot API."""

from __future__ import annotations

import json
from collections import Counter

from storage.records import LedgerKind
from tests.fakes.telegram import ApiCall, FakeTelegram
from tests.poller.conftest import USER, Rig


async def buy_pack(rig: Rig, button_index: int = 0, *, language: str = "en") -> int:
    """Send /buy, press a pack button, return the invoice's message id."""
    await rig.telegram.send_text(USER, "/buy", language_code=language)
    menu = await rig.telegram.wait_for(pack_menus)
    rows = menu[-1].params["reply_markup"]["inline_keyboard"]
    data = rows[button_index][0]["callback_data"]
    query = await rig.telegram.press(USER, menu[-1].result["message_id"], data)
    await rig.telegram.wait_for(lambda t: t.answered(query))
    invoices = await rig.telegram.wait_for(lambda t: [c for c in t.calls_of("sendInvoice") if c.ok])
    return int(invoices[-1].result["message_id"])


def pack_menus(telegram: FakeTelegram) -> list[ApiCall]:
    """Messages offering credit packs (other menus, such as /start's, carry other buttons)."""
    return [
        c
        for c in telegram.calls_of("sendMessage")
        if c.ok and '"bp:' in json.dumps(c.params.get("reply_markup", {}))
    ]


def replies(telegram: FakeTelegram) -> list[str]:
    return [c.params["text"] for c in telegram.calls_of("sendMessage") if c.ok]


async def test_a_new_user_buys_a_pack_and_is_credited_once(rig: Rig, polling: None) -> None:
    invoice_id = await buy_pack(rig, 1)
    invoice = rig.telegram.messages[(USER, invoice_id)]["invoice"]
    assert (invoice["currency"], invoice["total_amount"]) == ("XTR", 500)
    charge = await rig.telegram.pay(USER, invoice_id)
    assert charge is not None
    await rig.telegram.wait_for(lambda t: any("Payment received" in text for text in replies(t)))
    assert await rig.balance() == 550
    payment = await rig.store.get_payment(charge)
    assert payment is not None and (payment.stars, payment.credits, payment.user_id) == (500, 550, USER)
    assert any("550 credits added" in text and "balance: 550" in text for text in replies(rig.telegram))


async def test_the_same_payment_delivered_twice_is_credited_once(rig: Rig, polling: None) -> None:
    invoice_id = await buy_pack(rig)
    charge = await rig.telegram.pay(USER, invoice_id)
    assert charge is not None
    await rig.telegram.wait_for(lambda t: any("Payment received" in text for text in replies(t)))
    [paid] = [m for m in rig.telegram.messages.values() if "successful_payment" in m]
    await rig.telegram.push_update("message", paid)  # Telegram redelivers the update after a restart
    await rig.telegram.send_text(USER, "/balance")
    await rig.telegram.wait_for(lambda t: any(text.startswith("Your balance") for text in replies(t)))
    assert await rig.balance() == 100
    kinds = Counter(e.kind for e in await rig.store.list_ledger(USER))
    assert kinds == {LedgerKind.PURCHASE: 1}
    assert sum("Payment received" in text for text in replies(rig.telegram)) == 1


async def test_a_stale_or_forged_checkout_is_refused_before_any_charge(rig: Rig, polling: None) -> None:
    invoice_id = await buy_pack(rig)
    rig.settings.stars_packs = rig.settings.stars_packs[1:]  # the operator changed the packs meanwhile
    assert await rig.telegram.pay(USER, invoice_id) is None
    [answer] = rig.telegram.pre_checkout_answers.values()
    assert answer["ok"] == "false" and "not charged" in answer["error_message"]
    assert await rig.balance() == 0


async def test_a_forged_pack_button_gets_a_polite_answer(rig: Rig, polling: None) -> None:
    await rig.telegram.send_text(USER, "/buy")
    menu = await rig.telegram.wait_for(pack_menus)
    message_id = menu[-1].result["message_id"]
    rig.telegram.messages[(USER, message_id)]["reply_markup"] = {
        "inline_keyboard": [[{"text": "free", "callback_data": "bp:100000:1"}]]
    }
    query = await rig.telegram.press(USER, message_id, "bp:100000:1")
    await rig.telegram.wait_for(lambda t: t.answered(query))
    assert "no longer on sale" in rig.telegram.callback_answers[query]["text"]
    assert rig.telegram.calls_of("sendInvoice") == []


async def test_paysupport_answers_in_the_users_language(rig: Rig, polling: None) -> None:
    await rig.telegram.send_text(USER, "/paysupport", language_code="zh")
    answer = await rig.telegram.wait_for(lambda t: replies(t))
    assert answer[0].startswith("💬 支付支持")
    invoice_id = await buy_pack(rig, 0, language="zh")
    assert rig.telegram.messages[(USER, invoice_id)]["invoice"]["title"] == "100 积分"
