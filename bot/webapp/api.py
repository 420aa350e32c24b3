"""The gallery's JSON API: the user's generations and the chat's actions on them, over HTTP.

Every endpoint but the public texts runs behind `authenticated`: the caller is the Telegram user whose
initData checks out (bot/webapp/auth.py), and everything after that is scoped to them through the same
services the chat's /library uses. `Library.own` gives a generation only to its owner (a foreign id is a
404, the same as an unknown one); `Library.page` pages by keyset; `Library.hide` deletes; a regenerate
is one `GenerationService.create` with a request key the page makes per confirmation, so a double tap or
a retried request orders (and debits) once. The endpoints only translate: texts are formatted here in
the user's stored language, so the page never composes a sentence or a plural itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiohttp import web
from pydantic import ValidationError

from bot.callbacks import MenuAction
from bot.delivery import VideoSender
from bot.formatting import when
from bot.i18n import LANGUAGES, Texts, Translator
from bot.notices import order_text, replace_or_send
from bot.webapp.auth import InitDataRejected, WebAppSession, init_data_from_header, verify_init_data
from services.catalog import SOURCE_MODES
from services.generations import GenerationService, Invalid, LimitReached
from services.library import Library, deletable
from services.notices import Notices
from services.settings import Settings
from services.users import Users
from services.video_request import VideoRequest
from services.wallet import Wallet
from storage.errors import StorageError
from storage.interfaces import MediaStore
from storage.records import (
    ACTIVE_STATUSES,
    Generation,
    GenerationCreated,
    GenerationStatus,
    InsufficientFunds,
    NoticeKind,
    notice_key,
)

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: A keyset cursor as the page passes it back: "<created_at in µs since the epoch>.<generation id>".
_CURSOR = re.compile(r"(\d{1,17})\.([0-9a-f]{32})")
#: The page's key for one regenerate confirmation (32 hex characters, crypto.getRandomValues).
_ORDER_KEY = re.compile(r"[0-9a-f]{32}")
#: Largest JSON body an endpoint reads (a key and a price).
MAX_BODY_BYTES = 1024

#: What the page shows, by the name its script uses → the message id (several are the chat's own words).
PAGE_TEXTS = {
    "title": "webapp-title",
    "unauthorized": "webapp-unauthorized",
    "error": "webapp-error",
    "retry": "webapp-retry",
    "empty": "library-empty",
    "generate": "menu-generate",
    "send": "webapp-send",
    "regenerate": "library-button-regenerate",
    "regenerateConfirm": "webapp-regenerate-confirm",
    "delete": "library-button-delete",
    "deleteConfirm": "library-delete-confirm",
    "deleteYes": "library-button-delete-yes",
    "deleteNo": "library-button-delete-no",
    "cancel": "webapp-cancel",
    "end": "webapp-end",
}


@dataclass(frozen=True, slots=True)
class WebAppServices:
    """What the gallery's endpoints work with: the composition root's services and the bot that sends.

    `media` only signs links to stored videos (the local store's /media/ links, Supabase's signed URLs);
    `clock` is Unix time for the initData freshness check.
    """

    settings: Settings
    translator: Translator
    library: Library
    generations: GenerationService
    wallet: Wallet
    users: Users
    notices: Notices
    media: MediaStore
    bot: Bot
    video_sender: VideoSender
    clock: Callable[[], float] = time.time


WEBAPP = web.AppKey("webapp", WebAppServices)


@dataclass(frozen=True, slots=True)
class Caller:
    """The checked session and the texts of the user's language."""

    session: WebAppSession
    t: Texts

    @property
    def user_id(self) -> int:
        return self.session.user_id


Endpoint = Callable[[web.Request, WebAppServices, Caller], Awaitable[web.Response]]


def answer(status: int, **body: Any) -> web.Response:
    """A JSON answer that no cache keeps (it is one user's data)."""
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


def refuse(status: int, error: str, message: str | None = None) -> web.Response:
    return answer(status, error=error, **({} if message is None else {"message": message}))


