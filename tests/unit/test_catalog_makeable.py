"""What a model's enabled, configured routes can make together (`AvailableModel`): the values each step
offers, the options a summary offers, and which videos can be extended or remixed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.catalog import CHOICE_ORDER, AvailableModel, CatalogError, Combination, load_catalog
from services.providers.registry import DESCRIPTORS

SHIPPED = load_catalog()
PROVIDERS = sorted({route.provider for model in SHIPPED.models for route in model.routes})


def offer(key: str, *providers: str) -> AvailableModel:
    found = next((o for o in SHIPPED.available(providers) if o.model.key == key), None)
    assert found is not None, (key, providers)
    return found


def paths(available: AvailableModel, chosen: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Every full set of choices a user can reach by taking, step by step in CHOICE_ORDER, any value the
    step offers after the steps before it."""
    chosen = chosen or {}
    if len(chosen) == len(CHOICE_ORDER):
        yield chosen
        return
    step = CHOICE_ORDER[len(chosen)]
    for value in available.values_for(step, chosen):
        yield from paths(available, {**chosen, step: value})


@pytest.mark.parametrize("providers", [(p,) for p in PROVIDERS] + [tuple(PROVIDERS)], ids=str)
def test_every_path_through_the_shipped_catalog_ends_in_a_video_a_route_makes(
    providers: tuple[str, ...],
) -> None:
    """No step offers a value that leaves nothing to choose later, and every makeable set is reachable."""
    for available in SHIPPED.available(providers):
        reached = set()
        for chosen in paths(available):
            model = available.model
            assert not model.broken_rules(chosen), (model.key, chosen)
            routes = available.routes_for(
                mode=chosen["mode"],
                duration=chosen["duration"],
                resolution=chosen["resolution"],
                aspect_ratio=chosen["aspect_ratio"],
            )
            assert routes, (model.key, providers, chosen)
            reached.add(Combination(**chosen))
        assert reached == set(available.combinations), available.model.key


def test_veo_offers_only_what_its_configured_routes_make() -> None:
    kie = offer("veo-3.1", "kie")
    assert kie.values_for("mode", {}) == ["t2v", "i2v", "fl2v", "extend"], "KIE has no reference images"
    assert kie.values_for("duration", {"mode": "t2v"}) == [8]
    assert kie.values_for("resolution", {"mode": "t2v", "duration": 8}) == ["720p", "1080p", "4k"]
    assert kie.values_for("resolution", {"mode": "extend", "duration": 8}) == ["720p"], "a rule"
    both = offer("veo-3.1", "gemini", "kie")
    assert both.values_for("duration", {"mode": "t2v"}) == [4, 6, 8]
    assert both.values_for("resolution", {"mode": "t2v", "duration": 4}) == ["720p"]
    assert both.values_for("resolution", {"mode": "t2v", "duration": 8}) == ["720p", "1080p", "4k"]
    assert both.values_for("duration", {"mode": "ref2v"}) == [8]
    # later choices do not narrow earlier steps: a step looks only at the choices before it
    assert both.values_for("duration", {"mode": "t2v", "resolution": "4k"}) == [4, 6, 8]
    assert not both.makeable({"mode": "t2v", "duration": 4, "resolution": "1080p"})
    assert both.makeable({"mode": "t2v", "resolution": "4k"})


def test_options_are_those_a_route_that_can_make_the_choices_takes() -> None:
    both = offer("veo-3.1", "gemini", "kie")
    eight = {"mode": "t2v", "duration": 8, "aspect_ratio": "16:9", "resolution": "720p", "audio": True}
    assert both.options_for(eight) == ["negative_prompt", "translate_prompt"]
    assert both.options_for({**eight, "duration": 4}) == ["negative_prompt"], "only Gemini makes 4 s"
    assert both.options_for({**eight, "resolution": "4k"}) == ["negative_prompt", "translate_prompt"]
    assert both.options_for({**eight, "mode": "ref2v"}) == ["negative_prompt"], "only Gemini takes references"
    assert offer("veo-3.1", "kie").options_for(eight) == ["translate_prompt"]
    assert offer("veo-3.1", "laozhang").options_for(eight) == []
    wan = {"mode": "t2v", "duration": 5, "aspect_ratio": "16:9", "resolution": "720p", "audio": True}
    assert offer("wan-2.6", "dashscope").options_for(wan) == ["negative_prompt", "seed", "enhance_prompt"]
    assert offer("wan-2.6", "runware").options_for(wan) == ["negative_prompt", "seed"]


