"""Selects the adapter for a catalog route and holds one instance (one HTTP session) per provider."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from services.catalog import Route
from services.media import shrink_jpeg
from services.providers.base import InvalidRequestError, SubmitJob, Submitted, VideoProvider
from services.providers.demo import DemoProvider
from services.providers.gemini import GeminiVeoProvider
from services.providers.kie import KieVeoProvider
from services.providers.laozhang_chat import LaoZhangChatProvider
from services.providers.openai_videos import OpenAIVideosProvider
from services.providers.runware import RunwareProvider
from services.settings import Settings

#: Adapter per route `provider`; a route may pick another adapter of the same provider with
#: `params.adapter` (LaoZhang's legacy chat-completions route: `params = { adapter = "laozhang_chat" }`).
ADAPTERS: dict[str, type[VideoProvider]] = {
    "openai": OpenAIVideosProvider,
    "laozhang": OpenAIVideosProvider,
    "laozhang_chat": LaoZhangChatProvider,
    "gemini": GeminiVeoProvider,
    "kie": KieVeoProvider,
    "runware": RunwareProvider,
    "demo": DemoProvider,
}

#: Providers with an adapter; routes of other providers (runway, ark, dashscope, kling) are never offered.
IMPLEMENTED_PROVIDERS = frozenset(ADAPTERS) - {"laozhang_chat"}


def adapter_key(route: Route) -> str:
    key = route.params.get("adapter", route.provider)
    return key if isinstance(key, str) else route.provider


class Providers:
    """Lazily built adapters, one per adapter key, closed together at shutdown."""

    def __init__(self, settings: Settings, *, factory: Callable[[str], VideoProvider] | None = None) -> None:
        self._settings = settings
        self._factory = factory or self._build
        self._instances: dict[str, VideoProvider] = {}

    def _build(self, key: str) -> VideoProvider:
        cls = ADAPTERS[key]
        provider = "laozhang" if key == "laozhang_chat" else key
        options: dict[str, Any] = {}
        if provider == "kie":
            options["upload_base_url"] = str(self._settings.kie_upload_base_url)
            if self._settings.kie_webhook_hmac_key is not None:
                options["webhook_hmac_key"] = self._settings.kie_webhook_hmac_key.get_secret_value()
        if provider == "openai" and self._settings.openai_webhook_secret is not None:
            options["webhook_secret"] = self._settings.openai_webhook_secret.get_secret_value()
        if provider == "demo":
            options["delay_seconds"] = self._settings.demo_delay_seconds
        return cls(self._settings.provider(provider), **options)

    def for_route(self, route: Route) -> VideoProvider:
        return self.for_key(adapter_key(route))

    def for_key(self, key: str) -> VideoProvider:
        if key not in ADAPTERS:
            raise LookupError(f"no adapter for provider {key!r}")
        if key not in self._instances:
            self._instances[key] = self._factory(key)
        return self._instances[key]

    async def close(self) -> None:
        for provider in self._instances.values():
            await provider.close()
        self._instances.clear()


def _too_large(error: InvalidRequestError) -> bool:
    return error.http_status == 413 or "too large" in error.message.lower()


async def submit(provider: VideoProvider, job: SubmitJob) -> Submitted:
    """Submit; when the provider refuses the images as too large, retry once with smaller JPEGs."""
    try:
        return await provider.submit(job)
    except InvalidRequestError as error:
        has_images = job.first_frame or job.last_frame or job.reference_images
        if not has_images or not _too_large(error):
            raise
    smaller = dataclasses.replace(
        job,
        first_frame=job.first_frame and shrink_jpeg(job.first_frame),
        last_frame=job.last_frame and shrink_jpeg(job.last_frame),
        reference_images=tuple(shrink_jpeg(image) for image in job.reference_images),
    )
    return await provider.submit(smaller)
