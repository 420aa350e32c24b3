"""FSM states: one per wizard step, so message handlers (images, prompt) run only on their step."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup

from bot.wizard.draft import Step


class Wizard(StatesGroup):
    model = State()
    mode = State()
    settings = State()
    first = State()
    last = State()
    refs = State()
    prompt = State()
    summary = State()
    change = State()
    negative = State()
    seed = State()


def state_of(step: Step) -> State:
    state: State = getattr(Wizard, step)
    return state


def step_of(state: str | None) -> Step | None:
    """The step a stored FSM state names, or None outside the wizard."""
    if state not in Wizard.__all_states_names__:
        return None
    return state.partition(":")[2]  # type: ignore[return-value]
