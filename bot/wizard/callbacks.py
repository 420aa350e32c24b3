"""The wizard's callback data. Every button carries the first characters of its draft id, so a press on
an old wizard message (another draft, or none in progress) is recognised and answered politely."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class WizardPick(CallbackData, prefix="wz"):
    """A choice on a step: `field` is model, mode, duration, aspect, resolution, audio, option, seed or
    variants (the summary's count of videos); `value` the choice.

    Aspect ratios travel as "16x9" (":" separates callback fields). Checked against the catalog when pressed.
    """

    draft: str
    field: str
    value: str


class WizardGo(CallbackData, prefix="wg"):
    """Navigation: next, back, change, cancel, pay, stars, or a step name from the "change" menu."""

    draft: str
    to: str
