"""The embedded backend: one SQLite file in WAL mode, every money/lifecycle operation one transaction.

Transactions start with BEGIN IMMEDIATE so the write lock is taken up front: two processes on the same
file (a restart racing a stale one, a second poller) queue on SQLite's lock instead of failing a lock
upgrade half-way.

The connection lives in a thread of its own (storage/sqlite_connection.py) and every store call is one
trip there: a plain synchronous function does the whole operation (BEGIN IMMEDIATE, its statements,
COMMIT, or ROLLBACK on any exception) in that thread. The thread runs one function at a time, so
coroutines never interleave statements on the connection. `open_lane()` gives the poller a second
connection with a thread of its own.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from storage.errors import StorageError, StoragePathError, UnknownUserError, os_reason
from storage.interfaces import Store
from storage.records import (
    ACTIVE_STATUSES,
    REFUNDED_STATUSES,
    AlreadyApplied,
    Applied,
    BanOutcome,
    CreateOutcome,
    Generation,
    GenerationCreated,
    GenerationStatus,
    InsufficientFunds,
    LedgerEntry,
    LedgerKind,
    LedgerOutcome,
    ModerationEvent,
    ModerationSource,
    NewGeneration,
    NewLedgerEntry,
    NewModerationEvent,
    NewPayment,
    Notice,
    NoticeOutcome,
    NotRefundable,
    Payment,
    PaymentRefunded,
    ReceivedUpdate,
    Refunded,
    RefundOutcome,
    Stats,
    TooManyActive,
    User,
)
from storage.rows import RowMapper, ts
from storage.sqlite_connection import SqliteConnection

T = TypeVar("T")
Params = Iterable[Any] | Mapping[str, Any]

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
#: SQLite keeps the JSON columns (request, result_meta) as text.
_rows = RowMapper(load_json=json.loads, dump_json=json.dumps)


def _bind(params: Params) -> tuple[Any, ...] | dict[str, Any]:
    """Named parameters stay a mapping; positional ones become a tuple."""
    return dict(params) if isinstance(params, Mapping) else tuple(params)


# --- in the connection's thread: plain sqlite3 ------------------------------------------------------


def _fetch_all(db: sqlite3.Connection, sql: str, params: Params = ()) -> list[sqlite3.Row]:
    """One statement, run to its end (a RETURNING statement too), and its rows."""
    return db.execute(sql, _bind(params)).fetchall()


def _fetch_one(db: sqlite3.Connection, sql: str, params: Params = ()) -> sqlite3.Row | None:
    rows = db.execute(sql, _bind(params)).fetchall()
    return rows[0] if rows else None


def _transaction(db: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """`work(db)` as one IMMEDIATE transaction: committed if it returns, rolled back if anything raises
    (the commit included; an error after which SQLite already rolled back needs no ROLLBACK)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        result = work(db)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return result


def _placeholders(values: Iterable[Any]) -> str:
    return ",".join("?" for _ in values)


