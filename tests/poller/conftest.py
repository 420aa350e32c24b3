"""A poller rig: real store and media, real adapters against provider fakes, a real Bot against the fake
Bot API, and a clock the test moves. Every scenario ends with the money invariants of ARCHITECTURE §4."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.telegram import TelegramAPIServer

from bot.container import Container, build_container
from bot.dispatcher import build_dispatcher
from bot.i18n import Translator
from bot.telegram_retry import RetryRequests
from services.catalog import Catalog, load_catalog
from services.generations import GenerationService
from services.http import ProviderHttp
from services.poller import Poller
from services.providers.base import VideoProvider
from services.providers.demo import DemoProvider
from services.providers.kie import KieVeoProvider
from services.providers.laozhang_chat import LaoZhangChatProvider
from services.providers.openai_videos import OpenAIVideosProvider, bearer_http
from services.providers.registry import Providers
from services.providers.runware import RunwareProvider
from services.settings import Settings
from services.video_request import VideoRequest
from storage.interfaces import MediaStore, Store
from storage.records import ACTIVE_STATUSES, Generation, GenerationCreated, LedgerKind, NewLedgerEntry
from tests.conftest import TOKEN
from tests.fakes.providers.openai_videos import FakeOpenAIVideos
from tests.fakes.sleeps import Sleeps
from tests.fakes.supabase_backend import open_rig_backend
from tests.fakes.telegram import FakeTelegram, LoopbackSession
from tests.invariants import check_invariants

CATALOG = Path(__file__).with_name("catalog.toml")
START = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
WEBHOOK_SECRET = "whsec_" + "c2VjcmV0LWZvci10ZXN0cw=="
USER = 5001


class Clock:
    """The time every service sees; tests move it instead of sleeping (or, for the poller's own loop,
    which sleeps for real, let it follow real time)."""

    def __init__(self, start: datetime = START) -> None:
        self._now = start
        self._live_since: float | None = None

    @property
    def now(self) -> datetime:
        if self._live_since is None:
            return self._now
        return self._now + timedelta(seconds=time.monotonic() - self._live_since)

    @now.setter
    def now(self, value: datetime) -> None:
        self._now = value
        if self._live_since is not None:
            self._live_since = time.monotonic()

    def follow_real_time(self) -> None:
        """From now on the clock moves with real time (`advance` still jumps it)."""
        self.now = self.now
        self._live_since = time.monotonic()

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.now.timestamp()

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Rig:
    settings: Settings
    store: Store
    media: MediaStore
    catalog: Catalog
    clock: Clock
    telegram: FakeTelegram
    openai: FakeOpenAIVideos
    laozhang: FakeOpenAIVideos
    bot: Bot
    providers: Providers
    generations: GenerationService
    poller: Poller
    services: Container
    provider_sleeps: Sleeps
    telegram_sleeps: Sleeps
    extra_pollers: list[Poller] = field(default_factory=list)

    async def fund(self, user_id: int = USER, credits: int = 100, *, language: str = "en") -> None:
        await self.store.ensure_user(user_id, username=f"user{user_id}", language=language)
        await self.store.apply_ledger_entry(
            NewLedgerEntry(user_id, credits, LedgerKind.ADMIN, f"admin:1:fund-{user_id}", admin_id=1)
        )

    async def order(
        self,
        prompt: str = "a cat surfing a wave",
        *,
        model: str = "clip",
        user_id: int = USER,
        **choices: Any,
    ) -> Generation:
        request = VideoRequest(model=model, mode=choices.pop("mode", "t2v"), prompt=prompt, **choices)
        created = await self.generations.create(user_id=user_id, chat_id=user_id, request=request)
        assert isinstance(created, GenerationCreated), created
        return created.generation

    async def get(self, generation_id: str) -> Generation:
        generation = await self.store.get_generation(generation_id)
        assert generation is not None
        return generation

    async def tick(self, seconds: float = 10) -> None:
        """One poll tick, then the clock moves on by one poll interval."""
        await self.poller.tick()
        self.clock.advance(seconds=seconds)

    async def settle(self, *generation_ids: str, ticks: int = 30) -> None:
        """Tick until every generation is delivered or refunded (or parked), failing after `ticks`."""
        for _ in range(ticks):
            rows = [await self.get(g) for g in generation_ids]
            if all(r.status not in ACTIVE_STATUSES and r.next_poll_at is None for r in rows):
                return
            await self.tick()
        raise AssertionError(f"not settled after {ticks} ticks: {[(r.id, r.status) for r in rows]}")

    async def balance(self, user_id: int = USER) -> int:
        user = await self.store.get_user(user_id)
        return 0 if user is None else user.balance

    async def violations(self) -> list[str]:
        found = await check_invariants(
            self.store,
            self.media,
            now=self.clock.now,
            poll_interval_seconds=self.settings.poll_interval_seconds,
        )
        return [str(v) for v in found]

    def new_poller(self, store: Store | None = None, *, owner: str) -> Poller:
        """Another replica's poller: its own services over `store`, the same adapters and chat."""
        poller = build_container(
            settings=self.settings,
            catalog=self.catalog,
            store=store or self.store,
            media=self.media,
            notifier=self.services.notifier,
            providers=self.providers,
            clock=self.clock,
            monotonic=self.clock.monotonic,
            owner=owner,
            submit_at_once=False,
        ).poller
        self.extra_pollers.append(poller)
        return poller


