"""Issue 16: several replicas on Supabase and Redis, proven by killing one mid-run.

Two `python -m bot` processes in webhook mode serve one webhook URL, on the real migrations on PostgreSQL
behind the Supabase double and a real redis-server. The fake Bot API pushes each user's updates to the
replicas in turn, and to the other one when an attempt gets no 200, as Telegram's retries and a load
balancer do. Users walk the wizard switching replicas between presses and pay with credits and with
Stars (the `successful_payment` is also redelivered to both replicas at once); the replica that placed the
last order is SIGKILLed while the videos are being made, the users go on with the other one, and it is
started again. Every update is handled once, every generation is delivered or refunded once, and the
books balance. A second scenario stops a replica with SIGTERM in the middle of a delivery: its lease is
released at once, and the other replica delivers long before the lease would have expired.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.exit_status import ExitCode
from services.catalog import load_catalog
from services.generations import GenerationService
from services.providers.registry import Providers
from services.settings import Settings
from services.video_request import VideoRequest
from storage.records import (
    ACTIVE_STATUSES,
    GenerationCreated,
    GenerationStatus,
    LedgerKind,
    NewLedgerEntry,
)
from storage.supabase import SupabaseMediaStore, SupabaseStore
from tests.bot.wizard_helpers import buttons, wizard
from tests.conftest import TOKEN
from tests.fakes.bot_process import BotProcess, Output, bot_env, free_port, kill_leftovers, spawn_bot
from tests.fakes.postgres import PostgresServer
from tests.fakes.supabase import FakeSupabase
from tests.fakes.supabase_backend import ANON_KEY, SERVICE_KEY
from tests.fakes.telegram import BOT_ID, FakeTelegram
from tests.invariants import check_invariants

WEBHOOK_PATH = "/telegram/webhook"
SECRET = "replicas-webhook-secret_0123456789"
#: A bot process needs seconds of CPU to start (aiogram's models), far longer on a loaded machine.
START_SECONDS = 60
STEP_SECONDS = 30
#: A replica's own shutdown may take its two grace periods (10 s for answered updates, 10 s for the
#: poller's work in flight) before it exits; on a loaded machine, more: the deadline for its exit.
STOP_SECONDS = 90
POLL_INTERVAL = 0.5
#: Users of the main scenario: credits, Stars, a refused prompt (refund), and one who starts while a
#: replica is down.
CREDITS_USER, STARS_USER, REFUSED_USER, LATE_USER = 8101, 8102, 8103, 8104


@dataclass
class Supabase:
    url: str
    store: SupabaseStore
    media: SupabaseMediaStore


@pytest.fixture
async def supabase(postgres_server: PostgresServer, tmp_path: Path) -> AsyncIterator[Supabase]:
    """The real migrations on PostgreSQL behind the PostgREST + Storage double, over plain HTTP (a bot
    process cannot be handed the double's certificate), and the test's own client of the project."""
    name = await postgres_server.create_database()
    fake = FakeSupabase(
        postgres_server.dsn(name),
        service_key=SERVICE_KEY,
        anon_key=ANON_KEY,
        storage_root=tmp_path / "supabase-storage",
        tls=False,
    )
    await fake.start()
    store = await SupabaseStore.open(fake.url, SERVICE_KEY)
    media = await SupabaseMediaStore.open(
        fake.url, SERVICE_KEY, bucket="generations", spool_dir=tmp_path / "spool"
    )
    try:
        yield Supabase(fake.url, store, media)
    finally:
        await media.close()
        await store.close()
        await fake.close()
        await postgres_server.drop_database(name)


@dataclass
class Replica:
    """One `python -m bot` behind the webhook URL: its own port and DATA_DIR, everything else shared.
    `outputs` has one entry per life of the process (a restart adds one)."""

    name: str
    cwd: Path
    env: dict[str, str]
    port: int
    process: BotProcess | None = None
    outputs: list[Output] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}"

    async def start(self) -> None:
        self.process = await spawn_bot(self.cwd, self.env)
        assert self.process.stdout is not None
        self.outputs.append(Output(self.process.stdout))
        await self.outputs[-1].wait_for("webhook mode: waiting for updates", timeout=START_SECONDS)

    async def stop(self, signum: signal.Signals) -> int:
        assert self.process is not None
        self.process.send_signal(signum)
        code = await asyncio.wait_for(self.process.wait(), timeout=STOP_SECONDS)
        await self.outputs[-1].finish()
        return code

    def finished(self, update_id: int, outcome: str) -> int:
        """How often aiogram logged this update as done ("Update id=N is handled" / "is not handled")."""
        needle = f"Update id={update_id} is {outcome}"
        return sum(output.count(needle) for output in self.outputs)

    async def wait_finished(self, update_id: int, times: int) -> None:
        earlier = sum(output.count(f"Update id={update_id} is ") for output in self.outputs[:-1])
        if times > earlier:
            await self.outputs[-1].wait_for(f"Update id={update_id} is ", times - earlier, STEP_SECONDS)

    @property
    def log(self) -> str:
        return "\n".join(output.text for output in self.outputs)


@dataclass
class Cluster:
    telegram: FakeTelegram
    supabase: Supabase
    redis_url: str
    replicas: list[Replica]

    async def until_handled(self) -> None:
        """Until every update some replica answered 200 shows in that replica's log as done, so that
        no update is being handled anywhere."""
        for replica in self.replicas:
            answered = Counter(
                d.update_id for d in self.telegram.deliveries if d.target == replica.url and d.status == 200
            )
            for update_id, times in answered.items():
                await replica.wait_finished(update_id, times)


def replica_env(
    telegram: FakeTelegram, supabase: Supabase, redis_url: str, data: Path, port: int
) -> dict[str, str]:
    """Every replica's settings but its port and DATA_DIR are the same (README, "Scaling out")."""
    return bot_env(
        telegram.url,
        data,
        SUPABASE_URL=supabase.url,
        SUPABASE_SERVICE_ROLE_KEY=SERVICE_KEY,
        REDIS_URL=redis_url,
        WEBHOOK_URL=f"https://bot.example{WEBHOOK_PATH}",
        WEBHOOK_SECRET=SECRET,
        WEB_HOST="127.0.0.1",
        WEB_PORT=str(port),
        WELCOME_CREDITS="10",
        POLL_INTERVAL_SECONDS=str(POLL_INTERVAL),
    )


@pytest.fixture
async def cluster(supabase: Supabase, redis_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    """The fake Bot API in webhook mode in front of two replicas (not started yet)."""
    telegram = FakeTelegram(TOKEN)
    await telegram.start()
    replicas = []
    for name in ("a", "b"):
        port = free_port()
        env = replica_env(telegram, supabase, redis_url, tmp_path / name / "data", port)
        (tmp_path / name).mkdir()
        replicas.append(Replica(name, tmp_path / name, env, port))
    telegram.deliver_by_webhook([r.url for r in replicas])
    try:
        yield Cluster(telegram, supabase, redis_url, replicas)
    finally:
        await kill_leftovers([r.process for r in replicas if r.process is not None])
        for replica in replicas:
            for output in replica.outputs:
                await output.finish()
        await telegram.close()


# the user's side


def texts(telegram: FakeTelegram, chat: int) -> list[str]:
    """Every text the bot sent or edited into the chat, in order."""
    return [
        str(c.params["text"])
        for c in telegram.requests
        if c.ok and c.method in ("sendMessage", "editMessageText") and int(c.params["chat_id"]) == chat
    ]


def count(telegram: FakeTelegram, chat: int, matches: Callable[[str], bool]) -> int:
    return sum(matches(text) for text in texts(telegram, chat))


async def reply(telegram: FakeTelegram, chat: int, matches: Callable[[str], bool], times: int = 1) -> None:
    await telegram.wait_for(lambda t: count(t, chat, matches) >= times, timeout=STEP_SECONDS)


async def screen(telegram: FakeTelegram, user: int, shows: str) -> dict[str, Any]:
    """The wizard message once its text contains `shows` (it is edited in place)."""

    def ready(t: FakeTelegram) -> dict[str, Any] | None:
        message = wizard(t, user)
        return message if message is not None and shows in message.get("text", "") else None

    return await telegram.wait_for(ready, timeout=STEP_SECONDS)


async def press(telegram: FakeTelegram, user: int, shows: str, label: str) -> None:
    """Press the button `label` on the wizard screen showing `shows`, until the press is answered."""
    message = await screen(telegram, user, shows)
    [data] = [data for text, data in buttons(message) if label in text]
    query = await telegram.press(user, message["message_id"], data)
    await telegram.wait_for(lambda t: t.answered(query), timeout=STEP_SECONDS)


def is_welcome(text: str) -> bool:
    return text.startswith("Hi, ")


def is_balance(text: str) -> bool:
    return text.startswith("Your balance")


async def to_summary(telegram: FakeTelegram, user: int, prompt: str) -> None:
    """The Quick start's walk: /start, /generate, Demo, text to video, Continue, the prompt."""
    await telegram.send_text(user, "/start")
    await reply(telegram, user, is_welcome)
    await telegram.send_text(user, "/generate")
    await press(telegram, user, "🎬", "Demo")
    await press(telegram, user, "✨", "📝")
    await press(telegram, user, "⚙️", "Continue")
    await screen(telegram, user, "✍️")
    await telegram.send_text(user, prompt)
    await screen(telegram, user, "📋")


async def order_with_credits(telegram: FakeTelegram, user: int, prompt: str) -> None:
    await to_summary(telegram, user, prompt)
    await press(telegram, user, "📋", "Pay 5 credits")
    await reply(telegram, user, lambda text: "Ordered:" in text)


async def order_with_stars(telegram: FakeTelegram, user: int) -> int:
    """Pay the summary's price in Stars; Telegram then sends the payment again, to both replicas at once.
    Returns the update id of the payment."""
    await to_summary(telegram, user, "a lighthouse in a storm")
    await press(telegram, user, "📋", "Pay 5 Stars")
    invoices = await telegram.wait_for(
        lambda t: [c for c in t.calls_of("sendInvoice") if c.ok and int(c.params["chat_id"]) == user],
        timeout=STEP_SECONDS,
    )
    charge = await telegram.pay(user, int(invoices[-1].result["message_id"]))
    assert charge is not None
    [paid] = [
        u["update_id"]
        for u in telegram.pushed.values()
        if u.get("message", {}).get("successful_payment", {}).get("telegram_payment_charge_id") == charge
    ]
    assert await telegram.redeliver(paid) == [200, 200]
    await reply(telegram, user, lambda text: "your video is ordered" in text)
    return paid


async def ask_balance(telegram: FakeTelegram, user: int) -> None:
    before = count(telegram, user, is_balance)
    await telegram.send_text(user, "/balance")
    await reply(telegram, user, is_balance, before + 1)


async def test_two_replicas_one_killed_mid_run_handle_every_update_once(cluster: Cluster) -> None:
    telegram, store = cluster.telegram, cluster.supabase.store
    first, second = cluster.replicas
    for replica in cluster.replicas:
        replica.env["DEMO_DELAY_SECONDS"] = "5"
        replica.env["POLL_LEASE_SECONDS"] = "3"
    await asyncio.gather(first.start(), second.start())

    # Three users at once, each switching replicas between presses
    paid, *_ = await asyncio.gather(
        order_with_stars(telegram, STARS_USER),
        order_with_credits(telegram, CREDITS_USER, "a paper boat on a river"),
        order_with_credits(telegram, REFUSED_USER, "a forbidden scene"),
    )
    await cluster.until_handled()
    # the replica that handled the payment, and so placed the last order, dies while its video is made
    victim = first if first.finished(paid, "handled") else second
    [stars_order] = await store.list_user_generations(STARS_USER)
    assert stars_order.status in ACTIVE_STATUSES, "the kill must catch the order's video being made"
    assert await victim.stop(signal.SIGKILL) == -signal.SIGKILL

    # The users go on with the other replica (every other update of theirs is refused by the dead one
    # first), then the dead one starts again and takes its turns
    await asyncio.gather(
        order_with_credits(telegram, LATE_USER, "a red kite over the hills"),
        ask_balance(telegram, CREDITS_USER),
    )
    assert any(d.target == victim.url and d.status is None for d in telegram.deliveries)
    await victim.start()
    await asyncio.gather(*(ask_balance(telegram, u) for u in (STARS_USER, REFUSED_USER, LATE_USER)))
    await ask_balance(telegram, CREDITS_USER)

    def settled(t: FakeTelegram) -> bool:
        videos = {int(c.params["chat_id"]) for c in t.calls_of("sendVideo") if c.ok}
        refunded = count(t, REFUSED_USER, lambda text: "returned" in text) >= 1
        return videos >= {CREDITS_USER, STARS_USER, LATE_USER} and refunded

    await telegram.wait_for(settled, timeout=60)
    await cluster.until_handled()
    codes = await asyncio.gather(*(r.stop(signal.SIGTERM) for r in cluster.replicas))
    assert codes == [0, 0], [r.log for r in cluster.replicas]

    # Every update reached a replica and was handled by exactly one of them
    for update_id in telegram.pushed:
        answered = len(telegram.delivered_to(update_id))
        handled = sum(r.finished(update_id, "handled") for r in cluster.replicas)
        skipped = sum(r.finished(update_id, "not handled") for r in cluster.replicas)
        assert (answered, handled, skipped) == (answered, 1, answered - 1), (update_id, answered)
    assert len(telegram.delivered_to(paid)) == 3, "the payment arrived three times"
    skipped = sum(r.log.count(f"update {paid} seen before; skipped") for r in cluster.replicas)
    assert skipped == 2, "and twice it was found handled (or being handled) by a replica"
    # ... and got exactly one reply each
    answers = Counter(c.params["callback_query_id"] for c in telegram.calls_of("answerCallbackQuery"))
    assert set(answers) == set(telegram.callback_queries) and set(answers.values()) == {1}
    checkouts = Counter(
        c.params["pre_checkout_query_id"] for c in telegram.calls_of("answerPreCheckoutQuery")
    )
    assert list(checkouts.values()) == [1]
    users = (CREDITS_USER, STARS_USER, REFUSED_USER, LATE_USER)
    for user in users:
        assert count(telegram, user, is_welcome) == 1, user
        assert count(telegram, user, lambda text: text.startswith("🎬 Choose a model")) == 1, user
        assert count(telegram, user, is_balance) == (2 if user == CREDITS_USER else 1), user
    for user in (CREDITS_USER, REFUSED_USER, LATE_USER):
        assert count(telegram, user, lambda text: "Ordered:" in text) == 1, user
    assert count(telegram, STARS_USER, lambda text: "your video is ordered" in text) == 1

    # Every generation delivered or refunded exactly once
    videos = Counter(int(c.params["chat_id"]) for c in telegram.calls_of("sendVideo") if c.ok)
    assert set(videos) == {CREDITS_USER, STARS_USER, LATE_USER} and max(videos.values()) <= 2, videos
    for user in users:
        [generation] = await store.list_user_generations(user)
        kinds = Counter(e.kind for e in await store.list_ledger(user))
        if user == REFUSED_USER:
            assert generation.status is GenerationStatus.FAILED
            assert kinds == {LedgerKind.WELCOME: 1, LedgerKind.DEBIT: 1, LedgerKind.REFUND: 1}
        elif user == STARS_USER:
            assert generation.status is GenerationStatus.DELIVERED
            assert generation.request_key is not None and generation.request_key.startswith("stars:")
            assert kinds == {LedgerKind.WELCOME: 1, LedgerKind.PURCHASE: 1, LedgerKind.DEBIT: 1}
        else:
            assert generation.status is GenerationStatus.DELIVERED
            assert kinds == {LedgerKind.WELCOME: 1, LedgerKind.DEBIT: 1}
    assert await store.pending_updates(limit=10) == [], "no kept payment left unhandled"

    # Redis remembers every update as handled (and for a day, not for ever)
    async with aioredis.from_url(cluster.redis_url) as redis:
        for update_id in telegram.pushed:
            key = f"videobot:update:{BOT_ID}:{update_id}"
            assert await redis.get(key) == b"done", update_id
            assert 3600 < await redis.ttl(key) <= 24 * 3600
    violations = await check_invariants(
        store, cluster.supabase.media, now=datetime.now(UTC), poll_interval_seconds=POLL_INTERVAL
    )
    assert violations == []
    for replica in cluster.replicas:
        assert "Traceback" not in replica.log, replica.log
        assert TOKEN not in replica.log and SECRET not in replica.log


async def order_directly(store: SupabaseStore, user: int) -> str:
    """A paid demo generation, placed in the store as the wizard would (no replica submits it at once)."""
    settings = Settings(_env_file=None, bot_token=TOKEN, demo_mode=True)  # type: ignore[call-arg]
    await store.ensure_user(user, username=None, language="en")
    await store.apply_ledger_entry(NewLedgerEntry(user, 20, LedgerKind.ADMIN, f"admin:1:{user}", 1))
    request = VideoRequest(model="demo", mode="t2v", prompt="a lighthouse in a storm")
    created = await GenerationService(store, load_catalog(), settings, Providers(settings)).create(
        user_id=user, chat_id=user, request=request
    )
    assert isinstance(created, GenerationCreated)
    return created.generation.id


async def test_sigterm_on_a_replica_frees_its_leases_for_the_other(cluster: Cluster) -> None:
    telegram, store = cluster.telegram, cluster.supabase.store
    first, second = cluster.replicas
    for replica in cluster.replicas:
        replica.env["DEMO_DELAY_SECONDS"] = "0"
        # far longer than the test waits: only a released lease lets the other replica deliver
        replica.env["POLL_LEASE_SECONDS"] = "300"
    user = 8201
    upload = telegram.hold("sendVideo", times=1)  # the first upload hangs: the delivery is in flight
    await first.start()
    generation_id = await order_directly(store, user)
    await telegram.wait_for(lambda t: t.held["sendvideo"] == 1, timeout=STEP_SECONDS)
    assert first.process is not None
    owner = f":{first.process.pid}:"  # lease owners read host:pid:random
    leased = await store.get_generation(generation_id)
    assert leased is not None and owner in (leased.lease_owner or "")
    await second.start()

    assert await first.stop(signal.SIGTERM) == 0, first.log
    released = await store.get_generation(generation_id)
    assert released is not None and owner not in (released.lease_owner or "")
    # the held upload was the first replica's and never answered: the one that went through is the other's
    [sent] = await telegram.wait_for(
        lambda t: [c for c in t.calls_of("sendVideo") if c.ok], timeout=STEP_SECONDS
    )
    assert telegram.calls.count("sendVideo") == 2 and int(sent.params["chat_id"]) == user
    upload.set()
    assert await second.stop(signal.SIGTERM) == 0, second.log

    delivered = await store.get_generation(generation_id)
    assert delivered is not None and delivered.status is GenerationStatus.DELIVERED
    assert delivered.lease_owner is None
    violations = await check_invariants(
        store, cluster.supabase.media, now=datetime.now(UTC), poll_interval_seconds=POLL_INTERVAL
    )
    assert violations == []
    for replica in cluster.replicas:
        assert "Traceback" not in replica.log, replica.log


@pytest.mark.parametrize("problem", ["refused", "password", "scheme"])
async def test_a_redis_that_cannot_work_stops_the_start_with_one_line(
    tmp_path: Path, redis_url: str, problem: str
) -> None:
    """Checked at the start, before Telegram is asked anything, never on the first update; the line names
    host and port only, never the password in REDIS_URL."""
    server = redis_url.removeprefix("redis://").split("/")[0]
    closed = f"127.0.0.1:{free_port()}"
    url, code, line = {
        "refused": (
            f"redis://:hunter2-secret@{closed}/0",
            ExitCode.SUPABASE,
            f"Cannot reach Redis at {closed} (REDIS_URL): connection refused",
        ),
        "password": (
            f"redis://:hunter2-secret@{server}/0",
            ExitCode.SUPABASE,
            f"Redis at {server} refused the password in REDIS_URL",
        ),
        "scheme": (
            f"http://:hunter2-secret@{server}/0",
            ExitCode.CONFIG,
            "REDIS_URL is not a Redis URL: it must start with redis://, rediss:// or unix://",
        ),
    }[problem]
    env = bot_env(f"http://{closed}", tmp_path / "data", REDIS_URL=url)  # no Bot API: never reached
    process = await spawn_bot(tmp_path, env, merge_stderr=False)
    out, err = await asyncio.wait_for(process.communicate(), timeout=START_SECONDS)
    assert (process.returncode, err.decode().splitlines()) == (code, [line]), out.decode()
    assert "hunter2" not in (out + err).decode()
