"""Cost of a debit through the SQLite backend: `SqliteStore.apply_ledger_entry` against the ceiling.

N concurrent debits (negative ledger entries, amounts 1..5) over W wallets funded so that about a third
are refused for insufficient funds, first through `SqliteStore` (the bot's path: one trip to the
connection's thread per debit, the whole transaction there) on a fresh file, then the ceiling: bare
sqlite3 in one thread, one transaction per debit (BEGIN IMMEDIATE, `UPDATE users SET balance = balance - ?
... WHERE id = ? AND balance >= ? RETURNING balance`, the ledger INSERT when it matched, COMMIT) on a
second fresh file with the same schema (the project's migrations, triggers included) and the same
PRAGMAs (WAL, synchronous=NORMAL, foreign_keys, busy_timeout). Goal: the store's rate at least 0.5 of the
ceiling's, with no overdraft (balance >= 0 and balance == sum of the ledger per user, applied + refused
== N; exit code 1 when violated). Each run prints its rate and the CPU per debit of this process (for
the store, also the part spent in the event loop's thread).

    python benchmarks/debits_sqlite.py [--entries 5000] [--wallets 100] [--concurrency 32]

Everything lives in a temporary folder, removed at the end; every run is bounded by --timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from storage.records import Applied, InsufficientFunds, LedgerKind, NewLedgerEntry
from storage.rows import ts
from storage.sqlite import SqliteStore, _configure

GOAL = 0.5
SEED = 20261203
#: Every wallet gets this many credits per debit it will see: the mean debit is 3, so about a third of
#: the debits find the wallet empty.
FUNDS_PER_DEBIT = 2


# --- the workload -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Workload:
    funds: dict[int, int]  # user id -> credits before the debits
    debits: list[tuple[int, int]]  # (user id, credits), in the order they are started

    @classmethod
    def make(cls, entries: int, wallets: int) -> Workload:
        rng = random.Random(SEED)
        debits = [(1 + i % wallets, rng.randint(1, 5)) for i in range(entries)]
        rng.shuffle(debits)
        per_user: dict[int, int] = {}
        for user_id, _ in debits:
            per_user[user_id] = per_user.get(user_id, 0) + 1
        return cls({u: n * FUNDS_PER_DEBIT for u, n in per_user.items()}, debits)


@dataclass
class Run:
    label: str
    seconds: float
    cpu: float
    loop_cpu: float | None  # the event loop thread's share of `cpu`, where there is one
    applied: int
    refused: int

    def rate(self, entries: int) -> float:
        return entries / self.seconds


async def concurrently(count: int, concurrency: int, one: Callable[[int], Awaitable[bool]]) -> list[bool]:
    """`one(i)` for every i, at most `concurrency` at a time; True = applied, False = refused."""
    gate = asyncio.Semaphore(concurrency)

    async def bounded(i: int) -> bool:
        async with gate:
            return await one(i)

    return await asyncio.gather(*(bounded(i) for i in range(count)))


async def through_store(path: Path, work: Workload, concurrency: int) -> Run:
    """The bot's path: `SqliteStore.apply_ledger_entry`, as services/wallet.py calls it."""
    store = await SqliteStore.open(path)
    try:
        for user_id, credits in work.funds.items():
            await store.ensure_user(user_id)
            entry = NewLedgerEntry(user_id, credits, LedgerKind.ADMIN, f"fund:{user_id}")
            if not isinstance(await store.apply_ledger_entry(entry), Applied):
                raise RuntimeError(f"funding user {user_id} failed")

        async def warm(i: int) -> bool:
            return await store.get_user(1 + i % len(work.funds)) is not None

        async def debit(i: int) -> bool:
            user_id, credits = work.debits[i]
            outcome = await store.apply_ledger_entry(
                NewLedgerEntry(user_id, -credits, LedgerKind.DEBIT, f"bench:{i}")
            )
            if not isinstance(outcome, Applied | InsufficientFunds):
                raise RuntimeError(f"debit {i}: unexpected {outcome!r}")
            return isinstance(outcome, Applied)

        await concurrently(concurrency, concurrency, warm)
        loop_before, cpu_before, started = time.thread_time(), time.process_time(), time.perf_counter()
        applied = sum(await concurrently(len(work.debits), concurrency, debit))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_before
        loop_cpu = time.thread_time() - loop_before
    finally:
        await store.close()
    return Run("SqliteStore.apply_ledger_entry", seconds, cpu, loop_cpu, applied, len(work.debits) - applied)


