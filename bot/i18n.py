"""Translations: Fluent files in bot/locales/<lang>/*.ftl for English, Russian and Chinese.

Each feature keeps its texts in its own file (messages.ftl, wizard.ftl, payments.ftl ...); every
language has the same files with the same keys (a test checks it).

Handlers, the poller's messages, the `check` command and tests all use this one loader; a missing text
falls back to the default language, then to the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

from fluent.runtime import FluentBundle, FluentResource
from fluent.syntax import ast

LANGUAGES = ("en", "ru", "zh")


class Translator:
    def __init__(self, default_language: str = "en") -> None:
        self.default = default_language
        self._bundles = {lang: _bundle(lang) for lang in LANGUAGES}
        #: texts without parameters, formatted once (Fluent formats a pattern anew on every call)
        self._plain: dict[tuple[str | None, str], str] = {}

    def pick(self, language_code: str | None) -> str:
        """Our language for a Telegram `language_code` such as "ru" or "zh-hans"."""
        base = (language_code or "").split("-")[0].lower()
        return base if base in self._bundles else self.default

    def has(self, language: str, key: str) -> bool:
        return self._bundles[language].has_message(key)

    def bind(self, language: str) -> Texts:
        """This translator in one language: what a handler gets as `t` (bot/middlewares.py)."""
        return Texts(self, language)

    def __call__(self, language: str | None, key: str, **params: object) -> str:
        if not params:
            plain = self._plain.get((language, key))
            if plain is None:
                plain = self._plain[(language, key)] = self._format(language, key, params)
            return plain
        return self._format(language, key, params)

    def _format(self, language: str | None, key: str, params: dict[str, object]) -> str:
        for lang in (language, self.default):
            bundle = self._bundles.get(lang or "")
            if bundle is not None and bundle.has_message(key):
                message = bundle.get_message(key)
                if message.value is None:
                    break
                text, _errors = bundle.format_pattern(message.value, params)
                return text
        return key


@dataclass(frozen=True, slots=True)
class Texts:
    """The texts of one user's language: `t("key", name=value)`, with the translator's fallbacks."""

    translator: Translator
    lang: str

    def __call__(self, key: str, **params: object) -> str:
        return self.translator(self.lang, key, **params)


def _sources(language: str) -> list[str]:
    folder = resources.files("bot") / "locales" / language
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".ftl")), key=lambda f: f.name)
    return [f.read_text(encoding="utf-8") for f in files]


@cache
def _bundle(language: str) -> FluentBundle:
    bundle = FluentBundle([language], use_isolating=False)
    for text in _sources(language):
        bundle.add_resource(FluentResource(text))
    return bundle


def messages(language: str) -> list[ast.Message]:
    """Every message of a language's locale files as a Fluent syntax tree (for the tests of the texts)."""
    return [
        entry
        for text in _sources(language)
        for entry in FluentResource(text).body
        if isinstance(entry, ast.Message)
    ]


def message_ids(language: str) -> set[str]:
    """Every message id in a language's locale files (for the completeness test)."""
    return {
        entry.id.name
        for text in _sources(language)
        for entry in FluentResource(text).body
        if hasattr(entry, "id")
    }
