"""The summary's options on a `VideoRequest`: which are on, and what a route that lacks one is sent."""

from __future__ import annotations

from services.catalog import Route
from services.video_request import VideoRequest

FULL = VideoRequest(
    model="wan-2.6",
    mode="t2v",
    prompt="a red kite",
    negative_prompt="blur",
    seed=7,
    enhance_prompt=True,
    translate_prompt=True,
)


def route(*options: str) -> Route:
    return Route.model_validate({"provider": "dashscope", "model_id": "wan2.6-t2v", "options": list(options)})


def test_options_are_off_unless_asked_for() -> None:
    plain = VideoRequest(model="wan-2.6", mode="t2v", prompt="a red kite")
    assert plain.chosen_options() == []
    assert (plain.negative_prompt, plain.seed, plain.enhance_prompt, plain.translate_prompt) == (
        None,
        None,
        False,
        False,
    )
    assert FULL.chosen_options() == ["negative_prompt", "seed", "enhance_prompt", "translate_prompt"]
    assert VideoRequest(model="m", mode="t2v", seed=0).chosen_options() == ["seed"], "0 is a seed"


def test_a_route_is_sent_only_the_options_it_takes() -> None:
    sent = FULL.for_route(route("negative_prompt", "enhance_prompt"))
    assert (sent.negative_prompt, sent.seed, sent.enhance_prompt, sent.translate_prompt) == (
        "blur",
        None,
        True,
        False,
    )
    assert sent.model_copy(update={"seed": 7, "translate_prompt": True}) == FULL, "nothing else changes"
    assert FULL.for_route(route()).chosen_options() == []
    assert FULL.for_route(route("negative_prompt", "seed", "enhance_prompt", "translate_prompt")) == FULL
