"""The webhook endpoint and what replicas share, in one process: the real Dispatcher behind the real
webhook handler (bot/app.py attach_webhook), the fake Bot API pushing updates to one or two of them.

* Telegram's answer does not wait for handling, and at most HANDLER_CONCURRENCY updates are handled at
  once; at shutdown the updates answered so far are finished first.
* An update is handled once however often it arrives (in the process, or across replicas through Redis)
  and handled again when its handler failed; a kept payment is replayed even when a replica that died
  holds its claim.
* One user's updates are handled one at a time whichever replica got them (RedisEventIsolation).
* A job behind the Redis gate runs on one replica per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiogram import Dispatcher
from aiogram.fsm.storage.redis import RedisEventIsolation
from aiohttp import web
from pydantic import AnyHttpUrl, SecretStr
from redis.asyncio import Redis

from bot.app import attach_webhook
from bot.dispatcher import build_dispatcher
from bot.inbox import DurableWebhookHandler, replay_payments
from bot.web import build_web_app, start_web_app
from services.dedup import RedisJobGate, RedisSeenUpdates
from tests.fakes.telegram import BOT_ID, FakeTelegram
from tests.poller.conftest import USER, Rig

PATH = "/telegram/hook"
SECRET = "test-webhook-secret_0123456789"


@pytest.fixture
def rig_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The rig's settings a test asks for (indirect parametrisation); `redis: True` puts the FSM state,
    the seen-set and the per-user lock in the session's redis-server."""
    wanted = dict(getattr(request, "param", {}))
    if wanted.pop("redis", False):
        wanted["redis_url"] = request.getfixturevalue("redis_url")
    return wanted


@dataclass
class Replica:
    dispatcher: Dispatcher
    handler: DurableWebhookHandler
    runner: web.AppRunner

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}{PATH}"


@contextlib.asynccontextmanager
async def replicas(
    rig: Rig, count: int, *, before: Callable[[web.Application], None] | None = None
) -> AsyncIterator[list[Replica]]:
    """`count` bot processes' web sides on the rig's services, each with its own Dispatcher (and FSM
    storage), behind one webhook URL the fake Bot API pushes every update to. `before` may add to each
    web app before the webhook is attached."""
    settings = rig.settings.model_copy(
        update={"webhook_url": AnyHttpUrl(f"https://bot.example{PATH}"), "webhook_secret": SecretStr(SECRET)}
    )
    started: list[Replica] = []
    try:
        for _ in range(count):
            dispatcher = build_dispatcher(rig.services)
            app = build_web_app(
                poller=rig.poller, providers=rig.providers, settings=settings, media=rig.media
            )
            if before is not None:
                before(app)
            handler = await attach_webhook(app, dispatcher, rig.bot, settings)
            runner = await start_web_app(app, host="127.0.0.1", port=0)
            started.append(Replica(dispatcher, handler, runner))
        rig.telegram.deliver_by_webhook([r.url for r in started])
        yield started
        # Telegram shows a spinner until a callback query is answered: every press must get an answer
        assert rig.telegram.unanswered() == []
    finally:
        for replica in started:
            if replica.runner.server is not None:  # not stopped by the test already
                await replica.runner.cleanup()
            await replica.dispatcher.storage.close()


def texts(telegram: FakeTelegram, chat: int = USER) -> list[str]:
    return [
        c.params["text"]
        for c in telegram.calls_of("sendMessage")
        if c.ok and int(c.params["chat_id"]) == chat
    ]


def balances(telegram: FakeTelegram) -> int:
    return sum(text.startswith("Your balance") for text in texts(telegram))


def helps(telegram: FakeTelegram) -> int:
    return sum("/generate" in text for text in texts(telegram))


async def settle(telegram: FakeTelegram, running: list[Replica]) -> None:
    """Every update pushed so far answered, and handled to the end (what a handler's shutdown waits for)."""
    await telegram.wait_for(lambda t: all(t.delivered_to(update_id) for update_id in t.pushed))
    for replica in running:
        await replica.handler.close()


