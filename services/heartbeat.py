"""A file the running bot touches from a scheduler job, and the `python -m bot health` check of it.

The web app (with /healthz) runs only when PUBLIC_BASE_URL or WEBHOOK_URL is set, so a container health
check cannot rely on it. The heartbeat is written by a job on the event loop: a stuck loop, a dead
scheduler or a stopped process all leave the file's age growing, which is what the check reads.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from services.settings import Settings

HEARTBEAT_FILE = "heartbeat"
#: The heartbeat counts as stale after this many poll intervals without a beat ...
STALE_INTERVALS = 3
#: ... but never sooner than this, so a very short POLL_INTERVAL_SECONDS does not make the check flap.
MIN_STALE_SECONDS = 30.0


def heartbeat_path(settings: Settings) -> Path:
    return settings.data_dir / HEARTBEAT_FILE


def stale_after(settings: Settings) -> float:
    return max(STALE_INTERVALS * settings.poll_interval_seconds, MIN_STALE_SECONDS)


async def beat(path: Path) -> None:
    """Touch the heartbeat. A coroutine on purpose: it is scheduled on the event loop it vouches for."""
    await asyncio.to_thread(_touch, path)


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def problem(path: Path, *, max_age: float, now: float | None = None) -> str | None:
    """Why the heartbeat is not fresh, in one line; None when it is."""
    try:
        written = path.stat().st_mtime
    except FileNotFoundError:
        return f"unhealthy: no heartbeat at {path} (is the bot running?)"
    age = (time.time() if now is None else now) - written
    if age > max_age:
        return f"unhealthy: heartbeat {path} is {age:.0f} s old (limit {max_age:.0f} s)"
    return None


def check_health(settings: Settings) -> int:
    """`python -m bot health`: 0 when the running bot's heartbeat is fresh, 1 with one line otherwise."""
    path = heartbeat_path(settings)
    reason = problem(path, max_age=stale_after(settings))
    if reason is not None:
        print(reason, file=sys.stderr)
        return 1
    print(f"healthy: heartbeat {path} is fresh")
    return 0
