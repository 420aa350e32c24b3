"""The fake Bot API answers a real aiogram `Bot` the way Telegram does (reference/telegram.md §2, §3, §6.3).

Everything goes through aiogram over loopback HTTP, so what these tests pin down is exactly what the
bot's own code will see: result types that validate, and errors mapped to aiogram's exceptions.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
)
from aiohttp import ClientSession
from PIL import Image

from tests.conftest import TOKEN
from tests.fakes.telegram import BOT_ID, FakeTelegram, LoopbackSession

USER = 42
NOT_MODIFIED = "message is not modified"


class StreamedFile(InputFile):
    """Uploads from an async generator, the way the bot streams videos out of its media store."""

    def __init__(self, chunks: list[bytes], filename: str) -> None:
        super().__init__(filename=filename)
        self.chunks = chunks

    async def read(self, bot: Bot) -> AsyncGenerator[bytes, None]:
        for chunk in self.chunks:
            yield chunk


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=f"b{i}", callback_data=d)] for i, d in enumerate(data)]
    )


def data_of(markup: InlineKeyboardMarkup | None) -> list[str | None]:
    """The callback data a returned keyboard carries (aiogram models compare unequal across parsing)."""
    assert markup is not None
    return [button.callback_data for row in markup.inline_keyboard for button in row]


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    telegram = FakeTelegram(TOKEN)
    await telegram.start()
    yield telegram
    await telegram.close()


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    bot = Bot(TOKEN, session=LoopbackSession(api=TelegramAPIServer.from_base(fake.url)))
    yield bot
    await bot.session.close()


@pytest.fixture
async def http() -> AsyncIterator[ClientSession]:
    """A plain HTTP client, for wire-format details aiogram never exercises."""
    async with ClientSession() as session:
        yield session


# ---------------------------------------------------------------------------- wire format


async def test_get_me_is_the_bot(bot: Bot, fake: FakeTelegram) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (BOT_ID, True, "video_bot")
    assert fake.calls == ["getMe"]
    assert fake.calls_of("GETME")[0].ok


async def test_wire_accepts_any_case_json_and_query_strings(fake: FakeTelegram, http: ClientSession) -> None:
    base = f"{fake.url}/bot{TOKEN}"
    async with http.post(f"{base}/SENDMESSAGE", data={"chat_id": "7", "text": "form"}) as resp:
        assert resp.status == 200
        assert (await resp.json())["result"]["text"] == "form"
    markup = {"inline_keyboard": [[{"text": "x", "callback_data": "d"}]]}
    async with http.post(
        f"{base}/sendmessage", json={"chat_id": 7, "text": "json", "reply_markup": markup}
    ) as resp:
        assert (await resp.json())["result"]["reply_markup"] == markup
    async with http.get(f"{base}/sendMessage", params={"chat_id": "7", "text": "query"}) as resp:
        assert (await resp.json())["result"]["text"] == "query"
    calls = fake.calls_of("sendMessage")
    assert [c.method for c in calls] == ["sendMessage"] * 3, "the canonical name, whatever the case sent"
    assert calls[1].params == {"chat_id": "7", "text": "json", "reply_markup": markup}, (
        "wire strings, JSON decoded"
    )


async def test_unknown_method_and_wrong_token(fake: FakeTelegram, http: ClientSession) -> None:
    async with http.post(f"{fake.url}/bot{TOKEN}/sendTelepathy") as resp:
        assert resp.status == 404
        assert await resp.json() == {
            "ok": False,
            "error_code": 404,
            "description": "Not Found: method not found",
        }
    async with http.post(f"{fake.url}/bot1:wrong/getMe") as resp:
        assert resp.status == 401
        assert (await resp.json())["description"] == "Unauthorized"
    assert [(c.method, c.error_code) for c in fake.requests] == [("sendTelepathy", 404), ("getMe", 401)]


# ---------------------------------------------------------------------------- messages


async def test_send_message_is_stored_and_queued(bot: Bot, fake: FakeTelegram) -> None:
    message = await bot.send_message(USER, "hello", reply_markup=keyboard("a"))
    assert message.from_user is not None and message.from_user.id == BOT_ID
    assert message.chat.id == USER and message.chat.type == "private"
    assert data_of(message.reply_markup) == ["a"]
    assert fake.messages[(USER, message.message_id)]["text"] == "hello"
    sent = fake.sent.get_nowait()
    assert (sent.chat_id, sent.text) == (USER, "hello")
    second = await bot.send_message(USER, "again")
    assert second.message_id > message.message_id


@pytest.mark.parametrize(
    ("text", "error"), [("x" * 4097, "message is too long"), ("  \n ", "message text is empty")]
)
async def test_send_message_text_limits(bot: Bot, fake: FakeTelegram, text: str, error: str) -> None:
    await bot.send_message(USER, "x" * 4096)
    with pytest.raises(TelegramBadRequest, match=error):
        await bot.send_message(USER, text)
    assert fake.calls_of("sendMessage")[-1].error_code == 400
    assert fake.sent.qsize() == 1, "only the accepted message reaches `sent`"


async def test_edit_message_text(bot: Bot, fake: FakeTelegram) -> None:
    message = await bot.send_message(USER, "one", reply_markup=keyboard("a"))
    with pytest.raises(TelegramBadRequest, match=NOT_MODIFIED):
        await bot.edit_message_text(
            "one", chat_id=USER, message_id=message.message_id, reply_markup=keyboard("a")
        )

    edited = await bot.edit_message_text("one", chat_id=USER, message_id=message.message_id)
    assert not isinstance(edited, bool)
    assert edited.reply_markup is None, "an edit without reply_markup removes the keyboard"
    assert fake.messages[(USER, message.message_id)].get("reply_markup") is None

    edited = await bot.edit_message_text("two", chat_id=USER, message_id=message.message_id)
    assert not isinstance(edited, bool) and edited.text == "two" and edited.edit_date is not None
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=999)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.edit_message_text("x" * 4097, chat_id=USER, message_id=message.message_id)


async def test_edit_reply_markup_and_delete(bot: Bot, fake: FakeTelegram) -> None:
    message = await bot.send_message(USER, "menu", reply_markup=keyboard("a"))
    edited = await bot.edit_message_reply_markup(
        chat_id=USER, message_id=message.message_id, reply_markup=keyboard("b")
    )
    assert not isinstance(edited, bool) and data_of(edited.reply_markup) == ["b"]
    with pytest.raises(TelegramBadRequest, match=NOT_MODIFIED):
        await bot.edit_message_reply_markup(
            chat_id=USER, message_id=message.message_id, reply_markup=keyboard("b")
        )

    assert await bot.delete_message(USER, message.message_id) is True
    assert (USER, message.message_id) not in fake.messages
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(USER, message.message_id)


async def test_user_messages_cannot_be_edited(bot: Bot, fake: FakeTelegram) -> None:
    typed = await fake.send_text(USER, "mine")
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("yours", chat_id=USER, message_id=typed["message_id"])


async def test_callback_data_is_limited_to_64_bytes(bot: Bot) -> None:
    await bot.send_message(USER, "ok", reply_markup=keyboard("x" * 64, "é" * 32))
    for data in ("x" * 65, "é" * 33):
        with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
            await bot.send_message(USER, "too long", reply_markup=keyboard(data))


async def test_chat_action_and_commands(bot: Bot, fake: FakeTelegram) -> None:
    assert await bot.send_chat_action(USER, "upload_video") is True
    with pytest.raises(TelegramBadRequest, match="wrong parameter action"):
        await bot.send_chat_action(USER, "dancing")

    await bot.set_my_commands([BotCommand(command="start", description="Start")])
    await bot.set_my_commands([BotCommand(command="start", description="Начать")], language_code="ru")
    scope = BotCommandScopeChat(chat_id=USER)
    await bot.set_my_commands([BotCommand(command="admin", description="Admin")], scope=scope)
    assert [c.description for c in await bot.get_my_commands(language_code="ru")] == ["Начать"]
    assert [c.command for c in await bot.get_my_commands(scope=scope)] == ["admin"]
    assert fake.my_commands() == [{"command": "start", "description": "Start"}]
    assert fake.my_commands(scope={"type": "chat", "chat_id": USER}) == [
        {"command": "admin", "description": "Admin"}
    ]
    await bot.delete_my_commands(language_code="ru")
    assert await bot.get_my_commands(language_code="ru") == []
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-Name", description="x")])


# ---------------------------------------------------------------------------- files


async def test_send_video_upload_then_resend_by_file_id(bot: Bot, fake: FakeTelegram) -> None:
    data = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 400
    message = await bot.send_video(
        USER,
        BufferedInputFile(data, "clip.mp4"),
        width=1280,
        height=720,
        duration=8,
        supports_streaming=True,
        caption="Your video",
        reply_markup=keyboard("again"),
    )
    video = message.video
    assert video is not None
    assert (video.width, video.height, video.duration, video.file_size) == (1280, 720, 8, len(data))
    assert video.mime_type == "video/mp4" and message.caption == "Your video"
    assert data_of(message.reply_markup) == ["again"]
    stored = fake.files[video.file_id]
    assert stored.data == data and stored.file_unique_id == video.file_unique_id
    call = fake.calls_of("sendVideo")[0]
    assert call.params["supports_streaming"] == "true"
    (upload,) = call.files.values()
    assert (upload.filename, upload.size) == ("clip.mp4", len(data))

    again = await bot.send_video(USER, video.file_id, caption="Once more")
    assert again.video is not None and again.video.file_id == video.file_id
    assert again.video.width == 1280, "a resend shows the stored file"
    assert fake.calls_of("sendVideo")[1].files == {}, "a resend uploads nothing"


async def test_send_video_streamed_from_an_async_generator(bot: Bot, fake: FakeTelegram) -> None:
    chunks = [bytes([i]) * 70_000 for i in range(10)]
    message = await bot.send_video(USER, StreamedFile(chunks, "stream.mp4"), request_timeout=30)
    assert message.video is not None
    assert fake.files[message.video.file_id].data == b"".join(chunks)
    assert message.video.file_size == 700_000

    resent = await bot.send_video(USER, message.video.file_id)
    assert resent.video is not None and resent.video.file_id == message.video.file_id


async def test_upload_over_the_limit_is_413(bot: Bot, fake: FakeTelegram) -> None:
    fake.upload_limit_bytes = 100_000
    with pytest.raises(TelegramEntityTooLarge):
        await bot.send_video(USER, StreamedFile([b"v" * 60_000] * 3, "big.mp4"))
    with pytest.raises(TelegramEntityTooLarge):
        await bot.send_document(USER, BufferedInputFile(b"d" * 100_001, "big.bin"))
    assert [c.error_code for c in fake.requests] == [413, 413]
    assert fake.files == {}
    await bot.send_document(USER, BufferedInputFile(b"d" * 100_000, "fits.bin"))


async def test_caption_limit_and_wrong_file_ids(bot: Bot, fake: FakeTelegram) -> None:
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_video(USER, BufferedInputFile(b"v", "v.mp4"), caption="c" * 1025)
    with pytest.raises(TelegramBadRequest, match="wrong file identifier/HTTP URL specified"):
        await bot.send_video(USER, "no-such-file-id")
    document = await bot.send_document(USER, BufferedInputFile(b"%PDF-1.4", "terms.pdf"))
    assert document.document is not None
    assert (document.document.file_name, document.document.mime_type) == ("terms.pdf", "application/pdf")
    with pytest.raises(TelegramBadRequest, match="can't use file of type Document as Photo"):
        await bot.send_photo(USER, document.document.file_id)
    by_url = await bot.send_video(USER, "https://cdn.example.com/v/result.mp4", caption="c" * 1024)
    assert (
        by_url.video is not None
        and fake.files[by_url.video.file_id].url == "https://cdn.example.com/v/result.mp4"
    )


async def test_send_photo_reads_the_image(bot: Bot, fake: FakeTelegram) -> None:
    message = await bot.send_photo(USER, BufferedInputFile(png(64, 48), "p.png"))
    assert message.photo is not None
    assert (message.photo[-1].width, message.photo[-1].height) == (64, 48)
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(USER, BufferedInputFile(b"not an image", "p.jpg"))


async def test_get_file_and_download_a_user_file(bot: Bot, fake: FakeTelegram) -> None:
    data = png(10, 20)
    photo_id = fake.add_user_file(data, mime_type="image/png")
    document_id = fake.add_user_file(b"%PDF-1.7 ...", mime_type="application/pdf", file_name="a.pdf")

    file = await bot.get_file(photo_id)
    assert file.file_path is not None and file.file_size == len(data)
    downloaded = await bot.download(photo_id)
    assert downloaded is not None and downloaded.read() == data
    target = io.BytesIO()
    await bot.download(document_id, destination=target)
    assert target.getvalue() == b"%PDF-1.7 ..."
    assert fake.downloads == [file.file_path, fake.files[document_id].file_path]

    fake.download_limit_bytes = 5
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file(photo_id)
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


# ---------------------------------------------------------------------------- scripted trouble


async def test_injected_429_then_success(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", error_code=429, retry_after=3)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(USER, "hi")
    assert caught.value.retry_after == 3
    assert "retry after 3" in caught.value.message
    await bot.send_message(USER, "hi")
    assert [c.error_code for c in fake.calls_of("sendMessage")] == [429, None]


async def test_injected_failure_for_one_chat_only(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", error_code=500, description="Internal Server Error", chat_id=7, times=2)
    await bot.send_message(USER, "others are fine")
    for _ in range(2):
        with pytest.raises(TelegramServerError, match="Internal Server Error"):
            await bot.send_message(7, "x")
    await bot.send_message(7, "recovered")


async def test_blocked_user(bot: Bot, fake: FakeTelegram) -> None:
    message = await bot.send_message(USER, "before")
    fake.block(USER)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER, "after")
    with pytest.raises(TelegramForbiddenError):
        await bot.send_chat_action(USER, "typing")
    with pytest.raises(TelegramForbiddenError):
        await bot.edit_message_text("edit", chat_id=USER, message_id=message.message_id)
    await bot.send_message(USER + 1, "someone else")
    fake.unblock(USER)
    await bot.send_message(USER, "unblocked")
    assert [c.error_code for c in fake.requests].count(403) == 3


# ---------------------------------------------------------------------------- the user side and updates


async def test_press_queues_a_callback_query(bot: Bot, fake: FakeTelegram) -> None:
    await fake.send_text(USER, "/start", language_code="ru", first_name="Иван")
    menu = await bot.send_message(USER, "menu", reply_markup=keyboard("buy:1", "buy:2"))
    with pytest.raises(LookupError, match="no button"):
        await fake.press(USER, menu.message_id, "buy:3")

    query_id = await fake.press(USER, menu.message_id, "buy:2")
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [1, 2]
    assert updates[0].message is not None and updates[0].message.text == "/start"
    query = updates[1].callback_query
    assert query is not None and query.id == query_id and query.data == "buy:2"
    assert query.from_user.first_name == "Иван" and query.from_user.language_code == "ru"
    assert query.message is not None and query.message.message_id == menu.message_id

    assert not fake.answered(query_id)
    await bot.answer_callback_query(query_id, text="Done")
    assert fake.answered(query_id)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query_id)


async def test_callback_answer_text_limit(bot: Bot, fake: FakeTelegram) -> None:
    menu = await bot.send_message(USER, "menu", reply_markup=keyboard("a"))
    query_id = await fake.press(USER, menu.message_id, "a")
    with pytest.raises(TelegramBadRequest):
        await bot.answer_callback_query(query_id, text="t" * 201)
    await bot.answer_callback_query(query_id, text="t" * 200)


async def test_get_updates_confirms_by_offset_and_long_polls(bot: Bot, fake: FakeTelegram) -> None:
    await fake.send_text(USER, "one")
    await fake.send_text(USER, "two")
    first = await bot.get_updates()
    assert len(first) == 2
    rest = await bot.get_updates(offset=first[0].update_id + 1)
    assert [u.message.text for u in rest if u.message] == ["two"]
    assert len(fake.updates) == 1, "update 1 was confirmed and dropped"

    poll = asyncio.create_task(bot.get_updates(offset=first[-1].update_id + 1, timeout=30))
    await fake.send_text(USER, "three")
    updates = await asyncio.wait_for(poll, timeout=10)
    assert [u.message.text for u in updates if u.message] == ["three"]


async def test_allowed_updates_filter_new_updates(bot: Bot, fake: FakeTelegram) -> None:
    menu = await bot.send_message(USER, "menu", reply_markup=keyboard("a"))
    await bot.get_updates(allowed_updates=["message"])
    await fake.press(USER, menu.message_id, "a")
    assert await bot.get_updates() == []
    assert "callback_query" in fake.filtered_updates[0]


async def test_a_second_poller_terminates_the_first(bot: Bot, fake: FakeTelegram) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=30))
    await fake.wait_for(lambda f: f.polls_waiting == 1)
    second = asyncio.create_task(bot.get_updates(timeout=30))
    with pytest.raises(TelegramConflictError):
        await asyncio.wait_for(first, timeout=10)
    await fake.send_text(USER, "hi")
    assert len(await asyncio.wait_for(second, timeout=10)) == 1
    assert fake.polls_waiting == 0


async def test_wait_for_wakes_on_a_call_from_another_task(bot: Bot, fake: FakeTelegram) -> None:
    async def reply_later() -> Message:
        await fake.wait_for(lambda f: f.calls_of("getMe"))
        return await bot.send_message(USER, "from the task")

    task = asyncio.create_task(reply_later())
    await bot.get_me()
    calls = await fake.wait_for(lambda f: f.calls_of("sendMessage"))
    assert calls[0].params["text"] == "from the task"
    assert fake.messages_in(USER)[0]["text"] == "from the task", "state is visible with the call"
    await task


async def test_wait_for_times_out_with_the_calls_so_far(bot: Bot, fake: FakeTelegram) -> None:
    await bot.get_me()

    def never(_: Any) -> bool:
        return False

    with pytest.raises(TimeoutError, match=r"never still false after 0.05s; 1 calls answered(.|\n)*getMe"):
        await fake.wait_for(never, timeout=0.05)


async def test_a_dispatcher_polls_and_handles_a_press(bot: Bot, fake: FakeTelegram) -> None:
    """The loop the bot runs: polling, a handler answering the press and editing the menu."""
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Pick one", reply_markup=keyboard("buy:1"))

    @router.callback_query(F.data == "buy:1")
    async def buy(query: CallbackQuery) -> None:
        await query.answer("Bought")
        assert isinstance(query.message, Message)
        await query.message.edit_text("Thanks!")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False, polling_timeout=5))
    try:
        await fake.send_text(USER, "/start")
        menu = await asyncio.wait_for(fake.sent.get(), timeout=10)
        menu_id = menu.message_id
        query_id = await fake.press(USER, menu_id, "buy:1")
        await fake.wait_for(lambda f: f.answered(query_id) and f.calls_of("editMessageText"))
        assert fake.messages[(USER, menu_id)]["text"] == "Thanks!"
        assert "reply_markup" not in fake.messages[(USER, menu_id)]
        assert fake.callback_answers[query_id]["text"] == "Bought"
    finally:
        await dispatcher.stop_polling()
        await asyncio.wait_for(polling, timeout=10)
