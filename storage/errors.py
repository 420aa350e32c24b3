"""Errors a storage backend raises for conditions the caller must handle."""

import os
import socket
import ssl


class StorageError(Exception):
    """A backend failed in a way the caller cannot fix by changing its input."""


class UnknownUserError(StorageError):
    def __init__(self, user_id: int) -> None:
        super().__init__(f"user {user_id} does not exist")
        self.user_id = user_id


class UnsafeMediaPathError(StorageError):
    """A media path tried to leave its store (absolute, `..`, or odd characters)."""


class MediaTooLargeError(StorageError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"media object exceeds {limit} bytes")
        self.limit = limit


class StorageOpenError(StorageError):
    """The backend cannot be opened at all, so the bot cannot start; `str()` is one line for the operator
    that names the path or URL and the reason, and never contains a key."""


class StoragePathError(StorageOpenError):
    """A local path (DATA_DIR, the database file, the media or spool folder) cannot be created, written
    or opened."""


class StorageServiceError(StorageOpenError):
    """The storage service (Supabase) is unreachable, or refuses the key."""


def os_reason(error: BaseException) -> str:
    """What an OS-level failure says, in lower case ("permission denied", "address already in use"); read
    from errno because some wrappers (asyncio's bind) put a whole sentence into `strerror`. Anything else
    reads as its own message."""
    if isinstance(error, OSError):
        return (os.strerror(error.errno) if error.errno else error.strerror or str(error)).lower()
    return str(error)


def connection_reason(error: BaseException) -> str:
    """Why a connection failed, in a few words (DNS, refused, timeout, TLS), read from the exception chain.

    HTTP clients wrap the OSError that says it (aiohttp and httpx both chain it as the cause); shared by
    the storage and Telegram start-up messages so that both read the same.
    """
    chain: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    for cause in chain:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not accepted ({cause.verify_message})"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error ({cause.reason or cause})"
        if isinstance(cause, socket.gaierror):
            return f"DNS lookup failed ({cause.strerror})"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, TimeoutError):
            return "timed out"
    for cause in reversed(chain):
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
    return " ".join(str(error).split()) or type(error).__name__
