"""Updates per second through the real handlers, against a bare aiogram bot on the same fake Bot API.

Everything a user does reaches the bot as an update, and the bot's own work per update (middlewares,
filters, the store, the translator) is what it adds to aiogram's. This runs two bots, one after the
other, in this process, each long polling its own fake Bot API (tests/fakes/telegram.py) in a child
process, so the fake's CPU is not counted here:

* the real bot: `build_container` + `build_dispatcher` over a temporary SQLite store and local media
  folder (`open_backends`, `build_bot`: the app's own wiring), without the poller;
* a bare aiogram bot: one Router that answers a message with `message.answer(text)` and a callback
  query with `query.answer()`, the ceiling.

Both poll with `tasks_concurrency_limit=HANDLER_CONCURRENCY`, as the app does. Each gets a warm-up, then
N updates from U users, every user going through `/start`, `/balance`, a text message and a press on
an out-of-date wizard button in turn; an update counts as handled when its reply (a sendMessage, or the
press's answerCallbackQuery) reached the fake. For each bot it prints updates per second (from the
first update queued to the last reply), the CPU time of this process per update (`time.process_time`:
the event loop and SQLite's thread), and the resident memory before and after. The last two lines are
the ratios to the bare bot with their goals: updates/s ≥ 0.8 × bare, CPU per update ≤ 1.5 × bare.

Then the burst (`--burst 3000`, 0 skips it): the real bot again, now with its poller running on its own
lane (`Store.open_lane`, the poller's loop) and the demo provider, takes a burst of updates while an
order is placed every 0.1 s (`GenerationService.create`, as the pay button does, for users funded
beforehand). It prints how long each of the poller's claims of due rows took while the burst was being
handled (nothing is due: an empty poll) and paid → create request (the demo provider's `submit` called)
for the orders placed during the burst; the goal for the worst of both is ≤ 1 s: the poller never waits
behind chat traffic.

    python benchmarks/updates.py [--updates 2000] [--users 200] [--burst 3000] [--profile N]

`--profile N` then runs the real bot once more under cProfile and prints the N costliest functions (of
the event loop thread; the figures above are not slowed by it). Loopback only, bounded by --timeout;
the temporary folder is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import CallbackQuery, Message

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bot.app import build_bot
from bot.backends import open_backends
from bot.container import build_container
from bot.dispatcher import build_dispatcher
from bot.middlewares import ThrottleUsers
from bot.wizard.callbacks import WizardGo
from services.catalog import load_catalog
from services.poller import Poller
from services.providers.base import SubmitJob, Submitted, VideoProvider
from services.providers.registry import ADAPTERS, DESCRIPTORS, Providers
from services.settings import Settings
from services.video_request import VideoRequest
from storage.interfaces import Store
from storage.records import GenerationCreated, LedgerKind, NewLedgerEntry
from tests.fakes.telegram import BOT_USER, FakeTelegram

BOT_TOKEN = "12345:benchmark-placeholder-not-a-real-token"
MB = 1 << 20
GOAL_RATE = 0.8
GOAL_CPU = 1.5
#: What each user sends, in turn; "press" is a button of a wizard that is no longer open.
KINDS = ("/start", "/balance", "text", "press")
TEXT = "a cat surfing a wave at sunset"
STALE = WizardGo(draft="0" * 8, to="next").pack()
#: User ids of the measured run and of the warm-up (never the same users).
FIRST_USER, WARM_FIRST_USER = 10_000_000, 20_000_000
#: Users sending the burst's updates, and those placing its orders (one order each).
BURST_FIRST_USER, ORDER_FIRST_USER = 30_000_000, 40_000_000
#: Seconds between two orders during the burst, the most orders placed, and the goal for the worst
#: empty poll and the worst paid → create request while the burst is handled.
ORDER_EVERY, MAX_ORDERS, BURST_GOAL = 0.1, 400, 1.0


# --- the fake Bot API (child process) -----------------------------------------------------------------


async def serve() -> None:
    """A FakeTelegram on loopback; each stdin line is a feed order, answered with one JSON line."""
    fake = FakeTelegram(BOT_TOKEN)
    await fake.start()
    print(fake.url, flush=True)
    while line := await asyncio.to_thread(sys.stdin.readline):  # the parent closes stdin when done
        order = json.loads(line)
        print(json.dumps(await feed(fake, **order)), flush=True)
    await fake.close()


async def feed(fake: FakeTelegram, *, count: int, users: int, first_user: int, wait_seconds: float) -> dict:
    """Queue `count` updates once the bot is idle in a long poll; time them until every reply is in."""
    await fake.wait_for(lambda f: f.polls_waiting > 0, wait_seconds)
    messages_before, answers_before = fake.sent.qsize(), len(fake.callback_answers)
    messages = answers = 0
    started = time.perf_counter()
    for number in range(count):
        user = first_user + number % users
        kind = KINDS[(number // users) % len(KINDS)]
        if kind == "press":
            await press_stale_button(fake, user)
            answers += 1
        else:
            await fake.send_text(user, TEXT if kind == "text" else kind)
            messages += 1

    def replies(f: FakeTelegram) -> tuple[int, int]:
        return f.sent.qsize() - messages_before, len(f.callback_answers) - answers_before

    await fake.wait_for(lambda f: replies(f) >= (messages, answers), wait_seconds)
    seconds = time.perf_counter() - started
    sent, answered = replies(fake)
    return {"seconds": seconds, "messages": [sent, messages], "answers": [answered, answers]}


async def press_stale_button(fake: FakeTelegram, user: int) -> None:
    """A press on an old wizard message's button (the fake's `press` only offers current buttons)."""
    query_id = f"q{len(fake.callback_queries) + 1}"
    message = {
        "message_id": 1,
        "date": int(time.time()),
        "chat": {"id": user, "type": "private", "first_name": "Ann"},
        "from": BOT_USER,
        "text": "an old wizard",
        "reply_markup": {"inline_keyboard": [[{"text": "Next", "callback_data": STALE}]]},
    }
    query = {
        "id": query_id,
        "from": fake.user(user),
        "message": message,
        "chat_instance": str(-user),
        "data": STALE,
    }
    fake.callback_queries[query_id] = query
    await fake.push_update("callback_query", query)


class FakeApi:
    """The parent's side of the child process: its URL, and feed orders."""

    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url

    async def feed(self, *, count: int, users: int, first_user: int, wait_seconds: float) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        order = {"count": count, "users": users, "first_user": first_user, "wait_seconds": wait_seconds}
        self.process.stdin.write(json.dumps(order).encode() + b"\n")
        await self.process.stdin.drain()
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError("the fake Bot API process ended")
        return json.loads(line)


