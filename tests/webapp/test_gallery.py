"""The gallery in a real browser (headless Chromium), on the embedded store and on Supabase: what a user sees
and what their taps do, with the money invariants checked at the end of every scenario (by the rig)."""

from __future__ import annotations

import json
import time

from bot.i18n import Translator
from storage.records import GenerationStatus, LedgerKind
from tests.poller.conftest import USER
from tests.webapp.conftest import OTHER, THEME, Browser, Gallery, sign_init_data

T = Translator()


def card(generation_id: str) -> str:
    return f'.card[data-id="{generation_id}"]'


async def in_progress(gallery: Gallery, prompt: str) -> str:
    """A generation the provider is still making, with its progress reported."""
    rig = gallery.rig
    rig.openai.polls_to_complete = 5
    generation = await rig.order(prompt)
    for _ in range(5):
        await rig.tick()
        current = await rig.get(generation.id)
        if current.status is GenerationStatus.RUNNING and current.progress:
            return generation.id
    raise AssertionError("no progress reported")


async def test_the_gallery_shows_the_users_videos_with_their_status(
    gallery: Gallery, browser: Browser, rig_backend: str
) -> None:
    rig = gallery.rig
    await rig.fund()
    expired = await gallery.delivered("an old tram in the rain")
    assert expired.result_path is not None
    await rig.store.update_generation(
        expired.id,
        only_if=frozenset({GenerationStatus.DELIVERED}),
        fields={"media_expired_at": rig.clock.now},
        now=rig.clock.now,
    )
    await rig.media.delete(expired.result_path)
    failed = await rig.order('a forbidden dance <img src=x onerror="document.title=1">', model="demo")
    await rig.settle(failed.id)
    ready = await gallery.delivered("a lighthouse in a storm at night, waves crashing")
    running = await in_progress(gallery, "a paper boat sailing down a mountain river")

    await browser.open(gallery.page(sign_init_data(USER), theme=THEME))
    assert await browser.run("return document.body.dataset.state") == "ready"
    assert await browser.card_ids() == [running, ready.id, failed.id, expired.id], "newest first"
    assert await browser.texts("#title") == ["🖼 My videos"]
    assert await browser.texts("#balance") == [T("en", "balance", balance=await rig.balance())]
    # Telegram's theme colours, through themeParams
    colours = await browser.run(
        "return [getComputedStyle(document.body).backgroundColor,"
        " getComputedStyle(document.querySelector('.card')).backgroundColor]"
    )
    assert colours == ["rgb(23, 33, 43)", "rgb(35, 46, 60)"]

    # the finished video plays in place, from its signed link: its first frame is decoded
    duration = await browser.wait(
        f"document.querySelector('{card(ready.id)} video').readyState >= 2"
        f" && document.querySelector('{card(ready.id)} video').duration"
    )
    assert abs(duration - 4.0) < 0.5
    link = await browser.run(f"return document.querySelector('{card(ready.id)} video').src")
    assert ("/media/" in link and "sig=" in link) if rig_backend == "sqlite" else "token=" in link
    assert await browser.texts(f"{card(ready.id)} .button") == [
        "📤 Send to chat",
        "🔁 Make again",
        "🗑 Delete",
    ]

    # in progress: a badge and the provider's progress, nothing to delete yet
    assert await browser.texts(f"{card(running)} .badge") == ["⏳ in progress"]
    progress = (await rig.get(running)).progress
    assert await browser.texts(f"{card(running)} .percent") == [f"{progress}%"]
    assert "🗑 Delete" not in await browser.texts(f"{card(running)} .button")

    # failed: the reason and the refund, and the prompt shown as text, never as markup
    assert await browser.texts(f"{card(failed.id)} .badge") == ["❌ failed"]
    [detail] = await browser.texts(f"{card(failed.id)} .detail")
    assert detail == T("en", "failure-content_policy") + "\n" + T("en", "failure-refund", credits=5)
    assert await browser.texts(f"{card(failed.id)} .prompt") == [failed.prompt]
    assert await browser.run("return [document.querySelectorAll('#list img').length, document.title]") == [
        0,
        "🖼 My videos",
    ]

    # expired: said so, and still sendable by its Telegram file_id
    assert await browser.texts(f"{card(expired.id)} .badge") == ["🗄 no longer stored"]
    assert await browser.run(f"return document.querySelector('{card(expired.id)} video')") is None
    assert "📤 Send to chat" in await browser.texts(f"{card(expired.id)} .button")

    await browser.screenshot(f"gallery-{rig_backend}.png")


