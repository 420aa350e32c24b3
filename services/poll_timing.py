"""When to look at a provider task next: one rule for the poller and the operator CLI.

The provider's own hint (Retry-After, openai-poll-after-ms) or POLL_INTERVAL_SECONDS, never below the
provider's MIN_POLL_INTERVALS entry nor a floor that keeps a bad hint from turning into a busy loop; after
errors, doubling from POLL_INTERVAL_SECONDS up to a cap, a longer hint winning.
"""

from __future__ import annotations

from typing import Protocol

#: The shortest gap between two polls of one task, whatever a provider hints.
MIN_GAP_SECONDS = 1.0
#: The longest wait between two polls after repeated errors.
BACKOFF_MAX_SECONDS = 300.0


class PollSettings(Protocol):
    poll_interval_seconds: float

    def min_poll_interval(self, provider: str) -> float: ...


def poll_gap(settings: PollSettings, provider: str | None, hint: float | None) -> float:
    """Seconds until the next poll of a task that is running normally."""
    gap = settings.poll_interval_seconds if hint is None else hint
    floor = settings.min_poll_interval(provider) if provider else 0.0
    return max(gap, floor, MIN_GAP_SECONDS)


def backoff_gap(
    settings: PollSettings, provider: str | None, attempts: int, hint: float | None, *, jitter: float = 1.0
) -> float:
    """Seconds until the next try after `attempts` errors in a row (1 for the first); `jitter` spreads
    many tasks' retries (the poller passes a random factor around 1)."""
    delay = min(BACKOFF_MAX_SECONDS, settings.poll_interval_seconds * 2 ** min(attempts - 1, 10)) * jitter
    floor = settings.min_poll_interval(provider) if provider else 0.0
    return max(delay, hint or 0.0, floor)