def test_extend_and_remix_follow_the_provider_that_made_the_video() -> None:
    veo = offer("veo-3.1", "gemini", "kie", "laozhang", "runware")
    assert veo.continuations("gemini") == ["extend"]
    assert veo.continuations("kie") == ["extend"]
    assert veo.continuations("laozhang") == [], "LaoZhang's Veo route cannot extend"
    assert veo.continuations("openrouter") == [], "not configured"
    assert veo.continuations(None) == [], "never submitted"
    assert offer("veo-3", "gemini", "runware").continuations("gemini") == [], "the model cannot"
    assert veo.through("kie").routes == tuple(r for r in veo.routes if r.provider == "kie")
    assert veo.through(None) is veo


CATALOG = """
[[models]]
key = "m1"
name = "Model One"
modes = ["t2v"]
durations = [4, 8]
aspect_ratios = ["16:9"]
resolutions = ["720p", "1080p"]
default_duration = 4
default_aspect_ratio = "16:9"
default_resolution = "720p"
prompt_max = 100
seed = true
price = { per_clip = 3 }

[[models.rules]]
when = { resolution = ["1080p"] }
require = { duration = [8] }
message = "rule-hd-needs-8s"

[[models.routes]]
provider = "gemini"
model_id = "veo-x"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_model_nothing_can_make_is_not_available(tmp_path: Path) -> None:
    makeable = load_catalog(write(tmp_path, CATALOG))
    assert [o.model.key for o in makeable.available({"gemini"})] == ["m1"]
    narrowed = CATALOG.replace(
        'model_id = "veo-x"', 'model_id = "veo-x"\ndurations = [4]\nresolutions = ["1080p"]'
    )
    assert load_catalog(write(tmp_path, narrowed)).available({"gemini"}) == [], "1080p needs 8 s"


def test_a_route_takes_the_models_options_unless_it_names_its_own(tmp_path: Path) -> None:
    [route] = load_catalog(write(tmp_path, CATALOG)).models[0].routes
    assert route.options == ["seed"] and route.takes("seed") and not route.takes("negative_prompt")
    none = CATALOG.replace('model_id = "veo-x"', 'model_id = "veo-x"\noptions = []')
    [route] = load_catalog(write(tmp_path, none)).models[0].routes
    assert route.options == []
    foreign = CATALOG.replace('model_id = "veo-x"', 'model_id = "veo-x"\noptions = ["negative_prompt"]')
    with pytest.raises(
        CatalogError, match=r"takes options \['negative_prompt'\] that the model does not have"
    ):
        load_catalog(write(tmp_path, foreign), providers=DESCRIPTORS)
    unknown = CATALOG.replace('model_id = "veo-x"', 'model_id = "veo-x"\noptions = ["sharpen"]')
    with pytest.raises(CatalogError, match=r"routes\.0\.options\.0"):
        load_catalog(write(tmp_path, unknown), providers=DESCRIPTORS)


def test_shipped_routes_take_what_their_adapters_send() -> None:
    """The options each shipped route lists, as services/providers/*.py build their requests."""
    taken = {(m.key, r.provider): r.options for m in SHIPPED.models for r in m.routes}
    assert taken[("veo-3.1", "gemini")] == ["negative_prompt"], "Gemini refuses a seed"
    assert taken[("veo-3.1", "kie")] == taken[("veo-3.1-fast", "kie")] == ["translate_prompt"]
    assert taken[("veo-3.1", "laozhang")] == taken[("veo-3.1", "openrouter")] == []
    assert taken[("wan-2.6", "dashscope")] == ["negative_prompt", "seed", "enhance_prompt"]
    assert taken[("kling-2.5", "kling")] == ["negative_prompt"]
    assert taken[("seedance-1-pro", "ark")] == taken[("runway-gen4", "runway")] == ["seed"]
