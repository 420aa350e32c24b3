"""The wizard's draft and its flow: which steps a draft goes through, which are still open, what a
choice may change. Pure functions of the draft and the model's offer, so callback data (which can be
forged) is checked here before anything is stored.

What a step offers comes from the offer (`AvailableModel.values_for`, `options_for`): only values some
enabled, configured route can make together with the choices before them. `fit` keeps a draft inside
that after every change, so its preselected values, too, can always be made.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from services.catalog import OPTIONS, SOURCE_MODES, AvailableModel, Option, RuleField, VideoModel
from services.generations import MAX_VARIANTS
from services.validation import Problem
from services.video_request import VideoRequest

Step = Literal[
    "model", "mode", "settings", "first", "last", "refs", "prompt", "summary", "change", "negative", "seed"
]
#: Steps that wait for the user to send something instead of pressing a button.
INPUT_STEPS: frozenset[Step] = frozenset({"first", "last", "refs", "prompt", "negative", "seed"})
#: Steps the "change" menu can reopen.
CHANGEABLE: tuple[Step, ...] = ("model", "mode", "settings", "first", "last", "refs", "prompt")
#: Modes the model menu offers; extend and remix start from /library with a source video.
WIZARD_MODES = ("t2v", "i2v", "fl2v", "ref2v")
#: Setting → the request field it sets, in the order the offer narrows them (CHOICE_ORDER).
SETTING_FIELDS: dict[str, RuleField] = {
    "duration": "duration",
    "aspect": "aspect_ratio",
    "resolution": "resolution",
    "audio": "audio",
}
#: Summary options that ask for a value on a step of their own; the others are on/off.
OPTION_STEPS: dict[Option, Step] = {"negative_prompt": "negative", "seed": "seed"}
_IMAGE_FIELDS = ("first_frame", "last_frame", "reference_images")
#: How much of the draft id travels in callback data: enough to tell drafts apart, short for 64 bytes.
TAG_LENGTH = 8


class Draft(BaseModel):
    """What the user chose so far, kept in FSM data. `values` is a partial VideoRequest as JSON."""

    id: str
    message_id: int | None = None
    #: Reached from the summary's "change" menu: finishing a step returns to the summary.
    editing: bool = False
    #: For an extend or remix: the provider that made the source video, the only one that can continue it.
    source_provider: str | None = None
    values: dict[str, Any] = Field(default_factory=dict)
    #: How many videos of the request the summary orders (its "Variants" row), each paid on its own.
    variants: int = 1

    @property
    def tag(self) -> str:
        """The part of the id that travels in callback data."""
        return self.id[:TAG_LENGTH]

    @property
    def model_key(self) -> str | None:
        return self.values.get("model")

    @property
    def mode(self) -> str | None:
        return self.values.get("mode")

    @property
    def prompt(self) -> str:
        return str(self.values.get("prompt") or "")

    def request(self) -> VideoRequest | None:
        """The request so far, or None while model or mode is missing."""
        if self.model_key is None or self.mode is None:
            return None
        try:
            return VideoRequest.model_validate(self.values)
        except ValidationError:
            return None


def preset_values(preset: dict[str, Any]) -> dict[str, Any]:
    """The usable part of a preset: known request fields only, and none at all if they don't validate."""
    values = {k: v for k, v in preset.items() if k in VideoRequest.model_fields and v is not None}
    if "model" in values and "mode" in values:
        try:
            VideoRequest.model_validate(values)
        except ValidationError:
            return {"model": values["model"]} if isinstance(values["model"], str) else {}
    return values


def wizard_modes(offer: AvailableModel) -> list[str]:
    """The modes the mode step offers: those some route of the model can make."""
    return [m for m in offer.values_for("mode", {}) if m in WIZARD_MODES]


def choices(values: dict[str, Any], model: VideoModel) -> dict[str, Any]:
    """The draft's choices in CHOICE_ORDER terms, the model's defaults where the user chose nothing."""
    return {
        "mode": values.get("mode"),
        "duration": values.get("duration", model.default_duration),
        "aspect_ratio": values.get("aspect_ratio", model.default_aspect_ratio),
        "resolution": values.get("resolution", model.default_resolution),
        "audio": model.resolved_audio(values.get("audio")),
    }