async def test_a_second_user_sees_only_their_own_videos_in_their_language(
    gallery: Gallery, browser: Browser
) -> None:
    rig = gallery.rig
    await rig.fund(USER)
    await rig.fund(OTHER, language="ru")
    await gallery.delivered("mine, one")
    await gallery.delivered("mine, two")
    theirs = await gallery.delivered("их видео", user_id=OTHER)

    # Telegram says English, but the language the user chose in the bot wins
    await browser.open(gallery.page(sign_init_data(OTHER, language_code="en")))
    assert await browser.card_ids() == [theirs.id]
    assert await browser.texts("#title") == ["🖼 Мои видео"]
    assert await browser.texts(f"{card(theirs.id)} .button") == [
        "📤 Отправить в чат",
        T("ru", "library-button-regenerate"),
        T("ru", "library-button-delete"),
    ]
    assert await browser.run("return document.documentElement.lang") == "ru"


async def test_forged_expired_or_missing_init_data_shows_a_refusal(
    gallery: Gallery, browser: Browser
) -> None:
    rig = gallery.rig
    await rig.fund()
    await gallery.delivered("nobody else may see this")
    refusal = "🔒 " + T("en", "webapp-unauthorized")
    for init_data in (
        sign_init_data(USER, token="42:another-bots-token-aaaaaaaaaaaaaaaaaaa"),
        sign_init_data(USER, auth_date=int(time.time()) - 2 * 86400),
        None,
    ):
        await browser.open(gallery.page(init_data))
        assert await browser.run("return document.body.dataset.state") == "unauthorized"
        assert await browser.texts("#notice-text") == [refusal]
        assert await browser.card_ids() == []
    # the refusal speaks the language Telegram gave, unchecked as it is
    await browser.open(gallery.page(sign_init_data(USER, token="1:forged", language_code="ru")))
    assert await browser.texts("#notice-text") == ["🔒 " + T("ru", "webapp-unauthorized")]


async def test_delete_asks_first_then_removes_the_video_from_the_list(
    gallery: Gallery, browser: Browser
) -> None:
    rig = gallery.rig
    await rig.fund()
    kept = await gallery.delivered("keep this one")
    doomed = await gallery.delivered("delete this one")
    await browser.open(gallery.page(sign_init_data(USER)))
    assert await browser.card_ids() == [doomed.id, kept.id]

    await browser.click(f"{card(doomed.id)} .delete")
    await browser.wait("!document.getElementById('sheet').hidden")
    assert await browser.texts("#sheet-text") == [T("en", "library-delete-confirm")]
    await browser.click("#sheet-cancel")  # "Keep it"
    await browser.wait("document.getElementById('sheet').hidden")
    assert await browser.card_ids() == [doomed.id, kept.id]
    assert (await rig.get(doomed.id)).hidden_at is None

    await browser.click(f"{card(doomed.id)} .delete")
    await browser.wait("!document.getElementById('sheet').hidden")
    await browser.click("#sheet-confirm")
    await browser.wait(f"!document.querySelector('{card(doomed.id)}')")
    assert await browser.card_ids() == [kept.id]
    assert await browser.texts("#toast") == [T("en", "library-deleted")]
    assert (await rig.get(doomed.id)).hidden_at is not None
    assert not await rig.media.exists(doomed.result_path or "")
    await browser.open(gallery.page(sign_init_data(USER)))  # and it stays gone
    assert await browser.card_ids() == [kept.id]


