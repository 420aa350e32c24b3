"""Driving the wizard like a user over the fake Bot API: find its message, press its buttons by label."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from PIL import Image

from tests.fakes.telegram import FakeTelegram
from tests.poller.conftest import USER, Rig


def jpeg(width: int = 640, height: int = 360, color: tuple[int, int, int] = (30, 120, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG")
    return out.getvalue()


def is_wizard(message: dict[str, Any]) -> bool:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return any(str(b.get("callback_data", "")).startswith(("wz:", "wg:")) for row in rows for b in row)


def wizard(telegram: FakeTelegram, chat: int = USER) -> dict[str, Any] | None:
    """The newest bot message in the chat that shows wizard buttons."""
    found = [m for m in telegram.messages_in(chat) if m.get("from", {}).get("is_bot") and is_wizard(m)]
    return found[-1] if found else None


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [(b["text"], b["callback_data"]) for row in rows for b in row if "callback_data" in b]


async def screen(rig: Rig, shows: str, chat: int = USER) -> dict[str, Any]:
    """Wait until the wizard message's text contains `shows`; return that message."""

    def ready(telegram: FakeTelegram) -> dict[str, Any] | None:
        message = wizard(telegram, chat)
        return message if message is not None and shows in message.get("text", "") else None

    return await rig.telegram.wait_for(ready)


async def press(rig: Rig, label: str, *, chat: int = USER, message: dict[str, Any] | None = None) -> str:
    """Press the wizard button whose label contains `label`; return the answered query id."""
    message = message or wizard(rig.telegram, chat)
    assert message is not None, "no wizard message"
    matches = [data for text, data in buttons(message) if label in text]
    assert len(matches) == 1, f"{label!r} matches {matches} among {buttons(message)}"
    query = await rig.telegram.press(chat, message["message_id"], matches[0], chat_id=chat)
    await rig.telegram.wait_for(lambda t: t.answered(query))
    return query


def replies(telegram: FakeTelegram, chat: int = USER) -> list[str]:
    return [
        c.params["text"]
        for c in telegram.calls_of("sendMessage")
        if c.ok and int(c.params["chat_id"]) == chat
    ]


async def reply(rig: Rig, matches: Callable[[str], bool], chat: int = USER) -> str:
    texts = await rig.telegram.wait_for(lambda t: [x for x in replies(t, chat) if matches(x)])
    return texts[-1]


async def order_demo(
    rig: Rig, prompt: str = "a cat surfing a wave", *, language: str = "en"
) -> dict[str, Any]:
    """/generate → Demo → text → prompt; return the summary message."""
    await rig.telegram.send_text(USER, "/generate", language_code=language)
    await screen(rig, "🎬")
    await press(rig, "Demo")
    await screen(rig, "✨")
    await press(rig, "📝")
    await screen(rig, "✍️")
    await rig.telegram.send_text(USER, prompt, language_code=language)
    return await screen(rig, "📋")
