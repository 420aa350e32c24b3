"""The generation wizard end to end: /generate → buttons and messages → a paid generation → the video."""

from __future__ import annotations

import pytest

from storage.records import Generation
from tests.bot.wizard_helpers import buttons, jpeg, order_demo, press, screen, wizard
from tests.poller.conftest import USER, Rig


async def generations_of(rig: Rig, user_id: int = USER) -> list[Generation]:
    return await rig.store.list_user_generations(user_id, limit=50)


async def delivered(rig: Rig, generation_id: str) -> None:
    await rig.settle(generation_id)
    await rig.telegram.wait_for(lambda t: [c for c in t.calls_of("sendVideo") if c.ok])
    assert (await rig.get(generation_id)).status == "delivered"


async def test_text_to_video_on_the_demo_model(rig: Rig, polling: None) -> None:
    await rig.fund(USER, 100)
    summary = await order_demo(rig)
    assert "Demo" in summary["text"] and "a cat surfing a wave" in summary["text"]
    assert "Price: 5 credits" in summary["text"]
    labels = [text for text, _ in buttons(summary)]
    assert any("Pay 5 credits" in label for label in labels) and any("5 Stars" in label for label in labels)
    await press(rig, "Pay 5 credits")
    await rig.telegram.wait_for(lambda t: "Ordered" in t.messages[(USER, summary["message_id"])]["text"])
    [generation] = await generations_of(rig)
    assert (generation.model, generation.mode, generation.prompt, generation.cost) == (
        "demo",
        "t2v",
        "a cat surfing a wave",
        5,
    )
    await delivered(rig, generation.id)
    assert await rig.balance() == 95


async def test_image_to_video_with_a_photo(rig: Rig, polling: None) -> None:
    await rig.fund(USER, 100)
    await rig.telegram.send_text(USER, "/generate")
    await screen(rig, "Choose a model")
    await press(rig, "Demo")
    await screen(rig, "✨")
    await press(rig, "Image → video")
    await screen(rig, "first frame")
    await rig.telegram.send_photo(USER, jpeg())
    await screen(rig, "Describe the video")
    await rig.telegram.send_text(USER, "the picture comes alive")
    summary = await screen(rig, "📋")
    assert "Images: 1" in summary["text"]
    await press(rig, "Pay 5 credits")
    await rig.telegram.wait_for(lambda t: "Ordered" in t.messages[(USER, summary["message_id"])]["text"])
    [generation] = await generations_of(rig)
    frame = generation.request["first_frame"]
    assert generation.mode == "i2v" and frame["mime_type"] == "image/jpeg"
    assert frame["source"].startswith(f"inputs/{USER}/") and await rig.media.exists(frame["source"])
    await delivered(rig, generation.id)


async def test_a_pdf_instead_of_an_image_gets_a_clear_message(rig: Rig, polling: None) -> None:
    await rig.telegram.send_text(USER, "/generate")
    await screen(rig, "Choose a model")
    await press(rig, "Demo")
    await screen(rig, "✨")
    await press(rig, "Image → video")
    await screen(rig, "first frame")
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
    await rig.telegram.send_document(USER, pdf, file_name="scan.pdf", mime_type="application/pdf")
    message = await screen(rig, "(PDF) is not supported")
    assert "first frame" in message["text"]  # still on the image step
    await rig.telegram.send_text(USER, "not an image either")
    await screen(rig, "Please send an image")
    assert await generations_of(rig) == []


async def test_an_oversized_image_is_refused_before_downloading(rig: Rig, polling: None) -> None:
    rig.settings.max_image_mb = 0.01
    await rig.telegram.send_text(USER, "/generate")
    await screen(rig, "Choose a model")
    await press(rig, "Demo")
    await screen(rig, "✨")
    await press(rig, "Image → video")
    await screen(rig, "first frame")
    await rig.telegram.send_document(
        USER, jpeg(2000, 2000) + b"\0" * 20_000, file_name="a.jpg", mime_type="image/jpeg"
    )
    await screen(rig, "The image is too large: at most 0.01 MB")
    assert rig.telegram.downloads == []


