"""Moderation before any charge: who may order (an admin's ban) and what a prompt may say (a list of words
and patterns, then OpenAI's moderation API where a key allows), with every refusal in an audit trail.

The list is a TOML file (MODERATION_FILE, else the built-in services/moderation_default.toml): a table per
language (en, ru, zh) and in it a table per category, with `words` and regex `patterns`. A prompt is
checked against every language's entries, since people write prompts in any language. Text and entries
are compared after Unicode normalisation (NFKC, then case folding, invisible format characters such as a
zero-width space dropped, ё read as е), so full-width letters, mixed case or a hidden joiner do not get
a word through. Words match as whole words; Chinese has no spaces between words, so zh words match
anywhere (also with spaces between their characters). Patterns are regular expressions matched, as
written, against the normalised (lower-case) text, case-insensitively.

The API (`POST /moderations`, omni-moderation-latest) is asked only when MODERATION_API=true and an
OPENAI_API_KEY is set, after the list found nothing. When it cannot answer, MODERATION_API_FAIL decides:
`open` lets the order through (logged), `closed` refuses it ("try again later", audited as "unchecked").

A refused user is told the category and which prompt, never the matched word; the audit keeps what
matched and at most 200 characters of the prompt, for admins (/audit). Logs name the user, the source and
the category, never the prompt or the key.
"""

from __future__ import annotations

import logging
import re
import tomllib
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import aiohttp
from pydantic import SecretStr

from services.validation import Problem
from services.video_request import VideoRequest
from storage.interfaces import ModerationStore
from storage.records import BanOutcome, ModerationEvent, ModerationSource, NewModerationEvent

log = logging.getLogger(__name__)

#: Rule categories, the most serious first: a prompt that matches several is refused for the first.
CATEGORIES = ("minors", "sexual", "violence", "hate", "harassment", "self_harm", "illegal", "other")
LANGUAGES = ("en", "ru", "zh")
#: Languages written without spaces between words: their words match inside longer text.
UNSPACED = frozenset({"zh"})
DEFAULT_RULES = Path(__file__).with_name("moderation_default.toml")
#: The longest prompt excerpt the audit trail keeps.
EXCERPT_MAX = 200
#: How long an order waits for the moderation API before MODERATION_API_FAIL decides.
API_TIMEOUT_SECONDS = 10.0
API_MODEL = "omni-moderation-latest"
#: The API's categories (reference: OpenAI's moderation guide) in ours; one it adds later is "other".
API_CATEGORIES = {
    "sexual/minors": "minors",
    "sexual": "sexual",
    "violence": "violence",
    "violence/graphic": "violence",
    "hate": "hate",
    "hate/threatening": "hate",
    "harassment": "harassment",
    "harassment/threatening": "harassment",
    "self-harm": "self_harm",
    "self-harm/intent": "self_harm",
    "self-harm/instructions": "self_harm",
    "illicit": "illegal",
    "illicit/violent": "illegal",
}
#: The audit category of a prompt refused because the API could not be asked (MODERATION_API_FAIL=closed).
UNCHECKED = "unchecked"

Field = Literal["prompt", "negative"]
Kind = Literal["word", "pattern"]
#: The keys of a category's table, and the kind of rule each entry becomes.
_KINDS: tuple[tuple[Kind, str], ...] = (("word", "words"), ("pattern", "patterns"))


class ModerationConfigError(ValueError):
    """The moderation list cannot be used; the message names the file and what is wrong."""


class ApiUnavailable(Exception):
    """The moderation API gave no usable answer (unreachable, timeout, an error status, an odd body)."""