async def test_regenerate_shows_the_price_asks_and_debits_once(gallery: Gallery, browser: Browser) -> None:
    rig = gallery.rig
    await rig.fund(credits=30)
    source = await gallery.delivered("a fox in the snow")
    await browser.open(gallery.page(sign_init_data(USER)))

    await browser.click(f"{card(source.id)} .regenerate")
    await browser.wait("!document.getElementById('sheet').hidden")
    [text] = await browser.texts("#sheet-text")
    assert text == "\n".join(
        (
            T("en", "webapp-regenerate-confirm"),
            T("en", "wizard-summary-price", price=5),
            T("en", "balance", balance=25),
        )
    )
    assert await browser.texts("#sheet-confirm") == ["💳 Pay 5 credits"]
    # two taps as fast as a thumb can: the button takes one, the key makes any repeat the same order
    await browser.run("const b = document.getElementById('sheet-confirm'); b.click(); b.click();")
    await browser.wait("document.querySelectorAll('.card').length === 2")
    [new_id, old_id] = await browser.card_ids()
    assert old_id == source.id
    assert await browser.texts(f"{card(new_id)} .badge") == ["⏳ waiting"]
    await browser.wait(
        f"document.getElementById('balance').textContent === {json.dumps(T('en', 'balance', balance=20))}"
    )

    assert await rig.balance() == 20
    entries = await rig.store.list_ledger(USER, limit=50)
    assert sorted(e.generation_id for e in entries if e.kind is LedgerKind.DEBIT) == sorted(
        [source.id, new_id]
    )
    new = await rig.get(new_id)
    assert (new.model, new.prompt, new.cost) == (source.model, source.prompt, 5)
    assert await rig.violations() == []


async def test_send_to_chat_puts_the_video_in_the_chat(gallery: Gallery, browser: Browser) -> None:
    rig = gallery.rig
    await rig.fund()
    generation = await gallery.delivered("a hummingbird in slow motion")
    before = len(rig.telegram.calls_of("sendVideo"))
    await browser.open(gallery.page(sign_init_data(USER)))
    await browser.click(f"{card(generation.id)} .send")
    await browser.wait(
        f"document.getElementById('toast').textContent === {json.dumps(T('en', 'webapp-sent'))}"
    )
    [sent] = rig.telegram.calls_of("sendVideo")[before:]
    assert sent.params["chat_id"] == str(USER) and sent.params["video"] == generation.file_id


async def test_scrolling_down_loads_older_videos(gallery: Gallery, browser: Browser) -> None:
    rig = gallery.rig
    await rig.fund(credits=1000)
    ordered = []
    for n in range(12):
        ordered.append((await rig.order(f"clip number {n}")).id)
        rig.clock.advance(seconds=1)
    newest_first = list(reversed(ordered))
    await browser.open(gallery.page(sign_init_data(USER)))
    shown = await browser.card_ids()
    assert shown == newest_first[: len(shown)] and len(shown) in (5, 10), "whole pages of five, newest first"
    assert await browser.run("return document.body.dataset.more") == "yes", "a screen's worth, not all"
    for _ in range(3):  # each scroll to the bottom brings the next page
        count = len(await browser.card_ids())
        await browser.run("window.scrollTo(0, document.body.scrollHeight)")
        await browser.wait(
            f"document.body.dataset.loading === 'no' && (document.querySelectorAll('.card').length > {count}"
            " || document.body.dataset.more === 'no')"
        )
        if await browser.run("return document.body.dataset.more") == "no":
            break
    assert await browser.card_ids() == newest_first
    assert await browser.texts("#end") == [T("en", "webapp-end")]


async def test_an_empty_gallery_offers_a_new_video(gallery: Gallery, browser: Browser) -> None:
    rig = gallery.rig
    await rig.fund()
    await browser.open(gallery.page(sign_init_data(USER)))
    assert await browser.run("return document.body.dataset.state") == "empty"
    assert await browser.texts("#notice-text") == [T("en", "library-empty")]
    assert await browser.texts("#notice-action") == [T("en", "menu-generate")]
    await browser.click("#notice-action")
    await browser.wait(
        f"document.getElementById('toast').textContent === {json.dumps(T('en', 'webapp-generate-sent'))}"
    )
    [offer] = [c for c in rig.telegram.calls_of("sendMessage") if c.ok]
    assert offer.params["chat_id"] == str(USER) and offer.params["text"] == T("en", "webapp-generate-message")
    [[button]] = offer.params["reply_markup"]["inline_keyboard"]
    assert button["callback_data"] == "m:generate"  # the chat's own "new video" menu button
