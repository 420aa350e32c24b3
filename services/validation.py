"""Checks a `VideoRequest` against its model before any money moves.

Every violation is reported, not just the first, each as a translation key (bot/locales/*/messages.ftl)
with the values its message needs, so the user learns everything to fix in one answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.catalog import SOURCE_MODES, AvailableModel, VideoModel
from services.video_request import VideoRequest

SEED_MAX = 2**32 - 1


@dataclass(frozen=True, slots=True)
class Problem:
    key: str
    params: dict[str, str | int] = field(default_factory=dict)


def _listing(values: list[object]) -> str:
    return ", ".join(str(v) for v in values)


def validate_request(request: VideoRequest, offer: AvailableModel | VideoModel) -> list[Problem]:
    """All problems with `request` for this model; empty means it may be priced and paid.

    Given an `AvailableModel`, also require one configured route that accepts the exact combination.
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
        *_input_problems(request, model),
    ]
    if not problems:
        problems.extend(Problem(rule.message) for rule in model.broken_rules(request.choices()))
    if not problems and isinstance(offer, AvailableModel):
        assert request.duration is not None and request.resolution and request.aspect_ratio
        if not offer.routes_for(
            mode=request.mode,
            duration=request.duration,
            resolution=request.resolution,
            aspect_ratio=request.aspect_ratio,
        ):
            problems.append(Problem("error-no-route", {"model": model.name}))
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
    if request.negative_prompt is not None:
        if not model.negative_prompt:
            problems.append(Problem("error-negative-prompt-unsupported", {"model": model.name}))
        elif len(request.negative_prompt) > model.prompt_max:
            problems.append(Problem("error-negative-prompt-too-long", {"max": model.prompt_max}))
    if request.seed is not None:
        if not model.seed:
            problems.append(Problem("error-seed-unsupported", {"model": model.name}))
        elif not 0 <= request.seed <= SEED_MAX:
            problems.append(Problem("error-seed-range", {"max": SEED_MAX}))
    return problems


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
