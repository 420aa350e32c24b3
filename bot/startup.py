"""Start-up failures as one line and a documented exit status (README, "Exit status"), never a traceback.

Operators read these lines in `docker logs` or a systemd journal, and scripts branch on the status, so
each failure an operator can fix gets its own code and a sentence naming what to fix. The token and keys
are never printed: the Bot API URL carries the token in its path, so only TELEGRAM_API_URL is named.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramNetworkError,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetMe
from aiogram.types import User
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, RedisError

from bot.exit_status import ExitCode, StartupError
from services.settings import Settings
from storage.errors import StoragePathError, StorageServiceError, connection_reason

log = logging.getLogger(__name__)

#: Backoff between those tries: the first wait, doubled after each try up to the cap.
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 8.0
#: One getMe try; an address that swallows packets must not use the whole wait on one try.
GET_ME_TIMEOUT_SECONDS = 10
#: Redis answers within this or counts as unreachable (the start's PING and every later command).
REDIS_TIMEOUT_SECONDS = 5


def describe_failure(error: BaseException, settings: Settings) -> StartupError:
    """Whatever stopped the start, as one redacted line and a status; an unknown error keeps its type and
    message (its traceback goes to the DEBUG log)."""
    if isinstance(error, StartupError):
        failure = error
    elif isinstance(error, StoragePathError):
        failure = StartupError(sentence(str(error)), ExitCode.STORAGE_PATH)
    elif isinstance(error, StorageServiceError):
        failure = StartupError(sentence(str(error)), ExitCode.SUPABASE)
    elif isinstance(error, TelegramUnauthorizedError):
        failure = token_rejected()
    elif isinstance(error, TelegramNetworkError | TelegramServerError):  # a call after getMe answered
        failure = StartupError(
            f"Telegram Bot API at {api_url(settings)} stopped answering: {telegram_reason(error)}",
            ExitCode.TELEGRAM_UNREACHABLE,
        )
    else:
        message = " ".join(str(error).split())
        failure = StartupError(
            f"Unexpected error: {type(error).__name__}: {message} (LOG_LEVEL=DEBUG logs the traceback)",
            ExitCode.UNEXPECTED,
        )
    return StartupError(redact(str(failure), secrets(settings)), failure.code)


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def api_url(settings: Settings) -> str:
    """TELEGRAM_API_URL as the operator wrote it: the base, never a method URL (which holds the token)."""
    return str(settings.telegram_api_url).rstrip("/")


def token_rejected() -> StartupError:
    return StartupError(
        "Telegram rejected BOT_TOKEN (401 Unauthorized): it is wrong or was revoked; "
        "get the current token from @BotFather.",
        ExitCode.TOKEN_REJECTED,
    )


def telegram_reason(error: TelegramAPIError) -> str:
    """aiogram's messages for the same failures vary; say what happened in a few words."""
    if isinstance(error, TelegramServerError):
        return f"server error ({error.message})"
    if isinstance(error, ClientDecodeError):
        return "the answer is not a Bot API response"
    return connection_reason(error)


def secrets(settings: Settings) -> dict[str, str]:
    """Every secret setting's value, mapped to what replaces it in output (`<BOT_TOKEN>`); the token's
    part after the colon too, which is the actual secret."""
    found: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr) and value.get_secret_value():
            found[value.get_secret_value()] = f"<{name.upper()}>"
    found.setdefault(settings.bot_token.get_secret_value().partition(":")[2], "<BOT_TOKEN>")
    return found


def redact(text: str, hidden: dict[str, str]) -> str:
    """Belt and braces: no secret survives into a printed line, whatever a library put in it."""
    for value, name in hidden.items():
        text = text.replace(value, name)
    return text


class RedactingFormatter(logging.Formatter):
    """The log format, with every secret replaced by its setting's name. aiohttp puts the request URL,
    which carries BOT_TOKEN, into some errors (`Can not write request body for .../bot<token>/getUpdates`
    when the Bot API drops a long poll) and aiogram's polling loop logs them."""

    def __init__(self, fmt: str, settings: Settings) -> None:
        super().__init__(fmt)
        self._secrets = secrets(settings)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secrets)


async def reach_telegram(
    bot: Bot,
    api_url: str,
    *,
    wait: float,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> User:
    """getMe until it answers, backing off for up to `wait` seconds while the Bot API is unreachable.

    A refused token stops at once. The call goes straight to the session, past RetryRequests, so this
    backoff alone decides how long the start waits; every failed try logs one warning line.
    """
    started = clock()
    delay = FIRST_RETRY_SECONDS
    tries = 0
    while True:
        tries += 1
        try:
            return await bot.session.make_request(bot, GetMe(), timeout=GET_ME_TIMEOUT_SECONDS)
        except TelegramUnauthorizedError:
            raise token_rejected() from None
        except (TelegramNetworkError, TelegramServerError, ClientDecodeError) as error:
            reason = telegram_reason(error)
            elapsed = clock() - started
            left = wait - elapsed
            if left <= 0:
                raise StartupError(
                    f"Cannot reach the Telegram Bot API at {api_url}: {reason}; gave up after "
                    f"{tries} {'try' if tries == 1 else 'tries'} in {elapsed:.1f} s.",
                    ExitCode.TELEGRAM_UNREACHABLE,
                ) from error
            pause = min(delay, left)
            log.warning("Telegram Bot API at %s: %s; trying again in %.1f s", api_url, reason, pause)
            await sleep(pause)
            delay = min(delay * 2, MAX_RETRY_SECONDS)


async def reach_redis(settings: Settings) -> Redis | None:
    """The Redis of REDIS_URL, once it answered PING (None without REDIS_URL), so that a wrong URL, an
    unreachable server or a refused password stops the start with one line, exit status 6 like an
    unreachable Supabase, instead of failing the first update. The line names the host and port only:
    the URL may carry the password."""
    if settings.redis_url is None:
        return None
    url = settings.redis_url.get_secret_value()
    try:
        redis = Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
        )
    except ValueError:
        raise StartupError(
            "REDIS_URL is not a Redis URL: it must start with redis://, rediss:// or unix://", ExitCode.CONFIG
        ) from None
    where = redis_address(redis)
    try:
        await redis.ping()
    except AuthenticationError:
        await redis.aclose()
        raise StartupError(f"Redis at {where} refused the password in REDIS_URL", ExitCode.SUPABASE) from None
    except (RedisError, OSError) as error:
        await redis.aclose()
        raise StartupError(
            f"Cannot reach Redis at {where} (REDIS_URL): {connection_reason(error)}", ExitCode.SUPABASE
        ) from None
    return redis


def redis_address(redis: Redis) -> str:
    """Where a Redis client connects, without its password: `host:port` or the socket's path."""
    options = redis.connection_pool.connection_kwargs
    if "path" in options:
        return str(options["path"])
    return f"{options.get('host', 'localhost')}:{options.get('port', 6379)}"