def adapter_factory(
    settings: Settings, sleeps: Sleeps, read_timeout: float | None = None
) -> Callable[[str], VideoProvider]:
    """Real adapters whose transport backoff is recorded instead of slept; `read_timeout` (seconds, the
    adapters' own default when None) lets a test stall a provider without waiting a minute."""
    timeouts = {} if read_timeout is None else {"read_timeout": read_timeout}

    def build(key: str) -> VideoProvider:
        if key in ("openai", "laozhang"):
            config = settings.provider(key)
            secret = WEBHOOK_SECRET if key == "openai" else None
            http = bearer_http(config, sleep=sleeps, **timeouts)
            return OpenAIVideosProvider(config, http=http, webhook_secret=secret)
        if key == "laozhang_chat":
            config = settings.provider("laozhang")
            return LaoZhangChatProvider(config, http=bearer_http(config, sleep=sleeps, **timeouts))
        if key == "runware":
            config = settings.provider("runware")
            assert config.api_key is not None
            auth = {"Authorization": f"Bearer {config.api_key.get_secret_value()}"}
            http = ProviderHttp("runware", config.base_url, auth_headers=auth, sleep=sleeps, **timeouts)
            return RunwareProvider(config, http=http)
        if key == "demo":
            return DemoProvider(settings.provider("demo"), delay_seconds=settings.demo_delay_seconds)
        if key == "kie" and settings.kie_webhook_hmac_key is not None:
            hmac_key = settings.kie_webhook_hmac_key.get_secret_value()
            return KieVeoProvider(settings.provider("kie"), webhook_hmac_key=hmac_key)
        raise LookupError(key)

    return build


@pytest.fixture
def rig_settings() -> dict[str, Any]:
    """Overrides a test module (or a test, via indirect use) may change before the rig starts: settings,
    plus `telegram` (FakeTelegram options), `catalog_path`, `provider_read_timeout` (seconds) and
    `submit_at_once` (False: orders wait for a tick)."""
    return {}


@pytest.fixture
async def rig(
    make_settings: Callable[..., Settings], tmp_path: Path, rig_settings: dict[str, Any], rig_backend: str
) -> AsyncIterator[Rig]:
    telegram = FakeTelegram(TOKEN, **rig_settings.pop("telegram", {}))
    catalog_path = rig_settings.pop("catalog_path", CATALOG)
    read_timeout = rig_settings.pop("provider_read_timeout", None)
    # scenarios step the poller by hand (Rig.tick); tests/poller/test_at_once.py lets orders submit at once
    submit_at_once = rig_settings.pop("submit_at_once", False)
    openai = FakeOpenAIVideos("sk-openai-test-key-000000")
    laozhang = FakeOpenAIVideos("sk-laozhang-test-key-0000")
    for server in (telegram, openai, laozhang):
        await server.start()
    settings = make_settings(
        telegram_api_url=telegram.url,
        catalog_path=catalog_path,
        openai_api_key=openai.api_key,
        openai_base_url=f"{openai.url}/v1",
        laozhang_api_key=laozhang.api_key,
        laozhang_base_url=f"{laozhang.url}/v1",
        demo_delay_seconds=0,
        public_base_url="https://bot.example",
        **{
            "min_poll_intervals": {},
            # scenarios order many videos within one test minute; limits are tested where they matter
            "max_active_generations": 100,
            "max_submits_per_minute": 600,
            **rig_settings,
        },
    )
    clock = Clock()
    store, media = await open_rig_backend(rig_backend, settings)  # sqlite and supabase (tests/fakes)
    lane = await store.open_lane()  # the poller's own path to the data, as the bot runs it
    catalog = load_catalog(catalog_path)
    provider_sleeps, telegram_sleeps = Sleeps(), Sleeps()
    providers = Providers(settings, factory=adapter_factory(settings, provider_sleeps, read_timeout))
    bot = Bot(TOKEN, session=LoopbackSession(api=TelegramAPIServer.from_base(telegram.url)))
    bot.session.middleware(RetryRequests(sleep=telegram_sleeps))
    services = build_container(
        settings=settings,
        catalog=catalog,
        store=store,
        media=media,
        bot=bot,
        providers=providers,
        translator=Translator(),
        clock=clock,
        monotonic=clock.monotonic,
        owner="poller-a",
        lane=lane,
        submit_at_once=submit_at_once,
    )
    generations, poller = services.generations, services.poller
    rig = Rig(
        settings=settings,
        store=store,
        media=media,
        catalog=catalog,
        clock=clock,
        telegram=telegram,
        openai=openai,
        laozhang=laozhang,
        bot=bot,
        providers=providers,
        generations=generations,
        poller=poller,
        services=services,
        provider_sleeps=provider_sleeps,
        telegram_sleeps=telegram_sleeps,
    )
    try:
        yield rig
        assert await rig.violations() == []
    finally:
        for p in (poller, *rig.extra_pollers):
            await p.stop(grace_seconds=0)
        await providers.close()
        await bot.session.close()
        await media.close()
        if lane is not store:
            await lane.close()
        await store.close()
        for server in (telegram, openai, laozhang):
            await server.close()


@pytest.fixture
async def polling(rig: Rig) -> AsyncIterator[Dispatcher]:
    """The real Dispatcher with every router, long-polling the fake Bot API for the test's duration."""
    dispatcher = build_dispatcher(rig.services)
    task = asyncio.ensure_future(dispatcher.start_polling(rig.bot, handle_signals=False, polling_timeout=1))
    try:
        yield dispatcher
        # Telegram shows a spinner until a callback query is answered: every press must get an answer.
        await rig.telegram.wait_for(lambda t: not t.unanswered())
    finally:
        await dispatcher.stop_polling()
        await task
