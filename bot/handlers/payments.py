"""Telegram Stars: credit packs and single generations by invoice, pre-checkout checks, crediting once
per charge, /paysupport.

A pack's invoice payload is `pack:<credits>:<stars>`; a generation's (sent by the wizard) is
`gen:<credits>:<stars>:<order id>`. Pre-checkout accepts a pack only while it is on sale at that price,
and a generation only while its order is kept and the price in Stars is still right (answered at once
from memory, well inside Telegram's 10 seconds). Crediting happens on `successful_payment` and is keyed
on `telegram_payment_charge_id`, so a payment Telegram delivers twice counts once. A paid generation is
ordered only after its credits are recorded, with the charge id as request key; if it cannot be ordered,
the credits stay on the balance.
"""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, LabeledPrice, Message, PreCheckoutQuery
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import BuyPack
from bot.handlers.wizard import close_wizard, refusal
from bot.i18n import Translator
from bot.wizard.orders import StarsOrders, parse_payload
from bot.wizard.views import View
from services.generations import GenerationService
from services.pricing import stars_for
from services.settings import Settings, StarsPack
from services.video_request import VideoRequest
from services.wallet import Wallet
from storage.records import AlreadyApplied, Applied, GenerationCreated

log = logging.getLogger(__name__)

CURRENCY = "XTR"


def pack_payload(pack: StarsPack) -> str:
    return f"pack:{pack.credits}:{pack.stars}"


def parse_pack(payload: str) -> StarsPack | None:
    kind, _, rest = payload.partition(":")
    credits, _, stars = rest.partition(":")
    if kind != "pack" or not credits.isdigit() or not stars.isdigit():
        return None
    return StarsPack(int(credits), int(stars))


async def buy(message: Message, lang: str, translator: Translator, settings: Settings) -> None:
    builder = InlineKeyboardBuilder()
    for pack in settings.stars_packs:
        label = translator(lang, "buy-pack-button", credits=pack.credits, stars=pack.stars)
        builder.button(text=label, callback_data=BuyPack(credits=pack.credits, stars=pack.stars))
    builder.adjust(1)
    await message.answer(translator(lang, "buy-choose"), reply_markup=builder.as_markup())


async def send_pack_invoice(
    query: CallbackQuery,
    callback_data: BuyPack,
    bot: Bot,
    lang: str,
    translator: Translator,
    settings: Settings,
) -> None:
    pack = StarsPack(callback_data.credits, callback_data.stars)
    if pack not in settings.stars_packs:
        await query.answer(translator(lang, "buy-pack-gone"), show_alert=True)
        return
    await query.answer()
    title = translator(lang, "invoice-pack-title", credits=pack.credits)
    await bot.send_invoice(
        chat_id=query.from_user.id,
        title=title,
        description=translator(lang, "invoice-pack-description", credits=pack.credits, stars=pack.stars),
        payload=pack_payload(pack),
        currency=CURRENCY,
        prices=[LabeledPrice(label=title, amount=pack.stars)],
    )


async def pre_checkout(
    query: PreCheckoutQuery, state: FSMContext, lang: str, translator: Translator, settings: Settings
) -> None:
    """Quick checks only: the pack still sold, or the generation order still kept, at the price the user
    is about to pay. A refusal costs the user nothing."""
    pack = parse_pack(query.invoice_payload)
    order = parse_payload(query.invoice_payload)
    if pack is not None:
        valid, reason = pack in settings.stars_packs and query.total_amount == pack.stars, "payment-invalid"
    elif order is not None:
        credits, stars, order_id = order
        kept = await StarsOrders(state, query.from_user.id).get(order_id)
        valid = (
            kept is not None
            and (kept.credits, kept.stars) == (credits, stars)
            and stars == stars_for(credits, settings.stars_per_credit)
            and query.total_amount == stars
        )
        reason = "payment-order-expired"
    else:
        valid, reason = False, "payment-invalid"
    if valid and query.currency == CURRENCY:
        await query.answer(ok=True)
    else:
        log.warning("pre-checkout refused for user %s: payload %r", query.from_user.id, query.invoice_payload)
        await query.answer(ok=False, error_message=translator(lang, reason))