def authenticated(endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Run `endpoint` for the user whose initData checks out; anyone else gets the same bare 401."""

    async def checked(request: web.Request) -> web.Response:
        services = request.app[WEBAPP]
        settings = services.settings
        try:
            session = verify_init_data(
                init_data_from_header(request.headers.get("Authorization")),
                bot_token=settings.bot_token.get_secret_value(),
                max_age_seconds=settings.webapp_auth_max_age_seconds,
                now=services.clock(),
            )
        except InitDataRejected as rejected:
            log.debug("gallery request refused: initData %s", rejected)
            return refuse(401, "unauthorized")
        stored = await services.users.language(session.user_id)
        lang = stored if stored in LANGUAGES else services.translator.pick(session.language_code)
        return await endpoint(request, services, Caller(session, services.translator.bind(lang)))

    return checked


# ------------------------------------------------------------------ what the page shows


def page_texts(t: Texts) -> dict[str, str]:
    return {name: t(key) for name, key in PAGE_TEXTS.items()}


def cursor_of(generation: Generation) -> str:
    micros = (generation.created_at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}.{generation.id}"


def parse_cursor(raw: str) -> tuple[datetime, str] | None:
    matched = _CURSOR.fullmatch(raw)
    if matched is None:
        return None
    try:
        return EPOCH + timedelta(microseconds=int(matched[1])), matched[2]
    except OverflowError:
        return None


def regeneration(generations: GenerationService, generation: Generation) -> VideoRequest | None:
    """The request to make this video again as it was ordered, if the catalog still takes it as is.

    An extend or remix made again would have to go to the provider of its source: the chat's wizard
    handles that, the gallery does not offer it.
    """
    if generation.mode in SOURCE_MODES or generations.offer(generation.model) is None:
        return None
    try:
        request = VideoRequest.model_validate(generation.request)
    except ValidationError:  # a request stored under an older shape
        return None
    return None if generations.check(request) else request


async def video_link(services: WebAppServices, generation: Generation) -> str | None:
    """A signed, expiring link to the stored video, or None when it is gone or cannot be linked."""
    if generation.result_path is None or generation.media_expired_at is not None:
        return None
    try:
        return await services.media.link(
            generation.result_path, expires_in=services.settings.media_link_ttl_seconds
        )
    except StorageError as error:
        log.warning("gallery: no link to the video of generation %s: %s", generation.id, error)
        return None


def failure_reason(t: Texts, generation: Generation) -> str:
    key = f"failure-{generation.error_code}"
    return t(key if t.translator.has(t.lang, key) else "failure-provider_failed")


async def describe(services: WebAppServices, t: Texts, generation: Generation) -> dict[str, Any]:
    """One card of the gallery: status badge, what happened (the reason and the refund), the signed
    video link, and which actions the chat would offer on it."""
    status = generation.status
    url = await video_link(services, generation)
    detail = None
    if status in ACTIVE_STATUSES:
        state = "progress"
    elif url is not None:
        state = "ready"  # a video that arrived after its refund is the user's, free
    elif status is GenerationStatus.FAILED:
        state = "failed"
        detail = failure_reason(t, generation) + "\n" + t("failure-refund", credits=generation.cost)
    elif status is GenerationStatus.CANCELLED:
        state = "cancelled"
        detail = t("cancel-done", credits=generation.cost)
    else:
        state = "expired"
        detail = t("library-unavailable")
    request = regeneration(services.generations, generation)
    price = None if request is None else services.generations.price(request)
    return {
        "id": generation.id,
        "state": state,
        "status": status.value,
        "badge": t("webapp-expired") if state == "expired" else t("library-status", status=status.value),
        "detail": detail,
        "progress": generation.progress if state == "progress" else None,
        "model": services.generations.model_name(generation.model),
        "date": when(generation.created_at),
        "prompt": generation.prompt,
        "video": url,
        "canSend": generation.file_id is not None or url is not None,
        "canDelete": deletable(generation),
        "regenerate": None
        if price is None
        else {"price": price, "label": t("wizard-pay-credits", price=price)},
    }


async def balance_text(services: WebAppServices, caller: Caller) -> str:
    return caller.t("balance", balance=await services.wallet.balance(caller.user_id))


# ------------------------------------------------------------------ endpoints


async def texts(request: web.Request) -> web.Response:
    """The page's words in a language, before any session: for saying that the session is refused."""
    translator = request.app[WEBAPP].translator
    lang = translator.pick(request.query.get("lang"))
    return web.json_response(
        {"lang": lang, "texts": page_texts(translator.bind(lang))}, headers={"Cache-Control": "no-cache"}
    )


@authenticated
async def me(request: web.Request, services: WebAppServices, caller: Caller) -> web.Response:
    return answer(
        200, lang=caller.t.lang, texts=page_texts(caller.t), balance=await balance_text(services, caller)
    )


@authenticated
async def list_generations(request: web.Request, services: WebAppServices, caller: Caller) -> web.Response:
    """A page of the user's library, newest first; `before` is the last card's cursor (infinite scroll)."""
    raw = request.query.get("before")
    if raw is None:
        page = await services.library.page(caller.user_id)
        rows, more = page.rows, page.older
    else:
        cursor = parse_cursor(raw)
        if cursor is None:
            return refuse(400, "bad_cursor")
        page = await services.library.page(caller.user_id, before=cursor)
        # rows deleted meanwhile send Library.page back to the first page: nothing older, then
        rows = [g for g in page.rows if (g.created_at, g.id) < cursor]
        more = page.older and len(rows) == len(page.rows)
    items = await asyncio.gather(*(describe(services, caller.t, g) for g in rows))
    next_cursor = cursor_of(rows[-1]) if more and rows else None
    return answer(200, items=list(items), next=next_cursor)


async def own(request: web.Request, services: WebAppServices, caller: Caller) -> Generation | None:
    return await services.library.own(request.match_info["id"], caller.user_id)


def not_found(caller: Caller) -> web.Response:
    return refuse(404, "not_found", caller.t("library-not-found"))


@authenticated
async def get_generation(request: web.Request, services: WebAppServices, caller: Caller) -> web.Response:
    generation = await own(request, services, caller)
    if generation is None:
        return not_found(caller)
    return answer(200, item=await describe(services, caller.t, generation))


@authenticated
async def quote(request: web.Request, services: WebAppServices, caller: Caller) -> web.Response:
    """What making it again costs now, and the confirmation to show before any money moves."""
    generation = await own(request, services, caller)
    if generation is None:
        return not_found(caller)
    request_ = regeneration(services.generations, generation)
    price = None if request_ is None else services.generations.price(request_)
    if price is None:
        return refuse(409, "unavailable", caller.t("webapp-regenerate-unavailable"))
    t = caller.t
    text = "\n".join(
        (
            t("webapp-regenerate-confirm"),
            t("wizard-summary-price", price=price),
            await balance_text(services, caller),
        )
    )
    return answer(200, price=price, text=text, button=t("wizard-pay-credits", price=price))


async def json_body(request: web.Request) -> dict[str, Any] | None:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return None
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        return None
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


@authenticated
async def regenerate(request: web.Request, services: WebAppServices, caller: Caller) -> web.Response:
    """Order the same video again at the price the user confirmed: one debit per confirmation key.

    The chat's rules: the catalog checks the request, GenerationService prices and debits it with the
    row in one step (limits, balance), and the order's notice goes to the chat. A price that changed
    since the confirmation orders nothing; the page shows the new one.
    """
    body = await json_body(request)
    key, confirmed = (body or {}).get("key"), (body or {}).get("price")
    if not isinstance(key, str) or not _ORDER_KEY.fullmatch(key) or type(confirmed) is not int:
        return refuse(400, "bad_request")
    generation = await own(request, services, caller)
    if generation is None:
        return not_found(caller)
    t, generations = caller.t, services.generations
    request_ = regeneration(generations, generation)
    price = None if request_ is None else generations.price(request_)
    if request_ is None or price is None:
        return refuse(409, "unavailable", t("webapp-regenerate-unavailable"))
    if price != confirmed:
        return answer(409, error="price_changed", message=t("webapp-price-changed"), price=price)
    chat_id = caller.user_id  # the user's private chat with the bot, where the gallery is opened
    result = await generations.create(
        user_id=caller.user_id,
        chat_id=chat_id,
        request=request_,
        request_key=f"webapp:{caller.user_id}:{key}",
    )
    if isinstance(result, InsufficientFunds):
        message = t(
            "insufficient-funds", price=result.required, balance=result.balance, shortfall=result.shortfall
        )
        return refuse(402, "insufficient_funds", message)
    if isinstance(result, LimitReached):
        return refuse(429, "limit", t(f"wizard-limit-{result.kind}", limit=result.limit))
    if isinstance(result, Invalid) or not isinstance(result, GenerationCreated):
        return refuse(409, "unavailable", t("webapp-regenerate-unavailable"))
    placed = result.generation
    text = order_text(t, placed, balance=result.balance, model=generations.model_name(placed.model))
    try:  # the order's notice, as after the chat's pay button; the outbox retries it if this fails
        await services.notices.send_now(
            notice_key(NoticeKind.ORDER, placed.id),
            partial(replace_or_send, services.bot, chat_id, None, text),
        )
    except TelegramAPIError as error:  # the order stands; the outbox tells about it later
        log.warning("gallery: order notice of %s not sent now: %s", placed.id, type(error).__name__)
    return answer(
        201 if result.new else 200,
        item=await describe(services, t, placed),
        balance=t("balance", balance=result.balance),
        message=t("webapp-regenerate-started"),
    )


@authenticated
async def send_to_chat(request: web.Request, services: WebAppServices, caller: Caller) -> web.Response:
    """The video into the user's chat, as the chat's "open" sends it: by Telegram file_id, else uploaded
    from the media store (its new file_id kept for next time)."""
    generation = await own(request, services, caller)
    if generation is None:
        return not_found(caller)
    t, chat_id = caller.t, caller.user_id
    model = services.generations.model_name(generation.model)
    sender = services.video_sender
    try:
        if generation.file_id is not None:
            try:
                caption = sender.caption(generation, lang=t.lang, model=model)
                await services.bot.send_video(chat_id, generation.file_id, caption=caption)
                return answer(200, message=t("webapp-sent"))
            except TelegramBadRequest as error:
                log.warning(
                    "file_id of generation %s refused (%s); trying the stored file", generation.id, error
                )
        video = await services.library.stored_video(generation)
        if video is None:
            return refuse(410, "unavailable", t("library-unavailable"))
        addressed = dataclasses.replace(generation, chat_id=chat_id)
        file_id = await sender.send(addressed, video, lang=t.lang, model=model)
    except TelegramAPIError as error:
        log.warning("gallery: generation %s not sent to the chat: %s", generation.id, type(error).__name__)
        return refuse(502, "telegram", t("webapp-send-failed"))
    if file_id is not None:
        await services.library.remember_file_id(generation, file_id)
    return answer(200, message=t("webapp-sent"))


@authenticated
async def delete(request: web.Request, services: WebAppServices, caller: Caller) -> web.Response:
    """Hide it from the library and delete the stored video, as the chat's delete does."""
    generation = await own(request, services, caller)
    if generation is None:
        return not_found(caller)
    if await services.library.hide(generation.id, caller.user_id) is None:
        return refuse(409, "not_deletable", caller.t("library-delete-refused"))
    return answer(200, message=caller.t("library-deleted"))


@authenticated
async def offer_generate(request: web.Request, services: WebAppServices, caller: Caller) -> web.Response:
    """The empty gallery's "new video": a message in the chat whose button opens the chat's wizard."""
    t = caller.t
    button = InlineKeyboardButton(text=t("menu-generate"), callback_data=MenuAction(action="generate").pack())
    try:
        await services.bot.send_message(
            caller.user_id,
            t("webapp-generate-message"),
            reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]),
        )
    except TelegramAPIError as error:
        log.warning("gallery: no generate button sent to user %s: %s", caller.user_id, type(error).__name__)
        return refuse(502, "telegram", t("webapp-send-failed"))
    return answer(200, message=t("webapp-generate-sent"))