def normalized(text: str) -> str:
    """`text` as the rules see it: NFKC, case-folded, without invisible format characters, ё as е (NFKC
    again after the folding, which can leave decomposed letters)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    # Cf, the format characters: zero-width space and joiners, soft hyphen, direction marks
    return "".join(c for c in folded if unicodedata.category(c) != "Cf").replace("ё", "е")


@dataclass(frozen=True, slots=True)
class Rule:
    language: str
    category: str
    kind: Kind
    #: The entry as the file writes it: what the audit says matched.
    entry: str
    regex: re.Pattern[str]

    def describe(self) -> str:
        return f'{self.language} {self.kind} "{self.entry}"'


class ModerationRules:
    """The list prompts are checked against, in category order (the most serious first)."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = sorted(rules, key=lambda r: CATEGORIES.index(r.category))

    @classmethod
    def load(cls, path: Path | None = None) -> ModerationRules:
        """The rules of `path`, or the built-in list when None; ModerationConfigError says what is wrong."""
        path = path or DEFAULT_RULES
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ModerationConfigError(f"cannot read {path}: {error.strerror or error}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ModerationConfigError(f"{path} is not valid TOML: {error}") from None
        return cls(
            [rule for language, table in data.items() for rule in _language_rules(path, language, table)]
        )

    def match(self, text: str) -> Rule | None:
        """The first rule `text` breaks, or None."""
        folded = normalized(text)
        return next((rule for rule in self.rules if rule.regex.search(folded)), None)


def _language_rules(path: Path, language: str, table: Any) -> list[Rule]:
    if language not in LANGUAGES:
        raise ModerationConfigError(f"{path}: unknown language {language!r} (use {', '.join(LANGUAGES)})")
    if not isinstance(table, dict):
        raise ModerationConfigError(f"{path}: [{language}] must be a table of categories")
    rules = []
    for category, entries in table.items():
        where = f"{path}: [{language}.{category}]"
        if category not in CATEGORIES:
            raise ModerationConfigError(f"{where}: unknown category (use {', '.join(CATEGORIES)})")
        if not isinstance(entries, dict) or set(entries) - {"words", "patterns"}:
            raise ModerationConfigError(f"{where} may only have `words` and `patterns`")
        for kind, key in _KINDS:
            values = entries.get(key, [])
            if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
                raise ModerationConfigError(f"{where}: `{key}` must be a list of non-empty strings")
            for value in values:
                regex = _word(value, language) if kind == "word" else _pattern(value, where)
                rules.append(Rule(language, category, kind, value, regex))
    return rules


def _word(word: str, language: str) -> re.Pattern[str]:
    folded = normalized(word)
    if language in UNSPACED:  # anywhere, also with spaces slipped between the characters
        return re.compile(r"\s*".join(re.escape(c) for c in folded if not c.isspace()))
    return re.compile(r"(?<!\w)" + r"\s+".join(re.escape(part) for part in folded.split()) + r"(?!\w)")


def _pattern(pattern: str, where: str) -> re.Pattern[str]:
    try:
        regex = re.compile(pattern, re.IGNORECASE)
    except re.error as error:
        raise ModerationConfigError(f"{where}: pattern {pattern!r} does not compile: {error}") from None
    if regex.search(""):
        raise ModerationConfigError(f"{where}: pattern {pattern!r} matches empty text (every prompt)")
    return regex


class ModerationApi:
    """OpenAI's moderation endpoint, one call per order for its prompt and negative prompt. A session per
    call: orders are rare next to updates, and nothing is left open at shutdown."""

    def __init__(self, base_url: str, api_key: SecretStr, *, timeout: float = API_TIMEOUT_SECONDS) -> None:
        self._url = base_url.rstrip("/") + "/moderations"
        self._key = api_key
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def flagged(self, texts: Sequence[str]) -> list[list[str]]:
        """Per text, the API's categories it flagged ([] when not flagged); ApiUnavailable otherwise."""
        headers = {"Authorization": f"Bearer {self._key.get_secret_value()}"}
        body = {"model": API_MODEL, "input": list(texts)}
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.post(self._url, json=body, headers=headers) as response,
            ):
                if response.status != 200:
                    raise ApiUnavailable(f"HTTP {response.status}")
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise ApiUnavailable(type(error).__name__) from None
        return _verdicts(answer, len(texts))


def _verdicts(answer: Any, expected: int) -> list[list[str]]:
    results = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(results, list) or len(results) != expected:
        raise ApiUnavailable("an answer without one result per text")
    verdicts = []
    for result in results:
        if not isinstance(result, dict) or not isinstance(result.get("flagged"), bool):
            raise ApiUnavailable("a result without `flagged`")
        categories = result.get("categories")
        flagged = (
            [name for name, on in categories.items() if on is True] if isinstance(categories, dict) else []
        )
        verdicts.append((flagged or ["other"]) if result["flagged"] else [])
    return verdicts


class ModerationSettings(Protocol):
    """What moderation reads from the settings, on every order (so a changed setting applies at once)."""

    moderation_api: bool
    moderation_api_fail: Literal["open", "closed"]
    moderation_api_url: Any
    openai_api_key: SecretStr | None


