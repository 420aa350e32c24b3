"""The wizard's draft and its flow: which steps a draft goes through, which are still open, what a
choice may change. Pure functions of the draft and the catalog, so callback data (which can be forged)
is checked here against the model before anything is stored."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from services.catalog import SOURCE_MODES, AvailableModel, VideoModel
from services.validation import Problem
from services.video_request import VideoRequest

Step = Literal["model", "mode", "settings", "first", "last", "refs", "prompt", "summary", "change"]
#: Steps that wait for the user to send something instead of pressing a button.
INPUT_STEPS: frozenset[Step] = frozenset({"first", "last", "refs", "prompt"})
#: Steps the "change" menu can reopen.
CHANGEABLE: tuple[Step, ...] = ("model", "mode", "settings", "first", "last", "refs", "prompt")
#: Modes the model menu offers; extend and remix start from /library with a source video.
WIZARD_MODES = ("t2v", "i2v", "fl2v", "ref2v")
#: Setting → the request field it sets.
SETTING_FIELDS = {
    "duration": "duration",
    "aspect": "aspect_ratio",
    "resolution": "resolution",
    "audio": "audio",
}
_IMAGE_FIELDS = ("first_frame", "last_frame", "reference_images")
#: How much of the draft id travels in callback data: enough to tell drafts apart, short for 64 bytes.
TAG_LENGTH = 8


class Draft(BaseModel):
    """What the user chose so far, kept in FSM data. `values` is a partial VideoRequest as JSON."""

    id: str
    message_id: int | None = None
    #: Reached from the summary's "change" menu: finishing a step returns to the summary.
    editing: bool = False
    values: dict[str, Any] = Field(default_factory=dict)

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


def wizard_modes(model: VideoModel) -> list[str]:
    return [m for m in model.modes if m in WIZARD_MODES]


def setting_options(model: VideoModel) -> dict[str, list[Any]]:
    """Every setting with its allowed values; one value means nothing to choose."""
    return {
        "duration": list(model.durations),
        "aspect": list(model.aspect_ratios),
        "resolution": list(model.resolutions),
        "audio": [False, True] if model.audio == "optional" else [model.audio == "always"],
    }


def has_settings(model: VideoModel) -> bool:
    return any(len(values) > 1 for values in setting_options(model).values())


def image_steps(mode: str | None) -> list[Step]:
    if mode in ("i2v", "fl2v"):
        return ["first", "last"] if mode == "fl2v" else ["first"]
    return ["refs"] if mode == "ref2v" else []


def sequence(draft: Draft, model: VideoModel | None) -> list[Step]:
    """The steps this draft goes through, in order. Extend/remix keep their model, mode and source."""
    steps: list[Step] = [] if draft.mode in SOURCE_MODES else ["model"]
    if model is None:
        return steps or ["model"]
    if draft.mode not in SOURCE_MODES and len(wizard_modes(model)) > 1:
        steps.append("mode")
    if has_settings(model):
        steps.append("settings")
    return [*steps, *image_steps(draft.mode), "prompt", "summary"]


def first_open(draft: Draft, model: VideoModel | None) -> Step:
    """The first step still missing something; the summary when the draft is complete."""
    if model is None:
        return "model"
    if draft.mode is None or draft.mode not in model.modes:
        return "mode"
    for step in image_steps(draft.mode):
        if not step_done(draft, model, step):
            return step
    return "summary" if step_done(draft, model, "prompt") else "prompt"


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


def after(draft: Draft, model: VideoModel | None, step: Step) -> Step:
    """Where "next" leads: back to the summary when editing, else the following step."""
    if draft.editing:
        return first_open(draft, model)
    steps = sequence(draft, model)
    if step in steps and steps.index(step) + 1 < len(steps):
        return steps[steps.index(step) + 1]
    return first_open(draft, model)


def before(draft: Draft, model: VideoModel | None, step: Step) -> Step | None:
    """Where "back" leads: the change menu from an edit of a complete draft, else the previous step."""
    if step == "change":
        return "summary"
    if draft.editing and first_open(draft, model) == "summary" and step != "summary":
        return "change"
    steps = sequence(draft, model)
    if step in steps and steps.index(step) > 0:
        return steps[steps.index(step) - 1]
    return None


def changeable(draft: Draft, model: VideoModel) -> list[Step]:
    """What the "change" menu offers for this draft."""
    steps = sequence(draft, model)
    return [step for step in CHANGEABLE if step in steps]


def choose_model(values: dict[str, Any], model: VideoModel) -> dict[str, Any]:
    """Switch model, keeping every choice the new model still allows (and the prompt)."""
    chosen = {**values, "model": model.key}
    if chosen.get("mode") not in model.modes:
        for name in ("mode", "source_generation_id", *_IMAGE_FIELDS):
            chosen.pop(name, None)
    modes = wizard_modes(model)
    if "mode" not in chosen and len(modes) == 1:
        chosen["mode"] = modes[0]
    options = setting_options(model)
    for setting, field in SETTING_FIELDS.items():
        if field in chosen and (chosen[field] not in options[setting] or len(options[setting]) == 1):
            del chosen[field]
    if chosen.get("reference_images") and len(chosen["reference_images"]) > model.max_reference_images:
        chosen["reference_images"] = chosen["reference_images"][: model.max_reference_images]
    return chosen


def choose_mode(values: dict[str, Any], mode: str) -> dict[str, Any]:
    """Switch mode, dropping images the new mode does not use."""
    chosen = {**values, "mode": mode}
    keep = {"i2v": ("first_frame",), "fl2v": ("first_frame", "last_frame"), "ref2v": ("reference_images",)}
    for name in _IMAGE_FIELDS:
        if name not in keep.get(mode, ()):
            chosen.pop(name, None)
    return chosen


def parse_setting(model: VideoModel, setting: str, raw: str) -> Any | None:
    """The allowed value a (possibly forged) button names, or None."""
    options = setting_options(model).get(setting)
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


def settings_problems(draft: Draft, offer: AvailableModel) -> list[Problem]:
    """Catalog rules the chosen settings break, or no route that makes them."""
    request = draft.request()
    if request is None:
        return []
    request = request.with_defaults(offer.model)
    broken = [Problem(rule.message) for rule in offer.model.broken_rules(request.choices())]
    if broken:
        return broken
    assert request.duration is not None and request.resolution and request.aspect_ratio
    routes = offer.routes_for(
        mode=request.mode,
        duration=request.duration,
        resolution=request.resolution,
        aspect_ratio=request.aspect_ratio,
    )
    return [] if routes else [Problem("error-no-route", {"model": offer.model.name})]
