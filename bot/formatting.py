"""Small text helpers shared by the screens: Telegram's message length and how a moment is shown."""

from __future__ import annotations

from datetime import UTC, datetime

#: Longest text of one message (Bot API sendMessage / editMessageText).
TEXT_LIMIT = 4096


def when(moment: datetime) -> str:
    """A timestamp as users and admins see it everywhere: UTC, to the minute."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