@dataclass(frozen=True, slots=True)
class _Refusal:
    source: ModerationSource
    category: str
    field: Field
    #: What matched (or why the API could not be asked): for the audit, never for the user.
    reason: str

    def problem(self) -> Problem:
        if self.category == UNCHECKED:
            return Problem("moderation-unavailable")
        return Problem("moderation-refused", {"field": self.field, "category": self.category})


class Moderation:
    def __init__(
        self,
        store: ModerationStore,
        rules: ModerationRules,
        settings: ModerationSettings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._rules = rules
        self._settings = settings
        self._clock = clock

    async def screen(self, user_id: int, request: VideoRequest) -> list[Problem]:
        """Why this user may not order this request now, before anything is charged: a ban, or a prompt
        (or negative prompt) the list or the API refuses; [] when they may. Every refused prompt is
        kept in the audit trail."""
        user = await self._store.get_user(user_id)
        if user is not None and user.banned:
            log.info("order refused: user %s is blocked", user_id)
            return [Problem("moderation-banned")]
        texts: dict[Field, str] = {"prompt": request.prompt, "negative": request.negative_prompt or ""}
        texts = {name: text.strip() for name, text in texts.items() if text.strip()}
        refusal = self._by_rules(texts) or await self._by_api(user_id, texts)
        if refusal is None:
            return []
        await self._store.record_moderation_event(
            NewModerationEvent(
                user_id=user_id,
                source=refusal.source,
                category=refusal.category,
                created_at=self._clock(),
                reason=refusal.reason,
                excerpt=texts[refusal.field][:EXCERPT_MAX],
            )
        )
        log.info(
            "order refused: user %s, %s by the %s, category %s",
            user_id,
            "negative prompt" if refusal.field == "negative" else "prompt",
            refusal.source.value,
            refusal.category,
        )
        return [refusal.problem()]

    def _by_rules(self, texts: Mapping[Field, str]) -> _Refusal | None:
        for name, text in texts.items():
            rule = self._rules.match(text)
            if rule is not None:
                return _Refusal(ModerationSource.LIST, rule.category, name, f"{name}: {rule.describe()}")
        return None

    async def _by_api(self, user_id: int, texts: Mapping[Field, str]) -> _Refusal | None:
        settings = self._settings
        if not settings.moderation_api or settings.openai_api_key is None or not texts:
            return None
        api = ModerationApi(str(settings.moderation_api_url), settings.openai_api_key)
        names = list(texts)
        try:
            verdicts = await api.flagged([texts[n] for n in names])
        except ApiUnavailable as error:
            closed = settings.moderation_api_fail == "closed"
            log.warning(
                "moderation API unavailable (%s) for user %s: the order is %s",
                error,
                user_id,
                "refused (MODERATION_API_FAIL=closed)"
                if closed
                else "let through (MODERATION_API_FAIL=open)",
            )
            if not closed:
                return None
            return _Refusal(ModerationSource.API, UNCHECKED, names[0], f"API unavailable: {error}")
        for name, flagged in zip(names, verdicts, strict=True):
            if flagged:
                ours = sorted({API_CATEGORIES.get(c, "other") for c in flagged}, key=CATEGORIES.index)
                return _Refusal(ModerationSource.API, ours[0], name, f"{name}: {', '.join(sorted(flagged))}")
        return None

    # ------------------------------------------------------------------ admins

    async def block(self, user_id: int, *, admin_id: int, reason: str | None) -> BanOutcome | None:
        """Refuse the user's orders from now on; their balance and running generations stay as they are.
        None for an unknown user."""
        outcome = await self._store.set_user_banned(
            user_id, banned=True, reason=reason, admin_id=admin_id, now=self._clock()
        )
        if outcome is not None and outcome.changed:
            log.info("user %s blocked by admin %s", user_id, admin_id)
        return outcome

    async def unblock(self, user_id: int, *, admin_id: int) -> BanOutcome | None:
        outcome = await self._store.set_user_banned(
            user_id, banned=False, reason=None, admin_id=admin_id, now=self._clock()
        )
        if outcome is not None and outcome.changed:
            log.info("user %s unblocked by admin %s", user_id, admin_id)
        return outcome

    async def events(self, *, limit: int, user_id: int | None = None) -> list[ModerationEvent]:
        """The audit trail, newest first (all users, or one)."""
        return await self._store.list_moderation_events(limit=limit, user_id=user_id)
