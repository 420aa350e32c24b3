"""Latency from payment to the provider, and from a finished video to the chat.

A video bot is judged by how soon the video arrives, not by how busy its poller is. This runs the real
wiring (`build_container` over a temporary SQLite store with the poller on its own connection, the
poller's loop, the OpenAI Videos adapter, a real aiogram Bot) against two loopback fakes in this
process: the Bot API of tests/fakes/telegram.py and a minimal OpenAI Videos API whose every video is
done at a random moment 0-1.5 poll intervals after its create. For each of `--orders` orders, one after
the other, it measures:

* paid → create request: from `GenerationService.create()` returning (credits debited) to the fake
  provider receiving the create. Goal ≤ 0.5 s; the ceiling is a bare aiohttp POST to the same fake;
* done, seen by a poll → `sendVideo`: from the fake answering the first "completed" status read to the
  fake Bot API receiving the video. Goal ≤ 0.2 s plus the transfer (the clip here is 64 KB);
* provider done → `sendVideo` (found by polling): from the moment the fake's video became done to the
  video in the chat, as a share of the poll interval. Goal ≤ 1 interval (plus the 0.2 s above): a
  completion never waits for a second poll.

It prints the median, 95th percentile and worst of each, and as its last line the verdict of all three.

    python benchmarks/latency.py [--orders 20] [--interval 2]

Loopback only, bounded by --timeout; the temporary folder is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import ClientSession, web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bot.container import build_container
from bot.i18n import Translator
from services.catalog import load_catalog
from services.providers.openai_videos import OpenAIVideosProvider
from services.providers.registry import Providers
from services.settings import Settings
from services.video_request import VideoRequest
from storage.local_media import LocalMediaStore
from storage.records import GenerationCreated, LedgerKind, NewLedgerEntry
from storage.sqlite import SqliteStore
from tests.fakes.providers.openai_videos import MP4_HEAD
from tests.fakes.telegram import FakeTelegram, LoopbackSession

HOST = "127.0.0.1"
API_KEY = "sk-bench-key-000000000000"
BOT_TOKEN = "12345:benchmark-placeholder-not-a-real-token"
USER = 8001
PAID_GOAL = 0.5
DELIVER_GOAL = 0.2
FOUND_GOAL_INTERVALS = 1.0
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
VIDEO = MP4_HEAD + bytes(range(256)) * 256


@dataclass
class Video:
    created: float
    done_at: float
    seen_done: float | None = None


@dataclass
class FakeVideos:
    """A minimal OpenAI Videos API; times are `time.perf_counter()` readings of this process."""

    interval: float
    videos: dict[str, Video] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/videos", self._create)
        app.router.add_get("/v1/videos/{video_id}", self._retrieve)
        app.router.add_get("/v1/videos/{video_id}/content", self._content)
        app.router.add_post("/bare", self._bare)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        self.url = f"http://{HOST}:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _object(self, video_id: str, status: str) -> dict[str, Any]:
        return {
            "id": video_id,
            "object": "video",
            "model": "sora-2",
            "status": status,
            "progress": 100 if status == "completed" else 50,
            "created_at": 1_790_000_000,
            "seconds": "4",
            "size": "1280x720",
            "error": None,
        }

    async def _create(self, request: web.Request) -> web.Response:
        now = time.perf_counter()
        await request.read()
        video_id = f"video_{len(self.videos):06d}"
        self.videos[video_id] = Video(now, now + random.uniform(0, 1.5 * self.interval))
        self.arrived.set()
        return web.json_response(self._object(video_id, "queued"))

    async def _retrieve(self, request: web.Request) -> web.Response:
        video = self.videos[request.match_info["video_id"]]
        now = time.perf_counter()
        if now < video.done_at:
            return web.json_response(self._object(request.match_info["video_id"], "in_progress"))
        if video.seen_done is None:
            video.seen_done = now
        return web.json_response(self._object(request.match_info["video_id"], "completed"))

    async def _content(self, request: web.Request) -> web.Response:
        return web.Response(body=VIDEO, content_type="video/mp4")

    async def _bare(self, request: web.Request) -> web.Response:
        await request.read()
        return web.json_response(self._object("bare", "queued"))


def summary(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95, ordered[-1]


def line(label: str, values: list[float], unit: str = "s") -> str:
    median, p95, worst = summary(values)
    return f"  {label:<44} median {median:.3f} {unit}, p95 {p95:.3f} {unit}, worst {worst:.3f} {unit}"


async def bare_posts(url: str, count: int) -> list[float]:
    """The ceiling: a plain aiohttp POST with a small JSON body to the same fake, round trip."""
    times = []
    async with ClientSession() as session:
        for _ in range(count):
            started = time.perf_counter()
            async with session.post(f"{url}/bare", json={"model": "sora-2", "prompt": "x"}) as reply:
                json.loads(await reply.read())
            times.append(time.perf_counter() - started)
    return times


async def benchmark(orders: int, interval: float, folder: Path) -> bool:
    provider = FakeVideos(interval)
    telegram = FakeTelegram(BOT_TOKEN)
    await provider.start()
    await telegram.start()
    catalog_path = folder / "catalog.toml"
    catalog_path.write_text(CATALOG, encoding="utf-8")
    settings = Settings(  # type: ignore[call-arg]  # no .env: only these values
        _env_file=None,
        bot_token=BOT_TOKEN,
        telegram_api_url=telegram.url,
        data_dir=folder,
        openai_api_key=API_KEY,
        openai_base_url=f"{provider.url}/v1",
        catalog_path=catalog_path,
        poll_interval_seconds=interval,
        min_poll_intervals={},
        max_submits_per_minute=600,
    )
    store = await SqliteStore.open(settings.database_path)
    lane = await store.open_lane()
    media = LocalMediaStore(settings.media_dir, public_base_url=None, link_secret=settings.media_link_key())
    bot = Bot(BOT_TOKEN, session=LoopbackSession(api=TelegramAPIServer.from_base(telegram.url)))
    providers = Providers(settings, factory=lambda key: OpenAIVideosProvider(settings.provider(key)))
    services = build_container(
        settings=settings,
        catalog=load_catalog(catalog_path),
        store=store,
        media=media,
        bot=bot,
        providers=providers,
        translator=Translator(),
        lane=lane,
    )
    poller = services.poller
    paid, delivered, found = [], [], []
    try:
        await store.ensure_user(USER, username="bench", language="en")
        await store.apply_ledger_entry(
            NewLedgerEntry(USER, orders * 10, LedgerKind.ADMIN, "admin:1:bench", admin_id=1)
        )
        ceiling = await bare_posts(provider.url, orders)
        poller.start()
        request = VideoRequest(model="clip", mode="t2v", prompt="a cat surfing a wave")
        for number in range(orders):
            provider.arrived.clear()
            created = await services.generations.create(user_id=USER, chat_id=USER, request=request)
            placed = time.perf_counter()
            if not isinstance(created, GenerationCreated):
                raise RuntimeError(f"order {number} not placed: {created}")
            await asyncio.wait_for(provider.arrived.wait(), 30)
            video = provider.videos[f"video_{number:06d}"]
            paid.append(video.created - placed)
            await telegram.wait_for(
                lambda t, n=number: len(t.calls_of("sendVideo")) > n, timeout=10 * interval
            )
            sent = time.perf_counter()
            assert video.seen_done is not None
            delivered.append(sent - video.seen_done)
            found.append((sent - video.done_at) / interval)
    finally:
        await poller.stop(grace_seconds=1)
        await providers.close()
        await bot.session.close()
        await lane.close()
        await store.close()
        await media.close()
        await telegram.close()
        await provider.close()

    print(f"latency: {orders} orders one after the other, poll interval {interval:g} s")
    print(line("bare aiohttp POST to the fake (ceiling)", ceiling))
    print(line("paid → create request", paid))
    print(line("done, seen by a poll → sendVideo", delivered))
    print(line("provider done → sendVideo (poll intervals)", found, unit="×"))
    checks = (
        ("paid → create p95", summary(paid)[1], PAID_GOAL, "s"),
        ("seen → sendVideo p95", summary(delivered)[1], DELIVER_GOAL, "s"),
        ("done → sendVideo worst", summary(found)[2], FOUND_GOAL_INTERVALS + DELIVER_GOAL / interval, "×"),
    )
    verdicts = [
        f"{label} {value:.3f} {unit} (goal ≤ {goal:.2f}{unit})" for label, value, goal, unit in checks
    ]
    met = all(value <= goal for _, value, goal, _ in checks)
    ratio = summary(paid)[1] / summary(ceiling)[1]
    print(f"paid → create p95 / bare POST p95: {ratio:.1f}×")
    print(f"{'; '.join(verdicts)}: {'met' if met else 'missed'}")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=20, help="orders, one after the other (default 20)")
    parser.add_argument("--interval", type=float, default=2.0, help="POLL_INTERVAL_SECONDS (default 2)")
    parser.add_argument("--timeout", type=float, default=600, help="give up after this many seconds")
    args = parser.parse_args()
    if args.orders < 1 or args.interval < 1:
        parser.error("--orders must be at least 1 and --interval at least 1 (the poller's minimum gap)")

    async def bounded() -> bool:
        with tempfile.TemporaryDirectory(prefix="latency-bench-") as folder:
            return await asyncio.wait_for(benchmark(args.orders, args.interval, Path(folder)), args.timeout)

    return 0 if asyncio.run(bounded()) else 1


if __name__ == "__main__":
    sys.exit(main())
