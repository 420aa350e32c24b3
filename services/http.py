"""The HTTP layer every provider adapter shares: one aiohttp session per provider, timeouts, retries
with exponential backoff and jitter, Retry-After, streamed downloads with a size cap, and redirects
that keep the API key only on the API's own host. Reads are retried; a create (a paid task) is sent
again only when it provably did not reach the provider or was refused.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from services.providers.base import (
    InvalidRequestError,
    NotFoundError,
    OutOfBalanceError,
    ProviderError,
    RateLimitedError,
    UnauthorizedError,
    UnavailableError,
    UncertainSubmitError,
)
from storage.errors import MediaTooLargeError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({500, 502, 503, 504})
#: The one server error that says the provider did not act on a request: 503, not taking requests at
#: all (RFC 9110: "currently unable to handle the request"; Runware and Runway document it as load
#: shedding, to retry). Every 4xx (429 included) is a refusal too. Any other 5xx may come after the task
#: was made (a crash after the insert, a gateway timing out on a busy backend): a create stays uncertain.
REFUSED_5XX = frozenset({503})
#: Network errors that happen before a request leaves: DNS, a refused connection, a connect timeout, a
#: failed TLS handshake (ClientConnectorError covers the first, second and last).
NOT_SENT_ERRORS = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
MAX_REDIRECTS = 5


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    #: Case-insensitive (a CIMultiDict from aiohttp): servers differ in header casing.
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON (some gateways answer HTML on errors)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("Retry-After"))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None when absent or odd."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


#: What file hosts answer a result URL whose signature or retention ran out.
EXPIRED_STATUSES = frozenset({403, 404, 410})


def download_error(
    provider: str, response: HttpResponse, *, expired: frozenset[int] = EXPIRED_STATUSES
) -> ProviderError:
    """A failed result download: one of the `expired` statuses means the file is gone for good
    (NotFoundError "expired"), anything else is mapped as any HTTP failure."""
    if response.status in expired:
        return NotFoundError(
            f"the result URL has expired (HTTP {response.status})",
            provider=provider,
            http_status=response.status,
            code="expired",
        )
    return default_error(provider, response)


def default_error(provider: str, response: HttpResponse) -> ProviderError:
    """Map an HTTP failure to a typed error; adapters refine this with the provider's own codes."""
    body = response.json()
    message = _error_message(body) or f"HTTP {response.status}"
    status = response.status
    kwargs: dict[str, Any] = {"provider": provider, "http_status": status, "code": str(status)}
    if status == 401 or status == 403:
        return UnauthorizedError(message, **kwargs)
    if status == 402:
        return OutOfBalanceError(message, **kwargs)
    if status == 404:
        return NotFoundError(message, **kwargs)
    if status == 429:
        return RateLimitedError(message, retry_after=response.retry_after, **kwargs)
    if status >= 500:
        return UnavailableError(message, retry_after=response.retry_after, **kwargs)
    return InvalidRequestError(message, **kwargs)


