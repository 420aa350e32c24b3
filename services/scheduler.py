"""APScheduler 3 jobs: the poller's hard-timeout sweep, the outbox's left-over notices, media retention,
and the heartbeat that `python -m bot health` checks. The poller's own loop (`Poller.run`) is not a job:
it claims work the moment it is due, not at the next tick.

`coalesce` + `max_instances=1` mean a slow tick is never overlapped by the next one; missed runs collapse
into one. The scheduler must be started inside the running event loop.

Every replica runs every job. That is safe by construction for the sweep and the notices (they lease
their rows in the store: `claim_due_generations`, `claim_due_notices`) and meant for the heartbeat (one
file per replica); media retention, which only lists and marks rows, runs behind the `JobGate`, so with
REDIS_URL one replica per interval does it (services/dedup.py).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from services import heartbeat
from services.dedup import JobGate
from services.notices import Notices
from services.poller import Poller
from services.retention import MediaRetention
from services.settings import Settings

RETENTION_INTERVAL_HOURS = 1
#: The loggers APScheduler writes its per-run lines to (the executor and job store are named "default").
APSCHEDULER_LOGGERS = (
    "apscheduler.scheduler",
    "apscheduler.executors.default",
    "apscheduler.jobstores.default",
)


class DemoteRoutine(logging.Filter):
    """APScheduler logs "Running job" and "executed successfully" at INFO for every run: four lines per
    poll interval, ~35,000 a day; and a job still running at shutdown is cancelled and logged as an ERROR
    with a traceback. Those records become DEBUG (shown only when the logger is enabled for DEBUG, e.g.
    LOG_LEVEL=DEBUG); other warnings and errors (a skipped run, a job's exception) are untouched."""

    def filter(self, record: logging.LogRecord) -> bool:
        cancelled = record.exc_info is not None and isinstance(record.exc_info[1], asyncio.CancelledError)
        if record.levelno != logging.INFO and not cancelled:
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


_DEMOTE = DemoteRoutine()


def quiet_scheduler_logs() -> None:
    """Install the filter on APScheduler's loggers (a logger filter does not see its children's records,
    so each logger gets it); installing it twice changes nothing."""
    for name in APSCHEDULER_LOGGERS:
        logging.getLogger(name).addFilter(_DEMOTE)


def build_scheduler(
    poller: Poller,
    retention: MediaRetention,
    notices: Notices,
    settings: Settings,
    *,
    gate: JobGate | None = None,
) -> AsyncIOScheduler:
    """The jobs; `gate` decides which replica runs the ones that must run once (this one by default)."""
    quiet_scheduler_logs()
    scheduler = AsyncIOScheduler(
        timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
    )
    now = datetime.now(UTC)
    interval = settings.poll_interval_seconds
    scheduler.add_job(poller.sweep, "interval", seconds=interval, id="hard-timeouts", next_run_time=now)
    # notices a kill or an outage left untold (services/notices.py); fresh ones are their step's
    scheduler.add_job(notices.drain, "interval", seconds=interval, id="notices", next_run_time=now)
    scheduler.add_job(
        heartbeat.beat,
        "interval",
        seconds=interval,
        id="heartbeat",
        args=[heartbeat.heartbeat_path(settings)],
        next_run_time=now,
    )
    if settings.media_retention_days:
        every = RETENTION_INTERVAL_HOURS * 3600
        scheduler.add_job(
            (gate or JobGate()).once("media-retention", every, retention.clean),
            "interval",
            hours=RETENTION_INTERVAL_HOURS,
            id="media-retention",
            next_run_time=now,
        )
    return scheduler
