"""The catalog file: the shipped one is complete and valid; broken ones fail with file, entry and reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from services import settings as settings_module
from services.catalog import Catalog, CatalogError, load_catalog
from services.providers.registry import DESCRIPTORS
from services.settings import Settings

SEED_MODELS = {
    "veo-3.1": {"gemini", "kie", "laozhang", "runware", "openrouter"},
    "veo-3.1-fast": {"gemini", "kie", "laozhang", "runware"},
    "veo-3": {"gemini", "runware"},
    "veo-2": {"gemini", "runware"},
    "sora-2": {"openai", "laozhang", "runware"},
    "sora-2-pro": {"openai", "laozhang", "runware", "openrouter"},
    "vidu-q1": {"runware"},
    "vidu-2.0": {"runware"},
    "vidu-1.5": {"runware"},
    "kling-2.5": {"kling", "runware"},
    "seedance-1-pro": {"ark", "runware"},
    "wan-2.6": {"dashscope", "runware", "openrouter"},
    "runway-gen4": {"runway"},
    "demo": {"demo"},
}

MINIMAL = """
[[models]]
key = "m1"
name = "Model One"
modes = ["t2v"]
durations = [4, 8]
aspect_ratios = ["16:9"]
resolutions = ["720p"]
default_duration = 4
default_aspect_ratio = "16:9"
default_resolution = "720p"
prompt_max = 100
price = { per_clip = 3 }

[[models.routes]]
provider = "gemini"
model_id = "veo-x"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_catalog_names_every_seed_model_with_its_routes() -> None:
    catalog = load_catalog()
    providers = {m.key: {r.provider for r in m.routes} for m in catalog.models}
    for key, expected in SEED_MODELS.items():
        assert providers.get(key) == expected, key
    veo = catalog.get("veo-3.1-fast")
    assert veo is not None
    assert [(r.provider, r.model_id) for r in veo.routes][:2] == [
        ("gemini", "veo-3.1-fast-generate-preview"),
        ("kie", "veo3_fast"),
    ]
    wan = catalog.get("wan-2.6")
    assert wan is not None
    assert wan.routes[0].provider_model_id("i2v") == "wan2.6-i2v"
    assert wan.routes[0].provider_model_id("t2v") == "wan2.6-t2v"


def offered(catalog: Catalog, settings: Settings) -> list[str]:
    return [o.model.key for o in catalog.available(settings.usable_providers())]


def test_models_appear_only_with_a_configured_enabled_route(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = load_catalog()
    assert offered(catalog, make_settings(demo_mode=False)) == []
    assert offered(catalog, make_settings(demo_mode=True)) == ["demo"]

    runware = set(offered(catalog, make_settings(demo_mode=False, runware_api_key="rw")))
    assert {"veo-3.1", "vidu-q1", "vidu-1.5", "kling-2.5"} <= runware
    assert not runware & {"sora-2", "sora-2-pro"}, "Sora routes ship disabled after the API shutdown"

    assert "kling-2.5" not in offered(catalog, make_settings(demo_mode=False))
    kling = make_settings(demo_mode=False, kling_access_key="ak", kling_secret_key="sk")
    assert kling.configured_providers() == ["kling"]
    assert [o.model.key for o in catalog.available(kling.usable_providers())] == ["kling-2.5"]
    kling_and_runware = make_settings(
        demo_mode=False, kling_access_key="ak", kling_secret_key="sk", runware_api_key="rw"
    )
    offer = next(
        o for o in catalog.available(kling_and_runware.usable_providers()) if o.model.key == "kling-2.5"
    )
    assert [r.provider for r in offer.routes] == ["kling", "runware"]

    # a provider whose module has no adapter (yet) is never offered, even with its keys set
    without = {
        **settings_module.DESCRIPTORS,
        "kling": replace(settings_module.DESCRIPTORS["kling"], adapters={}),
    }
    monkeypatch.setattr(settings_module, "DESCRIPTORS", without)
    assert catalog.available(kling.usable_providers()) == [], "a provider without an adapter is never offered"
    offer = next(
        o for o in catalog.available(kling_and_runware.usable_providers()) if o.model.key == "kling-2.5"
    )
    assert [r.provider for r in offer.routes] == ["runware"]


def test_available_routes_are_ordered_and_narrowed(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(gemini_api_key="g", kie_api_key="k", runware_api_key="r", laozhang_api_key="l")
    offer = next(o for o in load_catalog().available(settings.usable_providers()) if o.model.key == "veo-3.1")
    assert [r.provider for r in offer.routes] == ["gemini", "kie", "laozhang", "runware"]
    four_k = offer.routes_for(mode="t2v", duration=8, resolution="4k", aspect_ratio="16:9")
    assert [r.provider for r in four_k] == ["gemini", "kie"], "KIE through its 4K upgrade"
    short = offer.routes_for(mode="t2v", duration=4, resolution="720p", aspect_ratio="9:16")
    assert [r.provider for r in short] == ["gemini", "laozhang", "runware"], "KIE makes 8-second clips only"
    refs = offer.routes_for(mode="ref2v", duration=8, resolution="720p", aspect_ratio="16:9")
    assert [r.provider for r in refs] == ["gemini"]


def test_catalog_path_replaces_the_builtin(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path, MINIMAL))
    assert [m.key for m in catalog.models] == ["m1"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: t.replace('provider = "gemini"', 'provider = "acme"'), "model #1 'm1' routes.0.provider"),
        (lambda t: t.replace("default_duration = 4", "default_duration = 5"), "default_duration 5 is not in"),
        (lambda t: t.replace("price = { per_clip = 3 }", "price = { per_clip = 0 }"), "never free"),
        (lambda t: t.replace('resolutions = ["720p"]', 'resolutions = ["8k"]'), "unknown resolution"),
        (lambda t: t.replace('key = "m1"', 'key = "Has Spaces"'), "model #1 'Has Spaces' key"),
        (lambda t: t + t, "repeated: ['m1']"),
        (
            lambda t: t.replace('modes = ["t2v"]', 'modes = ["t2v", "ref2v"]'),
            "ref2v needs max_reference_images",
        ),
        (lambda t: t.replace("prompt_max = 100", "prompt_max = 100\nbogus = 1"), "bogus: Extra inputs"),
        (
            lambda t: t.replace("[[models.routes]]", "[[models.routes]]\ndurations = [6]"),
            "allows durations [6]",
        ),
        (
            lambda t: t.replace(
                "[[models.routes]]",
                '[[models.rules]]\nwhen = { resolution = ["1080p"] }\nrequire = { duration = [8] }\n'
                'message = "rule-x"\n\n[[models.routes]]',
            ),
            "names resolution values ['1080p']",
        ),
        (
            lambda t: t.replace(
                "price = { per_clip = 3 }", 'price = { per_clip = 3, resolution = { "4k" = 2 } }'
            ),
            "no multiplier for ['720p']",
        ),
        (lambda t: t.replace('name = "Model One"', 'name = "Model One'), "not valid TOML"),
    ],
)
def test_broken_catalog_names_file_entry_and_reason(
    tmp_path: Path, change: Callable[[str], str], expected: str
) -> None:
    path = write(tmp_path, change(MINIMAL))
    with pytest.raises(CatalogError) as caught:
        load_catalog(path, providers=DESCRIPTORS)
    message = str(caught.value)
    assert str(path) in message
    assert expected in message


def test_missing_catalog_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read the file"):
        load_catalog(tmp_path / "nope.toml")
