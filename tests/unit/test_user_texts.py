"""What users read: mode names instead of mode codes, and one word per concept in each language."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from fluent.syntax import ast
from fluent.syntax.visitor import Visitor

import services
from bot import i18n
from bot.i18n import LANGUAGES, Translator
from bot.wizard.draft import Draft
from bot.wizard.views import View, render
from services.catalog import MODES, load_catalog
from services.generations import GenerationService
from services.providers.registry import Providers
from services.settings import Settings
from services.validation import Problem, validate_request
from services.video_request import ImageRef, VideoRequest
from storage.interfaces import Store

CATALOG = load_catalog()
IMG = ImageRef(source="inputs/1/a.png", mime_type="image/png", width=1280, height=720)
TRANSLATE = Translator("en")
#: A mode code as a word of its own; "extend" and "remix" are English words too, so only in ru and zh.
CODE = re.compile(r"(?<![\w-])(t2v|i2v|fl2v|ref2v)(?![\w-])")
LATIN_CODE = re.compile(r"\b(extend|remix)\b", re.IGNORECASE)
#: Screens that get the mode's name from the call site (view.t(f"wizard-mode-{mode}")), not from a Problem.
SCREEN_MODE_MESSAGES = {"wizard-choose-settings", "wizard-summary-model"}


class _Texts(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.variables: set[str] = set()

    def visit_TextElement(self, node: ast.TextElement) -> None:
        self.texts.append(node.value)

    def visit_StringLiteral(self, node: ast.StringLiteral) -> None:
        self.texts.append(node.value)

    def visit_VariableReference(self, node: ast.VariableReference) -> None:
        self.variables.add(node.id.name)


def messages(language: str) -> Iterator[tuple[str, _Texts]]:
    for entry in i18n.messages(language):
        found = _Texts()
        found.visit(entry)
        yield entry.id.name, found


TEXTS = {language: dict(messages(language)) for language in LANGUAGES}


def assert_no_code(language: str, text: str) -> None:
    assert not CODE.search(text), f"{language}: a mode code in {text!r}"
    if language != "en":
        assert not LATIN_CODE.search(text), f"{language}: a mode code in {text!r}"


def view(language: str) -> View:
    """Enough of a wizard view to render problems, which need only the translator."""
    return View(language, TRANSLATE, cast(GenerationService, None), cast(Settings, None))


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_message_spells_a_mode_code(language: str) -> None:
    for found in TEXTS[language].values():
        assert_no_code(language, " ".join(found.texts))
    for mode in MODES:
        name = TRANSLATE(language, f"mode-{mode}")
        assert name != f"mode-{mode}" and name in TRANSLATE(language, f"wizard-mode-{mode}")


def problem_mode_messages() -> set[str]:
    """Keys of the problems the services raise with a `mode` param."""
    sources = Path(services.__file__).parent.glob("*.py")
    return {
        key
        for f in sources
        for key in re.findall(r'Problem\(\s*"([a-z0-9-]+)",\s*\{[^}]*"mode"', f.read_text(encoding="utf-8"))
    }


def test_every_message_with_a_mode_gets_its_name() -> None:
    raised = problem_mode_messages()
    assert {"error-mode-unsupported", "error-image-not-expected", "error-source-not-expected"} <= raised
    for language in LANGUAGES:
        taking = {m for m, found in TEXTS[language].items() if "mode" in found.variables}
        assert taking == raised | SCREEN_MODE_MESSAGES, f"{language}: who renders $mode in {taking}?"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("mode", MODES)
def test_problems_name_the_mode(language: str, mode: str) -> None:
    problems = [Problem(key, {"mode": mode, "model": "Veo 3.1"}) for key in sorted(problem_mode_messages())]
    text = view(language).problems(problems)
    assert_no_code(language, text)
    assert text.count(TRANSLATE(language, f"mode-{mode}")) == len(problems), text


def req(key: str, mode: str, **values: Any) -> VideoRequest:
    return VideoRequest(model=key, mode=mode, prompt="a lighthouse at dusk", **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("language", LANGUAGES)
def test_validation_problems_speak_of_modes_by_name(language: str) -> None:
    cases = [
        (req("veo-3.1", "remix", source_generation_id="g"), "error-mode-unsupported", "remix"),
        (req("veo-3", "extend", source_generation_id="g"), "error-mode-unsupported", "extend"),
        (req("veo-3.1", "t2v", first_frame=IMG), "error-image-not-expected", "t2v"),
        (req("veo-3.1", "ref2v", duration=8, reference_images=(IMG,), last_frame=IMG), None, "ref2v"),
        (
            req("veo-3.1", "i2v", first_frame=IMG, source_generation_id="g"),
            "error-source-not-expected",
            "i2v",
        ),
        (req("veo-3.1", "fl2v", first_frame=IMG, last_frame=IMG, reference_images=(IMG,)), None, "fl2v"),
    ]
    assert {mode for _, _, mode in cases} == set(MODES)
    for request, key, mode in cases:
        model = CATALOG.get(request.model)
        assert model is not None
        problems = validate_request(request, model)
        assert any(p.params.get("mode") == mode for p in problems), problems
        assert key is None or key in {p.key for p in problems}
        text = view(language).problems(problems)
        assert_no_code(language, text)
        assert TRANSLATE(language, f"mode-{mode}") in text


#: Models whose modes cover all six: Veo 3.1 (default catalog) and the test catalog's remixing clip model.
TEST_CATALOG = Path(__file__).parents[1] / "poller" / "catalog.toml"
SCREEN_MODELS = [(None, "veo-3.1"), (None, "demo"), (TEST_CATALOG, "clip")]


@pytest.mark.parametrize("language", LANGUAGES)
def test_wizard_screens_name_the_mode(language: str, make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(demo_mode=True, gemini_api_key="k", openai_api_key="k")
    shown = set()
    for catalog, model_key in SCREEN_MODELS:
        offers = load_catalog(catalog) if catalog else CATALOG
        generations = GenerationService(cast(Store, None), offers, settings, Providers(settings))
        screen_view = View(language, TRANSLATE, generations, settings)
        offer = generations.offer(model_key)
        assert offer is not None, model_key
        for mode in offer.model.modes:
            values: dict[str, Any] = {"model": model_key, "mode": mode, "prompt": "a cat"}
            if mode not in ("extend", "remix"):
                values["source_generation_id"] = "g"  # a stray source: the summary names the mode
            draft = Draft(id="d" * 12, values=values)
            name = TRANSLATE(language, f"mode-{mode}")
            for step in ("settings", "summary"):
                text, markup = render(screen_view, draft, step)  # type: ignore[arg-type]
                labels = " ".join(b.text for row in markup.inline_keyboard for b in row)
                assert_no_code(language, text + " " + labels)
                assert name in text, (step, text)
            shown.add(mode)
    assert shown == set(MODES)


#: Words that must not appear, per language: the other translations of a concept we settled on.
#: en: credits, Stars (Telegram's name), remix, extend, generation, video, library.
#: ru: кредиты, звёзды (as Telegram's Russian interface says), ремикс, продлить, генерация, видео,
#:     библиотека, сид. zh: 积分, 星星, 重混, 延长, 生成, 视频, 视频库, and always the polite 您.
FORBIDDEN: dict[str, dict[str, str]] = {
    "en": {r"\bstars\b": "Stars, capitalised: Telegram's name", r"\bcr\b": "credits"},
    "ru": {
        r"(?i)\bstars\b": "звёзды",
        r"(?i)\bseed\b": "сид",
        r"(?i)\bзерн": "сид",
        r"(?i)\bпродолж(ить|ение|ения|ает) (видео|прежнее)": "продлить",
        r"(?i)\bкр\.": "кредиты",
    },
    "zh": {
        "你": "您",
        r"(?i)stars": "星星",
        "混剪|混编|改编": "重混",
        "延续": "延长",
    },
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_one_word_per_concept(language: str) -> None:
    wrong = [
        f"{message}: {pattern!r} (say {word})"
        for message, found in TEXTS[language].items()
        for pattern, word in FORBIDDEN[language].items()
        if re.search(pattern, " ".join(found.texts))
    ]
    assert not wrong, wrong