def _error_message(body: Any) -> str | None:
    """The human part of the usual error envelopes ({"error": {"message"}}, {"message"}, {"msg"})."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"][:500]
        if isinstance(error, str):
            return error[:500]
        for key in ("message", "msg", "detail"):
            if isinstance(body.get(key), str):
                return body[key][:500]
    return None


Sleep = Callable[[float], Awaitable[None]]


class ProviderHttp:
    """Transport for one provider. Secrets go in `auth_headers`/`auth_params`, never into messages."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        auth_headers: Mapping[str, str] | None = None,
        auth_params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        max_retry_after: float = 30.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/") + "/"
        self._auth_headers = dict(auth_headers or {})
        self._auth_params = dict(auth_params or {})
        self._headers = dict(headers or {})
        self._timeout = aiohttp.ClientTimeout(sock_connect=connect_timeout, sock_read=read_timeout)
        self._retries = retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._max_retry_after = max_retry_after
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _secrets(self) -> list[str]:
        values = [*self._auth_headers.values(), *self._auth_params.values()]
        return [
            v.removeprefix("Bearer ").strip() for v in values if len(v.removeprefix("Bearer ").strip()) >= 6
        ]

    def _redacted(self, error: ProviderError) -> ProviderError:
        """Whatever an adapter's classifier built, a key echoed back by the API never leaves here."""
        message = error.message
        for secret in self._secrets():
            message = message.replace(secret, "***")
        if message != error.message:
            error.message = message
            error.args = (f"{error.provider}: {message}",)
        return error

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else urljoin(self.base_url, path.lstrip("/"))

    def _is_api_host(self, url: str) -> bool:
        return urlsplit(url).netloc == urlsplit(self.base_url).netloc

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff: random in [0, min(max, base × 2^attempt)]."""
        return random.uniform(0, min(self._backoff_max, self._backoff_base * 2**attempt))

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        classify: Callable[[HttpResponse], ProviderError] | None = None,
        idempotent: bool | None = None,
    ) -> HttpResponse:
        """Send one API call with backoff retries; raise a typed error.

        A read (`idempotent`; by default every method but POST) is retried after network errors, 5xx
        and 429. A create (a POST, unless the caller says sending it twice is harmless) starts a paid
        task, so it is sent again only when it provably did not reach the provider (a connect error) or
        was refused (a 4xx, or REFUSED_5XX); after any other failure of a sent create it raises
        UncertainSubmitError. `data` may be a callable returning fresh aiohttp FormData, since a form
        body can be sent once.
        """
        url = self.url(path)
        auth = self._is_api_host(url)
        all_headers = {**(self._auth_headers if auth else {}), **(headers or {})}
        all_params = {**(self._auth_params if auth else {}), **(params or {})}
        creates = method.upper() == "POST" if idempotent is None else not idempotent
        last: ProviderError | None = None
        for attempt in range(self._retries + 1):
            body = data() if callable(data) else data
            try:
                async with self.session.request(
                    method, url, json=json_body, data=body, params=all_params or None, headers=all_headers
                ) as raw:
                    response = HttpResponse(raw.status, raw.headers.copy(), await raw.read())
            except (aiohttp.ClientError, TimeoutError) as error:
                reason = type(error).__name__
                log.info("%s %s: %s (attempt %d)", self.provider, method, reason, attempt + 1)
                if creates and not isinstance(error, NOT_SENT_ERRORS):
                    raise UncertainSubmitError(
                        f"no answer after the request was sent: {reason}", provider=self.provider
                    ) from None
                last = UnavailableError(f"network error: {reason}", provider=self.provider)
            else:
                if response.status < 400:
                    return response
                error = self._redacted((classify or (lambda r: default_error(self.provider, r)))(response))
                if creates and response.status >= 500 and response.status not in REFUSED_5XX:
                    raise UncertainSubmitError(
                        error.message, provider=self.provider, code=error.code, http_status=response.status
                    )
                if response.status not in RETRY_STATUSES and not isinstance(error, RateLimitedError):
                    raise error
                last = error
                if error.retry_after is not None and error.retry_after > self._max_retry_after:
                    raise error  # the poller reschedules instead of holding a worker this long
            if attempt < self._retries:
                hint = last.retry_after if last is not None else None
                await self._sleep(hint if hint is not None else self.backoff(attempt))
        assert last is not None
        raise last

    async def stream(
        self,
        url: str,
        *,
        max_bytes: int,
        headers: Mapping[str, str] | None = None,
        chunk_size: int = 1 << 16,
        classify: Callable[[HttpResponse], ProviderError] | None = None,
    ) -> AsyncIterator[bytes]:
        """Stream a download without holding it in memory; follow redirects, sending the key only to
        the API's host (a signed CDN URL must not receive it); stop past `max_bytes`."""
        target = self.url(url)
        for _ in range(MAX_REDIRECTS + 1):
            auth = self._is_api_host(target)
            all_headers = {**(self._auth_headers if auth else {}), **(headers or {})}
            params = self._auth_params if auth else None
            try:
                async with self.session.get(
                    target, headers=all_headers, params=params or None, allow_redirects=False
                ) as raw:
                    if raw.status in (301, 302, 303, 307, 308) and "Location" in raw.headers:
                        target = urljoin(target, raw.headers["Location"])
                        continue
                    if raw.status >= 400:
                        response = HttpResponse(raw.status, raw.headers.copy(), await raw.content.read(4096))
                        raise self._redacted(
                            (classify or (lambda r: default_error(self.provider, r)))(response)
                        )
                    declared = raw.content_length
                    if declared is not None and declared > max_bytes:
                        raise MediaTooLargeError(max_bytes)
                    received = 0
                    async for chunk in raw.content.iter_chunked(chunk_size):
                        received += len(chunk)
                        if received > max_bytes:
                            raise MediaTooLargeError(max_bytes)
                        yield chunk
                    return
            except (aiohttp.ClientError, TimeoutError) as error:
                raise UnavailableError(
                    f"download failed: {type(error).__name__}", provider=self.provider
                ) from None
        raise UnavailableError("too many redirects", provider=self.provider)
