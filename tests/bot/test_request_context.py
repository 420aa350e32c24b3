"""What every handler is handed instead of building it: the current draft (CurrentDraft), and exactly one
answer per press (CallbackAnswerMiddleware), whatever the handler did or refused."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import CallbackQuery, Chat, Message, User

from bot.wizard.callbacks import WizardGo, WizardPick
from bot.wizard.draft import Draft
from bot.wizard.session import CurrentDraft, save
from tests.bot.wizard_helpers import order_demo, press, screen
from tests.poller.conftest import USER, Rig

SHOWN = 7


def fsm() -> FSMContext:
    return FSMContext(storage=MemoryStorage(), key=StorageKey(bot_id=1, chat_id=USER, user_id=USER))


def message(message_id: int = SHOWN) -> Message:
    return Message(message_id=message_id, date=datetime.now(UTC), chat=Chat(id=USER, type="private"))


def pressed(on: Message, data: WizardGo | WizardPick) -> CallbackQuery:
    sender = User(id=USER, is_bot=False, first_name="Ann")
    return CallbackQuery(id="1", from_user=sender, chat_instance="1", message=on, data=data.pack())


async def test_current_draft_hands_over_the_draft_only_for_its_own_message() -> None:
    state, current = fsm(), CurrentDraft()
    draft = Draft(id="ab" * 16, message_id=SHOWN, values={"model": "demo"})
    go = WizardGo(draft=draft.tag, to="next")
    assert await current(message(), state) is False  # no wizard in progress
    assert await current(pressed(message(), go), state, go) is False

    await save(state, draft, "settings")
    assert await current(message(), state) == {"draft": draft, "step": "settings"}
    on_screen = message()
    assert await current(pressed(on_screen, go), state, go) == {
        "draft": draft,
        "step": "settings",
        "screen": on_screen,
    }
    other_tag = WizardPick(draft="0" * 8, field="duration", value="6")
    assert await current(pressed(on_screen, other_tag), state, other_tag) is False  # forged or older draft
    assert await current(pressed(message(SHOWN - 1), go), state, go) is False  # an older wizard message


async def test_every_press_is_answered_exactly_once(rig: Rig, polling: None) -> None:
    """Handlers only say what the answer is; the middleware sends it once, for refusals and stale
    presses too (the fake Bot API refuses a second answer to a query)."""
    await rig.fund(USER, 100)
    first = await order_demo(rig)
    await press(rig, "Pay 5 credits")  # the order: answered without a text
    await rig.telegram.wait_for(lambda t: "Ordered" in t.messages[(USER, first["message_id"])]["text"])
    await rig.telegram.send_text(USER, "/generate")
    await screen(rig, "Choose a model")
    rig.telegram.messages[(USER, first["message_id"])] = first  # its old buttons, pressed again
    stale = await press(rig, "Change", message=first)
    await rig.telegram.send_text(USER, "/start")
    menu = await rig.telegram.wait_for(
        lambda t: [m for m in t.messages_in(USER) if "m:balance" in str(m.get("reply_markup"))]
    )
    balance = await rig.telegram.press(USER, menu[-1]["message_id"], "m:balance")
    await rig.telegram.wait_for(lambda t: t.answered(balance))

    answers = Counter(c.params["callback_query_id"] for c in rig.telegram.calls_of("answerCallbackQuery"))
    assert answers == Counter(rig.telegram.callback_queries.keys())  # each press once, nothing else
    assert all(c.ok for c in rig.telegram.calls_of("answerCallbackQuery"))
    assert "out of date" in rig.telegram.callback_answers[stale]["text"]
    assert rig.telegram.callback_answers[balance]["text"] == "Your balance: 95 credits."
