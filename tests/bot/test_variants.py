"""Variants: the summary orders 2-4 videos of one request at once, paid with credits or in one Stars
invoice; each is a generation of its own (its debit, its delivery or refund), placed once however often
the press or the payment arrives, and all or none of them when the money or the limits fall short."""

from __future__ import annotations

from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from services import submission
from services.generations import MAX_VARIANTS, CreateResult, Invalid
from services.providers import demo
from services.providers.base import SubmitJob, Submitted, TaskStatus, VideoProvider
from services.validation import SEED_MAX, Problem
from services.video_request import VideoRequest
from storage.records import Generation, GenerationCreated, GenerationStatus, LedgerEntry, LedgerKind
from tests.bot.wizard_helpers import buttons, order_demo, press, replies, reply, screen, wizard
from tests.poller.conftest import CATALOG, USER, Rig

#: The rig's catalog and a model whose only route takes a seed.
SEEDY = """
[[models]]
key = "seedy"
name = "Seedy"
modes = ["t2v"]
durations = [4]
aspect_ratios = ["16:9"]
resolutions = ["720p"]
audio = "never"
default_duration = 4
default_aspect_ratio = "16:9"
default_resolution = "720p"
prompt_max = 2000
seed = true
price = { per_clip = 5 }

[[models.routes]]
provider = "demo"
model_id = "demo-clip"
options = ["seed"]
"""


