"""Moderation before any charge, end to end over the fake Bot API: refused descriptions and negative
prompts (also obfuscated) in every language, OpenAI's moderation API through its fake (flagged, not
flagged, failing open and closed), no Stars invoice for a refused order, the audit trail with /audit, and
/block and /unblock by an admin. Every scenario ends with the money invariants (the rig checks them)."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot import dispatcher
from bot.middlewares import ThrottleUsers
from services import submission
from services.generations import Invalid
from services.moderation import ModerationRules, normalized
from services.providers.base import SubmitJob, Submitted, VideoProvider
from services.settings import ConfigError, load_settings
from services.validation import Problem
from services.video_request import VideoRequest
from storage.records import GenerationStatus, LedgerKind, ModerationSource
from tests.bot.test_admin import ADMIN, UNKNOWN, command, texts_to
from tests.bot.wizard_helpers import buttons, screen, wizard
from tests.fakes.moderation import FakeModeration
from tests.poller.conftest import USER, Rig

#: The rig's OPENAI_API_KEY (tests/poller/conftest.py): the moderation API is OpenAI's.
OPENAI_KEY = "sk-openai-test-key-000000"
CATALOG = """
# One keyless model that takes a negative prompt, so both texts a user writes can be refused.
[[models]]
key = "mod"
name = "Moderated"
modes = ["t2v"]
durations = [4]
aspect_ratios = ["16:9"]
resolutions = ["720p"]
audio = "never"
default_duration = 4
default_aspect_ratio = "16:9"
default_resolution = "720p"
prompt_max = 2000
negative_prompt = true
price = { per_clip = 5 }

[[models.routes]]
provider = "demo"
model_id = "demo-clip"
options = ["negative_prompt"]
"""
LANGUAGES = {
    # language: (a refused description, the category the list gives it)
    "en": ("a PORNO clip of two cats", "sexual"),
    "ru": ("сцена расчленёнки в лесу", "violence"),
    "zh": ("一段色情视频", "sexual"),
}


@pytest.fixture(autouse=True)
def unthrottled(monkeypatch: pytest.MonkeyPatch) -> None:
    """These scenarios send many updates at once; the per-user flood limit is tested elsewhere."""
    monkeypatch.setattr(dispatcher, "ThrottleUsers", functools.partial(ThrottleUsers, burst=100_000))


@pytest.fixture
async def moderation_api() -> AsyncIterator[FakeModeration]:
    fake = FakeModeration(OPENAI_KEY)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
def rig_settings(tmp_path: Path, moderation_api: FakeModeration) -> dict[str, Any]:
    """Off until a test turns MODERATION_API on (moderation reads its settings on every order)."""
    path = tmp_path / "moderated.toml"
    path.write_text(CATALOG, encoding="utf-8")
    return {"catalog_path": path, "admin_ids": [ADMIN], "moderation_api_url": f"{moderation_api.url}/v1"}


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> list[SubmitJob]:
    """Every job handed to a provider adapter."""
    handed: list[SubmitJob] = []
    real = submission.submit

    async def recording(adapter: VideoProvider, job: SubmitJob) -> Submitted:
        handed.append(job)
        return await real(adapter, job)

    monkeypatch.setattr(submission, "submit", recording)
    return handed


async def tap(rig: Rig, suffix: str, chat: int) -> None:
    """Press the wizard button whose callback data ends with `suffix` (labels differ per language)."""
    message = wizard(rig.telegram, chat)
    assert message is not None, "no wizard message"
    [data] = [d for _, d in buttons(message) if d.endswith(suffix)]
    query = await rig.telegram.press(chat, message["message_id"], data, chat_id=chat)
    await rig.telegram.wait_for(lambda t: t.answered(query))


async def summary(
    rig: Rig, prompt: str, *, user: int = USER, language: str = "en", negative: str | None = None
) -> dict[str, Any]:
    """/generate → Moderated → `prompt` (→ the negative prompt); the summary message."""
    await rig.telegram.send_text(user, "/generate", language_code=language)
    await screen(rig, "🎬", chat=user)
    await tap(rig, ":model:mod", user)  # its one mode is chosen with it
    asked = await screen(rig, "✍️", chat=user)
    await rig.telegram.send_text(user, prompt, language_code=language)
    shown = await sent_after(rig, asked, "📋", user)
    if negative is None:
        return shown
    await tap(rig, ":option:negative_prompt", user)
    asked = await screen(rig, "What should the video not show?", chat=user)
    await rig.telegram.send_text(user, negative, language_code=language)
    return await sent_after(rig, asked, "📋", user)


async def sent_after(rig: Rig, asked: dict[str, Any], shows: str, user: int) -> dict[str, Any]:
    """The wizard message sent after `asked` (an earlier, refused summary may still show buttons)."""
    return await rig.telegram.wait_for(
        lambda t: (
            m
            if (m := wizard(t, user)) is not None
            and m["message_id"] > asked["message_id"]
            and shows in m["text"]
            else None
        )
    )


async def pay_refused(
    rig: Rig, shown: dict[str, Any], notice: str, *, user: int = USER, to: str = "pay"
) -> None:
    """Press Pay (or Pay in Stars) on the summary; it shows `notice` on top and stays a summary."""
    await tap(rig, f":{to}", user)
    key = (user, shown["message_id"])
    text = await rig.telegram.wait_for(
        lambda t: notice in t.messages[key]["text"] and t.messages[key]["text"]
    )
    assert "📋" in text


async def pay(rig: Rig, shown: dict[str, Any], *, user: int = USER) -> None:
    """Press Pay; the summary turns into the order's confirmation."""
    await tap(rig, ":pay", user)
    key = (user, shown["message_id"])
    await rig.telegram.wait_for(lambda t: "Ordered" in t.messages[key]["text"])


