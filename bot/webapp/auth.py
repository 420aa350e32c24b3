"""Telegram Mini App initData, checked on the server before every API call.

Telegram signs the launch parameters it hands the page (`initData`) with a key derived from the bot token
(HMAC_SHA256("WebAppData", bot_token)); aiogram's `safe_parse_webapp_init_data` checks that signature. On
top of it a session must name a user and be fresh: `auth_date` no older than WEBAPP_AUTH_MAX_AGE_SECONDS,
so a copied initData stops working. The page sends initData as `Authorization: tma <initData>` (no cookie,
so no cross-site request can borrow it). Whatever is wrong, the caller learns only "unauthorized": the
reason is for the log, which never gets initData itself (it names the user and carries the signature).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from aiogram.utils.web_app import safe_parse_webapp_init_data

#: Longer than any initData Telegram sends (a user object, a few ids, two signatures), far below abuse.
MAX_INIT_DATA_CHARS = 4096
#: How far a client's clock may be ahead of ours: auth_date is Telegram's time, but phones drift.
CLOCK_SKEW_SECONDS = 300
_HASH = re.compile(r"[0-9a-f]{64}")
_SCHEME = "tma "


class InitDataRejected(Exception):
    """initData that does not prove a user; the message says why, for the log only."""


@dataclass(frozen=True, slots=True)
class WebAppSession:
    """The Telegram user a checked initData proves, and what the page may use of it."""

    user_id: int
    #: Telegram's language of the user (an IETF tag such as "ru" or "zh-hans"), before any stored choice.
    language_code: str | None
    auth_date: float


def init_data_from_header(authorization: str | None) -> str:
    """initData from `Authorization: tma <initData>`; empty when the header is missing or another scheme."""
    if authorization is None or not authorization.startswith(_SCHEME):
        return ""
    return authorization[len(_SCHEME) :].strip()


def verify_init_data(init_data: str, *, bot_token: str, max_age_seconds: int, now: float) -> WebAppSession:
    """The session `init_data` proves, or InitDataRejected: missing, malformed, forged, without a user,
    older than `max_age_seconds`, or dated in the future."""
    if not init_data:
        raise InitDataRejected("missing")
    if len(init_data) > MAX_INIT_DATA_CHARS:
        raise InitDataRejected("too long")
    try:
        fields = dict(parse_qsl(init_data, strict_parsing=True))
    except ValueError:
        raise InitDataRejected("not a query string") from None
    # a hash of other characters would make compare_digest raise TypeError instead of saying no
    if not _HASH.fullmatch(fields.get("hash", "")):
        raise InitDataRejected("no well-formed hash")
    try:
        data = safe_parse_webapp_init_data(bot_token, init_data)
    except (ValueError, TypeError):  # a bad signature, or signed fields that are not Telegram's shapes
        raise InitDataRejected("signature or fields invalid") from None
    if data.user is None:
        raise InitDataRejected("no user")
    signed_at = data.auth_date.timestamp()
    if now - signed_at > max_age_seconds:
        raise InitDataRejected("expired")
    if signed_at - now > CLOCK_SKEW_SECONDS:
        raise InitDataRejected("dated in the future")
    return WebAppSession(user_id=data.user.id, language_code=data.user.language_code, auth_date=signed_at)
