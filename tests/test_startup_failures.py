"""Every start-up failure of `python -m bot` (a real process, forked from tests/fakes/bot_zygote.py) is one
line on stderr, never a traceback, never a secret, with the exit status README documents: the way an
operator meets them in `docker logs`."""

from __future__ import annotations

import asyncio
import errno
import os
import re
import socket
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web

from bot.backends import data_dir_problem
from bot.exit_status import ExitCode, StartupError
from bot.startup import reach_telegram
from services.settings import Settings
from tests.conftest import TOKEN
from tests.fakes.bot_process import bot_env, spawn_bot
from tests.fakes.telegram import FakeTelegram

#: A record of the bot's log format (`bot/__main__.py`); anything else on stderr is the failure line.
LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>[A-Z]+) [\w.]+: ")
SUPABASE_KEY = "sb_secret_" + "k" * 32
#: The start retries an unreachable Bot API for this long here (the default is 30 s).
TELEGRAM_WAIT = 0.3


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str

    @property
    def line(self) -> str:
        """The one line that explains the failure; stderr holds nothing else but INFO/WARNING records."""
        output = self.stdout + self.stderr
        assert "Traceback" not in output, output
        assert TOKEN not in output and TOKEN.split(":")[1] not in output, "the token never appears"
        assert SUPABASE_KEY not in output, "the Supabase key never appears"
        records = [LOG_RECORD.match(line) for line in self.stderr.splitlines()]
        assert all(r["level"] in ("INFO", "WARNING") for r in records if r is not None), self.stderr
        others = [
            line for line, record in zip(self.stderr.splitlines(), records, strict=True) if record is None
        ]
        assert len(others) == 1, self.stderr
        return others[0]


def closed_port() -> int:
    """A loopback port nothing listens on (bound once to pick it, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    """A demo bot whose Bot API address is closed, unless `settings` say otherwise."""
    return bot_env(f"http://127.0.0.1:{closed_port()}", tmp_path / "data", **settings)


async def run_bot(tmp_path: Path, env: dict[str, str], *args: str) -> Outcome:
    """`python -m bot ARGS`, with Telegram retried for TELEGRAM_WAIT seconds unless `env` says otherwise."""
    env = {"TELEGRAM_STARTUP_WAIT_SECONDS": str(TELEGRAM_WAIT), **env}
    process = await spawn_bot(tmp_path, env, *args, merge_stderr=False)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Outcome(process.returncode, stdout.decode(), stderr.decode())


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram(TOKEN)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


async def test_unreachable_telegram_is_retried_then_named_in_one_line(tmp_path: Path) -> None:
    port = closed_port()
    env = environment(tmp_path, TELEGRAM_API_URL=f"http://127.0.0.1:{port}")
    outcome = await run_bot(tmp_path, env)
    assert outcome.returncode == ExitCode.TELEGRAM_UNREACHABLE
    found = re.fullmatch(
        rf"Cannot reach the Telegram Bot API at http://127\.0\.0\.1:{port}: connection refused; "
        r"gave up after (?P<tries>\d+) tries in (?P<seconds>[\d.]+) s\.",
        outcome.line,
    )
    assert found is not None, outcome.line
    retries = [line for line in outcome.stderr.splitlines() if "trying again in" in line]
    assert len(retries) == int(found["tries"]) - 1 >= 1, "one warning line per failed try"
    assert float(found["seconds"]) < 5


class Clock:
    """Time that passes only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def bot_for(url: str) -> Bot:
    return Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(url)))


async def test_the_start_backs_off_from_half_a_second_to_eight_within_the_wait() -> None:
    clock = Clock()
    url = f"http://127.0.0.1:{closed_port()}"
    bot = bot_for(url)
    try:
        with pytest.raises(StartupError) as failed:
            await reach_telegram(bot, url, wait=20, sleep=clock.sleep, clock=lambda: clock.now)
    finally:
        await bot.session.close()
    assert clock.sleeps == [0.5, 1, 2, 4, 8, 4.5]
    assert failed.value.code == ExitCode.TELEGRAM_UNREACHABLE
    assert str(failed.value).endswith("gave up after 7 tries in 20.0 s.")


async def test_server_errors_at_the_start_are_waited_out(telegram: FakeTelegram) -> None:
    telegram.fail_next("getMe", error_code=502, description="Bad Gateway", times=2)
    clock = Clock()
    bot = bot_for(telegram.url)
    try:
        me = await reach_telegram(bot, telegram.url, wait=30, sleep=clock.sleep, clock=lambda: clock.now)
    finally:
        await bot.session.close()
    assert me.username == "video_bot"
    assert clock.sleeps == [0.5, 1]


async def test_an_unknown_host_is_a_dns_failure(tmp_path: Path) -> None:
    env = environment(
        tmp_path, TELEGRAM_API_URL="http://telegram-api.invalid", TELEGRAM_STARTUP_WAIT_SECONDS="0"
    )
    outcome = await run_bot(tmp_path, env)
    assert outcome.returncode == ExitCode.TELEGRAM_UNREACHABLE
    assert outcome.line.startswith("Cannot reach the Telegram Bot API at http://telegram-api.invalid: DNS ")
    assert outcome.line.endswith("gave up after 1 try in 0.0 s."), outcome.line


async def test_a_rejected_token_is_one_line_and_not_retried(tmp_path: Path) -> None:
    revoked = FakeTelegram("123456789:AAnotTheTokenTheBotHas_0000000000000")  # answers 401 to our token
    await revoked.start()
    try:
        outcome = await run_bot(tmp_path, environment(tmp_path, TELEGRAM_API_URL=revoked.url))
    finally:
        await revoked.close()
    assert outcome.returncode == ExitCode.TOKEN_REJECTED
    assert outcome.line == (
        "Telegram rejected BOT_TOKEN (401 Unauthorized): it is wrong or was revoked; "
        "get the current token from @BotFather."
    )
    assert "trying again" not in outcome.stderr


