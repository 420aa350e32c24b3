"""Throughput of a poller sweep: `Poller.tick()` over N in-flight generations against a slow provider.

The poller must keep up with thousands of running generations while each status check waits on the
provider's network latency. With `c` concurrent workers and a latency `L`, N checks can at best take
N × L ÷ c; whatever the poller adds per check (SQLite transactions, leases, progress updates, task
scheduling) shows as the distance from that ideal, and from the ceiling measured in the same run: a
bare aiohttp loop making the same N status checks with the same concurrency. This inserts N generations
straight into the RUNNING state, spread over users within the per-user limits (real SqliteStore with the
poller on its own connection, GenerationService and OpenAI Videos adapter, in a temporary folder),
answers their status checks from a fake OpenAI Videos API in a child process that sleeps L before each
answer (so its CPU is not counted here) and reports 25 % more progress on each poll, then runs
`tick()` once per sweep, moving the clock past every row's next poll in between. Sweep 1 is the first
poll after submission (new progress and a new status message for every row: the most writes); sweep 2
a later one (new progress, the same status message). For each it prints the sweep time, the CPU time
of this process per status check (the poller, the adapter and the SQLite thread), and the ratio of the
sweep time to the bare loop's. Goal: ratio ≤ 1.5. After each sweep it checks that every generation
was polled exactly once and released with its next poll in the future (exit code 1 when not; a missed
goal only prints). The last line is the worst sweep's ratio.

    python benchmarks/poller_sweep.py [--count 5000] [--concurrency 64] [--latency-ms 50] [--sweeps 2]

Loopback only; every run is bounded by --timeout. `--quick` is a smoke run of 500 generations.
`--profile N` runs the sweeps under cProfile and prints the N costliest functions (of the event loop
thread only: the SQLite thread is not seen, and profiling slows the sweep by about a third).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import resource
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bot.container import build_container
from services.catalog import load_catalog
from services.generations import GenerationService
from services.notifications import Notifier, StoredVideo
from services.providers.openai_videos import OpenAIVideosProvider
from services.providers.registry import Providers
from services.settings import Settings
from services.video_request import VideoRequest
from storage.local_media import LocalMediaStore
from storage.records import Generation, GenerationCreated, GenerationStatus, LedgerKind, NewLedgerEntry
from storage.sqlite import SqliteStore

HOST = "127.0.0.1"
API_KEY = "sk-bench-key-000000000000"
BOT_TOKEN = "12345:benchmark-placeholder-not-a-real-token"  # the shape settings accept; never sent
GOAL_RATIO = 1.5
FIRST_USER = 7001
PRICE = 10
#: The clock moves this much before each sweep: past every row's next_poll_at (POLL_INTERVAL_SECONDS
#: after its last poll) and past the status-message throttle (PROGRESS_EDIT_SECONDS, 15 s), while the
#: deadlines (30-minute hard timeout from setup) stay ahead for up to 29 sweeps.
SWEEP_AFTER = timedelta(minutes=1)
POLL_INTERVAL_SECONDS = 10.0
#: The fake's progress after the n-th poll of a video: PROGRESS_STEP × n, at most 99 (never finished).
PROGRESS_STEP = 25
CATALOG = """
[[models]]
key = "clip"
name = "Bench Clip"
modes = ["t2v"]
durations = [4]
aspect_ratios = ["16:9"]
resolutions = ["720p"]
audio = "always"
default_audio = true
default_duration = 4
default_aspect_ratio = "16:9"
default_resolution = "720p"
prompt_max = 2000
price = { per_clip = 10 }

