"""Which of a model's routes a generation is sent to first, and which next: by priority, by cost or by
health (ROUTING_POLICY), skipping a route that keeps failing while its cool-down lasts.

`order_routes` ranks the routes that accept a request (`AvailableModel.routes_for`, in priority order);
`RouteHealth` is what it ranks them by: a rolling window of each route's outcomes (did it make the
video, and how long did that take), the costs its provider reported, and a circuit breaker. After
ROUTING_COOLDOWN_FAILURES failures in a row a route cools down for ROUTING_COOLDOWN_SECONDS; then it gets
one try (half-open): a video closes the breaker, a failure opens it again. A route that cools down is
only skipped while another route can take the request: a paid order is never refused for it.

The tracker lives in memory, per process: a restart starts every route healthy, and each replica learns
on its own from the generations it works. Its clock is the services' clock, which tests move.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, NamedTuple

from services.catalog import Route
from services.next_step import Failure, ProviderFault
from services.video_request import VideoRequest

RoutingPolicy = Literal["priority", "cheapest", "healthiest"]
Clock = Callable[[], datetime]

#: Ends of a generation, besides a ProviderFault, that are its route's fault: the hard timeout, and a
#: create the provider left without a usable answer. Content-policy refusals, invalid requests, videos
#: refused as too large or done without a video say nothing about the route.
_ROUTE_FAILURES = frozenset({"timeout", "uncertain_submit"})


def counts_against(failure: Failure) -> bool:
    """Whether a generation ending with `failure` counts as a failure of the route it ran on."""
    return isinstance(failure, ProviderFault) or failure.code in _ROUTE_FAILURES


class _Outcome(NamedTuple):
    made: bool
    #: From the create to the stored video, for a video; None for a failure.
    seconds: float | None = None


@dataclass(slots=True)
class _Track:
    """One route's memory: the window of outcomes, reported costs by duration, and the breaker."""

    outcomes: deque[_Outcome]
    costs: dict[int, deque[Decimal]] = field(default_factory=dict)
    failures_in_a_row: int = 0
    #: Set while the breaker is open (and after its cool-down, until a video closes it).
    cooling_until: datetime | None = None
    #: When the one try after the cool-down went out; None while no try is under way.
    trial_since: datetime | None = None

    def videos(self) -> int:
        return sum(o.made for o in self.outcomes)

    def median_seconds(self) -> float | None:
        times = [o.seconds for o in self.outcomes if o.seconds is not None]
        return statistics.median(times) if times else None


@dataclass(frozen=True, slots=True)
class RouteReport:
    """One route's health as /stats shows it."""

    provider: str
    model_id: str
    outcomes: int
    videos: int
    #: Median seconds from the create to the stored video, over the window's videos.
    median_seconds: float | None
    #: While the route cools down: until when; None otherwise.
    cooling_until: datetime | None
    #: The cool-down is over and the route is being tried again (half-open).
    retrying: bool

    @property
    def success_share(self) -> Decimal | None:
        return Decimal(self.videos) / self.outcomes if self.outcomes else None