def refused(rig: Rig, language: str, category: str, field: str = "prompt") -> str:
    return rig.services.translator(language, "moderation-refused", field=field, category=category)


# ------------------------------------------------------------------ the list


async def test_a_refused_description_charges_nothing_and_says_why_in_each_language(
    rig: Rig, polling: None, jobs: list[SubmitJob]
) -> None:
    for number, (language, (prompt, category)) in enumerate(LANGUAGES.items()):
        user = USER + number
        await rig.fund(user, 20, language=language)
        shown = await summary(rig, prompt, user=user, language=language)
        notice = refused(rig, language, category)
        await pay_refused(rig, shown, notice, user=user)
        assert await rig.balance(user) == 20
        assert [e.kind for e in await rig.store.list_ledger(user)] == [LedgerKind.ADMIN]
        assert await rig.store.list_user_generations(user) == []
        [event] = await rig.store.list_moderation_events(limit=5, user_id=user)
        assert (event.source, event.category, event.excerpt) == (ModerationSource.LIST, category, prompt)
    assert "words our rules do not allow (sexual content). No credits were taken" in refused(
        rig, "en", "sexual"
    )
    assert "porno" not in refused(rig, "en", "sexual").casefold(), "the matched word is not repeated"
    await rig.tick()
    assert jobs == [], "no provider was asked for anything"


async def test_a_refused_negative_prompt_is_named_as_such(
    rig: Rig, polling: None, jobs: list[SubmitJob]
) -> None:
    await rig.fund(USER, 20)
    shown = await summary(rig, "a quiet lake at dawn", negative="blur, ＨＥＮＴＡＩ")
    await pay_refused(rig, shown, refused(rig, "en", "sexual", field="negative"))
    [event] = await rig.store.list_moderation_events(limit=5)
    assert (event.category, event.excerpt) == ("sexual", "blur, ＨＥＮＴＡＩ")
    assert event.reason == 'negative: en word "hentai"'
    assert await rig.balance() == 20 and await rig.store.list_user_generations(USER) == []
    await rig.tick()
    assert jobs == []


async def test_obfuscated_words_do_not_get_through_and_clean_ones_do(rig: Rig, polling: None) -> None:
    await rig.fund(USER, 20)
    for prompt in ("ｐｏｒｎ at night", "PoRn", "p\u200born", "p0rn star", "child\u00a0porn", "色 情 片"):
        shown = await summary(rig, prompt)
        await tap(rig, ":pay", USER)
        key = (USER, shown["message_id"])
        await rig.telegram.wait_for(lambda t, key=key: "rules do not allow" in t.messages[key]["text"])
    assert [e.category for e in await rig.store.list_moderation_events(limit=10)] == [
        "sexual",
        "minors",
        "sexual",
        "sexual",
        "sexual",
        "sexual",
    ]
    shown = await summary(rig, "a porcupine in Scunthorpe")  # whole words only
    await pay(rig, shown)
    [generation] = await rig.store.list_user_generations(USER)
    assert await rig.balance() == 15
    await rig.settle(generation.id)


