"""All configuration, from the environment and `.env` (pydantic-settings).

The core settings are declared here; each provider's (`KIE_API_KEY`, `KIE_BASE_URL`, ...) come from its
descriptor (services/providers/descriptor.py), so adding a provider does not touch this file.
Secrets are `SecretStr`, so they print as `**********` in logs, reprs and error messages. A wrong or
missing setting raises `ConfigError` with one readable line per problem, named by its variable.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.moderation import ModerationRules
from services.providers.descriptor import OptionalSecret, ProviderConfig, together_with
from services.providers.registry import DESCRIPTORS
from services.routing import RoutingPolicy

Language = Literal["en", "ru", "zh"]

_BOT_TOKEN = re.compile(r"^\d{5,}:[A-Za-z0-9_-]{30,}$")
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

#: Built-in per-provider hard timeouts (minutes), from the descriptors, replaced as a whole by
#: HARD_TIMEOUTS; providers not listed use HARD_TIMEOUT_MINUTES.
DEFAULT_HARD_TIMEOUTS = {
    name: d.hard_timeout_minutes for name, d in DESCRIPTORS.items() if d.hard_timeout_minutes is not None
}

#: Built-in shortest gap between two status polls of one task (seconds), from the descriptors, replaced
#: as a whole by MIN_POLL_INTERVALS.
DEFAULT_MIN_POLL_INTERVALS = {
    name: d.min_poll_interval for name, d in DESCRIPTORS.items() if d.min_poll_interval
}


class ConfigError(Exception):
    """Configuration is unusable; `problems` holds one human sentence per bad setting."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Configuration problems:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True, slots=True)
