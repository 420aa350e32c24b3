"""Every filter, handler and middleware on the dispatcher is a coroutine, so no update costs a thread hop.

aiogram runs a callback that is not awaitable (a bare magic filter such as `F.text`, a lambda, a plain
function) through `asyncio.to_thread` on every check (its CallableObject). The structural test walks the
real dispatcher's routers and fails on any such callback, nested logic filters included; the behavioural
one feeds a few updates through it with `asyncio.to_thread` counted.
"""

from __future__ import annotations

import asyncio
import inspect
import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiogram import Dispatcher, F, Router
from aiogram.dispatcher.event.handler import CallableObject, FilterObject
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.filters import or_f
from aiogram.filters.logic import _AndFilter, _InvertFilter, _OrFilter
from aiogram.types import CallbackQuery, Message, User
from PIL import Image

from bot.callbacks import MenuAction
from bot.dispatcher import build_dispatcher
from bot.handlers.filters import CallbackPrefixes, Magic
from bot.handlers.library import LibraryAction, LibraryPage
from tests.poller.conftest import USER, Rig


def _filters(objects: list[FilterObject] | None) -> Iterator[FilterObject]:
    """The filter objects, and those inside and_f/or_f/~ (each of which aiogram calls the same way)."""
    for item in objects or []:
        yield item
        callback = item.callback
        if isinstance(callback, _InvertFilter):
            yield from _filters([callback.target])
        elif isinstance(callback, _AndFilter | _OrFilter):
            yield from _filters(list(callback.targets))


def _is_coroutine_callable(middleware: Any) -> bool:
    """A coroutine function, or an object (a BaseMiddleware) whose `__call__` is one."""
    return inspect.iscoroutinefunction(middleware) or inspect.iscoroutinefunction(type(middleware).__call__)


def not_awaitable(dispatcher: Dispatcher) -> list[str]:
    """Every callback aiogram would run in a worker thread, named by router, observer and kind."""
    found: list[str] = []

    def check(where: str, item: CallableObject) -> None:
        if not item.awaitable:
            found.append(f"{where}: {item.callback!r}")

    for router in dispatcher.chain_tail:
        for name, observer in router.observers.items():
            where = f"{router.name}.{name}"
            # the observer's own HandlerObject only carries its root filters; its callback is never run
            for item in _filters(observer._handler.filters):
                check(f"{where} root filter", item)
            for handler in observer.handlers:
                check(f"{where} handler", handler)
                for item in _filters(handler.filters):
                    check(f"{where} filter", item)
            assert isinstance(observer, TelegramEventObserver)
            for kind, manager in (
                ("outer middleware", observer.outer_middleware),
                ("middleware", observer.middleware),
            ):
                found += [f"{where} {kind}: {m!r}" for m in manager if not _is_coroutine_callable(m)]
        for name, events in (("startup", router.startup), ("shutdown", router.shutdown)):
            for handler in events.handlers:
                check(f"{router.name}.{name} handler", handler)
    return found


def test_the_walk_finds_a_sync_filter_a_lambda_and_a_sync_middleware() -> None:
    """The walk itself: a bare magic filter (also inside or_f/~), a lambda and a plain function are found."""
    dispatcher = Dispatcher()
    router = Router(name="sloppy")

    async def handler(message: Message) -> None: ...

    def sync_handler(message: Message) -> None: ...

    def sync_middleware(handler: Callable[..., Any], event: Any, data: dict[str, Any]) -> Any:
        return handler(event, data)

    router.message.register(handler, F.text)
    router.message.register(handler, or_f(Magic(F.photo), ~F.document))
    router.callback_query.register(sync_handler)
    router.edited_message.filter(lambda message: True)
    router.message.middleware(sync_middleware)
    router.message.register(handler, Magic(F.caption))  # the right way: not reported
    dispatcher.include_router(router)
    found = not_awaitable(dispatcher)
    assert len(found) == 5, found
    assert [f.split(":")[0] for f in found] == [
        "sloppy.message filter",
        "sloppy.message filter",
        "sloppy.message middleware",
        "sloppy.edited_message root filter",
        "sloppy.callback_query handler",
    ], found


