"""ThrottleUsers (bot/middlewares.py): a burst, then a steady rate per user; payments always pass."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiogram.types import Update, User

from bot.middlewares import ThrottleUsers

USER = {"id": 7, "is_bot": False, "first_name": "Ann"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def message(update_id: int, **content: Any) -> Update:
    body = {"message_id": update_id, "date": 0, "chat": {"id": 7, "type": "private"}, "from": USER}
    return Update.model_validate({"update_id": update_id, "message": {**body, **content}})


async def feed(throttle: ThrottleUsers, update: Update, user: dict[str, Any] = USER) -> bool:
    """Whether the update reached the handler."""
    reached: list[Update] = []

    async def handler(event: Any, data: dict[str, Any]) -> None:
        reached.append(event)

    await throttle(handler, update, {"event_from_user": User.model_validate(user)})
    return bool(reached)


async def test_a_burst_then_one_a_second_and_payments_always(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    throttle = ThrottleUsers(burst=3, rate=1.0, clock=clock)
    caplog.set_level(logging.INFO, logger="bot.middlewares")
    assert [await feed(throttle, message(n, text="hi")) for n in range(5)] == [True, True, True, False, False]
    paid = {
        "currency": "XTR",
        "total_amount": 5,
        "invoice_payload": "pack:5:5",
        "telegram_payment_charge_id": "c1",
        "provider_payment_charge_id": "",
    }
    assert await feed(throttle, message(6, successful_payment=paid)), "a payment is never dropped"
    checkout = Update.model_validate(
        {
            "update_id": 7,
            "pre_checkout_query": {
                "id": "q",
                "from": USER,
                "currency": "XTR",
                "total_amount": 5,
                "invoice_payload": "pack:5:5",
            },
        }
    )
    assert await feed(throttle, checkout)
    other = {"id": 8, "is_bot": False, "first_name": "Bo"}
    assert await feed(throttle, message(8, text="hi"), other), "others have their own bucket"
    clock.now += 1
    assert [await feed(throttle, message(n, text="hi")) for n in (9, 10)] == [True, False]
    clock.now += 60  # calm again: the bucket is full, and a new flood is logged anew
    assert [await feed(throttle, message(n, text="hi")) for n in range(11, 16)] == [True] * 3 + [False] * 2
    assert [r.getMessage() for r in caplog.records] == [
        "user 7 sends faster than 1 updates a second: dropping the excess"
    ] * 2
