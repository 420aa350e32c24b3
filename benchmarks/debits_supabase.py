"""Cost of a debit through the Supabase backend: `SupabaseStore.apply_ledger_entry` against the ceiling.

Starts a real PostgreSQL with the project's migrations (tests/fakes/postgres.py, as the test suite does)
and the PostgREST protocol double (tests/fakes/supabase.py) in a child process, as PostgREST is a process
of its own in production, so the CPU of this process is the client's alone. Then N concurrent debits
(negative ledger entries, amounts 1..5) over W wallets funded so that about a third are refused for
insufficient funds, first through `SupabaseStore`, then the same workload on a fresh database through
the same SQL function called directly over an asyncpg pool: the ceiling. Goal: the store's rate at
least 0.3 of the ceiling's, with no overdraft (balance >= 0 and balance == sum of the ledger per user,
applied + refused == N; exit code 1 when violated). Each run prints its rate and the CPU per debit of
the client (this process), of the double and of PostgreSQL (from /proc), so the double's share of the
gap shows: real PostgREST is not Python.

    python benchmarks/debits_supabase.py [--entries 5000] [--wallets 100] [--concurrency 32] [--tls]

The double serves plain HTTP (like a local `supabase start`) unless --tls: then HTTPS with a throwaway
certificate, like a hosted project.

Loopback only; every run is bounded by --timeout, and PostgreSQL is stopped and its files removed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import ssl
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import asyncpg

from storage.records import Applied, InsufficientFunds, LedgerKind, NewLedgerEntry
from storage.supabase import SupabaseStore
from tests.fakes.postgres import PostgresServer

GOAL = 0.3
SERVICE_KEY = "sb_secret_" + "benchmark-service-role-key"
ANON_KEY = "sb_publishable_" + "benchmark-anon-key"
SEED = 20261203
#: Every wallet gets this many credits per debit it will see: the mean debit is 3, so about a third of
#: the debits find the wallet empty.
FUNDS_PER_DEBIT = 2
DEBIT_SQL = "select public.apply_ledger_entry($1, $2, 'debit', $3)::text"


# --- the double (child process) ---------------------------------------------------------------------


async def serve(dsn: str, tls: bool) -> None:
    """The PostgREST double on `dsn`; prints {url, cert} as one line, then answers "cpu" with this
    process's CPU seconds, until stdin closes."""
    from tests.fakes.supabase import FakeSupabase, _tls

    with tempfile.TemporaryDirectory(prefix="debits-double-") as root:
        fake = FakeSupabase(dsn, service_key=SERVICE_KEY, anon_key=ANON_KEY, storage_root=Path(root), tls=tls)
        await fake.start()
        try:
            print(json.dumps({"url": fake.url, "cert": _tls()[1] if tls else None}), flush=True)
            while line := await asyncio.to_thread(sys.stdin.readline):
                if line.strip() == "cpu":
                    print(time.process_time(), flush=True)
        finally:
            await fake.close()


class Double:
    """The child process running the double, and its CPU meter."""

    def __init__(self, process: asyncio.subprocess.Process, url: str, cert: str | None) -> None:
        self.process, self.url, self.cert = process, url, cert

    @classmethod
    async def start(cls, dsn: str, tls: bool) -> Double:
        args = [sys.executable, __file__, "--serve", dsn, *(["--tls"] if tls else [])]
        process = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert process.stdout is not None
        line = await process.stdout.readline()
        if not line:
            await process.wait()
            raise RuntimeError(f"the double did not start (exit code {process.returncode})")
        hello = json.loads(line)
        return cls(process, hello["url"], hello["cert"])

    async def cpu(self) -> float:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(b"cpu\n")
        await self.process.stdin.drain()
        return float(await self.process.stdout.readline())

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


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
    client_cpu: float
    double_cpu: float | None
    postgres_cpu: float | None
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