async def test_every_callback_of_the_real_dispatcher_is_awaitable(rig: Rig) -> None:
    dispatcher = build_dispatcher(rig.services)
    assert not_awaitable(dispatcher) == []
    handlers = sum(len(o.handlers) for r in dispatcher.chain_tail for o in r.observers.values())
    assert handlers > 30, "the walk saw the routers' handlers"


@pytest.fixture
def thread_hops(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What `asyncio.to_thread` was asked to run while the test fed updates."""
    calls: list[Any] = []
    original = asyncio.to_thread

    async def counting(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        calls.append(func)
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", counting)
    return calls


async def test_the_probe_counts_the_thread_hop_of_a_sync_filter(rig: Rig, thread_hops: list[Any]) -> None:
    """The probe below would see a sync filter: aiogram's CallableObject really goes through to_thread."""
    dispatcher = Dispatcher()
    router = Router()

    async def echo(message: Message) -> str:
        return "handled"

    router.message.register(echo, F.text)
    dispatcher.include_router(router)
    await rig.telegram.send_text(USER, "hello")
    assert await dispatcher.feed_raw_update(rig.bot, rig.telegram.updates[-1]) == "handled"
    assert len(thread_hops) == 1


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(out, format="PNG")
    return out.getvalue()


async def test_updates_through_the_real_dispatcher_take_no_thread_hop(
    rig: Rig, thread_hops: list[Any]
) -> None:
    """/start, a text, a photo outside the wizard, a wizard press, /cancel and a press on the old wizard."""
    dispatcher = build_dispatcher(rig.services)
    telegram = rig.telegram

    async def feed() -> None:
        await dispatcher.feed_raw_update(rig.bot, telegram.updates[-1])

    def last_text() -> str:
        return telegram.calls_of("sendMessage")[-1].params["text"]

    t = rig.services.translator.bind("en")
    await telegram.send_text(USER, "/start")
    await feed()
    user = await rig.store.get_user(USER)
    assert user is not None
    assert last_text() == t("start-welcome", name="Ann", balance=user.balance)
    await telegram.send_text(USER, "/balance")
    await feed()
    assert last_text().startswith(t("balance", balance=user.balance))
    await telegram.send_text(USER, "a cat surfing a wave")
    await feed()
    assert last_text() == t("stray-message")
    await telegram.send_photo(USER, _png())
    await feed()
    assert len(telegram.calls_of("sendMessage")) == 4, "a photo outside the wizard gets its hint too"
    assert last_text() == t("stray-message")
    await telegram.send_text(USER, "/generate")
    await feed()
    wizard = telegram.calls_of("sendMessage")[-1]
    [message_id] = [
        m["message_id"] for m in telegram.messages_in(USER) if m.get("text") == wizard.params["text"]
    ]
    buttons = [b["callback_data"] for row in wizard.params["reply_markup"]["inline_keyboard"] for b in row]
    pick = next(data for data in buttons if data.startswith("wz:"))
    current = await telegram.press(USER, message_id, pick)
    await feed()
    await telegram.send_text(USER, "/cancel")
    await feed()
    wizard_now = telegram.messages[(USER, message_id)]
    offered = [b["callback_data"] for row in wizard_now["reply_markup"]["inline_keyboard"] for b in row]
    stale = await telegram.press(USER, message_id, offered[0])
    await feed()

    assert telegram.answered(current) and telegram.answered(stale)
    assert telegram.callback_answers[stale].get("text") == t("wizard-stale")
    assert thread_hops == []


@pytest.mark.parametrize(
    ("data", "passes"),
    [("lb:o:1:x", True), ("la:open:x", True), ("m:library", True), ("lg:ru", False), ("l:x", False),
     ("lbx:1", False), ("", False), (None, False)],
)  # fmt: skip
async def test_a_routers_callback_prefixes_let_only_its_own_kinds_through(
    data: str | None, passes: bool
) -> None:
    """Whole prefixes, never a prefix of a prefix: "lb" lets "lb:..." through, not "lbx:..." or "l:..."."""
    root = CallbackPrefixes(LibraryPage, LibraryAction, MenuAction)
    query = CallbackQuery(
        id="q1", from_user=User(id=1, is_bot=False, first_name="Ann"), chat_instance="1", data=data
    )
    assert await root(query) is passes