@asynccontextmanager
async def fake_api() -> AsyncIterator[FakeApi]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        yield FakeApi(process, (await process.stdout.readline()).decode().strip())
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


# --- the two bots ---------------------------------------------------------------------------------------


def settings_for(url: str, folder: Path, **more: Any) -> Settings:
    values: dict[str, Any] = {"bot_token": BOT_TOKEN, "data_dir": folder, "telegram_api_url": url, **more}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]  # no .env: only these values


@asynccontextmanager
async def real_bot(url: str, folder: Path) -> AsyncIterator[tuple[Bot, Dispatcher]]:
    """The app's wiring (bot/app.py `run`) minus the poller, the scheduler and the web app."""
    settings = settings_for(url, folder)
    backends = await open_backends(settings)
    bot = build_bot(settings)
    try:
        services = build_container(
            settings=settings,
            catalog=load_catalog(settings.catalog_path, providers=DESCRIPTORS),
            store=backends.store,
            media=backends.media,
            bot=bot,
            lane=backends.lane,
        )
        yield bot, build_dispatcher(services)
    finally:
        await bot.session.close()
        await backends.close()


async def echo(message: Message) -> None:
    await message.answer(message.text or "?")


async def answer(query: CallbackQuery) -> None:
    await query.answer()


@asynccontextmanager
async def bare_bot(url: str, _folder: Path) -> AsyncIterator[tuple[Bot, Dispatcher]]:
    """The ceiling: aiogram with one router and nothing of ours."""
    bot = Bot(BOT_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(url)))
    router = Router(name="echo")
    router.message.register(echo)
    router.callback_query.register(answer)
    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    try:
        yield bot, dispatcher
    finally:
        await bot.session.close()


