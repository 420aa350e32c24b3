"""Telegram Stars screens: /buy and its pack invoices, pre-checkout answers, payment messages, /paysupport.

Every rule and money step (payloads, prices, crediting once per charge, ordering a paid generation) is in
services/payments.py; these handlers translate its outcomes into messages.
"""

from __future__ import annotations

from functools import partial

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, LabeledPrice, Message, PreCheckoutQuery
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import BuyPack, alert
from bot.handlers.filters import FROM_USER, Magic
from bot.handlers.wizard import close_wizard, confirm_orders, refusal
from bot.i18n import Texts
from bot.notices import replace_or_send
from bot.wizard.orders import StarsOrders
from bot.wizard.views import View
from services.notices import Notices
from services.payments import (
    CURRENCY,
    GenerationNotOrdered,
    GenerationOrdered,
    OrderGone,
    PackCredited,
    Payments,
    StarsPayment,
    UnknownPayload,
    VariantsOrdered,
    pack_payload,
)
from services.settings import Settings, StarsPack
from storage.records import NoticeKind, notice_key


async def buy(message: Message, t: Texts, settings: Settings) -> None:
    builder = InlineKeyboardBuilder()
    for pack in settings.stars_packs:
        label = t("buy-pack-button", credits=pack.credits, stars=pack.stars)
        builder.button(text=label, callback_data=BuyPack(credits=pack.credits, stars=pack.stars))
    builder.adjust(1)
    await message.answer(t("buy-choose"), reply_markup=builder.as_markup())


async def send_pack_invoice(
    query: CallbackQuery,
    callback_data: BuyPack,
    bot: Bot,
    callback_answer: CallbackAnswer,
    t: Texts,
    settings: Settings,
) -> None:
    pack = StarsPack(callback_data.credits, callback_data.stars)
    if pack not in settings.stars_packs:
        alert(callback_answer, t("buy-pack-gone"))
        return
    title = t("invoice-pack-title", credits=pack.credits)
    await bot.send_invoice(
        chat_id=query.from_user.id,
        title=title,
        description=t("invoice-pack-description", credits=pack.credits, stars=pack.stars),
        payload=pack_payload(pack),
        currency=CURRENCY,
        prices=[LabeledPrice(label=title, amount=pack.stars)],
    )


async def pre_checkout(query: PreCheckoutQuery, state: FSMContext, t: Texts, payments: Payments) -> None:
    refused = await payments.check_checkout(
        query.invoice_payload,
        user_id=query.from_user.id,
        currency=query.currency,
        total=query.total_amount,
        orders=StarsOrders(state, query.from_user.id),
    )
    if refused is None:
        await query.answer(ok=True)
    else:
        await query.answer(ok=False, error_message=t(f"payment-{refused.reason}"))


async def successful_payment(
    message: Message,
    state: FSMContext,
    bot: Bot,
    view: View,
    payments: Payments,
    notices: Notices,
) -> None:
    paid = message.successful_payment
    assert paid is not None and message.from_user is not None
    outcome = await payments.receive(
        StarsPayment(
            user_id=message.from_user.id,
            charge_id=paid.telegram_payment_charge_id,
            stars=paid.total_amount,
            payload=paid.invoice_payload,
            provider_charge_id=paid.provider_payment_charge_id or None,
            currency=paid.currency,
        ),
        chat_id=message.chat.id,
        orders=StarsOrders(state, message.from_user.id),
    )
    if isinstance(outcome, GenerationOrdered | GenerationNotOrdered | VariantsOrdered):
        await close_wizard(state, bot, chat_id=message.chat.id, draft_id=outcome.draft_id)
    if isinstance(outcome, UnknownPayload):  # nothing was credited: no notice is owed
        await message.answer(view.t("payment-unknown", charge=outcome.charge_id))
        return
    # what the credit (and an order) left owed to the user: told once, also after a kill (bot/notices.py)
    purchase = notice_key(NoticeKind.PURCHASE, paid.telegram_payment_charge_id)
    if isinstance(outcome, GenerationOrdered):  # one message tells the credit and the order
        text = view.t("payment-generation-started", credits=outcome.credits, balance=outcome.balance)
        tell = partial(replace_or_send, bot, message.chat.id, None, text)
        await notices.send_now(notice_key(NoticeKind.ORDER, outcome.generation.id), tell)
        await notices.settle(purchase)
        return
    if isinstance(outcome, VariantsOrdered) and outcome.generations:  # one message for the credit and all
        tell = partial(replace_or_send, bot, message.chat.id, None, variants_text(view, outcome))
        await confirm_orders(notices, outcome.generations, tell)
        await notices.settle(purchase)
        return
    if isinstance(outcome, PackCredited):
        text = view.t("payment-credited", credits=outcome.credits, balance=outcome.balance)
    elif isinstance(outcome, OrderGone):
        text = view.t("payment-generation-kept", credits=outcome.credits, balance=outcome.balance)
    elif isinstance(outcome, VariantsOrdered):  # none placed
        assert outcome.reason is not None
        reason = refusal(view, outcome.reason, outcome.count)
        text = view.t(
            "payment-variants-not-started", credits=outcome.credits, balance=outcome.balance, reason=reason
        )
    elif isinstance(outcome, GenerationNotOrdered):
        reason = refusal(view, outcome.reason)
        text = view.t(
            "payment-generation-not-started", credits=outcome.credits, balance=outcome.balance, reason=reason
        )
    else:  # Redelivered: the first delivery told the user (or left it to the notice job)
        return
    await notices.send_now(purchase, partial(replace_or_send, bot, message.chat.id, None, text))


def variants_text(view: View, outcome: VariantsOrdered) -> str:
    """The credit and the variants it ordered: all of them, or how many and why not the rest."""
    if outcome.reason is None:
        return view.t(
            "payment-variants-started", credits=outcome.credits, count=outcome.count, balance=outcome.balance
        )
    placed = len(outcome.generations)
    return view.t(
        "payment-variants-partial",
        credits=outcome.credits,
        placed=placed,
        count=outcome.count,
        balance=outcome.balance,
        reason=refusal(view, outcome.reason, outcome.count - placed),
    )


async def paysupport(message: Message, t: Texts) -> None:
    await message.answer(t("paysupport"))


def build_router() -> Router:
    router = Router(name="payments")
    router.message.register(buy, Command("buy"), FROM_USER)
    router.message.register(paysupport, Command("paysupport"), FROM_USER)
    router.callback_query.register(send_pack_invoice, BuyPack.filter(), FROM_USER)
    router.pre_checkout_query.register(pre_checkout)
    router.message.register(successful_payment, Magic(F.successful_payment), FROM_USER)
    return router
