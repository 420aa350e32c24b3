"""Who the users are: an admin's lookup by id or @username, and the language a user chose.

Registering a user on every update (and their welcome credits) is the wallet's step (services/wallet.py):
it moves money.
"""

from __future__ import annotations

import re

from storage.interfaces import UserStore
from storage.records import User

#: The largest id both backends can store (a signed 64-bit integer); Telegram's ids are far below it.
MAX_USER_ID = 2**63 - 1
#: What Telegram allows in a @username (5-32 characters of these; shorter ones only for old accounts).
_USERNAME = re.compile(r"@[A-Za-z0-9_]{1,32}")


def whole_number(text: str, *, maximum: int) -> int | None:
    """`text` as a whole number from 1 to `maximum`, in ASCII digits only; None for anything else.

    `str.isdigit` also accepts "①", "٥٠" and "１２": `int` refuses the first and reads the others as
    50 and 12, so an admin's typo would move money by a number nobody typed.
    """
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(maximum)):
        return None
    number = int(text)
    return number if 1 <= number <= maximum else None


def user_ref(text: str) -> int | str | None:
    """What an admin may name a user by: an id (int) or an @username (str, without the @); None when
    `text` is neither."""
    if _USERNAME.fullmatch(text):
        return text[1:]
    return whole_number(text, maximum=MAX_USER_ID)


class Users:
    def __init__(self, store: UserStore) -> None:
        self._store = store

    async def find(self, ref: int | str) -> User | None:
        """A user by the id or username `user_ref` read; None for nobody."""
        if isinstance(ref, str):
            return await self._store.find_user_by_username(ref)
        return await self._store.get_user(ref)

    async def language(self, user_id: int) -> str | None:
        """The language the user's messages go out in: their choice, else Telegram's; None if unknown."""
        user = await self._store.get_user(user_id)
        return None if user is None else user.language

    async def set_language(self, user_id: int, language: str) -> None:
        """The user's choice wins over Telegram's language from now on, the poller's messages included."""
        await self._store.set_user_language(user_id, language)
