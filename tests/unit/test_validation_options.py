"""Validation of the summary's options: a model or route that lacks one, a negative prompt or seed out of
bounds, and the seed a user types."""

from __future__ import annotations

from typing import Any

import pytest

from bot.i18n import LANGUAGES, Translator
from services.catalog import OPTIONS, AvailableModel, load_catalog
from services.validation import NEGATIVE_PROMPT_MAX, SEED_MAX, parse_seed, unsupported, validate_request
from services.video_request import VideoRequest

CATALOG = load_catalog()


def offer(key: str, *providers: str) -> AvailableModel:
    return next(o for o in CATALOG.available(providers) if o.model.key == key)


def keys(request: VideoRequest, against: AvailableModel) -> list[str]:
    return [p.key for p in validate_request(request, against)]


def req(key: str = "veo-3.1", **values: Any) -> VideoRequest:
    return VideoRequest(model=key, mode="t2v", prompt="a red kite", **{"duration": 8, **values})


def test_an_option_needs_a_route_for_the_video_that_takes_it() -> None:
    both, kie = offer("veo-3.1", "gemini", "kie"), offer("veo-3.1", "kie")
    assert keys(req(negative_prompt="blur", translate_prompt=True), both) == []
    assert keys(req(negative_prompt="blur"), kie) == ["error-negative-prompt-unsupported"]
    assert keys(req(translate_prompt=True, duration=4), both) == ["error-translate-prompt-unsupported"]
    assert keys(req(enhance_prompt=True), both) == ["error-enhance-prompt-unsupported"], "the model lacks it"
    assert keys(req(seed=3), both) == ["error-seed-unsupported"]
    wan = offer("wan-2.6", "runware")
    wan_request = req("wan-2.6", duration=5, seed=3, enhance_prompt=True)
    assert keys(wan_request, wan) == ["error-enhance-prompt-unsupported"], "only DashScope enhances"
    assert keys(wan_request, offer("wan-2.6", "dashscope")) == []
    problem = validate_request(req(negative_prompt="blur"), kie)[0]
    assert problem.params == {"model": "Veo 3.1"}


def test_negative_prompt_and_seed_bounds() -> None:
    wan = offer("wan-2.6", "dashscope")
    longest = req("wan-2.6", duration=5, negative_prompt="n" * NEGATIVE_PROMPT_MAX)
    assert keys(longest, wan) == []
    too_long = validate_request(longest.model_copy(update={"negative_prompt": "n" * 501}), wan)
    assert [(p.key, p.params) for p in too_long] == [("error-negative-prompt-too-long", {"max": 500})]
    assert keys(req("wan-2.6", duration=5, seed=SEED_MAX), wan) == []
    assert keys(req("wan-2.6", duration=5, seed=SEED_MAX + 1), wan) == ["error-seed-range"]


@pytest.mark.parametrize(
    ("text", "seed"),
    [
        ("42", 42),
        (" 0 ", 0),
        ("007", 7),
        (str(SEED_MAX), SEED_MAX),
        (str(SEED_MAX + 1), None),
        ("-1", None),
        ("1.5", None),
        ("1e9", None),
        ("4 2", None),
        ("١٢", None),
        ("１２", None),
        ("", None),
        ("random", None),
        ("9" * 5000, None),
    ],
)
def test_a_typed_seed(text: str, seed: int | None) -> None:
    assert parse_seed(text) == seed


def test_every_unsupported_option_is_translated() -> None:
    translator = Translator()
    model = CATALOG.models[0]
    for option in OPTIONS:
        problem = unsupported(option, model)
        for language in LANGUAGES:
            assert translator.has(language, problem.key), (language, problem.key)
            assert model.name in translator(language, problem.key, **problem.params)
