"""The Quick start to the letter: README's `.env.example` copied to `.env`, a token, `python -m bot`, and a
new user makes a demo video through the chat with no other step (no admin, no payment)."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.local_media import LocalMediaStore
from storage.records import GenerationStatus, LedgerKind
from storage.sqlite import SqliteStore
from tests.bot.wizard_helpers import buttons, wizard
from tests.conftest import TOKEN
from tests.fakes.bot_process import start_bot
from tests.fakes.telegram import FakeTelegram
from tests.invariants import check_invariants

ROOT = Path(__file__).resolve().parents[1]
USER = 4242


def replies(telegram: FakeTelegram) -> list[str]:
    return [c.params["text"] for c in telegram.calls_of("sendMessage") if c.ok]


async def screen(telegram: FakeTelegram, shows: str) -> dict[str, Any]:
    """The wizard message once its text contains `shows` (it is edited in place)."""

    def ready(t: FakeTelegram) -> dict[str, Any] | None:
        message = wizard(t, USER)
        return message if message is not None and shows in message.get("text", "") else None

    return await telegram.wait_for(ready, timeout=30)


async def press(telegram: FakeTelegram, message: dict[str, Any], label: str) -> None:
    [data] = [data for text, data in buttons(message) if label in text]
    query = await telegram.press(USER, message["message_id"], data)
    await telegram.wait_for(lambda t: t.answered(query), timeout=30)


async def test_a_new_user_makes_a_demo_video_with_only_the_quick_start(tmp_path: Path) -> None:
    telegram = FakeTelegram(TOKEN)
    await telegram.start()
    example = (ROOT / ".env.example").read_text()
    assert "\nBOT_TOKEN=\n" in example
    (tmp_path / ".env").write_text(example.replace("\nBOT_TOKEN=\n", f"\nBOT_TOKEN={TOKEN}\n"))
    # The environment wins over .env: only where Telegram is and how fast time passes differ.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "TELEGRAM_API_URL": telegram.url,
        "POLL_INTERVAL_SECONDS": "0.2",
        "DEMO_DELAY_SECONDS": "0",
    }
    bot = await start_bot(tmp_path, env, preloaded=False)  # the README's own command, interpreter and all
    try:
        await telegram.send_text(USER, "/start")
        # a fresh `python -m bot` needs ~5 s of CPU to start (aiogram's models), far longer under load
        welcome = await telegram.wait_for(lambda t: replies(t), timeout=60)
        assert "10 credits" in welcome[0], welcome

        await telegram.send_text(USER, "/generate")
        await press(telegram, await screen(telegram, "🎬"), "Demo")
        await press(telegram, await screen(telegram, "✨"), "📝")
        await press(telegram, await screen(telegram, "⚙️"), "Continue")
        await screen(telegram, "✍️")
        await telegram.send_text(USER, "a paper boat on a river")
        await press(telegram, await screen(telegram, "📋"), "Pay 5 credits")
        [video] = await telegram.wait_for(lambda t: [c for c in t.calls_of("sendVideo") if c.ok], timeout=60)
        assert int(video.params["chat_id"]) == USER
        assert "a paper boat on a river" in video.params["caption"]
    finally:
        if bot.returncode is None:
            bot.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(bot.communicate(), timeout=30)
        await telegram.close()
    log = output.decode()
    assert bot.returncode == 0, log
    assert "Traceback" not in log and TOKEN not in log, log

    data = tmp_path / "data"
    store = await SqliteStore.open(data / "bot.sqlite3")
    try:
        [generation] = await store.list_user_generations(USER)
        assert generation.status is GenerationStatus.DELIVERED
        entries = await store.list_ledger(USER)
        assert [(e.kind, e.delta) for e in entries] == [(LedgerKind.DEBIT, -5), (LedgerKind.WELCOME, 10)]
        media = LocalMediaStore(data / "media", public_base_url=None, link_secret=b"k")
        assert await check_invariants(store, media, now=datetime.now(UTC), poll_interval_seconds=10) == []
    finally:
        await store.close()
