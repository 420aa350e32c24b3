"""The commands around the main features, end to end over the fake Bot API: /start's menu, /help,
/language, /cancel, unknown commands and buttons, the command lists, and webhook mode."""

from __future__ import annotations

import aiohttp
from aiogram import Dispatcher
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from pydantic import AnyHttpUrl, SecretStr

from bot.app import attach_webhook
from bot.commands import ADMIN_COMMANDS, USER_COMMANDS, register_commands
from bot.dispatcher import build_dispatcher
from bot.i18n import Translator
from bot.web import build_web_app, start_web_app
from tests.fakes.telegram import FakeTelegram
from tests.poller.conftest import USER, Rig


def texts(telegram: FakeTelegram, chat_id: int = USER) -> list[str]:
    return [
        c.params["text"]
        for c in telegram.calls_of("sendMessage")
        if c.ok and c.params["chat_id"] == str(chat_id)
    ]


async def reply_to(rig: Rig, text: str, *, language_code: str = "en", user_id: int = USER) -> str:
    """Send `text` as the user and return the bot's next message to them."""
    before = len(texts(rig.telegram, user_id))
    await rig.telegram.send_text(user_id, text, language_code=language_code)
    sent = await rig.telegram.wait_for(lambda t: texts(t, user_id)[before:])
    return sent[0]


async def test_start_shows_the_balance_and_a_menu_that_works(rig: Rig, polling: None) -> None:
    await rig.fund(credits=42)
    welcome = await reply_to(rig, "/start")
    assert "Your balance: 42 credits" in welcome
    [menu] = [c for c in rig.telegram.calls_of("sendMessage") if "reply_markup" in c.params]
    buttons = {
        b["text"]: b["callback_data"] for row in menu.params["reply_markup"]["inline_keyboard"] for b in row
    }
    assert set(buttons) == {"🎬 New video", "📚 My videos", "⭐ Buy credits", "💰 Balance"}
    message_id = menu.result["message_id"]

    query = await rig.telegram.press(USER, message_id, buttons["💰 Balance"])
    await rig.telegram.wait_for(lambda t: t.answered(query))
    assert rig.telegram.callback_answers[query]["text"] == "Your balance: 42 credits."

    query = await rig.telegram.press(USER, message_id, buttons["⭐ Buy credits"])
    await rig.telegram.wait_for(lambda t: t.answered(query))
    packs = await rig.telegram.wait_for(lambda t: [text for text in texts(t) if "credit pack" in text])
    assert packs == ["Choose a credit pack. You pay with Telegram Stars ⭐."]


async def test_help_lists_the_commands_in_the_users_language(rig: Rig, polling: None) -> None:
    english = await reply_to(rig, "/help")
    assert "/generate" in english and "/library" in english and "credits come back" in english
    russian = await reply_to(rig, "/help", language_code="ru", user_id=USER + 1)
    assert "/generate" in russian and "кредиты автоматически возвращаются" in russian


