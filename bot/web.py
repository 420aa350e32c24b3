"""The aiohttp web app: provider callbacks, local media links and a health check.

Callbacks are authenticated twice where the provider allows it: by the secret path token in the URL we
gave the provider (Runware signs nothing) and by the adapter's own check (KIE's HMAC, OpenAI's Standard
Webhooks signature). A genuine callback is answered 200 at once and worked in the background through
the same code path as a poll; anything else gets 404/401/400 and changes nothing.
"""

from __future__ import annotations

import asyncio
import hmac
import logging

from aiogram.types import Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.webapp import routes as gallery_routes
from bot.webapp.api import WebAppServices
from services.poller import Poller
from services.providers.base import CallbackRejected
from services.providers.registry import Providers
from services.settings import Settings
from storage.errors import StorageError
from storage.interfaces import MediaStore, UserStore
from storage.local_media import LocalMediaStore

log = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = 1 << 20

POLLER = web.AppKey("poller", Poller)
PROVIDERS = web.AppKey("providers", Providers)
SETTINGS = web.AppKey("settings", Settings)
MEDIA = web.AppKey("media", MediaStore)
#: A dependency that takes longer than this to answer the health check counts as down.
HEALTH_TIMEOUT_SECONDS = 3.0


def build_web_app(
    *,
    poller: Poller,
    providers: Providers,
    settings: Settings,
    media: MediaStore,
    gallery: WebAppServices | None = None,
    store: UserStore | None = None,
    redis: Redis | None = None,
) -> web.Application:
    """The web app; with `gallery`, also the /library Mini App under /webapp/ (bot/webapp/)."""
    app = web.Application(client_max_size=MAX_CALLBACK_BYTES)
    app[POLLER] = poller
    app[PROVIDERS] = providers
    app[SETTINGS] = settings
    app[MEDIA] = media
    app[HEALTH] = Health(store, redis)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/callbacks/{provider}/{token}", provider_callback)
    if isinstance(media, LocalMediaStore):
        app.router.add_get("/media/{path:.+}", media_file)
    if gallery is not None:
        gallery_routes.mount(app, gallery)
    return app


class Health:
    """What /healthz reports: whether the store and Redis answer now. A load balancer takes a replica
    that cannot reach them out of rotation (503); a change of either is logged once, not every probe."""

    def __init__(self, store: UserStore | None, redis: Redis | None) -> None:
        self._store = store
        self._redis = redis
        self._last: dict[str, str] = {}

    async def report(self) -> dict[str, str]:
        """{"store": "ok" | "error", "redis": "ok" | "error" | "unused"} ("unchecked": an app built
        without its store, in tests)."""
        store, redis = await asyncio.gather(self._check_store(), self._check_redis())
        states = {"store": store, "redis": redis}
        for name, state in states.items():
            before = self._last.get(name)
            if state == "error" and before != "error":
                log.warning("health: %s does not answer", name)
            elif state == "ok" and before == "error":
                log.info("health: %s answers again", name)
            self._last[name] = state
        return states

    async def _check_store(self) -> str:
        if self._store is None:
            return "unchecked"
        try:
            await asyncio.wait_for(self._store.get_user(0), HEALTH_TIMEOUT_SECONDS)  # nobody is user 0
        except Exception:  # whatever the backend's client raises (httpx, sqlite3, a timeout): down
            return "error"
        return "ok"

    async def _check_redis(self) -> str:
        if self._redis is None:
            return "unused"
        try:
            await asyncio.wait_for(self._redis.ping(), HEALTH_TIMEOUT_SECONDS)
        except (RedisError, OSError, TimeoutError):
            return "error"
        return "ok"


HEALTH = web.AppKey("health", Health)


async def healthz(request: web.Request) -> web.Response:
    states = await request.app[HEALTH].report()
    down = "error" in states.values()
    return web.json_response(states, status=503 if down else 200)


async def provider_callback(request: web.Request) -> web.Response:
    """Callbacks of configured providers whose descriptor accepts them (their adapters parse them)."""
    provider = request.match_info["provider"]
    providers = request.app[PROVIDERS]
    expected = request.app[SETTINGS].callback_token(provider)
    # bytes: compare_digest refuses a str with non-ASCII characters (a TypeError, answered 500)
    token_ok = hmac.compare_digest(request.match_info["token"].encode(), expected.encode())
    if not token_ok or not providers.accepts_callback(provider):
        raise web.HTTPNotFound()
    body = await request.read()
    try:
        event = providers.for_key(provider).parse_callback(request.headers, body)
    except CallbackRejected as error:
        log.warning("%s callback rejected: %s", provider, error)
        raise web.HTTPUnauthorized(text="rejected") from None
    except ValueError as error:  # a malformed body the adapter could not read
        log.warning("%s callback unreadable: %s", provider, error)
        raise web.HTTPBadRequest(text="unreadable") from None
    request.app[POLLER].accept_callback(provider, event.task_id)  # the poller re-reads the task
    return web.json_response({"ok": True})


async def media_file(request: web.Request) -> web.StreamResponse:
    """A stored video behind an expiring HMAC link (the embedded backend's signed URL)."""
    media = request.app[MEDIA]
    assert isinstance(media, LocalMediaStore)
    path = request.match_info["path"]
    try:
        expires = int(request.query.get("exp", ""))
    except ValueError:
        raise web.HTTPForbidden() from None
    if not media.verify_link(path, expires, request.query.get("sig", "")):
        raise web.HTTPForbidden()
    try:
        target = media.resolve(path)
    except StorageError:
        raise web.HTTPForbidden() from None
    if not target.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(target, headers={"Content-Type": "video/mp4", "Cache-Control": "private"})


class WebhookHandler(SimpleRequestHandler):
    """aiogram's webhook endpoint, except that a body with the right secret that is not an update (bad
    JSON, not an object, not an Update) is answered 400 instead of a 500 and a traceback."""

    async def handle(self, request: web.Request) -> web.Response:
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if self.verify_secret(secret, self.bot):  # a wrong secret learns nothing about the body
            try:
                Update.model_validate(self.bot.session.json_loads(await request.text()))
            except ValueError:  # JSONDecodeError, UnicodeDecodeError and pydantic's ValidationError
                log.warning("webhook request with the right secret but no update in its body")
                return web.Response(status=400, text="not an update")
        return await super().handle(request)  # aiohttp keeps the body for the second read


async def start_web_app(app: web.Application, *, host: str, port: int) -> web.AppRunner:
    # No access log: request paths carry secrets (callback tokens, signed media links, the webhook path);
    # every event that matters is logged once by the code that handles it.
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