async def test_an_over_long_prompt_gets_a_clear_message(rig: Rig, polling: None) -> None:
    await rig.telegram.send_text(USER, "/generate")
    await screen(rig, "Choose a model")
    await press(rig, "Demo")
    await screen(rig, "✨")
    await press(rig, "Text → video")
    await screen(rig, "up to 2,000 characters")
    await rig.telegram.send_text(USER, "x" * 2001)
    await screen(rig, "The description is too long: 2,001 characters, at most 2,000.")
    await rig.telegram.send_text(USER, "short and sweet")
    await screen(rig, "📋")


async def test_settings_back_and_change(rig: Rig, polling: None) -> None:
    """The clip model has two durations: 4 s preselected, 8 s chosen; back and change keep the draft."""
    await rig.fund(USER, 100)
    await rig.telegram.send_text(USER, "/generate")
    await screen(rig, "Choose a model")
    await press(rig, "Test Clip")
    await screen(rig, "✨")
    await press(rig, "Text → video")
    settings = await screen(rig, "⚙️")
    assert [text for text, _ in buttons(settings)][:2] == ["✅ 4 s", "8 s"]
    await press(rig, "8 s")
    await rig.telegram.wait_for(lambda t: "✅ 8 s" in [text for text, _ in buttons(wizard(t) or {})])
    await press(rig, "Back")
    await screen(rig, "✨")
    await press(rig, "Text → video")
    await screen(rig, "⚙️")
    await press(rig, "Continue")
    await screen(rig, "Describe the video")
    await rig.telegram.send_text(USER, "waves at dusk")
    summary = await screen(rig, "📋")
    assert "8 s" in summary["text"]
    await press(rig, "Change a setting")
    await screen(rig, "What do you want to change?")
    await press(rig, "Description")
    await screen(rig, "Current description: waves at dusk")
    await rig.telegram.send_text(USER, "waves at dawn")
    summary = await screen(rig, "waves at dawn")
    assert "📋" in summary["text"] and "8 s" in summary["text"]
    await press(rig, "Pay 10 credits")
    await rig.telegram.wait_for(lambda t: "Ordered" in t.messages[(USER, summary["message_id"])]["text"])
    [generation] = await generations_of(rig)
    assert generation.request["duration"] == 8 and generation.prompt == "waves at dawn"
    await rig.settle(generation.id)


async def test_forged_and_stale_buttons_get_a_polite_answer(rig: Rig, polling: None) -> None:
    await rig.telegram.send_text(USER, "/generate")
    first = await screen(rig, "Choose a model")
    await rig.telegram.send_text(USER, "/generate")  # a second wizard: the first message is now stale
    await rig.telegram.wait_for(lambda t: (wizard(t) or {}).get("message_id") != first["message_id"])
    query = await press(rig, "Demo", message=first)
    assert "out of date" in rig.telegram.callback_answers[query]["text"]

    await press(rig, "Test Clip")
    await screen(rig, "✨")
    await press(rig, "Text → video")
    current = await screen(rig, "⚙️")
    tag = buttons(current)[0][1].split(":")[1]
    forged: list[tuple[str, str]] = [
        ("duration 6 s", f"wz:{tag}:duration:6"),
        ("a model", f"wz:{tag}:model:clip"),  # a model button on the settings step
        ("no model", f"wz:{tag}:mode:ref2v"),
        ("pay", f"wg:{tag}:pay"),  # pay before the summary
        ("nowhere", f"wg:{tag}:moon"),
    ]
    key = (USER, current["message_id"])
    for label, data in forged:
        rig.telegram.messages[key] = {
            **rig.telegram.messages[key],
            "reply_markup": {"inline_keyboard": [[{"text": label, "callback_data": data}]]},
        }
        query = await press(rig, label, message=rig.telegram.messages[key])
        text = rig.telegram.callback_answers[query].get("text", "")
        assert "not available" in text or "out of date" in text, (data, text)
    assert rig.telegram.messages[key]["text"] == current["text"]  # nothing changed

    rig.telegram.messages[key] = current
    await press(rig, "Cancel")
    await rig.telegram.wait_for(lambda t: "Cancelled" in t.messages[key]["text"])
    rig.telegram.messages[key] = current  # the old buttons, pressed after the wizard was cancelled
    query = await press(rig, "8 s", message=current)
    assert "out of date" in rig.telegram.callback_answers[query]["text"]
    assert await generations_of(rig) == []


