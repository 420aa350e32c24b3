"""The quick start for real: `python -m bot` as a subprocess, talking to the fake Bot API over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from services.invariants import check_invariants
from storage.local_media import LocalMediaStore
from storage.sqlite import SqliteStore
from tests.conftest import TOKEN
from tests.fakes.telegram import FakeTelegram


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_bot_answers_start_in_the_users_language_and_stops_on_sigterm(tmp_path: Path) -> None:
    telegram = FakeTelegram(TOKEN)
    await telegram.start()
    data = tmp_path / "data"
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": telegram.url,
        "DATA_DIR": str(data),
        "DEMO_MODE": "true",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
    }
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        await telegram.send_text(42, "/start", language_code="ru", first_name="Иван")
        reply = await asyncio.wait_for(telegram.sent.get(), timeout=30)
        assert reply.chat_id == 42
        assert reply.text.startswith("Привет, Иван!")
        assert "0 кредитов" in reply.text

        await telegram.send_text(42, "/balance", language_code="en")
        balance = await asyncio.wait_for(telegram.sent.get(), timeout=30)
        assert balance.text == "Ваш баланс: 0 кредитов.", "the stored language wins over the client's"

        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as health:
            assert health.status == 200, "the web app runs when PUBLIC_BASE_URL is set"
    finally:
        if bot.returncode is None:
            bot.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(bot.communicate(), timeout=30)
        await telegram.close()
    log = output.decode()
    assert bot.returncode == 0, log
    assert TOKEN not in log, "the token never appears in logs"
    assert "getMe" in telegram.calls

    store = await SqliteStore.open(data / "bot.sqlite3")
    try:
        user = await store.get_user(42)
        assert user is not None
        assert user.language == "ru"
        media = LocalMediaStore(data / "media", public_base_url=None, link_secret=b"k")
        assert await check_invariants(store, media, now=datetime.now(UTC), poll_interval_seconds=10) == []
    finally:
        await store.close()
