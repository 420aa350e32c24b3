"""The quick start for real: `python -m bot` as a subprocess, talking to the fake Bot API over HTTP."""

from __future__ import annotations

import asyncio
import signal
import socket
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from services.catalog import load_catalog
from services.generations import GenerationService
from services.providers.registry import Providers
from services.settings import Settings
from services.video_request import VideoRequest
from storage.local_media import LocalMediaStore
from storage.records import GenerationCreated, GenerationStatus, LedgerKind, NewLedgerEntry
from storage.sqlite import SqliteStore
from tests.conftest import TOKEN
from tests.fakes.bot_process import Output, bot_env, start_bot
from tests.fakes.telegram import FakeTelegram
from tests.invariants import check_invariants


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_bot_answers_start_in_the_users_language_and_stops_on_sigterm(tmp_path: Path) -> None:
    telegram = FakeTelegram(TOKEN)
    await telegram.start()
    data = tmp_path / "data"
    port = free_port()
    env = bot_env(
        telegram.url,
        data,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        WEB_HOST="127.0.0.1",
        WEB_PORT=str(port),
    )
    bot = await start_bot(tmp_path, env)
    try:
        await telegram.send_text(42, "/start", language_code="ru", first_name="Иван")
        # a fresh `python -m bot` needs ~5 s of CPU to start (aiogram's models), far longer under load
        reply = await asyncio.wait_for(telegram.sent.get(), timeout=60)
        assert reply.chat_id == 42
        assert reply.text.startswith("Привет, Иван!")
        assert "0 кредитов" in reply.text

        await telegram.send_text(42, "/balance", language_code="en")
        balance = await asyncio.wait_for(telegram.sent.get(), timeout=30)
        assert balance.text.startswith("Ваш баланс: 0 кредитов."), (
            "the stored language wins over the client's"
        )

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


async def order_demo(data: Path, user: int) -> str:
    """A paid demo generation for `user`, written to the bot's database as the wizard would."""
    settings = Settings(_env_file=None, bot_token=TOKEN, data_dir=data, demo_mode=True)  # type: ignore[call-arg]
    store = await SqliteStore.open(settings.database_path)
    try:
        await store.apply_ledger_entry(NewLedgerEntry(user, 20, LedgerKind.ADMIN, f"admin:1:{user}", 1))
        request = VideoRequest(model="demo", mode="t2v", prompt="a lighthouse in a storm")
        created = await GenerationService(store, load_catalog(), settings, Providers(settings)).create(
            user_id=user, chat_id=user, request=request
        )
        assert isinstance(created, GenerationCreated)
        return created.generation.id
    finally:
        await store.close()


async def test_a_telegram_outage_while_running_is_waited_out(tmp_path: Path) -> None:
    """The Bot API goes away (the server stops: refused connections) while the bot polls and the poller is
    delivering a video; when it comes back on the same address, polling resumes, the video is delivered
    and /start is answered. Every failed try is one log line, never a traceback."""
    telegram = FakeTelegram(TOKEN)
    await telegram.start()
    port = int(telegram.url.rsplit(":", 1)[1])
    data = tmp_path / "data"
    env = bot_env(telegram.url, data, DEMO_DELAY_SECONDS="0", POLL_INTERVAL_SECONDS="0.2")
    bot = await start_bot(tmp_path, env)
    assert bot.stdout is not None
    output = Output(bot.stdout)
    try:
        await telegram.send_text(42, "/start")
        await asyncio.wait_for(telegram.sent.get(), timeout=60)  # the start-up, as above

        await telegram.close()  # the outage: nothing listens on the Bot API's address any more
        generation_id = await order_demo(data, 42)
        await output.wait_for("Failed to fetch updates", times=2)
        # RetryRequests' three tries of one delivery fail, the poller defers it and tries again later
        await output.wait_for("Telegram SendVideo: retrying in 1 s", times=2)
        assert bot.returncode is None, "the outage did not end the process"

        await telegram.start(port)  # Telegram is back where the bot expects it
        await telegram.send_text(42, "/start")
        await telegram.wait_for(
            lambda t: len([c for c in t.calls_of("sendMessage") if c.ok]) >= 2, timeout=60
        )
        await telegram.wait_for(lambda t: any(c.ok for c in t.calls_of("sendVideo")), timeout=60)
        await output.wait_for(f"generation {generation_id} delivered")  # logged once the row is delivered
        store = await SqliteStore.open(data / "bot.sqlite3")
        try:
            delivered = await store.get_generation(generation_id)
        finally:
            await store.close()
        assert delivered is not None and delivered.status is GenerationStatus.DELIVERED
        await output.wait_for("Connection established")
    finally:
        if bot.returncode is None:
            bot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bot.wait(), timeout=30)
        await output.finish()
        await telegram.close()
    assert bot.returncode == 0, output.text
    assert "Traceback" not in output.text
    assert TOKEN not in output.text, output.text
    assert "Sleep for" not in output.text, "aiogram's second line per failed poll is dropped"
