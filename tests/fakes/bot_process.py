"""`python -m bot` as a real process for the tests that need one: its environment, its start, its output."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import TOKEN


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


async def start_bot(cwd: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    """The bot with stdout and stderr merged into one pipe, as an operator's log would show them."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


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
