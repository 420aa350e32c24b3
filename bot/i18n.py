"""Translations: Fluent files in bot/locales/<lang>/messages.ftl for English, Russian and Chinese.

Handlers get texts through aiogram-i18n later; this loader also serves code outside a handler (the
poller's messages, the `check` command, tests) and falls back to the default language, then to the key.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fluent.runtime import FluentBundle, FluentResource

LANGUAGES = ("en", "ru", "zh")


class Translator:
    def __init__(self, default_language: str = "en") -> None:
        self.default = default_language
        self._bundles = {lang: _bundle(lang) for lang in LANGUAGES}

    def pick(self, language_code: str | None) -> str:
        """Our language for a Telegram `language_code` such as "ru" or "zh-hans"."""
        base = (language_code or "").split("-")[0].lower()
        return base if base in self._bundles else self.default

    def has(self, language: str, key: str) -> bool:
        return self._bundles[language].has_message(key)

    def __call__(self, language: str | None, key: str, **params: object) -> str:
        for lang in (language, self.default):
            bundle = self._bundles.get(lang or "")
            if bundle is not None and bundle.has_message(key):
                message = bundle.get_message(key)
                if message.value is None:
                    break
                text, _errors = bundle.format_pattern(message.value, params)
                return text
        return key


@cache
def _bundle(language: str) -> FluentBundle:
    text = (resources.files("bot") / "locales" / language / "messages.ftl").read_text(encoding="utf-8")
    bundle = FluentBundle([language], use_isolating=False)
    bundle.add_resource(FluentResource(text))
    return bundle


def message_ids(language: str) -> set[str]:
    """Every message id in a locale file (for the completeness test)."""
    text = (resources.files("bot") / "locales" / language / "messages.ftl").read_text(encoding="utf-8")
    return {entry.id.name for entry in FluentResource(text).body if hasattr(entry, "id")}
