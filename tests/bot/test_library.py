"""/library end to end over the fake Bot API: paging, resending, deleting, and forged buttons."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import AnyHttpUrl

from bot.handlers.library import ACTIONS, LibraryPage, cursor_of, parse_cursor
from storage.records import Generation, GenerationStatus
from tests.fakes.telegram import ApiCall, FakeTelegram
from tests.poller.conftest import USER, Rig

OTHER = 5002


@pytest.fixture
def rig_settings() -> dict[str, Any]:
    return {"max_active_generations": 20, "max_submits_per_minute": 100}


def library_messages(telegram: FakeTelegram) -> list[ApiCall]:
    return [c for c in telegram.calls_of("sendMessage") if c.ok and c.params["text"].startswith("📚")]


def buttons(message: dict[str, Any]) -> list[str]:
    """The callback buttons (the Mini App's button opens a page instead: `gallery`)."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row if "callback_data" in b]


def gallery(message: dict[str, Any]) -> list[str]:
    """The URLs of the Mini App buttons."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b["web_app"]["url"] for row in rows for b in row if "web_app" in b]


async def open_library(rig: Rig) -> int:
    """Send /library; return the id of the library message."""
    before = len(library_messages(rig.telegram))
    await rig.telegram.send_text(USER, "/library")
    sent = await rig.telegram.wait_for(lambda t: library_messages(t)[before:])
    return int(sent[0].result["message_id"])


async def press(rig: Rig, message_id: int, data: str) -> dict[str, Any]:
    """Press a button and return the callback answer."""
    query = await rig.telegram.press(USER, message_id, data)
    await rig.telegram.wait_for(lambda t: t.answered(query))
    return rig.telegram.callback_answers[query]


async def forge(rig: Rig, message_id: int, data: str) -> dict[str, Any]:
    """Press a button the bot never offered (a client can send any callback data)."""
    rig.telegram.messages[(USER, message_id)]["reply_markup"] = {
        "inline_keyboard": [[{"text": "x", "callback_data": data}]]
    }
    return await press(rig, message_id, data)


async def delivered(rig: Rig, prompt: str = "a cat surfing a wave") -> Generation:
    generation = await rig.order(prompt, model="demo")
    await rig.settle(generation.id)
    result = await rig.get(generation.id)
    assert result.status is GenerationStatus.DELIVERED and result.file_id is not None
    return result


def entry_numbers(text: str) -> list[str]:
    """The prompts shown on a library page, in order."""
    return [line.removeprefix("video ") for line in text.splitlines() if line.startswith("video ")]


async def test_an_opened_video_is_resent_by_its_file_id(rig: Rig, polling: None) -> None:
    await rig.fund()
    generation = await delivered(rig)
    uploads = len(rig.telegram.calls_of("sendVideo"))
    library = await open_library(rig)
    text = rig.telegram.messages[(USER, library)]["text"]
    assert "Demo" in text and "a cat surfing a wave" in text and "ready" in text
    assert generation.created_at.strftime("%Y-%m-%d %H:%M") in text
    await press(rig, library, f"la:open:{generation.id}")
    [resent] = await rig.telegram.wait_for(lambda t: t.calls_of("sendVideo")[uploads:])
    assert resent.params["video"] == generation.file_id and resent.files == {}
    assert "a cat surfing a wave" in resent.params["caption"]
    assert f"la:del:{generation.id}" in buttons(resent.result)
    assert f"la:regen:{generation.id}" in buttons(resent.result)


async def test_without_a_file_id_the_stored_video_is_uploaded_and_its_file_id_kept(
    rig: Rig, polling: None
) -> None:
    await rig.fund()
    generation = await delivered(rig)
    only = frozenset({GenerationStatus.DELIVERED})
    await rig.store.update_generation(
        generation.id, only_if=only, fields={"file_id": None}, now=rig.clock.now
    )
    uploads = len(rig.telegram.calls_of("sendVideo"))
    library = await open_library(rig)
    await press(rig, library, f"la:open:{generation.id}")
    [resent] = await rig.telegram.wait_for(lambda t: t.calls_of("sendVideo")[uploads:])
    assert resent.files and resent.ok
    new_file_id = resent.result["video"]["file_id"]
    await press(rig, library, f"la:open:{generation.id}")  # the upload's file_id is kept for next time
    [again] = await rig.telegram.wait_for(lambda t: t.calls_of("sendVideo")[uploads + 1 :])
    assert again.params["video"] == new_file_id and again.files == {}


async def test_an_expired_video_without_file_id_is_reported_unavailable(rig: Rig, polling: None) -> None:
    await rig.fund()
    generation = await delivered(rig)
    assert generation.result_path is not None
    await rig.store.update_generation(
        generation.id,
        only_if=frozenset({GenerationStatus.DELIVERED}),
        fields={"file_id": None, "media_expired_at": rig.clock.now},
        now=rig.clock.now,
    )
    await rig.media.delete(generation.result_path)
    uploads = len(rig.telegram.calls_of("sendVideo"))
    library = await open_library(rig)
    await press(rig, library, f"la:open:{generation.id}")
    card = await rig.telegram.wait_for(
        lambda t: [c for c in t.calls_of("sendMessage") if "no longer available" in c.params["text"]]
    )
    assert "a cat surfing a wave" in card[0].params["text"]
    assert len(rig.telegram.calls_of("sendVideo")) == uploads


async def test_pages_of_five_newest_first_with_newer_and_older_buttons(rig: Rig, polling: None) -> None:
    await rig.fund(credits=100)
    for number in range(12):
        await rig.order(f"video {number:02d}", model="demo")
        rig.clock.advance(seconds=1)
    library = await open_library(rig)

    def page() -> tuple[list[str], list[str]]:
        message = rig.telegram.messages[(USER, library)]
        nav = [d for d in buttons(message) if d.startswith("lb:")]
        return entry_numbers(message["text"]), nav

    entries, nav = page()
    assert entries == ["11", "10", "09", "08", "07"]
    assert len(nav) == 1 and nav[0].startswith("lb:o:")
    await press(rig, library, nav[0])
    entries, nav = page()
    assert entries == ["06", "05", "04", "03", "02"]
    assert [d[:5] for d in nav] == ["lb:n:", "lb:o:"]
    await press(rig, library, nav[1])
    entries, nav = page()
    assert entries == ["01", "00"]
    assert [d[:5] for d in nav] == ["lb:n:"]
    await press(rig, library, nav[0])
    assert page()[0] == ["06", "05", "04", "03", "02"]
    await press(rig, library, page()[1][0])
    entries, nav = page()
    assert entries == ["11", "10", "09", "08", "07"] and [d[:5] for d in nav] == ["lb:o:"]
    assert len(library_messages(rig.telegram)) == 1  # paging edits the message in place
    for data in buttons(rig.telegram.messages[(USER, library)]):
        assert len(data.encode()) <= 64


async def test_the_main_menu_button_opens_the_library(rig: Rig, polling: None) -> None:
    await rig.fund()
    await rig.order("from the menu", model="demo")
    library = await open_library(rig)
    answer = await forge(rig, library, "m:library")
    assert answer.get("text") is None
    pages = await rig.telegram.wait_for(lambda t: library_messages(t)[1:])
    assert "from the menu" in pages[0].params["text"]


async def test_delete_asks_first_then_hides_it_and_deletes_the_stored_video(rig: Rig, polling: None) -> None:
    await rig.fund()
    kept = await delivered(rig, "keep me")
    rig.clock.advance(seconds=1)
    gone = await delivered(rig, "delete me")
    assert gone.result_path is not None and await rig.media.exists(gone.result_path)
    uploads = len(rig.telegram.calls_of("sendVideo"))
    library = await open_library(rig)
    await press(rig, library, f"la:open:{gone.id}")
    [item] = await rig.telegram.wait_for(lambda t: t.calls_of("sendVideo")[uploads:])
    item_id = int(item.result["message_id"])
    await press(rig, item_id, f"la:del:{gone.id}")
    assert buttons(rig.telegram.messages[(USER, item_id)]) == [f"la:delok:{gone.id}", f"la:keep:{gone.id}"]
    await press(rig, item_id, f"la:keep:{gone.id}")
    assert f"la:del:{gone.id}" in buttons(rig.telegram.messages[(USER, item_id)])
    assert await rig.media.exists(gone.result_path)
    await press(rig, item_id, f"la:del:{gone.id}")
    answer = await press(rig, item_id, f"la:delok:{gone.id}")
    assert answer["text"] == "Deleted from your library."
    assert not await rig.media.exists(gone.result_path)
    assert (await rig.get(gone.id)).hidden_at is not None
    assert buttons(rig.telegram.messages[(USER, item_id)]) == []
    assert await rig.balance() == 90  # deleting refunds nothing
    library = await open_library(rig)
    text = rig.telegram.messages[(USER, library)]["text"]
    assert "keep me" in text and "delete me" not in text
    answer = await forge(rig, library, f"la:open:{gone.id}")
    assert "not yours" in answer["text"]
    assert kept.result_path is not None and await rig.media.exists(kept.result_path)


async def test_a_generation_in_flight_cannot_be_deleted(rig: Rig, polling: None) -> None:
    await rig.fund()
    queued = await rig.order("still queued", model="demo")
    library = await open_library(rig)
    answer = await forge(rig, library, f"la:delok:{queued.id}")
    assert "still being made" in answer["text"]
    assert (await rig.get(queued.id)).hidden_at is None


async def test_another_users_generation_gets_not_found_and_nothing_is_sent(rig: Rig, polling: None) -> None:
    await rig.fund()
    await rig.fund(OTHER)
    await rig.order("mine", model="demo")
    theirs = await rig.order("theirs", model="clip", user_id=OTHER)
    library = await open_library(rig)
    calls = len(rig.telegram.requests)
    for action in ("open", "regen", "remix", "del", "delok"):
        answer = await forge(rig, library, f"la:{action}:{theirs.id}")
        assert answer["text"] == "This video does not exist or is not yours."
        assert answer["show_alert"] == "true"
    sent = [c.method for c in rig.telegram.requests[calls:]]
    assert set(sent) <= {"answerCallbackQuery", "getUpdates"}
    assert (await rig.get(theirs.id)).hidden_at is None


@pytest.mark.parametrize(
    "data",
    [
        "la:hack:" + "0" * 32,
        "la:open",
        "lb:x:1:" + "0" * 32,
        "lb:o:-5:" + "0" * 32,
        "lb:o:99999999999999999999:" + "0" * 32,
        "lb:o:1:../../etc",
    ],
)
async def test_forged_library_data_gets_a_polite_answer(rig: Rig, polling: None, data: str) -> None:
    await rig.fund()
    await rig.order("mine", model="demo")
    library = await open_library(rig)
    before = rig.telegram.messages[(USER, library)]["text"]
    answer = await forge(rig, library, data)
    assert "no longer valid" in answer["text"]
    assert rig.telegram.messages[(USER, library)]["text"] == before


async def test_an_empty_library_says_so_and_offers_the_gallery(rig: Rig, polling: None) -> None:
    await rig.telegram.send_text(USER, "/library")
    reply = await rig.telegram.wait_for(lambda t: library_messages(t))
    assert "empty" in reply[0].params["text"] and buttons(reply[0].params) == []
    assert gallery(reply[0].params) == ["https://bot.example/webapp/"], "PUBLIC_BASE_URL is https"


@pytest.mark.parametrize("public_base_url", [None, "http://bot.example"], ids=["unset", "plain-http"])
async def test_without_an_https_address_there_is_no_gallery_button(
    rig: Rig, polling: None, public_base_url: str | None
) -> None:
    rig.settings.public_base_url = None if public_base_url is None else AnyHttpUrl(public_base_url)
    await rig.fund()
    await rig.order("a cat", model="demo")
    await open_library(rig)
    [page] = library_messages(rig.telegram)
    assert gallery(page.params) == [] and buttons(page.params), "Telegram opens Mini Apps over HTTPS only"


async def test_a_cursor_survives_the_round_trip_through_callback_data(rig: Rig) -> None:
    await rig.fund()
    rig.clock.now = datetime(2026, 11, 22, 12, 0, 0, 123456, tzinfo=UTC)
    generation = await rig.order("x", model="demo")
    t, gid = cursor_of(generation)
    assert parse_cursor(LibraryPage.unpack(LibraryPage(d="o", t=t, id=gid).pack())) == (
        generation.created_at,
        generation.id,
    )


def wizard_screens(telegram: FakeTelegram) -> list[ApiCall]:
    return [c for c in telegram.calls_of("sendMessage") if c.ok and "📋" in c.params["text"]]


async def open_item(rig: Rig, generation: Generation) -> dict[str, Any]:
    """Open a generation from /library and return the message the bot sent for it."""
    sent = len(rig.telegram.requests)
    library = await open_library(rig)
    await press(rig, library, f"la:open:{generation.id}")
    media = await rig.telegram.wait_for(
        lambda t: [c for c in t.requests[sent:] if c.method == "sendVideo" and c.ok]
    )
    return media[0].result


async def test_regenerate_opens_the_wizard_summary_with_the_same_settings(rig: Rig, polling: None) -> None:
    await rig.fund()
    generation = await delivered(rig, "a lighthouse in a storm")
    item = await open_item(rig, generation)
    assert not [d for d in buttons(item) if d.startswith(("la:extend", "la:remix"))]  # demo can do neither
    await press(rig, item["message_id"], f"la:regen:{generation.id}")
    [summary] = await rig.telegram.wait_for(wizard_screens)
    text = summary.params["text"]
    assert "Demo" in text and "a lighthouse in a storm" in text and "Price: 5 credits" in text
    assert await rig.balance() == 95  # nothing is charged before paying


async def test_remix_is_offered_where_the_model_supports_it(rig: Rig, polling: None) -> None:
    await rig.fund()
    generation = await rig.order("a fox in the snow", model="clip")
    await rig.settle(generation.id)
    generation = await rig.get(generation.id)
    item = await open_item(rig, generation)
    actions = [d.split(":")[1] for d in buttons(item)]
    assert actions == ["regen", "remix", "del"]  # the test clip model can remix but not extend
    before = len(rig.telegram.requests)
    await press(rig, item["message_id"], f"la:remix:{generation.id}")
    prompt = await rig.telegram.wait_for(
        lambda t: [c for c in t.requests[before:] if c.method == "sendMessage" and c.ok]
    )
    assert "Describe the video" in prompt[0].params["text"]
    await rig.telegram.send_text(USER, "make it autumn")
    [summary] = await rig.telegram.wait_for(wizard_screens)
    text = summary.params["text"]
    assert "Test Clip · 🔀 Remix" in text and "make it autumn" in text and "Price: 10 credits" in text
    answer = await forge(rig, item["message_id"], f"la:extend:{generation.id}")
    assert "cannot do that" in answer["text"]


async def test_every_action_on_another_users_generation_is_refused_in_the_pressers_language(
    rig: Rig, polling: None
) -> None:
    """OwnGeneration guards each action the library offers; the refusal uses the presser's language."""
    await rig.fund(language="ru")
    await rig.fund(OTHER)
    await rig.order("моё", model="demo")
    theirs = await rig.order("theirs", model="demo", user_id=OTHER)
    await rig.settle(theirs.id)
    library = await open_library(rig)
    calls = len(rig.telegram.requests)
    for action in ACTIONS:
        answer = await forge(rig, library, f"la:{action}:{theirs.id}")
        assert answer["text"] == "Такого видео нет, или оно не ваше.", action
        assert answer["show_alert"] == "true"
    sent = [c.method for c in rig.telegram.requests[calls:]]
    assert set(sent) <= {"answerCallbackQuery", "getUpdates"}
    assert (await rig.get(theirs.id)).hidden_at is None
