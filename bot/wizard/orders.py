"""Generations waiting for their Stars payment (services/payments.py StarsOrder), one per invoice.

Kept in the FSM storage under the user's private-chat key with their own destiny, so starting a new
wizard or /cancel leaves a sent invoice payable, and a pre-checkout query (which has no chat) finds it.
Only the newest few are kept; paying an older invoice is refused at pre-checkout, before any charge.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey

from services.payments import StarsOrder

DESTINY = "stars-orders"
#: Invoices a user may have open at once.
KEEP = 5


class StarsOrders:
    """The payments service's OrderBook for one user."""

    def __init__(self, state: FSMContext, user_id: int) -> None:
        key = StorageKey(bot_id=state.key.bot_id, chat_id=user_id, user_id=user_id, destiny=DESTINY)
        self._orders = FSMContext(storage=state.storage, key=key)

    async def add(
        self, *, credits: int, stars: int, request: dict[str, Any], draft_id: str, count: int
    ) -> StarsOrder:
        """Keep an order for `count` videos of `request` (`credits` and `stars` are their total)."""
        order = StarsOrder(uuid.uuid4().hex, credits, stars, request, draft_id, count)
        kept = (await self._orders.get_data()).get("orders", [])
        await self._orders.set_data({"orders": [*kept[-(KEEP - 1) :], asdict(order)]})
        return order

    async def get(self, order_id: str) -> StarsOrder | None:
        for raw in (await self._orders.get_data()).get("orders", []):
            if raw["id"] == order_id:
                return StarsOrder(**raw)
        return None

    async def pop(self, order_id: str) -> StarsOrder | None:
        order = await self.get(order_id)
        if order is not None:
            kept = (await self._orders.get_data()).get("orders", [])
            await self._orders.set_data({"orders": [o for o in kept if o["id"] != order_id]})
        return order
