"""The model catalog: what users can order, what it costs, and which provider routes can make it.

The catalog is data (`services/catalog.toml`, or the file at CATALOG_PATH), so operators change models,
prices and routes without touching code. A broken file fails at start with the file, the entry and the
reason, never later in the middle of a purchase.
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

Mode = Literal["t2v", "i2v", "fl2v", "ref2v", "extend", "remix"]
AudioSupport = Literal["never", "optional", "always"]
RuleField = Literal["mode", "duration", "aspect_ratio", "resolution", "audio"]
#: What a user may add to a request where a route takes it: a negative prompt, a fixed seed, the
#: provider's prompt enhancement, and its translation of the prompt to English.
Option = Literal["negative_prompt", "seed", "enhance_prompt", "translate_prompt"]

MODES: tuple[Mode, ...] = ("t2v", "i2v", "fl2v", "ref2v", "extend", "remix")
RESOLUTIONS = ("360p", "480p", "540p", "720p", "1080p", "4k")
ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9")
#: Modes that continue an earlier generation instead of starting from a prompt and images.
SOURCE_MODES = frozenset({"extend", "remix"})
#: The order in which the wizard asks for the choices: each value it offers can be made together with
#: the choices before it (and some values of those after it).
CHOICE_ORDER: tuple[RuleField, ...] = ("mode", "duration", "aspect_ratio", "resolution", "audio")
OPTIONS: tuple[Option, ...] = ("negative_prompt", "seed", "enhance_prompt", "translate_prompt")
#: Model keys travel in callback data (64 bytes), so they stay short and plain.
MODEL_KEY_PATTERN = r"^[a-z0-9][a-z0-9.-]{0,23}$"


class CatalogError(Exception):
    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"Model catalog {source} is broken:\n" + "\n".join(f"  - {p}" for p in problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Strict):
    """ "When the request matches `when`, it must also match `require`", e.g. 1080p needs 8 seconds."""

    when: dict[RuleField, list[int | str | bool]]
    require: dict[RuleField, list[int | str | bool]]
    message: str = Field(pattern=r"^rule-[a-z0-9-]+$")

    def applies(self, values: dict[str, Any]) -> bool:
        return all(values.get(name) in allowed for name, allowed in self.when.items())

    def satisfied(self, values: dict[str, Any]) -> bool:
        return all(values.get(name) in allowed for name, allowed in self.require.items())


class Price(_Strict):
    """Credits = (per_clip + per_second × seconds) × resolution multiplier × audio multiplier, rounded up."""

    per_clip: Decimal = Field(Decimal(0), ge=0)
    per_second: Decimal = Field(Decimal(0), ge=0)
    resolution: dict[str, Decimal] = Field(default_factory=dict)
    audio: Decimal = Field(Decimal(1), gt=0)
    minimum: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _something_to_charge(self) -> Price:
        if self.per_clip == 0 and self.per_second == 0:
            raise ValueError("set per_clip or per_second: a generation is never free")
        if any(m <= 0 for m in self.resolution.values()):
            raise ValueError("resolution multipliers must be positive")
        return self


class Route(_Strict):
    """One way to make a model: a provider, its model id, and what this provider accepts of the model."""

    provider: str
    model_id: str = Field(min_length=1)
    priority: int = 100
    enabled: bool = True
    modes: list[Mode] | None = None
    durations: list[int] | None = None
    resolutions: list[str] | None = None
    aspect_ratios: list[str] | None = None
    #: The options this route's adapter sends; a route without the key takes every option its model has
    #: (filled in by VideoModel before validation).
    options: list[Option] = Field(default_factory=list)
    mode_model_ids: dict[Mode, str] = Field(default_factory=dict)
    cost_usd_per_clip: Decimal = Field(Decimal(0), ge=0)
    cost_usd_per_second: Decimal = Field(Decimal(0), ge=0)
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str, info: ValidationInfo) -> str:
        """Checked against the names `load_catalog` is given: the providers sit above the catalog."""
        known = (info.context or {}).get("providers")
        if known is not None and value not in known:
            raise ValueError(f"unknown provider {value!r}; known: {', '.join(known)}")
        return value

    def provider_model_id(self, mode: str) -> str:
        return self.mode_model_ids.get(mode, self.model_id)  # type: ignore[call-overload]

    def supports(self, *, mode: str, duration: int, resolution: str, aspect_ratio: str) -> bool:
        return (
            (self.modes is None or mode in self.modes)
            and (self.durations is None or duration in self.durations)
            and (self.resolutions is None or resolution in self.resolutions)
            and (self.aspect_ratios is None or aspect_ratio in self.aspect_ratios)
        )

    def takes(self, option: Option) -> bool:
        return option in self.options

    def cost_usd(self, duration: int) -> Decimal:
        return self.cost_usd_per_clip + self.cost_usd_per_second * duration


class VideoModel(_Strict):
    key: str = Field(pattern=MODEL_KEY_PATTERN)
    name: str = Field(min_length=1, max_length=40)
    modes: list[Mode] = Field(min_length=1)
    durations: list[int] = Field(min_length=1)
    aspect_ratios: list[str] = Field(min_length=1)
    resolutions: list[str] = Field(min_length=1)
    audio: AudioSupport = "never"
    default_duration: int
    default_aspect_ratio: str
    default_resolution: str
    default_audio: bool = False
    prompt_max: int = Field(ge=1, le=32000)
    negative_prompt: bool = False
    seed: bool = False
    enhance_prompt: bool = False
    translate_prompt: bool = False
    max_reference_images: int = Field(0, ge=0, le=7)
    rules: list[Rule] = Field(default_factory=list)
    price: Price
    routes: list[Route] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _routes_take_the_models_options(cls, data: Any) -> Any:
        """A route that lists no `options` takes every option the model has, as catalogs written before
        routes had options expect."""
        if not isinstance(data, dict) or not isinstance(data.get("routes"), list):
            return data
        own = [option for option in OPTIONS if data.get(option) is True]
        routes = [
            {**route, "options": own} if isinstance(route, dict) and "options" not in route else route
            for route in data["routes"]
        ]
        return {**data, "routes": routes}

    @field_validator("durations")
    @classmethod
    def _positive_durations(cls, value: list[int]) -> list[int]:
        if any(d <= 0 or d > 120 for d in value):
            raise ValueError("durations are seconds between 1 and 120")
        return sorted(set(value))

    @field_validator("resolutions")
    @classmethod
    def _known_resolutions(cls, value: list[str]) -> list[str]:
        unknown = [r for r in value if r not in RESOLUTIONS]
        if unknown:
            raise ValueError(f"unknown resolution {unknown}; known: {', '.join(RESOLUTIONS)}")
        return value

    @field_validator("aspect_ratios")
    @classmethod
    def _known_ratios(cls, value: list[str]) -> list[str]:
        unknown = [r for r in value if r not in ASPECT_RATIOS]
        if unknown:
            raise ValueError(f"unknown aspect ratio {unknown}; known: {', '.join(ASPECT_RATIOS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> VideoModel:
        problems = []
        if self.default_duration not in self.durations:
            problems.append(f"default_duration {self.default_duration} is not in durations {self.durations}")
        if self.default_aspect_ratio not in self.aspect_ratios:
            problems.append(f"default_aspect_ratio {self.default_aspect_ratio!r} is not in aspect_ratios")
        if self.default_resolution not in self.resolutions:
            problems.append(f"default_resolution {self.default_resolution!r} is not in resolutions")
        if self.audio != "optional" and self.default_audio != (self.audio == "always"):
            problems.append(f"default_audio must be {self.audio == 'always'} when audio is {self.audio!r}")
        if ("ref2v" in self.modes) != (self.max_reference_images > 0):
            problems.append("ref2v needs max_reference_images >= 1, and only ref2v uses reference images")
        missing = [r for r in self.resolutions if r not in self.price.resolution]
        if self.price.resolution and missing:
            problems.append(f"price.resolution has no multiplier for {missing}")
        problems.extend(self._route_problems())
        problems.extend(self._rule_problems())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _route_problems(self) -> list[str]:
        problems, seen = [], set()
        for index, route in enumerate(self.routes):
            label = f"route #{index + 1} ({route.provider} {route.model_id})"
            if (route.provider, route.model_id) in seen:
                problems.append(f"{label} is listed twice")
            seen.add((route.provider, route.model_id))
            for name in ("modes", "durations", "resolutions", "aspect_ratios"):
                narrowed = getattr(route, name)
                extra = [v for v in narrowed or [] if v not in getattr(self, name)]
                if extra:
                    problems.append(f"{label} allows {name} {extra} that the model does not have")
            extra_options = [o for o in route.options if not getattr(self, o)]
            if extra_options:
                problems.append(f"{label} takes options {extra_options} that the model does not have")
            extra_modes = [m for m in route.mode_model_ids if m not in self.modes]
            if extra_modes:
                problems.append(f"{label} maps modes {extra_modes} that the model does not have")
        return problems

    def _rule_problems(self) -> list[str]:
        allowed: dict[str, list[Any]] = {
            "mode": list(self.modes),
            "duration": self.durations,
            "aspect_ratio": self.aspect_ratios,
            "resolution": self.resolutions,
            "audio": [True, False],
        }
        problems = []
        for index, rule in enumerate(self.rules):
            for name, values in (*rule.when.items(), *rule.require.items()):
                bad = [
                    v for v in values if v not in allowed[name] or isinstance(v, bool) != (name == "audio")
                ]
                if bad:
                    problems.append(
                        f"rule #{index + 1} ({rule.message}) names {name} values {bad} the model lacks"
                    )
        return problems

    def broken_rules(self, choices: dict[str, Any]) -> list[Rule]:
        """The rules these choices (mode, duration, aspect_ratio, resolution, audio) violate."""
        return [rule for rule in self.rules if rule.applies(choices) and not rule.satisfied(choices)]

    def resolved_audio(self, requested: bool | None) -> bool:
        if self.audio == "always":
            return True
        if self.audio == "never":
            return False
        return self.default_audio if requested is None else requested


class Catalog(_Strict):
    models: list[VideoModel] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_keys(self) -> Catalog:
        keys = [m.key for m in self.models]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"model keys must be unique; repeated: {duplicates}")
        return self

    def get(self, key: str) -> VideoModel | None:
        return next((m for m in self.models if m.key == key), None)

    def name_of(self, key: str) -> str:
        """How people see a model (progress, captions, /library, admin): its name, also once no route
        offers it any more (a removed key must not rename old videos); the key if the catalog lost it."""
        model = self.get(key)
        return model.name if model is not None else key

    def available(self, providers: Collection[str]) -> list[AvailableModel]:
        """Models a user may order now: those with an enabled route of one of `providers`, the providers
        that have a key and an adapter (`Settings.usable_providers()`), that can make at least one video."""
        offers = []
        for model in self.models:
            routes = sorted(
                (r for r in model.routes if r.enabled and r.provider in providers), key=lambda r: r.priority
            )
            offer = AvailableModel(model, tuple(routes))
            if offer.combinations:
                offers.append(offer)
        return offers


class Combination(NamedTuple):
    """One full set of choices (the fields of CHOICE_ORDER) that a route can make."""

    mode: Mode
    duration: int
    aspect_ratio: str
    resolution: str
    audio: bool


@dataclass(frozen=True, slots=True)
class AvailableModel:
    """A model with its enabled, configured routes, and what those routes can make together.

    This is where "only offer what can be made" lives: the wizard asks `values_for` at every step and
    `options_for` on its summary, /library asks `continuations`, validation asks `routes_for`.
    """

    model: VideoModel
    routes: tuple[Route, ...]
    #: Every combination of choices that passes the model's rules and that at least one route accepts.
    combinations: tuple[Combination, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "combinations", _combinations(self.model, self.routes))

    def through(self, provider: str | None) -> AvailableModel:
        """The same model on `provider`'s routes only (an extend or remix goes where its source was
        made); all routes when `provider` is None."""
        if provider is None:
            return self
        return AvailableModel(self.model, tuple(r for r in self.routes if r.provider == provider))

    def matching(self, choices: Mapping[str, Any]) -> list[Combination]:
        """The makeable combinations that agree with every choice given (None means not chosen)."""
        chosen = [
            (CHOICE_ORDER.index(name), value)
            for name, value in choices.items()
            if name in CHOICE_ORDER and value is not None
        ]
        return [c for c in self.combinations if all(c[index] == value for index, value in chosen)]

    def makeable(self, choices: Mapping[str, Any]) -> bool:
        """Whether some route can make a video with these choices (and some values for the others)."""
        return bool(self.matching(choices))

    def values_for(self, step: RuleField, choices: Mapping[str, Any]) -> list[Any]:
        """The values of `step` to offer, in the model's order: those some route can make together with
        the choices of the steps before it in CHOICE_ORDER and some values of the steps after it."""
        position = CHOICE_ORDER.index(step)
        earlier = {k: v for k, v in choices.items() if k in CHOICE_ORDER[:position]}
        found = {c[position] for c in self.matching(earlier)}
        model = self.model
        every: dict[str, list[Any]] = {
            "mode": list(model.modes),
            "duration": model.durations,
            "aspect_ratio": model.aspect_ratios,
            "resolution": model.resolutions,
            "audio": [False, True],
        }
        return [value for value in every[step] if value in found]

    def options_for(self, choices: Mapping[str, Any]) -> list[Option]:
        """The options a route that can make these choices takes: what the summary may offer."""
        combinations = self.matching(choices)
        routes = [
            r
            for r in self.routes
            if any(
                r.supports(
                    mode=c.mode, duration=c.duration, resolution=c.resolution, aspect_ratio=c.aspect_ratio
                )
                for c in combinations
            )
        ]
        return [option for option in OPTIONS if any(r.takes(option) for r in routes)]

    def continuations(self, provider: str | None) -> list[Mode]:
        """Extend and remix of a video made on `provider`: the source modes a route of that provider can
        make (submission sends them nowhere else); none for a video that was never submitted."""
        if provider is None:
            return []
        through = self.through(provider)
        return [m for m in MODES if m in SOURCE_MODES and through.makeable({"mode": m})]

    def routes_for(self, *, mode: str, duration: int, resolution: str, aspect_ratio: str) -> list[Route]:
        """Routes that accept this request, best first: the submit order, and the failover order."""
        return [
            r
            for r in self.routes
            if r.supports(mode=mode, duration=duration, resolution=resolution, aspect_ratio=aspect_ratio)
        ]


def _combinations(model: VideoModel, routes: tuple[Route, ...]) -> tuple[Combination, ...]:
    """Every makeable combination, in the model's order of values."""
    audio = [False, True] if model.audio == "optional" else [model.audio == "always"]
    found = []
    for values in itertools.product(
        model.modes, model.durations, model.aspect_ratios, model.resolutions, audio
    ):
        combination = Combination(*values)
        if model.broken_rules(combination._asdict()):
            continue
        if any(
            r.supports(
                mode=combination.mode,
                duration=combination.duration,
                resolution=combination.resolution,
                aspect_ratio=combination.aspect_ratio,
            )
            for r in routes
        ):
            found.append(combination)
    return tuple(found)