BotFactory = Callable[[str, Path], Any]


# --- measuring ------------------------------------------------------------------------------------------


def rss_bytes() -> int:
    """Current resident set size; falls back to the lifetime peak where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


@dataclass
class Run:
    updates: int
    seconds: float
    cpu: float
    rss_before: int
    rss_after: int

    @property
    def rate(self) -> float:
        return self.updates / self.seconds

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / self.updates


async def measure(
    make: BotFactory,
    folder: Path,
    *,
    updates: int,
    users: int,
    concurrency: int,
    wait_seconds: float,
    profiler: cProfile.Profile | None = None,
) -> Run:
    """One bot from start to stop: a warm-up, then the measured updates."""
    rss_before = rss_bytes()
    async with fake_api() as api, make(api.url, folder) as (bot, dispatcher):
        polling = asyncio.create_task(
            dispatcher.start_polling(bot, handle_signals=False, tasks_concurrency_limit=concurrency)
        )
        try:
            warm = max(len(KINDS), min(200, updates // 10))  # each warm-up user sends every kind
            await checked(
                api.feed(
                    count=warm,
                    users=warm // len(KINDS),
                    first_user=WARM_FIRST_USER,
                    wait_seconds=wait_seconds,
                )
            )
            cpu = time.process_time()
            if profiler is not None:
                profiler.enable()
            result = await checked(
                api.feed(count=updates, users=users, first_user=FIRST_USER, wait_seconds=wait_seconds)
            )
            if profiler is not None:
                profiler.disable()
            cpu = time.process_time() - cpu
        finally:
            await dispatcher.stop_polling()
            await polling
    return Run(updates, result["seconds"], cpu, rss_before, rss_bytes())


async def checked(fed: Awaitable[dict]) -> dict:
    """The feed's answer, if every update got exactly one reply (more would mean the count is wrong)."""
    result = await fed
    for what in ("messages", "answers"):
        got, expected = result[what]
        if got != expected:
            raise RuntimeError(f"{got} {what} for {expected} updates that want one each")
    return result


def line(label: str, run: Run) -> str:
    return (
        f"{label + ':':<34} {run.updates} updates in {run.seconds:.2f} s = {run.rate:.0f} updates/s,"
        f" {run.cpu_ms:.2f} ms CPU per update, RSS {run.rss_before / MB:.0f} → {run.rss_after / MB:.0f} MB"
    )


async def benchmark(updates: int, users: int, bursting: int, profile: int, folder: Path) -> bool:
    concurrency = settings_for("http://127.0.0.1:1", folder).handler_concurrency
    options = {"updates": updates, "users": users, "concurrency": concurrency, "wait_seconds": 120.0}
    bare = await measure(bare_bot, folder / "bare", **options)
    real = await measure(real_bot, folder / "real", **options)
    print(
        f"updates: {updates} updates from {users} users ({', '.join(KINDS)} in turn),"
        f" HANDLER_CONCURRENCY {concurrency}"
    )
    print(line("real bot (SQLite, every router)", real))
    print(line("bare aiogram echo bot", bare))
    if profile:
        profiler = cProfile.Profile()
        await measure(real_bot, folder / "profiled", **options, profiler=profiler)
        for order in ("tottime", "cumulative"):
            print(f"\nprofile of the real bot's updates (event loop thread only), top {profile} by {order}:")
            pstats.Stats(profiler, stream=sys.stdout).sort_stats(order).print_stats(profile)
    burst_met = True
    if bursting:
        burst_met = report_burst(bursting, await burst(bursting, users_for(bursting), folder / "burst"))
    rate_ratio, cpu_ratio = real.rate / bare.rate, real.cpu_ms / bare.cpu_ms
    rate_met, cpu_met = rate_ratio >= GOAL_RATE, cpu_ratio <= GOAL_CPU
    print(f"updates/s ratio {rate_ratio:.2f} (goal ≥ {GOAL_RATE}): {'met' if rate_met else 'missed'}")
    print(f"CPU per update ratio {cpu_ratio:.2f} (goal ≤ {GOAL_CPU}): {'met' if cpu_met else 'missed'}")
    return rate_met and cpu_met and burst_met


