"""A cost the provider reports for a task is kept with the video and counted by /stats over the estimate."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest

from services.providers.base import TaskState, TaskStatus
from storage.records import GenerationStatus
from tests.poller.conftest import Rig


@pytest.mark.parametrize("cost", [0.42, None], ids=["reported", "not-reported"])
async def test_a_reported_cost_is_stored_with_the_video_and_counted_by_stats(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, cost: float | None
) -> None:
    demo = rig.providers.for_key("demo")
    status = demo.status

    async def billed(task_id: str) -> TaskStatus:
        found = await status(task_id)
        return dataclasses.replace(found, cost_usd=cost) if found.state is TaskState.SUCCEEDED else found

    monkeypatch.setattr(demo, "status", billed)
    await rig.fund()
    generation = await rig.order(model="demo")
    await rig.settle(generation.id)
    done = await rig.get(generation.id)
    assert done.status is GenerationStatus.DELIVERED
    assert done.result_meta is not None and done.result_meta.get("cost_usd") == cost
    assert "cost_usd" in done.result_meta or cost is None

    figures = await rig.store.stats(since=rig.clock.now - timedelta(days=1))
    [row] = [g for g in figures.generations if g.status is GenerationStatus.DELIVERED]
    expected = (1, Decimal("0.42"), 4) if cost is not None else (0, Decimal(0), 0)
    assert (row.reported, row.reported_cost_usd, row.reported_seconds) == expected
    assert await rig.violations() == []
