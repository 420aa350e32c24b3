"""APScheduler's per-run INFO lines (and jobs cancelled at shutdown) are demoted to DEBUG, not silenced;
its other warnings and errors stay."""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.scheduler import APSCHEDULER_LOGGERS, DemoteRoutine, quiet_scheduler_logs

EXECUTOR = "apscheduler.executors.default"


@pytest.fixture(autouse=True)
def _quiet() -> None:
    quiet_scheduler_logs()
    quiet_scheduler_logs()  # installing twice is harmless (build_scheduler may run more than once)


def records(caplog: pytest.LogCaptureFixture, name: str) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == name]


def test_routine_lines_are_hidden_at_info_and_real_warnings_and_errors_still_show(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    executor = logging.getLogger(EXECUTOR)
    executor.info('Running job "Poller.tick" (scheduled at 2026-11-22 12:00:00+00:00)')
    executor.info('Job "Poller.tick" executed successfully')
    logging.getLogger("apscheduler.scheduler").warning(
        'Execution of job "Poller.tick" skipped: maximum number of running instances reached (1)'
    )
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        executor.exception('Job "Poller.tick" raised an exception')
    cancelled = asyncio.CancelledError()
    executor.error("Error running job poll", exc_info=(asyncio.CancelledError, cancelled, None))
    assert records(caplog, EXECUTOR) == [(logging.ERROR, 'Job "Poller.tick" raised an exception')]
    [(level, message)] = records(caplog, "apscheduler.scheduler")
    assert level == logging.WARNING and "maximum number of running instances reached" in message
    for name in APSCHEDULER_LOGGERS:
        assert sum(isinstance(f, DemoteRoutine) for f in logging.getLogger(name).filters) == 1, name


def test_per_run_lines_show_as_debug_when_debug_is_on(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger(EXECUTOR).info('Job "Poller.tick" executed successfully')
    [record] = [r for r in caplog.records if r.name == EXECUTOR]
    assert (record.levelno, record.levelname) == (logging.DEBUG, "DEBUG")
