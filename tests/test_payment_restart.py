"""Issue 13, item 5: `python -m bot` is SIGKILLed the moment Telegram is told a batch with a
`successful_payment` arrived (the next getUpdates offset), before or while its handler runs.

Telegram never sends that update again. The started-again bot still credits the charge exactly once and
tells the user: the update was kept before the offset could confirm it, and Telegram's Star
transactions agree with the books.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.local_media import LocalMediaStore
from storage.records import LedgerKind
from storage.sqlite import SqliteStore
from tests.conftest import TOKEN
from tests.fakes.bot_process import Output, bot_env, kill_leftovers, start_bot
from tests.fakes.telegram import FakeTelegram
from tests.invariants import check_invariants

USER = 7301
RECEIVED = "Payment received"


def texts(telegram: FakeTelegram) -> list[str]:
    return [c.params["text"] for c in telegram.calls_of("sendMessage") if c.ok]


async def invoice(telegram: FakeTelegram) -> int:
    """/buy, the first pack's button, its invoice: what the user is about to pay."""
    await telegram.send_text(USER, "/buy")
    menus = await telegram.wait_for(
        lambda t: [c for c in t.calls_of("sendMessage") if c.ok and '"bp:' in json.dumps(c.params)],
        timeout=60,
    )
    data = menus[-1].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await telegram.press(USER, int(menus[-1].result["message_id"]), data)
    sent = await telegram.wait_for(lambda t: [c for c in t.calls_of("sendInvoice") if c.ok], timeout=30)
    return int(sent[-1].result["message_id"])


async def test_sigkill_right_after_a_payment_is_confirmed_then_restart_credits_it_once(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    telegram = FakeTelegram(TOKEN)
    await telegram.start()
    env = bot_env(telegram.url, data, POLL_INTERVAL_SECONDS="0.5")
    processes: list[Any] = []
    try:
        first = await start_bot(tmp_path, env)
        processes.append(first)
        log = Output(first.stdout)
        invoice_id = await invoice(telegram)

        def kill_on_confirmation(update: dict[str, Any]) -> None:
            if "successful_payment" in update.get("message", {}):
                first.kill()  # before this getUpdates is even answered

        telegram.on_confirm = kill_on_confirmation
        charge = await telegram.pay(USER, invoice_id)
        assert charge is not None
        assert await asyncio.wait_for(first.wait(), timeout=30) == -signal.SIGKILL
        await log.finish()
        telegram.on_confirm = None
        assert charge not in json.dumps(telegram.updates), "Telegram will not send it again"

        second = await start_bot(tmp_path, env)
        processes.append(second)
        again = Output(second.stdout)
        await telegram.wait_for(lambda t: any(RECEIVED in text for text in texts(t)), timeout=60)
        await again.wait_for("Run polling")
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), timeout=30) == 0, again.text
        await again.finish()
    finally:
        await kill_leftovers(processes)
        await telegram.close()

    assert 1 <= sum(RECEIVED in text for text in texts(telegram)) <= 2, "told, at most once more after a kill"
    store = await SqliteStore.open(data / "bot.sqlite3")
    try:
        payment = await store.get_payment(charge)
        assert payment is not None and (payment.stars, payment.credits, payment.user_id) == (100, 100, USER)
        assert Counter(e.kind for e in await store.list_ledger(USER)) == {LedgerKind.PURCHASE: 1}
        assert await store.pending_updates(limit=10) == []
        media = LocalMediaStore(data / "media", public_base_url=None, link_secret=b"k")
        assert await check_invariants(store, media, now=datetime.now(UTC), poll_interval_seconds=0.5) == []
    finally:
        await store.close()
    assert TOKEN not in log.text + again.text
