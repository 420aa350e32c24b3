"""Callback-data factories (typed, prefixed, and well under Telegram's 64-byte limit), and `alert`."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.utils.callback_answer import CallbackAnswer


class CancelGeneration(CallbackData, prefix="gc"):
    """The cancel button under a progress message; `id` is a generation id (32 hex characters)."""

    id: str


class BuyPack(CallbackData, prefix="bp"):
    """A credit pack button under /buy; checked against STARS_PACKS when pressed (data can be forged)."""

    credits: int
    stars: int


class MenuAction(CallbackData, prefix="m"):
    """A main-menu button under /start: `action` is one of generate, library, buy, balance."""

    action: str


class ChooseLanguage(CallbackData, prefix="lg"):
    """A /language button; `code` is checked against the languages we have (data can be forged)."""

    code: str


def alert(callback_answer: CallbackAnswer, text: str) -> None:
    """Answer a press with an alert: a refusal the user has to read (CallbackAnswerMiddleware sends it)."""
    callback_answer.text = text
    callback_answer.show_alert = True
