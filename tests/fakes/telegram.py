"""A fake Telegram Bot API server on loopback, reached by a real aiogram `Bot` through TELEGRAM_API_URL.

Tests run the bot's real HTTP client against it, so it has to answer the way Telegram does
(reference/telegram.md §2.1-2.3, §3, §6.3), not the way the bot hopes it does:

* wire format: `POST /bot{token}/{method}` with urlencoded, multipart or JSON bodies (GET and query
  strings too), method names case-insensitive, every value a string and objects JSON-encoded;
  `{"ok": true, "result": ...}` on success and `{"ok": false, "error_code": N, "description": ...,
  "parameters": {...}}` with HTTP status N on failure, because aiogram maps exceptions by status;
* Telegram's checks and exact error texts for what the bot uses: text and caption lengths, "message is
  not modified", unknown messages, callback_data bytes, file ids, the upload limit (413) and the
  download limit of getFile;
* state a test can assert on: every call (`requests`, `calls_of`, `wait_for`), the messages of every
  chat as last sent or edited (`messages`), stored files (`files`, downloadable at
  `/file/bot{token}/{file_path}`), bot commands per scope and language, callback answers;
* a user side (`send_text`, `send_user_message`, `press`, `add_user_file`, `pay`, `charge`) that queues
  updates for the long-polling getUpdates, or pushes them to a webhook (`deliver_by_webhook`: several
  replicas behind one URL, Telegram's retries, `redeliver`), and scripted trouble (`fail_next`, `block`,
  `on_confirm`, `hold`);
* the bot's Stars: charges, refunds and their transactions (getStarTransactions).

Deliberately not simulated: flood limits by rate (inject 429s with `fail_next` instead), HTML/Markdown
parsing (texts are stored and measured as sent), chats the user never opened, inline messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import io
import itertools
import json
import mimetypes
import re
import secrets
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Literal, TypeVar
from unittest import mock

import aiogram.client.session.aiohttp as aiogram_aiohttp
import aiohttp
from aiogram.client.session.aiohttp import AiohttpSession
from aiohttp import BodyPartReader, hdrs, web
from PIL import Image, UnidentifiedImageError

BOT_ID = 123456789
BOT_USER: dict[str, Any] = {"id": BOT_ID, "is_bot": True, "first_name": "Video Bot", "username": "video_bot"}

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER = 200
DEFAULT_UPLOAD_LIMIT = 50 * 1024 * 1024  # multipart uploads of non-photo files (§2.1)
DEFAULT_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile (§2.1)
LONG_POLL_MAX_TIMEOUT = 50.0  # the server caps getUpdates' timeout (§3.1)
READ_CHUNK = 64 * 1024

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
WRONG_FILE_ID = "Bad Request: wrong file identifier/HTTP URL specified"
#: Telegram's deadline for answerPreCheckoutQuery.
PRE_CHECKOUT_SECONDS = 10
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
BLOCKED = "Forbidden: bot was blocked by the user"
CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: Telegram gives up on delivering an update after 24 hours; the fake much sooner.
WEBHOOK_GIVE_UP_SECONDS = 60.0
#: The pause after every target refused an update, before the next round of attempts.
WEBHOOK_RETRY_SECONDS = 0.2

#: Parameters whose value is a JSON-serialized object or array on the wire (from the Bot API schema);
#: `ApiCall.params` holds them decoded. `photo`/`sticker` are also file parameters, so only values that
#: look like JSON (start with `{` or `[`) are decoded.
JSON_PARAMS = frozenset(
    {
        "accepted_gift_types", "added_user_ids", "allowed_updates", "areas", "button", "caption_entities",
        "checklist", "commands", "content", "correct_option_ids", "country_codes", "custom_emoji_ids",
        "description_entities", "emoji_list", "entities", "errors", "explanation_entities",
        "explanation_media", "keywords", "link_preview_options", "mask_position", "media", "menu_button",
        "message_ids", "options", "permissions", "photo", "prices", "question_entities", "reaction",
        "reply_markup", "reply_parameters", "result", "results", "rich_message", "rights", "scope",
        "shipping_options", "sticker", "stickers", "suggested_post_parameters", "suggested_tip_amounts",
        "text_entities",
    }
)  # fmt: skip
#: What getUpdates delivers until the bot asks for something else (Bot API #getupdates).
DEFAULT_ALLOWED_UPDATES = frozenset(
    {
        "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
        "business_message", "edited_business_message", "deleted_business_messages", "inline_query",
        "chosen_inline_result", "callback_query", "shipping_query", "pre_checkout_query",
        "purchased_paid_media", "poll", "poll_answer", "my_chat_member", "chat_join_request",
        "chat_boost", "removed_chat_boost",
    }
)  # fmt: skip
CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
        "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
    }
)  # fmt: skip
BOT_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
#: Method prefixes a blocked user refuses (the ones that write into the chat).
CHAT_WRITING_PREFIXES = ("send", "edit", "copy", "forward")

FileKind = Literal["video", "document", "photo"]
#: Telegram refuses a file_id of another class ("can't use file of type Video as Photo"); videos and
#: documents share a class, photos are their own.
FILE_CLASS: dict[FileKind, str] = {"video": "document", "document": "document", "photo": "photo"}
T = TypeVar("T")


class ApiError(Exception):
    """A Bot API refusal: becomes `{"ok": false, ...}` with HTTP status `code`."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass
class SentMessage:
    """A successful sendMessage, queued on `FakeTelegram.sent` for tests that await the next reply."""

    chat_id: int
    text: str
    params: dict[str, Any] = field(default_factory=dict)
    message_id: int = 0


@dataclass
class UploadedFile:
    """One file part of a multipart request, as received."""

    name: str
    filename: str
    content_type: str
    size: int
    data: bytes = field(repr=False)


