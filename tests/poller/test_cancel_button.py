"""The cancel button under a progress message, pressed by a user through the fake Bot API."""

from __future__ import annotations

from storage.records import Generation, GenerationStatus, LedgerKind
from tests.poller.conftest import USER, Rig


async def running_demo(rig: Rig) -> tuple[Generation, int]:
    """A funded user's demo generation that runs for an hour, and its progress message id."""
    rig.settings.demo_delay_seconds = 3600
    await rig.fund()
    generation = await rig.order(model="demo")
    await rig.poller.tick()
    progress = (await rig.get(generation.id)).status_message_id
    assert progress is not None
    return generation, progress


async def test_pressing_cancel_refunds_and_edits_the_message(rig: Rig, polling: None) -> None:
    generation, progress = await running_demo(rig)
    query_id = await rig.telegram.press(USER, progress, f"gc:{generation.id}")
    await rig.telegram.wait_for(lambda t: t.answered(query_id))
    answer = rig.telegram.callback_answers[query_id]
    assert "5 credits have been returned" in answer["text"]
    edited = await rig.telegram.wait_for(
        lambda t: [c for c in t.calls_of("editMessageText") if "Cancelled" in c.params.get("text", "")]
    )
    assert "reply_markup" not in edited[0].params or not edited[0].params["reply_markup"]
    assert (await rig.get(generation.id)).status is GenerationStatus.CANCELLED
    kinds = sorted(e.kind for e in await rig.store.list_ledger(USER))
    assert kinds == [LedgerKind.ADMIN, LedgerKind.DEBIT, LedgerKind.REFUND]


async def test_another_users_or_a_stale_button_gets_a_polite_answer(rig: Rig, polling: None) -> None:
    generation, progress = await running_demo(rig)
    intruder = await rig.telegram.press(USER + 1, progress, f"gc:{generation.id}", chat_id=USER)
    await rig.telegram.wait_for(lambda t: t.answered(intruder))
    assert "not yours" in rig.telegram.callback_answers[intruder]["text"]
    assert (await rig.get(generation.id)).status is GenerationStatus.RUNNING
    first = await rig.telegram.press(USER, progress, f"gc:{generation.id}")
    await rig.telegram.wait_for(lambda t: t.answered(first))
    rig.telegram.messages[(USER, progress)]["reply_markup"] = {
        "inline_keyboard": [[{"text": "✖ Cancel", "callback_data": f"gc:{generation.id}"}]]
    }  # the user taps an old copy of the button again
    again = await rig.telegram.press(USER, progress, f"gc:{generation.id}")
    await rig.telegram.wait_for(lambda t: t.answered(again))
    assert "can no longer be cancelled" in rig.telegram.callback_answers[again]["text"]
    assert await rig.balance() == 100