async def successful_payment(
    message: Message,
    state: FSMContext,
    bot: Bot,
    lang: str,
    translator: Translator,
    settings: Settings,
    wallet: Wallet,
    generations: GenerationService,
) -> None:
    paid = message.successful_payment
    assert paid is not None and message.from_user is not None
    if parse_payload(paid.invoice_payload) is not None:
        view = View(lang, translator, generations, settings)
        await paid_generation(message, state, bot, view, wallet)
        return
    pack = parse_pack(paid.invoice_payload)
    if pack is None:
        log.error("payment %s with unknown payload %r", paid.telegram_payment_charge_id, paid.invoice_payload)
        await message.answer(translator(lang, "payment-unknown", charge=paid.telegram_payment_charge_id))
        return
    outcome = await wallet.purchase(
        user_id=message.from_user.id,
        charge_id=paid.telegram_payment_charge_id,
        stars=paid.total_amount,
        credits=pack.credits,
        payload=paid.invoice_payload,
        provider_charge_id=paid.provider_payment_charge_id or None,
    )
    if isinstance(outcome, AlreadyApplied):
        log.info("payment %s delivered again; already credited", paid.telegram_payment_charge_id)
        return
    assert isinstance(outcome, Applied)
    await message.answer(translator(lang, "payment-credited", credits=pack.credits, balance=outcome.balance))


async def paid_generation(message: Message, state: FSMContext, bot: Bot, view: View, wallet: Wallet) -> None:
    """Record the payment first (once per charge id), then order the generation it paid for."""
    paid = message.successful_payment
    parsed = parse_payload(paid.invoice_payload) if paid is not None else None
    assert paid is not None and parsed is not None and message.from_user is not None
    credits, _, order_id = parsed
    user_id, charge_id = message.from_user.id, paid.telegram_payment_charge_id
    outcome = await wallet.purchase(
        user_id=user_id,
        charge_id=charge_id,
        stars=paid.total_amount,
        credits=credits,
        payload=paid.invoice_payload,
        provider_charge_id=paid.provider_payment_charge_id or None,
    )
    assert isinstance(outcome, Applied | AlreadyApplied)
    orders = StarsOrders(state, user_id)
    order = await orders.get(order_id)
    if isinstance(outcome, AlreadyApplied) and order is None:
        log.info("payment %s delivered again; already credited and ordered", charge_id)
        return
    if order is None:
        log.warning("payment %s for order %s that is no longer kept; credits stay", charge_id, order_id)
        await message.answer(view.t("payment-generation-kept", credits=credits, balance=outcome.balance))
        return
    # A redelivered payment whose first handling stopped before this point orders now; the request
    # key makes a concurrent or repeated attempt return the same generation without a second debit.
    result = await view.generations.create(
        user_id=user_id,
        chat_id=message.chat.id,
        request=VideoRequest.model_validate(order.request),
        request_key=f"stars:{charge_id}",
    )
    await orders.pop(order_id)
    if isinstance(result, GenerationCreated) and not result.new:
        return
    await close_wizard(state, bot, chat_id=message.chat.id, draft_id=order.draft_id)
    if isinstance(result, GenerationCreated):
        log.info("generation %s paid in Stars: payment %s, user %s", result.generation.id, charge_id, user_id)
        text = view.t("payment-generation-started", credits=credits, balance=result.balance)
    else:
        log.info("payment %s: order %s not placed (%s); credits stay", charge_id, order_id, result)
        reason = refusal(view, result)
        text = view.t(
            "payment-generation-not-started", credits=credits, balance=outcome.balance, reason=reason
        )
    await message.answer(text)


async def paysupport(message: Message, lang: str, translator: Translator) -> None:
    await message.answer(translator(lang, "paysupport"))


def build_router() -> Router:
    router = Router(name="payments")
    router.message.register(buy, Command("buy"), F.from_user)
    router.message.register(paysupport, Command("paysupport"), F.from_user)
    router.callback_query.register(send_pack_invoice, BuyPack.filter(), F.from_user)
    router.pre_checkout_query.register(pre_checkout)
    router.message.register(successful_payment, F.successful_payment, F.from_user)
    return router
