"""Issue 13, items 5 and 11: a Stars payment never vanishes, and is credited only for what was paid.

A `successful_payment` is kept in the store before the polling offset confirms it to Telegram, so a
kill between the confirmation and its handler leaves it to the next start; Telegram's own record
(getStarTransactions) credits a charge whose update never arrived, once. Over the fake Bot API on both
backends, each scenario ending with the invariant checker (the rig).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiogram import Dispatcher
from pydantic import AnyHttpUrl, SecretStr

from bot.app import attach_webhook
from bot.dispatcher import build_dispatcher
from bot.inbox import SECRET_HEADER, replay_payments
from bot.stars import StarsReconciler
from bot.web import build_web_app, start_web_app
from storage.records import LedgerKind
from tests.bot.test_payments import buy_pack, replies
from tests.poller.conftest import USER, Rig

RECEIVED = "Payment received"


@asynccontextmanager
async def running(rig: Rig) -> AsyncIterator[Dispatcher]:
    """One run of the bot's dispatcher, long polling (a process from start to stop)."""
    dispatcher = build_dispatcher(rig.services)
    task = asyncio.ensure_future(dispatcher.start_polling(rig.bot, handle_signals=False, polling_timeout=1))
    try:
        yield dispatcher
    finally:
        await dispatcher.stop_polling()
        await task


def reconciler(rig: Rig, dispatcher: Dispatcher) -> StarsReconciler:
    return StarsReconciler(
        bot=rig.bot,
        dispatcher=dispatcher,
        payments=rig.services.payments,
        translator=rig.services.translator,
        grace=timedelta(0),
    )


def paid_update(charge: str, *, stars: int, payload: str) -> dict[str, Any]:
    return {
        "successful_payment": {
            "currency": "XTR",
            "total_amount": stars,
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge,
            "provider_payment_charge_id": "",
        }
    }


