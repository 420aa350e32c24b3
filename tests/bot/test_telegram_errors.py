"""Telegram failing while a handler answers: one warning line, no traceback, and the bot carries on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from tests.bot.wizard_helpers import replies
from tests.poller.conftest import USER, Rig


class Recorder(logging.Handler):
    """Collects records and wakes the test when one arrives (emitted on the loop's own thread)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.arrived = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if record.name == "bot.handlers.errors":
            self.arrived.set()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    handler = Recorder()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


async def test_a_reply_telegram_cannot_take_is_one_warning_line(
    rig: Rig, polling: None, recorder: Recorder
) -> None:
    rig.telegram.fail_next("sendMessage", error_code=502, description="Bad Gateway", times=3)
    await rig.telegram.send_text(USER, "/help")
    await asyncio.wait_for(recorder.arrived.wait(), timeout=10)
    [line] = [r for r in recorder.records if r.name == "bot.handlers.errors"]
    assert line.levelno == logging.WARNING and line.exc_info is None
    assert "Telegram is unavailable (TelegramServerError" in line.getMessage()
    assert not [r for r in recorder.records if r.exc_info is not None], "no traceback anywhere"

    await rig.telegram.send_text(USER, "/help")
    [answer] = await rig.telegram.wait_for(lambda t: replies(t))
    assert "/generate" in answer
