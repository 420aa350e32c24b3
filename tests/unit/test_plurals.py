"""Plural forms: every message that shows a count says "1 credit", "2 кредита", "5 кредитов", "21 кредит".

The test finds the count-taking messages itself: it parses every locale file and classifies every variable
that is not plain text. A variable is either a count (COUNTS: the noun after it must agree with the number,
through a Fluent plural selector) or explicitly not one (NOT_COUNTS, with the reason). A new message with
a number in it fails here until it is put in one of the two tables, so it cannot ship "1 credits".

Each count is rendered with 1, 2, 5, 11 and 21 in every language, through `Translator` (int values, as the
handlers pass them), and the word after the number is checked against the forms of its concept: English
one/other, Russian one/few/many (in the grammatical case the sentence needs), Chinese one measure word.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fluent.syntax import ast
from fluent.syntax.visitor import Visitor

from bot import i18n
from bot.i18n import LANGUAGES, Translator

NUMBERS = (1, 2, 5, 11, 21)
#: CLDR plural categories of the test numbers (en: one/other; ru: one/few/many/other; zh: other only).
CATEGORY = {
    "en": {1: "one", 2: "other", 5: "other", 11: "other", 21: "other"},
    "ru": {1: "one", 2: "few", 5: "many", 11: "many", 21: "one"},
}
PLURAL_KEYS = {"zero", "one", "two", "few", "many", "other"}

#: Variables that always hold text (names, codes shown as such, dates, already translated phrases).
TEXT_VARS = {
    "allowed", "aspect", "audio", "bar", "blocked", "charge", "date", "duration", "elapsed", "error",
    "format", "id", "locale", "mode", "model", "name", "prompt", "reason", "ref", "resolution", "sign",
    "since", "status", "statuses", "url", "usd", "user", "what", "when",
}  # fmt: skip

#: (message, variable) → the concept of the noun that follows the number, with its Russian case.
COUNTS: dict[tuple[str, str], str] = {
    # admin.ftl
    ("admin-already-applied", "balance"): "credit",
    ("admin-deduct-too-much", "amount"): "credit",
    ("admin-deduct-too-much", "balance"): "credit",
    ("admin-topup-done", "amount"): "credit",
    ("admin-topup-done", "balance"): "credit",
    ("admin-deduct-done", "amount"): "credit",
    ("admin-deduct-done", "balance"): "credit",
    ("admin-notify-topup", "amount"): "credit",
    ("admin-notify-topup", "balance"): "credit",
    ("admin-notify-deduct", "amount"): "credit",
    ("admin-notify-deduct", "balance"): "credit",
    ("admin-user-header", "balance"): "credit",
    ("admin-user-generation", "cost"): "credit",
    ("admin-user-payment", "credits"): "credit",
    ("admin-refund-done", "credits"): "credit-gen",  # "из 21 кредита"
    ("admin-refund-done", "balance"): "credit",
    ("admin-stats-generations", "total"): "generation",
    ("admin-stats-model", "count"): "generation",
    ("admin-stats-model", "credits"): "credit",
    ("admin-stats-more-models", "count"): "more-model",
    ("admin-stats-revenue", "payments"): "payment",
    ("admin-stats-revenue", "refunded"): "payment",
    ("admin-stats-cost", "unpriced"): "video",
    ("admin-stats-cost", "reported"): "video",
    ("admin-stats-margin", "count"): "video",
    ("admin-stats-users", "count"): "new-user",
    ("admin-stats-uncertain", "count"): "generation",
    ("refund-notice", "stars"): "star-acc",  # "платёж на 21 звезду"
    ("refund-notice", "debited"): "credit",
    ("refund-notice", "balance"): "credit",
    # balance.ftl
    ("balance-entry", "amount"): "credit",
    ("admin-stats-welcome", "users"): "user-gen",  # "для 21 пользователя"
    # messages.ftl
    ("start-welcome", "balance"): "credit",
    ("balance", "balance"): "credit",
    ("insufficient-funds", "price"): "credit",
    ("insufficient-funds", "balance"): "credit",
    ("insufficient-funds", "shortfall"): "more-credit",  # "You need 1 more credit"
    ("error-prompt-too-long", "length"): "character",
    ("error-negative-prompt-too-long", "max"): "character-gen",  # "не больше 21 символа"
    ("error-reference-count", "max"): "reference-gen",  # "от 1 до 21 референсного изображения"
    ("error-image-too-many-pixels", "max_megapixels"): "megapixel-gen",
    ("error-image-too-small", "min"): "pixel-gen",
    ("video-link", "hours"): "hour",
    ("failure-refund", "credits"): "credit",
    ("cancel-done", "credits"): "credit",
    # payments.ftl
    ("buy-pack-button", "credits"): "credit",
    ("invoice-pack-title", "credits"): "credit",
    ("invoice-pack-description", "credits"): "credit",
    ("invoice-pack-description", "stars"): "star",
    ("payment-credited", "credits"): "credit",
    ("payment-credited", "balance"): "credit",
    ("invoice-generation-title", "credits"): "credit",
    ("invoice-generation-description", "credits"): "credit",
    ("invoice-generation-description", "stars"): "star",
    ("payment-generation-started", "credits"): "credit",
    ("payment-generation-started", "balance"): "credit",
    ("payment-generation-kept", "credits"): "credit",
    ("payment-generation-kept", "balance"): "credit",
    ("payment-generation-not-started", "credits"): "credit",
    ("payment-generation-not-started", "balance"): "credit",
    # wizard.ftl
    ("wizard-model-button", "price"): "credit-gen",  # "от 21 кредита"
    ("wizard-send-refs", "max"): "reference-gen",
    ("wizard-enter-prompt", "max"): "character-gen",  # "до 21 символа"
    ("wizard-summary-price", "price"): "credit",
    ("wizard-pay-credits", "price"): "credit",
    ("wizard-pay-stars", "stars"): "star-acc",  # "Заплатить 21 звезду"
    ("wizard-started", "price"): "credit",
    ("wizard-started", "balance"): "credit",
    ("wizard-limit-active", "limit"): "video",
    ("wizard-limit-rate", "limit"): "video",
    ("wizard-summary-price-variants", "price"): "credit",
    ("wizard-summary-price-variants", "total"): "credit",
    ("wizard-summary-price-variants", "count"): "video",
    ("wizard-variants-started", "count"): "video",
    ("wizard-variants-started", "price"): "credit",
    ("wizard-variants-started", "total"): "credit",
    ("wizard-variants-started", "balance"): "credit",
    ("wizard-variants-partial", "count"): "video",
    ("wizard-variants-partial", "total"): "credit",
    ("wizard-variants-partial", "balance"): "credit",
    ("wizard-variants-limit-active", "limit"): "video",
    ("wizard-variants-limit-active", "count"): "video",
    ("wizard-variants-limit-rate", "limit"): "video",
    ("wizard-variants-limit-rate", "count"): "video",
    ("invoice-variants-title", "count"): "video",
    ("invoice-variants-title", "credits"): "credit",
    ("invoice-variants-description", "count"): "video",
    ("invoice-variants-description", "credits"): "credit",
    ("invoice-variants-description", "stars"): "star",
    ("payment-variants-started", "credits"): "credit",
    ("payment-variants-started", "count"): "video",
    ("payment-variants-started", "balance"): "credit",
    ("payment-variants-partial", "credits"): "credit",
    ("payment-variants-partial", "count"): "video",
    ("payment-variants-partial", "balance"): "credit",
    ("payment-variants-not-started", "credits"): "credit",
    ("payment-variants-not-started", "balance"): "credit",
}

#: (message, variable) → a sample value, for numbers that are not followed by a noun that agrees with them.
NOT_COUNTS: dict[tuple[str, str], object] = {
    ("admin-topup-usage", "max"): 7,  # a bound: "a whole number from 1 to 100000"
    ("admin-deduct-usage", "max"): 7,
    ("error-seed-range", "max"): 7,
    ("error-prompt-too-long", "max"): 7,  # "…: 2,001 characters, at most 2,000": the noun is already said
    ("admin-refund-done", "debited"): 7,  # "Took back 5 of 10 credits": the noun follows $credits
    ("admin-refund-done", "stars"): 7,  # "N ⭐": the Star sign, not a word
    ("admin-user-payment", "stars"): 7,
    ("admin-stats-revenue", "stars"): 7,
    ("admin-stats-revenue", "refunded_stars"): 7,
    ("admin-stats-revenue", "net"): 7,
    ("admin-stats-margin", "reported"): 7,  # "(3 reported)": the noun is the line's videos, already said
    ("admin-stats-margin", "provider"): "kie",  # a provider's name
    # dollar amounts and a percentage, formatted by the handler: "$12.50", "38 %"
    ("admin-stats-margin", "revenue"): "12.50",
    ("admin-stats-margin", "cost"): "7.75",
    ("admin-stats-margin", "margin"): "4.75",
    ("admin-stats-margin", "share"): "38",
    ("admin-stats-margins", "credit_usd"): "0.0108",
    ("admin-stats-health", "window"): 7,  # a label: "latest results kept per route: 20"
    # "3 of 5 made a video": the noun follows neither number; the rest is text the handler formats
    ("admin-stats-route", "videos"): 7,
    ("admin-stats-route", "outcomes"): 7,
    ("admin-stats-route", "provider"): "openai",
    ("admin-stats-route", "route"): "sora-2",
    ("admin-stats-route", "share"): "60",
    ("admin-stats-route", "median"): "1:30",
    ("admin-stats-route", "state"): "cooling",
    ("admin-stats-route", "until"): "2026-11-22 12:05",
    ("buy-pack-button", "stars"): 7,
    ("admin-user-payment", "refunded"): "no",  # a yes/no flag
    ("admin-stats-welcome", "credits"): 7,  # a label: "Welcome credits: 50"
    ("error-reference-count", "count"): 7,  # a label: "(you sent: 5)"
    ("wizard-send-refs", "count"): 7,  # a label: "Received: 2."
    ("wizard-summary-images", "count"): 7,  # a label: "Images: 2"
    ("wizard-summary-variants", "count"): 2,  # a label: "Variants: 2"
    ("error-variants-count", "max"): 4,  # a bound: "from 1 to 4"
    ("wizard-variants-partial", "placed"): 2,  # "2 of 3 videos": the noun follows $count
    ("payment-variants-partial", "placed"): 2,
    ("library-entry", "number"): 7,  # a position in the list
    ("library-button-open", "number"): 7,
    ("progress-running", "progress"): 7,  # a percentage
    ("error-image-too-small", "width"): 7,  # dimensions: "640×480"
    ("error-image-too-small", "height"): 7,
    ("wizard-seconds", "seconds"): 8,  # a unit symbol that does not inflect: "8 s", "8 с", "8 秒"
    ("error-image-too-large", "max_mb"): "10",  # MB / МБ do not inflect
    ("wizard-send-first", "max_mb"): "10",
    ("wizard-send-last", "max_mb"): "10",
    ("wizard-send-refs", "max_mb"): "10",
    ("video-link", "size_mb"): "60",
    ("video-no-link", "size_mb"): "60",
    # moderation: codes that pick a phrase (a category, which prompt, which check) and an admin's user id
    ("moderation-category", "category"): "sexual",
    ("moderation-refused", "field"): "negative",
    ("admin-audit-refusal", "source"): "api",
    ("admin-audit-block", "admin"): "9001",
    ("admin-audit-unblock", "admin"): "9001",
}

#: The words after the number: en (one, other); ru (one, few, many) in the case the sentence needs;
#: zh the measure word or unit right after the number.
FORMS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "credit": ("credit", "credits"),
        "more-credit": ("more credit", "more credits"),
        "star": ("Star", "Stars"),
        "generation": ("generation", "generations"),
        "payment": ("payment", "payments"),
        "more-model": ("more model", "more models"),
        "new-user": ("new user", "new users"),
        "user": ("user", "users"),
        "video": ("video", "videos"),
        "character": ("character", "characters"),
        "hour": ("hour", "hours"),
        "megapixel": ("megapixel", "megapixels"),
        "pixel": ("pixel", "pixels"),
        "reference": ("reference image", "reference images"),
    },
    "ru": {
        "credit": ("кредит", "кредита", "кредитов"),
        "more-credit": ("кредит", "кредита", "кредитов"),  # "Нужно ещё 1 кредит"
        "credit-gen": ("кредита", "кредитов", "кредитов"),
        "star": ("звезда", "звезды", "звёзд"),
        "star-acc": ("звезду", "звезды", "звёзд"),
        "generation": ("генерация", "генерации", "генераций"),
        "payment": ("платёж", "платежа", "платежей"),
        "more-model": ("модель", "модели", "моделей"),
        "new-user": ("новый пользователь", "новых пользователя", "новых пользователей"),
        "user-gen": ("пользователя", "пользователей", "пользователей"),
        "video": ("видео", "видео", "видео"),  # does not inflect
        "character": ("символ", "символа", "символов"),
        "character-gen": ("символа", "символов", "символов"),
        "hour": ("час", "часа", "часов"),
        "megapixel-gen": ("мегапикселя", "мегапикселей", "мегапикселей"),
        "pixel-gen": ("пикселя", "пикселей", "пикселей"),
        "reference-gen": ("референсного изображения", "референсных изображений", "референсных изображений"),
    },
    "zh": {
        "credit": ("积分",),
        "more-credit": ("积分",),
        "star": ("颗",),
        "generation": ("次生成",),
        "payment": ("笔",),
        "more-model": ("个模型",),
        "new-user": ("位新用户",),
        "user": ("位用户",),
        "video": ("个视频",),
        "character": ("个字符",),
        "hour": ("小时",),
        "megapixel": ("百万像素",),
        "pixel": ("像素",),
        "reference": ("张参考图",),
    },
}

#: Where a number has a wording of its own: "Send 1 reference image" instead of "between 1 and 1".
OVERRIDES: dict[tuple[str, str, int], str] = {
    ("ru", "error-reference-count", 1): "референсное изображение",
    ("ru", "wizard-send-refs", 1): "референсное изображение",
}


class _Variables(Visitor):
    """The variables a message uses, and those it selects a plural variant on."""

    def __init__(self) -> None:
        super().__init__()
        self.used: set[str] = set()
        self.plural: set[str] = set()

    def visit_VariableReference(self, node: ast.VariableReference) -> None:
        self.used.add(node.id.name)

    def visit_SelectExpression(self, node: ast.SelectExpression) -> None:
        keys = {v.key.name for v in node.variants if isinstance(v.key, ast.Identifier)}
        if isinstance(node.selector, ast.VariableReference) and keys & PLURAL_KEYS - {"other"}:
            self.plural.add(node.selector.id.name)
        self.generic_visit(node)


def messages(language: str) -> Iterator[tuple[str, _Variables]]:
    for entry in i18n.messages(language):
        found = _Variables()
        found.visit(entry)
        yield entry.id.name, found


VARIABLES = {language: dict(messages(language)) for language in LANGUAGES}


def concept(language: str, name: str) -> tuple[str, ...]:
    """The forms of a concept in a language; English and Chinese have no grammatical case."""
    forms = FORMS[language]
    return forms[name] if name in forms else forms[name.split("-gen")[0].split("-acc")[0]]


def expected_word(language: str, message: str, variable: str, number: int) -> str:
    if (language, message, number) in OVERRIDES:
        return OVERRIDES[(language, message, number)]
    forms = concept(language, COUNTS[(message, variable)])
    if language == "zh":
        return forms[0]
    category = CATEGORY[language][number]
    order = ("one", "other") if language == "en" else ("one", "few", "many")
    return forms[order.index(category)]


def render(language: str, message: str, variable: str, number: int) -> str:
    params: dict[str, object] = {}
    for name in VARIABLES[language][message].used:
        if name == variable:
            params[name] = number
        elif (message, name) in COUNTS:
            params[name] = 7
        elif (message, name) in NOT_COUNTS:
            params[name] = NOT_COUNTS[(message, name)]
        else:
            params[name] = f"<{name}>"
    return Translator("en")(language, message, **params)


def test_every_number_in_every_message_is_classified() -> None:
    unclassified = sorted(
        f"{language}: {message} ${name}"
        for language in LANGUAGES
        for message, found in VARIABLES[language].items()
        for name in found.used | found.plural
        if (name not in TEXT_VARS or name in found.plural)
        and (message, name) not in COUNTS
        and (message, name) not in NOT_COUNTS
    )
    assert not unclassified, (
        "a number without plural forms: add it to COUNTS (with a plural selector in each .ftl) "
        f"or, if no noun agrees with it, to NOT_COUNTS with the reason: {unclassified}"
    )
    stale = sorted(
        f"{message} ${name}"
        for message, name in {*COUNTS, *NOT_COUNTS}
        if name not in VARIABLES["en"].get(message, _Variables()).used
    )
    assert not stale, f"table entries for messages or variables that no longer exist: {stale}"
    assert not set(COUNTS) & set(NOT_COUNTS)


@pytest.mark.parametrize(("message", "variable"), sorted(COUNTS))
def test_counts_have_a_plural_selector(message: str, variable: str) -> None:
    for language in ("en", "ru"):
        if len(set(concept(language, COUNTS[(message, variable)]))) == 1:
            continue  # "видео" is the same for every number: nothing to select
        assert variable in VARIABLES[language][message].plural, f"{language}: {message} ${variable}"


@pytest.mark.parametrize(("message", "variable"), sorted(COUNTS))
@pytest.mark.parametrize("language", LANGUAGES)
def test_counts_agree_with_their_number(language: str, message: str, variable: str) -> None:
    for number in NUMBERS:
        text = render(language, message, variable, number)
        assert "{" not in text and "}" not in text and "???" not in text, text
        word = expected_word(language, message, variable, number)
        # Chinese has no spaces between words, so a word boundary means nothing there
        after = r"\s?" + re.escape(word) if language == "zh" else " " + re.escape(word) + r"(?!\w)"
        pattern = f"{number}{after}"
        assert re.search(rf"(?<![\d.,]){pattern}", text), (
            f"{language} {message} ${variable}={number}: expected “{number} {word}” in {text!r}"
        )
        if language != "zh":
            for other in set(concept(language, COUNTS[(message, variable)])) - {word}:
                assert not re.search(rf"(?<![\d.,]){number} {re.escape(other)}(?!\w)", text), text


@pytest.mark.parametrize(
    ("number", "russian", "english"),
    [
        (0, "0 кредитов", "0 credits"),
        (1, "1 кредит", "1 credit"),
        (2, "2 кредита", "2 credits"),
        (4, "4 кредита", "4 credits"),
        (5, "5 кредитов", "5 credits"),
        (11, "11 кредитов", "11 credits"),
        (12, "12 кредитов", "12 credits"),
        (21, "21 кредит", "21 credits"),
        (22, "22 кредита", "22 credits"),
        (101, "101 кредит", "101 credits"),
        (111, "111 кредитов", "111 credits"),
    ],
)
def test_the_balance_in_every_plural_form(number: int, russian: str, english: str) -> None:
    translate = Translator("en")
    assert translate("ru", "balance", balance=number) == f"Ваш баланс: {russian}."
    assert translate("en", "balance", balance=number) == f"Your balance: {english}."
    assert translate("zh", "balance", balance=number) == f"您的余额：{number} 积分。"


def test_russian_verbs_agree_with_the_count() -> None:
    translate = Translator("en")
    assert translate("ru", "failure-refund", credits=1) == "1 кредит возвращён на ваш баланс."
    assert translate("ru", "failure-refund", credits=21) == "21 кредит возвращён на ваш баланс."
    assert translate("ru", "failure-refund", credits=3) == "3 кредита возвращено на ваш баланс."
    assert translate("ru", "failure-refund", credits=10) == "10 кредитов возвращено на ваш баланс."
    assert translate("en", "failure-refund", credits=1) == "1 credit has been returned to your balance."
    assert translate("en", "cancel-done", credits=2) == (
        "Cancelled. 2 credits have been returned to your balance."
    )
    assert "начислен 1 кредит." in translate("ru", "payment-credited", credits=1, balance=1)
    assert "начислено 5 кредитов." in translate("ru", "payment-credited", credits=5, balance=1)