async def test_a_payment_confirmed_and_then_killed_is_kept_and_credited_once_after_the_restart(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept_when_confirmed: list[bool] = []

    async def confirmed(update: dict[str, Any]) -> None:
        if "successful_payment" in update.get("message", {}):
            kept = {u.update_id for u in await rig.store.pending_updates(limit=10)}
            kept_when_confirmed.append(update["update_id"] in kept)

    async def killed(*_: Any, **__: Any) -> None:
        raise asyncio.CancelledError  # the process dies in the handler: nothing is booked

    rig.telegram.on_confirm = confirmed
    async with running(rig):
        invoice_id = await buy_pack(rig)
        monkeypatch.setattr(rig.services.payments, "receive", killed)
        charge = await rig.telegram.pay(USER, invoice_id)
        assert charge is not None
        await rig.telegram.wait_for(lambda t: kept_when_confirmed)
    assert kept_when_confirmed == [True], "kept before Telegram was told it arrived"
    assert await rig.store.get_payment(charge) is None and await rig.balance() == 0

    monkeypatch.undo()
    async with running(rig):  # the restart: the kept update is handled before polling begins
        await rig.telegram.wait_for(lambda t: t.polls_waiting and any(RECEIVED in x for x in replies(t)))
        assert await rig.store.pending_updates(limit=10) == []
        assert await fresh_pass(rig) == 0, "Telegram's record agrees: nothing more to book"
    assert await rig.balance() == 100
    assert Counter(e.kind for e in await rig.store.list_ledger(USER)) == {LedgerKind.PURCHASE: 1}
    assert sum(RECEIVED in text for text in replies(rig.telegram)) == 1


async def fresh_pass(rig: Rig) -> int:
    """One reconciliation pass by a fresh reconciler (a new process reads the record from the start)."""
    return await reconciler(rig, build_dispatcher(rig.services)).run()


async def test_a_charge_whose_update_never_came_is_credited_once_from_telegrams_record(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    lost = rig.telegram.charge(USER, total_amount=100, payload="pack:100:100")
    forged = rig.telegram.charge(USER, total_amount=1, payload="pack:1000000:1")
    dispatcher = build_dispatcher(rig.services)
    first = reconciler(rig, dispatcher)
    assert await first.run() == 1
    assert await first.run() == 0, "the next run reads on from where this one stopped"
    assert await fresh_pass(rig) == 0, "a charge id credits once"
    assert await rig.balance() == 100
    payment = await rig.store.get_payment(lost)
    assert payment is not None and (payment.stars, payment.credits) == (100, 100)
    assert await rig.store.get_payment(forged) is None
    assert [t for t in replies(rig.telegram) if RECEIVED in t] == [
        "✅ Payment received: 100 credits added. Your balance: 100 credits."
    ]
    refused = [r for r in caplog.records if forged in r.getMessage()]
    assert len(refused) == 2 and all(r.levelno == logging.ERROR for r in refused), "once per process"
    assert "matches no offer" in refused[0].getMessage()


async def test_a_refund_telegram_made_without_telling_us_is_booked_from_its_record(rig: Rig) -> None:
    charge = rig.telegram.charge(USER, total_amount=100, payload="pack:100:100")
    dispatcher = build_dispatcher(rig.services)
    pass_one = reconciler(rig, dispatcher)
    assert await pass_one.run() == 1
    assert await rig.bot.refund_star_payment(USER, charge)  # its refunded_payment update is never polled
    assert await pass_one.run() == 1
    assert await pass_one.run() == 0
    payment = await rig.store.get_payment(charge)
    assert payment is not None and payment.refunded
    assert await rig.balance() == 0
    notices = [t for t in replies(rig.telegram) if "was refunded" in t]
    assert len(notices) == 1 and "100 Stars" in notices[0]


async def test_a_forged_amount_or_payload_is_refused_logged_and_not_credited(
    rig: Rig, polling: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await rig.telegram.send_user_message(USER, paid_update("forged-1", stars=1, payload="pack:1000000:1"))
    await rig.telegram.send_user_message(USER, paid_update("forged-2", stars=1, payload="pack:100:100"))
    answers = await rig.telegram.wait_for(
        lambda t: len(found := [x for x in replies(t) if "could not match" in x]) == 2 and found
    )
    assert "forged-1" in answers[0] and "forged-2" in answers[1]
    assert await rig.balance() == 0
    assert await rig.store.get_payment("forged-1") is None and await rig.store.get_payment("forged-2") is None
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "services.payments" and "refused" in r.getMessage()
    ]
    assert len(lines) == 2
    assert "no such pack on sale" in lines[0] and "1 Stars paid for an invoice of 100" in lines[1]


async def test_a_pre_checkout_whose_payload_does_not_parse_is_refused_with_a_message(
    rig: Rig, polling: None
) -> None:
    for number, payload in enumerate(["pack:" + "9" * 5000 + ":1", "gen:" + "1" * 4400 + ":5:abc", "junk"]):
        query = {
            "id": f"pcq-junk-{number}",
            "from": rig.telegram.user(USER),
            "currency": "XTR",
            "total_amount": 1,
            "invoice_payload": payload,
        }
        await rig.telegram.push_update("pre_checkout_query", query)
        answer = await rig.telegram.wait_for(lambda t, q=query: t.pre_checkout_answers.get(q["id"]))
        assert answer["ok"] == "false"
        assert answer["error_message"].startswith("This offer has changed or expired")
    assert await rig.balance() == 0


async def test_a_webhook_payment_is_kept_before_it_is_answered_and_handled_after_a_restart(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "test-webhook-secret_0123456789"
    settings = rig.settings.model_copy(
        update={"webhook_url": AnyHttpUrl("https://bot.example/hook"), "webhook_secret": SecretStr(secret)}
    )
    dispatcher = build_dispatcher(rig.services)
    app = build_web_app(poller=rig.poller, providers=rig.providers, settings=settings, media=rig.media)
    await attach_webhook(app, dispatcher, rig.bot, settings)
    runner = await start_web_app(app, host="127.0.0.1", port=0)
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"

    async def killed(*_: Any, **__: Any) -> None:
        raise asyncio.CancelledError  # the process dies in the handler, after the answer

    monkeypatch.setattr(rig.services.payments, "receive", killed)
    charge = rig.telegram.charge(USER, total_amount=100, payload="pack:100:100")
    await rig.telegram.send_user_message(USER, paid_update(charge, stars=100, payload="pack:100:100"))
    update = rig.telegram.updates[-1]
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=update, headers={SECRET_HEADER: "wrong"}) as refused:
                assert refused.status == 401
            assert await rig.store.pending_updates(limit=10) == [], "nothing kept for a wrong secret"
            async with http.post(url, json=update, headers={SECRET_HEADER: secret}) as accepted:
                assert accepted.status == 200
            [kept] = await rig.store.pending_updates(limit=10)
            assert kept.update_id == update["update_id"]
    finally:
        await runner.cleanup()
    assert await rig.store.get_payment(charge) is None

    monkeypatch.undo()
    await replay_payments(rig.bot, build_dispatcher(rig.services), rig.services.inbox)  # the next start
    assert await rig.store.pending_updates(limit=10) == []
    assert await rig.balance() == 100
    assert [t for t in replies(rig.telegram) if RECEIVED in t] != []