def setting_options(offer: AvailableModel, values: dict[str, Any]) -> dict[str, list[Any]]:
    """Every setting with the values to offer after the choices before it; one value means nothing to
    choose."""
    chosen = choices(values, offer.model)
    return {setting: offer.values_for(field, chosen) for setting, field in SETTING_FIELDS.items()}


def has_settings(offer: AvailableModel, values: dict[str, Any]) -> bool:
    return any(len(options) > 1 for options in setting_options(offer, values).values())


def fit(values: dict[str, Any], offer: AvailableModel) -> dict[str, Any]:
    """The draft made makeable: a mode no route can make is dropped (with its images and source), or
    picked when it is the only one; then each setting, in CHOICE_ORDER, keeps its value if a route can
    make it with the choices before it, else takes the model's default if that can be made, else the
    first value that can. Only values that differ from the default are stored. Options that are off,
    or that no route making the result takes, are dropped."""
    model = offer.model
    fitted = dict(values)
    if fitted.get("mode") is not None and not offer.makeable({"mode": fitted["mode"]}):
        for name in ("mode", "source_generation_id", *_IMAGE_FIELDS):
            fitted.pop(name, None)
    modes = wizard_modes(offer)
    if fitted.get("mode") is None and len(modes) == 1:
        fitted["mode"] = modes[0]
    if fitted.get("mode") is None:
        return fitted  # settings and options are fitted once a mode is chosen
    defaults = choices({}, model)
    chosen = choices(fitted, model)
    for field in SETTING_FIELDS.values():
        allowed = offer.values_for(field, chosen)
        default = defaults[field]
        if chosen[field] not in allowed:
            chosen[field] = default if default in allowed else allowed[0]
        if chosen[field] == default:
            fitted.pop(field, None)
        else:
            fitted[field] = chosen[field]
    taken = offer.options_for(chosen)
    for option in OPTIONS:
        if option in fitted and (option not in taken or not option_on(fitted, option)):
            del fitted[option]
    return fitted


def image_steps(mode: str | None) -> list[Step]:
    if mode in ("i2v", "fl2v"):
        return ["first", "last"] if mode == "fl2v" else ["first"]
    return ["refs"] if mode == "ref2v" else []


def sequence(draft: Draft, offer: AvailableModel | None) -> list[Step]:
    """The steps this draft goes through, in order. Extend/remix keep their model, mode and source."""
    steps: list[Step] = [] if draft.mode in SOURCE_MODES else ["model"]
    if offer is None:
        return steps or ["model"]
    if draft.mode not in SOURCE_MODES and len(wizard_modes(offer)) > 1:
        steps.append("mode")
    if draft.mode is not None and has_settings(offer, draft.values):
        steps.append("settings")
    return [*steps, *image_steps(draft.mode), "prompt", "summary"]


def first_open(draft: Draft, offer: AvailableModel | None) -> Step:
    """The first step still missing something; the summary when the draft is complete."""
    if offer is None:
        return "model"
    if draft.mode is None or not offer.makeable({"mode": draft.mode}):
        return "mode"
    for step in image_steps(draft.mode):
        if not step_done(draft, offer.model, step):
            return step
    return "summary" if step_done(draft, offer.model, "prompt") else "prompt"


def step_done(draft: Draft, model: VideoModel, step: Step) -> bool:
    """Whether "next" may leave `step`: what it asks for is there and within the model's limits."""
    values = draft.values
    if step == "first":
        return values.get("first_frame") is not None
    if step == "last":
        return values.get("last_frame") is not None
    if step == "refs":
        return 1 <= len(values.get("reference_images") or ()) <= model.max_reference_images
    if step == "prompt":
        return 0 < len(draft.prompt.strip()) <= model.prompt_max
    if step == "mode":
        return draft.mode in model.modes
    return True


def after(draft: Draft, offer: AvailableModel | None, step: Step) -> Step:
    """Where "next" leads: back to the summary when editing, else the following step."""
    if draft.editing:
        return first_open(draft, offer)
    steps = sequence(draft, offer)
    if step in steps and steps.index(step) + 1 < len(steps):
        return steps[steps.index(step) + 1]
    return first_open(draft, offer)