async def through_store(dsn: str, postmaster: int, work: Workload, concurrency: int, tls: bool) -> Run:
    """The bot's path: SupabaseStore (supabase-py's client) -> the double in a child -> PostgreSQL."""
    double = await Double.start(dsn, tls)
    try:
        verify: ssl.SSLContext | bool = True
        if double.cert is not None:
            verify = ssl.create_default_context(cadata=double.cert)
        store = await SupabaseStore.open(double.url, SERVICE_KEY, verify=verify)
        try:
            for user_id, credits in work.funds.items():
                await store.ensure_user(user_id)
                entry = NewLedgerEntry(user_id, credits, LedgerKind.ADMIN, f"fund:{user_id}")
                if not isinstance(await store.apply_ledger_entry(entry), Applied):
                    raise RuntimeError(f"funding user {user_id} failed")

            async def warm(i: int) -> bool:  # opens the pool's connections (and TLS sessions)
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
            label = "SupabaseStore -> PostgREST double"
            return await timed(label, work, concurrency, debit, double, postmaster)
        finally:
            await store.close()
    finally:
        await double.stop()


async def direct(dsn: str, postmaster: int, work: Workload, concurrency: int) -> Run:
    """The ceiling: the same SQL function over an asyncpg pool as service_role, one statement a debit."""
    pool = await asyncpg.create_pool(
        dsn, min_size=concurrency, max_size=concurrency, server_settings={"role": "service_role"}
    )
    try:
        for user_id, credits in work.funds.items():
            await pool.execute("select public.ensure_user($1)", user_id)
            await pool.execute(
                "select public.apply_ledger_entry($1, $2, 'admin', $3)", user_id, credits, f"fund:{user_id}"
            )

        async def warm(i: int) -> bool:  # prepares the statement on every connection
            return await pool.fetchval(DEBIT_SQL, 1, 1, "fund:1") is not None

        async def debit(i: int) -> bool:
            user_id, credits = work.debits[i]
            outcome = json.loads(await pool.fetchval(DEBIT_SQL, user_id, -credits, f"bench:{i}"))
            if outcome["outcome"] not in ("applied", "insufficient"):
                raise RuntimeError(f"debit {i}: unexpected {outcome!r}")
            return outcome["outcome"] == "applied"

        await concurrently(concurrency, concurrency, warm)
        return await timed("apply_ledger_entry over asyncpg", work, concurrency, debit, None, postmaster)
    finally:
        await pool.close()


async def timed(
    label: str,
    work: Workload,
    concurrency: int,
    debit: Callable[[int], Awaitable[bool]],
    double: Double | None,
    postmaster: int,
) -> Run:
    double_before = await double.cpu() if double is not None else 0.0
    postgres_before = postgres_cpu(postmaster)
    cpu_before, started = time.process_time(), time.perf_counter()
    applied = sum(await concurrently(len(work.debits), concurrency, debit))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    postgres_after = postgres_cpu(postmaster)
    double_cpu = await double.cpu() - double_before if double is not None else None
    postgres = None if postgres_before is None or postgres_after is None else postgres_after - postgres_before
    return Run(label, seconds, cpu, double_cpu, postgres, applied, len(work.debits) - applied)


def postgres_cpu(postmaster: int) -> float | None:
    """CPU seconds of the PostgreSQL server so far (the postmaster and its backends, from /proc; None
    where there is no /proc). The runs keep their connections open, so no backend's time is lost."""
    total = 0
    try:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", encoding="ascii") as stat:
                    fields = stat.read().rpartition(")")[2].split()
            except OSError:  # gone meanwhile
                continue
            if int(entry.name) == postmaster or int(fields[1]) == postmaster:  # fields[1]: the parent
                total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    except OSError:
        return None
    return total / os.sysconf("SC_CLK_TCK")


# --- checks -----------------------------------------------------------------------------------------