@pytest.fixture
def rig_settings(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "variants.toml"
    path.write_text(CATALOG.read_text(encoding="utf-8") + SEEDY, encoding="utf-8")
    return {"catalog_path": path}


async def variants_summary(rig: Rig, count: int) -> dict[str, Any]:
    """/generate on the demo model, then `count` in the summary's Variants row; the summary."""
    return await variants_summary_of(rig, count, offered=["✅ 1", "2", "3", "4"])


async def variants_summary_of(rig: Rig, count: int, *, offered: list[str]) -> dict[str, Any]:
    """The same, where the Variants row offers `offered` (1 preselected)."""
    summary = await order_demo(rig)
    row = [(label, data) for label, data in buttons(summary) if ":variants:" in data]
    assert [label for label, _ in row] == offered
    [data] = [d for _, d in row if d.endswith(f":variants:{count}")]
    query = await rig.telegram.press(USER, summary["message_id"], data)
    await rig.telegram.wait_for(lambda t: t.answered(query))
    chosen = await screen(rig, f"Variants: {count}")
    assert [label for label, d in buttons(chosen) if ":variants:" in d][count - 1] == f"✅ {count}"
    return chosen


async def generations_of(rig: Rig) -> list[Generation]:
    return await rig.store.list_user_generations(USER, limit=10)


def ledger_kinds(entries: list[LedgerEntry]) -> Counter[LedgerKind]:
    return Counter(e.kind for e in entries)


def edits(rig: Rig, text: str) -> list[str]:
    return [
        c.params["text"]
        for c in rig.telegram.calls_of("editMessageText")
        if c.ok and text in c.params["text"]
    ]


def fail_variant(rig: Rig, monkeypatch: pytest.MonkeyPatch, variant: int) -> None:
    """The demo provider ends the task of variant `variant` in a content-policy failure (variants share
    their prompt, so the demo's prompt scripting cannot single one out)."""
    adapter = rig.providers.for_key("demo")
    real = adapter.status

    async def status(task_id: str) -> TaskStatus:
        generation = await rig.store.find_generation_by_task("demo", task_id)
        if generation is not None and (generation.request_key or "").endswith(f":v{variant}"):
            return demo.task_status(task_id, demo.POLICY, elapsed=1.0, delay=0.0)
        return await real(task_id)

    monkeypatch.setattr(adapter, "status", status)


def pay_key(placed: dict[str | None, Generation], summary: dict[str, Any]) -> str:
    """The pay press's request key (wizard:<user>:<draft>:<summary message>), the variants' stem."""
    key = str(next(iter(placed))).rsplit(":", 1)[0]
    tag = buttons(summary)[0][1].split(":")[1]  # the draft id's prefix, in every wizard button
    assert key.startswith(f"wizard:{USER}:{tag}") and key.endswith(f":{summary['message_id']}"), key
    return key


def record_jobs(monkeypatch: pytest.MonkeyPatch) -> list[SubmitJob]:
    """Every job handed to an adapter, as the adapter gets it."""
    jobs: list[SubmitJob] = []
    real = submission.submit

    async def recording(adapter: VideoProvider, job: SubmitJob) -> Submitted:
        jobs.append(job)
        return await real(adapter, job)

    monkeypatch.setattr(submission, "submit", recording)
    return jobs


async def test_three_variants_are_three_paid_generations_each_delivered_or_refunded_alone(
    rig: Rig, polling: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    await rig.fund(USER, 20)
    summary = await variants_summary(rig, 3)
    assert "Price: 5 credits a video, 15 credits for 3 videos" in summary["text"]
    labels = [label for label, _ in buttons(summary)]
    assert "💳 Pay 15 credits" in labels and "⭐ Pay 15 Stars" in labels
    fail_variant(rig, monkeypatch, 1)
    await press(rig, "Pay 15 credits", message=summary)

    confirmed = rig.telegram.messages[(USER, summary["message_id"])]
    assert confirmed["text"].startswith(
        "✅ Ordered: 3 videos with Demo, 5 credits each, 15 credits in all. Your balance: 5 credits."
    )
    assert buttons(confirmed) == []
    placed = {g.request_key: g for g in await generations_of(rig)}
    assert set(placed) == {f"{pay_key(placed, summary)}:v{i}" for i in range(3)}
    assert all(g.cost == 5 for g in placed.values())
    debits = [e for e in await rig.store.list_ledger(USER) if e.kind is LedgerKind.DEBIT]
    assert sorted(e.generation_id for e in debits) == sorted(g.id for g in placed.values())

    await rig.settle(*(g.id for g in placed.values()))
    statuses = {k.rsplit(":", 1)[1]: (await rig.get(g.id)).status for k, g in placed.items()}
    assert statuses == {
        "v0": GenerationStatus.DELIVERED,
        "v1": GenerationStatus.FAILED,
        "v2": GenerationStatus.DELIVERED,
    }
    await rig.telegram.wait_for(lambda t: len([c for c in t.calls_of("sendVideo") if c.ok]) == 2)
    refund_told = await rig.telegram.wait_for(
        lambda t: [x for x in [*replies(t), *edits(rig, "")] if "safety filter rejected" in x]
    )
    assert len(refund_told) == 1 and "5 credits have been returned" in refund_told[0]
    assert ledger_kinds(await rig.store.list_ledger(USER)) == {
        LedgerKind.ADMIN: 1,
        LedgerKind.DEBIT: 3,
        LedgerKind.REFUND: 1,
    }
    assert await rig.balance() == 10  # 20 - 3 × 5 + the failed one's 5
    assert await rig.violations() == []


async def test_a_double_tapped_pay_still_places_three_and_confirms_once(rig: Rig, polling: None) -> None:
    await rig.fund(USER, 15)  # exactly three: a tap that saw the first one's debits must not be refused
    summary = await variants_summary(rig, 3)
    [pay] = [data for label, data in buttons(summary) if "Pay 15 credits" in label]
    taps = [await rig.telegram.press(USER, summary["message_id"], pay) for _ in range(2)]
    await rig.telegram.wait_for(lambda t: all(t.answered(q) for q in taps))
    assert len(await generations_of(rig)) == 3 and await rig.balance() == 0
    assert ledger_kinds(await rig.store.list_ledger(USER)) == {LedgerKind.ADMIN: 1, LedgerKind.DEBIT: 3}
    confirmed = rig.telegram.messages[(USER, summary["message_id"])]
    assert confirmed["text"].startswith("✅ Ordered: 3 videos") and buttons(confirmed) == []
    assert len(edits(rig, "✅ Ordered")) == 1
    await rig.settle(*(g.id for g in await generations_of(rig)))
    assert await rig.violations() == []


async def test_credits_for_two_of_three_are_refused_before_any_debit(rig: Rig, polling: None) -> None:
    await rig.fund(USER, 10)
    await variants_summary(rig, 3)
    await press(rig, "Pay 15 credits")
    message = await screen(rig, "Not enough credits")
    assert "this costs 15 credits and you have 10 credits" in message["text"]
    assert "pay for these videos with Telegram Stars" in message["text"]
    assert any("Pay 15 Stars" in label for label, _ in buttons(message)), "the summary stays payable"
    assert await generations_of(rig) == []
    assert await rig.balance() == 10
    assert ledger_kinds(await rig.store.list_ledger(USER)) == {LedgerKind.ADMIN: 1}
    assert await rig.violations() == []


async def test_more_variants_than_may_be_in_progress_are_refused(rig: Rig, polling: None) -> None:
    rig.settings.max_active_generations = 3
    await rig.fund(USER, 100)
    earlier = await rig.order(model="demo")
    # never more than may be in progress at once
    summary = await variants_summary_of(rig, 3, offered=["✅ 1", "2", "3"])
    await press(rig, "Pay 15 credits", message=summary)
    message = await screen(rig, "not enough room")
    assert "At most 3 videos can be in progress at once: not enough room for 3 videos now." in message["text"]
    assert [g.id for g in await generations_of(rig)] == [earlier.id]
    assert await rig.balance() == 95
    await rig.settle(earlier.id)
    assert await rig.violations() == []


async def test_a_create_failing_mid_way_keeps_the_placed_ones_and_says_how_many(
    rig: Rig, polling: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    await rig.fund(USER, 20)
    real = rig.generations.create

    async def second_refused(*, request_key: str | None = None, **order: Any) -> CreateResult:
        if (request_key or "").endswith(":v1"):  # something changed between the checks and the create
            return Invalid([Problem("error-model-unavailable", {"model": "demo"})])
        return await real(request_key=request_key, **order)

    monkeypatch.setattr(rig.generations, "create", second_refused)
    summary = await variants_summary(rig, 3)
    await press(rig, "Pay 15 credits", message=summary)
    told = rig.telegram.messages[(USER, summary["message_id"])]["text"]
    assert told.startswith(
        "✅ Ordered 1 of 3 videos with Demo for 5 credits; the others could not be ordered:"
    )
    assert "Your balance: 15 credits." in told
    [placed] = await generations_of(rig)
    assert placed.request_key is not None and placed.request_key.endswith(":v0")
    assert wizard(rig.telegram) is None, "the wizard is closed: its order was placed"
    await rig.settle(placed.id)
    assert await rig.violations() == []


async def test_two_variants_paid_in_one_invoice_are_placed_once_when_the_payment_comes_again(
    rig: Rig, polling: None
) -> None:
    summary = await variants_summary(rig, 2)
    await press(rig, "Pay 10 Stars", message=summary)
    [invoice] = await rig.telegram.wait_for(lambda t: [c for c in t.calls_of("sendInvoice") if c.ok])
    invoice_id = int(invoice.result["message_id"])
    shown = rig.telegram.messages[(USER, invoice_id)]["invoice"]
    assert (shown["currency"], shown["total_amount"], shown["title"]) == ("XTR", 10, "2 videos: 10 credits")
    charge = await rig.telegram.pay(USER, invoice_id)
    assert charge is not None
    await reply(rig, lambda text: "your 2 videos are ordered" in text)
    assert wizard(rig.telegram) is None  # the wizard it was paid from is closed
    placed = await generations_of(rig)
    assert sorted(g.request_key for g in placed) == [f"stars:{charge}:v0", f"stars:{charge}:v1"]
    assert all(g.cost == 5 for g in placed) and await rig.balance() == 0

    [paid] = [m for m in rig.telegram.messages.values() if "successful_payment" in m]
    await rig.telegram.push_update("message", paid)  # Telegram delivers the payment again
    await rig.telegram.send_text(USER, "/balance")
    await reply(rig, lambda text: text.startswith("Your balance"))
    assert len(await generations_of(rig)) == 2
    assert ledger_kinds(await rig.store.list_ledger(USER)) == {LedgerKind.PURCHASE: 1, LedgerKind.DEBIT: 2}
    assert sum("your 2 videos are ordered" in text for text in replies(rig.telegram)) == 1
    await rig.settle(*(g.id for g in placed))
    await rig.telegram.wait_for(lambda t: len([c for c in t.calls_of("sendVideo") if c.ok]) == 2)
    assert await rig.violations() == []


async def test_each_variant_gets_the_next_seed_and_without_one_none(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seeds wrap around at the top of their range; a request without a seed gets none."""
    await rig.fund(USER, 100)
    jobs = record_jobs(monkeypatch)
    seeded = VideoRequest(model="seedy", mode="t2v", prompt="a lighthouse", seed=SEED_MAX - 1)
    unseeded = seeded.model_copy(update={"seed": None})
    placed = []
    for request, key in ((seeded, "test:seeded"), (unseeded, "test:unseeded")):
        results = await rig.generations.create_variants(
            user_id=USER, chat_id=USER, request=request, count=3, request_key=key
        )
        assert all(isinstance(r, GenerationCreated) and r.new for r in results), results
        placed += [r.generation for r in results if isinstance(r, GenerationCreated)]
    assert [(g.request_key, g.request["seed"]) for g in placed] == [
        ("test:seeded:v0", SEED_MAX - 1),
        ("test:seeded:v1", SEED_MAX),
        ("test:seeded:v2", 0),
        ("test:unseeded:v0", None),
        ("test:unseeded:v1", None),
        ("test:unseeded:v2", None),
    ]
    await rig.settle(*(g.id for g in placed))
    assert sorted(j.request.seed for j in jobs if j.request.seed is not None) == [0, SEED_MAX - 1, SEED_MAX]
    assert sum(j.request.seed is None for j in jobs) == 3
    assert await rig.balance() == 70
    assert await rig.violations() == []


@pytest.mark.parametrize("count", [0, MAX_VARIANTS + 1])
async def test_a_count_outside_one_to_four_orders_nothing(rig: Rig, count: int) -> None:
    await rig.fund(USER, 100)
    request = VideoRequest(model="demo", mode="t2v", prompt="a lighthouse")
    [refused] = await rig.generations.create_variants(
        user_id=USER, chat_id=USER, request=request, count=count, request_key="test:count"
    )
    assert refused == Invalid([Problem("error-variants-count", {"max": MAX_VARIANTS})])
    assert await generations_of(rig) == [] and await rig.balance() == 100
    assert await rig.violations() == []


async def test_a_replay_places_only_what_is_missing_and_charges_only_that(rig: Rig) -> None:
    """The same press or payment again after a kill that left one variant placed: only the two missing
    ones must be affordable, and are placed; once all are, a replay returns them without a refusal."""
    await rig.fund(USER, 15)
    request = VideoRequest(model="demo", mode="t2v", prompt="a lighthouse")
    first = await rig.generations.create(
        user_id=USER, chat_id=USER, request=request, request_key="test:replay:v0"
    )
    assert isinstance(first, GenerationCreated)

    def placed(results: list[CreateResult]) -> list[tuple[str | None, bool]]:
        assert all(isinstance(r, GenerationCreated) for r in results), results
        return [(r.generation.request_key, r.new) for r in results if isinstance(r, GenerationCreated)]

    order = partial(
        rig.generations.create_variants,
        user_id=USER,
        chat_id=USER,
        request=request,
        count=3,
        request_key="test:replay",
    )
    completed = await order()  # 10 credits left: enough for the two missing
    assert placed(completed) == [
        ("test:replay:v0", False),
        ("test:replay:v1", True),
        ("test:replay:v2", True),
    ]
    assert await rig.balance() == 0
    again = await order()
    assert placed(again) == [(f"test:replay:v{i}", False) for i in range(3)]
    assert ledger_kinds(await rig.store.list_ledger(USER)) == {LedgerKind.ADMIN: 1, LedgerKind.DEBIT: 3}
    await rig.settle(*(r.generation.id for r in again if isinstance(r, GenerationCreated)))
    assert await rig.violations() == []


async def test_variants_paid_in_stars_that_cannot_all_start_keep_the_credits(rig: Rig, polling: None) -> None:
    rig.settings.max_active_generations = 2
    await rig.fund(USER, 5)
    earlier = await rig.order(model="demo")  # spends the 5 credits and takes one of the two slots
    summary = await variants_summary_of(rig, 2, offered=["✅ 1", "2"])
    await press(rig, "Pay 10 Stars", message=summary)
    [invoice] = await rig.telegram.wait_for(lambda t: [c for c in t.calls_of("sendInvoice") if c.ok])
    assert await rig.telegram.pay(USER, int(invoice.result["message_id"])) is not None
    text = await reply(rig, lambda text: "the videos could not be ordered" in text)
    assert "not enough room for 2 videos" in text and "(10 credits)" in text
    assert [g.id for g in await generations_of(rig)] == [earlier.id]
    assert await rig.balance() == 10
    await rig.settle(earlier.id)
    assert await rig.violations() == []