def before(draft: Draft, offer: AvailableModel | None, step: Step) -> Step | None:
    """Where "back" leads: the summary from the change menu and the option steps, the change menu from
    an edit of a complete draft, else the previous step."""
    if step == "change" or step in OPTION_STEPS.values():
        return "summary"
    if draft.editing and first_open(draft, offer) == "summary" and step != "summary":
        return "change"
    steps = sequence(draft, offer)
    if step in steps and steps.index(step) > 0:
        return steps[steps.index(step) - 1]
    return None


def changeable(draft: Draft, offer: AvailableModel) -> list[Step]:
    """What the "change" menu offers for this draft."""
    steps = sequence(draft, offer)
    return [step for step in CHANGEABLE if step in steps]


def choose_model(values: dict[str, Any], offer: AvailableModel) -> dict[str, Any]:
    """Switch model, keeping every choice the new model can still make (and the prompt)."""
    model = offer.model
    chosen = {**values, "model": model.key}
    if chosen.get("mode") not in model.modes:
        for name in ("mode", "source_generation_id", *_IMAGE_FIELDS):
            chosen.pop(name, None)
    if chosen.get("reference_images") and len(chosen["reference_images"]) > model.max_reference_images:
        chosen["reference_images"] = chosen["reference_images"][: model.max_reference_images]
    return fit(chosen, offer)


def choose_mode(values: dict[str, Any], mode: str, offer: AvailableModel) -> dict[str, Any]:
    """Switch mode, dropping images the new mode does not use, and settings it cannot make."""
    chosen = {**values, "mode": mode}
    keep = {"i2v": ("first_frame",), "fl2v": ("first_frame", "last_frame"), "ref2v": ("reference_images",)}
    for name in _IMAGE_FIELDS:
        if name not in keep.get(mode, ()):
            chosen.pop(name, None)
    return fit(chosen, offer)


def choose_setting(values: dict[str, Any], setting: str, value: Any, offer: AvailableModel) -> dict[str, Any]:
    """Set one setting; the later ones move to values that can be made with it."""
    return fit({**values, SETTING_FIELDS[setting]: value}, offer)


def parse_setting(offer: AvailableModel, values: dict[str, Any], setting: str, raw: str) -> Any | None:
    """The offered value a (possibly forged) button names, or None."""
    options = setting_options(offer, values).get(setting)
    if options is None or len(options) < 2:
        return None
    for option in options:
        if encode_value(option) == raw:
            return option
    return None


def encode_value(value: Any) -> str:
    """A setting value as callback data: "16:9" → "16x9", True → "1"."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value).replace(":", "x")


def option_on(values: dict[str, Any], option: Option) -> bool:
    """Whether the draft has `option` on: a negative prompt or a seed (0 is one), or True."""
    value = values.get(option)
    return value is not None and value is not False


def offered_options(draft: Draft, offer: AvailableModel) -> list[Option]:
    """The options the summary shows: those a route that can make the draft's choices takes."""
    if draft.mode is None:
        return []
    return offer.options_for(choices(draft.values, offer.model))


def parse_option(draft: Draft, offer: AvailableModel, raw: str) -> Option | None:
    """The offered option a (possibly forged) button names, or None."""
    return next((option for option in offered_options(draft, offer) if option == raw), None)


def toggle_option(values: dict[str, Any], option: Option) -> dict[str, Any]:
    """Turn an on/off option on or off, or clear a negative prompt or seed (set on its own step)."""
    if option_on(values, option):
        return {k: v for k, v in values.items() if k != option}
    assert option not in OPTION_STEPS, "a negative prompt or seed is set on its own step"
    return {**values, option: True}


def settings_problems(draft: Draft, offer: AvailableModel) -> list[Problem]:
    """Why "next" may not leave the settings: no route makes them (a draft from before a catalog change)."""
    if draft.mode is None or offer.makeable(choices(draft.values, offer.model)):
        return []
    return [Problem("error-no-route", {"model": offer.model.name})]


def variant_choices(max_active: int) -> list[int]:
    """The summary's "Variants" row: 1 to MAX_VARIANTS, but no more than may be in progress at once
    (MAX_ACTIVE_GENERATIONS), since more could never all be placed."""
    return list(range(1, min(MAX_VARIANTS, max_active) + 1))


def parse_variants(raw: str, max_active: int) -> int | None:
    """The offered variant count a (possibly forged) button names, or None."""
    return next((count for count in variant_choices(max_active) if str(count) == raw), None)
