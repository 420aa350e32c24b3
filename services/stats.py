"""Figures for the admin's /stats, derived from the store's grouped rows and the catalog's route prices.

Provider cost is an estimate: the catalog's per-clip and per-second USD prices of the route's provider,
for videos that were produced (providers generally do not bill a failed task).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from services.catalog import VideoModel
from storage.records import PRODUCED_STATUSES, GenerationStats, GenerationStatus


@dataclass(frozen=True, slots=True)
class CostEstimate:
    usd: Decimal
    #: Produced generations whose model or provider route is no longer in the catalog.
    unpriced: int


@dataclass(frozen=True, slots=True)
class ModelTotal:
    count: int
    credits: int


def provider_cost(rows: Iterable[GenerationStats], models: Mapping[str, VideoModel]) -> CostEstimate:
    usd, unpriced = Decimal(0), 0
    for row in rows:
        if row.status not in PRODUCED_STATUSES:
            continue
        model = models.get(row.model)
        routes = [] if model is None else sorted(model.routes, key=lambda r: r.priority)
        route = next((r for r in routes if r.provider == row.provider), None)
        if route is None:
            unpriced += row.count
            continue
        usd += route.cost_usd_per_clip * row.count + route.cost_usd_per_second * row.seconds
    return CostEstimate(usd, unpriced)


def by_status(rows: Iterable[GenerationStats]) -> dict[GenerationStatus, int]:
    """Counts in lifecycle order, statuses without generations left out."""
    counts: Counter[GenerationStatus] = Counter()
    for row in rows:
        counts[row.status] += row.count
    return {status: counts[status] for status in GenerationStatus if counts[status]}


def by_model(rows: Iterable[GenerationStats]) -> dict[str, ModelTotal]:
    """Generations and credits per model, the busiest first."""
    counts: Counter[str] = Counter()
    credits: Counter[str] = Counter()
    for row in rows:
        counts[row.model] += row.count
        credits[row.model] += row.credits
    return {model: ModelTotal(count, credits[model]) for model, count in counts.most_common()}