def _assignments(fields: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """`, name = ?` for each changed column (appended to an UPDATE's SET), and the values to bind."""
    values = _rows.fields(fields)
    return "".join(f", {name} = ?" for name in values), list(values.values())


class SqliteStore(Store):
    def __init__(self, conn: SqliteConnection) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, path: Path | str) -> SqliteStore:
        """Open (creating if needed) the database file and bring its schema up to date.

        A file that cannot be created, opened or written (a folder that is a file, no permission, not a
        database) raises StoragePathError naming it, which the bot turns into one line at start-up.
        """
        return cls(await _open_connection(path, migrate=True))

    async def open_lane(self) -> SqliteStore:
        """A second connection to the same file, with a thread of its own and the same settings (the
        schema is already up to date), so the poller never queues behind the update handlers' calls.
        An in-memory database is private to its connection: there the lane is this store."""
        if self._conn.path in _PRIVATE_DATABASES:
            return self
        return SqliteStore(await _open_connection(self._conn.path, migrate=False))

    async def close(self) -> None:
        await self._conn.close()

    async def _tx(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(db)` as one IMMEDIATE transaction in the connection's thread: one trip."""
        return await self._conn.run(_transaction, work)

    async def _write(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """One write statement in autocommit mode: atomic on its own. The hot poller paths use it."""
        return await self._conn.run(_fetch_all, sql, params)

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[SqliteConnection]:
        """The connection, for reads through `_one`/`_all` (each one trip; tests/audit.py reads so too)."""
        yield self._conn

    @staticmethod
    async def _one(db: SqliteConnection, sql: str, params: Params = ()) -> sqlite3.Row | None:
        return await db.run(_fetch_one, sql, params)

    @staticmethod
    async def _all(db: SqliteConnection, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return await db.run(_fetch_all, sql, params)

    # users

    async def ensure_user(
        self,
        user_id: int,
        *,
        username: str | None = None,
        language: str | None = None,
        welcome_credits: int = 0,
    ) -> User:
        return await self._conn.run(
            _ensure_user, user_id, username, language, welcome_credits, ts(datetime.now(UTC))
        )

    async def get_user(self, user_id: int) -> User | None:
        async with self._read() as db:
            row = await self._one(db, "SELECT * FROM users WHERE id = ?", (user_id,))
        return None if row is None else _rows.user(row)

    async def find_user_by_username(self, username: str) -> User | None:
        async with self._read() as db:
            row = await self._one(
                db,
                # rows from before usernames had one holder: the one seen last holds it
                """SELECT * FROM users WHERE lower(username) = lower(?)
                   ORDER BY updated_at DESC, id LIMIT 1""",
                (username.lstrip("@"),),
            )
        return None if row is None else _rows.user(row)

    async def set_user_language(self, user_id: int, language: str) -> None:
        await self._set_user_column(user_id, "language", language)

    async def set_user_blocked(self, user_id: int, blocked: bool) -> None:
        await self._set_user_column(user_id, "blocked", int(blocked))

    async def _set_user_column(self, user_id: int, column: str, value: object) -> None:
        now = ts(datetime.now(UTC))

        def update(db: sqlite3.Connection) -> None:
            cur = db.execute(
                f"UPDATE users SET {column} = ?, updated_at = ? WHERE id = ?", (value, now, user_id)
            )
            if cur.rowcount == 0:
                raise UnknownUserError(user_id)

        await self._tx(update)

    # wallet

    async def apply_ledger_entry(self, entry: NewLedgerEntry) -> LedgerOutcome:
        now = ts(datetime.now(UTC))

        def append(db: sqlite3.Connection) -> LedgerOutcome:
            return _append(
                db,
                user_id=entry.user_id,
                delta=entry.delta,
                kind=entry.kind,
                key=entry.idempotency_key,
                now=now,
                admin_id=entry.admin_id,
                reason=entry.reason,
            )

        return await self._tx(append)

    async def record_payment(self, payment: NewPayment) -> LedgerOutcome:
        key = f"purchase:{payment.charge_id}"
        now = ts(datetime.now(UTC))

        def record(db: sqlite3.Connection) -> LedgerOutcome:
            if _fetch_one(
                db, "SELECT 1 FROM payments WHERE telegram_payment_charge_id = ?", (payment.charge_id,)
            ):
                entry = _fetch_one(db, "SELECT * FROM ledger WHERE idempotency_key = ?", (key,))
                if entry is None:
                    raise StorageError(f"payment {payment.charge_id} has no purchase entry")
                balance = _fetch_one(db, "SELECT balance FROM users WHERE id = ?", (entry["user_id"],))
                assert balance is not None
                return AlreadyApplied(_rows.entry(entry), balance["balance"])
            if _fetch_one(db, "SELECT 1 FROM users WHERE id = ?", (payment.user_id,)) is None:
                raise UnknownUserError(payment.user_id)
            db.execute(
                """INSERT INTO payments
                       (telegram_payment_charge_id, user_id, stars, credits, payload, provider_charge_id,
                        created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (
                    payment.charge_id,
                    payment.user_id,
                    payment.stars,
                    payment.credits,
                    payment.payload,
                    payment.provider_charge_id,
                    now,
                ),
            )
            return _append(
                db,
                user_id=payment.user_id,
                delta=payment.credits,
                kind=LedgerKind.PURCHASE,
                key=key,
                now=now,
                charge_id=payment.charge_id,
            )

        return await self._tx(record)

    async def get_payment(self, charge_id: str) -> Payment | None:
        async with self._read() as db:
            row = await self._one(
                db, "SELECT * FROM payments WHERE telegram_payment_charge_id = ?", (charge_id,)
            )
        return None if row is None else _rows.payment(row)

    async def list_payments(self, user_id: int, *, limit: int = 10) -> list[Payment]:
        async with self._read() as db:
            rows = await self._all(
                db,
                """SELECT * FROM payments WHERE user_id = ?
                   ORDER BY created_at DESC, telegram_payment_charge_id DESC LIMIT ?""",
                (user_id, limit),
            )
        return [_rows.payment(r) for r in rows]

    async def record_payment_refund(self, charge_id: str, *, now: datetime) -> PaymentRefunded | None:
        key = f"payment_refund:{charge_id}"

        def refund(db: sqlite3.Connection) -> PaymentRefunded | None:
            payment = _fetch_one(
                db, "SELECT * FROM payments WHERE telegram_payment_charge_id = ?", (charge_id,)
            )
            if payment is None:
                return None
            user = _fetch_one(db, "SELECT balance FROM users WHERE id = ?", (payment["user_id"],))
            assert user is not None
            if payment["refunded"]:
                entry = _fetch_one(db, "SELECT delta FROM ledger WHERE idempotency_key = ?", (key,))
                debited = 0 if entry is None else -entry["delta"]
                return PaymentRefunded(_rows.payment(payment), debited, user["balance"], new=False)
            stamp = ts(now)
            refunded = _fetch_one(
                db,
                """UPDATE payments SET refunded = 1, refunded_at = ?
                   WHERE telegram_payment_charge_id = ? RETURNING *""",
                (stamp, charge_id),
            )
            assert refunded is not None
            debited = min(payment["credits"], user["balance"])
            balance = user["balance"]
            if debited > 0:
                outcome = _append(
                    db,
                    user_id=payment["user_id"],
                    delta=-debited,
                    kind=LedgerKind.PAYMENT_REFUND,
                    key=key,
                    now=stamp,
                    charge_id=charge_id,
                )
                assert isinstance(outcome, Applied)
                balance = outcome.balance
            return PaymentRefunded(_rows.payment(refunded), debited, balance)

        return await self._tx(refund)

    async def list_ledger(self, user_id: int, *, limit: int = 50) -> list[LedgerEntry]:
        async with self._read() as db:
            rows = await self._all(
                db, "SELECT * FROM ledger WHERE user_id = ? ORDER BY id DESC LIMIT ?", (user_id, limit)
            )
        return [_rows.entry(r) for r in rows]

    # generations

    async def create_generation(self, new: NewGeneration) -> CreateOutcome:
        if new.cost <= 0:
            raise ValueError("a generation costs at least one credit")
        created = ts(new.created_at)

        def create(db: sqlite3.Connection) -> CreateOutcome:
            if new.request_key is not None:
                row = _fetch_one(db, "SELECT * FROM generations WHERE request_key = ?", (new.request_key,))
                if row is not None:
                    balance = _fetch_one(db, "SELECT balance FROM users WHERE id = ?", (row["user_id"],))
                    assert balance is not None
                    return GenerationCreated(_rows.generation(row), balance["balance"], new=False)
            user = _fetch_one(db, "SELECT balance FROM users WHERE id = ?", (new.user_id,))
            if user is None:
                raise UnknownUserError(new.user_id)
            if new.max_active is not None:
                active = _fetch_one(
                    db,
                    """SELECT count(*) AS n FROM generations
                       WHERE user_id = ? AND status IN ('queued', 'running')""",
                    (new.user_id,),
                )
                assert active is not None
                if active["n"] >= new.max_active:
                    return TooManyActive(new.max_active)
            if user["balance"] < new.cost:
                return InsufficientFunds(balance=user["balance"], required=new.cost)
            row = _fetch_one(
                db,
                """INSERT INTO generations (id, user_id, chat_id, model, mode, prompt, request, cost, status,
                                            request_key, created_at, updated_at, deadline_at, next_poll_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?) RETURNING *""",
                (
                    new.id,
                    new.user_id,
                    new.chat_id,
                    new.model,
                    new.mode,
                    new.prompt,
                    json.dumps(new.request, ensure_ascii=False, sort_keys=True),
                    new.cost,
                    new.request_key,
                    created,
                    created,
                    ts(new.deadline_at),
                    created,
                ),
            )
            assert row is not None
            outcome = _append(
                db,
                user_id=new.user_id,
                delta=-new.cost,
                kind=LedgerKind.DEBIT,
                key=f"gen:{new.id}",
                now=created,
                generation_id=new.id,
            )
            if not isinstance(outcome, Applied):
                raise StorageError(f"debit for generation {new.id} was not applied: {outcome}")
            return GenerationCreated(_rows.generation(row), outcome.balance)

        return await self._tx(create)

    async def get_generation(self, generation_id: str) -> Generation | None:
        async with self._read() as db:
            row = await self._one(db, "SELECT * FROM generations WHERE id = ?", (generation_id,))
        return _rows.maybe_generation(row)

    async def transition_generation(
        self,
        generation_id: str,
        *,
        to: GenerationStatus,
        allowed_from: frozenset[GenerationStatus],
        fields: Mapping[str, Any] | None = None,
        now: datetime,
    ) -> Generation | None:
        if to in REFUNDED_STATUSES:
            raise ValueError(f"{to} carries a refund: use end_with_refund")
        extra, values = _assignments(fields or {})
        stamp = ts(now)
        finished = to is GenerationStatus.SUCCEEDED
        delivered = to is GenerationStatus.DELIVERED
        sql = f"""UPDATE generations SET status = ?, updated_at = ?{extra},
                      finished_at = CASE WHEN ? THEN coalesce(finished_at, ?) ELSE finished_at END,
                      delivered_at = CASE WHEN ? THEN ? ELSE delivered_at END
                  WHERE id = ? AND status IN ({_placeholders(allowed_from)}) RETURNING *"""
        params = [to.value, stamp, *values, finished, stamp, delivered, stamp, generation_id]
        rows = await self._write(sql, [*params, *(s.value for s in allowed_from)])
        return _rows.generation(rows[0]) if rows else None

    async def update_generation(
        self,
        generation_id: str,
        *,
        only_if: frozenset[GenerationStatus],
        fields: Mapping[str, Any],
        now: datetime,
    ) -> Generation | None:
        extra, values = _assignments(fields)
        sql = f"""UPDATE generations SET updated_at = ?{extra}
                  WHERE id = ? AND status IN ({_placeholders(only_if)}) RETURNING *"""
        rows = await self._write(sql, [ts(now), *values, generation_id, *(s.value for s in only_if)])
        return _rows.generation(rows[0]) if rows else None

    async def begin_submit(
        self, generation_id: str, *, request_id: str, provider: str, provider_model_id: str, now: datetime
    ) -> Generation | None:
        stamp = ts(now)
        rows = await self._write(
            """UPDATE generations
               SET submit_request_id = ?, submit_started_at = ?, route_provider = ?, route_model_id = ?,
                   updated_at = ?
               WHERE id = ? AND status = 'queued' AND submit_request_id IS NULL RETURNING *""",
            (request_id, stamp, provider, provider_model_id, stamp, generation_id),
        )
        return _rows.generation(rows[0]) if rows else None

    async def end_submit(self, generation_id: str, *, request_id: str, now: datetime) -> Generation | None:
        rows = await self._write(
            """UPDATE generations SET submit_request_id = NULL, submit_started_at = NULL, updated_at = ?
               WHERE id = ? AND status = 'queued' AND submit_request_id = ? RETURNING *""",
            (ts(now), generation_id, request_id),
        )
        return _rows.generation(rows[0]) if rows else None

    async def requeue_generation(
        self, generation_id: str, *, failed_route: str, deadline_at: datetime, now: datetime
    ) -> Generation | None:
        stamp = ts(now)
        rows = await self._write(
            """UPDATE generations
               SET status = 'queued', failover_from = ?, provider_task_id = NULL, provider_result = NULL,
                   submit_request_id = NULL, submit_started_at = NULL, progress = 0, attempts = 0,
                   deadline_at = ?, next_poll_at = ?, updated_at = ?
               WHERE id = ? AND status = 'running' AND failover_from IS NULL RETURNING *""",
            (failed_route, ts(deadline_at), stamp, stamp, generation_id),
        )
        return _rows.generation(rows[0]) if rows else None

    async def end_with_refund(
        self,
        generation_id: str,
        *,
        to: GenerationStatus,
        allowed_from: frozenset[GenerationStatus],
        error_code: str | None,
        error_message: str | None,
        now: datetime,
    ) -> RefundOutcome:
        if to not in REFUNDED_STATUSES:
            raise ValueError(f"{to} is not an ending with a refund")
        if not allowed_from <= ACTIVE_STATUSES:
            raise ValueError("only an active generation can be refunded: a produced video is never refunded")
        stamp = ts(now)

        def end(db: sqlite3.Connection) -> RefundOutcome:
            row = _fetch_one(
                db,
                f"""UPDATE generations
                    SET status = ?, error_code = ?, error_message = ?, updated_at = ?, finished_at = ?,
                        lease_owner = NULL, lease_until = NULL, next_poll_at = NULL
                    WHERE id = ? AND status IN ({_placeholders(allowed_from)}) RETURNING *""",
                (
                    to.value,
                    error_code,
                    error_message,
                    stamp,
                    stamp,
                    generation_id,
                    *(s.value for s in allowed_from),
                ),
            )
            if row is None:
                current = _fetch_one(db, "SELECT * FROM generations WHERE id = ?", (generation_id,))
                return NotRefundable(_rows.maybe_generation(current))
            outcome = _append(
                db,
                user_id=row["user_id"],
                delta=row["cost"],
                kind=LedgerKind.REFUND,
                key=f"refund:{generation_id}",
                now=stamp,
                generation_id=generation_id,
            )
            if not isinstance(outcome, Applied):
                raise StorageError(f"refund for generation {generation_id} was not applied: {outcome}")
            return Refunded(_rows.generation(row), outcome.entry, outcome.balance)

        return await self._tx(end)

    async def list_user_generations(
        self,
        user_id: int,
        *,
        before: tuple[datetime, str] | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 10,
    ) -> list[Generation]:
        base = "SELECT * FROM generations WHERE user_id = ? AND hidden_at IS NULL"
        if after is not None:  # the newer page: the `limit` rows just above `after`, read upwards
            sql = f"{base} AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?"
            params: tuple[Any, ...] = (user_id, ts(after[0]), after[1], limit)
        elif before is not None:
            sql = f"{base} AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?"
            params = (user_id, ts(before[0]), before[1], limit)
        else:
            sql = f"{base} ORDER BY created_at DESC, id DESC LIMIT ?"
            params = (user_id, limit)
        async with self._read() as db:
            rows = await self._all(db, sql, params)
        page = [_rows.generation(r) for r in rows]
        return page[::-1] if after is not None else page

    async def hide_generation(self, generation_id: str, *, user_id: int, now: datetime) -> Generation | None:
        row = await self._write(
            """UPDATE generations
               SET hidden_at = :now, updated_at = :now,
                   media_expired_at = CASE WHEN result_path IS NOT NULL
                                           THEN coalesce(media_expired_at, :now) END
               WHERE id = :id AND user_id = :user AND hidden_at IS NULL AND next_poll_at IS NULL
                 AND status IN ('delivered', 'failed', 'cancelled')
               RETURNING *""",
            {"now": ts(now), "id": generation_id, "user": user_id},
        )
        return _rows.generation(row[0]) if row else None

    async def count_generations_since(self, user_id: int, since: datetime) -> int:
        async with self._read() as db:
            row = await self._one(
                db,
                "SELECT count(*) AS n FROM generations WHERE user_id = ? AND created_at >= ?",
                (user_id, ts(since)),
            )
        assert row is not None
        return int(row["n"])

    async def count_active_generations(self, user_id: int) -> int:
        async with self._read() as db:
            row = await self._one(
                db,
                "SELECT count(*) AS n FROM generations WHERE user_id = ? AND status IN ('queued', 'running')",
                (user_id,),
            )
        assert row is not None
        return int(row["n"])

    async def find_generation_by_task(self, provider: str, task_id: str) -> Generation | None:
        async with self._read() as db:
            row = await self._one(
                db,
                "SELECT * FROM generations WHERE route_provider = ? AND provider_task_id = ?",
                (provider, task_id),
            )
        return _rows.maybe_generation(row)

    async def claim_due_generations(
        self, *, now: datetime, owner: str, lease_seconds: float, limit: int, overdue_only: bool = False
    ) -> list[Generation]:
        stamp = ts(now)
        until = ts(now + timedelta(seconds=lease_seconds))
        if overdue_only:
            due = "status IN ('queued', 'running') AND deadline_at <= :now"
        else:
            due = """(status IN ('queued', 'running')
                      AND (next_poll_at IS NULL OR next_poll_at <= :now OR deadline_at <= :now))
                     OR (status IN ('succeeded', 'failed', 'cancelled')
                         AND next_poll_at IS NOT NULL AND next_poll_at <= :now)"""
        rows = await self._write(
            f"""UPDATE generations SET lease_owner = :owner, lease_until = :until
                WHERE id IN (
                    SELECT id FROM generations
                    WHERE ({due}) AND (lease_until IS NULL OR lease_until <= :now)
                    ORDER BY coalesce(next_poll_at, created_at)
                    LIMIT :limit)
                RETURNING *""",
            {"owner": owner, "until": until, "now": stamp, "limit": limit},
        )
        return [_rows.generation(r) for r in rows]

    async def claim_generation(
        self, generation_id: str, *, now: datetime, owner: str, lease_seconds: float
    ) -> Generation | None:
        rows = await self._write(
            """UPDATE generations SET lease_owner = :owner, lease_until = :until
               WHERE id = :id AND (lease_until IS NULL OR lease_until <= :now)
               RETURNING *""",
            {
                "owner": owner,
                "until": ts(now + timedelta(seconds=lease_seconds)),
                "now": ts(now),
                "id": generation_id,
            },
        )
        return _rows.generation(rows[0]) if rows else None

    async def extend_leases(
        self, generation_ids: Sequence[str], *, owner: str, now: datetime, lease_seconds: float
    ) -> int:
        if not generation_ids:
            return 0
        rows = await self._write(
            f"""UPDATE generations SET lease_until = ?
                WHERE lease_owner = ? AND id IN ({_placeholders(generation_ids)}) RETURNING id""",
            (ts(now + timedelta(seconds=lease_seconds)), owner, *generation_ids),
        )
        return len(rows)

    async def release_generation(
        self,
        generation_id: str,
        *,
        owner: str,
        next_poll_at: datetime | None,
        fields: Mapping[str, Any] | None = None,
    ) -> bool:
        extra, values = _assignments(fields or {})
        rows = await self._write(
            f"""UPDATE generations SET lease_owner = NULL, lease_until = NULL{extra},
                    next_poll_at = CASE WHEN status IN ('queued', 'running') OR next_poll_at IS NOT NULL
                                        THEN ? END
                WHERE id = ? AND lease_owner = ? RETURNING id""",
            (*values, None if next_poll_at is None else ts(next_poll_at), generation_id, owner),
        )
        return bool(rows)

    async def list_expired_media(self, *, finished_before: datetime, limit: int) -> list[Generation]:
        async with self._read() as db:
            rows = await self._all(
                db,
                """SELECT * FROM generations
                   WHERE result_path IS NOT NULL AND media_expired_at IS NULL AND finished_at < ?
                     AND status IN ('delivered', 'succeeded', 'failed', 'cancelled')
                     AND next_poll_at IS NULL
                   ORDER BY finished_at LIMIT ?""",
                (ts(finished_before), limit),
            )
        return [_rows.generation(r) for r in rows]

    # conversation state (aiogram FSM)

    async def get_fsm(self, key: str) -> tuple[str | None, dict[str, Any]]:
        async with self._read() as db:
            row = await self._one(db, "SELECT state, data FROM fsm_states WHERE key = ?", (key,))
        return (None, {}) if row is None else (row["state"], json.loads(row["data"]))

    async def set_fsm(self, key: str, state: str | None, data: Mapping[str, Any]) -> None:
        if state is None and not data:
            await self._write("DELETE FROM fsm_states WHERE key = ?", (key,))
            return
        await self._write(
            """INSERT INTO fsm_states (key, state, data, updated_at) VALUES (?, ?, ?, ?)
               ON CONFLICT (key) DO UPDATE SET state = excluded.state, data = excluded.data,
                                               updated_at = excluded.updated_at""",
            (key, state, json.dumps(dict(data), ensure_ascii=False), ts(datetime.now(UTC))),
        )

    async def stats(self, *, since: datetime) -> Stats:
        cut = ts(since)

        def figures(db: sqlite3.Connection) -> Stats:  # one trip for the five reads
            gens = _fetch_all(
                db,
                """SELECT model, route_provider AS provider, status, count(*) AS count, sum(cost) AS credits,
                          sum(coalesce(json_extract(request, '$.duration'), 0)) AS seconds,
                          count(json_extract(result_meta, '$.cost_usd')) AS reported,
                          coalesce(sum(json_extract(result_meta, '$.cost_usd')), 0) AS reported_cost_usd,
                          coalesce(sum(CASE WHEN json_extract(result_meta, '$.cost_usd') IS NOT NULL
                                   THEN coalesce(json_extract(request, '$.duration'), 0) END), 0)
                              AS reported_seconds
                   FROM generations WHERE created_at >= ?
                   GROUP BY model, route_provider, status ORDER BY model, route_provider, status""",
                (cut,),
            )
            pay = _fetch_one(
                db,
                """SELECT count(*) AS payments, coalesce(sum(stars), 0) AS stars,
                          coalesce(sum(credits), 0) AS credits, coalesce(sum(refunded), 0) AS refunded,
                          coalesce(sum(CASE WHEN refunded = 1 THEN stars ELSE 0 END), 0) AS refunded_stars
                   FROM payments WHERE created_at >= ?""",
                (cut,),
            )
            users = _fetch_one(db, "SELECT count(*) AS n FROM users WHERE created_at >= ?", (cut,))
            welcome = _fetch_one(
                db,
                """SELECT count(*) AS users, coalesce(sum(delta), 0) AS credits FROM ledger
                   WHERE kind = 'welcome' AND created_at >= ?""",
                (cut,),
            )
            uncertain = _fetch_one(
                db,
                """SELECT count(*) AS n FROM generations
                   WHERE created_at >= ? AND error_code = 'uncertain_submit'""",
                (cut,),
            )
            assert pay is not None and users is not None and welcome is not None and uncertain is not None
            return _rows.stats(
                since,
                generations=gens,
                payments=pay,
                new_users=users["n"],
                welcome=welcome,
                uncertain_submits=int(uncertain["n"]),
            )

        return await self._conn.run(figures)

    # outbox: notices owed after money changes (written by the triggers of migration 0007), uploads

    async def claim_notice(
        self, key: str, *, now: datetime, owner: str, lease_seconds: float
    ) -> Notice | None:
        rows = await self._write(
            """UPDATE outbox SET lease_owner = :owner, lease_until = :until
               WHERE key = :key AND done_at IS NULL AND (lease_until IS NULL OR lease_until <= :now)
               RETURNING *""",
            {"owner": owner, "until": ts(now + timedelta(seconds=lease_seconds)), "now": ts(now), "key": key},
        )
        return _rows.notice(rows[0]) if rows else None

    async def claim_due_notices(
        self, *, now: datetime, created_before: datetime, owner: str, lease_seconds: float, limit: int
    ) -> list[Notice]:
        rows = await self._write(
            """UPDATE outbox SET lease_owner = :owner, lease_until = :until
               WHERE key IN (
                   SELECT key FROM outbox
                   WHERE done_at IS NULL AND created_at <= :before
                     AND (lease_until IS NULL OR lease_until <= :now)
                   ORDER BY created_at LIMIT :limit)
               RETURNING *""",
            {
                "owner": owner,
                "until": ts(now + timedelta(seconds=lease_seconds)),
                "now": ts(now),
                "before": ts(created_before),
                "limit": limit,
            },
        )
        return sorted((_rows.notice(r) for r in rows), key=lambda n: n.created_at)

    async def finish_notice(
        self,
        key: str,
        *,
        owner: str,
        now: datetime,
        outcome: NoticeOutcome | None,
        retry_at: datetime | None = None,
    ) -> bool:
        done = outcome is not None
        rows = await self._write(
            """UPDATE outbox SET lease_owner = NULL, lease_until = :retry, attempts = attempts + :failed,
                                 done_at = :done, outcome = :outcome
               WHERE key = :key AND lease_owner = :owner AND done_at IS NULL RETURNING key""",
            {
                "retry": None if done or retry_at is None else ts(retry_at),
                "failed": 0 if done else 1,
                "done": ts(now) if done else None,
                "outcome": None if outcome is None else outcome.value,
                "key": key,
                "owner": owner,
            },
        )
        return bool(rows)

    async def begin_upload(self, generation_id: str, *, now: datetime) -> int:
        rows = await self._write(
            """INSERT INTO video_uploads (generation_id, uploads, updated_at) VALUES (?, 1, ?)
               ON CONFLICT (generation_id)
                   DO UPDATE SET uploads = uploads + 1, updated_at = excluded.updated_at
               RETURNING uploads""",
            (generation_id, ts(now)),
        )
        return int(rows[0]["uploads"])

    async def upload_refused(self, generation_id: str, *, now: datetime) -> None:
        await self._write(
            "UPDATE video_uploads SET uploads = max(uploads - 1, 0), updated_at = ? WHERE generation_id = ?",
            (ts(now), generation_id),
        )

    # received payment updates

    async def keep_update(self, update_id: int, body: Mapping[str, Any], *, now: datetime) -> None:
        await self._write(
            "INSERT OR IGNORE INTO telegram_updates (update_id, body, received_at) VALUES (?, ?, ?)",
            (update_id, json.dumps(body, ensure_ascii=False), ts(now)),
        )

    async def finish_update(self, update_id: int, *, now: datetime) -> None:
        await self._write(
            "UPDATE telegram_updates SET handled_at = ? WHERE update_id = ? AND handled_at IS NULL",
            (ts(now), update_id),
        )

    async def pending_updates(self, *, limit: int) -> list[ReceivedUpdate]:
        async with self._read() as db:
            rows = await self._all(
                db,
                "SELECT * FROM telegram_updates WHERE handled_at IS NULL ORDER BY update_id LIMIT ?",
                (limit,),
            )
        return [_rows.received_update(r) for r in rows]

    # moderation: bans and the audit trail

    async def record_moderation_event(self, event: NewModerationEvent) -> ModerationEvent:
        def record(db: sqlite3.Connection) -> ModerationEvent:
            if _fetch_one(db, "SELECT 1 FROM users WHERE id = ?", (event.user_id,)) is None:
                raise UnknownUserError(event.user_id)
            return _insert_moderation_event(db, event)

        return await self._tx(record)

    async def list_moderation_events(
        self, *, limit: int, before: int | None = None, user_id: int | None = None
    ) -> list[ModerationEvent]:
        async with self._read() as db:
            rows = await self._all(
                db,
                """SELECT * FROM moderation_events
                   WHERE (:user_id IS NULL OR user_id = :user_id) AND (:before IS NULL OR id < :before)
                   ORDER BY id DESC LIMIT :limit""",
                {"user_id": user_id, "before": before, "limit": limit},
            )
        return [_rows.moderation_event(r) for r in rows]

    async def set_user_banned(
        self, user_id: int, *, banned: bool, reason: str | None, admin_id: int, now: datetime
    ) -> BanOutcome | None:
        stamp = ts(now)

        def change(db: sqlite3.Connection) -> BanOutcome | None:
            row = _fetch_one(db, "SELECT * FROM users WHERE id = ?", (user_id,))
            if row is None:
                return None
            if bool(row["banned"]) == banned:
                return BanOutcome(_rows.user(row), changed=False)
            updated = _fetch_one(
                db,
                """UPDATE users SET banned = ?, banned_reason = ?, banned_at = ?, updated_at = ?
                   WHERE id = ? RETURNING *""",
                (int(banned), reason if banned else None, stamp if banned else None, stamp, user_id),
            )
            assert updated is not None
            _insert_moderation_event(
                db,
                NewModerationEvent(
                    user_id=user_id,
                    source=ModerationSource.ADMIN,
                    category="block" if banned else "unblock",
                    created_at=now,
                    reason=reason,
                    admin_id=admin_id,
                ),
            )
            return BanOutcome(_rows.user(updated), changed=True)

        return await self._tx(change)


#: Databases private to their connection, where a second connection would see another one.
_PRIVATE_DATABASES = frozenset({":memory:", ""})


def _insert_moderation_event(db: sqlite3.Connection, event: NewModerationEvent) -> ModerationEvent:
    row = _fetch_one(
        db,
        """INSERT INTO moderation_events
               (user_id, created_at, source, category, reason, excerpt, admin_id)
           VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *""",
        (
            event.user_id,
            ts(event.created_at),
            event.source.value,
            event.category,
            event.reason,
            event.excerpt,
            event.admin_id,
        ),
    )
    assert row is not None
    return _rows.moderation_event(row)


def _ensure_user(
    db: sqlite3.Connection,
    user_id: int,
    username: str | None,
    language: str | None,
    welcome_credits: int,
    now: str,
) -> User:
    """Nearly every update finds its user as they were: then one read and no write transaction (as the
    Postgres function of migrations/supabase/20261203000300_ensure_user_reads.sql). "As they were": the
    user (and with it the wallet, the balance column) exists, the @username is the one shown (or none is
    shown) and nobody else holds that name, and the language is already set (or none is given; a set one
    is never replaced). Anything else takes the write path below."""
    row = _fetch_one(
        db,
        """SELECT u.*, EXISTS (SELECT 1 FROM users o WHERE lower(o.username) = lower(?) AND o.id <> u.id)
                  AS name_taken
           FROM users u WHERE u.id = ?""",
        (username, user_id),
    )
    if (
        row is not None
        and (username is None or (row["username"] == username and not row["name_taken"]))
        and (language is None or row["language"] is not None)
    ):
        return _rows.user(row)

    def write(db: sqlite3.Connection) -> User:
        if username is not None:  # a @username belongs to whoever shows it now
            db.execute(
                """UPDATE users SET username = NULL, updated_at = ?
                   WHERE lower(username) = lower(?) AND id <> ?""",
                (now, username, user_id),
            )
        row = _fetch_one(
            db,
            """INSERT INTO users (id, username, language, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET
                   username = coalesce(excluded.username, users.username),
                   language = coalesce(users.language, excluded.language),
                   updated_at = excluded.updated_at
               RETURNING *""",
            (user_id, username, language, now, now),
        )
        assert row is not None
        user = _rows.user(row)
        # created_at equals this call's timestamp only when the upsert inserted the row
        if welcome_credits > 0 and row["created_at"] == now:
            outcome = _append(
                db,
                user_id=user_id,
                delta=welcome_credits,
                kind=LedgerKind.WELCOME,
                key=f"welcome:{user_id}",
                now=now,
            )
            user = replace(user, balance=outcome.balance)
        return user

    return _transaction(db, write)


def _append(
    db: sqlite3.Connection,
    *,
    user_id: int,
    delta: int,
    kind: LedgerKind,
    key: str,
    now: str,
    generation_id: str | None = None,
    charge_id: str | None = None,
    admin_id: int | None = None,
    reason: str | None = None,
) -> LedgerOutcome:
    """Append one entry inside the caller's transaction; the balance column moves with it."""
    existing = _fetch_one(db, "SELECT * FROM ledger WHERE idempotency_key = ?", (key,))
    if existing is not None:
        balance = _fetch_one(db, "SELECT balance FROM users WHERE id = ?", (existing["user_id"],))
        assert balance is not None
        return AlreadyApplied(_rows.entry(existing), balance["balance"])
    row = _fetch_one(db, "SELECT balance FROM users WHERE id = ?", (user_id,))
    if row is None:
        raise UnknownUserError(user_id)
    after = row["balance"] + delta
    if after < 0:
        return InsufficientFunds(balance=row["balance"], required=-delta)
    db.execute("UPDATE users SET balance = ?, updated_at = ? WHERE id = ?", (after, now, user_id))
    entry = _fetch_one(
        db,
        """INSERT INTO ledger (user_id, delta, kind, idempotency_key, generation_id, payment_charge_id,
                               admin_id, reason, balance_after, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *""",
        (user_id, delta, kind.value, key, generation_id, charge_id, admin_id, reason, after, now),
    )
    assert entry is not None
    return Applied(_rows.entry(entry), after)


# --- opening ----------------------------------------------------------------------------------------


async def _open_connection(path: Path | str, *, migrate: bool) -> SqliteConnection:
    """A connection with the store's settings (and, with `migrate`, the schema brought up to date);
    anything that makes the file unusable is a StoragePathError naming it."""
    try:
        if str(path) not in _PRIVATE_DATABASES:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await SqliteConnection.open(path)
    except (OSError, sqlite3.DatabaseError) as error:
        raise _unusable(path, error) from error
    try:
        await conn.run(_configure, migrate)
    except sqlite3.DatabaseError as error:
        await conn.close()
        raise _unusable(path, error) from error
    except BaseException:
        await conn.close()
        raise
    return conn


def _configure(db: sqlite3.Connection, migrate: bool) -> None:
    db.execute("PRAGMA busy_timeout = 30000")
    _enable_wal(db)
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA foreign_keys = ON")
    if migrate:
        _apply_migrations(db)


def _unusable(path: Path | str, error: OSError | sqlite3.DatabaseError) -> StoragePathError:
    where = f" ({error.filename})" if isinstance(error, OSError) and error.filename else ""
    return StoragePathError(f"cannot open the database {path}: {os_reason(error)}{where}")


def _enable_wal(db: sqlite3.Connection, attempts: int = 40) -> None:
    """Switch a new file to WAL. The switch needs an exclusive lock and SQLite does not wait for it
    (no busy handler), so processes starting together retry briefly instead of failing. The pause blocks
    only the connection's own thread."""
    for attempt in range(attempts):
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.025 * (attempt + 1))


async def apply_migrations(conn: SqliteConnection) -> list[int]:
    """Apply every `migrations/sqlite/NNNN_name.sql` not yet recorded; returns the versions applied now."""
    return await conn.run(_apply_migrations)


def _apply_migrations(db: sqlite3.Connection) -> list[int]:
    """`apply_migrations` in the connection's thread.

    Each file runs in its own IMMEDIATE transaction, so two processes starting together apply it once:
    the second waits for the lock, sees the version recorded, and skips it.
    """
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied_at TEXT NOT NULL)"
    )
    applied_now = []
    for version, name, sql in _migration_files():
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchone():
                db.execute("COMMIT")
                continue
            for statement in _statements(sql):
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, ts(datetime.now(UTC))),
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        applied_now.append(version)
    return applied_now


def _migration_files() -> list[tuple[int, str, str]]:
    folder = resources.files("migrations") / "sqlite"
    found = []
    for item in folder.iterdir():
        match = _MIGRATION_NAME.match(item.name)
        if match:
            found.append((int(match.group(1)), item.name, item.read_text(encoding="utf-8")))
    versions = [v for v, _, _ in found]
    if len(versions) != len(set(versions)):
        raise StorageError(f"two SQLite migrations share a version: {sorted(versions)}")
    return sorted(found)


def _statements(script: str) -> list[str]:
    """Split a migration into statements with sqlite3's own completeness check (triggers hold `;`)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in current.splitlines()
    ):
        raise StorageError(f"incomplete SQL statement at the end of a migration: {current.strip()[:80]}")
    return statements
