"""One sqlite3 connection owned by one thread, driven from asyncio in one hop per call.

`await conn.run(fn, *args)` hands the plain synchronous function `fn(db, *args)` to the connection's
thread and returns its result (or raises its exception) when it is done: one trip there and back,
however many statements `fn` executes. A store therefore writes each operation as one function doing its
whole transaction, instead of one await per statement (aiosqlite's model: BEGIN, each execute, each
fetch and COMMIT were a thread hop each).

The thread runs the functions one at a time in the order they were handed over, so two coroutines never
interleave statements on the connection: no asyncio lock is needed around a transaction. A call whose
caller was cancelled before the thread reached it is skipped; one already running finishes (a function
that began a transaction commits or rolls it back itself). Results go back to the event loop in
batches (`DELIVER_AT_MOST`): waking the loop once per result cost it more than the result's own work.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

#: Outcomes the thread hands back with one wake-up of the event loop, at most. The thread hands back
#: what it has whenever it finds nothing more to run, so a lone call is never held back; under load a
#: result waits for at most this many calls after it (about 0.1 ms each for a debit).
DELIVER_AT_MOST = 32


#: (loop, future, exception, result) of a call the thread has run.
_Outcome = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", BaseException | None, Any]


class _Job:
    __slots__ = ("args", "fn", "future", "loop")

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
    ) -> None:
        self.fn, self.args, self.loop, self.future = fn, args, loop, future


def _stop(db: sqlite3.Connection) -> None:
    db.close()


class SqliteConnection:
    """A sqlite3 connection in autocommit mode (`isolation_level=None`: transactions are explicit) with
    `sqlite3.Row` rows, living in a thread of its own. Open it with `open()`, end it with `close()`."""

    def __init__(self, path: str) -> None:
        """Use `open()`; this only prepares the thread."""
        self._path = path
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name=f"sqlite {Path(path).name}", daemon=True)

    @classmethod
    async def open(cls, path: Path | str) -> SqliteConnection:
        """Start the thread and connect in it; sqlite3's errors (a folder that is a file, no permission)
        are raised here as sqlite3 raised them."""
        conn = cls(str(path))
        loop = asyncio.get_running_loop()
        connected: asyncio.Future[None] = loop.create_future()
        conn._jobs.put(_Job(_connect, (), loop, connected))  # the first job: the thread has no db yet
        conn._thread.start()
        try:
            await connected
        except BaseException:
            conn._closed = True
            conn._jobs.put(_Job(_stop, (), loop, loop.create_future()))  # ends the thread if it connected
            raise
        return conn

    @property
    def path(self) -> str:
        return self._path

    @property
    def closed(self) -> bool:
        return self._closed

    async def run(self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args) -> T:
        """`fn(db, *args)` in the connection's thread; its result or its exception, in one hop."""
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Job(fn, args, loop, future))
        return await future

    async def execute(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        """One statement in autocommit mode, every row it returns (for tests and one-off statements)."""
        return await self.run(_execute, sql, params)

    async def close(self) -> None:
        """Run what was handed over before, close the connection in its thread and end the thread.
        Closing twice does nothing."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._jobs.put(_Job(_stop, (), loop, done))
        await done

    def _serve(self) -> None:
        db: sqlite3.Connection | None = None
        done: list[_Outcome] = []
        while True:
            job = self._jobs.get()
            stop = job.fn is _stop
            # a call whose caller gave up before its turn is skipped (a racy read, harmlessly so)
            if db is None or stop or not job.future.cancelled():
                error: BaseException | None = None
                result: Any = None
                try:
                    if db is None:  # the first job connects
                        db = _connect(self._path)
                    else:
                        result = job.fn(db, *job.args)
                except BaseException as caught:
                    error = caught
                    stop = stop or db is None  # no connection, no thread
                done.append((job.loop, job.future, error, result))
                del error, result  # the thread keeps no reference to a result or a traceback
            del job
            if done and (stop or len(done) >= DELIVER_AT_MOST or self._jobs.empty()):
                _deliver(done)
                done = []
            if stop:
                return


def _deliver(done: list[_Outcome]) -> None:
    """Wake the event loop once for all of `done` (one loop, nearly always): each wake-up is a write to
    the loop's self-pipe and a trip through its selector, and costs the loop thread more than settling
    a future does."""
    loop = done[0][0]
    batches = [done] if all(o[0] is loop for o in done) else [[o] for o in done]
    for batch in batches:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for these outcomes
            batch[0][0].call_soon_threadsafe(_settle_all, batch)


def _settle_all(done: list[_Outcome]) -> None:
    """In the event loop's thread: hand each outcome to its waiting coroutine, unless it gave up."""
    for _, future, error, result in done:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


def _connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.row_factory = sqlite3.Row
    return db


def _execute(db: sqlite3.Connection, sql: str, params: Any) -> list[sqlite3.Row]:
    return db.execute(sql, params).fetchall()
