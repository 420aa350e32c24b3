"""A fake of OpenAI's moderation endpoint (`POST /v1/moderations`) on loopback.

It checks what the real API checks that matters here (Bearer auth, a JSON body with `input` as a string or
a list of strings, the model) and answers in the API's shape: one result per input with `flagged`,
`categories` (every category, true or false) and `category_scores`. Scripts:

* `flag(word, *categories)`: an input containing `word` (case-insensitive) is flagged for `categories`;
* `fail_next(status, times=1)`: the next call(s) answer `status` with OpenAI's error envelope;
* `calls`: the inputs of every call, in order (the tests count provider calls with it).
"""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web

CATEGORIES = (
    "sexual",
    "sexual/minors",
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "violence",
    "violence/graphic",
)
MODELS = frozenset({"omni-moderation-latest", "omni-moderation-2024-09-26", "text-moderation-latest"})


class FakeModeration:
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.calls: list[list[str]] = []
        self._flags: dict[str, tuple[str, ...]] = {}
        self._failures: list[int] = []
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/moderations", self._moderate)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def flag(self, word: str, *categories: str) -> None:
        assert categories and set(categories) <= set(CATEGORIES), categories
        self._flags[word.casefold()] = categories

    def fail_next(self, status: int, *, times: int = 1) -> None:
        self._failures.extend([status] * times)

    async def _moderate(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.", None)
        texts = body.get("input") if isinstance(body, dict) else None
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return _error(400, "Invalid type for 'input'.", "invalid_type")
        if body.get("model", "omni-moderation-latest") not in MODELS:
            return _error(400, f"Invalid model '{body.get('model')}'.", "model_not_found")
        self.calls.append(texts)
        if self._failures:
            return _error(
                self._failures.pop(0), "The server had an error while processing your request.", None
            )
        return web.json_response(
            {
                "id": f"modr-{next(self._ids)}",
                "model": "omni-moderation-2024-09-26",
                "results": [self._result(text) for text in texts],
            }
        )

    def _result(self, text: str) -> dict[str, Any]:
        flagged = {c for word, cats in self._flags.items() if word in text.casefold() for c in cats}
        return {
            "flagged": bool(flagged),
            "categories": {c: c in flagged for c in CATEGORIES},
            "category_scores": {c: 0.97 if c in flagged else 0.0001 for c in CATEGORIES},
            "category_applied_input_types": {c: ["text"] for c in CATEGORIES},
        }


def _error(status: int, message: str, code: str | None) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return web.json_response(body, status=status)
