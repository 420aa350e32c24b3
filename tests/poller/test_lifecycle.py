"""The poller end to end: provider fakes → poller → media store → real Bot → fake Bot API."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import timedelta

from PIL import Image

from services.delivery import MAX_DELIVERY_ATTEMPTS
from services.video_request import ImageRef
from storage.interfaces import media_path
from storage.records import GenerationStatus, LedgerKind
from tests.fakes.providers.openai_videos import MP4_HEAD
from tests.poller.conftest import USER, Rig


async def ledger_kinds(rig: Rig, user_id: int = USER) -> list[LedgerKind]:
    return sorted(e.kind for e in await rig.store.list_ledger(user_id))


async def test_success_after_several_polls_is_stored_and_delivered_once(rig: Rig) -> None:
    await rig.fund()
    rig.openai.polls_to_complete = 3
    generation = await rig.order("a red fox in the snow")
    assert await rig.balance() == 90

    await rig.tick()
    running = await rig.get(generation.id)
    assert running.status is GenerationStatus.RUNNING
    assert running.route_provider == "openai" and running.provider_task_id
    assert running.status_message_id is not None, "a progress message was sent"
    await rig.settle(generation.id)

    done = await rig.get(generation.id)
    assert done.status is GenerationStatus.DELIVERED
    assert done.result_path == media_path(USER, generation.id)
    stored = b"".join([chunk async for chunk in rig.media.read(done.result_path)])
    assert stored == rig.openai.video_bytes
    videos = rig.telegram.calls_of("sendVideo")
    assert len(videos) == 1
    sent = videos[0]
    assert sent.params["chat_id"] == str(USER)
    assert sent.params["supports_streaming"] == "true"
    assert (sent.params["width"], sent.params["height"], sent.params["duration"]) == ("1280", "720", "4")
    assert "Test Clip" in sent.params["caption"] and "a red fox in the snow" in sent.params["caption"]
    assert sum(f.size for f in sent.files.values()) == len(rig.openai.video_bytes)
    assert done.file_id is not None and done.file_id in rig.telegram.files
    assert rig.telegram.calls_of("deleteMessage"), "the progress message is removed after delivery"
    assert await rig.balance() == 90
    assert await ledger_kinds(rig) == [LedgerKind.ADMIN, LedgerKind.DEBIT]


async def test_provider_429_storm_backs_off_with_the_hint_and_then_delivers(rig: Rig) -> None:
    await rig.fund()
    generation = await rig.order()
    await rig.tick()
    rig.openai.fail_next("retrieve", 429, headers={"Retry-After": "120"})
    before = rig.clock.now
    await rig.poller.tick()
    backed_off = await rig.get(generation.id)
    assert backed_off.status is GenerationStatus.RUNNING
    assert backed_off.attempts == 1
    assert backed_off.next_poll_at is not None and backed_off.next_poll_at >= before + timedelta(seconds=120)
    rig.clock.advance(seconds=10)
    await rig.poller.tick()
    assert rig.openai.hits["retrieve"] == 1, "not polled again before the provider's hint"
    rig.clock.advance(seconds=300)
    rig.openai.fail_next("retrieve", 429, headers={"Retry-After": "1"}, times=2)
    await rig.settle(generation.id)
    assert (await rig.get(generation.id)).status is GenerationStatus.DELIVERED
    assert 1.0 in rig.provider_sleeps, "short hints are waited out inside the transport"


async def test_provider_5xx_is_retried_with_backoff_never_failed(rig: Rig) -> None:
    await rig.fund()
    generation = await rig.order()
    await rig.tick()
    rig.openai.fail_next("retrieve", 503, times=8)
    for expected_attempts in (1, 2):
        await rig.poller.tick()
        row = await rig.get(generation.id)
        assert row.status is GenerationStatus.RUNNING and row.attempts == expected_attempts
        rig.clock.advance(seconds=600)
    await rig.settle(generation.id)
    done = await rig.get(generation.id)
    assert done.status is GenerationStatus.DELIVERED and done.attempts == 0
    assert await rig.balance() == 90


async def test_content_policy_at_submit_is_final_refunded_and_explained(rig: Rig) -> None:
    await rig.fund()
    generation = await rig.order("something forbidden here")
    await rig.settle(generation.id)
    failed = await rig.get(generation.id)
    assert failed.status is GenerationStatus.FAILED and failed.error_code == "content_policy"
    assert rig.laozhang.hits["create"] == 0, "a content-policy refusal never fails over"
    assert await rig.balance() == 100
    assert await ledger_kinds(rig) == [LedgerKind.ADMIN, LedgerKind.DEBIT, LedgerKind.REFUND]
    texts = [c.params["text"] for c in rig.telegram.calls_of("sendMessage")]
    assert any("safety filter" in t and "10 credits have been returned" in t for t in texts)


async def test_content_policy_while_running_refunds_once(rig: Rig) -> None:
    await rig.fund()
    rig.openai.outcome = "moderation"
    generation = await rig.order()
    await rig.settle(generation.id)
    failed = await rig.get(generation.id)
    assert failed.status is GenerationStatus.FAILED and failed.error_code == "content_policy"
    await rig.poller.tick()  # nothing left to do: no second refund, no second message
    assert await ledger_kinds(rig) == [LedgerKind.ADMIN, LedgerKind.DEBIT, LedgerKind.REFUND]
    assert await rig.balance() == 100
    status_edits = [c for c in rig.telegram.calls_of("editMessageText") if "returned" in c.params["text"]]
    assert len(status_edits) == 1, "the progress message turns into the failure notice"


async def test_done_without_a_video_is_a_refunded_failure(rig: Rig) -> None:
    await rig.fund()
    generation = await rig.order("noresult please", model="demo")
    await rig.settle(generation.id)
    failed = await rig.get(generation.id)
    assert failed.status is GenerationStatus.FAILED and failed.error_code == "no_video"
    assert await rig.balance() == 100
    texts = [
        c.params["text"]
        for c in rig.telegram.requests
        if c.method.lower() in ("sendmessage", "editmessagetext")
    ]
    assert any("without a video" in t and "5 credits" in t for t in texts)


async def test_expired_result_url_fails_with_refund(rig: Rig) -> None:
    await rig.fund()
    rig.openai.expired = True
    generation = await rig.order()
    await rig.settle(generation.id)
    failed = await rig.get(generation.id)
    assert failed.status is GenerationStatus.FAILED and failed.error_code == "download_failed"
    assert failed.result_path is None
    assert await rig.balance() == 100


async def test_hard_timeout_ends_a_stuck_generation_with_one_refund(rig: Rig) -> None:
    await rig.fund()
    rig.openai.polls_to_complete = 10_000
    generation = await rig.order()
    await rig.tick()
    running = await rig.get(generation.id)
    rig.clock.now = running.deadline_at + timedelta(seconds=1)
    await rig.poller.sweep()
    failed = await rig.get(generation.id)
    assert failed.status is GenerationStatus.FAILED and failed.error_code == "timeout"
    await rig.poller.sweep()
    await rig.poller.tick()
    assert await ledger_kinds(rig) == [LedgerKind.ADMIN, LedgerKind.DEBIT, LedgerKind.REFUND]
    texts = [
        c.params["text"]
        for c in rig.telegram.requests
        if c.method.lower() in ("sendmessage", "editmessagetext")
    ]
    assert any("took too long" in t for t in texts)


async def test_a_last_poll_at_the_deadline_still_delivers_a_finished_video(rig: Rig) -> None:
    await rig.fund()
    rig.openai.polls_to_complete = 0  # done by the first poll, which comes only at the deadline
    generation = await rig.order()
    await rig.poller.tick()  # submitted
    rig.clock.now = (await rig.get(generation.id)).deadline_at + timedelta(seconds=1)
    await rig.poller.sweep()
    assert (await rig.get(generation.id)).status is GenerationStatus.DELIVERED
    assert await rig.balance() == 90


async def test_failover_to_the_next_route_when_the_first_is_unauthorized(rig: Rig) -> None:
    await rig.fund()
    rig.openai.fail_next("create", 401, message="Incorrect API key provided", code="invalid_api_key")
    generation = await rig.order()
    await rig.settle(generation.id)
    done = await rig.get(generation.id)
    assert done.status is GenerationStatus.DELIVERED
    assert done.route_provider == "laozhang"
    assert rig.openai.hits["create"] == 1 and rig.laozhang.hits["create"] == 1


async def test_failover_on_out_of_balance_and_5xx_then_refund_when_every_route_refuses(rig: Rig) -> None:
    await rig.fund()
    rig.openai.fail_next("create", 429, message="You exceeded your current quota", code="insufficient_quota")
    rig.laozhang.fail_next("create", 401, message="invalid token")
    generation = await rig.order()
    await rig.settle(generation.id)
    failed = await rig.get(generation.id)
    assert failed.status is GenerationStatus.FAILED and failed.error_code == "no_route"
    assert await rig.balance() == 100


async def test_every_route_down_waits_and_submits_later(rig: Rig) -> None:
    await rig.fund()
    for fake in (rig.openai, rig.laozhang):
        fake.fail_next("create", 503, times=4)  # one tick: 4 attempts per route inside the transport
    generation = await rig.order()
    await rig.poller.tick()
    waiting = await rig.get(generation.id)
    assert waiting.status is GenerationStatus.QUEUED and waiting.attempts == 1
    rig.clock.advance(seconds=600)
    await rig.settle(generation.id)
    assert (await rig.get(generation.id)).status is GenerationStatus.DELIVERED


async def test_video_over_the_upload_limit_is_sent_as_a_working_link(rig: Rig) -> None:
    await rig.fund()
    too_big = rig.settings.upload_limit_bytes + 1
    rig.openai.video_bytes = MP4_HEAD + b"\x00" * (too_big - len(MP4_HEAD))
    generation = await rig.order()
    await rig.settle(generation.id)
    done = await rig.get(generation.id)
    assert done.status is GenerationStatus.DELIVERED and done.file_id is None
    assert rig.telegram.calls_of("sendVideo") == []
    links = [c.params["text"] for c in rig.telegram.calls_of("sendMessage") if "/media/" in c.params["text"]]
    assert len(links) == 1 and "https://bot.example/media/" in links[0]
    assert await rig.media.size(done.result_path or "") == rig.settings.upload_limit_bytes + 1


async def test_a_server_with_a_smaller_limit_than_configured_gets_a_link_instead(rig: Rig) -> None:
    await rig.fund()
    rig.telegram.upload_limit_bytes = len(rig.openai.video_bytes) - 1
    generation = await rig.order()
    await rig.settle(generation.id)
    done = await rig.get(generation.id)
    assert done.status is GenerationStatus.DELIVERED and done.file_id is None
    # The fake answers 413 before reading the whole upload, so the client may also see a dropped
    # connection first (retried), exactly as with a real server.
    assert {c.error_code for c in rig.telegram.calls_of("sendVideo")} == {413}
    assert any("/media/" in c.params["text"] for c in rig.telegram.calls_of("sendMessage"))


async def test_blocked_user_keeps_the_video_and_is_marked(rig: Rig) -> None:
    await rig.fund()
    rig.telegram.block(USER)
    generation = await rig.order()
    await rig.settle(generation.id)
    kept = await rig.get(generation.id)
    assert kept.status is GenerationStatus.SUCCEEDED and kept.next_poll_at is None
    assert kept.result_path is not None and await rig.media.exists(kept.result_path)
    user = await rig.store.get_user(USER)
    assert user is not None and user.blocked
    assert await rig.balance() == 90, "a produced video is never refunded"


async def test_telegram_flood_control_is_retried_then_deferred_then_delivered(rig: Rig) -> None:
    await rig.fund()
    generation = await rig.order()
    await rig.tick()
    rig.telegram.fail_next(
        "sendVideo", error_code=429, description="Too Many Requests: retry after 5", retry_after=5, times=4
    )
    await rig.settle(generation.id)
    done = await rig.get(generation.id)
    assert done.status is GenerationStatus.DELIVERED
    assert rig.telegram_sleeps.count(5) >= 2, "the session middleware waits Telegram's retry_after"
    assert [c.error_code for c in rig.telegram.calls_of("sendVideo")] == [429, 429, 429, 429, None]


async def test_delivery_gives_up_after_many_transient_failures_but_keeps_the_video(rig: Rig) -> None:
    await rig.fund()
    generation = await rig.order()
    await rig.tick()
    rig.telegram.fail_next("sendVideo", error_code=500, description="Internal Server Error", times=1000)
    for _ in range(MAX_DELIVERY_ATTEMPTS + 2):
        await rig.poller.tick()
        rig.clock.advance(seconds=3600)
    kept = await rig.get(generation.id)
    assert kept.status is GenerationStatus.SUCCEEDED and kept.next_poll_at is None
    assert await rig.balance() == 90


async def test_progress_edits_are_throttled_and_unchanged_text_is_fine(rig: Rig) -> None:
    await rig.fund()
    rig.openai.polls_to_complete = 20
    generation = await rig.order()
    await rig.poller.tick()
    for _ in range(12):
        rig.clock.advance(seconds=5)
        await rig.poller.tick()
    edits = rig.telegram.calls_of("editMessageText")
    # 60 s of polling every 5 s with PROGRESS_EDIT_SECONDS=15: about one edit per 15 s, not 12.
    assert 2 <= len(edits) <= 5
    assert all(c.error_code in (None, 400) for c in edits)
    await rig.settle(generation.id)


async def test_a_long_prompt_is_cut_to_fit_telegrams_caption_limit(rig: Rig) -> None:
    await rig.fund()
    prompt = "a very long description of a scene " * 57  # 1995 characters, within the model's 2000
    generation = await rig.order(prompt.strip())
    await rig.settle(generation.id)
    assert (await rig.get(generation.id)).status is GenerationStatus.DELIVERED
    caption = rig.telegram.calls_of("sendVideo")[0].params["caption"]
    assert len(caption) <= 1024 and caption.endswith("…") and caption.startswith("🎬 Test Clip")


async def test_messages_use_the_users_language(rig: Rig) -> None:
    await rig.fund(language="ru")
    generation = await rig.order("forbidden")
    await rig.settle(generation.id)
    texts = [
        c.params["text"]
        for c in rig.telegram.requests
        if c.method.lower() in ("sendmessage", "editmessagetext")
    ]
    assert any("Фильтр безопасности" in t and "10 кредитов возвращено" in t for t in texts)


async def test_remix_goes_to_the_provider_that_made_the_source(rig: Rig) -> None:
    await rig.fund()
    rig.openai.fail_next("create", 401, message="bad key", code="invalid_api_key")
    source = await rig.order("a paper boat")
    await rig.settle(source.id)
    made = await rig.get(source.id)
    assert made.route_provider == "laozhang"
    remix = await rig.order("the same boat, at night", mode="remix", source_generation_id=source.id)
    await rig.settle(remix.id)
    done = await rig.get(remix.id)
    assert done.status is GenerationStatus.DELIVERED and done.route_provider == "laozhang"
    assert rig.laozhang.hits["remix"] == 1 and rig.openai.hits["remix"] == 0
    remixed = rig.laozhang.videos[done.provider_task_id or ""]
    assert remixed.remixed_from == made.provider_task_id


async def test_someone_elses_video_cannot_be_remixed(rig: Rig) -> None:
    await rig.fund()
    await rig.fund(USER + 1)
    source = await rig.order("mine")
    await rig.settle(source.id)
    theft = await rig.order("yours now", mode="remix", source_generation_id=source.id, user_id=USER + 1)
    await rig.settle(theft.id)
    failed = await rig.get(theft.id)
    assert failed.status is GenerationStatus.FAILED and failed.error_code == "source_unavailable"
    assert rig.openai.hits["remix"] == 0
    assert await rig.balance(USER + 1) == 100


async def test_a_model_removed_from_the_catalog_before_submit_is_refunded(rig: Rig) -> None:
    await rig.fund()
    generation = await rig.order()
    rig.generations.offers.pop("clip")
    await rig.settle(generation.id)
    failed = await rig.get(generation.id)
    assert failed.status is GenerationStatus.FAILED and failed.error_code == "model_unavailable"
    assert await rig.balance() == 100


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, "PNG")
    return buffer.getvalue()


async def test_image_to_video_reads_the_upload_back_from_the_media_store(rig: Rig) -> None:
    await rig.fund()

    async def chunks() -> AsyncIterator[bytes]:
        yield png(1600, 900)

    await rig.media.write(f"inputs/{USER}/frame.png", chunks(), content_type="image/png")
    frame = ImageRef(source=f"inputs/{USER}/frame.png", mime_type="image/png", width=1600, height=900)
    generation = await rig.order("the frame comes alive", mode="i2v", first_frame=frame)
    await rig.settle(generation.id)
    assert (await rig.get(generation.id)).status is GenerationStatus.DELIVERED
    [create] = [r for r in rig.openai.requests if r.endpoint == "create"]
    assert [(name, size) for name, _file, _type, size in create.files] == [("input_reference", (1280, 720))]


async def test_a_missing_upload_is_refunded(rig: Rig) -> None:
    await rig.fund()
    frame = ImageRef(source=f"inputs/{USER}/gone.png", mime_type="image/png", width=1600, height=900)
    generation = await rig.order("the frame comes alive", mode="i2v", first_frame=frame)
    await rig.settle(generation.id)
    failed = await rig.get(generation.id)
    assert failed.status is GenerationStatus.FAILED and failed.error_code == "image_unavailable"
    assert rig.openai.hits["create"] == 0
    assert await rig.balance() == 100
