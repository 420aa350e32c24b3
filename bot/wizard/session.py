"""The draft in progress, kept in FSM storage: loading and saving it, and the `CurrentDraft` filter that
hands it to the wizard's handlers.

Callback data can be forged and old wizard messages stay pressable, so a press belongs to the draft only
when it carries the draft's tag and comes from the draft's own message; anything else does not match the
filter and falls through to the wizard's "out of date" answer.
"""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.wizard.callbacks import WizardGo, WizardPick
from bot.wizard.draft import Draft, Step
from bot.wizard.states import state_of, step_of


async def load(state: FSMContext) -> tuple[Draft, Step] | None:
    """The draft in progress and its step, or None outside the wizard."""
    step = step_of(await state.get_state())
    raw = await state.get_value("wizard")
    if step is None or raw is None:
        return None
    return Draft.model_validate(raw), step


async def save(state: FSMContext, draft: Draft, step: Step) -> None:
    if step == "summary":
        draft = draft.model_copy(update={"editing": False})
    await state.set_state(state_of(step))
    await state.update_data(wizard=draft.model_dump(mode="json"))


class CurrentDraft(Filter):
    """Hands the handler `draft` and `step`; for a press also `screen`, the wizard message pressed.

    A message matches whenever a draft is in progress; a press only if it is on that draft's message.
    """

    async def __call__(
        self,
        event: Message | CallbackQuery,
        state: FSMContext,
        callback_data: WizardGo | WizardPick | None = None,
    ) -> bool | dict[str, Any]:
        loaded = await load(state)
        if loaded is None:
            return False
        draft, step = loaded
        if isinstance(event, Message):
            return {"draft": draft, "step": step}
        screen = event.message
        if (
            callback_data is None
            or callback_data.draft != draft.tag
            or not isinstance(screen, Message)
            or screen.message_id != draft.message_id
        ):
            return False
        return {"draft": draft, "step": step, "screen": screen}
