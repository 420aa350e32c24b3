"""Collects the provider descriptors and holds one adapter instance (one HTTP session) per adapter key.

Every module in this package that declares `DESCRIPTOR` is a provider (`services/providers/kie.py` ...),
found by name order, so adding a provider edits no list. Settings are built from these descriptors,
so this module reads settings only through the two methods of `ProviderSettings`.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Protocol

import services.providers
from services.catalog import Route
from services.media import shrink_jpeg
from services.providers.base import InvalidRequestError, SubmitJob, Submitted, VideoProvider
from services.providers.descriptor import ProviderConfig, ProviderDescriptor

#: Modules of this package that are shared machinery, not providers (importing them here would loop).
_MACHINERY = frozenset({"base", "descriptor", "registry"})


def _discover() -> Mapping[str, ProviderDescriptor]:
    """Every provider module's descriptor: real providers by name, then keyless ones (the demo)."""
    found = []
    for module in sorted(pkgutil.iter_modules(services.providers.__path__), key=lambda m: m.name):
        if module.name not in _MACHINERY:
            descriptor = getattr(
                importlib.import_module(f"services.providers.{module.name}"), "DESCRIPTOR", None
            )
            if descriptor is not None:
                found.append(descriptor)
    found.sort(key=lambda d: (d.key is None, d.name))
    names = [d.name for d in found]
    if len(set(names)) != len(names):
        raise RuntimeError(f"two provider modules declare the same provider: {names}")
    return MappingProxyType({d.name: d for d in found})


#: Provider descriptors by name, in the order settings, `check` and error messages list them.
DESCRIPTORS = _discover()


def _adapters() -> Mapping[str, tuple[str, type[VideoProvider]]]:
    pairs = [(key, (d.name, cls)) for d in DESCRIPTORS.values() for key, cls in d.adapters.items()]
    adapters = dict(pairs)
    if len(adapters) != len(pairs):
        raise RuntimeError(f"two providers declare the same adapter key: {[key for key, _ in pairs]}")
    return MappingProxyType(adapters)


#: (provider, adapter class) by adapter key: a route picks its provider's adapter, or another one of the
#: same provider with `params.adapter` (LaoZhang's chat-completions route: `adapter = "laozhang_chat"`).
ADAPTERS = _adapters()


def adapter_key(route: Route) -> str:
    key = route.params.get("adapter", route.provider)
    return key if isinstance(key, str) else route.provider


class ProviderSettings(Protocol):
    """What the registry reads from `services.settings.Settings` (which is built from the descriptors)."""

    def provider(self, name: str) -> ProviderConfig: ...

    def callback_url(self, provider: str) -> str | None: ...


class Providers:
    """Lazily built adapters, one per adapter key, closed together at shutdown."""

    def __init__(
        self, settings: ProviderSettings, *, factory: Callable[[str], VideoProvider] | None = None
    ) -> None:
        self._settings = settings
        self._factory = factory or self._build
        self._instances: dict[str, VideoProvider] = {}

    def _build(self, key: str) -> VideoProvider:
        provider, cls = ADAPTERS[key]
        config = self._settings.provider(provider)
        return cls(config, **config.adapter_options())  # type: ignore[call-arg]

    def for_route(self, route: Route) -> VideoProvider:
        return self.for_key(adapter_key(route))

    def for_key(self, key: str) -> VideoProvider:
        if key not in ADAPTERS:
            raise LookupError(f"no adapter for provider {key!r}")
        if key not in self._instances:
            self._instances[key] = self._factory(key)
        return self._instances[key]

    def callback_url(self, provider: str) -> str | None:
        """The callback URL to send with a new task: for providers that take one per task, and only
        with a public address (PUBLIC_BASE_URL); None otherwise."""
        descriptor = DESCRIPTORS.get(provider)
        if descriptor is None or not descriptor.callbacks.per_task:
            return None
        return self._settings.callback_url(provider)

    def accepts_callback(self, provider: str) -> bool:
        """Whether the web app takes a callback for `provider`: one that sends callbacks, configured."""
        descriptor = DESCRIPTORS.get(provider)
        return (
            descriptor is not None
            and descriptor.callbacks.accepted
            and self._settings.provider(provider).configured
        )

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
