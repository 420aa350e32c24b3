"""The gallery's HTTP API over the real services, on both stores: who may call it, whose rows it shows and
touches, and that its regenerate moves money exactly as the chat's does (invariants checked by the rig)."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

import pytest

from bot.i18n import Translator
from storage.records import GenerationStatus, LedgerKind
from tests.conftest import TOKEN
from tests.poller.conftest import USER
from tests.webapp.conftest import OTHER, Gallery, sign_init_data

UNAUTHORIZED = {"error": "unauthorized"}
ANY_ID = "0" * 32


def endpoints(generation_id: str) -> list[tuple[str, str, Any]]:
    return [
        ("GET", "me", None),
        ("GET", "generations", None),
        ("GET", f"generations/{generation_id}", None),
        ("GET", f"generations/{generation_id}/quote", None),
        ("POST", f"generations/{generation_id}/regenerate", {"key": uuid.uuid4().hex, "price": 5}),
        ("POST", f"generations/{generation_id}/send", None),
        ("DELETE", f"generations/{generation_id}", None),
        ("POST", "generate", None),
    ]


async def debits(gallery: Gallery, user_id: int = USER) -> list[int]:
    entries = await gallery.rig.store.list_ledger(user_id, limit=100)
    return [e.delta for e in entries if e.kind is LedgerKind.DEBIT]


async def test_missing_forged_or_expired_init_data_gets_a_bare_401_everywhere(gallery: Gallery) -> None:
    rig = gallery.rig
    await rig.fund()
    generation = await gallery.delivered("a lighthouse at night")
    balance, sent = await rig.balance(), len(rig.telegram.requests)
    refused = {
        "no header": {"authorization": None, "user": None},
        "another scheme": {"authorization": "Bearer " + sign_init_data(USER)},
        "empty": {"authorization": "tma "},
        "forged": {"init_data": sign_init_data(USER, token="42:another-bots-token-aaaaaaaaaaaaaaaaaaa")},
        "expired": {"init_data": sign_init_data(USER, auth_date=int(time.time()) - 86401)},
        "not init data": {"init_data": "hash=" + "é" * 64},
    }
    for name, how in refused.items():
        for method, path, body in endpoints(generation.id):
            status, answer = await gallery.api(method, path, body=body, **how)
            assert (status, answer) == (401, UNAUTHORIZED), (name, method, path)
    assert await rig.balance() == balance, "a refused call moves no money"
    assert len(rig.telegram.requests) == sent, "and sends nothing"
    assert (await rig.get(generation.id)).hidden_at is None


@pytest.mark.parametrize("rig_settings", [{"webapp_auth_max_age_seconds": 120}])
async def test_the_freshness_limit_comes_from_the_setting(gallery: Gallery) -> None:
    now = int(time.time())
    fresh = sign_init_data(USER, auth_date=now - 60)
    stale = sign_init_data(USER, auth_date=now - 180)
    assert (await gallery.api("GET", "me", init_data=fresh))[0] == 200
    assert await gallery.api("GET", "me", init_data=stale) == (401, UNAUTHORIZED)


async def test_a_user_sees_and_touches_only_their_own_generations(gallery: Gallery) -> None:
    rig = gallery.rig
    await rig.fund(USER)
    await rig.fund(OTHER, language="ru")
    mine = await gallery.delivered("my own video")
    theirs = await gallery.delivered("their video", user_id=OTHER)

    status, page = await gallery.api("GET", "generations", user=OTHER)
    assert status == 200 and [item["id"] for item in page["items"]] == [theirs.id]
    status, page = await gallery.api("GET", "generations", user=USER)
    assert [item["id"] for item in page["items"]] == [mine.id]

    balances, sent = (await rig.balance(USER), await rig.balance(OTHER)), len(rig.telegram.requests)
    for method, path, body in [*endpoints(mine.id), *endpoints(ANY_ID)]:
        if "/" not in path:
            continue  # me, the list and generate are about the caller alone
        status, answer = await gallery.api(method, path, user=OTHER, body=body)
        assert status == 404, (method, path, status, answer)
        assert answer == {"error": "not_found", "message": Translator()("ru", "library-not-found")}
    assert (await rig.balance(USER), await rig.balance(OTHER)) == balances
    assert len(rig.telegram.requests) == sent
    assert (await rig.get(mine.id)).hidden_at is None
    assert await gallery.rig.media.exists(mine.result_path or "")


async def test_the_list_is_newest_first_in_keyset_pages(gallery: Gallery) -> None:
    rig = gallery.rig
    await rig.fund(credits=1000)
    ordered = []
    for n in range(7):
        ordered.append(await rig.order(f"clip {n}"))
        rig.clock.advance(seconds=1)
    status, first = await gallery.api("GET", "generations")
    assert status == 200 and first["next"] is not None
    status, second = await gallery.api("GET", "generations?before=" + first["next"])
    assert status == 200 and second["next"] is None
    shown = [item["id"] for item in first["items"] + second["items"]]
    assert shown == [g.id for g in reversed(ordered)]
    assert {item["state"] for item in first["items"] + second["items"]} == {"progress"}
    assert (await gallery.api("GET", "generations?before=nonsense"))[0] == 400


async def test_regenerate_quotes_then_debits_once_per_confirmation(gallery: Gallery) -> None:
    rig = gallery.rig
    await rig.fund(credits=15)
    source = await gallery.delivered("a cat surfing a wave")
    assert await rig.balance() == 10

    status, quote = await gallery.api("GET", f"generations/{source.id}/quote")
    assert status == 200 and quote["price"] == 5
    assert "Price: 5 credits" in quote["text"] and "Your balance: 10 credits." in quote["text"]
    assert quote["button"] == "💳 Pay 5 credits"

    key = uuid.uuid4().hex
    status, placed = await gallery.api(
        "POST", f"generations/{source.id}/regenerate", body={"key": key, "price": 5}
    )
    assert status == 201, placed
    assert placed["item"]["state"] == "progress" and placed["balance"] == "Your balance: 5 credits."
    status, again = await gallery.api(
        "POST", f"generations/{source.id}/regenerate", body={"key": key, "price": 5}
    )
    assert status == 200 and again["item"]["id"] == placed["item"]["id"], (
        "a repeated confirmation orders once"
    )
    assert await rig.balance() == 5 and await debits(gallery) == [-5, -5]

    new = await rig.get(placed["item"]["id"])
    assert new.request["prompt"] == source.request["prompt"] and new.model == source.model
    assert new.request_key == f"webapp:{USER}:{key}" and new.chat_id == USER
    confirmation = Translator()("en", "wizard-started", price=5, balance=5, model="Demo")
    [notice] = [c for c in rig.telegram.calls_of("sendMessage") if c.ok and c.params["text"] == confirmation]
    assert notice.params["chat_id"] == str(USER)  # the order's confirmation, as after the chat's Pay

    status, changed = await gallery.api(
        "POST", f"generations/{source.id}/regenerate", body={"key": uuid.uuid4().hex, "price": 4}
    )
    assert (status, changed["error"], changed["price"]) == (409, "price_changed", 5)
    await rig.settle(new.id)
    status, third = await gallery.api(
        "POST", f"generations/{source.id}/regenerate", body={"key": uuid.uuid4().hex, "price": 5}
    )
    assert status == 201, third
    assert await rig.balance() == 0
    status, short = await gallery.api(
        "POST", f"generations/{source.id}/regenerate", body={"key": uuid.uuid4().hex, "price": 5}
    )
    assert (status, short["error"]) == (402, "insufficient_funds")
    assert short["message"] == Translator()("en", "insufficient-funds", price=5, balance=0, shortfall=5)
    for bad in ({"key": "short", "price": 5}, {"key": uuid.uuid4().hex, "price": "5"}, [], None):
        assert (await gallery.api("POST", f"generations/{source.id}/regenerate", body=bad))[0] == 400
    assert await rig.balance() == 0 and len(await debits(gallery)) == 3
    assert await rig.violations() == []


async def test_failed_and_cancelled_generations_say_why_and_what_came_back(gallery: Gallery) -> None:
    rig = gallery.rig
    await rig.fund()
    failed = await rig.order("a forbidden dance", model="demo")
    await rig.settle(failed.id)
    assert (await rig.get(failed.id)).status is GenerationStatus.FAILED
    status, answer = await gallery.api("GET", f"generations/{failed.id}")
    item = answer["item"]
    assert status == 200 and item["state"] == "failed" and item["video"] is None
    assert "safety filter" in item["detail"] and "5 credits have been returned" in item["detail"]
    assert item["canDelete"] and not item["canSend"]


async def test_delete_hides_the_row_and_deletes_the_video_once(gallery: Gallery) -> None:
    rig = gallery.rig
    await rig.fund()
    generation = await gallery.delivered("to be deleted")
    in_flight = await rig.order("still being made")
    status, answer = await gallery.api("DELETE", f"generations/{generation.id}")
    assert (status, answer["message"]) == (200, "Deleted from your library.")
    assert not await rig.media.exists(generation.result_path or "")
    assert (await rig.get(generation.id)).hidden_at is not None
    assert (await gallery.api("DELETE", f"generations/{generation.id}"))[0] == 404
    status, answer = await gallery.api("DELETE", f"generations/{in_flight.id}")
    assert status == 409 and answer["error"] == "not_deletable"
    status, page = await gallery.api("GET", "generations")
    assert [item["id"] for item in page["items"]] == [in_flight.id]


async def test_send_to_chat_resends_by_file_id(gallery: Gallery) -> None:
    rig = gallery.rig
    await rig.fund()
    generation = await gallery.delivered("send me again")
    before = len(rig.telegram.calls_of("sendVideo"))
    status, answer = await gallery.api("POST", f"generations/{generation.id}/send")
    assert (status, answer["message"]) == (200, "Sent to your chat with the bot.")
    [sent] = rig.telegram.calls_of("sendVideo")[before:]
    assert (
        sent.params["chat_id"] == str(USER)
        and sent.params["video"] == generation.file_id
        and sent.files == {}
    )


async def test_without_a_file_id_the_stored_video_is_uploaded_and_its_file_id_kept(gallery: Gallery) -> None:
    rig = gallery.rig
    await rig.fund()
    generation = await gallery.delivered("upload me")
    only = frozenset({GenerationStatus.DELIVERED})
    await rig.store.update_generation(
        generation.id, only_if=only, fields={"file_id": None}, now=rig.clock.now
    )
    before = len(rig.telegram.calls_of("sendVideo"))
    assert (await gallery.api("POST", f"generations/{generation.id}/send"))[0] == 200
    [uploaded] = rig.telegram.calls_of("sendVideo")[before:]
    assert uploaded.ok and uploaded.files, "uploaded from the media store"
    assert (await rig.get(generation.id)).file_id == uploaded.result["video"]["file_id"]

    # gone from the store and unknown to Telegram: nothing to send, and the page is told so
    await rig.store.update_generation(
        generation.id,
        only_if=only,
        fields={"file_id": None, "media_expired_at": rig.clock.now},
        now=rig.clock.now,
    )
    status, answer = await gallery.api("POST", f"generations/{generation.id}/send")
    assert (status, answer["message"]) == (410, Translator()("en", "library-unavailable"))
    status, answer = await gallery.api("GET", f"generations/{generation.id}")
    assert answer["item"]["state"] == "expired" and not answer["item"]["canSend"]


async def test_an_internal_failure_is_a_bare_500_and_logs_no_init_data(
    gallery: Gallery, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the store is on fire")

    monkeypatch.setattr(gallery.services.library, "page", broken)
    init_data = sign_init_data(USER)
    with caplog.at_level(logging.DEBUG):
        assert await gallery.api("GET", "generations", init_data=init_data) == (500, {"error": "internal"})
        # the last character changed (to another one: "0" when it was "0" left the signature intact)
        forged = init_data[:-1] + ("1" if init_data.endswith("0") else "0")
        assert await gallery.api("GET", "generations", init_data=forged) == (401, UNAUTHORIZED)
    assert "the store is on fire" in caplog.text  # the log has the traceback ...
    signature = dict(parse_qsl(init_data))["hash"]
    for secret in (signature, TOKEN.split(":")[1], "Ada"):
        assert secret not in caplog.text  # ... and never initData, its signature or the token


async def test_the_page_and_its_files_are_served_with_a_strict_policy(gallery: Gallery) -> None:
    http = gallery.http
    async with http.get(gallery.base + "/webapp", allow_redirects=False) as response:
        assert response.status == 308 and response.headers["Location"] == "/webapp/"
    async with http.get(gallery.url) as response:
        html = await response.text()
        policy = response.headers["Content-Security-Policy"]
    assert response.status == 200 and response.content_type == "text/html"
    assert "https://telegram.org/js/telegram-web-app.js" in html and "static/app.js" in html
    assert "script-src 'self' https://telegram.org;" in policy and "connect-src 'self'" in policy
    for name, kind in (("app.js", "javascript"), ("app.css", "text/css")):
        async with http.get(f"{gallery.url}static/{name}") as response:
            assert response.status == 200 and kind in response.content_type
    async with http.get(gallery.url + "static/%2e%2e/api.py") as response:
        assert response.status in (403, 404)
    status, texts = await gallery.api("GET", "texts?lang=zh-hans", user=None)
    assert status == 200 and texts["lang"] == "zh" and texts["texts"]["title"] == "🖼 我的视频"
    assert (await gallery.api("GET", "no-such-endpoint"))[0] == 404
    assert TOKEN not in html
