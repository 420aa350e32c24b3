"""The gallery's services taken from the composition root (bot/container.py), for bot/app.py and the tests.

Kept apart from the routes: bot/web.py imports those, and the container imports bot/web.py.
"""

from __future__ import annotations

from aiogram import Bot

from bot.container import Container
from bot.webapp.api import WebAppServices


def gallery_services(services: Container, bot: Bot) -> WebAppServices:
    """The gallery works on the chat's own services; `bot` sends what it sends to the chat."""
    return WebAppServices(
        settings=services.settings,
        translator=services.translator,
        library=services.library,
        generations=services.generations,
        wallet=services.wallet,
        users=services.users,
        notices=services.notices,
        media=services.media,
        bot=bot,
        video_sender=services.video_sender(bot),
    )
