"""Filters every router shares, all coroutines.

aiogram runs a filter or handler that is not a coroutine function through `asyncio.to_thread` (its
CallableObject): a bare magic filter such as `F.text` or `F.photo | F.document`, a lambda or a plain
function costs a trip to a worker thread and back on every update it is checked for. So magic filters
are registered wrapped in `Magic`, which resolves them in the event loop, and tests/bot/test_async_filters.py
fails on any filter or handler that is not awaitable.
"""

from __future__ import annotations

from typing import Any

from aiogram import F
from aiogram.filters import Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery
from aiogram.utils.magic_filter import MagicFilter


class Magic(Filter):
    """A magic filter checked in the event loop, with the same result as aiogram's own use of it."""

    __slots__ = ("magic",)

    def __init__(self, magic: MagicFilter) -> None:
        self.magic = magic

    # `obj`, not `event`: a filter's parameters are filled from the update's data by name
    async def __call__(self, obj: object) -> Any:
        return self.magic.resolve(obj)

    def __str__(self) -> str:
        return self._signature_to_string(self.magic)


class CallbackPrefixes(Filter):
    """A router's root filter for presses: only data of its own CallbackData kinds reaches its handlers.

    Every other press skips the router's handler filters, each of which would unpack the data; one set
    lookup per router instead of one parse per handler on every press.
    """

    __slots__ = ("prefixes",)

    def __init__(self, *kinds: type[CallbackData]) -> None:
        self.prefixes = frozenset(kind.__prefix__ for kind in kinds)

    async def __call__(self, query: CallbackQuery) -> bool:
        data = query.data
        return data is not None and data.partition(":")[0] in self.prefixes


#: A message or press from a person (a channel post has no sender).
FROM_USER = Magic(F.from_user)
#: A message that is not a Stars payment's service message (booked by the payment handlers).
NOT_PAYMENT = Magic(~F.successful_payment & ~F.refunded_payment)
#: A router's root filter for messages when all its handlers are commands: other texts skip them.
COMMAND = Magic(F.text.startswith("/"))
