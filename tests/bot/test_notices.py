"""Issue 13, items 6 and 9: what a money change owes the user is told at least once, and once.

The outbox row is written with the refund or the debit; the step that made the change tells the user at
once, and the notice job (`Notices.drain`) tells whatever a kill left untold. Answers Telegram refuses as
too old (a press or a pre-checkout from before a restart) are one log line. Over the fake Bot API on both
backends, each scenario ending with the invariant checker (the rig).
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.notices import NOTICE_GRACE_SECONDS, NOTICE_LEASE_SECONDS
from storage.records import Generation, GenerationStatus, NoticeKind, notice_key
from tests.bot.test_payment_durability import running
from tests.bot.wizard_helpers import buttons, order_demo, press, replies
from tests.fakes.telegram import QUERY_INVALID
from tests.poller.conftest import USER, Rig

PAST_GRACE = NOTICE_GRACE_SECONDS + 1


async def owed(rig: Rig, key: str) -> bool:
    """Whether the notice is still owed (leased here, at a time no lease outlives, and given back)."""
    later = rig.clock.now.replace(year=rig.clock.now.year + 1)
    notice = await rig.store.claim_notice(key, now=later, owner="test", lease_seconds=1)
    if notice is not None:
        await rig.store.finish_notice(key, owner="test", now=later, outcome=None, retry_at=rig.clock.now)
    return notice is not None


async def confirmed_order(rig: Rig) -> Generation:
    """A paid generation whose order confirmation is out (here by the notice job)."""
    await rig.fund()
    generation = await rig.order()
    rig.clock.advance(seconds=PAST_GRACE)
    assert await rig.services.notices.drain() == 1
    assert len(told(rig, "✅ Ordered")) == 1
    return generation


def told(rig: Rig, text: str) -> list[str]:
    edits = [c.params["text"] for c in rig.telegram.calls_of("editMessageText") if c.ok]
    return [t for t in [*replies(rig.telegram), *edits] if text in t]


async def test_a_refund_whose_notice_a_kill_cut_off_is_told_once_by_the_notice_job(rig: Rig) -> None:
    generation = await confirmed_order(rig)
    # the poller refunds, and is killed before its message leaves: the refund is booked, nobody told
    await rig.generations.fail(generation.id, code="provider_failed")
    key = notice_key(NoticeKind.REFUND, generation.id)
    assert await owed(rig, key)
    assert await rig.services.notices.drain() == 0, "a fresh notice is left to its own step for a while"
    rig.clock.advance(seconds=PAST_GRACE)
    assert await rig.services.notices.drain() == 1
    assert await rig.services.notices.drain() == 0
    [notice] = told(rig, "returned")
    assert notice.startswith("❌ The provider could not make this video.") and "10 credits" in notice
    assert not await owed(rig, key)
    assert await rig.balance() == 100


async def test_a_notice_whose_sender_died_mid_send_is_sent_again_after_its_lease(rig: Rig) -> None:
    generation = await confirmed_order(rig)
    await rig.generations.fail(generation.id, code="provider_failed")
    key = notice_key(NoticeKind.REFUND, generation.id)
    # another process leased it (and may have sent it) when it was killed
    assert await rig.store.claim_notice(
        key, now=rig.clock.now, owner="dead", lease_seconds=NOTICE_LEASE_SECONDS
    )
    rig.clock.advance(seconds=PAST_GRACE)
    assert await rig.services.notices.drain() == 0, "leased: maybe being sent right now"
    rig.clock.advance(seconds=NOTICE_LEASE_SECONDS)
    assert await rig.services.notices.drain() == 1
    assert len(told(rig, "returned")) == 1, "once here; at most once more if the dead one had sent it"


async def test_a_notice_telegram_cannot_take_now_is_retried_later_then_told_once(rig: Rig) -> None:
    generation = await confirmed_order(rig)
    await rig.generations.fail(generation.id, code="provider_failed")  # no status message to edit
    rig.clock.advance(seconds=PAST_GRACE)
    rig.telegram.fail_next("sendMessage", error_code=502, description="Bad Gateway", times=3)
    assert await rig.services.notices.drain() == 0
    assert await owed(rig, notice_key(NoticeKind.REFUND, generation.id)), "kept for a later try"
    rig.clock.advance(seconds=2 * PAST_GRACE)
    assert await rig.services.notices.drain() == 1
    assert len(told(rig, "returned")) == 1


async def test_a_kill_right_after_the_pay_press_still_turns_the_summary_into_the_confirmation(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    await rig.fund(USER, 10)
    async with running(rig):
        summary = await order_demo(rig)

        async def untold(*_: object) -> bool:
            return False

        monkeypatch.setattr(rig.services.notices, "send_now", untold)  # killed after the debit
        await press(rig, "Pay 5 credits", message=summary)
    [generation] = await rig.store.list_user_generations(USER)
    assert generation.status is GenerationStatus.QUEUED and await rig.balance() == 5
    shown = rig.telegram.messages[(USER, summary["message_id"])]
    assert any("Pay 5 credits" in label for label, _ in buttons(shown)), "the summary is still on screen"

    monkeypatch.undo()  # the restart
    rig.clock.advance(seconds=PAST_GRACE)
    assert await rig.services.notices.drain() == 1
    confirmed = rig.telegram.messages[(USER, summary["message_id"])]
    assert confirmed["text"].startswith("✅ Ordered: Demo for 5 credits") and buttons(confirmed) == []
    assert await rig.services.notices.drain() == 0


async def test_a_double_tapped_pay_orders_once_and_confirms_once(rig: Rig, polling: None) -> None:
    await rig.fund(USER, 10)
    summary = await order_demo(rig)
    [pay] = [data for label, data in buttons(summary) if "Pay 5 credits" in label]
    first = await rig.telegram.press(USER, summary["message_id"], pay)
    second = await rig.telegram.press(USER, summary["message_id"], pay)
    await rig.telegram.wait_for(lambda t: t.answered(first) and t.answered(second))
    assert len(await rig.store.list_user_generations(USER)) == 1 and await rig.balance() == 5
    assert len(told(rig, "✅ Ordered")) == 1


class ErrorLines(logging.Handler):
    """The errors router's lines, waking the test when `count` have arrived."""

    def __init__(self, count: int) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.count = count
        self.arrived = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "bot.handlers.errors":
            self.records.append(record)
        if len(self.records) >= self.count:
            self.arrived.set()


