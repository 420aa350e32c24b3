"""Trial credits (WELCOME_CREDITS): a new user can try the demo with nothing but the Quick start."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.wallet import Wallet
from storage.records import GenerationStatus, LedgerKind
from tests.bot.test_admin import ADMIN, command
from tests.bot.wizard_helpers import order_demo, press, replies, reply
from tests.poller.conftest import USER, Rig


@pytest.fixture
def rig_settings() -> dict[str, Any]:
    return {"welcome_credits": 10, "admin_ids": [ADMIN]}


async def test_a_new_user_gets_the_trial_credits_once_and_makes_a_demo_video(rig: Rig, polling: None) -> None:
    telegram = rig.telegram
    await telegram.send_text(USER, "/start")
    await reply(rig, lambda text: "Your balance: 10 credits" in text)
    await telegram.send_text(USER, "/start")  # a returning user gets nothing more
    again = await telegram.wait_for(lambda t: replies(t)[1:])
    assert "Your balance: 10 credits" in again[0]

    summary = await order_demo(rig, "a paper boat on a river")
    await press(rig, "Pay 5 credits")
    await telegram.wait_for(lambda t: "Ordered" in t.messages[(USER, summary["message_id"])]["text"])
    [generation] = await rig.store.list_user_generations(USER)
    await rig.settle(generation.id)
    [video] = await telegram.wait_for(lambda t: [c for c in t.calls_of("sendVideo") if c.ok])
    assert "a paper boat on a river" in video.params["caption"]
    assert (await rig.get(generation.id)).status is GenerationStatus.DELIVERED

    await telegram.send_text(USER, "/balance")
    history = await reply(rig, lambda text: text.startswith("Your balance: 5 credits"))
    lines = history.splitlines()
    assert lines[2] == "Recent changes:"
    assert lines[3].endswith("−5 credits · video") and lines[4].endswith("+10 credits · 🎁 welcome gift")
    assert lines[-1] == f"Your user id: {USER}", "the id to put in ADMIN_IDS, without digit grouping"
    entries = await rig.store.list_ledger(USER)
    assert [(e.kind, e.delta, e.idempotency_key) for e in entries] == [
        (LedgerKind.DEBIT, -5, f"gen:{generation.id}"),
        (LedgerKind.WELCOME, 10, f"welcome:{USER}"),
    ]


async def test_many_first_updates_at_once_grant_the_trial_credits_once(rig: Rig) -> None:
    trial = Wallet(rig.store, welcome_credits=10)
    await asyncio.gather(*(trial.register(USER + 1, username=None, language="en") for _ in range(20)))
    assert await rig.balance(USER + 1) == 10
    assert [e.kind for e in await rig.store.list_ledger(USER + 1)] == [LedgerKind.WELCOME]


async def test_stats_show_the_trial_credits_granted(rig: Rig, polling: None) -> None:
    for user in (USER, USER + 1):
        await rig.telegram.send_text(user, "/start")
    await rig.telegram.wait_for(lambda t: len(t.calls_of("sendMessage")) >= 2)
    stats = await command(rig, "/stats")
    day = stats.split("\n\n")[0]
    assert "Welcome credits: 30 to 3 users" in day, stats  # the admin's own first message counts too


async def test_existing_users_get_no_trial_credits_when_the_setting_is_turned_on(rig: Rig) -> None:
    await rig.store.ensure_user(USER + 2)  # known before WELCOME_CREDITS was set
    trial = Wallet(rig.store, welcome_credits=10)
    await trial.register(USER + 2, username=None, language="en")
    assert await rig.balance(USER + 2) == 0
