"""The shared provider HTTP layer against a scripted loopback server: retries, hints, caps, redirects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
from aiohttp import web

from services.http import HttpResponse, ProviderHttp, default_error, parse_retry_after
from services.providers.base import (
    ErrorKind,
    InvalidRequestError,
    RateLimitedError,
    UnauthorizedError,
    UnavailableError,
    UncertainSubmitError,
)
from storage.errors import MediaTooLargeError
from tests.fakes.sleeps import Sleeps

Script = list[Callable[[web.Request], web.StreamResponse]]


class Server:
    def __init__(self) -> None:
        self.script: Script = []
        self.seen: list[web.Request] = []
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(self.app, handler_cancellation=True)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(request)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        result = step(request)
        return await result if hasattr(result, "__await__") else result  # type: ignore[return-value]

    async def start(self, host: str = "127.0.0.1") -> str:
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, 0)
        await site.start()
        return f"http://{host}:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]


@pytest.fixture
async def server() -> AsyncIterator[tuple[Server, str]]:
    s = Server()
    url = await s.start()
    yield s, url
    await s.runner.cleanup()


def client(url: str, sleeps: Sleeps, **kw: object) -> ProviderHttp:
    return ProviderHttp(
        "acme", url + "/v1", auth_headers={"Authorization": "Bearer sk-secret"}, sleep=sleeps, **kw
    )  # type: ignore[arg-type]


def reply(
    status: int, body: object = None, headers: dict[str, str] | None = None
) -> Callable[[web.Request], web.Response]:
    return lambda _r: web.json_response(body if body is not None else {}, status=status, headers=headers)


async def test_5xx_then_success_is_retried_with_backoff(server: tuple[Server, str]) -> None:
    """A read is retried after any 5xx. (This test used to POST: a create is retried only after a 503
    now, see the tests below.)"""
    srv, url = server
    srv.script = [reply(503), reply(502), reply(200, {"id": "t1"})]
    sleeps = Sleeps()
    http = client(url, sleeps, backoff_base=1.0)
    try:
        response = await http.request("GET", "videos", params={"a": "1"})
    finally:
        await http.close()
    assert response.json() == {"id": "t1"}
    assert len(srv.seen) == 3
    assert srv.seen[0].path == "/v1/videos"
    assert srv.seen[0].headers["Authorization"] == "Bearer sk-secret"
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 1.0
    assert 0 <= sleeps[1] <= 2.0


async def test_a_create_is_sent_again_only_after_a_refusal(server: tuple[Server, str]) -> None:
    """429 and 503 say the provider took nothing: the POST goes again, and a retry-safe POST (a read
    sent as POST) is retried like a GET."""
    srv, url = server
    srv.script = [reply(429, {}, {"Retry-After": "2"}), reply(503), reply(200, {"id": "t1"})]
    sleeps = Sleeps()
    http = client(url, sleeps, backoff_base=0)
    try:
        assert (await http.request("POST", "videos", json_body={"a": 1})).json() == {"id": "t1"}
        srv.script = [reply(502), reply(200, {"data": []})]
        assert (await http.request("POST", "v1", json_body=[], idempotent=True)).json() == {"data": []}
    finally:
        await http.close()
    assert len(srv.seen) == 5 and sleeps[0] == 2.0


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_a_server_error_after_a_create_was_sent_is_uncertain(
    server: tuple[Server, str], status: int
) -> None:
    srv, url = server
    srv.script = [reply(status, {"error": {"message": "upstream died"}}), reply(200, {"id": "t2"})]
    sleeps = Sleeps()
    http = client(url, sleeps)
    try:
        with pytest.raises(UncertainSubmitError, match="upstream died") as caught:
            await http.request("POST", "videos", json_body={"a": 1})
    finally:
        await http.close()
    assert len(srv.seen) == 1 and sleeps == []
    assert caught.value.http_status == status and not caught.value.failover


async def test_a_create_that_times_out_after_sending_is_uncertain(server: tuple[Server, str]) -> None:
    """The server took the request and answers too late: never sent twice. A read is retried."""
    srv, url = server
    release = asyncio.Event()

    async def slow(_request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({"id": "late"})

    srv.script = [slow]
    sleeps = Sleeps()
    http = client(url, sleeps, read_timeout=0.2, retries=1)
    try:
        with pytest.raises(UncertainSubmitError, match="SocketTimeoutError"):
            await http.request("POST", "videos", json_body={"a": 1})
        assert len(srv.seen) == 1
        with pytest.raises(UnavailableError, match="network error"):
            await http.request("GET", "videos/1")
    finally:
        release.set()
        await http.close()
    assert len(srv.seen) == 3, "the read was sent twice"


async def test_a_create_that_could_not_connect_is_retried() -> None:
    """A refused connection never reached the provider: the create is sent again (and again fails)."""
    sleeps = Sleeps()
    http = client("http://127.0.0.1:9", sleeps, retries=2)  # nothing listens on the discard port
    try:
        with pytest.raises(UnavailableError, match="network error: ClientConnectorError"):
            await http.request("POST", "videos", json_body={"a": 1})
    finally:
        await http.close()
    assert len(sleeps) == 2


async def test_a_reset_after_sending_a_create_is_uncertain(server: tuple[Server, str]) -> None:
    srv, url = server

    async def hang_up(request: web.Request) -> web.StreamResponse:
        await request.read()
        assert request.transport is not None
        request.transport.close()  # the request arrived; the answer never leaves
        return web.Response()

    srv.script = [hang_up]
    http = client(url, Sleeps())
    try:
        with pytest.raises(UncertainSubmitError, match=r"ServerDisconnectedError|ClientOSError"):
            await http.request("POST", "videos", json_body={"a": 1})
    finally:
        await http.close()
    assert len(srv.seen) == 1


async def test_429_waits_for_retry_after_then_gives_up_typed(server: tuple[Server, str]) -> None:
    srv, url = server
    srv.script = [reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "7"})]
    sleeps = Sleeps()
    http = client(url, sleeps, retries=2)
    try:
        with pytest.raises(RateLimitedError) as caught:
            await http.request("GET", "videos/1")
    finally:
        await http.close()
    assert sleeps == [7.0, 7.0]
    assert caught.value.retry_after == 7.0
    assert caught.value.message == "slow down"
    assert "sk-secret" not in str(caught.value)


async def test_a_long_retry_hint_is_handed_back_at_once(server: tuple[Server, str]) -> None:
    srv, url = server
    srv.script = [reply(429, {}, {"Retry-After": "120"})]
    sleeps = Sleeps()
    http = client(url, sleeps)
    try:
        with pytest.raises(RateLimitedError):
            await http.request("GET", "x")
    finally:
        await http.close()
    assert sleeps == []
    assert len(srv.seen) == 1


async def test_client_errors_are_not_retried(server: tuple[Server, str]) -> None:
    srv, url = server
    srv.script = [reply(400, {"error": {"message": "bad size", "code": "invalid_value"}})]
    sleeps = Sleeps()
    http = client(url, sleeps)
    try:
        with pytest.raises(InvalidRequestError, match="bad size"):
            await http.request("POST", "videos")
    finally:
        await http.close()
    assert len(srv.seen) == 1


async def test_network_errors_become_unavailable_after_retries() -> None:
    sleeps = Sleeps()
    http = client("http://127.0.0.1:9", sleeps, retries=1)  # nothing listens on the discard port
    try:
        with pytest.raises(UnavailableError, match="network error"):
            await http.request("GET", "x")
    finally:
        await http.close()
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("status", "kind", "failover"),
    [
        (400, ErrorKind.INVALID_REQUEST, False),
        (401, ErrorKind.UNAUTHORIZED, True),
        (402, ErrorKind.OUT_OF_BALANCE, True),
        (403, ErrorKind.UNAUTHORIZED, True),
        (404, ErrorKind.NOT_FOUND, True),
        (429, ErrorKind.RATE_LIMITED, False),
        (500, ErrorKind.UNAVAILABLE, True),
        (503, ErrorKind.UNAVAILABLE, True),
    ],
)
def test_default_error_mapping(status: int, kind: ErrorKind, failover: bool) -> None:
    error = default_error("acme", HttpResponse(status, {}, b"<html>oops</html>"))
    assert error.kind is kind
    assert error.failover is failover
    assert error.message == f"HTTP {status}"


def test_retry_after_parsing() -> None:
    now = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Sun, 22 Nov 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sun, 22 Nov 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


async def body_of(size: int, request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
    await response.prepare(request)
    sent = 0
    while sent < size:
        part = min(65536, size - sent)
        await response.write(b"v" * part)
        sent += part
    await response.write_eof()
    return response


async def test_stream_follows_redirects_and_keeps_the_key_home(server: tuple[Server, str]) -> None:
    srv, url = server
    cdn = Server()
    cdn.script = [lambda r: body_of(300_000, r)]
    cdn_url = await cdn.start("127.0.0.2")
    srv.script = [
        lambda _r: web.Response(status=302, headers={"Location": f"{cdn_url}/signed/file.mp4?sig=1"})
    ]
    http = client(url, Sleeps())
    try:
        data = b"".join([c async for c in http.stream("files/abc:download", max_bytes=1_000_000)])
    finally:
        await http.close()
        await cdn.runner.cleanup()
    assert len(data) == 300_000
    assert srv.seen[0].headers["Authorization"] == "Bearer sk-secret"
    assert "Authorization" not in cdn.seen[0].headers, "a signed CDN URL never receives the API key"


async def test_stream_stops_past_the_cap(server: tuple[Server, str]) -> None:
    srv, url = server
    srv.script = [lambda r: body_of(500_000, r)]
    http = client(url, Sleeps())
    received: list[int] = []

    async def drain() -> None:
        async for chunk in http.stream("big.mp4", max_bytes=200_000):
            received.append(len(chunk))

    try:
        with pytest.raises(MediaTooLargeError):
            await drain()
    finally:
        await http.close()
    assert 0 < sum(received) <= 200_000


async def test_stream_refuses_a_declared_oversize_before_reading(server: tuple[Server, str]) -> None:
    srv, url = server
    srv.script = [reply(200, {"x": "y" * 1000})]
    http = client(url, Sleeps())
    try:
        with pytest.raises(MediaTooLargeError):
            async for _ in http.stream("small.json", max_bytes=10):
                pass
    finally:
        await http.close()


async def test_expired_download_url_is_typed(server: tuple[Server, str]) -> None:
    srv, url = server
    srv.script = [reply(403, {"error": {"message": "Request has expired"}})]
    http = client(url, Sleeps())
    try:
        with pytest.raises(Exception, match="expired") as caught:
            async for _ in http.stream("old.mp4", max_bytes=10):
                pass
    finally:
        await http.close()
    assert getattr(caught.value, "http_status", None) == 403


async def test_retry_after_is_read_whatever_its_casing(server: tuple[Server, str]) -> None:
    srv, url = server
    srv.script = [lambda _r: web.Response(status=429, headers={"retry-after": "4"})]
    sleeps = Sleeps()
    http = client(url, sleeps, retries=1)
    try:
        with pytest.raises(RateLimitedError) as caught:
            await http.request("GET", "x")
    finally:
        await http.close()
    assert sleeps == [4.0]
    assert caught.value.retry_after == 4.0


async def test_a_key_echoed_by_the_api_is_redacted(server: tuple[Server, str]) -> None:
    srv, url = server
    srv.script = [reply(401, {"error": {"message": "Incorrect API key provided: sk-secret"}})]
    http = client(url, Sleeps())
    try:
        with pytest.raises(UnauthorizedError) as caught:
            await http.request("GET", "videos")
        with pytest.raises(UnauthorizedError) as download:
            async for _ in http.stream("file.mp4", max_bytes=10):
                pass
    finally:
        await http.close()
    for error in (caught.value, download.value):
        assert "sk-secret" not in str(error)
        assert "Incorrect API key provided: ***" in str(error)