DEFAULT_CATALOG = "catalog.toml"


def load_catalog(path: Path | None = None, *, providers: Collection[str] | None = None) -> Catalog:
    """Load CATALOG_PATH or the packaged default; raise CatalogError naming the file, entry and reason.

    `providers` are the known provider names (`services.providers.registry.DESCRIPTORS`): a route of any
    other provider is an error. Without them route providers are not checked.
    """
    if path is None:
        source = f"(built-in services/{DEFAULT_CATALOG})"
        text = (resources.files("services") / DEFAULT_CATALOG).read_text(encoding="utf-8")
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise CatalogError(source, [f"cannot read the file: {error.strerror or error}"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CatalogError(source, [f"not valid TOML: {error}"]) from None
    try:
        return Catalog.model_validate(raw, context={"providers": providers})
    except ValidationError as error:
        raise CatalogError(source, _describe(error, raw)) from None


def _describe(error: ValidationError, raw: dict[str, Any]) -> list[str]:
    models = raw.get("models") if isinstance(raw.get("models"), list) else []
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        loc = list(item["loc"])
        where = "catalog"
        if len(loc) >= 2 and loc[0] == "models" and isinstance(loc[1], int):
            index = loc[1]
            entry = models[index] if index < len(models) and isinstance(models[index], dict) else {}
            where = f"model #{index + 1} {entry.get('key', '(no key)')!r}"
            loc = loc[2:]
        field = ".".join(str(p) for p in loc)
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{where}{' ' + field if field else ''}: {message}")
    return problems