async def test_language_choice_is_stored_and_used_from_then_on(rig: Rig, polling: None) -> None:
    await rig.fund(credits=7)
    prompt = await reply_to(rig, "/language")
    assert prompt == "Choose your language:"
    [menu] = [c for c in rig.telegram.calls_of("sendMessage") if "reply_markup" in c.params]
    labels = [b["text"] for row in menu.params["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["🇬🇧 English", "🇷🇺 Русский", "🇨🇳 中文"]
    query = await rig.telegram.press(USER, menu.result["message_id"], "lg:zh")
    key = (USER, menu.result["message_id"])
    await rig.telegram.wait_for(
        lambda t: t.answered(query) and t.messages[key]["text"] == "语言已切换为中文。"
    )
    assert (await rig.store.get_user(USER)).language == "zh"  # type: ignore[union-attr]
    # the user's Telegram app still says English: the stored choice wins
    balance = (await reply_to(rig, "/balance", language_code="en")).splitlines()
    assert balance[0] == "您的余额：7 积分。"
    assert balance[2] == "最近变动：", balance


async def test_a_forged_language_or_unknown_button_gets_a_polite_answer(rig: Rig, polling: None) -> None:
    await reply_to(rig, "/language")
    [menu] = [c for c in rig.telegram.calls_of("sendMessage") if "reply_markup" in c.params]
    message_id = menu.result["message_id"]
    rig.telegram.messages[(USER, message_id)]["reply_markup"] = {
        "inline_keyboard": [
            [{"text": "x", "callback_data": "lg:xx"}, {"text": "y", "callback_data": "zz:1:2"}]
        ]
    }
    for data in ("lg:xx", "zz:1:2"):
        query = await rig.telegram.press(USER, message_id, data)
        await rig.telegram.wait_for(lambda t, q=query: t.answered(q))
        assert "no longer active" in rig.telegram.callback_answers[query]["text"]
    assert (await rig.store.get_user(USER)).language == "en"  # type: ignore[union-attr]


async def test_unknown_commands_and_stray_messages_get_a_hint(rig: Rig, polling: None) -> None:
    assert (
        await reply_to(rig, "/nonsense")
        == "Sorry, I don't know that command. Send /help to see what I can do."
    )
    assert (await reply_to(rig, "hello there")).startswith("Send /generate to make a video")
    assert await reply_to(rig, "/nonsense", language_code="zh", user_id=USER + 1) == (
        "抱歉，我不认识这个命令。发送 /help 查看我能做什么。"
    )


async def test_cancel_leaves_any_step_and_says_so(rig: Rig, polling: Dispatcher) -> None:
    assert await reply_to(rig, "/cancel") == "There is nothing to cancel."
    key = StorageKey(bot_id=rig.bot.id, chat_id=USER, user_id=USER)
    state = FSMContext(storage=polling.storage, key=key)
    await state.set_state("Wizard:prompt")  # the user is half-way through some step
    assert await reply_to(rig, "/cancel") == "Stopped. Nothing was charged."
    assert await state.get_state() is None


async def test_command_lists_in_each_language_and_a_longer_one_for_admins(rig: Rig) -> None:
    await register_commands(rig.bot, Translator(), admin_ids=[77])
    default = rig.telegram.my_commands()
    assert [c["command"] for c in default] == list(USER_COMMANDS)
    assert default[1]["description"] == "Make a video"
    assert rig.telegram.my_commands(language_code="ru")[1]["description"] == "Создать видео"
    assert rig.telegram.my_commands(language_code="zh")[1]["description"] == "生成视频"
    admin = rig.telegram.my_commands(scope={"type": "chat", "chat_id": 77}, language_code="ru")
    assert [c["command"] for c in admin] == [*USER_COMMANDS, *ADMIN_COMMANDS]
    assert admin[-4]["description"] == "Админ: статистика"
    assert admin[-1]["description"] == "Админ: снять запрет"


async def test_webhook_mode_accepts_only_updates_with_the_secret(rig: Rig) -> None:
    secret = "test-webhook-secret_0123456789"
    settings = rig.settings.model_copy(
        update={
            "webhook_url": AnyHttpUrl("https://bot.example/telegram/hook"),
            "webhook_secret": SecretStr(secret),
        }
    )
    dispatcher = build_dispatcher(rig.services)  # the webhook settings matter to attach_webhook only
    app = build_web_app(poller=rig.poller, providers=rig.providers, settings=settings, media=rig.media)
    await attach_webhook(app, dispatcher, rig.bot, settings)
    assert rig.telegram.webhook is not None
    assert rig.telegram.webhook["url"] == "https://bot.example/telegram/hook"
    assert rig.telegram.webhook["secret_token"] == secret
    assert {"message", "callback_query", "pre_checkout_query"} <= set(rig.telegram.webhook["allowed_updates"])

    runner = await start_web_app(app, host="127.0.0.1", port=0)
    port = runner.addresses[0][1]
    await rig.telegram.send_text(USER, "/help")  # queued for getUpdates, which nobody calls now
    update = rig.telegram.updates[-1]
    url = f"http://127.0.0.1:{port}/telegram/hook"
    try:
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                async with http.post(url, json=update, headers=headers) as refused:
                    assert refused.status == 401
            good = {"X-Telegram-Bot-Api-Secret-Token": secret}
            for _ in range(2):  # Telegram re-sends an update whose answer it did not get in time
                async with http.post(url, json=update, headers=good) as accepted:
                    assert accepted.status == 200
            await rig.telegram.send_text(USER, "/balance")
            async with http.post(url, json=rig.telegram.updates[-1], headers=good) as accepted:
                assert accepted.status == 200
            # updates are handled in the background, so the replies may come in either order
            await rig.telegram.wait_for(
                lambda t: (
                    any("/generate" in s for s in texts(t))
                    and any(s.startswith("Your balance") for s in texts(t))
                )
            )
            # a last update as a barrier: once its reply is in, anything else would have been sent too
            await rig.telegram.send_text(USER, "/cancel")
            async with http.post(url, json=rig.telegram.updates[-1], headers=good) as accepted:
                assert accepted.status == 200
            await rig.telegram.wait_for(lambda t: "There is nothing to cancel." in texts(t))
        sent = texts(rig.telegram)
        kinds = sorted(
            "help" if "/generate" in s else "balance" if s.startswith("Your balance") else s for s in sent
        )
        # one reply per authenticated update: the refused posts and the repeated update were not handled
        assert kinds == ["There is nothing to cancel.", "balance", "help"], sent
    finally:
        await runner.cleanup()
