"""The provider descriptors and what is read from them (settings, callbacks, adapters), adapter
selection by route, and the one retry with smaller images after "too large"."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image

from services.catalog import CatalogError, Route, load_catalog
from services.providers.ark import ArkProvider
from services.providers.base import (
    CallbackRejected,
    InputImage,
    InvalidRequestError,
    SubmitJob,
    Submitted,
    TaskState,
    TaskStatus,
    VideoProvider,
)
from services.providers.dashscope import DashScopeProvider
from services.providers.demo import DemoProvider
from services.providers.gemini import GeminiVeoProvider
from services.providers.kie import KieVeoProvider
from services.providers.kling import KlingProvider
from services.providers.laozhang_chat import LaoZhangChatProvider
from services.providers.openai_videos import OpenAIVideosProvider
from services.providers.openrouter import OpenRouterProvider
from services.providers.registry import ADAPTERS, DESCRIPTORS, Providers, submit
from services.providers.runware import RunwareProvider
from services.providers.runway import RunwayProvider
from services.settings import ConfigError, Settings, load_settings
from services.video_request import VideoRequest
from tests.conftest import TOKEN
from tests.fakes.providers.kie import callback_signature

#: Environment variables operators already use: a descriptor may add settings, never rename these.
PROVIDER_ENV_NAMES = {
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_WEBHOOK_SECRET",
    "LAOZHANG_API_KEY", "LAOZHANG_BASE_URL",
    "GEMINI_API_KEY", "GEMINI_BASE_URL",
    "KIE_API_KEY", "KIE_BASE_URL", "KIE_UPLOAD_BASE_URL", "KIE_WEBHOOK_HMAC_KEY",
    "RUNWARE_API_KEY", "RUNWARE_BASE_URL",
    "RUNWAY_API_KEY", "RUNWAY_BASE_URL",
    "ARK_API_KEY", "ARK_BASE_URL",
    "DASHSCOPE_API_KEY", "DASHSCOPE_BASE_URL",
    "KLING_ACCESS_KEY", "KLING_SECRET_KEY", "KLING_BASE_URL",
    "OPENROUTER_API_KEY", "OPENROUTER_BASE_URL", "OPENROUTER_WEBHOOK_SECRET",
    "DEMO_MODE", "DEMO_DELAY_SECONDS",
}  # fmt: skip
POLLER_CATALOG = Path(__file__).parents[1] / "poller" / "catalog.toml"


def big_jpeg() -> InputImage:
    buffer = BytesIO()
    Image.new("RGB", (3000, 2000), (200, 30, 30)).save(buffer, "JPEG", quality=95)
    return InputImage(buffer.getvalue(), "image/jpeg", 3000, 2000)


async def test_every_offered_route_has_its_adapter(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(
        openai_api_key="o",
        laozhang_api_key="l",
        gemini_api_key="g",
        kie_api_key="k",
        runware_api_key="r",
        runway_api_key="rw",
        ark_api_key="a",
        dashscope_api_key="d",
        kling_access_key="ka",
        kling_secret_key="ks",
        openrouter_api_key="or",
    )
    providers = Providers(settings)
    expected = {
        "gemini": GeminiVeoProvider,
        "kie": KieVeoProvider,
        "runware": RunwareProvider,
        "laozhang": OpenAIVideosProvider,
        "openai": OpenAIVideosProvider,
        "runway": RunwayProvider,
        "ark": ArkProvider,
        "dashscope": DashScopeProvider,
        "kling": KlingProvider,
        "openrouter": OpenRouterProvider,
        "demo": DemoProvider,
    }
    offered = set()
    try:
        for offer in load_catalog().available(settings.usable_providers()):
            for route in offer.routes:
                assert isinstance(providers.for_route(route), expected[route.provider])
                offered.add(route.provider)
        # with every key set, every provider's routes are offered (OpenAI's only model, Sora, ships disabled)
        assert offered == set(expected) - {"openai"}
        chat = Route(provider="laozhang", model_id="veo-3.1-fast", params={"adapter": "laozhang_chat"})
        assert isinstance(providers.for_route(chat), LaoZhangChatProvider)
        gemini = Route(provider="gemini", model_id="veo-2.0-generate-001")
        assert providers.for_route(gemini) is providers.for_route(gemini), "one instance per provider"
        with pytest.raises(LookupError):
            providers.for_route(Route(provider="acme", model_id="anything"))
    finally:
        await providers.close()


def test_every_provider_module_is_found_in_a_fixed_order() -> None:
    assert list(DESCRIPTORS) == [
        "ark", "dashscope", "gemini", "kie", "kling", "laozhang", "openai", "openrouter", "runware",
        "runway", "demo",
    ], "real providers by name, then the keyless demo"  # fmt: skip
    assert {key: provider for key, (provider, _cls) in ADAPTERS.items()} == {
        "ark": "ark",
        "dashscope": "dashscope",
        "kling": "kling",
        "openrouter": "openrouter",
        "runway": "runway",
        "gemini": "gemini",
        "kie": "kie",
        "laozhang": "laozhang",
        "laozhang_chat": "laozhang",
        "openai": "openai",
        "runware": "runware",
        "demo": "demo",
    }
    assert [name for name, d in DESCRIPTORS.items() if not d.adapters] == [], "every provider has one"


@pytest.mark.parametrize("catalog", [None, POLLER_CATALOG], ids=["shipped", "poller-tests"])
def test_every_catalog_route_names_a_provider_with_a_descriptor(catalog: Path | None) -> None:
    routes = [r for m in load_catalog(catalog, providers=DESCRIPTORS).models for r in m.routes]
    assert routes and {r.provider for r in routes} <= set(DESCRIPTORS)


def test_every_descriptor_setting_loads_from_its_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = {name.upper() for d in DESCRIPTORS.values() for name in d.fields()}
    assert names >= PROVIDER_ENV_NAMES
    assert names <= {name.upper() for name in Settings.model_fields}
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    for name in DESCRIPTORS:
        monkeypatch.setenv(f"{name.upper()}_BASE_URL", f"https://{name}.example/v9")
    for name in ("OPENAI_API_KEY", "KIE_API_KEY", "RUNWAY_API_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY"):
        monkeypatch.setenv(name, f"{name.lower()}-value")
    monkeypatch.setenv("KIE_UPLOAD_BASE_URL", "https://upload.example")
    monkeypatch.setenv("KIE_WEBHOOK_HMAC_KEY", " hmac ")
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", "")
    monkeypatch.setenv("DEMO_MODE", "true")
    monkeypatch.setenv("DEMO_DELAY_SECONDS", "2.5")
    settings = load_settings(_env_file=None)

    kie = settings.provider("kie")
    assert kie.api_key is not None and kie.api_key.get_secret_value() == "kie_api_key-value"
    assert kie.base_url == "https://kie.example/v9"
    assert kie.adapter_options() == {"upload_base_url": "https://upload.example/", "webhook_hmac_key": "hmac"}
    assert settings.provider("openai").options == {"webhook_secret": None}, "blank means unset"
    kling = settings.provider("kling")
    assert kling.api_key is not None and kling.api_key.get_secret_value() == "kling_access_key-value"
    assert kling.adapter_options() == {"secret_key": "kling_secret_key-value"}
    demo = settings.provider("demo")
    assert demo.configured and demo.base_url == "demo://" and demo.options == {"delay_seconds": 2.5}
    assert settings.configured_providers() == ["kie", "kling", "openai", "runway", "demo"]
    assert settings.usable_providers() == {"kie", "kling", "openai", "runway", "demo"}
    assert "kie_api_key-value" not in repr(settings)


def test_timeouts_and_poll_intervals_come_from_the_descriptors(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    assert {name: settings.provider(name).hard_timeout_minutes for name in ("gemini", "demo", "kie")} == {
        "gemini": 20,
        "demo": 5,
        "kie": 30,
    }
    intervals = {name: settings.min_poll_interval(name) for name in DESCRIPTORS}
    assert intervals == {
        "ark": 10.0,
        "dashscope": 15.0,
        "gemini": 10.0,
        "kie": 10.0,
        "kling": 5.0,
        "laozhang": 10.0,
        "openai": 10.0,
        "openrouter": 10.0,
        "runware": 3.0,
        "runway": 5.0,
        "demo": 0.0,
    }
    with pytest.raises(ConfigError, match="HARD_TIMEOUTS"):
        load_settings(_env_file=None, bot_token=TOKEN, hard_timeouts="acme=5")
    with pytest.raises(ConfigError, match="MIN_POLL_INTERVALS"):
        load_settings(_env_file=None, bot_token=TOKEN, min_poll_intervals="acme=5")
    with pytest.raises(KeyError):
        settings.provider("acme")


def test_unknown_route_providers_fail_the_catalog_load(tmp_path: Path) -> None:
    text = POLLER_CATALOG.read_text(encoding="utf-8").replace('provider = "demo"', 'provider = "acme"')
    (tmp_path / "catalog.toml").write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError, match="unknown provider 'acme'; known: ark, dashscope, gemini"):
        load_catalog(tmp_path / "catalog.toml", providers=DESCRIPTORS)


async def test_callback_urls_follow_each_descriptor(make_settings: Callable[..., Settings]) -> None:
    per_task = {name for name, d in DESCRIPTORS.items() if d.callbacks.per_task}
    accepted = {name for name, d in DESCRIPTORS.items() if d.callbacks.accepted}
    assert per_task == {"ark", "kie", "kling", "openrouter", "runware"}, (
        "a callback URL travels with each task"
    )
    assert accepted == per_task | {"openai"}, "OpenAI calls the project webhook set in its dashboard"

    public = make_settings(
        public_base_url="https://bot.example", kie_api_key="k", openai_api_key="o", gemini_api_key="g"
    )
    providers = Providers(public)
    assert providers.callback_url("kie") == public.callback_url("kie")
    assert (
        providers.callback_url("kie") == f"https://bot.example/callbacks/kie/{public.callback_token('kie')}"
    )
    assert providers.callback_url("runware") is not None, "sent even before Runware has a key"
    assert providers.callback_url("openai") is None and providers.callback_url("gemini") is None
    assert Providers(make_settings(kie_api_key="k")).callback_url("kie") is None, "no public address"

    assert providers.accepts_callback("kie") and providers.accepts_callback("openai")
    assert not providers.accepts_callback("runware"), "not configured"
    assert not providers.accepts_callback("gemini"), "Gemini sends no callbacks"
    assert not providers.accepts_callback("acme")


async def test_settings_reach_the_adapters_they_configure(make_settings: Callable[..., Settings]) -> None:
    body = json.dumps({"code": 200, "msg": "ok", "data": {"taskId": "veo_1", "info": {}}}).encode()
    stamp = str(int(time.time()))
    signed = {"X-Webhook-Timestamp": stamp, "X-Webhook-Signature": callback_signature("hk", "veo_1", stamp)}
    strict = Providers(make_settings(kie_api_key="k", kie_webhook_hmac_key="hk"))
    slow = Providers(make_settings(demo_delay_seconds=3600))
    try:
        kie = strict.for_key("kie")
        with pytest.raises(CallbackRejected):
            kie.parse_callback({}, body)
        assert kie.parse_callback(signed, body).task_id == "veo_1"
        demo = slow.for_key("demo")
        submitted = await demo.submit(job_for(load_catalog().get("demo").routes[0]))  # type: ignore[union-attr]
        assert (await demo.status(submitted.task_id)).state is TaskState.RUNNING, "DEMO_DELAY_SECONDS=3600"
    finally:
        await strict.close()
        await slow.close()


class TooLargeOnce(VideoProvider):
    name = "stub"

    def __init__(self, *, status: int = 413, message: str = "Request Entity Too Large") -> None:
        self.jobs: list[SubmitJob] = []
        self._status = status
        self._message = message

    async def submit(self, job: SubmitJob) -> Submitted:
        self.jobs.append(job)
        if len(self.jobs) == 1:
            raise InvalidRequestError(self._message, provider=self.name, http_status=self._status)
        return Submitted("task-1")

    async def status(self, task_id: str) -> TaskStatus:
        raise NotImplementedError

    async def download(self, status: TaskStatus, *, max_bytes: int) -> AsyncIterator[bytes]:
        yield b""

    async def close(self) -> None:
        return None


def job_for(route: Route) -> SubmitJob:
    return SubmitJob(request=VideoRequest(model="demo", mode="t2v", prompt="a cat"), route=route)


def job(**images: object) -> SubmitJob:
    request = VideoRequest(model="veo-3.1", mode="i2v", prompt="p")
    return SubmitJob(request=request, route=Route(provider="gemini", model_id="m"), **images)  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "message"), [(413, "Payload Too Large"), (400, "Image is too large")])
async def test_too_large_images_are_shrunk_once(status: int, message: str) -> None:
    stub = TooLargeOnce(status=status, message=message)
    original = big_jpeg()
    result = await submit(stub, job(first_frame=original, reference_images=(original,)))
    assert result.task_id == "task-1"
    retried = stub.jobs[1]
    assert retried.first_frame is not None
    assert max(retried.first_frame.width, retried.first_frame.height) <= 1280
    assert len(retried.first_frame.data) < len(original.data)
    assert retried.reference_images[0].width == retried.first_frame.width


async def test_other_refusals_and_imageless_jobs_are_not_retried() -> None:
    stub = TooLargeOnce(status=400, message="bad aspect ratio")
    with pytest.raises(InvalidRequestError):
        await submit(stub, job(first_frame=big_jpeg()))
    no_images = TooLargeOnce()
    with pytest.raises(InvalidRequestError):
        await submit(no_images, job())
    assert len(stub.jobs) == len(no_images.jobs) == 1
