"""The fake Bot API's Stars record (getStarTransactions), its confirmations and its answers lost after the
fact, through a real aiogram `Bot`, as reference/telegram.md §1.1 and the Bot API describe them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramServerError
from aiogram.types import TransactionPartnerUser

from tests.conftest import TOKEN
from tests.fakes.telegram import FakeTelegram, LoopbackSession

USER = 42


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    telegram = FakeTelegram(TOKEN)
    await telegram.start()
    yield telegram
    await telegram.close()


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    bot = Bot(TOKEN, session=LoopbackSession(api=TelegramAPIServer.from_base(fake.url)))
    yield bot
    await bot.session.close()


async def test_star_transactions_list_charges_and_refunds_in_order_and_page(
    bot: Bot, fake: FakeTelegram
) -> None:
    first = fake.charge(USER, total_amount=100, payload="pack:100:100")
    second = fake.charge(USER, total_amount=5, payload="gen:5:5:abc")
    assert await bot.refund_star_payment(USER, first)
    listed = (await bot.get_star_transactions()).transactions
    assert [(t.id, t.amount) for t in listed] == [(first, 100), (second, 5), (first, 100)]
    incoming, _, refund = listed
    assert isinstance(incoming.source, TransactionPartnerUser) and incoming.receiver is None
    assert incoming.source.transaction_type == "invoice_payment"
    assert (incoming.source.user.id, incoming.source.invoice_payload) == (USER, "pack:100:100")
    assert isinstance(refund.receiver, TransactionPartnerUser) and refund.source is None, "a refund goes out"
    page = (await bot.get_star_transactions(offset=1, limit=1)).transactions
    assert [t.id for t in page] == [second]
    assert (await bot.get_star_transactions(offset=3)).transactions == []
    with pytest.raises(TelegramBadRequest):
        await bot.get_star_transactions(limit=101)


async def test_a_charge_alone_sends_no_update(fake: FakeTelegram) -> None:
    fake.charge(USER, total_amount=7, payload="pack:7:7")
    assert fake.updates == []


async def test_a_call_can_be_carried_out_and_its_answer_lost(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", error_code=502, description="Bad Gateway", applied=True)
    with pytest.raises(TelegramServerError):
        await bot.send_message(USER, "delivered although the answer says otherwise")
    assert [m["text"] for m in fake.messages_in(USER)] == ["delivered although the answer says otherwise"]
    fake.fail_next("sendMessage", error_code=502, description="Bad Gateway")
    with pytest.raises(TelegramServerError):
        await bot.send_message(USER, "not delivered")
    assert len(fake.messages_in(USER)) == 1


async def test_confirmations_are_recorded_and_hooked_before_the_answer(bot: Bot, fake: FakeTelegram) -> None:
    seen: list[int] = []
    fake.on_confirm = lambda update: seen.append(update["update_id"])
    await fake.send_text(USER, "one")
    await fake.send_text(USER, "two")
    [first, second] = await bot.get_updates()
    assert seen == [] and fake.confirmed == []
    await bot.get_updates(offset=first.update_id + 1, timeout=0)
    assert seen == fake.confirmed == [first.update_id]
    await bot.get_updates(offset=second.update_id + 1, timeout=0)
    assert fake.confirmed == [first.update_id, second.update_id]
