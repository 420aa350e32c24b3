"""Storage contract for /library and the admin tools: pages both ways, deleting, rate counts, payment
refunds and stats. Runs unchanged on every backend."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from storage.records import (
    ACTIVE_STATUSES,
    GenerationStatus,
    LedgerKind,
    NewPayment,
    PaymentStats,
)
from tests.conftest import BackendUnderTest
from tests.contract.test_generations import NOW, _chunks, fund, new_generation

QUEUED = frozenset({GenerationStatus.QUEUED})


async def finish(
    backend: BackendUnderTest,
    gen_id: str,
    *,
    user_id: int = 1,
    video: bool = True,
    cost_usd: float | None = None,
) -> None:
    """Move a queued generation to delivered (with a stored video, and the cost its provider reported,
    if any) or to failed with its refund."""
    store = backend.store
    if not video:
        await store.end_with_refund(
            gen_id,
            to=GenerationStatus.FAILED,
            allowed_from=ACTIVE_STATUSES,
            error_code="provider_failed",
            error_message=None,
            now=NOW,
        )
        return
    path = f"{user_id}/{gen_id}.mp4"
    await backend.media.write(path, _chunks(b"video"))
    await store.transition_generation(
        gen_id,
        to=GenerationStatus.SUCCEEDED,
        allowed_from=ACTIVE_STATUSES,
        fields={
            "result_path": path,
            "route_provider": "demo",
            "result_meta": {"size": 5} if cost_usd is None else {"size": 5, "cost_usd": cost_usd},
        },
        now=NOW,
    )
    await store.transition_generation(
        gen_id,
        to=GenerationStatus.DELIVERED,
        allowed_from=frozenset({GenerationStatus.SUCCEEDED}),
        fields={"file_id": f"file-{gen_id}", "next_poll_at": None},
        now=NOW,
    )


async def test_library_pages_go_back_the_way_they_came(backend: BackendUnderTest) -> None:
    store = backend.store
    await fund(backend, 1, 1000)
    for i in range(12):
        await store.create_generation(new_generation(f"g{i:02d}", at=NOW + timedelta(seconds=i // 2)))
    pages, before = [], None
    while page := await store.list_user_generations(1, before=before, limit=5):
        pages.append([g.id for g in page])
        before = (page[-1].created_at, page[-1].id)
    assert [len(p) for p in pages] == [5, 5, 2]
    # from the last page, `after` its first row gives back exactly the page before it, newest first
    for newer, older in zip(pages[-2::-1], pages[:0:-1], strict=True):
        first = await store.get_generation(older[0])
        assert first is not None
        back = await store.list_user_generations(1, after=(first.created_at, first.id), limit=5)
        assert [g.id for g in back] == newer
    top = await store.get_generation(pages[0][0])
    assert top is not None
    assert await store.list_user_generations(1, after=(top.created_at, top.id), limit=5) == []


async def test_deleting_hides_only_finished_own_rows_and_marks_the_video_gone(
    backend: BackendUnderTest,
) -> None:
    store = backend.store
    await fund(backend, 1, 100)
    await fund(backend, 2, 100)
    for gen_id in ("done", "failed", "busy"):
        await store.create_generation(new_generation(gen_id))
    await store.create_generation(new_generation("theirs", user_id=2))
    await finish(backend, "done")
    await finish(backend, "failed", video=False)
    await finish(backend, "theirs", user_id=2)

    assert await store.hide_generation("theirs", user_id=1, now=NOW) is None, "not the owner"
    assert await store.hide_generation("busy", user_id=1, now=NOW) is None, "still in flight"
    assert await store.hide_generation("missing", user_id=1, now=NOW) is None
    hidden = await store.hide_generation("done", user_id=1, now=NOW)
    assert hidden is not None and hidden.hidden_at is not None
    assert hidden.media_expired_at is not None and hidden.result_path == "1/done.mp4"
    await backend.media.delete("1/done.mp4")  # what the bot does next; invariant 5 must accept it
    failed = await store.hide_generation("failed", user_id=1, now=NOW)
    assert failed is not None and failed.media_expired_at is None, "no video was stored"
    assert await store.hide_generation("done", user_id=1, now=NOW) is None, "once"

    assert [g.id for g in await store.list_user_generations(1)] == ["busy"]
    assert [g.id for g in await store.list_user_generations(2)] == ["theirs"]
    row = await store.get_generation("done")
    assert row is not None and row.status is GenerationStatus.DELIVERED, "the row stays for the books"
    await finish(backend, "busy", video=False)


async def test_generations_since_counts_recent_orders_of_one_user(backend: BackendUnderTest) -> None:
    store = backend.store
    await fund(backend, 1, 100)
    await fund(backend, 2, 100)
    for i, minutes in enumerate((0, 1, 2)):
        await store.create_generation(new_generation(f"g{i}", at=NOW - timedelta(minutes=minutes)))
    await store.create_generation(new_generation("theirs", user_id=2))
    assert await store.count_generations_since(1, NOW - timedelta(seconds=90)) == 2
    assert await store.count_generations_since(1, NOW - timedelta(minutes=2)) == 3
    assert await store.count_generations_since(1, NOW + timedelta(seconds=1)) == 0
    assert await store.count_generations_since(3, NOW - timedelta(days=1)) == 0


async def test_a_refunded_payment_takes_back_what_is_left_once(backend: BackendUnderTest) -> None:
    store = backend.store
    await store.ensure_user(1)
    await store.record_payment(NewPayment("ch-1", user_id=1, stars=100, credits=100, payload="pack:100:100"))
    await store.record_payment(NewPayment("ch-2", user_id=1, stars=50, credits=50, payload="pack:50:50"))
    await store.create_generation(new_generation("spent", cost=120))
    assert (await store.get_user(1)).balance == 30  # type: ignore[union-attr]

    first = await store.record_payment_refund("ch-1", now=NOW)
    assert first is not None and first.new
    assert (first.debited, first.balance, first.payment.refunded) == (30, 0, True), "never below zero"
    again = await store.record_payment_refund("ch-1", now=NOW)
    assert again is not None and not again.new
    assert (again.debited, again.balance) == (30, 0)
    empty = await store.record_payment_refund("ch-2", now=NOW)
    assert empty is not None and (empty.debited, empty.balance, empty.new) == (0, 0, True)
    assert await store.record_payment_refund("unknown", now=NOW) is None

    refunds = [e for e in await store.list_ledger(1) if e.kind is LedgerKind.PAYMENT_REFUND]
    assert [(e.delta, e.idempotency_key, e.payment_charge_id) for e in refunds] == [
        (-30, "payment_refund:ch-1", "ch-1")
    ]
    assert [p.charge_id for p in await store.list_payments(1)] == ["ch-2", "ch-1"]
    assert [p.refunded for p in await store.list_payments(1, limit=1)] == [True]
    assert await store.list_payments(2) == []
    await finish(backend, "spent")


async def test_stats_group_generations_and_sum_payments_since_a_time(backend: BackendUnderTest) -> None:
    store = backend.store
    await store.ensure_user(1)
    await store.record_payment(NewPayment("ch-1", user_id=1, stars=100, credits=110, payload="pack:110:100"))
    await store.record_payment(NewPayment("ch-2", user_id=1, stars=40, credits=40, payload="pack:40:40"))
    await store.record_payment_refund("ch-2", now=NOW)
    request = {"model": "demo", "mode": "t2v", "prompt": "p", "duration": 4}
    old = NOW - timedelta(days=2)
    await store.create_generation(new_generation("old", cost=5, at=old, request=request))
    for gen_id in ("a", "b", "c"):
        await store.create_generation(new_generation(gen_id, cost=5, request=request))
    await store.create_generation(new_generation("d", cost=5, request={**request, "duration": 8}))
    await finish(backend, "old")
    await finish(backend, "a", cost_usd=0.25)
    await finish(backend, "b")
    await finish(backend, "c", video=False)
    await finish(backend, "d", cost_usd=1.5)

    day = await store.stats(since=NOW - timedelta(days=1))
    rows = {(g.model, g.provider, g.status): (g.count, g.credits, g.seconds) for g in day.generations}
    assert rows == {
        ("demo", "demo", GenerationStatus.DELIVERED): (3, 15, 16),
        ("demo", None, GenerationStatus.FAILED): (1, 5, 4),
    }
    reported = {g.status: (g.reported, g.reported_cost_usd, g.reported_seconds) for g in day.generations}
    assert reported == {
        GenerationStatus.DELIVERED: (2, Decimal("1.75"), 12),  # "a" (4 s) and "d" (8 s) reported a cost
        GenerationStatus.FAILED: (0, Decimal(0), 0),
    }
    month = await store.stats(since=NOW - timedelta(days=30))
    assert sum(g.count for g in month.generations) == 5
    # payments and users are stamped by the store's own clock: all of them are recent
    assert month.payments == PaymentStats(payments=2, stars=140, credits=150, refunded=1, refunded_stars=40)
    assert month.new_users == 1
    assert month.since == NOW - timedelta(days=30)