[[models.routes]]
provider = "openai"
model_id = "sora-2"
priority = 10
"""


# --- the fake provider (child process) ---------------------------------------------------------------


def progress_after(polls: int) -> int:
    return min(99, PROGRESS_STEP * polls)


async def serve(latency: float) -> None:
    """A minimal OpenAI Videos API: every video is `in_progress`, 25 % further on each poll, answered
    after `latency` seconds. GET /stats reports the status checks so far; it runs until stdin closes."""
    polls: Counter[str] = Counter()

    async def retrieve(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return web.json_response({"error": {"message": "bad key", "code": "invalid_api_key"}}, status=401)
        video_id = request.match_info["video_id"]
        polls[video_id] += 1
        progress = progress_after(polls[video_id])
        await asyncio.sleep(latency)
        return web.json_response(
            {
                "id": video_id,
                "object": "video",
                "created_at": 1_790_000_000,
                "status": "in_progress",
                "progress": progress,
                "model": "sora-2",
                "seconds": "4",
                "size": "1280x720",
                "remixed_from_video_id": None,
                "error": None,
            }
        )

    async def stats(_request: web.Request) -> web.Response:
        ours = {k: v for k, v in polls.items() if k.startswith("video_")}  # not the bare loop's
        counts = Counter(ours.values())  # polls per video -> videos
        return web.json_response({"requests": sum(ours.values()), "polls_per_video": counts})

    app = web.Application()
    app.router.add_get("/v1/videos/{video_id}", retrieve)
    app.router.add_get("/stats", stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(port, flush=True)
    await asyncio.to_thread(sys.stdin.read)  # the parent closes our stdin (or dies) when done
    await runner.cleanup()


# --- the rig ------------------------------------------------------------------------------------------


class Clock:
    """The time the poller and GenerationService see: fixed, moved forward by the benchmark."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.now.timestamp()


class CountingNotifier(Notifier):
    """In-process stand-in for the Telegram layer: answers at once and counts calls.

    The first progress message of a generation gets a new message id (which the poller then stores);
    later ones edit it and return the same id."""

    def __init__(self) -> None:
        self.progress_calls = 0
        self.other_calls = 0

    async def show_progress(
        self, generation: Generation, *, progress: int | None, elapsed: timedelta, can_cancel: bool
    ) -> int | None:
        self.progress_calls += 1
        return generation.status_message_id or 1000 + self.progress_calls

    async def deliver(self, generation: Generation, video: StoredVideo) -> str | None:
        self.other_calls += 1
        return None

    async def report_rerouted(self, generation: Generation) -> None:
        self.other_calls += 1

    async def report_failure(self, generation: Generation, *, refunded: int) -> None:
        self.other_calls += 1


async def fill(store: SqliteStore, generations: GenerationService, count: int, per_user: int) -> list[str]:
    """`count` paid generations, `per_user` per user (the active limit), submitted to "openai" as task
    video_000000..., all RUNNING."""
    request = VideoRequest(model="clip", mode="t2v", prompt="a cat surfing a wave")
    ids = []
    for index in range(count):
        user = FIRST_USER + index // per_user
        if index % per_user == 0:
            await store.ensure_user(user, username=None, language="en")
            await store.apply_ledger_entry(
                NewLedgerEntry(user, per_user * PRICE, LedgerKind.ADMIN, f"admin:1:bench-{user}", admin_id=1)
            )
        created = await generations.create(user_id=user, chat_id=user, request=request)
        if not isinstance(created, GenerationCreated):
            raise RuntimeError(f"could not create generation {index}: {created}")
        running = await generations.mark_running(
            created.generation.id, provider="openai", provider_model_id="sora-2", task_id=f"video_{index:06d}"
        )
        if running is None:
            raise RuntimeError(f"generation {index} did not start running")
        ids.append(running.id)
    return ids


async def bare_sweep(base_url: str, count: int, concurrency: int) -> float:
    """The ceiling: the same status checks from a plain aiohttp loop (no store, no poller), in seconds."""
    slots = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {API_KEY}"}

    async def check(session: ClientSession, index: int) -> None:
        async with slots, session.get(f"{base_url}/v1/videos/bare_{index:06d}", headers=headers) as reply:
            json.loads(await reply.read())

    async with ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(check(session, i) for i in range(count)))
        return time.perf_counter() - started


async def verify(store: SqliteStore, ids: list[str], due_at: datetime, progress: int) -> list[str]:
    """Problems left by a sweep: rows still due, leases still held, progress not recorded."""
    problems = []
    left = await store.claim_due_generations(now=due_at, owner="verify", lease_seconds=1, limit=10)
    if left:
        problems.append(f"{len(left)}+ generations still due after the sweep (e.g. {left[0].id})")
    for generation_id in ids:
        row = await store.get_generation(generation_id)
        if row is None:
            problems.append(f"{generation_id}: missing")
        elif row.lease_owner is not None or row.lease_until is not None:
            problems.append(f"{generation_id}: lease still held by {row.lease_owner}")
        elif row.next_poll_at is None or row.next_poll_at <= due_at:
            problems.append(f"{generation_id}: next poll {row.next_poll_at} is not after the sweep")
        elif row.status is not GenerationStatus.RUNNING or row.progress != progress:
            problems.append(
                f"{generation_id}: {row.status} at {row.progress} %, expected running at {progress} %"
            )
        elif row.status_message_id is None:
            problems.append(f"{generation_id}: no status message recorded")
        if len(problems) >= 10:
            problems.append("...")
            break
    return problems