class RouteHealth:
    """What this process has seen of each route (by provider and model id), for `order_routes` and /stats."""

    def __init__(self, *, window: int, cooldown_failures: int, cooldown_seconds: float, clock: Clock) -> None:
        self._clock = clock
        self._window = window
        self._cooldown_failures = cooldown_failures
        self._cooldown = timedelta(seconds=cooldown_seconds)
        self._tracks: dict[tuple[str, str], _Track] = {}

    @property
    def window(self) -> int:
        return self._window

    def _track(self, route: Route) -> _Track:
        key = (route.provider, route.model_id)
        if key not in self._tracks:
            self._tracks[key] = _Track(deque(maxlen=self._window))
        return self._tracks[key]

    def ready(self, route: Route) -> bool:
        """Whether a create may go to `route` now: its breaker is closed, or its cool-down is over and no
        try is under way (a try not heard of for another cool-down, e.g. a cancelled task, lets the next
        one go)."""
        track = self._tracks.get((route.provider, route.model_id))
        if track is None or track.cooling_until is None:
            return True
        now = self._clock()
        if now < track.cooling_until:
            return False
        return track.trial_since is None or now >= track.trial_since + self._cooldown

    def attempt(self, route: Route) -> None:
        """A create is about to go to `route`: after its cool-down, this is its one try."""
        track = self._tracks.get((route.provider, route.model_id))
        now = self._clock()
        if track is not None and track.cooling_until is not None and now >= track.cooling_until:
            track.trial_since = now

    def succeeded(
        self,
        route: Route,
        *,
        started_at: datetime | None,
        duration: int | None,
        cost_usd: float | None,
    ) -> None:
        """The route made a video (its create went out at `started_at`): the breaker closes."""
        track = self._track(route)
        seconds = None if started_at is None else max(0.0, (self._clock() - started_at).total_seconds())
        track.outcomes.append(_Outcome(True, seconds))
        track.failures_in_a_row = 0
        track.cooling_until = track.trial_since = None
        if cost_usd is not None and duration is not None:
            track.costs.setdefault(duration, deque(maxlen=self._window)).append(Decimal(str(cost_usd)))

    def failed(self, route: Route) -> None:
        """The route failed a create or a task on its side; enough in a row (or the try after a cool-down)
        open the breaker. Failures of tasks sent before it opened do not prolong a cool-down."""
        track = self._track(route)
        track.outcomes.append(_Outcome(False))
        track.failures_in_a_row += 1
        now = self._clock()
        cooling = track.cooling_until is not None and now < track.cooling_until
        if track.failures_in_a_row >= self._cooldown_failures and not cooling:
            track.cooling_until = now + self._cooldown
            track.trial_since = None

    def released(self, route: Route) -> None:
        """A create or task on `route` ended in a way that says nothing about it (a content-policy
        refusal, a rate limit, a cancel): nothing is counted, and a try after a cool-down may go again."""
        track = self._tracks.get((route.provider, route.model_id))
        if track is not None:
            track.trial_since = None

    def cost_usd(self, route: Route, duration: int) -> Decimal | None:
        """What a video of `duration` seconds costs on `route`: the average its provider reported for the
        window's videos of that duration, else the catalog's price; None when neither is known."""
        track = self._tracks.get((route.provider, route.model_id))
        reported = None if track is None else track.costs.get(duration)
        if reported:
            return sum(reported, Decimal(0)) / len(reported)
        listed = route.cost_usd(duration)
        return listed if listed > 0 else None

    def share(self, route: Route) -> float:
        """The window's share of outcomes that made a video; a route without any counts as healthy."""
        track = self._tracks.get((route.provider, route.model_id))
        if track is None or not track.outcomes:
            return 1.0
        return track.videos() / len(track.outcomes)

    def median_seconds(self, route: Route) -> float | None:
        """The window's median time from a create to its stored video; None before the first video."""
        track = self._tracks.get((route.provider, route.model_id))
        return None if track is None else track.median_seconds()

    def report(self) -> list[RouteReport]:
        """Every route this process has heard of, by provider and model id."""
        now = self._clock()
        found = []
        for (provider, model_id), track in sorted(self._tracks.items()):
            until = track.cooling_until
            found.append(
                RouteReport(
                    provider=provider,
                    model_id=model_id,
                    outcomes=len(track.outcomes),
                    videos=track.videos(),
                    median_seconds=track.median_seconds(),
                    cooling_until=until if until is not None and now < until else None,
                    retrying=until is not None and now >= until,
                )
            )
        return found


def _rank(
    policy: RoutingPolicy, request: VideoRequest, health: RouteHealth
) -> Callable[[tuple[int, Route]], Any]:
    """The sort key of (priority position, route) under `policy`; ties keep the priority order."""
    if policy == "cheapest":
        duration = request.duration or 0

        def cheapest(item: tuple[int, Route]) -> Any:
            cost = health.cost_usd(item[1], duration)
            return (cost is None, cost or Decimal(0), item[0])  # unpriced routes after the priced ones

        return cheapest
    if policy == "healthiest":

        def healthiest(item: tuple[int, Route]) -> Any:
            median = health.median_seconds(item[1])
            return (-health.share(item[1]), median is None, median or 0.0, item[0])

        return healthiest
    return lambda item: item[0]


def order_routes(
    policy: RoutingPolicy,
    routes: Sequence[Route],
    request: VideoRequest,
    health: RouteHealth,
) -> list[Route]:
    """`routes` (which accept `request`, in priority order) in the order to try them under `policy`:
    priority keeps it; cheapest puts the lowest cost for the request's duration first (unpriced routes
    last); healthiest the largest share of videos in the window, then the shortest median time to one.
    Routes cooling down are left out, unless every route is: then all of them, in the policy's order."""
    ranked = [route for _, route in sorted(enumerate(routes), key=_rank(policy, request, health))]
    ready = [route for route in ranked if health.ready(route)]
    return ready or ranked
