"""Rows to records, and generation field changes to column values, written once for both backends.

Both backends name their columns alike (migrations/sqlite, migrations/supabase) and hand timestamps over
as ISO-8601 text. They differ in one thing: SQLite keeps JSON columns as text, while PostgREST hands
over Postgres `jsonb` already decoded. Each backend builds one `RowMapper` with its JSON hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from storage.interfaces import MUTABLE_GENERATION_FIELDS
from storage.records import (
    Generation,
    GenerationStats,
    GenerationStatus,
    LedgerEntry,
    LedgerKind,
    ModerationEvent,
    ModerationSource,
    Notice,
    NoticeKind,
    Payment,
    PaymentStats,
    ReceivedUpdate,
    Stats,
    User,
)

#: Mutable generation fields that hold a timestamp (sent as text) and JSON (sent through the hook).
_TIME_FIELDS = frozenset({"deadline_at", "next_poll_at", "delivered_at", "media_expired_at"})
_JSON_FIELDS = frozenset({"result_meta"})


class Row(Protocol):
    """A row by column name: a `sqlite3.Row` or a JSON object from PostgREST."""

    def __getitem__(self, column: str, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...


def ts(value: datetime) -> str:
    """UTC text with fixed microsecond precision, so that text order equals time order."""
    if value.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware one")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def parse_ts(value: str) -> datetime:
    """A stored timestamp as an aware UTC datetime (Postgres may answer in its session's time zone)."""
    return datetime.fromisoformat(value).astimezone(UTC)


def parse_optional_ts(value: str | None) -> datetime | None:
    return None if value is None else parse_ts(value)


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class RowMapper:
    """The record mappers of one backend; `load_json`/`dump_json` turn its JSON columns into Python
    values and back (identity for PostgREST, which speaks JSON already)."""

    load_json: Callable[[Any], Any] = _same
    dump_json: Callable[[Any], Any] = _same

    def user(self, row: Row) -> User:
        return User(
            id=int(row["id"]),
            username=row["username"],
            language=row["language"],
            balance=int(row["balance"]),
            blocked=bool(row["blocked"]),
            created_at=parse_ts(row["created_at"]),
            banned=bool(row["banned"]),
            banned_reason=row["banned_reason"],
            banned_at=parse_optional_ts(row["banned_at"]),
        )

    def entry(self, row: Row) -> LedgerEntry:
        return LedgerEntry(
            id=int(row["id"]),
            user_id=int(row["user_id"]),
            delta=int(row["delta"]),
            kind=LedgerKind(row["kind"]),
            idempotency_key=row["idempotency_key"],
            generation_id=row["generation_id"],
            payment_charge_id=row["payment_charge_id"],
            admin_id=row["admin_id"],
            reason=row["reason"],
            balance_after=int(row["balance_after"]),
            created_at=parse_ts(row["created_at"]),
        )

    def payment(self, row: Row) -> Payment:
        return Payment(
            charge_id=row["telegram_payment_charge_id"],
            user_id=int(row["user_id"]),
            stars=int(row["stars"]),
            credits=int(row["credits"]),
            payload=row["payload"],
            refunded=bool(row["refunded"]),
            created_at=parse_ts(row["created_at"]),
        )

    def generation(self, row: Row) -> Generation:
        result_meta = row["result_meta"]
        return Generation(
            id=row["id"],
            user_id=int(row["user_id"]),
            chat_id=int(row["chat_id"]),
            model=row["model"],
            mode=row["mode"],
            prompt=row["prompt"],
            request=self.load_json(row["request"]),
            cost=int(row["cost"]),
            status=GenerationStatus(row["status"]),
            request_key=row["request_key"],
            route_provider=row["route_provider"],
            route_model_id=row["route_model_id"],
            provider_task_id=row["provider_task_id"],
            progress=row["progress"],
            result_path=row["result_path"],
            file_id=row["file_id"],
            error_code=row["error_code"],
            error_message=row["error_message"],
            attempts=int(row["attempts"]),
            created_at=parse_ts(row["created_at"]),
            updated_at=parse_ts(row["updated_at"]),
            deadline_at=parse_ts(row["deadline_at"]),
            next_poll_at=parse_optional_ts(row["next_poll_at"]),
            lease_owner=row["lease_owner"],
            lease_until=parse_optional_ts(row["lease_until"]),
            finished_at=parse_optional_ts(row["finished_at"]),
            delivered_at=parse_optional_ts(row["delivered_at"]),
            provider_result=row["provider_result"],
            result_meta=None if result_meta is None else self.load_json(result_meta),
            status_message_id=row["status_message_id"],
            media_expired_at=parse_optional_ts(row["media_expired_at"]),
            hidden_at=parse_optional_ts(row["hidden_at"]),
            submit_request_id=row["submit_request_id"],
            submit_started_at=parse_optional_ts(row["submit_started_at"]),
            failover_from=row["failover_from"],
        )

    def maybe_generation(self, row: Row | None) -> Generation | None:
        return None if row is None else self.generation(row)

    def notice(self, row: Row) -> Notice:
        return Notice(
            key=row["key"],
            kind=NoticeKind(row["kind"]),
            user_id=int(row["user_id"]),
            chat_id=int(row["chat_id"]),
            generation_id=row["generation_id"],
            charge_id=row["charge_id"],
            created_at=parse_ts(row["created_at"]),
            attempts=int(row["attempts"]),
        )

    def moderation_event(self, row: Row) -> ModerationEvent:
        admin_id = row["admin_id"]
        return ModerationEvent(
            id=int(row["id"]),
            user_id=int(row["user_id"]),
            source=ModerationSource(row["source"]),
            category=row["category"],
            created_at=parse_ts(row["created_at"]),
            reason=row["reason"],
            excerpt=row["excerpt"],
            admin_id=None if admin_id is None else int(admin_id),
        )

    def received_update(self, row: Row) -> ReceivedUpdate:
        return ReceivedUpdate(update_id=int(row["update_id"]), body=self.load_json(row["body"]))

    def stats(
        self,
        since: datetime,
        *,
        generations: Iterable[Row],
        payments: Row,
        new_users: int,
        welcome: Row,
        uncertain_submits: int,
    ) -> Stats:
        """/stats from its grouped rows: generations (model, provider, status, count, credits, seconds),
        payments (payments, stars, credits, refunded, refunded_stars) and welcome credits (users, credits)."""
        return Stats(
            since=since,
            generations=[
                GenerationStats(
                    model=g["model"],
                    provider=g["provider"],
                    status=GenerationStatus(g["status"]),
                    count=int(g["count"]),
                    credits=int(g["credits"]),
                    seconds=int(g["seconds"]),
                    reported=int(_optional(g, "reported") or 0),
                    reported_cost_usd=Decimal(str(_optional(g, "reported_cost_usd") or 0)),
                    reported_seconds=int(_optional(g, "reported_seconds") or 0),
                )
                for g in generations
            ],
            payments=PaymentStats(
                payments=int(payments["payments"]),
                stars=int(payments["stars"]),
                credits=int(payments["credits"]),
                refunded=int(payments["refunded"]),
                refunded_stars=int(payments["refunded_stars"]),
            ),
            new_users=new_users,
            welcome_credits=int(welcome["credits"]),
            welcome_users=int(welcome["users"]),
            uncertain_submits=uncertain_submits,
        )

    def fields(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Changes for a guarded generation update as column values; only `MUTABLE_GENERATION_FIELDS`."""
        unknown = set(fields) - MUTABLE_GENERATION_FIELDS
        if unknown:
            raise ValueError(f"not a mutable generation field: {sorted(unknown)}")
        values = {}
        for name, value in fields.items():
            if value is not None and name in _TIME_FIELDS:
                value = ts(value)
            elif value is not None and name in _JSON_FIELDS:
                value = self.dump_json(value)
            values[name] = value
        return values


def _optional(row: Row, key: str) -> Any:
    """A column a backend's older schema may not return yet (None then)."""
    return row[key] if key in row.keys() else None  # noqa: SIM118 (sqlite3.Row has no `in`)