@dataclass
class ApiCall:
    """One Bot API request as the fake answered it.

    `method` is the canonical camelCase name for known methods (else as sent). `params` maps each
    parameter to its wire string, except JSON-typed ones (`JSON_PARAMS`), which are decoded. A call is
    recorded once answered, together with the state it changed; `error_code` is None on success.
    """

    method: str
    params: dict[str, Any] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)
    error_code: int | None = None
    description: str | None = None
    result: Any = None

    @property
    def ok(self) -> bool:
        return self.error_code is None

    def __str__(self) -> str:
        shown = ", ".join(f"{k}={str(v)[:40]!r}" for k, v in self.params.items())
        outcome = "ok" if self.ok else f"{self.error_code} {self.description}"
        return f"{self.method}({shown}) -> {outcome}"


@dataclass
class StoredFile:
    """A file Telegram holds: uploaded by the bot, fetched from a URL, or sent by a user."""

    file_id: str
    file_unique_id: str
    kind: FileKind
    size: int
    mime_type: str
    file_path: str
    data: bytes = field(repr=False)
    file_name: str | None = None
    url: str | None = None
    #: The Video / Document / PhotoSize JSON that messages carrying this file show.
    media: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Failure:
    method: str  # lowercased
    error_code: int
    description: str
    retry_after: int | None
    remaining: int
    chat_id: int | None
    applied: bool = False


@dataclass
class _Hold:
    released: asyncio.Event
    remaining: int | None


@dataclass(frozen=True)
class WebhookDelivery:
    """One attempt to push an update to a webhook target: the HTTP status, None when no answer came."""

    update_id: int
    target: str
    status: int | None


Handler = Callable[[ApiCall], Awaitable[Any]]