def bare(path: Path, work: Workload) -> Run:
    """The ceiling: plain sqlite3 in this thread, the same PRAGMAs and schema, one transaction a debit."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        _configure(db, migrate=True)  # the store's PRAGMAs and schema, as SqliteStore.open sets them
        now = ts(datetime.now(UTC))
        for user_id, credits in work.funds.items():
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "INSERT INTO users (id, balance, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (user_id, credits, now, now),
            )
            db.execute(
                """INSERT INTO ledger (user_id, delta, kind, idempotency_key, balance_after, created_at)
                   VALUES (?, ?, 'admin', ?, ?, ?)""",
                (user_id, credits, f"fund:{user_id}", credits, now),
            )
            db.execute("COMMIT")
        applied = 0
        cpu_before, started = time.process_time(), time.perf_counter()
        for i, (user_id, credits) in enumerate(work.debits):
            now = ts(datetime.now(UTC))
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    """UPDATE users SET balance = balance - ?, updated_at = ?
                       WHERE id = ? AND balance >= ? RETURNING balance""",
                    (credits, now, user_id, credits),
                ).fetchone()
                if row is not None:
                    db.execute(
                        """INSERT INTO ledger (user_id, delta, kind, idempotency_key, balance_after,
                                               created_at)
                           VALUES (?, ?, 'debit', ?, ?, ?)""",
                        (user_id, -credits, f"bench:{i}", row[0], now),
                    )
                    applied += 1
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    finally:
        db.close()
    return Run("bare sqlite3, one thread", seconds, cpu, None, applied, len(work.debits) - applied)


# --- checks -----------------------------------------------------------------------------------------


def overdrafts(path: Path, work: Workload, run: Run) -> list[str]:
    """What breaks "no overdraft": a negative balance, a balance that is not its ledger's sum, a debit
    applied but not in the ledger (or the other way round), a debit neither applied nor refused."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute(
            """SELECT u.id, u.balance, coalesce(sum(l.delta), 0),
                      coalesce(sum(l.kind = 'debit'), 0)
               FROM users u LEFT JOIN ledger l ON l.user_id = u.id GROUP BY u.id, u.balance"""
        ).fetchall()
    finally:
        db.close()
    problems = [
        f"user {user_id}: balance {balance}, ledger sum {ledger}"
        for user_id, balance, ledger, _ in rows
        if balance < 0 or balance != ledger
    ]
    if len(rows) != len(work.funds):
        problems.append(f"{len(rows)} wallets, expected {len(work.funds)}")
    in_ledger = sum(int(debits) for *_, debits in rows)
    if in_ledger != run.applied:
        problems.append(f"{run.applied} debits applied, {in_ledger} in the ledger")
    if run.applied + run.refused != len(work.debits):
        problems.append(f"{run.applied} applied + {run.refused} refused != {len(work.debits)}")
    if run.refused == 0:
        problems.append("no debit was refused: the workload did not test insufficient funds")
    return problems


# --- main -------------------------------------------------------------------------------------------


def line(run: Run, entries: int) -> str:
    cpu = f"CPU ms/debit {run.cpu / entries * 1000:.3f}"
    if run.loop_cpu is not None:
        cpu += f" (event loop thread {run.loop_cpu / entries * 1000:.3f})"
    return (
        f"{run.label + ':':<33} {run.seconds:.2f} s = {run.rate(entries):,.0f} debits/s, {cpu}"
        f" ({run.applied} applied, {run.refused} refused)"
    )


async def benchmark(entries: int, wallets: int, concurrency: int) -> bool:
    work = Workload.make(entries, wallets)
    with tempfile.TemporaryDirectory(prefix="debits-sqlite-") as root:
        store_file, bare_file = Path(root) / "store.sqlite3", Path(root) / "bare.sqlite3"
        store_run = await through_store(store_file, work, concurrency)
        store_problems = overdrafts(store_file, work, store_run)
        bare_run = bare(bare_file, work)
        bare_problems = overdrafts(bare_file, work, bare_run)
    print(
        f"debits_sqlite: {entries} debits over {wallets} wallets, concurrency {concurrency},"
        f" SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs"
    )
    print(line(store_run, entries))
    print(line(bare_run, entries))
    for label, problems in (("store", store_problems), ("bare", bare_problems)):
        for problem in problems:
            print(f"OVERDRAFT CHECK FAILED ({label}): {problem}")
    if not store_problems and not bare_problems:
        print("no overdraft: balances >= 0, balance == ledger sum per user, applied + refused == N")
    ratio = store_run.rate(entries) / bare_run.rate(entries)
    met = ratio >= GOAL
    shown = math.floor(ratio * 100) / 100  # rounded down: a miss never prints as the goal
    print(
        f"ratio SqliteStore / bare sqlite3 {shown:.2f} (goal \N{GREATER-THAN OR EQUAL TO} {GOAL}):"
        f" {'met' if met else 'missed'}"
    )
    return not store_problems and not bare_problems


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=5000, help="debits in the run (default 5000)")
    parser.add_argument("--wallets", type=int, default=100, help="wallets they are spread over (default 100)")
    parser.add_argument("--concurrency", type=int, default=32, help="debits in flight (default 32)")
    parser.add_argument("--timeout", type=float, default=300, help="give up after this many seconds")
    args = parser.parse_args()
    if min(args.entries, args.wallets, args.concurrency) < 1:
        parser.error("--entries, --wallets and --concurrency must be at least 1")

    async def bounded() -> bool:
        return await asyncio.wait_for(benchmark(args.entries, args.wallets, args.concurrency), args.timeout)

    return 0 if asyncio.run(bounded()) else 1


if __name__ == "__main__":
    sys.exit(main())