@pytest.mark.parametrize(
    ("language", "choose", "mode", "prompt", "price"),
    [
        ("ru", "Выберите модель", "Текст → видео", "Опишите видео", "Стоимость: 5 кредитов"),
        ("zh", "请选择模型", "文字 → 视频", "请描述您想要的视频", "价格：5 积分"),
    ],
)
async def test_the_wizard_speaks_the_users_language(
    rig: Rig, polling: None, language: str, choose: str, mode: str, prompt: str, price: str
) -> None:
    await rig.telegram.send_text(USER, "/generate", language_code=language)
    await screen(rig, choose)
    await press(rig, "Demo")
    await screen(rig, "✨")
    await press(rig, mode)
    await screen(rig, prompt)
    await rig.telegram.send_text(USER, "кот на волне", language_code=language)
    summary = await screen(rig, price)
    assert "Price" not in summary["text"] and "Pay" not in str(buttons(summary))


async def test_double_tapping_pay_creates_one_generation(rig: Rig, polling: None) -> None:
    await rig.fund(USER, 100)
    summary = await order_demo(rig)
    [pay] = [data for text, data in buttons(summary) if "Pay 5 credits" in text]
    taps = [await rig.telegram.press(USER, summary["message_id"], pay) for _ in range(2)]
    await rig.telegram.wait_for(lambda t: all(t.answered(q) for q in taps))
    [generation] = await generations_of(rig)
    assert await rig.balance() == 95
    await rig.settle(generation.id)


async def test_not_enough_credits_says_so_and_offers_stars(rig: Rig, polling: None) -> None:
    await rig.fund(USER, 3)
    await order_demo(rig)
    await press(rig, "Pay 5 credits")
    message = await screen(rig, "Not enough credits")
    assert "this costs 5 credits and you have 3 credits" in message["text"]
    assert "Telegram Stars" in message["text"]
    assert any("Pay 5 Stars" in text for text, _ in buttons(message))
    assert await generations_of(rig) == []


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        ("max_active_generations", "You already have 1 video in progress"),
        ("max_submits_per_minute", "at most 1 video a minute"),
    ],
)
async def test_per_user_limits_give_a_clear_message(
    rig: Rig, polling: None, limit: str, expected: str
) -> None:
    setattr(rig.settings, limit, 1)
    await rig.fund(USER, 100)
    earlier = await rig.order(model="demo")
    summary = await order_demo(rig)
    await press(rig, "Pay 5 credits")
    await screen(rig, expected)
    assert [g.id for g in await generations_of(rig)] == [earlier.id]
    assert rig.telegram.messages[(USER, summary["message_id"])]["text"].startswith("⚠️")
    await rig.settle(earlier.id)


async def test_generate_from_the_start_menu(rig: Rig, polling: None) -> None:
    await rig.telegram.send_text(USER, "/start")
    menu = await rig.telegram.wait_for(
        lambda t: [m for m in t.messages_in(USER) if any(data == "m:generate" for _, data in buttons(m))]
    )
    query = await rig.telegram.press(USER, menu[-1]["message_id"], "m:generate")
    await rig.telegram.wait_for(lambda t: t.answered(query))
    await screen(rig, "Choose a model")
