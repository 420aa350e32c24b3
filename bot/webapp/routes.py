"""The gallery's routes on the bot's web app: the page, its static files, and the JSON API.

The page and its files are public (Telegram's client loads them before any session exists); every API
call but the texts proves its user with initData (bot/webapp/api.py). The page may load no script but
its own and Telegram's telegram-web-app.js, and talks only to this origin (Content-Security-Policy).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

from aiohttp import web

from bot.webapp import api
from bot.webapp.links import PAGE_PATH

log = logging.getLogger(__name__)

API = PAGE_PATH + "api"
#: Videos come from the local store's /media/ links (this origin) or Supabase's signed https URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' https://telegram.org; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' https:; connect-src 'self'; base-uri 'none'; form-action 'none'; object-src 'none'"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def static_dir() -> Path:
    """The page's files, shipped in the package (pyproject's package-data)."""
    return Path(str(resources.files("bot.webapp") / "static"))


async def page(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(static_dir() / "index.html", headers=_PAGE_HEADERS)


async def to_page(_request: web.Request) -> web.Response:
    raise web.HTTPPermanentRedirect(PAGE_PATH)  # the page's relative links need the trailing slash


@web.middleware
async def api_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """An API failure is a JSON answer naming no detail (the log has the traceback, never initData)."""
    if not request.path.startswith(API):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return api.refuse(error.status, "not_found" if error.status == 404 else "bad_request")
    except Exception:
        log.exception("gallery API %s %s failed", request.method, request.match_info.route.resource)
        return api.refuse(500, "internal")


def mount(app: web.Application, services: api.WebAppServices) -> None:
    """Add the gallery to the bot's web app (bot/web.py)."""
    app[api.WEBAPP] = services
    app.middlewares.append(api_errors)
    router = app.router
    router.add_get(PAGE_PATH.rstrip("/"), to_page)
    router.add_get(PAGE_PATH, page)
    router.add_static(PAGE_PATH + "static/", static_dir(), append_version=False)
    router.add_get(f"{API}/texts", api.texts)
    router.add_get(f"{API}/me", api.me)
    router.add_get(f"{API}/generations", api.list_generations)
    router.add_get(API + "/generations/{id}", api.get_generation)
    router.add_delete(API + "/generations/{id}", api.delete)
    router.add_get(API + "/generations/{id}/quote", api.quote)
    router.add_post(API + "/generations/{id}/regenerate", api.regenerate)
    router.add_post(API + "/generations/{id}/send", api.send_to_chat)
    router.add_post(f"{API}/generate", api.offer_generate)
