"""/start with the main menu, /balance and /help: greet the user (registered by the UserContext
middleware), show the balance, and point at everything else."""

from __future__ import annotations

from functools import lru_cache

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import MenuAction
from bot.formatting import when
from bot.handlers import payments
from bot.handlers.filters import COMMAND, FROM_USER, CallbackPrefixes
from bot.i18n import Texts
from services.settings import Settings
from services.wallet import Wallet
from storage.records import LedgerEntry, User

#: Ledger entries /balance lists, newest first.
HISTORY_SHOWN = 10


@lru_cache(maxsize=16)
def main_menu(t: Texts) -> InlineKeyboardMarkup:
    """One markup per language, built once: every /start shows it (it is only read when sent)."""
    builder = InlineKeyboardBuilder()
    for action in ("generate", "library", "buy", "balance"):
        builder.button(text=t(f"menu-{action}"), callback_data=MenuAction(action=action))
    builder.adjust(1, 2, 1)
    return builder.as_markup()


async def start(message: Message, user: User, t: Texts) -> None:
    assert message.from_user is not None
    text = t("start-welcome", name=message.from_user.first_name, balance=user.balance)
    if user.banned:  # blocked by an admin (/block): /start still answers, and says so
        text += "\n\n" + t("moderation-banned")
    await message.answer(text, reply_markup=main_menu(t))


async def balance(message: Message, user: User, wallet: Wallet, t: Texts) -> None:
    """The balance and the latest ledger entries, so a user sees where credits came from and went."""
    entries = await wallet.history(user.id, limit=HISTORY_SHOWN)
    lines = [t("balance", balance=user.balance), ""]
    lines.append(t("balance-history" if entries else "balance-history-empty"))
    lines += [history_line(entry, t) for entry in entries]
    # the id a user gives support, and an operator puts in ADMIN_IDS (a string: no digit grouping)
    lines += ["", t("balance-user-id", id=str(user.id))]
    await message.answer("\n".join(lines))


def history_line(entry: LedgerEntry, t: Texts) -> str:
    return t(
        "balance-entry",
        when=when(entry.created_at),
        sign="+" if entry.delta > 0 else "−",
        amount=abs(entry.delta),
        what=t(f"balance-kind-{entry.kind.value}"),
    )


async def help_command(message: Message, t: Texts) -> None:
    await message.answer(t("help"))


async def menu_balance(
    query: CallbackQuery, callback_answer: CallbackAnswer, wallet: Wallet, t: Texts
) -> None:
    """Read the balance afresh: the `user` injected for this update may predate a payment."""
    callback_answer.text = t("balance", balance=await wallet.balance(query.from_user.id))


async def menu_buy(
    query: CallbackQuery, callback_answer: CallbackAnswer, t: Texts, settings: Settings
) -> None:
    if not isinstance(query.message, Message):  # too old for Telegram to hand it to us
        callback_answer.text = t("stale-button")
        return
    await payments.buy(query.message, t, settings)


def build_router() -> Router:
    """A fresh router per Dispatcher (an aiogram router can be attached to only one parent)."""
    router = Router(name="start")
    router.message.filter(COMMAND)
    router.callback_query.filter(CallbackPrefixes(MenuAction))
    router.message.register(start, CommandStart(), FROM_USER)
    router.message.register(balance, Command("balance"), FROM_USER)
    router.message.register(help_command, Command("help"), FROM_USER)
    router.callback_query.register(menu_balance, MenuAction.filter(F.action == "balance"))
    router.callback_query.register(menu_buy, MenuAction.filter(F.action == "buy"))
    return router
