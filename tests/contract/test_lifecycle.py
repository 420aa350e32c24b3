"""The generation lifecycle service on each backend: create → run → succeed/fail/cancel, money exact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from services.catalog import load_catalog
from services.generations import GenerationService, Ignored, Invalid, LimitReached, Succeeded
from services.providers.registry import Providers
from services.settings import Settings
from services.video_request import ImageRef, VideoRequest
from services.wallet import Wallet
from storage.interfaces import media_path
from storage.records import (
    AlreadyApplied,
    Applied,
    GenerationCreated,
    GenerationStatus,
    InsufficientFunds,
    LedgerKind,
    NotRefundable,
    Refunded,
)
from tests.conftest import BackendUnderTest

DEMO = VideoRequest(model="demo", mode="t2v", prompt="a red fox in the snow")


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(backend: BackendUnderTest, settings: Settings, clock: Clock) -> GenerationService:
    return GenerationService(backend.store, load_catalog(), settings, Providers(settings), clock=clock)


async def funded(backend: BackendUnderTest, user_id: int = 1, credits: int = 100) -> None:
    await backend.store.ensure_user(user_id)
    if credits:
        await Wallet(backend.store).admin_adjust(
            admin_id=1, operation_id=user_id, user_id=user_id, delta=credits
        )


async def stored_video(backend: BackendUnderTest, user_id: int, generation_id: str) -> str:
    async def body() -> AsyncIterator[bytes]:
        yield b"\x00\x00\x00\x18ftypmp42"

    path = media_path(user_id, generation_id)
    await backend.media.write(path, body())
    return path


async def test_create_validates_prices_and_debits(
    backend: BackendUnderTest, service: GenerationService
) -> None:
    await funded(backend, credits=12)
    result = await service.create(user_id=1, chat_id=1, request=DEMO)
    assert isinstance(result, GenerationCreated)
    gen = result.generation
    assert gen.cost == 5 == service.price(DEMO)
    assert result.balance == 7
    assert gen.request["duration"] == 4, "defaults are stored, so a regenerate repeats the same video"
    assert gen.request["resolution"] == "720p"
    assert gen.deadline_at == gen.created_at + timedelta(minutes=5), "demo provider hard timeout"


async def test_invalid_request_charges_nothing(backend: BackendUnderTest, service: GenerationService) -> None:
    await funded(backend, credits=50)
    bad = VideoRequest(model="demo", mode="i2v", prompt=" ", duration=7)
    result = await service.create(user_id=1, chat_id=1, request=bad)
    assert isinstance(result, Invalid)
    assert {p.key for p in result.problems} == {
        "error-duration-not-allowed",
        "error-prompt-empty",
        "error-first-frame-required",
    }
    unavailable = await service.create(
        user_id=1, chat_id=1, request=DEMO.model_copy(update={"model": "veo-3.1"})
    )
    assert isinstance(unavailable, Invalid)
    assert unavailable.problems[0].key == "error-model-unavailable"
    assert await backend.store.count_active_generations(1) == 0
    assert (await backend.store.get_user(1)).balance == 50  # type: ignore[union-attr]


async def test_short_of_credits_reports_the_shortfall(
    backend: BackendUnderTest, service: GenerationService
) -> None:
    await funded(backend, credits=3)
    result = await service.create(user_id=1, chat_id=1, request=DEMO)
    assert isinstance(result, InsufficientFunds)
    assert (result.balance, result.required, result.shortfall) == (3, 5, 2)


async def test_happy_path_to_delivery(
    backend: BackendUnderTest, service: GenerationService, clock: Clock
) -> None:
    await funded(backend)
    created = await service.create(user_id=1, chat_id=1, request=DEMO, request_key="cb-1")
    assert isinstance(created, GenerationCreated)
    gen_id = created.generation.id
    running = await service.mark_running(gen_id, provider="demo", provider_model_id="demo-clip", task_id="T1")
    assert running is not None
    assert running.deadline_at == clock.now + timedelta(minutes=5)
    assert running.next_poll_at == clock.now + timedelta(seconds=10)
    assert await service.mark_running(gen_id, provider="demo", provider_model_id="x", task_id="T2") is None
    path = await stored_video(backend, 1, gen_id)
    done = await service.mark_succeeded(gen_id, result_path=path)
    assert isinstance(done, Succeeded)
    assert not done.late
    duplicate = await service.mark_succeeded(gen_id, result_path=path)
    assert isinstance(duplicate, Ignored), "a duplicate callback changes nothing"
    delivered = await service.mark_delivered(gen_id, file_id="BAACAgIAAxk")
    assert delivered is not None
    assert delivered.status is GenerationStatus.DELIVERED
    assert await service.mark_delivered(gen_id, file_id="other") is None
    assert await service.fail(gen_id, code="late-error") == NotRefundable(delivered)
    assert (await backend.store.get_user(1)).balance == 95  # type: ignore[union-attr]


async def test_a_create_is_recorded_once_before_it_is_sent(
    backend: BackendUnderTest, service: GenerationService, clock: Clock
) -> None:
    """One create on record at a time, only while queued; a refused one is forgotten; a produced result
    kept at mark_running; an uncertain one refunded and counted in /stats."""
    await funded(backend)
    created = await service.create(user_id=1, chat_id=1, request=DEMO)
    assert isinstance(created, GenerationCreated)
    gen_id = created.generation.id
    assert created.generation.submit_request_id is None and created.generation.submit_started_at is None
    started = await service.begin_submit(
        gen_id, request_id="R1", provider="demo", provider_model_id="demo-clip"
    )
    assert started is not None and started.status is GenerationStatus.QUEUED
    assert (started.submit_request_id, started.submit_started_at) == ("R1", clock.now)
    assert (started.route_provider, started.route_model_id) == ("demo", "demo-clip")
    again = await service.begin_submit(
        gen_id, request_id="R2", provider="demo", provider_model_id="demo-clip"
    )
    assert again is None, "a second create waits until the first is settled"
    await service.end_submit(gen_id, request_id="R2")  # not the create on record: nothing happens
    assert (await backend.store.get_generation(gen_id)).submit_request_id == "R1"  # type: ignore[union-attr]
    await service.end_submit(gen_id, request_id="R1")
    assert (await backend.store.get_generation(gen_id)).submit_request_id is None  # type: ignore[union-attr]
    assert await service.begin_submit(gen_id, request_id="R3", provider="demo", provider_model_id="demo-clip")
    running = await service.mark_running(
        gen_id,
        provider="demo",
        provider_model_id="demo-clip",
        task_id="T1",
        provider_result="https://cdn/v.mp4",
    )
    assert running is not None and running.provider_result == "https://cdn/v.mp4"
    assert running.submit_request_id == "R3", "the record of the create stays with the generation"
    assert await service.begin_submit(gen_id, request_id="R4", provider="demo", provider_model_id="x") is None

    other = await service.create(user_id=1, chat_id=1, request=DEMO)
    assert isinstance(other, GenerationCreated)
    await service.begin_submit(other.generation.id, request_id="R5", provider="demo", provider_model_id="d")
    assert isinstance(await service.fail(other.generation.id, code="uncertain_submit"), Refunded)
    figures = await backend.store.stats(since=clock.now - timedelta(minutes=1))
    assert figures.uncertain_submits == 1
    assert (await backend.store.stats(since=clock.now + timedelta(minutes=1))).uncertain_submits == 0


async def test_failure_refunds_exactly_once(backend: BackendUnderTest, service: GenerationService) -> None:
    await funded(backend)
    created = await service.create(user_id=1, chat_id=1, request=DEMO)
    assert isinstance(created, GenerationCreated)
    gen_id = created.generation.id
    await service.mark_running(gen_id, provider="demo", provider_model_id="demo-clip", task_id="T1")
    first = await service.fail(gen_id, code="safety", message="filtered")
    assert isinstance(first, Refunded)
    assert first.balance == 100
    for _ in range(3):
        assert isinstance(await service.fail(gen_id, code="safety"), NotRefundable)
    refunds = [e for e in await backend.store.list_ledger(1) if e.kind is LedgerKind.REFUND]
    assert len(refunds) == 1


async def test_late_success_after_refund_is_kept_and_free(
    backend: BackendUnderTest, service: GenerationService
) -> None:
    await funded(backend)
    created = await service.create(user_id=1, chat_id=1, request=DEMO)
    assert isinstance(created, GenerationCreated)
    gen_id = created.generation.id
    await service.mark_running(gen_id, provider="demo", provider_model_id="demo-clip", task_id="T1")
    assert isinstance(await service.fail(gen_id, code="timeout"), Refunded)
    path = await stored_video(backend, 1, gen_id)
    late = await service.mark_succeeded(gen_id, result_path=path)
    assert isinstance(late, Succeeded)
    assert late.late
    assert late.generation.status is GenerationStatus.FAILED, "the refund stands"
    assert isinstance(await service.mark_succeeded(gen_id, result_path=path), Ignored)
    delivered = await service.mark_delivered(gen_id, file_id="F")
    assert delivered is not None
    assert delivered.file_id == "F"
    assert delivered.delivered_at is not None
    assert await service.mark_delivered(gen_id, file_id="F2") is None, "delivered once"
    assert (await backend.store.get_user(1)).balance == 100


async def test_cancel_only_by_owner_and_only_while_stoppable(
    backend: BackendUnderTest, service: GenerationService
) -> None:
    await funded(backend, 1)
    await funded(backend, 2, credits=0)
    first = await service.create(user_id=1, chat_id=1, request=DEMO)
    second = await service.create(user_id=1, chat_id=1, request=DEMO)
    assert isinstance(first, GenerationCreated)
    assert isinstance(second, GenerationCreated)
    assert await service.refund_cancelled(
        first.generation.id, user_id=2, provider_stopped=True
    ) == NotRefundable(None)
    assert await service.get_for_user(first.generation.id, 2) is None, "another user's id looks unknown"
    assert isinstance(
        await service.refund_cancelled(first.generation.id, user_id=1, provider_stopped=False), Refunded
    )

    await service.mark_running(second.generation.id, provider="demo", provider_model_id="d", task_id="T")
    refused = await service.refund_cancelled(second.generation.id, user_id=1, provider_stopped=False)
    assert isinstance(refused, NotRefundable)
    cancelled = await service.refund_cancelled(second.generation.id, user_id=1, provider_stopped=True)
    assert isinstance(cancelled, Refunded)
    assert cancelled.generation.status is GenerationStatus.CANCELLED
    assert (await backend.store.get_user(1)).balance == 100  # type: ignore[union-attr]


async def test_image_modes_need_their_images(backend: BackendUnderTest, service: GenerationService) -> None:
    await funded(backend)
    image = ImageRef(source="AgACAgIAAxkBAAI", mime_type="image/jpeg", width=1280, height=720)
    ok = VideoRequest(model="demo", mode="fl2v", prompt="morph", first_frame=image, last_frame=image)
    assert isinstance(await service.create(user_id=1, chat_id=1, request=ok), GenerationCreated)
    refs = VideoRequest(model="demo", mode="ref2v", prompt="p", reference_images=(image,) * 4)
    result = await service.create(user_id=1, chat_id=1, request=refs)
    assert isinstance(result, Invalid)
    assert result.problems[0].params == {"max": 3, "count": 4}


async def test_wallet_operations(backend: BackendUnderTest) -> None:
    wallet = Wallet(backend.store)
    await backend.store.ensure_user(9)
    bought = await wallet.purchase(user_id=9, charge_id="ch1", stars=100, credits=100, payload="pack:0")
    assert isinstance(bought, Applied)
    assert await wallet.balance(9) == 100
    spent = await wallet.debit(user_id=9, amount=30, key="upscale:x", reason="1080p upgrade")
    assert isinstance(spent, Applied)
    assert isinstance(await wallet.debit(user_id=9, amount=30, key="upscale:x"), AlreadyApplied)
    assert await wallet.balance(9) == 70
    short = await wallet.admin_adjust(admin_id=1, operation_id=77, user_id=9, delta=-71, reason="abuse")
    assert isinstance(short, InsufficientFunds)
    assert short.shortfall == 1
    with pytest.raises(ValueError, match="reserved"):
        await wallet.debit(user_id=9, amount=1, key="gen:fake")
    with pytest.raises(ValueError, match="zero"):
        await wallet.admin_adjust(admin_id=1, operation_id=78, user_id=9, delta=0)
    assert [e.kind for e in await wallet.history(9)] == [LedgerKind.DEBIT, LedgerKind.PURCHASE]
    assert await wallet.balance(12345) == 0


async def test_per_user_limits_stop_orders_before_any_charge(
    backend: BackendUnderTest, settings: Settings, clock: Clock
) -> None:
    settings.max_active_generations, settings.max_submits_per_minute = 2, 3
    service = GenerationService(backend.store, load_catalog(), settings, Providers(settings), clock=clock)
    await funded(backend, credits=100)
    await funded(backend, user_id=2, credits=100)
    for _ in range(2):
        assert isinstance(await service.create(user_id=1, chat_id=1, request=DEMO), GenerationCreated)
    assert await service.create(user_id=1, chat_id=1, request=DEMO) == LimitReached("active", 2)
    assert isinstance(await service.create(user_id=2, chat_id=2, request=DEMO), GenerationCreated), "per user"

    [first, _] = await backend.store.list_user_generations(1)
    await service.fail(first.id, code="provider_failed")
    assert isinstance(await service.create(user_id=1, chat_id=1, request=DEMO), GenerationCreated)
    assert await backend.store.count_active_generations(1) == 2
    for gen in await backend.store.list_user_generations(1):
        await service.fail(gen.id, code="provider_failed")
    assert await service.create(user_id=1, chat_id=1, request=DEMO) == LimitReached("rate", 3)
    clock.now += timedelta(seconds=61)
    assert isinstance(await service.create(user_id=1, chat_id=1, request=DEMO), GenerationCreated)
    assert (await backend.store.get_user(1)).balance == 100 - 5  # type: ignore[union-attr]
