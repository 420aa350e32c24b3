"""Hostile input end to end (issue 13, item 11), over the fake Bot API and the real dispatcher: each case
was observed on the old code, and each ends with the rig's money invariants."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from bot.dispatcher import build_dispatcher
from bot.web import WebhookHandler, build_web_app, start_web_app
from storage.local_media import LocalMediaStore
from storage.records import User
from tests.bot.test_fsm_restart import bot_running
from tests.bot.wizard_helpers import order_demo, press, replies, screen
from tests.poller.conftest import USER, Rig
from tests.unit.test_image_memory import png_16bit_rgba

ADMIN = 9001
OTHER = USER + 1
WEBHOOK_SECRET = "hook-secret_0123456789"


@pytest.fixture
def rig_settings() -> dict[str, Any]:
    return {"admin_ids": [ADMIN]}


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """Every log record of the test, from any logger, at any level."""
    found: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found.append(record)

    handler, root = Keep(logging.DEBUG), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield found
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def command(rig: Rig, text: str, *, user: int = ADMIN) -> str:
    before = len(replies(rig.telegram, user))
    await rig.telegram.send_text(user, text)
    return (await rig.telegram.wait_for(lambda t: replies(t, user)[before:]))[0]


async def test_a_png_bomb_at_the_first_frame_step_is_refused_with_a_clear_message(
    rig: Rig, polling: None
) -> None:
    await rig.telegram.send_text(USER, "/generate")
    await screen(rig, "Choose a model")
    await press(rig, "Demo")
    await screen(rig, "✨")
    await press(rig, "Image → video")
    await screen(rig, "first frame")
    bomb = png_16bit_rgba(6320, 6320)  # 300 KB that would decode to 160 MB (320 MB at 16 bits)
    await rig.telegram.send_document(USER, bomb, file_name="zeros.png", mime_type="image/png")
    message = await screen(rig, "The image has too many pixels: at most 12 megapixels.")
    assert "first frame" in message["text"]  # still on the image step
    assert await rig.store.list_user_generations(USER) == []


async def test_a_username_belongs_to_the_user_who_shows_it_now(rig: Rig, polling: None) -> None:
    telegram = rig.telegram
    telegram.users[USER] = {**telegram.user(USER), "username": "alice"}
    await command(rig, "/start", user=USER)
    telegram.users[USER] = {k: v for k, v in telegram.user(USER).items() if k != "username"}  # dropped it
    await command(rig, "/start", user=USER)
    telegram.users[OTHER] = {**telegram.user(OTHER), "username": "Alice"}  # and someone else took it
    await command(rig, "/start", user=OTHER)

    answer = await command(rig, "/topup @alice 7")
    assert f"@Alice ({OTHER})" in answer
    other, first = await rig.store.get_user(OTHER), await rig.store.get_user(USER)
    assert isinstance(other, User) and isinstance(first, User)
    assert (other.balance, other.username, first.balance, first.username) == (7, "Alice", 0, None)


@pytest.mark.parametrize(
    ("text", "usage"),
    [
        ("/topup 1111 ①", "Usage: /topup"),
        ("/topup 5001 ٥٠", "Usage: /topup"),  # Arabic-Indic 50
        ("/topup 5001 １２", "Usage: /topup"),  # full-width 12
        ("/topup 9223372036854775808 5", "Usage: /topup"),  # 2**63: no such id in any store
        ("/topup 99999999999999999999999 5", "Usage: /topup"),
        ("/deduct ５００１ 5", "Usage: /deduct"),
        ("/topup 5001 10000001", "Usage: /topup"),
        ("/user 18446744073709551616", "Usage: /user"),
        ("/user ٥٠٠١", "Usage: /user"),
        ("/refund stxSOMETHING ①", "Usage: /refund"),
        ("/refund stxSOMETHING 9223372036854775808", "Usage: /refund"),
    ],
)
async def test_admin_numbers_are_ascii_digits_within_bounds_or_the_usage(
    rig: Rig, polling: None, text: str, usage: str
) -> None:
    await rig.fund(USER, 10)
    assert (await command(rig, text)).startswith(usage)
    assert await rig.balance() == 10
    assert rig.telegram.calls_of("refundStarPayment") == []


async def test_five_stars_payments_in_one_batch_start_no_more_than_the_cap(rig: Rig) -> None:
    rig.settings.max_active_generations = 3
    async with bot_running(rig):
        await order_demo(rig)
        for _ in range(5):
            await press(rig, "Pay 5 Stars")
        invoices = await rig.telegram.wait_for(
            lambda t: (found := [c for c in t.calls_of("sendInvoice") if c.ok]) and len(found) == 5 and found
        )
    for number, invoice in enumerate(invoices):  # the user pays all five while the bot is down
        payload = rig.telegram.invoice_payloads[(USER, int(invoice.result["message_id"]))]
        charge = f"stxBATCH{number}"
        rig.telegram.charges[charge] = {
            "user_id": USER,
            "total_amount": 5,
            "invoice_payload": payload,
            "refunded": False,
        }
        paid = {
            "currency": "XTR",
            "total_amount": 5,
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge,
            "provider_payment_charge_id": "",
        }
        await rig.telegram.send_user_message(USER, {"successful_payment": paid})
    async with bot_running(rig):  # ... and the five arrive in one getUpdates batch
        answers = await rig.telegram.wait_for(
            lambda t: (
                (found := [x for x in replies(t) if "Payment received" in x]) and len(found) == 5 and found
            )
        )
    outcomes = Counter("could not be ordered" in text for text in answers)
    assert outcomes == {False: 3, True: 2}
    assert all("You already have 3 videos in progress" in text for text in answers if "could not" in text)
    generations = await rig.store.list_user_generations(USER)
    assert len(generations) == 3
    assert await rig.balance() == 10  # the two orders that did not start left their credits
    await rig.settle(*(g.id for g in generations))


async def test_one_user_flooding_is_dropped_before_any_write_and_others_are_answered(
    rig: Rig, polling: None, records: list[logging.LogRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    registered: Counter[int] = Counter()
    ensure_user = rig.store.ensure_user

    async def counting(user_id: int, **kwargs: Any) -> User:
        registered[user_id] += 1
        return await ensure_user(user_id, **kwargs)

    monkeypatch.setattr(rig.store, "ensure_user", counting)
    for number in range(200):
        await rig.telegram.send_text(USER, f"spam {number}")
    await rig.telegram.send_text(OTHER, "/help")
    # a deadline, not a delay: 201 updates in three getUpdates batches take a while on a loaded machine
    await rig.telegram.wait_for(lambda t: replies(t, OTHER), timeout=60)
    await rig.telegram.wait_for(lambda t: not t.updates and t.polls_waiting == 1, timeout=60)
    assert registered[OTHER] == 1
    assert registered[USER] < 100, "the flood was written to the database"
    assert len(replies(rig.telegram, USER)) <= registered[USER]
    dropped = [r for r in records if "sends faster than" in r.getMessage()]
    assert len(dropped) == 1 and str(USER) in dropped[0].getMessage()


async def test_a_reply_refused_by_flood_control_is_one_line_without_a_traceback(
    rig: Rig, polling: None, records: list[logging.LogRecord]
) -> None:
    rig.telegram.fail_next("sendMessage", error_code=429, retry_after=120, times=3, chat_id=USER)
    for _ in range(3):
        await rig.telegram.send_text(USER, "/help")
    await rig.telegram.wait_for(lambda t: len([c for c in t.calls_of("sendMessage") if not c.ok]) == 3)
    await rig.telegram.send_text(OTHER, "/help")
    await rig.telegram.wait_for(lambda t: replies(t, OTHER))
    await rig.telegram.wait_for(lambda t: not t.updates and t.polls_waiting == 1)
    refused = [r for r in records if "Flood control" in r.getMessage()]
    assert len(refused) == 3
    assert all("\n" not in r.getMessage() and r.levelno == logging.WARNING for r in refused)
    assert not [r for r in records if r.exc_info is not None], "no traceback anywhere"


async def test_hostile_requests_to_the_web_app_get_a_4xx_and_leave_no_secret_in_the_log(
    rig: Rig, records: list[logging.LogRecord]
) -> None:
    app = build_web_app(poller=rig.poller, providers=rig.providers, settings=rig.settings, media=rig.media)
    dispatcher = build_dispatcher(rig.services)
    WebhookHandler(dispatcher=dispatcher, bot=rig.bot, secret_token=WEBHOOK_SECRET).register(app, path="/tg")
    runner = await start_web_app(app, host="127.0.0.1", port=0)
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    token = rig.settings.callback_token("runware")
    secret = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    update = {
        "update_id": 77,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": USER, "type": "private"},
            "from": {"id": USER, "is_bot": False, "first_name": "Ann"},
            "text": "/help",
        },
    }
    statuses = {}
    try:
        async with aiohttp.ClientSession() as http:
            for name, method, path, kwargs in [
                ("token-non-ascii", "POST", "/callbacks/runware/tökén", {"data": b"{}"}),
                ("token-right", "POST", f"/callbacks/runware/{token}", {"data": b"{}"}),
                ("sig-non-ascii", "GET", "/media/1/x.mp4?exp=99999999999&sig=sïg", {}),
                ("sig-bytes", "GET", "/media/1/x.mp4?exp=99999999999&sig=%ff%fe", {}),
                ("exp-huge", "GET", f"/media/1/x.mp4?exp={'9' * 5000}&sig=s", {}),
                ("hook-no-secret", "POST", "/tg", {"data": b"{not json"}),
                ("hook-bad-json", "POST", "/tg", {"data": b"{not json", "headers": secret}),
                ("hook-not-utf8", "POST", "/tg", {"data": b"\xff\xfe", "headers": secret}),
                ("hook-array", "POST", "/tg", {"data": b"[]", "headers": secret}),
                ("hook-no-update", "POST", "/tg", {"json": {"update_id": "x"}, "headers": secret}),
                ("hook-update", "POST", "/tg", {"json": update, "headers": secret}),
            ]:
                async with http.request(method, base + path, **kwargs) as response:
                    statuses[name] = response.status
            await rig.telegram.wait_for(lambda t: replies(t, USER))  # the real update was handled
    finally:
        await runner.cleanup()
    media_links = 403 if isinstance(rig.media, LocalMediaStore) else 404  # Supabase signs its own links
    assert statuses == {
        "token-non-ascii": 404,
        "token-right": 404,  # Runware has no key in the rig: its callbacks are not accepted
        "sig-non-ascii": media_links,
        "sig-bytes": media_links,
        "exp-huge": media_links,
        "hook-no-secret": 401,
        "hook-bad-json": 400,
        "hook-not-utf8": 400,
        "hook-array": 400,
        "hook-no-update": 400,
        "hook-update": 200,
    }
    text = "\n".join(f"{r.name} {r.getMessage()}" for r in records)
    assert token not in text and WEBHOOK_SECRET not in text
    web_app_paths = ("/callbacks/", "/media/", "/tg ")  # (the fake Bot API writes its own access log)
    assert not [
        r for r in records if r.name == "aiohttp.access" and any(p in r.getMessage() for p in web_app_paths)
    ]
    assert not [r for r in records if r.exc_info is not None], "no traceback anywhere"