class FakeTelegram:
    """The fake Bot API server; `start()` binds it to 127.0.0.1 on a free port and sets `url`."""

    def __init__(
        self,
        token: str,
        *,
        upload_limit_bytes: int = DEFAULT_UPLOAD_LIMIT,
        download_limit_bytes: int = DEFAULT_DOWNLOAD_LIMIT,
    ) -> None:
        self.token = token
        self.upload_limit_bytes = upload_limit_bytes
        self.download_limit_bytes = download_limit_bytes
        self.url = ""
        #: Unconfirmed updates; getUpdates drops those below its offset, like Telegram.
        self.updates: list[dict[str, Any]] = []
        #: Updates the bot's allowed_updates excluded, so they were never queued.
        self.filtered_updates: list[dict[str, Any]] = []
        self.allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self.sent: asyncio.Queue[SentMessage] = asyncio.Queue()
        #: Method names of every request with the right token, in arrival order.
        self.calls: list[str] = []
        self.requests: list[ApiCall] = []
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.files: dict[str, StoredFile] = {}
        #: Bot commands by (scope as canonical JSON, language_code); see `my_commands`.
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        #: setWebhook's parameters while a webhook is set (getUpdates then answers 409, as Telegram does).
        self.webhook: dict[str, Any] | None = None
        self.callback_queries: dict[str, dict[str, Any]] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.blocked: set[int] = set()
        self.downloads: list[str] = []
        #: Stars payments: invoice payloads by (chat, message), pre-checkout answers by query id, and
        #: charges by telegram_payment_charge_id.
        self.invoice_payloads: dict[tuple[int, int], str] = {}
        self.pre_checkout_answers: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        #: The bot's Stars transactions, oldest first, as getStarTransactions lists them.
        self.star_transactions: list[dict[str, Any]] = []
        #: Update ids confirmed by a getUpdates offset, in order; `on_confirm` is called with each one
        #: before that getUpdates is answered (a test can kill the bot right there).
        self.confirmed: list[int] = []
        self.on_confirm: Callable[[dict[str, Any]], Awaitable[None] | None] | None = None
        self._charge_numbers = itertools.count(1)
        self._failures: list[_Failure] = []
        self._changed = asyncio.Condition()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._file_numbers = itertools.count(1)
        self._query_ids = itertools.count(1)
        #: getUpdates long polls being held right now: 1 means the bot is idle, waiting for updates.
        self.polls_waiting = 0
        self._poll_generation = 0
        self._runner: web.AppRunner | None = None
        #: Webhook mode (`deliver_by_webhook`): the replicas behind the webhook URL, the updates pushed
        #: (by id), every delivery attempt in order, and each user's next replica.
        self.webhook_targets: list[str] = []
        self.pushed: dict[int, dict[str, Any]] = {}
        self.deliveries: list[WebhookDelivery] = []
        self._turns: Counter[int] = Counter()
        self._delivering: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None
        #: Calls left unanswered by `hold`, by lowercased method: waiting now, and the most at once.
        self.held: Counter[str] = Counter()
        self.max_held: Counter[str] = Counter()
        self._holds: dict[str, _Hold] = {}
        self._methods: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "deleteWebhook": self._delete_webhook,
                "setWebhook": self._set_webhook,
                "getUpdates": self._get_updates,
                "sendMessage": self._send_message,
                "editMessageText": self._edit_message_text,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "deleteMessage": self._delete_message,
                "answerCallbackQuery": self._answer_callback_query,
                "setMyCommands": self._set_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "getMyCommands": self._get_my_commands,
                "sendChatAction": self._send_chat_action,
                "sendVideo": self._send_video,
                "sendDocument": self._send_document,
                "sendPhoto": self._send_photo,
                "getFile": self._get_file,
                "sendInvoice": self._send_invoice,
                "answerPreCheckoutQuery": self._answer_pre_checkout_query,
                "refundStarPayment": self._refund_star_payment,
                "getStarTransactions": self._get_star_transactions,
            }.items()
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self, port: int = 0) -> None:
        """Serve on 127.0.0.1:`port`, a free one by default. After `close()`, `start(port)` brings the same
        fake, with its state, back where the bot expects it: a Telegram outage in a test."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, handler_cancellation=True)  # a dropped long poll ends at once
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        for task in self._delivering:
            task.cancel()
        if self._delivering:
            await asyncio.wait(self._delivering)
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ assertions

    def calls_of(self, method: str) -> list[ApiCall]:
        """The answered calls of `method` (case-insensitive), oldest first."""
        wanted = method.lower()
        return [call for call in self.requests if call.method.lower() == wanted]

    async def wait_for(self, predicate: Callable[[FakeTelegram], T], timeout: float = 10) -> T:  # noqa: ASYNC109
        """Wait until `predicate(self)` is truthy and return its value; re-checked on every change.

        Changes are answered calls and user-side updates, so no polling sleeps are involved.
        """
        async with self._changed:
            try:
                return await asyncio.wait_for(self._changed.wait_for(lambda: predicate(self)), timeout)
            except TimeoutError:
                last = "\n  ".join(str(call) for call in self.requests[-10:]) or "(none)"
                name = getattr(predicate, "__qualname__", repr(predicate))
                raise TimeoutError(
                    f"FakeTelegram.wait_for: {name} still false after {timeout}s; "
                    f"{len(self.requests)} calls answered, the last ones:\n  {last}"
                ) from None

    def messages_in(self, chat_id: int) -> list[dict[str, Any]]:
        """The chat's current messages (bot's and user's), oldest first."""
        found = [(mid, m) for (cid, mid), m in self.messages.items() if cid == chat_id]
        return [m for _, m in sorted(found, key=lambda item: item[0])]

    def my_commands(self, *, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict]:
        """The commands set for this scope and language (exact match, as getMyCommands answers)."""
        return list(self.commands.get((_scope_key(scope), language_code), []))

    def unanswered(self) -> list[str]:
        """Callback queries the bot never answered (Telegram shows the user a spinner until it does)."""
        return [q for q in self.callback_queries if q not in self.callback_answers]

    def answered(self, callback_query_id: str) -> bool:
        return callback_query_id in self.callback_answers

    # ------------------------------------------------------------------ scripted trouble

    def fail_next(
        self,
        method: str,
        *,
        error_code: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | None = None,
        applied: bool = False,
    ) -> None:
        """Make the next `times` calls of `method` (only to `chat_id` if given) fail with this error.

        With `applied` the call is carried out first (the message is in the chat) and only its answer is
        the error: a 5xx or a lost answer after Telegram did it.

        Without a description, 429 reads "Too Many Requests: retry after N" like Telegram's; a
        retry_after always goes out as `parameters.retry_after`, which aiogram turns into
        TelegramRetryAfter.
        """
        if error_code == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            if error_code == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = {400: "Bad Request", 403: "Forbidden", 404: "Not Found"}.get(
                    error_code, "Internal Server Error"
                )
        self._failures.append(
            _Failure(method.lower(), error_code, description, retry_after, times, chat_id, applied)
        )

    def hold(self, method: str, *, times: int | None = None) -> asyncio.Event:
        """Leave the next `times` calls of `method` (every one, by default) unanswered until the returned
        event is set: a Bot API that hangs, for as long as the test decides. `held` counts the calls
        waiting now and `max_held` the most at once; a held call whose client goes away is dropped."""
        hold = _Hold(asyncio.Event(), times)
        self._holds[method.lower()] = hold
        return hold.released

    async def _wait_if_held(self, method: str) -> None:
        hold = self._holds.get(method)
        if hold is None:
            return
        if hold.remaining is not None:
            hold.remaining -= 1
            if hold.remaining <= 0:
                del self._holds[method]
        async with self._changed:
            self.held[method] += 1
            self.max_held[method] = max(self.max_held[method], self.held[method])
            self._changed.notify_all()
        try:
            await hold.released.wait()
        finally:
            async with self._changed:
                self.held[method] -= 1
                self._changed.notify_all()

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sends, edits and chat actions to them answer 403."""
        self.blocked.add(user_id)

    def unblock(self, user_id: int) -> None:
        self.blocked.discard(user_id)

    # ------------------------------------------------------------------ the user's side

    def user(self, user_id: int, *, language_code: str | None = None, first_name: str | None = None) -> dict:
        """The User JSON for `user_id`, remembered across calls (the latest name/language win)."""
        user = self.users.get(user_id) or {
            "id": user_id,
            "is_bot": False,
            "first_name": "Ann",
            "language_code": "en",
        }
        if language_code is not None:
            user = {**user, "language_code": language_code}
        if first_name is not None:
            user = {**user, "first_name": first_name}
        self.users[user_id] = user
        return user

    async def push_update(self, update_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates, unless the bot's allowed_updates exclude its type.

        Like Telegram, the filter applies when the update is created. In webhook mode
        (`deliver_by_webhook`) the update is pushed to the webhook instead.
        """
        update = {"update_id": next(self._update_ids), update_type: payload}
        if self.webhook_targets:
            async with self._changed:
                self.pushed[update["update_id"]] = update
                self._changed.notify_all()
            task = asyncio.ensure_future(self._deliver(update))
            self._delivering.add(task)
            task.add_done_callback(self._delivering.discard)
            return update
        async with self._changed:
            if update_type in self.allowed_updates:
                self.updates.append(update)
            else:
                self.filtered_updates.append(update)
            self._changed.notify_all()
        return update

    async def send_user_message(
        self,
        user_id: int,
        content: dict[str, Any],
        *,
        language_code: str | None = None,
        first_name: str | None = None,
    ) -> dict[str, Any]:
        """The user sends a message with `content` (text, photo, document … fields) in the private chat."""
        user = self.user(user_id, language_code=language_code, first_name=first_name)
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self._chat(user_id),
            "from": user,
            **content,
        }
        self.messages[(user_id, message["message_id"])] = message
        await self.push_update("message", message)
        return message

    async def send_text(
        self, user_id: int, text: str, *, language_code: str = "en", first_name: str = "Ann"
    ) -> dict[str, Any]:
        """The user types `text` in the private chat; a leading /command gets its bot_command entity."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return await self.send_user_message(
            user_id, content, language_code=language_code, first_name=first_name
        )

    async def send_photo(self, user_id: int, data: bytes, *, caption: str | None = None) -> dict[str, Any]:
        """The user sends a picture as a photo: Telegram keeps a compressed JPEG in several sizes."""
        file_id = self.add_user_file(data, mime_type="image/jpeg")
        largest = self.files[file_id].media
        small = {**largest, "width": max(1, largest["width"] // 4), "height": max(1, largest["height"] // 4)}
        content: dict[str, Any] = {"photo": [small, largest]}
        if caption is not None:
            content["caption"] = caption
        return await self.send_user_message(user_id, content)

    async def send_document(
        self, user_id: int, data: bytes, *, file_name: str, mime_type: str
    ) -> dict[str, Any]:
        """The user attaches a file (an uncompressed image, a PDF …) as a document."""
        upload = UploadedFile("user", file_name, mime_type, len(data), data)
        stored = self._store_file("document", upload, {})
        return await self.send_user_message(user_id, {"document": stored.media})

    async def press(self, user_id: int, message_id: int, data: str, *, chat_id: int | None = None) -> str:
        """The user presses the inline button carrying `data` under a message; returns the query id.

        Only buttons the message really shows can be pressed, so a test cannot press stale data.
        """
        chat = user_id if chat_id is None else chat_id
        message = self.messages.get((chat, message_id))
        if message is None:
            raise LookupError(f"no message {message_id} in chat {chat}")
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        offered = [b["callback_data"] for row in rows for b in row if "callback_data" in b]
        if data not in offered:
            raise LookupError(f"message {message_id} in chat {chat} has no button {data!r}; it has {offered}")
        query_id = f"{BOT_ID}{next(self._query_ids):010d}"
        query = {
            "id": query_id,
            "from": self.user(user_id),
            "message": message,
            "chat_instance": str(-abs(chat) * 7919 - 1),
            "data": data,
        }
        self.callback_queries[query_id] = query
        await self.push_update("callback_query", query)
        return query_id

    async def pay(self, user_id: int, message_id: int) -> str | None:
        """The user pays an invoice: a pre_checkout_query the bot must answer (Telegram allows 10 s);
        when it says ok, the payment arrives as a `successful_payment` message. Returns the charge id,
        or None when the bot refused the checkout."""
        key = (user_id, message_id)
        invoice = self.messages.get(key, {}).get("invoice")
        if invoice is None or key not in self.invoice_payloads:
            raise LookupError(f"message {message_id} in chat {user_id} is not an invoice")
        query_id = f"pcq{next(self._query_ids)}"
        payload = self.invoice_payloads[key]
        query = {
            "id": query_id,
            "from": self.user(user_id),
            "currency": invoice["currency"],
            "total_amount": invoice["total_amount"],
            "invoice_payload": payload,
        }
        await self.push_update("pre_checkout_query", query)
        answer = await self.wait_for(
            lambda t: t.pre_checkout_answers.get(query_id), timeout=PRE_CHECKOUT_SECONDS
        )
        if answer.get("ok") not in ("true", True):
            return None
        charge_id = self.charge(user_id, total_amount=invoice["total_amount"], payload=payload)
        paid = {
            "currency": invoice["currency"],
            "total_amount": invoice["total_amount"],
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": "",
        }
        await self.send_user_message(user_id, {"successful_payment": paid})
        return charge_id

    def charge(self, user_id: int, *, total_amount: int, payload: str) -> str:
        """Telegram takes the user's Stars: a charge and its transaction, without any update. `pay` sends
        the update after it; alone it is a payment whose update the bot confirmed and then lost."""
        charge_id = f"stxFAKE{next(self._charge_numbers):08d}"
        self.charges[charge_id] = {
            "user_id": user_id,
            "total_amount": total_amount,
            "invoice_payload": payload,
            "refunded": False,
        }
        self._star_transaction(charge_id, "source")
        return charge_id

    def _star_transaction(self, charge_id: str, side: Literal["source", "receiver"]) -> None:
        """A StarTransaction: incoming from the payer (`source`), or a refund to them (`receiver`), which
        keeps the charge's id."""
        charge = self.charges[charge_id]
        partner = {
            "type": "user",
            "transaction_type": "invoice_payment",
            "user": self.user(charge["user_id"]),
            "invoice_payload": charge["invoice_payload"],
        }
        self.star_transactions.append(
            {"id": charge_id, "amount": charge["total_amount"], "date": int(time.time()), side: partner}
        )

    def add_user_file(self, data: bytes, *, mime_type: str, file_name: str | None = None) -> str:
        """Store a file as if a user had sent it and return its file_id (for getFile and downloads).

        An image without a file name is a photo (how clients send pictures), a video/* a video,
        anything else a document.
        """
        kind: FileKind
        if mime_type.startswith("image/") and file_name is None:
            kind = "photo"
        elif mime_type.startswith("video/"):
            kind = "video"
        else:
            kind = "document"
        upload = UploadedFile("user", file_name or "", mime_type, len(data), data)
        return self._store_file(kind, upload, {}).file_id

    # ------------------------------------------------------------------ webhook mode

    def deliver_by_webhook(self, targets: Sequence[str]) -> None:
        """From now on updates are pushed, not held for getUpdates: each one is POSTed as JSON, with the
        secret_token of setWebhook, to the webhook, here to `targets`, the replicas a load balancer
        spreads the webhook URL over. Each user's updates go to the targets in turn (so a user switches
        replicas between presses); an attempt that gets no 200 (refused, reset, an error status) goes to
        the next target, as Telegram retries and a proxy moves on, with a short pause after a round in
        which every target failed, for WEBHOOK_GIVE_UP_SECONDS at most. Nothing is sent before a webhook
        is set, nor an update type its allowed_updates exclude."""
        self.webhook_targets = list(targets)

    def delivered_to(self, update_id: int) -> list[str]:
        """The targets that answered 200 to this update, in order (more than one: it was redelivered)."""
        return [d.target for d in self.deliveries if d.update_id == update_id and d.status == 200]

    async def post_update(self, update: dict[str, Any], target: str) -> int | None:
        """One delivery attempt of `update` to `target`: its HTTP status, or None when no answer came."""
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        secret = (self.webhook or {}).get("secret_token")
        headers = {SECRET_HEADER: str(secret)} if secret else {}
        status: int | None
        try:
            async with self._http.post(target, json=update, headers=headers) as response:
                status = response.status
        except (aiohttp.ClientError, OSError):
            status = None
        async with self._changed:
            self.deliveries.append(WebhookDelivery(update["update_id"], target, status))
            self._changed.notify_all()
        return status

    async def redeliver(self, update_id: int, targets: Sequence[str] | None = None) -> list[int | None]:
        """Telegram sends an update again, here to every target (or `targets`) at once, as it does when
        it missed the answers; the statuses, in the order of the targets."""
        update = self.pushed[update_id]
        chosen = list(self.webhook_targets if targets is None else targets)
        return list(await asyncio.gather(*(self.post_update(update, target) for target in chosen)))

    def _webhook_allows(self, update: dict[str, Any]) -> bool:
        allowed = (self.webhook or {}).get("allowed_updates")
        kinds = frozenset(allowed) if isinstance(allowed, list) and allowed else DEFAULT_ALLOWED_UPDATES
        return any(kind in kinds for kind in update if kind != "update_id")

    async def _deliver(self, update: dict[str, Any]) -> None:
        payload = next(v for k, v in update.items() if k != "update_id")
        sender = int(payload.get("from", {}).get("id", 0))
        first = self._turns[sender]
        self._turns[sender] += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WEBHOOK_GIVE_UP_SECONDS
        attempt = 0
        while True:
            async with self._changed:
                await self._changed.wait_for(lambda: self.webhook is not None)
            if not self._webhook_allows(update):
                self.filtered_updates.append(update)
                return
            target = self.webhook_targets[(first + attempt) % len(self.webhook_targets)]
            if await self.post_update(update, target) == 200 or loop.time() > deadline:
                return
            attempt += 1
            if attempt % len(self.webhook_targets) == 0:  # every replica failed: Telegram waits a little
                await asyncio.sleep(WEBHOOK_RETRY_SECONDS)

    # ------------------------------------------------------------------ HTTP plumbing

    async def _dispatch(self, request: web.Request) -> web.Response:
        """Check in Telegram's order: token (401), method (404), scripted failure, blocked chat (403)."""
        raw = request.match_info["method"]
        known = self._methods.get(raw.lower())
        call = ApiCall(method=known[0] if known else raw)
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            self.calls.append(call.method)
            call.params, call.files = await self._read_params(request)
            if known is None:
                raise ApiError(404, "Not Found: method not found")
            await self._wait_if_held(call.method.lower())
            failure = self._injected_failure(call)
            if failure is not None and not failure.applied:
                raise _failure_error(failure)
            if call.method.lower().startswith(CHAT_WRITING_PREFIXES) and _as_int(call.params) in self.blocked:
                raise ApiError(403, BLOCKED)
            call.result = await known[1](call)
            if failure is not None:  # carried out, then answered with the error
                call.result = None
                raise _failure_error(failure)
        except ApiError as error:
            call.error_code, call.description = error.code, error.description
            await self._record(call)
            body: dict[str, Any] = {"ok": False, "error_code": error.code, "description": error.description}
            if error.parameters:
                body["parameters"] = error.parameters
            return web.json_response(body, status=error.code)
        except Exception as error:  # a bug in the fake: say so instead of a bare 500 page
            call.error_code, call.description = 500, f"Internal Server Error: fake failed: {error!r}"
            await self._record(call)
            body = {"ok": False, "error_code": 500, "description": call.description}
            return web.json_response(body, status=500)
        await self._record(call)
        return web.json_response({"ok": True, "result": call.result})

    async def _record(self, call: ApiCall) -> None:
        async with self._changed:
            self.requests.append(call)
            self._changed.notify_all()

    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        """Query string plus body, in any of the encodings the Bot API accepts; uploads are streamed."""
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.content_type == "multipart/form-data":
            fields, files = await self._read_multipart(request)
            raw.update(fields)
        elif request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse JSON body") from None
            if not isinstance(body, dict):
                raise ApiError(400, "Bad Request: JSON body must be an object")
            raw.update(body)
        elif request.can_read_body:
            try:
                raw.update(await request.post())
            except web.HTTPRequestEntityTooLarge:
                raise ApiError(413, "Request Entity Too Large") from None
        params = {}
        for name, value in raw.items():
            if value is not None:
                params[name] = _wire_value(name, value)
        return params, files

    async def _read_multipart(self, request: web.Request) -> tuple[dict[str, str], dict[str, UploadedFile]]:
        """Read the parts in chunks, refusing a file over the upload limit as soon as it is crossed."""
        fields: dict[str, str] = {}
        files: dict[str, UploadedFile] = {}
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):  # nested multipart: not part of the Bot API
                continue
            name = part.name or ""
            if part.filename is None:
                fields[name] = await part.text()
                continue
            chunks: list[bytes] = []
            size = 0
            while chunk := await part.read_chunk(READ_CHUNK):
                size += len(chunk)
                if size > self.upload_limit_bytes:
                    raise ApiError(413, "Request Entity Too Large")
                chunks.append(chunk)
            content_type = part.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream")
            files[name] = UploadedFile(name, part.filename, content_type, size, b"".join(chunks))
        return fields, files

    def _injected_failure(self, call: ApiCall) -> _Failure | None:
        """The scripted failure this call meets, if any (counted)."""
        chat_id = _as_int(call.params)
        for failure in self._failures:
            if failure.method != call.method.lower():
                continue
            if failure.chat_id is not None and failure.chat_id != chat_id:
                continue
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failures.remove(failure)
            return failure
        return None

    async def _download(self, request: web.Request) -> web.StreamResponse:
        """`GET /file/bot{token}/{file_path}`: the bytes of a stored file, 404 otherwise."""
        path = request.match_info["path"]
        stored = next((f for f in self.files.values() if f.file_path == path), None)
        if request.match_info["token"] != self.token or stored is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        self.downloads.append(path)
        return web.Response(body=stored.data, content_type=stored.mime_type)

    # ------------------------------------------------------------------ validation helpers

    def _chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id > 0:
            chat: dict[str, Any] = {"id": chat_id, "type": "private"}
            if chat_id in self.users:
                chat["first_name"] = self.users[chat_id]["first_name"]
            return chat
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": "Group"}

    @staticmethod
    def _chat_id(params: dict[str, Any]) -> int:
        if not params.get("chat_id"):
            raise ApiError(400, "Bad Request: chat_id is empty")
        chat_id = _as_int(params)
        if chat_id is None:  # "@username" chats: the fake knows none
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    @staticmethod
    def _text(params: dict[str, Any]) -> str:
        text = str(params.get("text", ""))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        return text

    @staticmethod
    def _inline_markup(params: dict[str, Any]) -> dict[str, Any] | None:
        """Validate reply_markup; return it if it is an inline keyboard a Message would show."""
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is None:
            return None  # a reply keyboard or removal: not part of the returned Message
        for row in rows:
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup if any(rows) else None

    def _own_message(self, params: dict[str, Any], missing: str) -> tuple[tuple[int, int], dict[str, Any]]:
        if "inline_message_id" in params:
            raise ApiError(400, "Bad Request: inline messages are not supported by the fake")
        chat_id = self._chat_id(params)
        try:
            key = (chat_id, int(params.get("message_id", "")))
        except ValueError:
            raise ApiError(400, "Bad Request: message identifier is not specified") from None
        message = self.messages.get(key)
        if message is None:
            raise ApiError(400, missing)
        return key, message

    def _new_message(self, chat_id: int, content: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": BOT_USER,
        }
        message.update({key: value for key, value in content.items() if value is not None})
        self.messages[(chat_id, message["message_id"])] = message
        return message

    # ------------------------------------------------------------------ methods

    async def _get_me(self, _call: ApiCall) -> Any:
        return BOT_USER

    async def _delete_webhook(self, _call: ApiCall) -> Any:
        self.webhook = None
        return True

    async def _set_webhook(self, call: ApiCall) -> Any:
        """Remember the webhook (Telegram would now POST updates there); only HTTPS URLs, as Telegram."""
        url = str(call.params.get("url", ""))
        if url and not url.startswith("https://"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook = dict(call.params) if url else None
        return True

    async def _get_updates(self, call: ApiCall) -> Any:
        """Long poll: hold until an update exists or `timeout` passes; a newer poll ends this one (409)."""
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        params = call.params
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = min(float(params.get("timeout") or 0), LONG_POLL_MAX_TIMEOUT)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self.allowed_updates = frozenset(allowed) if allowed else DEFAULT_ALLOWED_UPDATES
        self._poll_generation += 1
        generation = self._poll_generation
        async with self._changed:
            self._changed.notify_all()  # an older poll still waiting ends with 409
            if offset < 0:
                del self.updates[: max(len(self.updates) + offset, 0)]
            elif offset:
                for update in [u for u in self.updates if u["update_id"] < offset]:
                    self.confirmed.append(update["update_id"])
                    if self.on_confirm is not None:
                        hooked = self.on_confirm(update)
                        if hooked is not None:
                            await hooked
                self.updates[:] = [u for u in self.updates if u["update_id"] >= offset]
            if not self.updates and timeout > 0:
                self.polls_waiting += 1
                self._changed.notify_all()
                try:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            self._changed.wait_for(
                                lambda: bool(self.updates) or self._poll_generation != generation
                            ),
                            timeout,
                        )
                finally:
                    self.polls_waiting -= 1
            if self._poll_generation != generation:
                raise ApiError(409, CONFLICT)
            return self.updates[:limit]

    async def _send_message(self, call: ApiCall) -> Any:
        params = call.params
        chat_id = self._chat_id(params)
        text = self._text(params)
        markup = self._inline_markup(params)
        message = self._new_message(
            chat_id, {"text": text, "entities": params.get("entities"), "reply_markup": markup}
        )
        self.sent.put_nowait(SentMessage(chat_id, text, params, message["message_id"]))
        return message

    async def _edit_message_text(self, call: ApiCall) -> Any:
        params = call.params
        text = self._text(params)
        markup = self._inline_markup(params)
        key, old = self._own_message(params, "Bad Request: message to edit not found")
        self._check_editable(old)
        if "text" not in old:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        entities = params.get("entities")
        if (text, entities, markup) == (old["text"], old.get("entities"), old.get("reply_markup")):
            raise ApiError(400, NOT_MODIFIED)
        return self._replace(key, old, {"text": text, "entities": entities, "reply_markup": markup})

    async def _edit_message_reply_markup(self, call: ApiCall) -> Any:
        markup = self._inline_markup(call.params)
        key, old = self._own_message(call.params, "Bad Request: message to edit not found")
        self._check_editable(old)
        if markup == old.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        return self._replace(key, old, {"reply_markup": markup})

    @staticmethod
    def _check_editable(message: dict[str, Any]) -> None:
        if message.get("from", {}).get("id") != BOT_ID:
            raise ApiError(400, "Bad Request: message can't be edited")

    def _replace(self, key: tuple[int, int], old: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        """Store an edited copy (never mutate: updates and results keep the version they carried)."""
        new = {k: v for k, v in old.items() if k not in changes}
        new.update({k: v for k, v in changes.items() if v is not None})
        new["edit_date"] = int(time.time())
        self.messages[key] = new
        return new

    async def _delete_message(self, call: ApiCall) -> Any:
        key, _ = self._own_message(call.params, "Bad Request: message to delete not found")
        del self.messages[key]
        return True

    async def _answer_callback_query(self, call: ApiCall) -> Any:
        params = call.params
        query_id = str(params.get("callback_query_id", ""))
        if len(str(params.get("text", ""))) > MAX_CALLBACK_ANSWER:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        if query_id not in self.callback_queries or query_id in self.callback_answers:
            raise ApiError(400, QUERY_INVALID)
        self.callback_answers[query_id] = params
        return True

    async def _set_my_commands(self, call: ApiCall) -> Any:
        commands = call.params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be an array of at most 100 BotCommand")
        for command in commands:
            if not BOT_COMMAND.fullmatch(str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[_commands_key(call.params)] = commands
        return True

    async def _delete_my_commands(self, call: ApiCall) -> Any:
        self.commands.pop(_commands_key(call.params), None)
        return True

    async def _get_my_commands(self, call: ApiCall) -> Any:
        return self.commands.get(_commands_key(call.params), [])

    async def _send_chat_action(self, call: ApiCall) -> Any:
        self._chat_id(call.params)
        if call.params.get("action") not in CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    async def _send_video(self, call: ApiCall) -> Any:
        return self._send_media(call, "video")

    async def _send_document(self, call: ApiCall) -> Any:
        return self._send_media(call, "document")

    async def _send_photo(self, call: ApiCall) -> Any:
        return self._send_media(call, "photo")

    def _send_media(self, call: ApiCall, kind: FileKind) -> dict[str, Any]:
        """sendVideo/sendDocument/sendPhoto: an upload (`attach://name`), a known file_id or a URL."""
        params = call.params
        chat_id = self._chat_id(params)
        caption = params.get("caption")
        if caption is not None and len(str(caption)) > MAX_CAPTION:
            raise ApiError(400, "Bad Request: message caption is too long")
        markup = self._inline_markup(params)
        stored = self._media_file(call, kind)
        media: Any = [stored.media] if kind == "photo" else stored.media
        content: dict[str, Any] = {
            kind: media,
            "caption": caption,
            "caption_entities": params.get("caption_entities"),
            "reply_markup": markup,
        }
        if params.get("has_spoiler") == "true":
            content["has_media_spoiler"] = True
        if params.get("show_caption_above_media") == "true":
            content["show_caption_above_media"] = True
        return self._new_message(chat_id, content)

    def _media_file(self, call: ApiCall, kind: FileKind) -> StoredFile:
        value = call.params.get(kind)
        if not value:
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        value = str(value)
        if value.startswith("attach://"):
            upload = call.files.get(value.removeprefix("attach://"))
            if upload is None:
                raise ApiError(400, WRONG_FILE_ID)
            if upload.size == 0:
                raise ApiError(400, "Bad Request: file must be non-empty")
            return self._store_file(kind, upload, call.params)
        if value.startswith(("http://", "https://")):
            name = value.rsplit("/", 1)[-1].split("?", 1)[0]
            mime = mimetypes.guess_type(name)[0] or ""
            upload = UploadedFile(kind, name, mime, 0, b"")
            stored = self._store_file(kind, upload, call.params)
            stored.url = value
            return stored
        stored = self.files.get(value)  # resend by file_id: no size limit
        if stored is None:
            raise ApiError(400, WRONG_FILE_ID)
        if FILE_CLASS[stored.kind] != FILE_CLASS[kind]:
            raise ApiError(
                400, f"Bad Request: can't use file of type {stored.kind.title()} as {kind.title()}"
            )
        if stored.kind != kind:  # a video resent as a document keeps its bytes, shows as a document
            copy = UploadedFile(kind, stored.file_name or "", stored.mime_type, stored.size, stored.data)
            return self._store_file(kind, copy, call.params)
        return stored

    def _store_file(self, kind: FileKind, upload: UploadedFile, params: dict[str, Any]) -> StoredFile:
        number = next(self._file_numbers)
        mime = upload.content_type
        if not mime or mime == "application/octet-stream":
            mime = mimetypes.guess_type(upload.filename)[0] or ""
        if not mime:
            mime = {"video": "video/mp4", "photo": "image/jpeg"}.get(kind, "application/octet-stream")
        extension = mimetypes.guess_extension(mime) or ".bin"
        folder = {"video": "videos", "document": "documents", "photo": "photos"}[kind]
        unique = hashlib.sha256(upload.data + str(number).encode()).hexdigest()[:16]
        stored = StoredFile(
            file_id=f"{kind[:2].upper()}AAC{number:04d}{secrets.token_urlsafe(18)}",
            file_unique_id=f"AQAD{unique}",
            kind=kind,
            size=upload.size,
            mime_type=mime,
            file_path=f"{folder}/file_{number}{extension}",
            data=upload.data,
            file_name=upload.filename or None,
        )
        media: dict[str, Any] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if kind == "video":
            for name in ("width", "height", "duration"):
                media[name] = _int_param(params, name)
        elif kind == "photo":
            media["width"], media["height"] = _image_size(upload.data) if upload.data else (0, 0)
        if kind != "photo":
            if stored.file_name:
                media["file_name"] = stored.file_name
            media["mime_type"] = mime
        if stored.size:
            media["file_size"] = stored.size
        stored.media = media
        self.files[stored.file_id] = stored
        return stored

    async def _send_invoice(self, call: ApiCall) -> Any:
        """Stars invoices only (currency XTR, exactly one price), with Telegram's field limits."""
        params = call.params
        chat_id = self._chat_id(params)
        title, description = str(params.get("title", "")), str(params.get("description", ""))
        payload = str(params.get("payload", ""))
        if not 1 <= len(title) <= 32:
            raise ApiError(400, "Bad Request: INVOICE_TITLE_INVALID")
        if not 1 <= len(description) <= 255:
            raise ApiError(400, "Bad Request: INVOICE_DESCRIPTION_INVALID")
        if not 1 <= len(payload.encode()) <= 128:
            raise ApiError(400, "Bad Request: INVOICE_PAYLOAD_INVALID")
        if params.get("currency") != "XTR":
            raise ApiError(400, "Bad Request: CURRENCY_INVALID")
        prices = params.get("prices")
        if not isinstance(prices, list) or len(prices) != 1 or int(prices[0].get("amount", 0)) < 1:
            raise ApiError(400, "Bad Request: STARS_INVOICE_INVALID")
        invoice = {
            "title": title,
            "description": description,
            "start_parameter": str(params.get("start_parameter", "")),
            "currency": "XTR",
            "total_amount": int(prices[0]["amount"]),
        }
        markup = self._inline_markup(params)
        message = self._new_message(chat_id, {"invoice": invoice, "reply_markup": markup})
        self.invoice_payloads[(chat_id, message["message_id"])] = payload
        return message

    async def _answer_pre_checkout_query(self, call: ApiCall) -> Any:
        params = call.params
        query_id = str(params.get("pre_checkout_query_id", ""))
        if query_id in self.pre_checkout_answers or not query_id:
            raise ApiError(400, QUERY_INVALID)
        if params.get("ok") != "true" and not params.get("error_message"):
            raise ApiError(400, "Bad Request: error_message is required when ok is false")
        self.pre_checkout_answers[query_id] = params
        return True

    async def _refund_star_payment(self, call: ApiCall) -> Any:
        params = call.params
        charge = self.charges.get(str(params.get("telegram_payment_charge_id", "")))
        if charge is None or str(charge["user_id"]) != str(params.get("user_id")):
            raise ApiError(400, "Bad Request: CHARGE_NOT_FOUND")
        if charge["refunded"]:
            raise ApiError(400, "Bad Request: CHARGE_ALREADY_REFUNDED")
        charge["refunded"] = True
        self._star_transaction(str(params["telegram_payment_charge_id"]), "receiver")
        refunded = {
            "currency": "XTR",
            "total_amount": charge["total_amount"],
            "invoice_payload": charge["invoice_payload"],
            "telegram_payment_charge_id": params["telegram_payment_charge_id"],
        }
        await self.send_user_message(charge["user_id"], {"refunded_payment": refunded})
        return True

    async def _get_star_transactions(self, call: ApiCall) -> Any:
        """Oldest first, `offset` skipped, at most `limit` (1-100, default 100): #getstartransactions."""
        try:
            offset = int(call.params.get("offset") or 0)
            limit = int(call.params.get("limit") or 100)
        except ValueError:
            raise ApiError(400, "Bad Request: invalid offset or limit") from None
        if offset < 0 or not 1 <= limit <= 100:
            raise ApiError(
                400, "Bad Request: LIMIT_INVALID" if offset >= 0 else "Bad Request: OFFSET_INVALID"
            )
        return {"transactions": self.star_transactions[offset : offset + limit]}

    async def _get_file(self, call: ApiCall) -> Any:
        stored = self.files.get(str(call.params.get("file_id", "")))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if stored.size > self.download_limit_bytes:
            raise ApiError(400, "Bad Request: file is too big")
        result = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_path": stored.file_path,
        }
        if stored.size:
            result["file_size"] = stored.size
        return result


def _failure_error(failure: _Failure) -> ApiError:
    parameters = {"retry_after": failure.retry_after} if failure.retry_after is not None else None
    return ApiError(failure.error_code, failure.description, parameters)


def _wire_value(name: str, value: Any) -> Any:
    """A parameter as the wire carries it: a string, or decoded JSON for JSON-typed parameters."""
    if isinstance(value, str):
        if name in JSON_PARAMS and value.lstrip().startswith(("{", "[")):
            try:
                return json.loads(value)
            except ValueError:
                what = "reply keyboard markup" if name == "reply_markup" else name
                raise ApiError(400, f"Bad Request: can't parse {what} JSON object") from None
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value if name in JSON_PARAMS else json.dumps(value)


def _as_int(params: dict[str, Any], name: str = "chat_id") -> int | None:
    try:
        return int(params[name])
    except (KeyError, TypeError, ValueError):
        return None


def _int_param(params: dict[str, Any], name: str) -> int:
    value = _as_int(params, name)
    return 0 if value is None else value


def _scope_key(scope: dict[str, Any] | None) -> str:
    return json.dumps(scope or {"type": "default"}, sort_keys=True)


def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
    scope = params.get("scope")
    return _scope_key(scope if isinstance(scope, dict) else None), str(params.get("language_code", ""))


def _image_size(data: bytes) -> tuple[int, int]:
    """Telegram decodes uploaded photos; bytes that are not an image fail like there."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError):
        raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED") from None


@functools.cache
def _tls_context(**options: Any) -> ssl.SSLContext:
    return ssl.create_default_context(**options)


class LoopbackSession(AiohttpSession):
    """aiogram's session for the fake Bot API, which is plain HTTP on loopback, minus two fixed costs that
    buy nothing there: the TLS context aiogram builds from the CA bundle for every session (about 16 ms of
    CPU; here one per process, never used), and the 250 ms its `close()` waits for TLS connections to
    wind down (aiohttp's graceful-shutdown advice)."""

    def __init__(self, **kwargs: Any) -> None:
        with mock.patch.object(aiogram_aiohttp, "ssl", SimpleNamespace(create_default_context=_tls_context)):
            super().__init__(**kwargs)

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
