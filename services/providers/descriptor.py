"""What the rest of the bot knows about a provider: one `ProviderDescriptor` per provider module.

A provider module (`services/providers/<name>.py`) declares `DESCRIPTOR`; the registry collects them,
and settings, the web app, `check` and the catalog read provider facts from there. Adding a provider
is its module, its fake, its tests and its catalog routes, nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, AnyHttpUrl, BeforeValidator, Field, SecretStr, ValidationInfo
from pydantic.fields import FieldInfo

from services.providers.base import VideoProvider


def _blank_is_unset(value: Any) -> Any:
    """`KEY=` in a .env file means "not configured", not "an empty key"."""
    if isinstance(value, str):
        return value.strip() or None
    return value


#: An optional secret setting: blank means unset, surrounding spaces are dropped.
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_blank_is_unset)]


def together_with(partner: str) -> AfterValidator:
    """A setting that works only with `partner` (a field declared before it): both set, or neither.

    The field needs `validate_default=True`, so that a missing half is reported too.
    """

    def check(value: Any, info: ValidationInfo) -> Any:
        if (info.data.get(partner) is not None) != (value is not None):
            raise ValueError(f"must be set together with {partner.upper()}")
        return value

    return AfterValidator(check)


class Callbacks(StrEnum):
    """How a provider tells us a task changed, besides being polled."""

    NONE = "none"
    #: A callback URL sent with every new task (KIE, Runware).
    PER_TASK = "per_task"
    #: One webhook URL the operator sets in the provider's dashboard (OpenAI).
    PROJECT_WEBHOOK = "project_webhook"

    @property
    def accepted(self) -> bool:
        """Whether the web app takes this provider's callbacks at all."""
        return self is not Callbacks.NONE

    @property
    def per_task(self) -> bool:
        """Whether a new task carries our callback URL."""
        return self is Callbacks.PER_TASK


@dataclass(frozen=True, slots=True)
class Setting:
    """A provider setting beside its key and base URL, read from `<PROVIDER>_<NAME>`.

    Its value reaches `ProviderConfig.options[name]`, and the adapter's constructor as the keyword
    `name` (secrets revealed, URLs as text).
    """

    name: str
    annotation: Any = OptionalSecret
    default: Any = None
    #: Another setting of this provider that must be set together with this one (Kling's two keys).
    partner: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One provider's settings, as its adapter needs them."""

    name: str
    base_url: str
    api_key: SecretStr | None
    hard_timeout_minutes: int
    #: The provider's other settings by name (KIE's upload URL, OpenAI's webhook secret, ...).
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def configured(self) -> bool:
        return self.api_key is not None

    def adapter_options(self) -> dict[str, Any]:
        """`options` as constructor keywords: secrets revealed, URLs as text."""
        return {name: _plain(value) for name, value in self.options.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return str(value) if isinstance(value, AnyHttpUrl) else value


@dataclass(frozen=True, slots=True)
class ProviderDescriptor:
    """A provider's name, settings, callbacks, polling limits and adapters.

    Its settings are `<NAME>_API_KEY` (or `<NAME>_<KEY>`), `<NAME>_BASE_URL` and one per `Setting`; a
    keyless provider (the demo) is switched on by the boolean setting `<NAME>_<SWITCH>` instead.
    """

    name: str
    #: Default of `<NAME>_BASE_URL`; with `base_url_setting=False` the fixed base URL.
    base_url: str
    #: Adapter class by adapter key: the provider's name, and optional alternatives a catalog route picks
    #: with `params.adapter`. Empty while the provider has no adapter: its routes are never offered.
    adapters: Mapping[str, type[VideoProvider]] = field(default_factory=dict)
    key: str | None = "api_key"
    switch: str | None = None
    base_url_setting: bool = True
    settings: tuple[Setting, ...] = ()
    callbacks: Callbacks = Callbacks.NONE
    #: Shortest gap between two status polls of one task, seconds (MIN_POLL_INTERVALS replaces it).
    min_poll_interval: float = 0.0
    #: Built-in hard timeout, minutes (HARD_TIMEOUTS replaces it); None: HARD_TIMEOUT_MINUTES.
    hard_timeout_minutes: int | None = None

    def __post_init__(self) -> None:
        if (self.key is None) == (self.switch is None):
            raise ValueError(f"provider {self.name!r} needs either a key setting or a switch")

    def field_name(self, setting: str) -> str:
        """The `Settings` field (and, upper-cased, the environment variable) of one of its settings."""
        return f"{self.name}_{setting}"

    def fields(self) -> dict[str, tuple[Any, FieldInfo]]:
        """The `Settings` fields this provider adds, in the order they are validated."""
        fields: dict[str, tuple[Any, FieldInfo]] = {}
        if self.key is not None:
            fields[self.field_name(self.key)] = (OptionalSecret, Field(None))
        if self.switch is not None:
            fields[self.field_name(self.switch)] = (bool, Field(False))
        if self.base_url_setting:
            fields[self.field_name("base_url")] = (AnyHttpUrl, Field(AnyHttpUrl(self.base_url)))
        for setting in self.settings:
            annotation = setting.annotation
            if setting.partner is not None:
                annotation = Annotated[annotation, together_with(self.field_name(setting.partner))]
            fields[self.field_name(setting.name)] = (
                annotation,
                Field(setting.default, validate_default=setting.partner is not None),
            )
        return fields

    def config(self, settings: object, hard_timeout_minutes: int) -> ProviderConfig:
        """Read this provider's settings from a `Settings` object."""
        if self.key is not None:
            api_key = getattr(settings, self.field_name(self.key))
        else:  # keyless: a stand-in key says "configured" while the switch is on
            api_key = SecretStr(self.name) if getattr(settings, self.field_name(str(self.switch))) else None
        base_url = (
            str(getattr(settings, self.field_name("base_url"))) if self.base_url_setting else self.base_url
        )
        options = {s.name: getattr(settings, self.field_name(s.name)) for s in self.settings}
        return ProviderConfig(self.name, base_url, api_key, hard_timeout_minutes, options)
