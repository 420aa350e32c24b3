"""A restart loses no wizard and no Stars order (issue 13, item 10): the next press continues the wizard,
and an invoice sent before the restart is paid and ordered once after it. The same journeys run with the
FSM state in the store (SQLite, Supabase) and in a real redis-server (REDIS_URL)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Dispatcher
from aiogram.fsm.storage.redis import RedisStorage

from bot.dispatcher import build_dispatcher
from bot.fsm import StoreStorage
from tests.bot.wizard_helpers import order_demo, press, replies, reply, screen, wizard
from tests.poller.conftest import USER, Rig


@pytest.fixture(params=["store", "redis"])
def rig_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """FSM state in the rig's store, or in the session's redis-server (emptied for the test)."""
    if request.param == "redis":
        return {"redis_url": request.getfixturevalue("redis_url")}
    return {}


@contextlib.asynccontextmanager
async def bot_running(rig: Rig) -> AsyncIterator[Dispatcher]:
    """One life of the bot process: a new Dispatcher (with a new FSM storage) long-polling the fake,
    stopped once every update it fetched is confirmed to Telegram and handled to the end (a handler may
    still write after the reply the test saw; a kill in that moment is another story)."""
    dispatcher = build_dispatcher(rig.services)
    task = asyncio.ensure_future(dispatcher.start_polling(rig.bot, handle_signals=False, polling_timeout=1))
    await rig.telegram.wait_for(lambda t: t.polls_waiting == 1)
    try:
        yield dispatcher
        await rig.telegram.wait_for(lambda t: not t.updates and t.polls_waiting == 1)
        while handling := set(dispatcher._handle_update_tasks):  # aiogram keeps no public handle on them
            await asyncio.wait(handling)
    finally:
        await dispatcher.stop_polling()
        await task


async def test_a_restart_mid_wizard_and_the_next_press_continues(rig: Rig) -> None:
    await rig.fund(USER, 20)
    async with bot_running(rig) as before:
        expected = RedisStorage if rig.settings.redis_url is not None else StoreStorage
        assert isinstance(before.fsm.storage, expected)
        await rig.telegram.send_text(USER, "/generate")
        await screen(rig, "🎬")
        await press(rig, "Demo")
        await screen(rig, "✨")

    async with bot_running(rig):  # the process was restarted
        await press(rig, "📝")  # on the wizard message sent before the restart
        await screen(rig, "✍️")
        await rig.telegram.send_text(USER, "a lighthouse in a storm")
        await screen(rig, "📋")

    async with bot_running(rig):
        ordered = await rig.telegram.wait_for(lambda t: wizard(t))
        await press(rig, "Pay 5 credits")
        await rig.telegram.wait_for(
            lambda t: "Ordered" in t.messages[(USER, ordered["message_id"])].get("text", "")
        )
    [generation] = await rig.store.list_user_generations(USER)
    assert (generation.model, generation.prompt, generation.cost) == ("demo", "a lighthouse in a storm", 5)
    assert not [a for a in rig.telegram.callback_answers.values() if "out of date" in a.get("text", "")]
    await rig.telegram.wait_for(lambda t: not t.unanswered())
    await rig.settle(generation.id)


async def test_a_restart_between_invoice_and_payment_orders_once(rig: Rig) -> None:
    async with bot_running(rig):
        await order_demo(rig, "a paper boat on a river")
        await press(rig, "Pay 5 Stars")
        invoices = await rig.telegram.wait_for(lambda t: [c for c in t.calls_of("sendInvoice") if c.ok])
        invoice_id = int(invoices[-1].result["message_id"])

    async with bot_running(rig):
        charge = await rig.telegram.pay(USER, invoice_id)
        assert charge is not None, "the order was still known at pre-checkout"
        await reply(rig, lambda text: "your video is ordered" in text)

    [paid] = [m for m in rig.telegram.messages.values() if "successful_payment" in m]
    async with bot_running(rig):  # Telegram delivers the payment again after another restart
        await rig.telegram.push_update("message", paid)
        assert await rig.telegram.pay(USER, invoice_id) is None, "the order was used up"
        await rig.telegram.send_text(USER, "/balance")
        await reply(rig, lambda text: text.startswith("Your balance"))
    [generation] = await rig.store.list_user_generations(USER)
    assert (generation.request_key, generation.prompt) == (f"stars:{charge}", "a paper boat on a river")
    assert sum("your video is ordered" in text for text in replies(rig.telegram)) == 1
    assert await rig.balance() == 0
    await rig.telegram.wait_for(lambda t: not t.unanswered())
    await rig.settle(generation.id)