@pytest.mark.parametrize("rig_settings", [{"handler_concurrency": 2}], indirect=True)
async def test_answers_at_once_and_handles_at_most_handler_concurrency_updates(rig: Rig) -> None:
    users = [USER + n for n in range(5)]
    async with replicas(rig, 1) as [replica]:
        release = rig.telegram.hold("sendMessage")  # every reply hangs until the test lets it go
        for user in users:
            await rig.telegram.send_text(user, "/start")

        def backlog(t: FakeTelegram) -> bool:
            answered = sum(d.status == 200 for d in t.deliveries)
            return answered == len(users) and t.held["sendmessage"] == 2 and replica.handler.queued == 3

        # all five answered while none is handled to the end: two replies hang, three updates wait
        await rig.telegram.wait_for(backlog)
        release.set()
        await rig.telegram.wait_for(
            lambda t: all(any(x.startswith("Hi, ") for x in texts(t, u)) for u in users)
        )
        assert rig.telegram.max_held["sendmessage"] == 2
        assert replica.handler.queued == 0


async def test_shutdown_finishes_the_updates_it_answered(rig: Rig) -> None:
    shutting_down = asyncio.Event()

    async def first_hook(_app: web.Application) -> None:  # runs before the webhook handler's own
        shutting_down.set()

    def hook_first(app: web.Application) -> None:
        app.on_shutdown.append(first_hook)

    release = rig.telegram.hold("sendMessage")
    async with replicas(rig, 1, before=hook_first) as [replica]:
        await rig.telegram.send_text(USER, "/balance")
        await rig.telegram.wait_for(lambda t: t.held["sendmessage"] == 1)
        stopping = asyncio.ensure_future(replica.runner.cleanup())  # SIGTERM: the web app stops
        await shutting_down.wait()
        assert not stopping.done() and balances(rig.telegram) == 0
        release.set()
        await stopping  # returns only once the answered update was handled
        assert balances(rig.telegram) == 1


