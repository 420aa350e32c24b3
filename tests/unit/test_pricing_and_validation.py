"""Pricing and request validation against the catalog, table-driven."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import services
from bot.i18n import LANGUAGES, Translator, message_ids
from services import media
from services.catalog import AvailableModel, VideoModel, load_catalog
from services.pricing import cheapest, quote, stars_for
from services.settings import Settings
from services.validation import SEED_MAX, validate_request
from services.video_request import ImageRef, VideoRequest

CATALOG = load_catalog()
IMG = ImageRef(source="AgACAgIAAxkBAAI", mime_type="image/png", width=1280, height=720)


def model(key: str) -> VideoModel:
    found = CATALOG.get(key)
    assert found is not None
    return found


def req(key: str, mode: str = "t2v", **values: Any) -> VideoRequest:
    values.setdefault("prompt", "a lighthouse at dusk")
    return VideoRequest(model=key, mode=mode, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("key", "values", "credits"),
    [
        ("veo-3.1", {}, 320),  # 40/s × 8 s default
        ("veo-3.1", {"duration": 4}, 160),
        ("veo-3.1", {"resolution": "4k"}, 480),  # × 1.5
        ("veo-3.1-fast", {"duration": 6}, 90),
        ("sora-2-pro", {"duration": 12, "resolution": "1080p"}, 612),  # 30 × 12 × 1.7
        ("vidu-1.5", {"resolution": "360p"}, 10),  # per clip × 0.5
        ("vidu-1.5", {"resolution": "1080p", "audio": True}, 40),  # music costs nothing extra here
        ("demo", {}, 5),
        ("demo", {"audio": True}, 6),  # 5 × 1.2
        ("demo", {"audio": False, "duration": 8}, 5),
        ("seedance-1-pro", {"resolution": "480p"}, 20),
    ],
)
def test_quote(key: str, values: dict[str, Any], credits: int) -> None:
    assert quote(model(key), req(key, **values)) == credits


def test_quote_rounds_up_and_respects_minimum() -> None:
    base = model("demo")
    odd = base.model_copy(update={"price": base.price.model_copy(update={"per_clip": Decimal("2.01")})})
    assert quote(odd, req("demo")) == 3
    tiny = base.model_copy(
        update={"price": base.price.model_copy(update={"per_clip": Decimal("0.1"), "minimum": 2})}
    )
    assert quote(tiny, req("demo")) == 2
    exact = base.model_copy(
        update={"price": base.price.model_copy(update={"per_clip": Decimal("0.1"), "audio": Decimal("30")})}
    )
    assert quote(exact, req("demo", audio=True)) == 3, "0.1 × 30 is exactly 3, not 4"


def test_cheapest_is_the_lowest_price_a_configured_route_can_make() -> None:
    def offered(key: str, *providers: str) -> AvailableModel:
        [offer] = [o for o in CATALOG.available(frozenset(providers)) if o.model.key == key]
        return offer

    assert cheapest(offered("veo-3.1", "gemini")) == 160  # 4 s at 720p; 4 s at 4k would break a rule
    assert cheapest(offered("veo-3.1", "kie")) == 320, "KIE makes 8-second clips only"
    assert cheapest(offered("vidu-1.5", "runware")) == 10  # 4 s at 360p
    assert cheapest(offered("demo", "demo")) == 5


def test_stars_for_exact_generation() -> None:
    assert stars_for(320, Decimal(1)) == 320
    assert stars_for(5, Decimal("1.5")) == 8
    assert stars_for(1, Decimal("0.1")) == 1


def keys(request: VideoRequest, key: str | None = None) -> list[str]:
    return [p.key for p in validate_request(request, model(key or request.model))]


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (req("veo-3.1"), []),
        (req("veo-3.1", "ref2v", duration=8, reference_images=(IMG, IMG)), []),
        (req("veo-3.1", "fl2v", first_frame=IMG, last_frame=IMG), []),
        (req("veo-3.1", "extend", source_generation_id="abc"), []),
        (req("veo-3.1", prompt="   "), ["error-prompt-empty"]),
        (req("veo-3.1", prompt="x" * 2001), ["error-prompt-too-long"]),
        (req("veo-3.1", duration=5), ["error-duration-not-allowed"]),
        (req("veo-3.1", aspect_ratio="1:1"), ["error-aspect-not-allowed"]),
        (req("veo-3.1", resolution="480p"), ["error-resolution-not-allowed"]),
        (req("veo-3.1", "remix", source_generation_id="a"), ["error-mode-unsupported"]),
        (req("veo-3.1", audio=False), ["error-audio-always"]),
        (req("veo-2", audio=True), ["error-audio-unsupported"]),
        (req("veo-3.1", seed=5), ["error-seed-unsupported"]),
        (req("vidu-1.5", seed=SEED_MAX + 1), ["error-seed-range"]),
        (req("vidu-1.5", seed=-1), ["error-seed-range"]),
        (req("sora-2", negative_prompt="blur"), ["error-negative-prompt-unsupported"]),
        (req("veo-3.1", negative_prompt="n" * 2001), ["error-negative-prompt-too-long"]),
        (req("veo-3.1", "i2v"), ["error-first-frame-required"]),
        (req("veo-3.1", "fl2v", first_frame=IMG), ["error-last-frame-required"]),
        (req("veo-3.1", first_frame=IMG), ["error-image-not-expected"]),
        (req("veo-3.1", "ref2v", reference_images=()), ["error-reference-count"]),
        (req("veo-3.1", "ref2v", reference_images=(IMG,) * 4), ["error-reference-count"]),
        (req("veo-3.1", "extend"), ["error-source-required"]),
        (req("veo-3.1", source_generation_id="x"), ["error-source-not-expected"]),
        (req("veo-3.1", duration=4, resolution="1080p"), ["rule-hd-needs-8s"]),
        (
            req("veo-3.1", "extend", duration=8, resolution="1080p", source_generation_id="g"),
            ["rule-extend-720p"],
        ),
        (req("veo-3.1", "fl2v", duration=6, first_frame=IMG, last_frame=IMG), ["rule-mode-needs-8s"]),
        (req("vidu-1.5", duration=8, resolution="1080p"), ["rule-8s-needs-720p"]),
        (req("vidu-1.5", duration=8, audio=True), ["rule-music-needs-4s"]),
        (req("runway-gen4"), ["error-mode-unsupported"]),
    ],
)
def test_validation(request_: VideoRequest, expected: list[str]) -> None:
    assert keys(request_) == expected


def test_every_problem_is_reported_at_once() -> None:
    bad = req("veo-3.1", "i2v", prompt="", duration=5, aspect_ratio="4:3", seed=1, last_frame=IMG)
    assert keys(bad) == [
        "error-duration-not-allowed",
        "error-aspect-not-allowed",
        "error-prompt-empty",
        "error-seed-unsupported",
        "error-first-frame-required",
        "error-image-not-expected",
    ]
    assert keys(req("veo-2"), "veo-3.1") == ["error-model-mismatch"]


def test_no_configured_route_for_the_combination(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(demo_mode=False, kie_api_key="k")
    offer = next(o for o in CATALOG.available(settings.usable_providers()) if o.model.key == "veo-3.1")
    assert isinstance(offer, AvailableModel)
    assert validate_request(req("veo-3.1", duration=8), offer) == []
    problems = validate_request(req("veo-3.1", duration=4), offer)
    assert [(p.key, p.params) for p in problems] == [("error-no-route", {"model": "Veo 3.1"})]


def test_every_message_key_is_translated_in_every_language() -> None:
    sources = Path(services.__file__).parent.glob("*.py")
    problem_keys = {key for f in sources for key in re.findall(r'Problem\(\s*"([a-z0-9-]+)"', f.read_text())}
    assert len(problem_keys) >= 20, "the scan must find the keys the services use"
    rule_keys = {rule.message for m in CATALOG.models for rule in m.rules}
    english = message_ids("en")
    lifecycle = "".join(f.read_text() for f in Path(services.__file__).parent.glob("*.py"))
    failure_codes = set(re.findall(r'Failure\(\s*"([a-z_]+)"', lifecycle))
    failure_keys = {f"failure-{code}" for code in failure_codes}
    assert len(failure_keys) >= 8, "the scan must find the lifecycle's failure codes"
    assert problem_keys | rule_keys | set(media.REJECTION_KEYS) | failure_keys <= english
    for language in LANGUAGES:
        assert message_ids(language) == english, f"{language} has other keys than en"


def test_messages_render_with_their_params_in_each_language() -> None:
    translate = Translator("en")
    for language in LANGUAGES:
        text = translate(language, "error-prompt-too-long", length=2500, max=2000)
        assert "2" in text
        assert "{" not in text
        assert translate(language, "error-no-route", model="Veo 3.1").count("Veo 3.1") == 1
    assert translate("de", "balance", balance=3) == translate("en", "balance", balance=3)
    assert translate.pick("zh-hans") == "zh"
    assert translate.pick("pt-br") == "en"
    assert translate.pick(None) == "en"
