"""The invariant checker itself: it must see each kind of broken books, or the other tests prove nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from storage.records import ACTIVE_STATUSES, GenerationStatus, NewPayment
from tests.conftest import BackendUnderTest
from tests.contract.test_generations import fund, new_generation

NOW = datetime.now(UTC).replace(microsecond=0)


async def one_chunk() -> AsyncIterator[bytes]:
    yield b"v"


async def test_clean_books_pass(backend: BackendUnderTest) -> None:
    await fund(backend, 1, 50)
    await backend.store.record_payment(NewPayment("c1", user_id=1, stars=10, credits=10, payload="p"))
    await backend.store.create_generation(new_generation("g1"))
    assert await backend.violations() == []


async def test_overdue_generation_breaks_invariant_4(backend: BackendUnderTest) -> None:
    await fund(backend, 1, 50)
    await backend.store.create_generation(new_generation("g1", at=NOW - timedelta(hours=1)))
    found = await backend.violations(now=NOW, poll_interval=10)
    assert len(found) == 1
    assert found[0].startswith("invariant 4 broken for generation g1")
    assert await backend.violations(now=NOW - timedelta(minutes=30), poll_interval=10) == [], "within grace"
    await backend.store.end_with_refund(
        "g1",
        to=GenerationStatus.FAILED,
        allowed_from=ACTIVE_STATUSES,
        error_code="timeout",
        error_message=None,
        now=NOW,
    )
    assert await backend.violations(now=NOW) == []


async def test_produced_video_missing_from_media_breaks_invariant_5(backend: BackendUnderTest) -> None:
    await fund(backend, 1, 50)
    await backend.store.create_generation(new_generation("g1"))
    await backend.store.transition_generation(
        "g1",
        to=GenerationStatus.SUCCEEDED,
        allowed_from=ACTIVE_STATUSES,
        fields={"result_path": "1/g1.mp4"},
        now=NOW,
    )
    found = await backend.violations()
    assert [v.split(":")[0] for v in found] == ["invariant 5 broken for generation g1"]
    await backend.media.write("1/g1.mp4", one_chunk())
    assert await backend.violations() == []
