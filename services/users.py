"""Who the users are: an admin's lookup by id or @username, and the language a user chose.

Registering a user on every update (and their welcome credits) is the wallet's step (services/wallet.py):
it moves money.
"""

from __future__ import annotations

from storage.interfaces import UserStore
from storage.records import User


class Users:
    def __init__(self, store: UserStore) -> None:
        self._store = store

    async def find(self, ref: str) -> User | None:
        """A user by numeric id or @username; None for anything else, or nobody."""
        if ref.startswith("@") and len(ref) > 1:
            return await self._store.find_user_by_username(ref[1:])
        if ref.isdigit():
            return await self._store.get_user(int(ref))
        return None

    async def language(self, user_id: int) -> str | None:
        """The language the user's messages go out in: their choice, else Telegram's; None if unknown."""
        user = await self._store.get_user(user_id)
        return None if user is None else user.language

    async def set_language(self, user_id: int, language: str) -> None:
        """The user's choice wins over Telegram's language from now on, the poller's messages included."""
        await self._store.set_user_language(user_id, language)