async def test_answers_telegram_refuses_as_too_old_are_one_log_line_each(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    errors = ErrorLines(2)
    logging.getLogger().addHandler(errors)
    async with running(rig):
        # a press and a checkout that waited in Telegram's queue while the bot was down
        rig.telegram.fail_next("answerCallbackQuery", error_code=400, description=QUERY_INVALID)
        rig.telegram.fail_next("answerPreCheckoutQuery", error_code=400, description=QUERY_INVALID)
        await rig.telegram.send_text(USER, "/start")
        menu = await rig.telegram.wait_for(lambda t: [c for c in t.calls_of("sendMessage") if c.ok])
        message = menu[-1].result
        [(_, data)] = [b for b in buttons(message) if b[1].startswith("m:balance")]
        await rig.telegram.press(USER, message["message_id"], data)
        checkout = {
            "id": "pcq-old",
            "from": rig.telegram.user(USER),
            "currency": "XTR",
            "total_amount": 100,
            "invoice_payload": "pack:100:100",
        }
        await rig.telegram.push_update("pre_checkout_query", checkout)
        try:
            await asyncio.wait_for(errors.arrived.wait(), timeout=10)
        finally:
            logging.getLogger().removeHandler(errors)
    lines = errors.records
    assert len(lines) == 2 and all(r.levelno == logging.INFO and r.exc_info is None for r in lines)
    assert all("answered too late" in r.getMessage() and "\n" not in r.getMessage() for r in lines)
    assert not [r for r in caplog.records if r.exc_info is not None], "no traceback anywhere"
