"""`python -m bot` as a real process for the tests that need one: its environment, its start, its output."""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from asyncio.subprocess import Process
from collections.abc import Callable, Iterable
from pathlib import Path

from tests.conftest import TOKEN


def free_port() -> int:
    """A loopback port nothing listens on right now (for a bot's WEB_PORT)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bot_env(telegram_url: str, data: Path, **settings: str) -> dict[str, str]:
    """A demo bot's environment against a fake Bot API, with nothing from the machine but PATH."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": telegram_url,
        "DATA_DIR": str(data),
        "DEMO_MODE": "true",
        **settings,
    }


class BotProcess:
    """A bot process forked by the zygote (tests/fakes/bot_zygote.py): the part of
    asyncio.subprocess.Process the tests use — pid, pipes, signals, wait, returncode."""

    def __init__(
        self,
        pid: int,
        answers: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        stdout: asyncio.StreamReader,
        stderr: asyncio.StreamReader | None,
    ) -> None:
        self.pid = pid
        self._connection = answers  # the writer must live: closing it would hang up on the zygote
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None
        self._exited = asyncio.ensure_future(self._await_exit(answers[0]))

    async def _await_exit(self, answers: asyncio.StreamReader) -> None:
        line = await answers.readline()
        self.returncode = int(json.loads(line)["returncode"]) if line else -1

    async def wait(self) -> int:
        await asyncio.shield(self._exited)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    async def communicate(self) -> tuple[bytes, bytes]:
        """Both outputs to their end, then the exit (stderr empty when it was merged into stdout)."""
        stderr = self.stderr.read() if self.stderr is not None else _nothing()
        out, err = await asyncio.gather(self.stdout.read(), stderr)
        await self.wait()
        return out, err


async def _nothing() -> bytes:
    return b""


class _Zygote:
    """One fork server per test run, started on first use; it ends when this process closes its stdin."""

    def __init__(self) -> None:
        self._server: subprocess.Popen[bytes] | None = None
        self._folder = tempfile.mkdtemp(prefix="bot-zygote-")
        self.path = os.path.join(self._folder, "socket")

    def ensure(self) -> str:
        if self._server is None or self._server.poll() is not None:
            self._server = subprocess.Popen(
                [sys.executable, "-m", "tests.fakes.bot_zygote", self.path],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                cwd=Path(__file__).resolve().parents[2],
            )
            assert self._server.stdout is not None
            if self._server.stdout.readline() != b"ready\n":
                raise RuntimeError("the bot zygote did not start; run python -m tests.fakes.bot_zygote")
            atexit.register(self.close)
        return self.path

    def close(self) -> None:
        if self._server is not None and self._server.stdin is not None:
            self._server.stdin.close()
            self._server.wait(timeout=30)
        shutil.rmtree(self._folder, ignore_errors=True)


_ZYGOTE = _Zygote()


async def _pipe_reader(fd: int) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", 0))
    return reader


async def spawn_bot(cwd: Path, env: dict[str, str], *args: str, merge_stderr: bool = True) -> BotProcess:
    """`python -m bot ARGS` as a real process forked from the preloaded zygote."""
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe() if not merge_stderr else (-1, out_write)
    stdin = os.open(os.devnull, os.O_RDONLY)
    request = json.dumps({"cwd": str(cwd), "env": env, "args": list(args)}).encode()
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(_ZYGOTE.ensure())
        socket.send_fds(client, [request], [stdin, out_write, err_write])
    finally:
        for fd in {stdin, out_write, err_write}:
            os.close(fd)
    client.setblocking(False)
    answers, writer = await asyncio.open_unix_connection(sock=client)
    pid = int(json.loads(await answers.readline())["pid"])
    stdout = await _pipe_reader(out_read)
    stderr = await _pipe_reader(err_read) if not merge_stderr else None
    return BotProcess(pid, (answers, writer), stdout, stderr)


async def start_bot(cwd: Path, env: dict[str, str], *, preloaded: bool = True) -> BotProcess | Process:
    """The bot with stdout and stderr merged into one pipe, as an operator's log would show them.

    `preloaded=False` runs the interpreter itself (`python -m bot`), for the test that proves the
    README's own command."""
    if preloaded:
        return await spawn_bot(cwd, env)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def kill_leftovers(processes: Iterable[BotProcess | Process]) -> None:
    """A test's cleanup: no bot it started outlives it, whatever failed half-way."""
    for process in processes:
        if process.returncode is None:
            process.kill()
            await process.wait()


class Output:
    """The process's merged output, read as it comes, so that a test waits for a line, not for time."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.lines: list[str] = []
        self._changed = asyncio.Condition()
        self._reader = asyncio.ensure_future(self._read(stream))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            async with self._changed:
                self.lines.append(line.decode().rstrip("\n"))
                self._changed.notify_all()

    def count(self, matches: str | Callable[[str], bool]) -> int:
        if isinstance(matches, str):
            return sum(matches in line for line in self.lines)
        return sum(matches(line) for line in self.lines)

    async def wait_for(
        self,
        matches: str | Callable[[str], bool],
        times: int = 1,
        timeout: float = 60,  # noqa: ASYNC109
    ) -> None:
        """Until `times` lines contain `matches` (or satisfy it), failing with the output so far."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.count(matches) >= times), timeout)
            except TimeoutError:
                raise AssertionError(f"{matches!r} not {times}x in the output:\n{self.text}") from None

    async def finish(self) -> None:
        await self._reader

    @property
    def text(self) -> str:
        return "\n".join(self.lines)