def users_for(updates: int) -> int:
    """Enough users that none sends more than half of what ThrottleUsers lets through at once."""
    return max(1, -(-updates * 2 // ThrottleUsers.BURST))


# --- the burst: the poller's lane while chat traffic is handled ------------------------------------------


@dataclass
class Burst:
    """What the poller's side did while the burst was handled."""

    #: seconds each claim of due rows took (`claim_due_generations` on the lane), with its start time
    claims: list[tuple[float, float]]
    #: an order's prompt → when `create` returned, and when the provider's `submit` was called
    placed: dict[str, float]
    submitted: dict[str, float]


def timed_claims(lane: Store, claims: list[tuple[float, float]]) -> None:
    """Record every claim of due rows the poller's loop makes on its lane."""
    claim = lane.claim_due_generations

    async def timed(**kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await claim(**kwargs)
        finally:
            claims.append((started, time.perf_counter() - started))

    lane.claim_due_generations = timed  # type: ignore[method-assign]


def timed_adapters(settings: Settings, submitted: dict[str, float]) -> Providers:
    """The registry's own adapters, each `submit` noting when it was called (by the order's prompt)."""

    def build(key: str) -> VideoProvider:
        provider, cls = ADAPTERS[key]
        config = settings.provider(provider)
        adapter = cls(config, **config.adapter_options())  # type: ignore[call-arg]
        submit = adapter.submit

        async def timed(job: SubmitJob) -> Submitted:
            submitted.setdefault(job.request.prompt, time.perf_counter())
            return await submit(job)

        adapter.submit = timed  # type: ignore[method-assign]
        return adapter

    return Providers(settings, factory=build)


async def burst(updates: int, users: int, folder: Path) -> Burst:
    """The real bot with its poller on its own lane: `updates` from `users`, orders placed meanwhile."""
    result = Burst(claims=[], placed={}, submitted={})
    orders = min(MAX_ORDERS, int(updates / 100 / ORDER_EVERY) + 10)  # ~100 updates/s at the slowest
    async with fake_api() as api:
        settings = settings_for(
            api.url,
            folder,
            demo_mode=True,
            demo_delay_seconds=3600,  # nothing finishes during the burst: every poll finds nothing due
            poll_interval_seconds=0.5,
            max_submits_per_minute=600,
        )
        backends = await open_backends(settings)
        bot = build_bot(settings)
        providers = timed_adapters(settings, result.submitted)
        services = build_container(
            settings=settings,
            catalog=load_catalog(settings.catalog_path, providers=DESCRIPTORS),
            store=backends.store,
            media=backends.media,
            bot=bot,
            providers=providers,
            lane=backends.lane,
        )
        poller: Poller = services.poller
        timed_claims(backends.lane, result.claims)
        dispatcher = build_dispatcher(services)
        store = backends.store
        for number in range(orders):  # funded before the burst, so the burst measures only the orders
            user = ORDER_FIRST_USER + number
            await store.ensure_user(user, username=None, language="en")
            await store.apply_ledger_entry(
                NewLedgerEntry(user, 100, LedgerKind.ADMIN, f"admin:1:burst-{user}", admin_id=1)
            )
        polling = asyncio.create_task(
            dispatcher.start_polling(
                bot, handle_signals=False, tasks_concurrency_limit=settings.handler_concurrency
            )
        )
        poller.start()
        try:
            await checked(api.feed(count=40, users=10, first_user=WARM_FIRST_USER, wait_seconds=120))
            result.claims.clear()
            fed = asyncio.create_task(
                checked(api.feed(count=updates, users=users, first_user=BURST_FIRST_USER, wait_seconds=300))
            )
            for number in range(orders):
                if fed.done():
                    break
                prompt = f"order {number}: a cat surfing a wave"
                request = VideoRequest(model="demo", mode="t2v", prompt=prompt)
                user = ORDER_FIRST_USER + number
                created = await services.generations.create(user_id=user, chat_id=user, request=request)
                if not isinstance(created, GenerationCreated):
                    raise RuntimeError(f"order {number} not placed: {created}")
                result.placed[prompt] = time.perf_counter()
                await asyncio.sleep(ORDER_EVERY)
            await fed
            ended = time.perf_counter()
            result.claims[:] = [(at, seconds) for at, seconds in result.claims if at <= ended]
            for _ in range(600):  # the orders' submits, at most 60 s after the burst
                if all(prompt in result.submitted for prompt in result.placed):
                    break
                await asyncio.sleep(0.1)
        finally:
            await poller.stop(grace_seconds=1)
            await dispatcher.stop_polling()
            await polling
            await providers.close()
            await bot.session.close()
            await backends.close()
    return result


def worst(values: list[float]) -> float:
    return max(values, default=float("nan"))


def report_burst(updates: int, result: Burst) -> bool:
    """Print the burst's figures; True when the worst empty poll and paid → create meet the goal."""
    claims = [seconds for _, seconds in result.claims]
    waits = [
        result.submitted[prompt] - placed
        for prompt, placed in result.placed.items()
        if prompt in result.submitted
    ]
    missing = len(result.placed) - len(waits)
    print(
        f"burst: {updates} updates with the poller on its own lane; {len(claims)} empty polls,"
        f" {len(result.placed)} orders placed meanwhile"
    )
    if claims:
        print(
            f"empty poll (claim of due rows): median {statistics.median(claims):.4f} s,"
            f" worst {worst(claims):.4f} s"
        )
    if waits:
        print(
            f"paid → create request: median {statistics.median(waits):.4f} s, worst {worst(waits):.4f} s"
            + (f"; {missing} never sent" if missing else "")
        )
    met = bool(claims) and bool(waits) and not missing and max(worst(claims), worst(waits)) <= BURST_GOAL
    print(
        f"worst empty poll {worst(claims):.3f} s, worst paid → create {worst(waits):.3f} s"
        f" during the burst (goal ≤ {BURST_GOAL:g} s): {'met' if met else 'missed'}"
    )
    return met


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--updates", type=int, default=2000, help="measured updates (default 2000)")
    parser.add_argument("--users", type=int, default=200, help="users sending them (default 200)")
    parser.add_argument(
        "--burst", type=int, default=3000, help="updates of the burst phase, 0 to skip it (default 3000)"
    )
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print the N costliest functions")
    parser.add_argument("--timeout", type=float, default=600, help="give up after this many seconds")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
        return 0
    if args.updates < 1 or args.users < 1:
        parser.error("--updates and --users must be at least 1")
    if args.updates > args.users * ThrottleUsers.BURST:
        parser.error(
            f"at most {ThrottleUsers.BURST} updates per user: the bot drops a user's updates beyond that"
            " (ThrottleUsers), which would never be answered"
        )

    async def bounded() -> bool:
        with tempfile.TemporaryDirectory(prefix="updates-bench-") as folder:
            run = benchmark(args.updates, args.users, max(0, args.burst), args.profile, Path(folder))
            return await asyncio.wait_for(run, args.timeout)

    return 0 if asyncio.run(bounded()) else 1


if __name__ == "__main__":
    sys.exit(main())
