"""Telegram Stars: credit packs by invoice, pre-checkout checks, crediting once per charge, /paysupport.

A pack's invoice payload is `pack:<credits>:<stars>`. Pre-checkout accepts it only for a pack that is
still on sale at that price (answered at once, well inside Telegram's 10 seconds). Crediting happens on
`successful_payment` and is keyed on `telegram_payment_charge_id`, so a payment Telegram delivers twice
counts once.
"""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, LabeledPrice, Message, PreCheckoutQuery
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import BuyPack
from bot.i18n import Translator
from services.settings import Settings, StarsPack
from services.wallet import Wallet
from storage.records import AlreadyApplied, Applied

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
    query: PreCheckoutQuery, lang: str, translator: Translator, settings: Settings
) -> None:
    """Quick checks only: the pack must still be sold at the price the user is about to pay."""
    pack = parse_pack(query.invoice_payload)
    valid = (
        pack is not None
        and pack in settings.stars_packs
        and query.currency == CURRENCY
        and query.total_amount == pack.stars
    )
    if valid:
        await query.answer(ok=True)
    else:
        log.warning("pre-checkout refused for user %s: payload %r", query.from_user.id, query.invoice_payload)
        await query.answer(ok=False, error_message=translator(lang, "payment-invalid"))


async def successful_payment(message: Message, lang: str, translator: Translator, wallet: Wallet) -> None:
    paid = message.successful_payment
    assert paid is not None and message.from_user is not None
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
