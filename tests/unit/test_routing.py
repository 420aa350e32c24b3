"""Route order by policy, and the health it is based on: costs reported or listed, the rolling window, the
cool-down after repeated failures, the one try after it, and failures that do not count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bot.handlers.admin import render_health
from bot.i18n import Texts, Translator
from services.catalog import Route
from services.next_step import Failure, ProviderFault
from services.routing import RouteHealth, RoutingPolicy, counts_against, order_routes
from services.video_request import VideoRequest

START = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
#: The catalog's order: A first. B is cheaper per clip, C lists no price.
A = Route(provider="openai", model_id="sora-2", priority=10, cost_usd_per_second=Decimal("0.10"))
B = Route(provider="laozhang", model_id="sora-2", priority=20, cost_usd_per_clip=Decimal("0.15"))
C = Route(provider="runware", model_id="openai:3@1", priority=30)
ROUTES = [A, B, C]
FOUR = VideoRequest(model="clip", mode="t2v", prompt="a cat", duration=4)
EIGHT = VideoRequest(model="clip", mode="t2v", prompt="a cat", duration=8)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def health(clock: Clock) -> RouteHealth:
    return RouteHealth(window=5, cooldown_failures=3, cooldown_seconds=300, clock=clock)


def order(policy: RoutingPolicy, health: RouteHealth, request: VideoRequest = FOUR) -> list[str]:
    return [r.provider for r in order_routes(policy, ROUTES, request, health)]


def video(health: RouteHealth, clock: Clock, route: Route, seconds: float, cost: float | None = None) -> None:
    """`route` makes a video `seconds` after its create."""
    health.attempt(route)
    started = clock.now
    clock.advance(seconds)
    health.succeeded(route, started_at=started, duration=4, cost_usd=cost)


def test_priority_is_the_catalog_order_whatever_the_costs_and_health(health: RouteHealth) -> None:
    health.failed(A)
    health.failed(A)
    assert order("priority", health) == ["openai", "laozhang", "runware"]


def test_cheapest_compares_the_costs_for_the_requests_duration_unpriced_last(health: RouteHealth) -> None:
    # 4 s: A 0.40, B 0.15; 8 s: A 0.80, B 0.15; C has no price and comes last either way
    assert order("cheapest", health, FOUR) == ["laozhang", "openai", "runware"]
    assert health.cost_usd(A, 4) == Decimal("0.40") and health.cost_usd(C, 4) is None


def test_cheapest_prefers_what_the_provider_reported_over_the_catalog(
    health: RouteHealth, clock: Clock
) -> None:
    video(health, clock, A, 60, cost=0.10)
    video(health, clock, A, 60, cost=0.06)
    video(health, clock, C, 60, cost=0.12)
    assert health.cost_usd(A, 4) == Decimal("0.08"), "the average of the reports for 4 s videos"
    assert order("cheapest", health, FOUR) == ["openai", "runware", "laozhang"]
    # no 8 s video was reported: the catalog's price for 8 s stands, and C is unpriced again
    assert health.cost_usd(A, 8) == Decimal("0.80")
    assert order("cheapest", health, EIGHT) == ["laozhang", "openai", "runware"]


def test_the_cost_average_rolls_with_the_window(health: RouteHealth, clock: Clock) -> None:
    for cost in (9.0, 1.0, 1.0, 1.0, 1.0, 1.0):  # window 5: the first report has rolled out
        video(health, clock, A, 10, cost=cost)
    assert health.cost_usd(A, 4) == Decimal("1.0")


def test_healthiest_by_share_of_videos_then_median_time(health: RouteHealth, clock: Clock) -> None:
    assert order("healthiest", health) == ["openai", "laozhang", "runware"], "untried routes: priority"
    video(health, clock, A, 120)
    health.failed(A)
    video(health, clock, B, 90)
    video(health, clock, C, 30)
    # A made 1 of 2; B and C all theirs, C faster
    assert order("healthiest", health) == ["runware", "laozhang", "openai"]
    assert health.share(A) == 0.5 and health.median_seconds(C) == 30


def test_the_health_window_keeps_the_latest_outcomes_only(health: RouteHealth, clock: Clock) -> None:
    health.failed(A)
    health.failed(A)
    for seconds in (10, 20, 30, 40, 50):
        video(health, clock, A, seconds)
    [report] = health.report()
    assert (report.outcomes, report.videos, report.median_seconds) == (5, 5, 30)
    assert report.success_share == 1


def test_a_route_cools_down_after_repeated_failures_and_is_skipped(health: RouteHealth, clock: Clock) -> None:
    health.failed(A)
    health.failed(A)
    assert health.ready(A), "two failures in a row are not yet enough"
    video(health, clock, A, 10)  # a video resets the run of failures
    for _ in range(3):
        health.failed(A)
    assert not health.ready(A)
    for policy in ("priority", "cheapest", "healthiest"):
        assert "openai" not in order(policy, health)  # type: ignore[arg-type]
    [report] = health.report()
    assert report.cooling_until == START + timedelta(seconds=10 + 300) and not report.retrying
    clock.advance(299)
    health.failed(A)  # a task sent before the cool-down failing late does not prolong it
    clock.advance(1)
    assert health.ready(A)


def test_after_the_cool_down_one_try_a_video_brings_the_route_back(health: RouteHealth, clock: Clock) -> None:
    for _ in range(3):
        health.failed(A)
    clock.advance(300)
    assert order("priority", health) == ["openai", "laozhang", "runware"], "back by itself"
    health.attempt(A)
    assert not health.ready(A), "one try at a time"
    assert order("priority", health) == ["laozhang", "runware"]
    [report] = health.report()
    assert report.retrying and report.cooling_until is None
    video(health, clock, A, 60)
    assert health.ready(A)
    health.failed(A)
    assert health.ready(A), "closed again: one failure is not a run"
    assert not health.report()[0].retrying


def test_after_the_cool_down_a_failed_try_starts_another(health: RouteHealth, clock: Clock) -> None:
    for _ in range(3):
        health.failed(A)
    clock.advance(300)
    health.attempt(A)
    clock.advance(20)
    health.failed(A)
    assert not health.ready(A)
    assert health.report()[0].cooling_until == START + timedelta(seconds=320 + 300)


def test_a_try_that_says_nothing_about_the_route_lets_the_next_try_go(
    health: RouteHealth, clock: Clock
) -> None:
    for _ in range(3):
        health.failed(A)
    clock.advance(300)
    health.attempt(A)
    health.released(A)  # e.g. refused for its content
    assert health.ready(A)
    health.attempt(A)
    clock.advance(299)
    assert not health.ready(A)
    clock.advance(1)
    assert health.ready(A), "a try not heard of for another cool-down (a cancelled task) frees the next"


def test_when_every_route_cools_down_all_are_used_in_the_policys_order(
    health: RouteHealth, clock: Clock
) -> None:
    for route in ROUTES:
        for _ in range(3):
            health.failed(route)
    assert order("priority", health) == ["openai", "laozhang", "runware"]
    assert order("cheapest", health) == ["laozhang", "openai", "runware"]


def test_content_policy_and_invalid_requests_do_not_count_against_a_route(health: RouteHealth) -> None:
    counted = [
        ProviderFault("provider_failed", "server_error"),
        Failure("timeout"),
        Failure("uncertain_submit", "no answer"),
    ]
    neutral = [
        Failure("content_policy", "moderation_blocked"),
        Failure("invalid_request", "bad size"),
        Failure("no_video"),
        Failure("too_large"),
        Failure("provider_failed", "failed without a reason"),
    ]
    assert all(counts_against(f) for f in counted)
    assert not any(counts_against(f) for f in neutral)
    for _ in range(5):
        health.released(A)  # what Outcomes and Submission do for those
    assert health.ready(A) and health.report() == []


@pytest.mark.parametrize(
    ("language", "empty", "retrying"),
    [
        (
            "en",
            "• no results yet",
            "• openai · sora-2: 1 of 4 made a video (25 %), median time to a video 1:30, 🔁",
        ),
        (
            "ru",
            "• результатов пока нет",
            "• openai · sora-2: успешно 1 из 4 (25 %), медиана времени до видео 1:30, 🔁",
        ),
        ("zh", "• 暂无结果", "• openai · sora-2：4 次中 1 次生成了视频（25%），生成视频用时中位数 1:30，🔁"),
    ],
)
def test_stats_render_the_health_in_the_admins_language(
    health: RouteHealth, clock: Clock, language: str, empty: str, retrying: str
) -> None:
    t = Texts(Translator("en"), language)
    assert render_health(health, t).endswith("\n" + empty)
    video(health, clock, A, 90)
    for _ in range(3):
        health.failed(A)
    clock.advance(300)
    assert retrying in render_health(health, t)
