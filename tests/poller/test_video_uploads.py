"""Issue 13, items 8 and 11: a video reaches the chat at most twice, and a 413 means a link at once.

Telegram may carry out a sendVideo whose answer is a 5xx or never arrives: the upload is not repeated
inside the request, and the delivery uploads again at most once. A 413 is Telegram's final word on the
size: the link goes out in the same attempt. Over the fake Bot API on both backends; the rig ends each
scenario with the invariant checker.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramEntityTooLarge, TelegramNetworkError, TelegramServerError
from aiogram.methods import SendMessage, SendVideo
from aiogram.types import BufferedInputFile
from aiohttp import ClientConnectorError, ServerDisconnectedError
from aiohttp.client_reqrep import ConnectionKey

from bot.telegram_retry import RetryRequests
from services.delivery import MAX_DELIVERY_ATTEMPTS, MAX_UPLOADS
from storage.records import GenerationStatus
from tests.conftest import TOKEN
from tests.fakes.sleeps import Sleeps
from tests.poller.conftest import USER, Rig


def videos_in_chat(rig: Rig) -> int:
    return sum("video" in message for message in rig.telegram.messages_in(USER))


async def test_a_video_whose_answers_are_all_lost_reaches_the_chat_at_most_twice(rig: Rig) -> None:
    await rig.fund()
    generation = await rig.order()
    await rig.tick()
    # Telegram takes every upload and its answer is lost (a 502 after the message is in the chat)
    rig.telegram.fail_next("sendVideo", error_code=502, description="Bad Gateway", applied=True, times=1000)
    for _ in range(MAX_DELIVERY_ATTEMPTS + 2):
        await rig.poller.tick()
        rig.clock.advance(seconds=3600)
    kept = await rig.get(generation.id)
    assert kept.status is GenerationStatus.SUCCEEDED and kept.next_poll_at is None, "it stays in /library"
    assert videos_in_chat(rig) == MAX_UPLOADS == 2
    assert len(rig.telegram.calls_of("sendVideo")) == 2
    assert rig.telegram_sleeps == [], "an upload is never repeated inside its request"
    assert await rig.balance() == 90, "a produced video is never refunded"


async def test_one_lost_answer_costs_at_most_one_duplicate_and_the_video_is_delivered(rig: Rig) -> None:
    await rig.fund()
    generation = await rig.order()
    rig.telegram.fail_next("sendVideo", error_code=500, description="Internal Server Error", applied=True)
    await rig.settle(generation.id)
    done = await rig.get(generation.id)
    assert done.status is GenerationStatus.DELIVERED and done.file_id is not None
    assert videos_in_chat(rig) == 2
    assert [c.error_code for c in rig.telegram.calls_of("sendVideo")] == [500, None]


async def test_a_413_sends_the_link_at_once_without_retrying_the_upload(rig: Rig) -> None:
    await rig.fund()
    rig.telegram.upload_limit_bytes = len(rig.openai.video_bytes) - 1
    generation = await rig.order()
    await rig.settle(generation.id)
    done = await rig.get(generation.id)
    assert done.status is GenerationStatus.DELIVERED and done.file_id is None
    assert rig.telegram_sleeps == [], "no retry of a refused size"
    assert {c.error_code for c in rig.telegram.calls_of("sendVideo")} == {413}
    assert any(
        "too large to send in Telegram" in c.params["text"] for c in rig.telegram.calls_of("sendMessage")
    )
    assert videos_in_chat(rig) == 0


# ---------------------------------------------------------------------------- the session middleware


class Requests:
    """A make_request that fails with the given errors, in order, then answers True; counts its calls."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self, bot: Bot, method: Any) -> bool:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return True


UPLOAD = SendVideo(chat_id=USER, video=BufferedInputFile(b"\x00" * 16, filename="v.mp4"))
BY_FILE_ID = SendVideo(chat_id=USER, video="BAACAgIAAxkBAAI")
TEXT = SendMessage(chat_id=USER, text="hi")


def connect_error() -> TelegramNetworkError:
    """What aiogram raises when the connection was never made: the request cannot have arrived."""
    error = TelegramNetworkError(method=UPLOAD, message="ClientConnectorError: refused")
    error.__cause__ = ClientConnectorError(
        ConnectionKey("127.0.0.1", 1, False, False, None, None, None), OSError(111, "refused")
    )
    return error


def lost_answer() -> TelegramNetworkError:
    error = TelegramNetworkError(method=UPLOAD, message="ServerDisconnectedError")
    error.__cause__ = ServerDisconnectedError()
    return error


@pytest.mark.parametrize(
    ("method", "errors", "calls"),
    [
        pytest.param(UPLOAD, [TelegramServerError(method=UPLOAD, message="Bad Gateway")], 1, id="upload-5xx"),
        pytest.param(UPLOAD, [lost_answer()], 1, id="upload-answer-lost"),
        pytest.param(UPLOAD, [connect_error(), connect_error()], 3, id="upload-never-sent"),
        pytest.param(
            BY_FILE_ID, [TelegramServerError(method=BY_FILE_ID, message="Bad Gateway")], 2, id="file-id"
        ),
        pytest.param(TEXT, [TelegramServerError(method=TEXT, message="Bad Gateway")] * 2, 3, id="text-5xx"),
        pytest.param(
            UPLOAD, [TelegramEntityTooLarge(method=UPLOAD, message="Request Entity Too Large")], 1, id="413"
        ),
        pytest.param(
            TEXT, [TelegramEntityTooLarge(method=TEXT, message="Request Entity Too Large")], 1, id="413-text"
        ),
    ],
)
async def test_what_is_retried_inside_the_request(method: Any, errors: list[Exception], calls: int) -> None:
    sleeps = Sleeps()
    requests = Requests(*errors)
    retry = RetryRequests(sleep=sleeps)
    bot = Bot(TOKEN)
    try:
        if calls == 1:  # handed back at once, to the caller that knows what may have happened
            with pytest.raises(type(errors[0])):
                await retry(requests, bot, method)
        else:
            assert await retry(requests, bot, method) is True
        assert requests.calls == calls
        assert len(sleeps) == calls - 1
    finally:
        await bot.session.close()
