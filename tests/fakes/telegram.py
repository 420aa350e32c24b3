"""A fake Telegram Bot API server on loopback, reached by a real aiogram `Bot` through TELEGRAM_API_URL.

It answers like Telegram does (reference/telegram.md §6.3): `{"ok": true, "result": ...}` on success,
`{"ok": false, "error_code": N, "description": ...}` with HTTP status N on failure, long polling on
getUpdates. This first version covers what the bot uses today (getMe, getUpdates, sendMessage); the
poller and bot-UX issues extend it with uploads, limits, injected 429s and payments.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 123456789


@dataclass
class SentMessage:
    chat_id: int
    text: str
    params: dict[str, Any] = field(default_factory=dict)


class FakeTelegram:
    def __init__(self, token: str) -> None:
        self.token = token
        self.updates: list[dict[str, Any]] = []
        self.sent: asyncio.Queue[SentMessage] = asyncio.Queue()
        self.calls: list[str] = []
        self._new_update = asyncio.Condition()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        self._runner = web.AppRunner(app, handler_cancellation=True)  # a dropped long poll ends at once
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def send_text(
        self, user_id: int, text: str, *, language_code: str = "en", first_name: str = "Ann"
    ) -> None:
        """The user types `text` in the private chat."""
        user = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": language_code}
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": first_name},
            "from": user,
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        async with self._new_update:
            self.updates.append({"update_id": next(self._update_ids), "message": message})
            self._new_update.notify_all()

    async def _dispatch(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        method = request.match_info["method"]
        self.calls.append(method)
        params = await self._params(request)
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            return self._error(404, "Not Found: method not found")
        return await handler(params)

    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        form = await request.post()
        return {key: value for key, value in form.items()}

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(code: int, description: str) -> web.Response:
        return web.json_response({"ok": False, "error_code": code, "description": description}, status=code)

    async def _m_getme(self, _params: dict[str, Any]) -> web.Response:
        return self._ok({"id": BOT_ID, "is_bot": True, "first_name": "Video Bot", "username": "video_bot"})

    async def _m_deletewebhook(self, _params: dict[str, Any]) -> web.Response:
        return self._ok(True)

    async def _m_getupdates(self, params: dict[str, Any]) -> web.Response:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)

        def pending() -> list[dict[str, Any]]:
            return [u for u in self.updates if u["update_id"] >= offset]

        async with self._new_update:
            if not pending() and timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._new_update.wait_for(lambda: bool(pending())), timeout)
            return self._ok(pending())

    async def _m_sendmessage(self, params: dict[str, Any]) -> web.Response:
        text = str(params.get("text", ""))
        if not text.strip():
            return self._error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return self._error(400, "Bad Request: message is too long")
        chat_id = int(params["chat_id"])
        await self.sent.put(SentMessage(chat_id, text, params))
        return self._ok(
            {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Video Bot"},
                "text": text,
                **({"reply_markup": json.loads(params["reply_markup"])} if "reply_markup" in params else {}),
            }
        )