# --- measuring ----------------------------------------------------------------------------------------


@dataclass
class Sweep:
    claimed: int
    checks: int
    messages: int
    seconds: float
    cpu: float
    loop_cpu: float


async def fetch_stats(base_url: str) -> dict[str, Any]:
    """The fake's counters: {"requests": total status checks, "polls_per_video": {"polls": videos}}."""
    async with ClientSession() as session, session.get(f"{base_url}/stats") as response:
        stats: dict[str, Any] = json.loads(await response.read())
        return stats


def report(number: int, run: Sweep, ideal: float, bare: float) -> float:
    """Print one sweep; returns its ratio to the bare loop."""
    before, after = progress_after(number - 1), progress_after(number)
    kind = "first poll, new status message" if number == 1 else "later poll, same status message"
    ratio = run.seconds / bare
    per_check = 1000 * run.cpu / max(run.checks, 1)
    other = run.cpu - run.loop_cpu
    print(f"sweep {number} ({kind}, progress {before} → {after} %):")
    for label, value in (
        ("claimed by tick()", f"{run.claimed}"),
        ("status checks answered", f"{run.checks}"),
        ("progress messages sent", f"{run.messages}"),
        ("sweep", f"{run.seconds:.2f} s ({run.checks / run.seconds:.0f} checks/s)"),
        ("CPU of this process", f"{run.cpu:.2f} s = {per_check:.3f} ms per status check"),
        ("  in the event loop thread", f"{run.loop_cpu:.2f} s ({100 * run.loop_cpu / run.cpu:.0f} %)"),
        ("  in other threads (SQLite)", f"{other:.2f} s ({100 * other / run.cpu:.0f} %)"),
        ("ratio sweep / ideal", f"{run.seconds / ideal:.2f}"),
        ("ratio sweep / bare loop", f"{ratio:.2f}"),
    ):
        print(f"  {label + ':':<30}{value}")
    return ratio


# --- main ---------------------------------------------------------------------------------------------


async def benchmark(
    count: int, concurrency: int, latency_ms: float, sweeps: int, folder: Path, profile: int
) -> bool:
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        "--latency-ms",
        str(latency_ms),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        base_url = f"http://{HOST}:{int(await server.stdout.readline())}"
        return await run(base_url, count, concurrency, latency_ms, sweeps, folder, profile)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            await asyncio.wait_for(server.wait(), 10)
        except TimeoutError:
            server.kill()
            await server.wait()


