"""Storage contract: generation rows, guarded transitions, refunds, the library's pages and claiming."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage.records import (
    ACTIVE_STATUSES,
    Applied,
    GenerationCreated,
    GenerationStatus,
    InsufficientFunds,
    LedgerKind,
    NewGeneration,
    NewLedgerEntry,
    NotRefundable,
    Refunded,
)
from tests.conftest import BackendUnderTest

NOW = datetime.now(UTC).replace(microsecond=0)  # deadlines lie ahead of the final invariant check
QUEUED = frozenset({GenerationStatus.QUEUED})
RUNNING = frozenset({GenerationStatus.RUNNING})


def new_generation(
    gen_id: str, *, user_id: int = 1, cost: int = 10, at: datetime = NOW, **extra: object
) -> NewGeneration:
    values: dict[str, object] = {
        "id": gen_id,
        "user_id": user_id,
        "chat_id": user_id,
        "model": "demo",
        "mode": "t2v",
        "prompt": f"prompt {gen_id}",
        "request": {"model": "demo", "mode": "t2v", "prompt": f"prompt {gen_id}"},
        "cost": cost,
        "created_at": at,
        "deadline_at": at + timedelta(minutes=30),
    }
    values.update(extra)
    return NewGeneration(**values)  # type: ignore[arg-type]


async def fund(backend: BackendUnderTest, user_id: int, credits: int) -> None:
    await backend.store.ensure_user(user_id)
    outcome = await backend.store.apply_ledger_entry(
        NewLedgerEntry(
            user_id=user_id, delta=credits, kind=LedgerKind.ADMIN, idempotency_key=f"admin:0:{user_id}"
        )
    )
    assert isinstance(outcome, Applied)


async def test_create_debits_and_inserts_together(backend: BackendUnderTest) -> None:
    await fund(backend, 1, 25)
    created = await backend.store.create_generation(new_generation("g1", cost=10))
    assert isinstance(created, GenerationCreated)
    assert created.new and created.balance == 15
    gen = created.generation
    assert (gen.status, gen.cost, gen.request["prompt"], gen.attempts) == (
        GenerationStatus.QUEUED,
        10,
        "prompt g1",
        0,
    )
    assert gen.next_poll_at == NOW, "a new generation is due for submission at once"
    debit = (await backend.store.list_ledger(1))[0]
    assert (debit.delta, debit.kind, debit.idempotency_key, debit.generation_id) == (
        -10,
        LedgerKind.DEBIT,
        "gen:g1",
        "g1",
    )


async def test_insufficient_funds_creates_nothing(backend: BackendUnderTest) -> None:
    await fund(backend, 1, 9)
    outcome = await backend.store.create_generation(new_generation("g1", cost=10))
    assert isinstance(outcome, InsufficientFunds)
    assert outcome.shortfall == 1
    assert await backend.store.get_generation("g1") is None
    assert [e.delta for e in await backend.store.list_ledger(1)] == [9]


async def test_request_key_makes_a_double_tap_one_order(backend: BackendUnderTest) -> None:
    await fund(backend, 1, 100)
    first = await backend.store.create_generation(new_generation("g1", request_key="tap-1"))
    again = await backend.store.create_generation(new_generation("g2", request_key="tap-1"))
    assert isinstance(first, GenerationCreated) and isinstance(again, GenerationCreated)
    assert again.new is False
    assert again.generation.id == "g1"
    assert again.balance == 90
    assert await backend.store.get_generation("g2") is None


async def test_transitions_are_guarded(backend: BackendUnderTest) -> None:
    store = backend.store
    await fund(backend, 1, 10)
    await store.create_generation(new_generation("g1"))
    running = await store.transition_generation(
        "g1",
        to=GenerationStatus.RUNNING,
        allowed_from=QUEUED,
        fields={"provider_task_id": "t-1", "route_provider": "demo"},
        now=NOW,
    )
    assert (
        running is not None
        and running.status is GenerationStatus.RUNNING
        and running.provider_task_id == "t-1"
    )
    assert (
        await store.transition_generation("g1", to=GenerationStatus.RUNNING, allowed_from=QUEUED, now=NOW)
        is None
    )
    progressed = await store.update_generation("g1", only_if=RUNNING, fields={"progress": 40}, now=NOW)
    assert progressed is not None and progressed.progress == 40
    done = await store.transition_generation(
        "g1",
        to=GenerationStatus.SUCCEEDED,
        allowed_from=ACTIVE_STATUSES,
        fields={"result_path": "1/g1.mp4"},
        now=NOW,
    )
    assert done is not None and done.finished_at == NOW
    await backend.media.write("1/g1.mp4", _chunks(b"video"))
    delivered = await store.transition_generation(
        "g1",
        to=GenerationStatus.DELIVERED,
        allowed_from=frozenset({GenerationStatus.SUCCEEDED}),
        fields={"file_id": "F1"},
        now=NOW + timedelta(seconds=5),
    )
    assert (
        delivered is not None
        and delivered.delivered_at == NOW + timedelta(seconds=5)
        and delivered.file_id == "F1"
    )
    with pytest.raises(ValueError, match="mutable"):
        await store.update_generation("g1", only_if=RUNNING, fields={"cost": 0}, now=NOW)
    with pytest.raises(ValueError, match="refund"):
        await store.transition_generation("g1", to=GenerationStatus.FAILED, allowed_from=RUNNING, now=NOW)


async def test_refund_happens_exactly_once(backend: BackendUnderTest) -> None:
    store = backend.store
    await fund(backend, 1, 10)
    await store.create_generation(new_generation("g1", cost=10))
    first = await store.end_with_refund(
        "g1",
        to=GenerationStatus.FAILED,
        allowed_from=ACTIVE_STATUSES,
        error_code="provider",
        error_message="boom",
        now=NOW,
    )
    assert isinstance(first, Refunded)
    assert first.balance == 10 and first.entry.idempotency_key == "refund:g1"
    assert (first.generation.status, first.generation.error_code) == (GenerationStatus.FAILED, "provider")
    for to in (GenerationStatus.FAILED, GenerationStatus.CANCELLED):
        again = await store.end_with_refund(
            "g1", to=to, allowed_from=ACTIVE_STATUSES, error_code="x", error_message=None, now=NOW
        )
        assert isinstance(again, NotRefundable)
        assert again.generation is not None and again.generation.status is GenerationStatus.FAILED
    assert isinstance(
        await store.end_with_refund(
            "nope",
            to=GenerationStatus.FAILED,
            allowed_from=ACTIVE_STATUSES,
            error_code=None,
            error_message=None,
            now=NOW,
        ),
        NotRefundable,
    )
    assert [e.delta for e in await store.list_ledger(1)] == [10, -10, 10]


async def test_a_produced_video_is_never_refunded(backend: BackendUnderTest) -> None:
    store = backend.store
    await fund(backend, 1, 10)
    await store.create_generation(new_generation("g1"))
    await backend.media.write("1/g1.mp4", _chunks(b"v"))
    await store.transition_generation(
        "g1",
        to=GenerationStatus.SUCCEEDED,
        allowed_from=ACTIVE_STATUSES,
        fields={"result_path": "1/g1.mp4"},
        now=NOW,
    )
    outcome = await store.end_with_refund(
        "g1",
        to=GenerationStatus.FAILED,
        allowed_from=ACTIVE_STATUSES,
        error_code="late",
        error_message=None,
        now=NOW,
    )
    assert isinstance(outcome, NotRefundable)
    with pytest.raises(ValueError, match="produced video"):
        await store.end_with_refund(
            "g1",
            to=GenerationStatus.FAILED,
            allowed_from=frozenset({GenerationStatus.SUCCEEDED}),
            error_code=None,
            error_message=None,
            now=NOW,
        )
    assert (await store.get_user(1)).balance == 0  # type: ignore[union-attr]


async def test_library_pages_newest_first_without_gaps_or_repeats(backend: BackendUnderTest) -> None:
    store = backend.store
    await fund(backend, 1, 1000)
    await fund(backend, 2, 100)
    for i in range(23):
        # pairs share a timestamp, so the id must break ties
        await store.create_generation(new_generation(f"g{i:02d}", at=NOW + timedelta(seconds=i // 2)))
    await store.create_generation(new_generation("other", user_id=2))
    seen, before = [], None
    while page := await store.list_user_generations(1, before=before, limit=5):
        assert len(page) <= 5
        seen.extend(g.id for g in page)
        before = (page[-1].created_at, page[-1].id)
    expected = sorted(
        (f"g{i:02d}" for i in range(23)), key=lambda gid: (int(gid[1:]) // 2, gid), reverse=True
    )
    assert seen == expected
    assert await store.count_active_generations(1) == 23


async def test_claims_lease_each_due_row_to_one_owner(backend: BackendUnderTest) -> None:
    store = backend.store
    await fund(backend, 1, 100)
    for i in range(6):
        await store.create_generation(new_generation(f"g{i}", cost=1))
    a = await store.claim_due_generations(now=NOW, owner="a", lease_seconds=60, limit=4)
    b = await store.claim_due_generations(now=NOW, owner="b", lease_seconds=60, limit=4)
    assert len(a) == 4 and len(b) == 2
    assert not {g.id for g in a} & {g.id for g in b}
    assert all(g.lease_owner == "a" and g.lease_until == NOW + timedelta(seconds=60) for g in a)
    assert await store.claim_due_generations(now=NOW, owner="c", lease_seconds=60, limit=10) == []

    assert await store.release_generation(a[0].id, owner="b", next_poll_at=NOW) is False
    assert (
        await store.release_generation(a[0].id, owner="a", next_poll_at=NOW + timedelta(seconds=30)) is True
    )
    assert (
        await store.claim_due_generations(
            now=NOW + timedelta(seconds=10), owner="c", lease_seconds=60, limit=10
        )
        == []
    )
    later = await store.claim_due_generations(
        now=NOW + timedelta(seconds=61), owner="c", lease_seconds=60, limit=10
    )
    assert {g.id for g in later} == {g.id for g in a + b}, "released and expired leases are claimable again"


async def test_overdue_rows_are_claimable_even_if_their_poll_is_later(backend: BackendUnderTest) -> None:
    store = backend.store
    await fund(backend, 1, 10)
    await store.create_generation(new_generation("g1", cost=1))
    claimed = await store.claim_due_generations(now=NOW, owner="a", lease_seconds=1, limit=1)
    await store.release_generation("g1", owner="a", next_poll_at=NOW + timedelta(hours=2))
    assert (
        claimed
        and await store.claim_due_generations(
            now=NOW + timedelta(minutes=5), owner="a", lease_seconds=1, limit=1
        )
        == []
    )
    overdue = await store.claim_due_generations(
        now=NOW + timedelta(minutes=31), owner="a", lease_seconds=1, limit=1
    )
    assert [g.id for g in overdue] == ["g1"], "the hard-timeout sweep must see it"
    await store.end_with_refund(
        "g1",
        to=GenerationStatus.FAILED,
        allowed_from=ACTIVE_STATUSES,
        error_code="timeout",
        error_message=None,
        now=NOW + timedelta(minutes=31),
    )
    assert (
        await store.claim_due_generations(now=NOW + timedelta(hours=3), owner="a", lease_seconds=1, limit=5)
        == []
    )


async def _chunks(data: bytes):  # type: ignore[no-untyped-def]
    yield data


async def running(backend: BackendUnderTest, gen_id: str, task_id: str, *, provider: str = "kie") -> None:
    await backend.store.create_generation(new_generation(gen_id, cost=1))
    moved = await backend.store.transition_generation(
        gen_id,
        to=GenerationStatus.RUNNING,
        allowed_from=QUEUED,
        fields={"route_provider": provider, "provider_task_id": task_id, "next_poll_at": NOW},
        now=NOW,
    )
    assert moved is not None


async def test_a_callback_finds_its_generation_by_provider_and_task(backend: BackendUnderTest) -> None:
    await fund(backend, 1, 10)
    await running(backend, "g1", "task-1", provider="kie")
    await running(backend, "g2", "task-1", provider="runware")
    found = await backend.store.find_generation_by_task("runware", "task-1")
    assert found is not None and found.id == "g2"
    assert await backend.store.find_generation_by_task("kie", "task-2") is None


async def test_claiming_one_row_respects_a_live_lease_in_any_status(backend: BackendUnderTest) -> None:
    store = backend.store
    await fund(backend, 1, 10)
    await running(backend, "g1", "t1")
    [held] = await store.claim_due_generations(now=NOW, owner="poll", lease_seconds=60, limit=5)
    assert await store.claim_generation("g1", now=NOW, owner="callback", lease_seconds=60) is None
    assert await store.claim_generation("g1", now=NOW, owner="poll", lease_seconds=60) is None, "no re-entry"
    assert (
        await store.extend_leases(
            ["g1", "unknown"], owner="poll", now=NOW + timedelta(seconds=50), lease_seconds=60
        )
        == 1
    )
    assert await store.extend_leases(["g1"], owner="callback", now=NOW, lease_seconds=600) == 0
    assert (
        await store.claim_generation("g1", now=NOW + timedelta(seconds=100), owner="cb", lease_seconds=5)
        is None
    )
    taken = await store.claim_generation("g1", now=NOW + timedelta(seconds=111), owner="cb", lease_seconds=5)
    assert taken is not None and taken.lease_owner == "cb", "an expired lease can be taken over"
    await store.end_with_refund(
        "g1",
        to=GenerationStatus.FAILED,
        allowed_from=ACTIVE_STATUSES,
        error_code="x",
        error_message=None,
        now=NOW,
    )
    late = await store.claim_generation("g1", now=NOW, owner="late-callback", lease_seconds=5)
    assert late is not None and late.status is GenerationStatus.FAILED, (
        "ended rows can be leased for late work"
    )
    assert held.id == "g1"


async def test_produced_videos_awaiting_delivery_are_due_and_overdue_only_skips_them(
    backend: BackendUnderTest,
) -> None:
    store = backend.store
    await fund(backend, 1, 10)
    await running(backend, "g1", "t1")
    await running(backend, "g2", "t2")
    await backend.media.write("1/g1.mp4", _chunks(b"video"))
    await store.transition_generation(
        "g1",
        to=GenerationStatus.SUCCEEDED,
        allowed_from=RUNNING,
        fields={"result_path": "1/g1.mp4", "result_meta": {"width": 1280, "size": 5}, "next_poll_at": NOW},
        now=NOW,
    )
    await store.update_generation(
        "g2", only_if=RUNNING, fields={"next_poll_at": NOW + timedelta(hours=1)}, now=NOW
    )
    due = await store.claim_due_generations(now=NOW, owner="a", lease_seconds=1, limit=5)
    assert [(g.id, g.status, g.result_meta) for g in due] == [
        ("g1", GenerationStatus.SUCCEEDED, {"width": 1280, "size": 5})
    ]
    await store.release_generation("g1", owner="a", next_poll_at=None)
    parked = await store.claim_due_generations(
        now=NOW + timedelta(hours=2), owner="a", lease_seconds=1, limit=5
    )
    assert [g.id for g in parked] == ["g2"], "a delivered or parked video is not due any more"
    await store.release_generation("g2", owner="a", next_poll_at=NOW + timedelta(hours=2))
    overdue = await store.claim_due_generations(
        now=NOW + timedelta(minutes=31), owner="b", lease_seconds=1, limit=5, overdue_only=True
    )
    assert [g.id for g in overdue] == ["g2"]
    await store.end_with_refund(
        "g2",
        to=GenerationStatus.FAILED,
        allowed_from=ACTIVE_STATUSES,
        error_code="timeout",
        error_message=None,
        now=NOW,
    )


async def test_expired_media_lists_only_old_finished_videos_nobody_waits_for(
    backend: BackendUnderTest,
) -> None:
    store = backend.store
    await fund(backend, 1, 10)
    for gen_id in ("old", "pending", "fresh"):
        await running(backend, gen_id, f"t-{gen_id}")
        await backend.media.write(f"1/{gen_id}.mp4", _chunks(b"v"))
        await store.transition_generation(
            gen_id,
            to=GenerationStatus.SUCCEEDED,
            allowed_from=RUNNING,
            fields={"result_path": f"1/{gen_id}.mp4", "next_poll_at": NOW},
            now=NOW if gen_id != "fresh" else NOW + timedelta(days=20),
        )
    await store.transition_generation(
        "old", to=GenerationStatus.DELIVERED, allowed_from=frozenset({GenerationStatus.SUCCEEDED}),
        fields={"next_poll_at": None, "file_id": "F"}, now=NOW,
    )  # fmt: skip
    await store.transition_generation(
        "fresh", to=GenerationStatus.DELIVERED, allowed_from=frozenset({GenerationStatus.SUCCEEDED}),
        fields={"next_poll_at": None}, now=NOW + timedelta(days=20),
    )  # fmt: skip
    expired = await store.list_expired_media(finished_before=NOW + timedelta(days=10), limit=10)
    assert [g.id for g in expired] == ["old"]
    marked = await store.update_generation(
        "old", only_if=frozenset(GenerationStatus), fields={"media_expired_at": NOW}, now=NOW
    )
    assert marked is not None and marked.media_expired_at == NOW
    await backend.media.delete("1/old.mp4")
    assert await store.list_expired_media(finished_before=NOW + timedelta(days=10), limit=10) == []
    assert await backend.violations() == [], "a video removed by retention is not a missing video"


async def test_release_writes_fields_and_never_revives_an_ended_generation(backend: BackendUnderTest) -> None:
    store = backend.store
    await fund(backend, 1, 10)
    await running(backend, "g1", "t1")
    await running(backend, "g2", "t2")
    await store.claim_due_generations(now=NOW, owner="a", lease_seconds=60, limit=5)
    later = NOW + timedelta(seconds=30)
    fields = {"progress": 40, "status_message_id": 77, "attempts": 2}
    assert await store.release_generation("g1", owner="a", next_poll_at=later, fields=fields)
    row = await store.get_generation("g1")
    assert row is not None and (row.progress, row.status_message_id, row.attempts) == (40, 77, 2)
    assert row.next_poll_at == later and row.lease_owner is None
    # g2 is refunded (a user's cancel) while its poll runs: the poll's release must not schedule it again.
    await store.end_with_refund(
        "g2", to=GenerationStatus.CANCELLED, allowed_from=ACTIVE_STATUSES, error_code="cancelled",
        error_message=None, now=NOW,
    )  # fmt: skip
    await store.claim_generation("g2", now=NOW, owner="a", lease_seconds=60)
    assert await store.release_generation("g2", owner="a", next_poll_at=later, fields={"progress": 50})
    ended = await store.get_generation("g2")
    assert ended is not None and ended.next_poll_at is None and ended.status is GenerationStatus.CANCELLED
    due = await store.claim_due_generations(
        now=NOW + timedelta(minutes=1), owner="b", lease_seconds=1, limit=5
    )
    assert [g.id for g in due] == ["g1"]
