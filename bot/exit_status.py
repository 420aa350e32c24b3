"""The exit status of `python -m bot` for each failure an operator can fix (README, "Exit status").

Kept free of heavy imports: `python -m bot health` (the container health check, run every few seconds)
and `check` use it without loading aiogram.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    NO_MODEL = 1  # `check` only: the configuration is valid, but no model can be ordered
    CONFIG = 2
    STORAGE_PATH = 3
    TELEGRAM_UNREACHABLE = 4
    TOKEN_REJECTED = 5
    SUPABASE = 6
    PORT_IN_USE = 7
    JOBS_FAILED = 8  # `generate` / `batch`: no video was made (every job failed, or every line was bad)
    PARTIAL = 9  # `batch`: some videos were made, other jobs failed or their lines were bad
    UNEXPECTED = 70  # EX_SOFTWARE of sysexits.h
    INTERRUPTED = 130  # `generate` / `batch` stopped by Ctrl-C (128 + SIGINT); the manifests resume


class StartupError(Exception):
    """A start-up failure with its one line for the operator and the process exit status."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.code = code
