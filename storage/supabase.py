"""The production backend: Postgres functions on Supabase through supabase-py, videos in a Storage bucket.

Every store operation is one RPC call to a function of `migrations/supabase/`, so every write is one
transaction on the server and several bot replicas can share the database (ARCHITECTURE §5). The
client runs on our own `httpx.AsyncClient` (supabase-py's async client never closes its own, and its
defaults are too short for videos), closed by `close()`. The service_role key is a secret: it is only
ever sent as a header, never logged or put in an error.

RPCs are money on the hot path, so the store posts them itself (`POST /rest/v1/rpc/<fn>`, the request
supabase-py's `rpc()` sends, to the URL and with the headers of supabase-py's own PostgREST client)
instead of building a query builder, a request config and a pydantic response per call, straight to the
transport of that client's httpx session: a connection pool that lends a connection in O(1)
(`_ConnectionPool`). benchmarks/debits_supabase.py measures it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import ssl
import tempfile
import urllib.request
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiofiles
import httpx
from storage3.exceptions import StorageApiError
from supabase import AsyncClient, AsyncClientOptions, acreate_client

from storage.errors import (
    MediaTooLargeError,
    StorageError,
    StorageServiceError,
    UnknownUserError,
    UnsafeMediaPathError,
    connection_reason,
)
from storage.interfaces import MediaStore, Store
from storage.records import (
    ACTIVE_STATUSES,
    REFUNDED_STATUSES,
    AlreadyApplied,
    Applied,
    BanOutcome,
    CreateOutcome,
    Generation,
    GenerationCreated,
    GenerationStatus,
    InsufficientFunds,
    LedgerEntry,
    LedgerOutcome,
    ModerationEvent,
    NewGeneration,
    NewLedgerEntry,
    NewModerationEvent,
    NewPayment,
    Notice,
    NoticeOutcome,
    NotRefundable,
    Payment,
    PaymentRefunded,
    ReceivedUpdate,
    Refunded,
    RefundOutcome,
    Stats,
    TooManyActive,
    User,
)
from storage.rows import RowMapper, ts

#: RPC calls are short; a stuck connection should fail a poll tick, not hang it (and a call that finds
#: every connection busy for 30 s fails with httpx.PoolTimeout).
RPC_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
#: Connections of one store's pool (each carries one RPC at a time): enough for the update handlers'
#: bursts; `open_lane()` gives the poller a pool of its own.
RPC_CONNECTIONS = 32
#: An idle connection is kept this long for the next RPC (a poll tick or the next update), well under
#: the idle timeouts of the proxies in front of PostgREST, so the server rarely closes it first.
RPC_KEEPALIVE = 15.0
#: Uploads and downloads of videos up to a few GB: generous read/write, bounded connect.
MEDIA_TIMEOUT = httpx.Timeout(600.0, connect=10.0, pool=30.0)
#: The start-up probe: a project that does not answer within this is reported as unreachable.
PROBE_TIMEOUT = httpx.Timeout(10.0)

_PROXY_STATUS_ERROR = re.compile(r"(?i)\bpostgrest\b[^,]*?;\s*error=\"?([^;,\"\s]+)")
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$")
#: PostgREST hands over `jsonb` columns decoded and takes JSON values as they are.
_rows = RowMapper()


def _fields(fields: Mapping[str, Any] | None) -> dict[str, Any]:
    """Field changes as JSON for the functions (which check the names again)."""
    return _rows.fields(fields or {})


def _statuses(statuses: frozenset[GenerationStatus]) -> list[str]:
    return sorted(s.value for s in statuses)


def _ledger_outcome(data: Mapping[str, Any]) -> LedgerOutcome:
    outcome = data["outcome"]
    if outcome == "applied":
        return Applied(_rows.entry(data["entry"]), int(data["balance"]))
    if outcome == "already":
        return AlreadyApplied(_rows.entry(data["entry"]), int(data["balance"]))
    return InsufficientFunds(balance=int(data["balance"]), required=int(data["required"]))


def _http_client(timeout: httpx.Timeout, verify: ssl.SSLContext | bool) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=timeout, http2=True, verify=verify)


async def _client(url: str, key: str, http: httpx.AsyncClient) -> AsyncClient:
    return await acreate_client(url, key, options=AsyncClientOptions(httpx_client=http))


class _LentStream(httpx.AsyncByteStream):
    """A response body that gives its connection back to the pool when it is closed (`_rpc` closes every
    response it reads, errors included)."""

    def __init__(self, stream: httpx.AsyncByteStream, give_back: Callable[[], None]) -> None:
        self._stream = stream
        self._give_back: Callable[[], None] | None = give_back

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            give_back, self._give_back = self._give_back, None
            if give_back is not None:
                give_back()


class _ConnectionPool(httpx.AsyncBaseTransport):
    """`size` connections, each lent to one request at a time in O(1), the most recently used first.

    httpcore's own pool walks all its connections (a poll() of every idle socket) on each request and
    each response close, which at 32 connections was most of the client's CPU per RPC, and it closes
    idle connections as soon as it holds more than its keep-alive limit. Here every connection is an
    httpx transport limited to one connection (which still checks it for expiry and reconnects), so
    that bookkeeping is over one connection; a semaphore queues the requests beyond `size`. HTTP/1.1:
    a connection carries one request at a time here, so HTTP/2 would only add its framing's CPU."""

    def __init__(
        self, size: int, *, verify: ssl.SSLContext | bool, keepalive: float, proxy: str | None
    ) -> None:
        context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=keepalive)
        self._all = [
            httpx.AsyncHTTPTransport(verify=context, limits=limits, proxy=proxy) for _ in range(size)
        ]
        self._idle = list(self._all)
        self._free = asyncio.Semaphore(size)
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:  # httpcore would quietly open new connections
            raise RuntimeError("the store's connection pool is closed")
        try:
            async with asyncio.timeout(request.extensions.get("timeout", {}).get("pool")):
                await self._free.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("every connection of the pool is busy", request=request) from None
        connection = self._idle.pop()

        def give_back() -> None:
            self._idle.append(connection)
            self._free.release()

        try:
            response = await connection.handle_async_request(request)
        except BaseException:
            give_back()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_LentStream(response.stream, give_back),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        self._closed = True
        for connection in self._all:
            await connection.aclose()


