"""Checks a `VideoRequest` against its model before any money moves.

Every violation is reported, not just the first, each as a translation key (bot/locales/*/messages.ftl)
with the values its message needs, so the user learns everything to fix in one answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.catalog import SOURCE_MODES, AvailableModel, Option, VideoModel
from services.video_request import VideoRequest

SEED_MAX = 2**32 - 1
#: The longest negative prompt: the shortest limit of the providers that take one (DashScope's 500).
NEGATIVE_PROMPT_MAX = 500


@dataclass(frozen=True, slots=True)
class Problem:
    key: str
    params: dict[str, str | int] = field(default_factory=dict)


def _listing(values: list[object]) -> str:
    return ", ".join(str(v) for v in values)


def validate_request(request: VideoRequest, offer: AvailableModel | VideoModel) -> list[Problem]:
    """All problems with `request` for this model; empty means it may be priced and paid.

    Given an `AvailableModel`, also require a configured route that accepts the exact combination, and
    for every option asked for one such route that takes it (the others get it cleared on submit).
    """
    model = offer.model if isinstance(offer, AvailableModel) else offer
    if request.model != model.key:
        return [Problem("error-model-mismatch", {"model": model.name})]
    audio = _audio_problems(request.audio, model)
    request = request.with_defaults(model)
    problems = [
        *_choice_problems(request, model),
        *audio,
        *_text_problems(request, model),
        *_option_problems(request, model),
        *_input_problems(request, model),
    ]
    if not problems:
        problems.extend(Problem(rule.message) for rule in model.broken_rules(request.choices()))
    if not problems and isinstance(offer, AvailableModel):
        assert request.duration is not None and request.resolution and request.aspect_ratio
        routes = offer.routes_for(
            mode=request.mode,
            duration=request.duration,
            resolution=request.resolution,
            aspect_ratio=request.aspect_ratio,
        )
        if not routes:
            problems.append(Problem("error-no-route", {"model": model.name}))
        problems.extend(
            unsupported(option, model)
            for option in request.chosen_options()
            if routes and not any(route.takes(option) for route in routes)
        )
    unique: list[Problem] = []
    for problem in problems:
        if problem not in unique:
            unique.append(problem)
    return unique


def _choice_problems(request: VideoRequest, model: VideoModel) -> list[Problem]:
    problems = []
    if request.mode not in model.modes:
        problems.append(Problem("error-mode-unsupported", {"model": model.name, "mode": request.mode}))
    if request.duration not in model.durations:
        problems.append(Problem("error-duration-not-allowed", {"allowed": _listing(list(model.durations))}))
    if request.aspect_ratio not in model.aspect_ratios:
        problems.append(Problem("error-aspect-not-allowed", {"allowed": _listing(list(model.aspect_ratios))}))
    if request.resolution not in model.resolutions:
        problems.append(
            Problem("error-resolution-not-allowed", {"allowed": _listing(list(model.resolutions))})
        )
    return problems


def _text_problems(request: VideoRequest, model: VideoModel) -> list[Problem]:
    problems = []
    prompt = request.prompt.strip()
    if not prompt:
        problems.append(Problem("error-prompt-empty"))
    elif len(prompt) > model.prompt_max:
        problems.append(Problem("error-prompt-too-long", {"max": model.prompt_max, "length": len(prompt)}))
    return problems


def unsupported(option: Option, model: VideoModel) -> Problem:
    """An option the model, or every route that can make the request, does not take."""
    params: dict[str, str | int] = {"model": model.name}
    match option:
        case "negative_prompt":
            return Problem("error-negative-prompt-unsupported", params)
        case "seed":
            return Problem("error-seed-unsupported", params)
        case "enhance_prompt":
            return Problem("error-enhance-prompt-unsupported", params)
        case "translate_prompt":
            return Problem("error-translate-prompt-unsupported", params)


def negative_prompt_max(model: VideoModel) -> int:
    return min(model.prompt_max, NEGATIVE_PROMPT_MAX)


def _option_problems(request: VideoRequest, model: VideoModel) -> list[Problem]:
    """Options the model lacks, and a negative prompt or seed out of bounds."""
    problems = [
        unsupported(option, model) for option in request.chosen_options() if not getattr(model, option)
    ]
    negative = request.negative_prompt
    if negative is not None and model.negative_prompt and len(negative) > negative_prompt_max(model):
        problems.append(Problem("error-negative-prompt-too-long", {"max": negative_prompt_max(model)}))
    if request.seed is not None and model.seed and not 0 <= request.seed <= SEED_MAX:
        problems.append(Problem("error-seed-range", {"max": SEED_MAX}))
    return problems


def parse_seed(text: str) -> int | None:
    """The seed a user typed: plain ASCII digits from 0 to SEED_MAX (not "١٢" or "1e9"), else None."""
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > len(str(SEED_MAX)):
        return None
    seed = int(text)
    return seed if seed <= SEED_MAX else None


def _input_problems(request: VideoRequest, model: VideoModel) -> list[Problem]:
    """Which images and sources each mode needs, and that no stray ones come along."""
    mode = request.mode
    problems = []
    wants_first = mode in ("i2v", "fl2v")
    if wants_first and request.first_frame is None:
        problems.append(Problem("error-first-frame-required"))
    if not wants_first and request.first_frame is not None:
        problems.append(Problem("error-image-not-expected", {"mode": mode}))
    if mode == "fl2v" and request.last_frame is None:
        problems.append(Problem("error-last-frame-required"))
    if mode != "fl2v" and request.last_frame is not None:
        problems.append(Problem("error-image-not-expected", {"mode": mode}))
    count = len(request.reference_images)
    if mode == "ref2v" and not 1 <= count <= model.max_reference_images:
        problems.append(Problem("error-reference-count", {"max": model.max_reference_images, "count": count}))
    if mode != "ref2v" and count:
        problems.append(Problem("error-image-not-expected", {"mode": mode}))
    if mode in SOURCE_MODES and not request.source_generation_id:
        problems.append(Problem("error-source-required"))
    if mode not in SOURCE_MODES and request.source_generation_id:
        problems.append(Problem("error-source-not-expected", {"mode": mode}))
    return problems


def _audio_problems(requested: bool | None, model: VideoModel) -> list[Problem]:
    """Checked on the user's own choice, before defaults overwrite it."""
    if model.audio == "always" and requested is False:
        return [Problem("error-audio-always", {"model": model.name})]
    if model.audio == "never" and requested is True:
        return [Problem("error-audio-unsupported", {"model": model.name})]
    return []