def test_the_list_reads_text_as_normalised() -> None:
    """NFKC, case folding, invisible characters dropped, ё as е; zh entries match inside text."""
    assert normalized("ＰｏＲｎ\u200d") == "porn"
    assert normalized("РасчленЁнка") == "расчлененка"
    rules = ModerationRules.load()
    for text, category in (
        ("Decapitation", "violence"),
        ("how   to kill myself", "self_harm"),
        ("kids naked", "minors"),
        ("детское порно", "minors"),
        ("萝莉色情", "minors"),
        ("城里斩首", "violence"),
    ):
        rule = rules.match(text)
        assert rule is not None and rule.category == category, text
    for clean in (
        "a cat surfing a wave",
        "a unicorn, reborn",
        "unxxxed",
        "a rainy street in Shanghai",
        "забор",
    ):
        assert rules.match(clean) is None, clean


def test_an_own_list_replaces_the_built_in_one(tmp_path: Path, make_settings: Any) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        "[en.other]\nwords = ['pineapple pizza']\n[zh.illegal]\nwords = ['假钞']\n", encoding="utf-8"
    )
    settings = load_settings(_env_file=None, bot_token=make_settings().bot_token, moderation_file=str(path))
    rules = ModerationRules.load(settings.moderation_file)
    assert [(r.category, r.describe()) for r in rules.rules] == [
        ("illegal", 'zh word "假钞"'),
        ("other", 'en word "pineapple pizza"'),
    ]
    for text, category in (("PINEAPPLE   pizza night", "other"), ("印 假 钞", "illegal")):
        rule = rules.match(text)
        assert rule is not None and rule.category == category, text
    assert rules.match("porn") is None, "the built-in list no longer applies"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[de.sexual]\nwords = ['x']", "unknown language 'de'"),
        ("[en.spam]\nwords = ['x']", "unknown category"),
        ("[en.sexual]\npatterns = ['(']", "does not compile"),
        ("[en.sexual]\npatterns = ['a*']", "matches empty text"),
        ("[en.sexual]\nwords = ['']", "non-empty strings"),
        ("[en.sexual]\nphrases = ['x']", "only have `words` and `patterns`"),
        ("[en.sexual", "not valid TOML"),
    ],
)
def test_a_list_that_cannot_be_used_stops_the_start(
    tmp_path: Path, make_settings: Any, content: str, problem: str
) -> None:
    path = tmp_path / "list.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(_env_file=None, bot_token=make_settings().bot_token, moderation_file=str(path))
    [line] = raised.value.problems
    assert line.startswith("MODERATION_FILE: ") and problem in line, line


# ------------------------------------------------------------------ the API


async def test_the_api_refuses_what_it_flags_and_passes_the_rest(
    rig: Rig, polling: None, moderation_api: FakeModeration, jobs: list[SubmitJob]
) -> None:
    rig.settings.moderation_api = True
    moderation_api.flag("rooftop fight", "violence", "violence/graphic")
    await rig.fund(USER, 20, language="ru")
    shown = await summary(rig, "a bloody rooftop fight", language="ru")
    await pay_refused(rig, shown, refused(rig, "ru", "violence"))
    [event] = await rig.store.list_moderation_events(limit=5)
    assert (event.source, event.category, event.reason, event.excerpt) == (
        ModerationSource.API,
        "violence",
        "prompt: violence, violence/graphic",
        "a bloody rooftop fight",
    )
    assert moderation_api.calls == [["a bloody rooftop fight"]]
    assert await rig.balance() == 20 and await rig.store.list_user_generations(USER) == []

    shown = await summary(rig, "porn", language="ru")  # the list refuses first: the API is not asked
    await pay_refused(rig, shown, refused(rig, "ru", "sexual"))
    assert len(moderation_api.calls) == 1

    other = USER + 1
    await rig.fund(other, 20)
    shown = await summary(rig, "a calm harbour", user=other, negative="people")
    await pay(rig, shown, user=other)
    assert moderation_api.calls[-1] == ["a calm harbour", "people"], "both texts, in one call"
    [generation] = await rig.store.list_user_generations(other)
    assert generation.request["negative_prompt"] == "people" and await rig.balance(other) == 15
    await rig.settle(generation.id)
    assert (await rig.get(generation.id)).status is GenerationStatus.DELIVERED
    assert len(jobs) == 1