class StarsPack:
    credits: int
    stars: int


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class CoreSettings(BaseSettings):
    """Everything but the providers' own settings, which `Settings` adds from their descriptors."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,
    )

    # Telegram
    bot_token: SecretStr
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    telegram_api_url: AnyHttpUrl = AnyHttpUrl("https://api.telegram.org")
    telegram_upload_limit_mb: int = Field(50, ge=1, le=2000)
    telegram_startup_wait_seconds: float = Field(30.0, ge=0, le=3600)
    webhook_url: AnyHttpUrl | None = None
    webhook_secret: OptionalSecret = Field(None, validate_default=True)
    public_base_url: AnyHttpUrl | None = None
    web_host: str = "0.0.0.0"
    web_port: int = Field(8080, ge=1, le=65535)
    #: How long a Mini App session (Telegram's initData, by its auth_date) is accepted by the gallery.
    webapp_auth_max_age_seconds: int = Field(86400, ge=60, le=30 * 86400)

    # storage
    data_dir: Path = Path("./data")
    supabase_url: AnyHttpUrl | None = None
    supabase_service_role_key: Annotated[OptionalSecret, together_with("supabase_url")] = Field(
        None, validate_default=True
    )
    supabase_bucket: str = Field("generations", min_length=1)
    redis_url: OptionalSecret = None
    media_link_secret: OptionalSecret = None
    media_link_ttl_seconds: int = Field(86400, ge=60)

    # product
    catalog_path: Path | None = None
    default_language: Language = "en"
    poll_interval_seconds: float = Field(10.0, gt=0, le=600)
    hard_timeout_minutes: int = Field(30, ge=1, le=2880)
    hard_timeouts: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_HARD_TIMEOUTS)
    )
    min_poll_intervals: Annotated[dict[str, float], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_MIN_POLL_INTERVALS)
    )
    poll_concurrency: int = Field(64, ge=1, le=1000)
    provider_concurrency: int = Field(16, ge=1, le=1000)
    poll_lease_seconds: float = Field(120.0, ge=1, le=3600)
    #: Updates handled at once (aiogram's tasks_concurrency_limit; the webhook handler's own bound):
    #: a burst queues at the door instead of thousands of handlers queueing on the store.
    handler_concurrency: int = Field(32, ge=1, le=10000)
    progress_edit_seconds: float = Field(15.0, ge=1, le=600)
    media_retention_days: int = Field(30, ge=0, le=3650)
    max_video_mb: int = Field(2000, ge=1, le=20000)
    stars_packs: Annotated[list[StarsPack], NoDecode] = Field(
        default_factory=lambda: [StarsPack(100, 100), StarsPack(550, 500), StarsPack(1200, 1000)]
    )
    stars_per_credit: Decimal = Field(Decimal(1), gt=0)
    #: What one Star pays out to the operator in US dollars (for /stats revenue and margin only).
    star_usd: Decimal = Field(Decimal("0.013"), gt=0, le=10)
    max_image_mb: float = Field(20.0, gt=0, le=100)
    max_active_generations: int = Field(3, ge=1, le=100)
    max_submits_per_minute: int = Field(5, ge=1, le=600)
    welcome_credits: int = Field(0, ge=0, le=100000)
    #: The words and patterns prompts are checked against (TOML); None: services/moderation_default.toml.
    moderation_file: Path | None = None
    #: Also ask OpenAI's moderation API (needs OPENAI_API_KEY), and whether its outage lets orders through.
    moderation_api: bool = False
    moderation_api_fail: Literal["open", "closed"] = "open"
    moderation_api_url: AnyHttpUrl = AnyHttpUrl("https://api.openai.com/v1")
    #: Which of a model's routes a create goes to first, and which next (services/routing.py).
    routing_policy: RoutingPolicy = "priority"
    routing_health_window: int = Field(20, ge=1, le=1000)
    routing_cooldown_failures: int = Field(3, ge=1, le=100)
    routing_cooldown_seconds: float = Field(300.0, gt=0, le=86400)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("bot_token", mode="before")
    @classmethod
    def _blank_token_is_missing(cls, value: Any) -> Any:
        """A blank `BOT_TOKEN=` line is a missing token, not an empty one."""
        if isinstance(value, str) and not value.strip():
            raise PydanticCustomError("missing", "Field required")
        return value.strip() if isinstance(value, str) else value

    @field_validator(
        "webhook_url", "public_base_url", "supabase_url", "catalog_path", "moderation_file", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level_any_case(cls, value: Any) -> Any:
        """`LOG_LEVEL=debug` means DEBUG: operators should not have to guess the case."""
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        if not _BOT_TOKEN.match(value.get_secret_value()):
            raise ValueError("does not look like a bot token from @BotFather (digits:secret)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _WEBHOOK_SECRET.match(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: Any) -> Any:
        parts = _split(value)
        if isinstance(parts, list):
            for part in parts:
                if isinstance(part, str) and not part.isdigit():
                    raise ValueError(f"{part!r} is not a Telegram user id (a positive number)")
        return parts

    @field_validator("hard_timeouts", mode="before")
    @classmethod
    def _parse_hard_timeouts(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        parsed = {}
        for item in _split(value):
            name, sep, minutes = item.partition("=")
            name = name.strip().lower()
            if not sep or name not in DESCRIPTORS or not minutes.strip().isdigit() or int(minutes) < 1:
                raise ValueError(f"{item!r} should look like gemini=20 (a known provider and whole minutes)")
            parsed[name] = int(minutes)
        return parsed

    @field_validator("min_poll_intervals", mode="before")
    @classmethod
    def _parse_min_poll_intervals(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        parsed = {}
        for item in _split(value):
            name, sep, seconds = item.partition("=")
            name = name.strip().lower()
            try:
                number = float(seconds)
            except ValueError:
                number = -1.0
            if not sep or name not in DESCRIPTORS or not 0 <= number <= 600:
                raise ValueError(f"{item!r} should look like kie=15 (a known provider and 0-600 seconds)")
            parsed[name] = number
        return parsed

    @field_validator("stars_packs", mode="before")
    @classmethod
    def _parse_stars_packs(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        packs = []
        for item in _split(value):
            credits, sep, stars = item.partition(":")
            if not sep or not credits.strip().isdigit() or not stars.strip().isdigit():
                raise ValueError(f"{item!r} should look like 100:50 (credits:stars)")
            if int(credits) < 1 or not 1 <= int(stars) <= 10000:
                raise ValueError(f"{item!r}: credits must be positive and stars between 1 and 10000")
            packs.append(StarsPack(int(credits), int(stars)))
        if not packs:
            raise ValueError("list at least one pack, e.g. 100:50,550:250")
        return packs

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_needs_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        """Checked per field (like `together_with`), so every problem is reported at once."""
        if info.data.get("webhook_url") is not None and value is None:
            raise ValueError("is required with WEBHOOK_URL, so that forged updates are rejected")
        return value

    @field_validator("moderation_file")
    @classmethod
    def _moderation_list_loads(cls, value: Path | None) -> Path | None:
        """A list that cannot be used stops the start (status 2), rather than let every prompt through."""
        if value is not None:
            ModerationRules.load(value)
        return value

    @model_validator(mode="after")
    def _moderation_api_needs_a_key(self) -> CoreSettings:
        """OPENAI_API_KEY is a provider's setting, added by `Settings`: checked once every field is read."""
        if self.moderation_api and getattr(self, "openai_api_key", None) is None:
            raise ValueError("MODERATION_API=true needs OPENAI_API_KEY (the moderation API is OpenAI's)")
        return self

    # derived values

    @property
    def storage_backend(self) -> Literal["sqlite", "supabase"]:
        return "supabase" if self.supabase_url is not None else "sqlite"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "bot.sqlite3"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def max_image_bytes(self) -> int:
        return int(self.max_image_mb * 1024 * 1024)

    @property
    def max_video_bytes(self) -> int:
        return self.max_video_mb * 1024 * 1024

    def min_poll_interval(self, provider: str) -> float:
        """Never poll one task more often than this, whatever the tick interval or a provider hint says."""
        return self.min_poll_intervals.get(provider, 0.0)

    def callback_token(self, provider: str) -> str:
        """The secret path segment of a provider's callback URL: Runware signs nothing, so the URL must."""
        digest = hmac.new(self.media_link_key(), f"callback:{provider}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def callback_url(self, provider: str) -> str | None:
        """Where `provider` should POST task updates, or None without a public address."""
        if self.public_base_url is None:
            return None
        base = str(self.public_base_url).rstrip("/")
        return f"{base}/callbacks/{provider}/{self.callback_token(provider)}"

    @property
    def upload_limit_bytes(self) -> int:
        return self.telegram_upload_limit_mb * 1024 * 1024

    def media_link_key(self) -> bytes:
        """The link-signing key: MEDIA_LINK_SECRET, or one derived from the bot token."""
        if self.media_link_secret is not None:
            return self.media_link_secret.get_secret_value().encode()
        token = self.bot_token.get_secret_value().encode()
        return hmac.new(token, b"videobot media links", hashlib.sha256).digest()

    def provider(self, name: str) -> ProviderConfig:
        """One provider's settings; KeyError for a name no provider module declares."""
        descriptor = DESCRIPTORS[name]
        return descriptor.config(self, self.hard_timeouts.get(name, self.hard_timeout_minutes))

    def configured_providers(self) -> list[str]:
        return [name for name in DESCRIPTORS if self.provider(name).configured]

    def usable_providers(self) -> frozenset[str]:
        """Providers with a key and an adapter: the ones whose catalog routes are offered."""
        return frozenset(name for name in self.configured_providers() if DESCRIPTORS[name].adapters)


def _provider_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for descriptor in DESCRIPTORS.values():
        fields.update(descriptor.fields())
    return fields


if TYPE_CHECKING:

    class Settings(CoreSettings):
        """The core settings plus every provider's (`kie_api_key`, `kie_base_url`, `demo_mode`, ...),
        added from the descriptors; provider settings are typed `Any` here."""

        def __getattr__(self, name: str) -> Any: ...

else:
    Settings = create_model(
        "Settings",
        __base__=CoreSettings,
        __module__=__name__,
        __doc__="The core settings plus every provider's, added from the provider descriptors.",
        **_provider_fields(),
    )


def describe_errors(error: ValidationError) -> list[str]:
    """One sentence per problem, named by its environment variable; input values are never echoed."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        if not item["loc"]:
            problems.extend(message.split("; "))
            continue
        name = str(item["loc"][0]).upper()
        problems.append(f"{name} is missing" if item["type"] == "missing" else f"{name}: {message}")
    return problems


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment and `.env`; raise ConfigError listing every problem."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigError(describe_errors(error)) from None