async def overdrafts(dsn: str, work: Workload, run: Run) -> list[str]:
    """What breaks "no overdraft": a negative balance, a balance that is not its ledger's sum, a debit
    applied but not in the ledger (or the other way round), a debit neither applied nor refused."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """select w.user_id, w.balance, coalesce(sum(l.delta), 0) as ledger,
                      count(l.id) filter (where l.kind = 'debit') as debits
               from public.wallets w left join public.ledger l on l.user_id = w.user_id
               group by w.user_id, w.balance"""
        )
    finally:
        await conn.close()
    problems = [
        f"user {r['user_id']}: balance {r['balance']}, ledger sum {r['ledger']}"
        for r in rows
        if r["balance"] < 0 or r["balance"] != r["ledger"]
    ]
    if len(rows) != len(work.funds):
        problems.append(f"{len(rows)} wallets, expected {len(work.funds)}")
    in_ledger = sum(int(r["debits"]) for r in rows)
    if in_ledger != run.applied:
        problems.append(f"{run.applied} debits applied, {in_ledger} in the ledger")
    if run.applied + run.refused != len(work.debits):
        problems.append(f"{run.applied} applied + {run.refused} refused != {len(work.debits)}")
    if run.refused == 0:
        problems.append("no debit was refused: the workload did not test insufficient funds")
    return problems


# --- main -------------------------------------------------------------------------------------------


def line(run: Run, entries: int) -> str:
    cpu = f"CPU ms/debit: client {run.client_cpu / entries * 1000:.2f}"
    if run.double_cpu is not None:
        cpu += f", double {run.double_cpu / entries * 1000:.2f}"
    if run.postgres_cpu is not None:
        cpu += f", PostgreSQL {run.postgres_cpu / entries * 1000:.2f}"
    return (
        f"{run.label + ':':<36} {run.seconds:.2f} s = {run.rate(entries):,.0f} debits/s, {cpu}"
        f" ({run.applied} applied, {run.refused} refused)"
    )


async def benchmark(entries: int, wallets: int, concurrency: int, tls: bool) -> bool:
    work = Workload.make(entries, wallets)
    server = await asyncio.to_thread(PostgresServer.start)
    try:
        await server.build_template()
        server.prepare_databases()
        store_db, direct_db = await server.create_database(), await server.create_database()
        postmaster = server.process.pid
        store_run = await through_store(server.dsn(store_db), postmaster, work, concurrency, tls)
        store_problems = await overdrafts(server.dsn(store_db), work, store_run)
        direct_run = await direct(server.dsn(direct_db), postmaster, work, concurrency)
        direct_problems = await overdrafts(server.dsn(direct_db), work, direct_run)
    finally:
        await asyncio.to_thread(server.stop)
    scheme = "HTTPS" if tls else "HTTP"
    print(
        f"debits_supabase: {entries} debits over {wallets} wallets, concurrency {concurrency},"
        f" double over {scheme}, {os.cpu_count()} CPUs"
    )
    print(line(store_run, entries))
    print(line(direct_run, entries))
    for label, problems in (("store", store_problems), ("direct", direct_problems)):
        for problem in problems:
            print(f"OVERDRAFT CHECK FAILED ({label}): {problem}")
    if not store_problems and not direct_problems:
        print("no overdraft: balances >= 0, balance == ledger sum per user, applied + refused == N")
    ratio = store_run.rate(entries) / direct_run.rate(entries)
    met = ratio >= GOAL
    shown = math.floor(ratio * 100) / 100  # rounded down: a miss never prints as the goal
    print(f"ratio {shown:.2f} (goal \N{GREATER-THAN OR EQUAL TO} {GOAL}): {'met' if met else 'missed'}")
    return not store_problems and not direct_problems


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=5000, help="debits in the run (default 5000)")
    parser.add_argument("--wallets", type=int, default=100, help="wallets they are spread over (default 100)")
    parser.add_argument("--concurrency", type=int, default=32, help="debits in flight (default 32)")
    parser.add_argument("--tls", action="store_true", help="the double serves HTTPS (default: plain HTTP)")
    parser.add_argument("--timeout", type=float, default=300, help="give up after this many seconds")
    parser.add_argument("--serve", metavar="DSN", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.tls))
        return 0
    if min(args.entries, args.wallets, args.concurrency) < 1:
        parser.error("--entries, --wallets and --concurrency must be at least 1")

    async def bounded() -> bool:
        return await asyncio.wait_for(
            benchmark(args.entries, args.wallets, args.concurrency, args.tls), args.timeout
        )

    return 0 if asyncio.run(bounded()) else 1


if __name__ == "__main__":
    sys.exit(main())
