"""Figures for the admin's /stats, derived from the store's grouped rows and the catalog's route prices.

Provider cost is what the provider reported for a video where its API says (Runware `includeCost`,
OpenRouter `usage.cost`, Runway credits; stored as `result_meta.cost_usd`), else the catalog's per-clip
and per-second USD prices of the route, for videos that were produced (providers generally do not bill a
failed task). Revenue is the credits those videos were paid with, at what a credit brings in: the Stars
of the pack with the most credits per Star (the least a credit earns) times STAR_USD.
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
    #: Produced generations whose model or provider route is no longer in the catalog (and whose provider
    #: reported no cost).
    unpriced: int
    #: Produced generations whose cost the provider reported (the rest are estimated).
    reported: int = 0


@dataclass(frozen=True, slots=True)
class Margin:
    """One model on one provider route: produced videos, what they brought in and what they cost."""

    model: str
    provider: str | None
    count: int
    credits: int
    revenue_usd: Decimal
    cost: CostEstimate

    @property
    def margin_usd(self) -> Decimal:
        return self.revenue_usd - self.cost.usd

    @property
    def margin_share(self) -> Decimal | None:
        """The margin as a share of revenue; None without revenue."""
        return self.margin_usd / self.revenue_usd if self.revenue_usd else None


@dataclass(frozen=True, slots=True)
class ModelTotal:
    count: int
    credits: int


def provider_cost(rows: Iterable[GenerationStats], models: Mapping[str, VideoModel]) -> CostEstimate:
    usd, unpriced, reported = Decimal(0), 0, 0
    for row in rows:
        if row.status not in PRODUCED_STATUSES:
            continue
        usd += row.reported_cost_usd
        reported += row.reported
        estimated, seconds = row.count - row.reported, row.seconds - row.reported_seconds
        if not estimated:
            continue
        model = models.get(row.model)
        routes = [] if model is None else sorted(model.routes, key=lambda r: r.priority)
        route = next((r for r in routes if r.provider == row.provider), None)
        if route is None:
            unpriced += estimated
            continue
        usd += route.cost_usd_per_clip * estimated + route.cost_usd_per_second * seconds
    return CostEstimate(usd, unpriced, reported)


def credit_value_usd(packs: Iterable[tuple[int, int]], star_usd: Decimal) -> Decimal:
    """What one credit brings in at least: the Stars per credit of the most generous (credits, stars)
    pack, times what a Star pays out."""
    rates = [Decimal(stars) / Decimal(credits) for credits, stars in packs if credits > 0]
    return min(rates, default=Decimal(0)) * star_usd


def margins(
    rows: Iterable[GenerationStats], models: Mapping[str, VideoModel], credit_usd: Decimal
) -> list[Margin]:
    """Revenue, cost and margin of the produced videos per model and provider, the largest revenue first."""
    produced: dict[tuple[str, str | None], list[GenerationStats]] = {}
    for row in rows:
        if row.status in PRODUCED_STATUSES:
            produced.setdefault((row.model, row.provider), []).append(row)
    found = []
    for (model, provider), group in produced.items():
        credits = sum(row.credits for row in group)
        found.append(
            Margin(
                model=model,
                provider=provider,
                count=sum(row.count for row in group),
                credits=credits,
                revenue_usd=credits * credit_usd,
                cost=provider_cost(group, models),
            )
        )
    return sorted(found, key=lambda m: (-m.revenue_usd, m.model, m.provider or ""))


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