async def test_an_api_outage_lets_orders_through_or_refuses_them_as_set(
    rig: Rig, polling: None, moderation_api: FakeModeration, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    rig.settings.moderation_api = True
    await rig.fund(USER, 20)
    moderation_api.fail_next(500)
    shown = await summary(rig, "a lighthouse in a storm")
    await pay(rig, shown)  # MODERATION_API_FAIL=open, the default
    assert "moderation API unavailable (HTTP 500) for user 5001: the order is let through" in caplog.text
    [first] = await rig.store.list_user_generations(USER)

    rig.settings.moderation_api_fail = "closed"
    moderation_api.fail_next(500)
    shown = await summary(rig, "a lighthouse at noon")
    notice = rig.services.translator("en", "moderation-unavailable")
    await pay_refused(rig, shown, notice)
    assert "try again in a few minutes" in notice and "no credits were taken" in notice
    [event] = await rig.store.list_moderation_events(limit=5)
    assert (event.source, event.category, event.reason) == (
        ModerationSource.API,
        "unchecked",
        "API unavailable: HTTP 500",
    )
    assert await rig.balance() == 15 and len(await rig.store.list_user_generations(USER)) == 1

    shown = await summary(rig, "a lighthouse at noon")  # the API answers again
    await pay(rig, shown)
    assert await rig.balance() == 10
    assert len(moderation_api.calls) == 3

    rig.settings.moderation_api_url = "http://127.0.0.1:1/v1"  # nothing listens there
    request = VideoRequest(model="mod", mode="t2v", prompt="a lighthouse at dusk")
    unreachable = await rig.generations.create(user_id=USER, chat_id=USER, request=request)
    assert unreachable == Invalid([Problem("moderation-unavailable")])
    [event, *_] = await rig.store.list_moderation_events(limit=5)
    assert (event.category, event.reason) == ("unchecked", "API unavailable: ClientConnectorError")
    assert await rig.balance() == 10
    for generation in await rig.store.list_user_generations(USER):
        await rig.settle(generation.id)
    assert first.id in {g.id for g in await rig.store.list_user_generations(USER)}
    assert OPENAI_KEY not in caplog.text, "the key is never logged"
    assert "lighthouse" not in caplog.text, "nor the prompt"


# ------------------------------------------------------------------ Stars


async def test_no_invoice_is_sent_for_a_refused_prompt_or_a_blocked_user(rig: Rig, polling: None) -> None:
    await rig.store.ensure_user(USER, username="user5001", language="en")
    shown = await summary(rig, "hentai dance")
    await pay_refused(rig, shown, refused(rig, "en", "sexual"), to="stars")
    await command(rig, "/block 5001")
    shown = await summary(rig, "a kite on a beach")
    await pay_refused(rig, shown, rig.services.translator("en", "moderation-banned"), to="stars")
    assert rig.telegram.calls_of("sendInvoice") == []
    assert await rig.balance() == 0


async def test_a_user_blocked_after_the_invoice_keeps_the_credits_they_paid(rig: Rig, polling: None) -> None:
    await rig.store.ensure_user(USER, username="user5001", language="en")
    await summary(rig, "a kite on a beach")
    await tap(rig, ":stars", USER)
    invoices = await rig.telegram.wait_for(lambda t: [c for c in t.calls_of("sendInvoice") if c.ok])
    await command(rig, "/block 5001 chargeback abuse")
    charge = await rig.telegram.pay(USER, int(invoices[-1].result["message_id"]))
    assert charge is not None
    text = await rig.telegram.wait_for(
        lambda t: next((x for x in texts_to(t, USER) if "could not be ordered" in x), None)
    )
    assert "Your account is blocked from ordering videos" in text
    assert await rig.balance() == 5, "the Stars paid stay as credits"
    assert await rig.store.list_user_generations(USER) == []
    assert [e.kind for e in await rig.store.list_ledger(USER)] == [LedgerKind.PURCHASE]


# ------------------------------------------------------------------ /block, /unblock, /audit


async def test_a_blocked_user_cannot_order_until_unblocked_and_keeps_balance_and_videos(
    rig: Rig, polling: None
) -> None:
    await rig.fund(USER, 20)
    running = await rig.order("a cat surfing a wave", model="mod")
    await rig.tick()  # submitted: the provider is making it
    assert (await rig.get(running.id)).status is GenerationStatus.RUNNING

    reply = await command(rig, "/block 5001 spam prompts")
    assert reply.startswith("🔒 @user5001 (5001) is blocked") and "/unblock 5001" in reply
    assert "already blocked" in await command(rig, "/block @user5001")
    shown = await summary(rig, "a kite on a beach")
    await pay_refused(rig, shown, rig.services.translator("en", "moderation-banned"))
    assert await rig.balance() == 15, "blocking takes nothing"
    welcome = await command(rig, "/start", user=USER)
    assert welcome.startswith("Hi, Ann!"), "/start still answers"
    banned = rig.services.translator("en", "moderation-banned")
    assert welcome.endswith("\n\n" + banned), "and says the account is blocked"
    await rig.settle(running.id)
    assert (await rig.get(running.id)).status is GenerationStatus.DELIVERED, "a running video still arrives"

    audit = await command(rig, "/audit 5001")
    assert "🔒 blocked by 9001 · Reason: spam prompts" in audit
    assert "🔓 @user5001 (5001) is unblocked and can order again" in await command(rig, "/unblock 5001")
    user = await rig.store.get_user(USER)
    assert user is not None and not user.banned
    assert banned not in await command(rig, "/start", user=USER)
    assert "is not blocked" in await command(rig, "/unblock 5001")
    shown = await summary(rig, "a kite on a beach")
    await pay(rig, shown)
    assert await rig.balance() == 10
    [newest, _] = await rig.store.list_user_generations(USER)
    await rig.settle(newest.id)
    trail = await rig.store.list_moderation_events(limit=10, user_id=USER)
    assert [(e.category, e.admin_id) for e in trail] == [("unblock", ADMIN), ("block", ADMIN)]


async def test_audit_shows_refusals_and_bans_newest_first_in_one_message(rig: Rig, polling: None) -> None:
    assert await command(rig, "/audit") == "🛡 No moderation events."
    other = USER + 1
    for user in (USER, other):
        await rig.fund(user, 20)
    shown = await summary(rig, "a snuff film " + "x" * 300)
    await pay_refused(rig, shown, refused(rig, "en", "violence"))
    for number in range(40):  # more than one message holds
        request = VideoRequest(model="mod", mode="t2v", prompt=f"porn number {number}")
        refusal = await rig.generations.create(user_id=other, chat_id=other, request=request)
        assert isinstance(refusal, Invalid)
    await command(rig, "/block 5002 too many refusals")

    everyone = await command(rig, "/audit")
    assert len(everyone) <= 4096
    lines = everyone.splitlines()
    assert lines[0] == "🛡 Moderation audit, newest first:" and lines[-1] == "… older events are not shown."
    assert "user 5002 · 🔒 blocked by 9001 · Reason: too many refusals" in lines[1]
    assert "user 5002 · word list · sexual content" in lines[2]
    assert lines[3:5] == ['prompt: en pattern "\\bp[o0]rn\\w*"', "“porn number 39”"]
    assert "snuff" not in everyone, "older entries give way to newer ones"

    mine = await command(rig, "/audit @user5001")
    lines = mine.splitlines()
    assert lines[0] == "🛡 Moderation audit of @user5001 (5001), newest first:"
    assert "user 5001 · word list · graphic violence" in lines[1]
    assert lines[2] == 'prompt: en word "snuff film"' and len(lines) == 4, "only that user's entries"
    assert "“a snuff film " + "x" * 187 + "”" in mine, "at most 200 characters of the prompt are kept"
    assert "No user @nobody" in await command(rig, "/audit @nobody")
    assert (await command(rig, "/audit five")).startswith("Usage: /audit")


async def test_non_admins_get_the_unknown_command_answer(rig: Rig, polling: None) -> None:
    await rig.fund(USER, 20)
    await rig.fund(USER + 1, 20)
    for text in ("/audit", "/audit 5002", "/block 5002 annoying", "/unblock 5001"):
        assert (await command(rig, text, user=USER)).startswith(UNKNOWN), text
    assert await rig.store.list_moderation_events(limit=5) == []
    user = await rig.store.get_user(USER + 1)
    assert user is not None and not user.banned
