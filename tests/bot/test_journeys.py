"""Whole journeys a user makes, only through the chat: no store shortcuts until the final checks.

Each ends with the money invariants (the rig's teardown), on every backend the rig runs on.
"""

from __future__ import annotations

from storage.records import GenerationStatus, LedgerKind
from tests.bot.test_payments import buy_pack
from tests.bot.wizard_helpers import order_demo, press, reply
from tests.poller.conftest import USER, Rig


async def test_new_user_buys_credits_orders_a_video_gets_it_and_resends_it_from_the_library(
    rig: Rig, polling: None
) -> None:
    telegram = rig.telegram
    await telegram.send_text(USER, "/start")
    await reply(rig, lambda text: "Your balance: 0 credits" in text)

    invoice = await buy_pack(rig)  # 100 credits for 100 Stars
    charge = await telegram.pay(USER, invoice)
    assert charge is not None
    await reply(rig, lambda text: "Payment received" in text)

    summary = await order_demo(rig, "a lighthouse in a storm")
    await press(rig, "Pay 5 credits")
    await telegram.wait_for(lambda t: "Ordered" in t.messages[(USER, summary["message_id"])]["text"])
    [generation] = await rig.store.list_user_generations(USER)
    await rig.settle(generation.id)
    [video] = await telegram.wait_for(lambda t: [c for c in t.calls_of("sendVideo") if c.ok])
    assert "a lighthouse in a storm" in video.params["caption"]
    delivered = await rig.get(generation.id)
    assert delivered.status is GenerationStatus.DELIVERED
    assert delivered.file_id == video.result["video"]["file_id"]

    await telegram.send_text(USER, "/library")
    library = await telegram.wait_for(
        lambda t: [c for c in t.calls_of("sendMessage") if c.ok and c.params["text"].startswith("📚")]
    )
    library_id = library[-1].result["message_id"]
    assert "a lighthouse in a storm" in telegram.messages[(USER, library_id)]["text"]
    query = await telegram.press(USER, library_id, f"la:open:{generation.id}")
    await telegram.wait_for(lambda t: t.answered(query))
    resent = await telegram.wait_for(lambda t: [c for c in t.calls_of("sendVideo") if c.ok][1:])
    assert resent[0].params["video"] == delivered.file_id and resent[0].files == {}, "no second upload"

    assert await rig.balance() == 95
    kinds = [entry.kind for entry in await rig.store.list_ledger(USER)]
    assert kinds == [LedgerKind.DEBIT, LedgerKind.PURCHASE]


async def test_a_russian_user_goes_through_the_whole_order_in_russian(rig: Rig, polling: None) -> None:
    await rig.fund(USER, 20, language="ru")
    summary = await order_demo(rig, "кот на доске для серфинга", language="ru")
    assert "кот на доске для серфинга" in summary["text"]
    labels = [b["text"] for row in summary["reply_markup"]["inline_keyboard"] for b in row]
    assert any("Заплатить" in label for label in labels), labels
    await press(rig, "Заплатить 5 кредитов")
    [generation] = await rig.store.list_user_generations(USER)
    await rig.settle(generation.id)
    [video] = await rig.telegram.wait_for(lambda t: [c for c in t.calls_of("sendVideo") if c.ok])
    assert "кот на доске для серфинга" in video.params["caption"]
    assert await rig.balance() == 15
