"""`python -m bot health`, the container health check: it reads the heartbeat the running bot writes; and
the web app's `/healthz`, which a load balancer asks whether a replica reaches the store and Redis."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from bot.container import build_container
from bot.web import build_web_app
from services.catalog import load_catalog
from services.heartbeat import HEARTBEAT_FILE, MIN_STALE_SECONDS, problem
from services.settings import Settings
from storage.local_media import LocalMediaStore
from storage.sqlite import SqliteStore
from tests.conftest import TOKEN
from tests.fakes.bot_process import Output, bot_env, free_port, start_bot
from tests.fakes.telegram import FakeTelegram
from tests.invariants import check_invariants

#: a fresh `python -m bot` needs ~5 s of CPU to start (aiogram's models), far longer on a loaded machine
STARTUP_DEADLINE_SECONDS = 60


def health(data: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    return subprocess.run(
        [sys.executable, "-m", "bot", "health"],
        cwd=cwd,
        env={**clean, "BOT_TOKEN": TOKEN, "DATA_DIR": str(data), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_fresh_stale_and_missing_heartbeats(tmp_path: Path) -> None:
    beat = tmp_path / HEARTBEAT_FILE
    assert problem(beat, max_age=30) == f"unhealthy: no heartbeat at {beat} (is the bot running?)"
    beat.touch()
    written = beat.stat().st_mtime
    assert problem(beat, max_age=30, now=written + 29) is None
    stale = problem(beat, max_age=30, now=written + 95)
    assert stale == f"unhealthy: heartbeat {beat} is 95 s old (limit 30 s)"


def test_health_command_exit_codes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    missing = health(data, tmp_path)
    assert missing.returncode == 1
    beat = data / HEARTBEAT_FILE
    assert missing.stderr.splitlines() == [f"unhealthy: no heartbeat at {beat} (is the bot running?)"]

    data.mkdir()
    beat.touch()
    fresh = health(data, tmp_path)
    assert (fresh.returncode, fresh.stderr) == (0, ""), fresh.stderr
    assert fresh.stdout.startswith("healthy")

    old = time.time() - 10 * MIN_STALE_SECONDS
    os.utime(beat, (old, old))
    stale = health(data, tmp_path)
    assert stale.returncode == 1
    [line] = stale.stderr.splitlines()
    assert line.startswith(f"unhealthy: heartbeat {beat} is ") and "limit 30 s" in line

    slow = health(data, tmp_path, POLL_INTERVAL_SECONDS="200")
    assert slow.returncode == 0, "the limit grows with the poll interval (3 intervals)"


async def test_the_running_bot_writes_the_heartbeat_in_long_polling(tmp_path: Path) -> None:
    """No web app here (PUBLIC_BASE_URL unset): the heartbeat alone tells that the bot is alive."""
    telegram = FakeTelegram(TOKEN)
    await telegram.start()
    data = tmp_path / "data"
    # LOG_LEVEL=debug: APScheduler's demoted per-run lines show the heartbeat job ran
    bot = await start_bot(
        tmp_path, bot_env(telegram.url, data, POLL_INTERVAL_SECONDS="0.2", LOG_LEVEL="debug")
    )
    assert bot.stdout is not None
    output = Output(bot.stdout)

    try:
        await output.wait_for(
            lambda line: 'Job "beat' in line and "executed successfully" in line,
            timeout=STARTUP_DEADLINE_SECONDS,
        )
        assert (data / HEARTBEAT_FILE).is_file()
        result = await asyncio.to_thread(health, data, tmp_path)
        assert result.returncode == 0, result.stderr
    finally:
        if bot.returncode is None:
            bot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bot.wait(), timeout=30)
        await output.finish()
        await telegram.close()
    log = output.text
    assert bot.returncode == 0, log
    assert " DEBUG apscheduler.executors.default: " in log, "demoted, not silenced"
    assert " INFO apscheduler" not in log
    assert TOKEN not in log


async def test_healthz_reports_the_store_and_redis_and_answers_503_when_one_is_down(
    make_settings: Callable[..., Settings], redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings()
    store = await SqliteStore.open(settings.database_path)
    media = LocalMediaStore(settings.media_dir, public_base_url=None, link_secret=b"k")
    bot = Bot(TOKEN)  # never called: the web app only needs the services built around it
    services = build_container(settings=settings, catalog=load_catalog(), store=store, media=media, bot=bot)

    async def health(client: TestClient[Any, Any]) -> tuple[int, dict[str, str]]:
        async with client.get("/healthz") as response:
            return response.status, await response.json()

    def app(redis: Redis | None) -> TestClient[Any, Any]:
        web = build_web_app(
            poller=services.poller,
            providers=services.providers,
            settings=settings,
            media=media,
            store=store,
            redis=redis,
        )
        return TestClient(TestServer(web))

    live = Redis.from_url(redis_url)
    gone = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1)
    try:
        async with app(None) as client:
            assert await health(client) == (200, {"store": "ok", "redis": "unused"})
        async with app(live) as client:
            assert await health(client) == (200, {"store": "ok", "redis": "ok"})
        caplog.set_level(logging.INFO, logger="bot.web")
        async with app(gone) as client:
            for _ in range(2):
                assert await health(client) == (503, {"store": "ok", "redis": "error"})
        assert [r.getMessage() for r in caplog.records] == ["health: redis does not answer"], "once"
        await store.close()
        async with app(live) as client:
            assert await health(client) == (503, {"store": "error", "redis": "ok"})
    finally:
        await live.aclose()
        await gone.aclose()
        await bot.session.close()
        await store.close()
    reopened = await SqliteStore.open(settings.database_path)
    try:
        assert await check_invariants(reopened, media, now=datetime.now(UTC), poll_interval_seconds=10) == []
    finally:
        await reopened.close()