def _env_proxy(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTPS_PROXY, HTTP_PROXY or ALL_PROXY, unless NO_PROXY
    covers the host), as httpx's clients honour it by default; None for a direct connection."""
    parts = urlsplit(url)
    if urllib.request.proxy_bypass_environment(parts.hostname or ""):
        return None
    proxies = urllib.request.getproxies_environment()
    return proxies.get(parts.scheme) or proxies.get("all")


def _rpc_error(response: httpx.Response) -> tuple[Any, Any, Any]:
    """(code, message, details) of a failed call, read as supabase-py reads them: PostgREST's JSON error
    body, else the code of the `Proxy-Status` header (or the HTTP status) and the reason phrase."""
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body.get("code"), body.get("message"), body.get("details")
    found = _PROXY_STATUS_ERROR.search(response.headers.get("proxy-status", ""))
    code = found[1] if found else str(response.status_code)
    return code, response.reason_phrase or f"HTTP {response.status_code}", response.text or None


class SupabaseStore(Store):
    """`Store` on the project's Postgres functions; each method is exactly one RPC."""

    def __init__(
        self,
        client: AsyncClient,
        http: httpx.AsyncClient,
        pool: _ConnectionPool,
        *,
        reopen: Callable[[], Awaitable[SupabaseStore]] | None = None,
    ) -> None:
        postgrest = client.postgrest  # supabase-py's PostgREST client: its URL, key and profile headers
        self._http = http
        self._pool = pool
        self._rpc_url = f"{str(postgrest.base_url).rstrip('/')}/rpc/"
        # what supabase-py's rpc() sends: the session's defaults (Accept, User-Agent, ...) and its own
        self._headers = httpx.Headers(http.headers)
        self._headers.update(postgrest.headers)
        self._headers["Content-Type"] = "application/json"
        self._extensions = {"timeout": http.timeout.as_dict()}
        self._urls: dict[str, httpx.URL] = {}
        self._reopen = reopen

    @classmethod
    async def open(
        cls, url: str, service_role_key: str, *, verify: ssl.SSLContext | bool = True
    ) -> SupabaseStore:
        pool = _ConnectionPool(RPC_CONNECTIONS, verify=verify, keepalive=RPC_KEEPALIVE, proxy=_env_proxy(url))
        # the pool already goes through the environment's proxy, if any: the client must not mount another
        http = httpx.AsyncClient(timeout=RPC_TIMEOUT, transport=pool, trust_env=False)
        try:
            client = await _client(url, service_role_key, http)
        except BaseException:
            await http.aclose()
            raise
        return cls(client, http, pool, reopen=lambda: cls.open(url, service_role_key, verify=verify))

    async def open_lane(self) -> SupabaseStore:
        """The same project through a second HTTP client and pool (same URL, key and settings), so the
        poller's RPCs never wait for a connection behind the update handlers'; closed on its own."""
        return self if self._reopen is None else await self._reopen()

    async def close(self) -> None:
        await self._http.aclose()  # and with it its transport, the pool

    def _url(self, function: str) -> httpx.URL:
        url = self._urls.get(function)
        if url is None:
            url = self._urls[function] = httpx.URL(self._rpc_url + function)
        return url

    async def _rpc(self, function: str, params: Mapping[str, Any]) -> Any:
        """POST the named arguments as a JSON object; the function's JSON value back (None for void).

        The request goes straight to the session's transport (the pool): the client layer around it
        (cookies, auth flow, redirects, hooks, timers) does nothing for an RPC and cost a fifth of the
        client's CPU per call (benchmarks/debits_supabase.py)."""
        body = json.dumps(params, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        request = httpx.Request(
            "POST", self._url(function), content=body, headers=self._headers, extensions=self._extensions
        )
        response = await self._pool.handle_async_request(request)
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        if not response.is_success:
            code, message, details = _rpc_error(response)
            if code == "P0001" and message == "unknown_user":
                raise UnknownUserError(int(details or 0))
            if code == "22023":
                raise ValueError(message)
            raise StorageError(f"{function} failed: {code} {message}")
        if not content:  # 204 from a void function
            return None
        try:
            return json.loads(content)
        except ValueError:
            raise StorageError(f"{function} answered HTTP {response.status_code} without JSON") from None

    # users

    async def ensure_user(
        self,
        user_id: int,
        *,
        username: str | None = None,
        language: str | None = None,
        welcome_credits: int = 0,
    ) -> User:
        data = await self._rpc(
            "ensure_user",
            {
                "p_user_id": user_id,
                "p_username": username,
                "p_language": language,
                "p_welcome_credits": welcome_credits,
            },
        )
        return _rows.user(data)

    async def get_user(self, user_id: int) -> User | None:
        data = await self._rpc("get_user", {"p_user_id": user_id})
        return None if data is None else _rows.user(data)

    async def find_user_by_username(self, username: str) -> User | None:
        data = await self._rpc("find_user_by_username", {"p_username": username})
        return None if data is None else _rows.user(data)

    async def set_user_language(self, user_id: int, language: str) -> None:
        await self._rpc("set_user_language", {"p_user_id": user_id, "p_language": language})

    async def set_user_blocked(self, user_id: int, blocked: bool) -> None:
        await self._rpc("set_user_blocked", {"p_user_id": user_id, "p_blocked": blocked})

    # wallet

    async def apply_ledger_entry(self, entry: NewLedgerEntry) -> LedgerOutcome:
        data = await self._rpc(
            "apply_ledger_entry",
            {
                "p_user_id": entry.user_id,
                "p_delta": entry.delta,
                "p_kind": entry.kind.value,
                "p_idempotency_key": entry.idempotency_key,
                "p_admin_id": entry.admin_id,
                "p_reason": entry.reason,
            },
        )
        return _ledger_outcome(data)

    async def record_payment(self, payment: NewPayment) -> LedgerOutcome:
        data = await self._rpc(
            "record_payment",
            {
                "p_charge_id": payment.charge_id,
                "p_user_id": payment.user_id,
                "p_stars": payment.stars,
                "p_credits": payment.credits,
                "p_payload": payment.payload,
                "p_provider_charge_id": payment.provider_charge_id,
            },
        )
        return _ledger_outcome(data)

    async def get_payment(self, charge_id: str) -> Payment | None:
        data = await self._rpc("get_payment", {"p_charge_id": charge_id})
        return None if data is None else _rows.payment(data)

    async def list_payments(self, user_id: int, *, limit: int = 10) -> list[Payment]:
        rows = await self._rpc("list_payments", {"p_user_id": user_id, "p_limit": limit})
        return [_rows.payment(r) for r in rows]

    async def record_payment_refund(self, charge_id: str, *, now: datetime) -> PaymentRefunded | None:
        data = await self._rpc("record_payment_refund", {"p_charge_id": charge_id, "p_now": ts(now)})
        if data is None:
            return None
        return PaymentRefunded(
            _rows.payment(data["payment"]), int(data["debited"]), int(data["balance"]), new=bool(data["new"])
        )

    async def list_ledger(self, user_id: int, *, limit: int = 50) -> list[LedgerEntry]:
        rows = await self._rpc("list_ledger", {"p_user_id": user_id, "p_limit": limit})
        return [_rows.entry(r) for r in rows]

    # generations

    async def create_generation(self, new: NewGeneration) -> CreateOutcome:
        if new.cost <= 0:
            raise ValueError("a generation costs at least one credit")
        data = await self._rpc(
            "create_generation_capped",
            {
                "p_id": new.id,
                "p_user_id": new.user_id,
                "p_chat_id": new.chat_id,
                "p_model": new.model,
                "p_mode": new.mode,
                "p_prompt": new.prompt,
                "p_request": new.request,
                "p_cost": new.cost,
                "p_created_at": ts(new.created_at),
                "p_deadline_at": ts(new.deadline_at),
                "p_request_key": new.request_key,
                "p_max_active": new.max_active,
            },
        )
        if data["outcome"] == "limited":
            return TooManyActive(int(data["limit"]))
        if data["outcome"] == "insufficient":
            return InsufficientFunds(balance=int(data["balance"]), required=int(data["required"]))
        return GenerationCreated(
            _rows.generation(data["generation"]), int(data["balance"]), new=data["outcome"] == "created"
        )

    async def get_generation(self, generation_id: str) -> Generation | None:
        return _rows.maybe_generation(await self._rpc("get_generation", {"p_id": generation_id}))

    async def transition_generation(
        self,
        generation_id: str,
        *,
        to: GenerationStatus,
        allowed_from: frozenset[GenerationStatus],
        fields: Mapping[str, Any] | None = None,
        now: datetime,
    ) -> Generation | None:
        if to in REFUNDED_STATUSES:
            raise ValueError(f"{to} carries a refund: use end_with_refund")
        data = await self._rpc(
            "transition_generation",
            {
                "p_id": generation_id,
                "p_to": to.value,
                "p_allowed_from": _statuses(allowed_from),
                "p_now": ts(now),
                "p_fields": _fields(fields),
            },
        )
        return _rows.maybe_generation(data)

    async def update_generation(
        self,
        generation_id: str,
        *,
        only_if: frozenset[GenerationStatus],
        fields: Mapping[str, Any],
        now: datetime,
    ) -> Generation | None:
        data = await self._rpc(
            "update_generation",
            {
                "p_id": generation_id,
                "p_only_if": _statuses(only_if),
                "p_fields": _fields(fields),
                "p_now": ts(now),
            },
        )
        return _rows.maybe_generation(data)

    async def begin_submit(
        self, generation_id: str, *, request_id: str, provider: str, provider_model_id: str, now: datetime
    ) -> Generation | None:
        data = await self._rpc(
            "begin_submit",
            {
                "p_id": generation_id,
                "p_request_id": request_id,
                "p_provider": provider,
                "p_model_id": provider_model_id,
                "p_now": ts(now),
            },
        )
        return _rows.maybe_generation(data)

    async def end_submit(self, generation_id: str, *, request_id: str, now: datetime) -> Generation | None:
        data = await self._rpc(
            "end_submit", {"p_id": generation_id, "p_request_id": request_id, "p_now": ts(now)}
        )
        return _rows.maybe_generation(data)

    async def requeue_generation(
        self, generation_id: str, *, failed_route: str, deadline_at: datetime, now: datetime
    ) -> Generation | None:
        data = await self._rpc(
            "requeue_generation",
            {
                "p_id": generation_id,
                "p_failed_route": failed_route,
                "p_deadline_at": ts(deadline_at),
                "p_now": ts(now),
            },
        )
        return _rows.maybe_generation(data)

    async def end_with_refund(
        self,
        generation_id: str,
        *,
        to: GenerationStatus,
        allowed_from: frozenset[GenerationStatus],
        error_code: str | None,
        error_message: str | None,
        now: datetime,
    ) -> RefundOutcome:
        if to not in REFUNDED_STATUSES:
            raise ValueError(f"{to} is not an ending with a refund")
        if not allowed_from <= ACTIVE_STATUSES:
            raise ValueError("only an active generation can be refunded: a produced video is never refunded")
        data = await self._rpc(
            "end_with_refund",
            {
                "p_id": generation_id,
                "p_to": to.value,
                "p_allowed_from": _statuses(allowed_from),
                "p_error_code": error_code,
                "p_error_message": error_message,
                "p_now": ts(now),
            },
        )
        if data["outcome"] != "refunded":
            return NotRefundable(_rows.maybe_generation(data["generation"]))
        return Refunded(
            _rows.generation(data["generation"]), _rows.entry(data["entry"]), int(data["balance"])
        )

    async def list_user_generations(
        self,
        user_id: int,
        *,
        before: tuple[datetime, str] | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 10,
    ) -> list[Generation]:
        params: dict[str, Any] = {"p_user_id": user_id, "p_limit": limit}
        if after is not None:
            params.update(p_after_created_at=ts(after[0]), p_after_id=after[1])
        elif before is not None:
            params.update(p_before_created_at=ts(before[0]), p_before_id=before[1])
        return [_rows.generation(r) for r in await self._rpc("list_user_generations", params)]

    async def hide_generation(self, generation_id: str, *, user_id: int, now: datetime) -> Generation | None:
        data = await self._rpc(
            "hide_generation", {"p_id": generation_id, "p_user_id": user_id, "p_now": ts(now)}
        )
        return _rows.maybe_generation(data)

    async def count_active_generations(self, user_id: int) -> int:
        return int(await self._rpc("count_active_generations", {"p_user_id": user_id}))

    async def count_generations_since(self, user_id: int, since: datetime) -> int:
        return int(await self._rpc("count_generations_since", {"p_user_id": user_id, "p_since": ts(since)}))

    async def find_generation_by_task(self, provider: str, task_id: str) -> Generation | None:
        data = await self._rpc("find_generation_by_task", {"p_provider": provider, "p_task_id": task_id})
        return _rows.maybe_generation(data)

    async def claim_due_generations(
        self, *, now: datetime, owner: str, lease_seconds: float, limit: int, overdue_only: bool = False
    ) -> list[Generation]:
        rows = await self._rpc(
            "claim_due_generations",
            {
                "p_now": ts(now),
                "p_owner": owner,
                "p_lease_seconds": lease_seconds,
                "p_limit": limit,
                "p_overdue_only": overdue_only,
            },
        )
        return [_rows.generation(r) for r in rows]

    async def claim_generation(
        self, generation_id: str, *, now: datetime, owner: str, lease_seconds: float
    ) -> Generation | None:
        data = await self._rpc(
            "claim_generation",
            {"p_id": generation_id, "p_now": ts(now), "p_owner": owner, "p_lease_seconds": lease_seconds},
        )
        return _rows.maybe_generation(data)

    async def extend_leases(
        self, generation_ids: Sequence[str], *, owner: str, now: datetime, lease_seconds: float
    ) -> int:
        if not generation_ids:
            return 0
        count = await self._rpc(
            "extend_leases",
            {
                "p_ids": list(generation_ids),
                "p_owner": owner,
                "p_now": ts(now),
                "p_lease_seconds": lease_seconds,
            },
        )
        return int(count)

    async def release_generation(
        self,
        generation_id: str,
        *,
        owner: str,
        next_poll_at: datetime | None,
        fields: Mapping[str, Any] | None = None,
    ) -> bool:
        released = await self._rpc(
            "release_generation",
            {
                "p_id": generation_id,
                "p_owner": owner,
                "p_next_poll_at": None if next_poll_at is None else ts(next_poll_at),
                "p_fields": _fields(fields),
            },
        )
        return bool(released)

    async def list_expired_media(self, *, finished_before: datetime, limit: int) -> list[Generation]:
        rows = await self._rpc(
            "list_expired_media", {"p_finished_before": ts(finished_before), "p_limit": limit}
        )
        return [_rows.generation(r) for r in rows]

    # conversation state (aiogram FSM)

    async def get_fsm(self, key: str) -> tuple[str | None, dict[str, Any]]:
        data = await self._rpc("fsm_get", {"p_key": key})
        return (None, {}) if data is None else (data["state"], dict(data["data"]))

    async def set_fsm(self, key: str, state: str | None, data: Mapping[str, Any]) -> None:
        await self._rpc("fsm_set", {"p_key": key, "p_state": state, "p_data": dict(data)})

    async def stats(self, *, since: datetime) -> Stats:
        data = await self._rpc("stats", {"p_since": ts(since)})
        uncertain = await self._rpc("count_uncertain_submits", {"p_since": ts(since)})
        return _rows.stats(
            since,
            generations=data["generations"],
            payments=data["payments"],
            new_users=int(data["new_users"]),
            welcome=data["welcome"],
            uncertain_submits=int(uncertain),
        )

    # outbox (the notices are written by the triggers of migration 20261203000100), uploads

    async def claim_notice(
        self, key: str, *, now: datetime, owner: str, lease_seconds: float
    ) -> Notice | None:
        data = await self._rpc(
            "claim_notice",
            {"p_key": key, "p_now": ts(now), "p_owner": owner, "p_lease_seconds": lease_seconds},
        )
        return None if data is None else _rows.notice(data)

    async def claim_due_notices(
        self, *, now: datetime, created_before: datetime, owner: str, lease_seconds: float, limit: int
    ) -> list[Notice]:
        rows = await self._rpc(
            "claim_due_notices",
            {
                "p_now": ts(now),
                "p_created_before": ts(created_before),
                "p_owner": owner,
                "p_lease_seconds": lease_seconds,
                "p_limit": limit,
            },
        )
        return sorted((_rows.notice(r) for r in rows), key=lambda n: n.created_at)

    async def finish_notice(
        self,
        key: str,
        *,
        owner: str,
        now: datetime,
        outcome: NoticeOutcome | None,
        retry_at: datetime | None = None,
    ) -> bool:
        done = await self._rpc(
            "finish_notice",
            {
                "p_key": key,
                "p_owner": owner,
                "p_now": ts(now),
                "p_outcome": None if outcome is None else outcome.value,
                "p_retry_at": None if retry_at is None else ts(retry_at),
            },
        )
        return bool(done)

    async def begin_upload(self, generation_id: str, *, now: datetime) -> int:
        return int(await self._rpc("begin_upload", {"p_generation_id": generation_id, "p_now": ts(now)}))

    async def upload_refused(self, generation_id: str, *, now: datetime) -> None:
        await self._rpc("upload_refused", {"p_generation_id": generation_id, "p_now": ts(now)})

    # received payment updates

    async def keep_update(self, update_id: int, body: Mapping[str, Any], *, now: datetime) -> None:
        await self._rpc("keep_update", {"p_update_id": update_id, "p_body": dict(body), "p_now": ts(now)})

    async def finish_update(self, update_id: int, *, now: datetime) -> None:
        await self._rpc("finish_update", {"p_update_id": update_id, "p_now": ts(now)})

    async def pending_updates(self, *, limit: int) -> list[ReceivedUpdate]:
        rows = await self._rpc("pending_updates", {"p_limit": limit})
        return [_rows.received_update(r) for r in rows]

    # moderation: bans and the audit trail (migration 20261203000500)

    async def record_moderation_event(self, event: NewModerationEvent) -> ModerationEvent:
        data = await self._rpc(
            "record_moderation_event",
            {
                "p_user_id": event.user_id,
                "p_source": event.source.value,
                "p_category": event.category,
                "p_created_at": ts(event.created_at),
                "p_reason": event.reason,
                "p_excerpt": event.excerpt,
                "p_admin_id": event.admin_id,
            },
        )
        return _rows.moderation_event(data)

    async def list_moderation_events(
        self, *, limit: int, before: int | None = None, user_id: int | None = None
    ) -> list[ModerationEvent]:
        rows = await self._rpc(
            "list_moderation_events", {"p_limit": limit, "p_before": before, "p_user_id": user_id}
        )
        return [_rows.moderation_event(r) for r in rows]

    async def set_user_banned(
        self, user_id: int, *, banned: bool, reason: str | None, admin_id: int, now: datetime
    ) -> BanOutcome | None:
        data = await self._rpc(
            "set_user_banned",
            {
                "p_user_id": user_id,
                "p_banned": banned,
                "p_reason": reason,
                "p_admin_id": admin_id,
                "p_now": ts(now),
            },
        )
        return None if data is None else BanOutcome(_rows.user(data["user"]), changed=bool(data["changed"]))


class SupabaseMediaStore(MediaStore):
    """Objects in a private Storage bucket. Writes spool to a temporary file (memory stays flat, the size
    cap holds, and an interrupted download uploads nothing), then upload it streamed in one request."""

    def __init__(
        self,
        client: AsyncClient,
        http: httpx.AsyncClient,
        *,
        url: str,
        service_role_key: str,
        bucket: str,
        spool_dir: Path | None = None,
    ) -> None:
        self._client = client
        self._http = http
        self._bucket_name = bucket
        self._object_url = f"{url.rstrip('/')}/storage/v1/object/{quote(bucket)}/"
        self._headers = {"apikey": service_role_key, "Authorization": f"Bearer {service_role_key}"}
        self._spool_dir = spool_dir

    @classmethod
    async def open(
        cls,
        url: str,
        service_role_key: str,
        *,
        bucket: str,
        verify: ssl.SSLContext | bool = True,
        spool_dir: Path | None = None,
    ) -> SupabaseMediaStore:
        if spool_dir is not None:
            await asyncio.to_thread(spool_dir.mkdir, parents=True, exist_ok=True)
        http = _http_client(MEDIA_TIMEOUT, verify)
        try:
            client = await _client(url, service_role_key, http)
        except BaseException:
            await http.aclose()
            raise
        return cls(
            client, http, url=url, service_role_key=service_role_key, bucket=bucket, spool_dir=spool_dir
        )

    async def close(self) -> None:
        await self._http.aclose()

    @property
    def _bucket(self) -> Any:
        return self._client.storage.from_(self._bucket_name)

    @staticmethod
    def _check(path: str) -> str:
        if not _SAFE_PATH.match(path) or ".." in path.split("/"):
            raise UnsafeMediaPathError(f"unsafe media path: {path!r}")
        return path

    async def write(
        self,
        path: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str = "video/mp4",
        max_bytes: int | None = None,
    ) -> int:
        self._check(path)
        fd, name = tempfile.mkstemp(prefix=".upload-", suffix=".part", dir=self._spool_dir)
        os.close(fd)
        spool = Path(name)
        size = 0
        try:
            async with aiofiles.open(spool, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise MediaTooLargeError(max_bytes)
                    await out.write(chunk)
            try:
                await self._bucket.upload(
                    path, spool, {"content-type": content_type, "upsert": "true", "cache-control": "3600"}
                )
            except StorageApiError as error:
                if str(error.status) == "413":
                    raise MediaTooLargeError(max_bytes or size - 1) from None
                raise StorageError(f"upload of {path} failed: {error.status} {error.message}") from None
        finally:
            await asyncio.to_thread(spool.unlink, missing_ok=True)
        return size

    async def exists(self, path: str) -> bool:
        return await self.size(path) is not None

    async def size(self, path: str) -> int | None:
        self._check(path)
        try:
            info = await self._bucket.info(path)
        except StorageApiError as error:
            if str(error.status) == "404":
                return None
            raise StorageError(f"info of {path} failed: {error.status} {error.message}") from None
        size = info.get("size")
        if size is None:
            size = (info.get("metadata") or {}).get("size")
        return None if size is None else int(size)

    async def read(self, path: str, *, chunk_size: int = 1 << 16) -> AsyncIterator[bytes]:
        """Streamed (storage3's download would hold the whole video in memory)."""
        self._check(path)
        async with self._http.stream(
            "GET", self._object_url + quote(path), headers=self._headers
        ) as response:
            if response.status_code != 200:
                await response.aread()
                if response.status_code in (400, 404) and "404" in response.text:
                    raise FileNotFoundError(path)
                raise StorageError(f"download of {path} failed: HTTP {response.status_code}")
            async for chunk in response.aiter_bytes(chunk_size):
                yield chunk

    async def delete(self, path: str) -> bool:
        self._check(path)
        try:
            removed = await self._bucket.remove([path])
        except StorageApiError as error:
            raise StorageError(f"delete of {path} failed: {error.status} {error.message}") from None
        return bool(removed)

    async def link(self, path: str, *, expires_in: int) -> str:
        self._check(path)
        try:
            signed = await self._bucket.create_signed_url(path, expires_in)
        except StorageApiError as error:
            raise StorageError(f"signing {path} failed: {error.status} {error.message}") from None
        url = signed.get("signedURL") or signed.get("signedUrl")
        if not url:
            raise StorageError(f"Storage returned no signed URL for {path}")
        return str(url)


async def probe_supabase(url: str, service_role_key: str) -> None:
    """One cheap RPC (the user with id 0, who never exists), so that an unreachable project, a refused key
    or a project without the migrations stops the start with StorageServiceError, in one line and
    without the key, instead of failing the first user's request."""
    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT) as http:
        try:
            response = await http.post(
                f"{url.rstrip('/')}/rest/v1/rpc/get_user",
                json={"p_user_id": 0},
                headers={"apikey": service_role_key, "Authorization": f"Bearer {service_role_key}"},
            )
        except httpx.HTTPError as error:
            reason = connection_reason(error)
            raise StorageServiceError(f"cannot reach Supabase at {url}: {reason}") from error
    status = f"{response.status_code} {response.reason_phrase}".strip()
    if response.status_code in (401, 403):
        raise StorageServiceError(f"Supabase at {url} refused SUPABASE_SERVICE_ROLE_KEY ({status})")
    if response.is_error:
        try:
            message = str(response.json().get("message") or "")
        except (ValueError, AttributeError):
            message = ""
        detail = f": {' '.join(message.split())[:200]}" if message else ""
        raise StorageServiceError(f"Supabase at {url} answered {status} to get_user{detail}")


async def open_supabase(
    url: str,
    service_role_key: str,
    *,
    bucket: str,
    verify: ssl.SSLContext | bool = True,
    spool_dir: Path | None = None,
) -> tuple[SupabaseStore, SupabaseMediaStore]:
    """The store and the media store of one project, each on its own HTTP client."""
    store = await SupabaseStore.open(url, service_role_key, verify=verify)
    try:
        media = await SupabaseMediaStore.open(
            url, service_role_key, bucket=bucket, verify=verify, spool_dir=spool_dir
        )
    except BaseException:
        await store.close()
        raise
    return store, media
