"""Generations waiting for their Stars payment: a snapshot of the draft per invoice.

Kept in the FSM storage under the user's private-chat key with their own destiny, so starting a new
wizard or /cancel leaves a sent invoice payable, and a pre-checkout query (which has no chat) finds it.
Only the newest few are kept; paying an older invoice is refused at pre-checkout, before any charge.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Any

from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey

DESTINY = "stars-orders"
#: Invoices a user may have open at once.
KEEP = 5


@dataclass(frozen=True, slots=True)
class StarsOrder:
    id: str
    credits: int
    stars: int
    #: The VideoRequest to create once paid, as JSON.
    request: dict[str, Any]
    #: The wizard draft it came from, to close that wizard when the payment arrives.
    draft_id: str

    @property
    def payload(self) -> str:
        """The invoice payload (Telegram allows 128 bytes): `gen:<credits>:<stars>:<order id>`."""
        return f"gen:{self.credits}:{self.stars}:{self.id}"


def parse_payload(payload: str) -> tuple[int, int, str] | None:
    """(credits, stars, order id) of a generation invoice's payload, or None."""
    parts = payload.split(":")
    if len(parts) != 4:
        return None
    kind, credits, stars, order_id = parts
    if kind != "gen" or not credits.isdigit() or not stars.isdigit() or not order_id.isalnum():
        return None
    return int(credits), int(stars), order_id


class StarsOrders:
    def __init__(self, state: FSMContext, user_id: int) -> None:
        key = StorageKey(bot_id=state.key.bot_id, chat_id=user_id, user_id=user_id, destiny=DESTINY)
        self._orders = FSMContext(storage=state.storage, key=key)

    async def add(self, *, credits: int, stars: int, request: dict[str, Any], draft_id: str) -> StarsOrder:
        order = StarsOrder(uuid.uuid4().hex, credits, stars, request, draft_id)
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
