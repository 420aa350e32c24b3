"""APScheduler 3 jobs that drive the poller: the poll tick, the hard-timeout sweep, media retention.

`coalesce` + `max_instances=1` mean a slow tick is never overlapped by the next one; missed runs collapse
into one. The scheduler must be started inside the running event loop.
"""

from __future__ import annotations

from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from services.poller import Poller
from services.settings import Settings

RETENTION_INTERVAL_HOURS = 1


def build_scheduler(poller: Poller, settings: Settings) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(
        timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
    )
    now = datetime.now(UTC)
    interval = settings.poll_interval_seconds
    scheduler.add_job(poller.tick, "interval", seconds=interval, id="poll", next_run_time=now)
    scheduler.add_job(poller.sweep, "interval", seconds=interval, id="hard-timeouts", next_run_time=now)
    if settings.media_retention_days:
        scheduler.add_job(
            poller.clean_media,
            "interval",
            hours=RETENTION_INTERVAL_HOURS,
            id="media-retention",
            next_run_time=now,
        )
    return scheduler
