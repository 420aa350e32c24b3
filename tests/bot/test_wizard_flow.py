"""The wizard's flow rules on the test catalog: which step a draft or a /library preset opens at, and
what a change of model or mode keeps."""

from __future__ import annotations

from bot.wizard.draft import (
    Draft,
    after,
    before,
    choose_mode,
    choose_model,
    first_open,
    parse_setting,
    preset_values,
    sequence,
)
from services.catalog import load_catalog
from tests.poller.conftest import CATALOG

MODELS = {m.key: m for m in load_catalog(CATALOG).models}
FRAME = {"source": "inputs/5001/a.jpg", "mime_type": "image/jpeg", "width": 640, "height": 360}


def draft(**values: object) -> Draft:
    return Draft(id="ab" * 16, values=preset_values(values))


def test_a_full_stored_request_opens_at_the_summary() -> None:
    stored = {"model": "clip", "mode": "t2v", "prompt": "waves", "duration": 8, "seed": None, "extras": {}}
    assert first_open(draft(**stored), MODELS["clip"]) == "summary"


def test_extend_and_remix_open_at_the_prompt_and_keep_their_model() -> None:
    remix = draft(model="clip", mode="remix", source_generation_id="f" * 32)
    clip = MODELS["clip"]
    assert first_open(remix, clip) == "prompt"
    assert sequence(remix, clip) == ["settings", "prompt", "summary"]
    assert before(remix, clip, "settings") is None


def test_image_to_video_asks_for_the_frame_and_back_leads_the_same_way() -> None:
    i2v = draft(model="demo", mode="i2v")
    demo = MODELS["demo"]
    assert sequence(i2v, demo) == ["model", "mode", "first", "prompt", "summary"]
    assert first_open(i2v, demo) == "first"
    assert after(i2v, demo, "mode") == "first" and before(i2v, demo, "first") == "mode"


def test_switching_model_or_mode_drops_what_no_longer_fits() -> None:
    values = {"model": "clip", "mode": "i2v", "duration": 8, "prompt": "p", "first_frame": FRAME}
    on_demo = choose_model(values, MODELS["demo"])
    assert on_demo == {"model": "demo", "mode": "i2v", "prompt": "p", "first_frame": FRAME}
    assert choose_mode(on_demo, "t2v") == {"model": "demo", "mode": "t2v", "prompt": "p"}
    remix = {"model": "clip", "mode": "remix", "source_generation_id": "f" * 32}
    assert choose_model(remix, MODELS["demo"]) == {"model": "demo"}


def test_forged_setting_values_are_refused() -> None:
    clip = MODELS["clip"]
    assert parse_setting(clip, "duration", "8") == 8
    assert parse_setting(clip, "duration", "6") is None
    assert parse_setting(clip, "aspect", "16x9") is None  # one value only: nothing to choose
    assert parse_setting(clip, "colour", "red") is None


def test_a_preset_that_does_not_validate_keeps_only_the_model() -> None:
    assert preset_values({"model": "clip", "mode": "warp", "prompt": "p"}) == {"model": "clip"}
    assert preset_values({"model": "clip", "unknown": 1}) == {"model": "clip"}