@pytest.mark.parametrize(
    ("rig_settings", "count"), [({}, 1), ({"redis": True}, 2)], indirect=["rig_settings"]
)
async def test_an_update_is_handled_once_and_again_when_its_handler_failed(
    rig: Rig, count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One process remembers the ids itself; replicas remember them in Redis."""
    async with replicas(rig, count) as running:
        await rig.telegram.send_text(USER, "/balance")
        [update_id] = list(rig.telegram.pushed)
        assert await rig.telegram.redeliver(update_id) == [200] * count  # at once, to every replica
        await settle(rig.telegram, running)
        assert balances(rig.telegram) == 1

        register = rig.services.wallet.register
        failures: list[int] = []

        async def fails_once(*args: Any, **kwargs: Any) -> Any:
            if not failures:
                failures.append(1)
                raise RuntimeError("the store went away for a moment")
            return await register(*args, **kwargs)

        monkeypatch.setattr(rig.services.wallet, "register", fails_once)
        await rig.telegram.send_text(USER, "/help")
        failed = max(rig.telegram.pushed)
        await settle(rig.telegram, running)
        assert failures == [1] and helps(rig.telegram) == 0
        assert await rig.telegram.redeliver(failed, rig.telegram.webhook_targets[:1]) == [200]
        await settle(rig.telegram, running)
        assert helps(rig.telegram) == 1, "the redelivery of a failed update is handled"
        assert balances(rig.telegram) == 1

    if count > 1:
        async with Redis.from_url(rig.settings.redis_url.get_secret_value()) as redis:  # type: ignore[union-attr]
            for handled in (update_id, failed):
                assert await redis.get(f"videobot:update:{BOT_ID}:{handled}") == b"done"


@pytest.mark.parametrize("rig_settings", [{"redis": True}], indirect=True)
async def test_one_users_updates_are_handled_one_at_a_time_across_replicas(rig: Rig) -> None:
    lock_key = f"fsm:{BOT_ID}:{USER}:{USER}:default:lock"  # aiogram's per-user lock (bot/fsm.py keys)
    tries: list[str] = []
    contended = asyncio.Event()

    async def watch(redis: Redis) -> None:
        async with redis.monitor() as monitor:
            async for command in monitor.listen():
                text = str(command.get("command", ""))
                if text.upper().startswith("SET ") and lock_key in text:
                    tries.append(text)
                    if len(tries) >= 2:
                        contended.set()

    async with (
        replicas(rig, 2) as [first, second],
        Redis.from_url(
            rig.settings.redis_url.get_secret_value()  # type: ignore[union-attr]
        ) as redis,
    ):
        watching = asyncio.ensure_future(watch(redis))
        try:
            release = rig.telegram.hold("sendMessage", times=1)  # the first reply hangs
            await rig.telegram.send_text(USER, "/balance")  # to the first replica
            await rig.telegram.wait_for(lambda t: t.held["sendmessage"] == 1)
            await rig.telegram.send_text(USER, "/help")  # to the second one
            # the second replica is trying to take the user's lock while the first holds it
            await asyncio.wait_for(contended.wait(), timeout=10)
            assert helps(rig.telegram) == 0
            release.set()
            await rig.telegram.wait_for(lambda t: balances(t) == 1 and helps(t) == 1)
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
        assert [d.target for d in rig.telegram.deliveries] == [first.url, second.url]
        assert isinstance(second.dispatcher.fsm.events_isolation, RedisEventIsolation)
        first_reply, second_reply = texts(rig.telegram)
        assert first_reply.startswith("Your balance") and "/generate" in second_reply, "in their order"


@pytest.mark.parametrize("rig_settings", [{"redis": True}], indirect=True)
async def test_a_kept_payment_claimed_by_a_replica_that_died_is_still_replayed(rig: Rig) -> None:
    charge = rig.telegram.charge(USER, total_amount=100, payload="pack:100:100")
    paid = {
        "currency": "XTR",
        "total_amount": 100,
        "invoice_payload": "pack:100:100",
        "telegram_payment_charge_id": charge,
        "provider_payment_charge_id": "",
    }
    await rig.telegram.send_user_message(USER, {"successful_payment": paid})
    update = rig.telegram.updates[-1]  # polling mode: nobody fetches it
    await rig.services.inbox.keep(update["update_id"], update)
    async with Redis.from_url(rig.settings.redis_url.get_secret_value()) as redis:  # type: ignore[union-attr]
        # a replica claimed it, and died before its handler finished
        assert await RedisSeenUpdates(redis).claim(f"{BOT_ID}:{update['update_id']}") is not None
        dispatcher = build_dispatcher(rig.services)
        try:
            await replay_payments(rig.bot, dispatcher, rig.services.inbox)  # the next start
        finally:
            await dispatcher.storage.close()
        assert await redis.get(f"videobot:update:{BOT_ID}:{update['update_id']}") == b"done"
    assert await rig.store.pending_updates(limit=10) == []
    assert await rig.balance() == 100
    assert sum(text.startswith("✅ Payment received: 100 credits") for text in texts(rig.telegram)) == 1


async def test_a_job_behind_the_gate_runs_on_one_replica_per_interval(redis_url: str) -> None:
    runs: list[str] = []
    running, finish = asyncio.Event(), asyncio.Event()

    async def clean() -> int:
        runs.append("clean")
        running.set()
        await finish.wait()
        return 3

    async def broken() -> int:
        runs.append("broken")
        raise RuntimeError("the store went away")

    def on(redis: Redis, name: str, job: Callable[[], Awaitable[int]]) -> Callable[[], Awaitable[int | None]]:
        """The hourly job `name` as one replica (its own Redis connection) schedules it."""
        return RedisJobGate(redis).once(name, 3600, job)

    async with Redis.from_url(redis_url) as a, Redis.from_url(redis_url) as b:
        first = asyncio.ensure_future(on(a, "media-retention", clean)())
        await running.wait()
        assert await on(b, "media-retention", clean)() is None, "skipped while the other replica runs it"
        finish.set()
        assert await first == 3
        assert await on(b, "media-retention", clean)() is None, "and for the rest of the interval"
        assert 0 < await a.pttl("videobot:job:media-retention") <= 3600 * 0.9 * 1000
        with pytest.raises(RuntimeError):
            await on(a, "stars-reconciliation", broken)()
        assert await a.exists("videobot:job:stars-reconciliation") == 0, "a failed run frees the lock"
        assert await on(b, "stars-reconciliation", clean)() == 3
    assert runs == ["clean", "broken", "clean"]