async def run(
    base_url: str, count: int, concurrency: int, latency_ms: float, sweeps: int, folder: Path, profile: int
) -> bool:
    catalog_path = folder / "catalog.toml"
    catalog_path.write_text(CATALOG, encoding="utf-8")
    values: dict[str, Any] = {
        "bot_token": BOT_TOKEN,
        "data_dir": folder,
        "openai_api_key": API_KEY,
        "openai_base_url": f"{base_url}/v1",
        "catalog_path": catalog_path,
        "poll_interval_seconds": POLL_INTERVAL_SECONDS,
        "poll_concurrency": concurrency,
        "provider_concurrency": concurrency,  # as many as the poller's workers: not the bottleneck
        "min_poll_intervals": {},
    }
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]  # no .env: only these values
    clock = Clock()
    store = await SqliteStore.open(settings.database_path)
    lane = await store.open_lane()  # the poller's own connection, as the bot runs it
    media = LocalMediaStore(settings.media_dir, public_base_url=None, link_secret=settings.media_link_key())
    catalog = load_catalog(catalog_path)
    providers = Providers(settings, factory=lambda key: OpenAIVideosProvider(settings.provider(key)))
    notifier = CountingNotifier()
    services = build_container(
        settings=settings,
        catalog=catalog,
        store=store,
        media=media,
        notifier=notifier,
        providers=providers,
        clock=clock,
        monotonic=clock.monotonic,  # the status-message throttle follows the benchmark's clock
        owner="bench",
        lane=lane,
        submit_at_once=False,  # the rows are made RUNNING by hand: nothing to submit
    )
    generations, poller = services.generations, services.poller
    profiler = cProfile.Profile() if profile else None
    ideal = count * latency_ms / 1000 / concurrency
    problems: list[str] = []
    ratios: list[float] = []
    per_user = settings.max_active_generations
    try:
        started = time.perf_counter()
        ids = await fill(store, generations, count, per_user)
        users = -(-count // per_user)
        print(
            f"setup: {count} running generations ({users} users, {per_user} each) inserted"
            f" in {time.perf_counter() - started:.1f} s"
        )
        bare = min([await bare_sweep(base_url, count, concurrency) for _ in range(2)])
        print(
            f"poller_sweep: {count} running generations, concurrency {concurrency},"
            f" latency {latency_ms:g} ms, ideal sweep {ideal:.2f} s (count × latency ÷ concurrency),"
            f" bare aiohttp loop {bare:.2f} s (best of 2)"
        )
        for number in range(1, sweeps + 1):
            clock.now += SWEEP_AFTER
            messages = notifier.progress_calls
            cpu_started, loop_started = time.process_time(), time.thread_time()
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            tick = await poller.tick()
            if profiler is not None:
                profiler.disable()
            seconds = time.perf_counter() - started
            cpu, loop_cpu = time.process_time() - cpu_started, time.thread_time() - loop_started
            stats = await fetch_stats(base_url)
            checks = int(stats["requests"]) - (number - 1) * count
            run = Sweep(tick.claimed, checks, notifier.progress_calls - messages, seconds, cpu, loop_cpu)
            ratios.append(report(number, run, ideal, bare))
            found = await verify(store, ids, clock.now, progress_after(number))
            if tick.claimed != count:
                found.insert(0, f"tick() claimed {tick.claimed} of {count} generations")
            if stats["polls_per_video"] != {str(number): count}:
                found.insert(
                    0, f"polls per video (polls: videos) {stats['polls_per_video']}, not {number} each"
                )
            problems += [f"sweep {number}: {problem}" for problem in found]
    finally:
        await poller.stop(grace_seconds=0)
        await providers.close()
        await lane.close()
        await store.close()

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS of this process: {rss / (1 << 20 if sys.platform == 'darwin' else 1 << 10):.0f} MB")
    if problems:
        print("correctness: FAILED")
        for problem in problems:
            print(f"  - {problem}")
    else:
        print("correctness: every generation polled exactly once per sweep and released, next poll ahead")
    if profiler is not None:
        for order in ("tottime", "cumulative"):
            print(f"\nprofile of the sweeps (event loop thread only), top {profile} by {order}:")
            pstats.Stats(profiler, stream=sys.stdout).sort_stats(order).print_stats(profile)
    if ratios:
        worst = max(ratios)
        verdict = "met" if worst <= GOAL_RATIO else "missed"
        print(f"ratio sweep / bare aiohttp loop {worst:.2f} (worst sweep; goal ≤ {GOAL_RATIO}): {verdict}")
    return not problems


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=5000, help="running generations (default 5000)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=64,
        help="POLL_CONCURRENCY and PROVIDER_CONCURRENCY (default 64; above 100, aiohttp's default"
        " connection limit per session caps the requests in flight)",
    )
    parser.add_argument("--latency-ms", type=float, default=50, help="fake provider latency (default 50)")
    parser.add_argument("--sweeps", type=int, default=2, help="ticks to measure, 1-29 (default 2)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: --count 500")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print the N costliest functions")
    parser.add_argument("--timeout", type=float, default=600, help="give up after this many seconds")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.latency_ms / 1000))
        return 0
    count = 500 if args.quick else args.count
    if count < 1 or not 1 <= args.concurrency <= 1000 or args.latency_ms <= 0 or not 1 <= args.sweeps <= 29:
        parser.error("--count must be at least 1, --concurrency 1-1000, --sweeps 1-29, --latency-ms > 0")

    async def bounded() -> bool:
        with tempfile.TemporaryDirectory(prefix="poller-bench-") as folder:
            run = benchmark(count, args.concurrency, args.latency_ms, args.sweeps, Path(folder), args.profile)
            return await asyncio.wait_for(run, args.timeout)

    return 0 if asyncio.run(bounded()) else 1


if __name__ == "__main__":
    sys.exit(main())
