"""The wizard's flow rules on the test catalog: which step a draft or a /library preset opens at, and
what a change of model or mode keeps."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from bot.i18n import Translator
from bot.wizard.draft import (
    OPTION_STEPS,
    Draft,
    after,
    before,
    choose_mode,
    choose_model,
    choose_setting,
    first_open,
    fit,
    offered_options,
    parse_option,
    parse_setting,
    preset_values,
    sequence,
    setting_options,
    toggle_option,
    wizard_modes,
)
from bot.wizard.views import View
from services.catalog import AvailableModel, load_catalog
from services.generations import GenerationService
from services.providers.registry import Providers
from services.settings import Settings
from storage.interfaces import Store
from tests.poller.conftest import CATALOG

#: Every model of the test catalog with all its routes configured.
OFFERS = {o.model.key: o for o in load_catalog(CATALOG).available({"openai", "laozhang", "demo", "kie"})}
FRAME = {"source": "inputs/5001/a.jpg", "mime_type": "image/jpeg", "width": 640, "height": 360}


def draft(**values: object) -> Draft:
    return Draft(id="ab" * 16, values=preset_values(values))


def test_a_full_stored_request_opens_at_the_summary() -> None:
    stored = {"model": "clip", "mode": "t2v", "prompt": "waves", "duration": 8, "seed": None, "extras": {}}
    assert first_open(draft(**stored), OFFERS["clip"]) == "summary"


def test_extend_and_remix_open_at_the_prompt_and_keep_their_model() -> None:
    remix = draft(model="clip", mode="remix", source_generation_id="f" * 32)
    clip = OFFERS["clip"]
    assert first_open(remix, clip) == "prompt"
    assert sequence(remix, clip) == ["settings", "prompt", "summary"]
    assert before(remix, clip, "settings") is None


def test_image_to_video_asks_for_the_frame_and_back_leads_the_same_way() -> None:
    i2v = draft(model="demo", mode="i2v")
    demo = OFFERS["demo"]
    assert sequence(i2v, demo) == ["model", "mode", "first", "prompt", "summary"]
    assert first_open(i2v, demo) == "first"
    assert after(i2v, demo, "mode") == "first" and before(i2v, demo, "first") == "mode"


def test_switching_model_or_mode_drops_what_no_longer_fits() -> None:
    values = {"model": "clip", "mode": "i2v", "duration": 8, "prompt": "p", "first_frame": FRAME}
    on_demo = choose_model(values, OFFERS["demo"])
    assert on_demo == {"model": "demo", "mode": "i2v", "prompt": "p", "first_frame": FRAME}
    assert choose_mode(on_demo, "t2v", OFFERS["demo"]) == {"model": "demo", "mode": "t2v", "prompt": "p"}
    remix = {"model": "clip", "mode": "remix", "source_generation_id": "f" * 32}
    assert choose_model(remix, OFFERS["demo"]) == {"model": "demo"}


def test_forged_setting_values_are_refused() -> None:
    clip, values = OFFERS["clip"], {"model": "clip", "mode": "t2v"}
    assert parse_setting(clip, values, "duration", "8") == 8
    assert parse_setting(clip, values, "duration", "6") is None
    assert parse_setting(clip, values, "aspect", "16x9") is None  # one value only: nothing to choose
    assert parse_setting(clip, values, "colour", "red") is None


def test_a_preset_that_does_not_validate_keeps_only_the_model() -> None:
    assert preset_values({"model": "clip", "mode": "warp", "prompt": "p"}) == {"model": "clip"}
    assert preset_values({"model": "clip", "unknown": 1}) == {"model": "clip"}


SHIPPED = load_catalog()


def shipped(key: str, *providers: str) -> AvailableModel:
    return next(o for o in SHIPPED.available(providers) if o.model.key == key)


def test_a_later_setting_no_route_makes_with_an_earlier_one_moves_and_options_follow() -> None:
    """Veo 3.1 on Gemini and KIE: 1080p needs 8 s, and KIE (the only route that translates) makes 8 s only;
    choosing 4 s moves 1080p back to the default 720p and drops the translation, keeps the negative prompt."""
    veo = shipped("veo-3.1", "gemini", "kie")
    values = {"model": "veo-3.1", "mode": "t2v", "resolution": "1080p", "translate_prompt": True}
    values = {**values, "negative_prompt": "blur"}
    assert choose_setting(values, "duration", 4, veo) == {
        "model": "veo-3.1",
        "mode": "t2v",
        "duration": 4,
        "negative_prompt": "blur",
    }
    assert fit(values, veo) == values, "8 s (the default) makes all of it"
    assert setting_options(veo, {**values, "duration": 4})["resolution"] == ["720p"]
    assert parse_setting(veo, {**values, "duration": 4}, "resolution", "1080p") is None


def test_a_mode_no_route_makes_is_neither_offered_nor_kept() -> None:
    kie = shipped("veo-3.1", "kie")
    assert wizard_modes(kie) == ["t2v", "i2v", "fl2v"], "KIE's Veo 3.1 has no reference images"
    ref = {"model": "veo-3.1", "mode": "ref2v", "reference_images": [FRAME], "prompt": "p"}
    assert choose_model(ref, kie) == {"model": "veo-3.1", "prompt": "p"}


def test_summary_options_and_their_steps() -> None:
    veo = shipped("veo-3.1", "gemini", "kie")
    summary = draft(model="veo-3.1", mode="t2v", prompt="p")
    assert offered_options(summary, veo) == ["negative_prompt", "translate_prompt"]
    assert parse_option(summary, veo, "seed") is None and parse_option(summary, veo, "moon") is None
    assert parse_option(summary, veo, "translate_prompt") == "translate_prompt"
    on = toggle_option(summary.values, "translate_prompt")
    assert on["translate_prompt"] is True and "translate_prompt" not in toggle_option(on, "translate_prompt")
    negative = {**summary.values, "negative_prompt": "blur"}
    assert "negative_prompt" not in toggle_option(negative, "negative_prompt"), "pressed again: off"
    for step in OPTION_STEPS.values():
        assert before(summary, veo, step) == "summary" and after(summary, veo, step) == "summary"


def test_an_extend_goes_only_through_the_provider_that_made_the_source(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(gemini_api_key="g", kie_api_key="k")
    generations = GenerationService(cast(Store, None), SHIPPED, settings, Providers(settings))
    view = View("en", Translator(), generations, settings)
    extend = Draft(
        id="cd" * 16,
        source_provider="kie",
        values={"model": "veo-3.1", "mode": "extend", "source_generation_id": "f" * 32, "prompt": "p"},
    )
    through = view.offer(extend)
    assert through is not None and [r.provider for r in through.routes] == ["kie"]
    assert offered_options(extend, through) == ["translate_prompt"], "Gemini's negative prompt cannot go"
    fresh = view.offer(draft(model="veo-3.1", mode="t2v"))
    assert fresh is not None and [r.provider for r in fresh.routes] == ["gemini", "kie"]