@pytest.mark.parametrize("command", [(), ("check",)])
async def test_a_data_dir_under_a_file_stops_the_start_and_fails_the_check(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    outcome = await run_bot(tmp_path, environment(tmp_path, DATA_DIR=str(blocker / "data")), *command)
    assert outcome.returncode == ExitCode.STORAGE_PATH
    assert outcome.line == f"DATA_DIR {blocker}/data cannot be created: {blocker} is not a directory"
    assert os.listdir(tmp_path) == ["file.txt"], "nothing is left behind"


@pytest.mark.parametrize("command", [(), ("check",)])
async def test_a_data_dir_nobody_can_create_stops_the_start(tmp_path: Path, command: tuple[str, ...]) -> None:
    outcome = await run_bot(tmp_path, environment(tmp_path, DATA_DIR="/proc/videobot-data"), *command)
    assert outcome.returncode == ExitCode.STORAGE_PATH
    assert (
        outcome.line == "DATA_DIR /proc/videobot-data cannot be created in /proc: no such file or directory"
    )


def test_a_root_owned_mount_is_not_writable_for_the_bot_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_settings: Callable[..., Settings]
) -> None:
    """What a non-root user meets in a root-owned volume, even when the tests run as root."""
    (tmp_path / "data").mkdir()

    def refused(**_: object) -> str:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(tempfile, "mkdtemp", refused)
    problem = data_dir_problem(make_settings())
    assert problem == f"DATA_DIR {tmp_path}/data is not writable: permission denied"


async def test_a_database_path_that_is_a_folder_fails_the_check(tmp_path: Path) -> None:
    (tmp_path / "data" / "bot.sqlite3").mkdir(parents=True)
    outcome = await run_bot(tmp_path, environment(tmp_path), "check")
    assert outcome.returncode == ExitCode.STORAGE_PATH
    assert outcome.line == f"Database {tmp_path}/data/bot.sqlite3 is not writable: is a directory"
    assert "Configuration is valid." in outcome.stdout, "the rest of the report is still shown"


async def test_a_file_that_is_not_a_database_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "bot.sqlite3").write_bytes(b"this is no SQLite file, " * 100)
    outcome = await run_bot(tmp_path, environment(tmp_path))
    assert outcome.returncode == ExitCode.STORAGE_PATH
    assert outcome.line == f"Cannot open the database {tmp_path}/data/bot.sqlite3: file is not a database"


async def test_unreachable_supabase_is_one_line_without_the_key(tmp_path: Path) -> None:
    port = closed_port()
    env = environment(
        tmp_path, SUPABASE_URL=f"http://127.0.0.1:{port}", SUPABASE_SERVICE_ROLE_KEY=SUPABASE_KEY
    )
    outcome = await run_bot(tmp_path, env)
    assert outcome.returncode == ExitCode.SUPABASE
    assert outcome.line == f"Cannot reach Supabase at http://127.0.0.1:{port}: connection refused"


@pytest.mark.parametrize("status", [401, 403])
async def test_supabase_refusing_the_key_is_one_line_without_the_key(tmp_path: Path, status: int) -> None:
    keys: list[str | None] = []

    async def refuse(request: web.Request) -> web.Response:
        keys.append(request.headers.get("apikey"))
        return web.json_response({"message": "Invalid API key"}, status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        env = environment(tmp_path, SUPABASE_URL=url, SUPABASE_SERVICE_ROLE_KEY=SUPABASE_KEY)
        outcome = await run_bot(tmp_path, env)
    finally:
        await runner.cleanup()
    assert outcome.returncode == ExitCode.SUPABASE
    reason = {401: "401 Unauthorized", 403: "403 Forbidden"}[status]
    assert outcome.line == f"Supabase at {url} refused SUPABASE_SERVICE_ROLE_KEY ({reason})"
    assert keys == [SUPABASE_KEY], "one probe, with the key"


async def test_a_web_port_in_use_is_named(tmp_path: Path, telegram: FakeTelegram) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        env = environment(
            tmp_path,
            TELEGRAM_API_URL=telegram.url,
            PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
            WEB_HOST="127.0.0.1",
            WEB_PORT=str(port),
        )
        outcome = await run_bot(tmp_path, env)
    assert outcome.returncode == ExitCode.PORT_IN_USE
    assert outcome.line == f"Cannot listen on 127.0.0.1:{port} (WEB_HOST:WEB_PORT): address already in use"


async def test_anything_else_is_its_type_and_message_and_the_traceback_is_for_debug(
    tmp_path: Path, telegram: FakeTelegram
) -> None:
    telegram.fail_next("getMe", error_code=400, description="Bad Request: something new", times=2)
    outcome = await run_bot(tmp_path, environment(tmp_path, TELEGRAM_API_URL=telegram.url))
    assert outcome.returncode == ExitCode.UNEXPECTED
    assert outcome.line == (
        "Unexpected error: TelegramBadRequest: Telegram server says - Bad Request: something new "
        "(LOG_LEVEL=DEBUG logs the traceback)"
    )

    debug = await run_bot(tmp_path, environment(tmp_path, TELEGRAM_API_URL=telegram.url, LOG_LEVEL="DEBUG"))
    assert debug.returncode == ExitCode.UNEXPECTED
    assert "Traceback" in debug.stderr
    assert TOKEN not in debug.stderr
