"""The command list in Telegram's menu, in each language, and the admins' longer list.

Telegram shows the list whose `language_code` matches the user's app language, else the default one
(we register English as the default). Admins get their own list by chat scope, in every language.
"""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

from bot.i18n import LANGUAGES, Translator

USER_COMMANDS = ("start", "generate", "library", "balance", "buy", "language", "help", "paysupport", "cancel")
ADMIN_COMMANDS = ("topup", "deduct", "user", "refund", "stats", "audit", "block", "unblock")


def command_list(translator: Translator, lang: str, *, admin: bool = False) -> list[BotCommand]:
    names = USER_COMMANDS + (ADMIN_COMMANDS if admin else ())
    return [BotCommand(command=name, description=translator(lang, f"cmd-{name}")) for name in names]


async def register_commands(bot: Bot, translator: Translator, admin_ids: list[int]) -> None:
    default = BotCommandScopeDefault()
    await bot.set_my_commands(command_list(translator, translator.default), scope=default)
    for lang in LANGUAGES:
        await bot.set_my_commands(command_list(translator, lang), scope=default, language_code=lang)
    for admin_id in admin_ids:
        scope = BotCommandScopeChat(chat_id=admin_id)
        await bot.set_my_commands(command_list(translator, translator.default, admin=True), scope=scope)
        for lang in LANGUAGES:
            await bot.set_my_commands(
                command_list(translator, lang, admin=True), scope=scope, language_code=lang
            )
