"""Plain records exchanged between the services and a storage backend.

They carry no behaviour: every rule that moves money or changes a status lives in one atomic backend
operation (a SQLite transaction, later a Postgres function), so both backends share these shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class GenerationStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: Money is still at stake: the provider may yet produce a video or fail.
ACTIVE_STATUSES = frozenset({GenerationStatus.QUEUED, GenerationStatus.RUNNING})
#: Statuses that carry exactly one refund.
REFUNDED_STATUSES = frozenset({GenerationStatus.FAILED, GenerationStatus.CANCELLED})
#: Statuses whose video must exist in the media store.
PRODUCED_STATUSES = frozenset({GenerationStatus.SUCCEEDED, GenerationStatus.DELIVERED})


class LedgerKind(StrEnum):
    PURCHASE = "purchase"
    DEBIT = "debit"
    REFUND = "refund"
    ADMIN = "admin"
    PAYMENT_REFUND = "payment_refund"
    WELCOME = "welcome"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str | None
    language: str | None
    balance: int
    #: The user blocked the bot: messages to them cannot be delivered (not an admin's ban).
    blocked: bool
    created_at: datetime
    #: An admin blocked the user (/block): their orders are refused before any charge.
    banned: bool = False
    banned_reason: str | None = None
    banned_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: int
    user_id: int
    delta: int
    kind: LedgerKind
    idempotency_key: str
    generation_id: str | None
    payment_charge_id: str | None
    admin_id: int | None
    reason: str | None
    balance_after: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewLedgerEntry:
    """A wallet movement that is not tied to a generation or a payment (admin adjustments)."""

    user_id: int
    delta: int
    kind: LedgerKind
    idempotency_key: str
    admin_id: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class NewPayment:
    """A Telegram Stars payment that buys credits; `charge_id` is Telegram's unique charge id."""

    charge_id: str
    user_id: int
    stars: int
    credits: int
    payload: str
    provider_charge_id: str | None = None


@dataclass(frozen=True, slots=True)
class Payment:
    charge_id: str
    user_id: int
    stars: int
    credits: int
    payload: str
    refunded: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Generation:
    id: str
    user_id: int
    chat_id: int
    model: str
    mode: str
    prompt: str
    request: dict[str, Any]
    cost: int
    status: GenerationStatus
    request_key: str | None
    route_provider: str | None
    route_model_id: str | None
    provider_task_id: str | None
    progress: int | None
    result_path: str | None
    file_id: str | None
    error_code: str | None
    error_message: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    deadline_at: datetime
    next_poll_at: datetime | None
    lease_owner: str | None
    lease_until: datetime | None
    finished_at: datetime | None
    delivered_at: datetime | None
    #: The provider's own reference to the result (a file URI or URL), for extend/remix on that provider.
    provider_result: str | None = None
    #: {width, height, duration, size} of the stored video, when known.
    result_meta: dict[str, Any] | None = None
    #: The chat message that shows progress, edited in place.
    status_message_id: int | None = None
    #: When retention deleted the stored video (a Telegram file_id may still resend it).
    media_expired_at: datetime | None = None
    #: When the owner deleted it from /library (the row stays for the books; the video is removed).
    hidden_at: datetime | None = None
    #: Our client request id of the create being sent, recorded before it leaves: a queued generation
    #: that has one may have a paid task upstream, so it is looked up, never sent again.
    submit_request_id: str | None = None
    submit_started_at: datetime | None = None
    #: The route ("provider:model id") that accepted the task and then failed on its provider's side;
    #: set when the generation moved to the next route (once).
    failover_from: str | None = None


@dataclass(frozen=True, slots=True)
class NewGeneration:
    id: str
    user_id: int
    chat_id: int
    model: str
    mode: str
    prompt: str
    request: dict[str, Any]
    cost: int
    created_at: datetime
    deadline_at: datetime
    request_key: str | None = None
    #: Refuse (TooManyActive) when the user already has this many generations queued or running,
    #: counted in the transaction that inserts the row; None: no cap.
    max_active: int | None = None


@dataclass(frozen=True, slots=True)
class Applied:
    """The ledger entry was written now; `balance` is the balance right after it."""

    entry: LedgerEntry
    balance: int


@dataclass(frozen=True, slots=True)
class AlreadyApplied:
    """The idempotency key was used before: nothing changed; `entry` is the original one."""

    entry: LedgerEntry
    balance: int


@dataclass(frozen=True, slots=True)
class InsufficientFunds:
    balance: int
    required: int

    @property
    def shortfall(self) -> int:
        return self.required - self.balance


LedgerOutcome = Applied | AlreadyApplied | InsufficientFunds


@dataclass(frozen=True, slots=True)
class GenerationCreated:
    generation: Generation
    balance: int
    #: False when the request key was seen before and the existing generation is returned unchanged.
    new: bool = True


@dataclass(frozen=True, slots=True)
class TooManyActive:
    """The user already has `limit` generations queued or running: nothing was charged or inserted."""

    limit: int


CreateOutcome = GenerationCreated | InsufficientFunds | TooManyActive


@dataclass(frozen=True, slots=True)
class Refunded:
    generation: Generation
    entry: LedgerEntry
    balance: int


@dataclass(frozen=True, slots=True)
class NotRefundable:
    """The generation was not in a status the caller allowed (already ended, produced, or unknown)."""

    generation: Generation | None


RefundOutcome = Refunded | NotRefundable


@dataclass(frozen=True, slots=True)
class PaymentRefunded:
    """A Stars payment marked refunded, with its credits taken back as `payment_refund:<charge_id>`.

    `debited` is at most the balance at that moment (credits already spent cannot be taken back; the
    balance never goes negative), 0 when nothing was left. `new` is False when it was recorded before.
    """

    payment: Payment
    debited: int
    balance: int
    new: bool = True


@dataclass(frozen=True, slots=True)
class GenerationStats:
    """Generations created in the period, grouped by model, route provider and status."""

    model: str
    provider: str | None
    status: GenerationStatus
    count: int
    #: Sum of the generations' prices in credits.
    credits: int
    #: Sum of the requested durations, for a provider cost estimate from the catalog.
    seconds: int
    #: Of these, the generations whose provider reported what the task cost (`result_meta.cost_usd`):
    #: how many, the sum of those costs in US dollars, and the sum of their durations.
    reported: int = 0
    reported_cost_usd: Decimal = Decimal(0)
    reported_seconds: int = 0


@dataclass(frozen=True, slots=True)
class PaymentStats:
    payments: int = 0
    stars: int = 0
    credits: int = 0
    refunded: int = 0
    refunded_stars: int = 0


@dataclass(frozen=True, slots=True)
class Stats:
    since: datetime
    generations: list[GenerationStats]
    payments: PaymentStats
    new_users: int
    #: Trial credits (WELCOME_CREDITS) granted in the period, and to how many users.
    welcome_credits: int = 0
    welcome_users: int = 0
    #: Generations refunded because what their create did upstream could not be known (a task may exist).
    uncertain_submits: int = 0


class NoticeKind(StrEnum):
    """What a notice owed to a user follows: a Stars payment credited, an order's debit, a generation's
    refund, a Stars payment refunded."""

    PURCHASE = "purchase"
    ORDER = "order"
    REFUND = "refund"
    PAYMENT_REFUND = "payment_refund"


class NoticeOutcome(StrEnum):
    SENT = "sent"
    #: The user blocked the bot or the chat is gone: nobody to tell.
    UNREACHABLE = "unreachable"
    GAVE_UP = "gave_up"


def notice_key(kind: NoticeKind, subject: str) -> str:
    """The outbox key: one notice per kind and generation (or charge id)."""
    return f"{kind.value}:{subject}"


@dataclass(frozen=True, slots=True)
class Notice:
    """A notice owed to a user, written by the backend in the transaction of the money change it follows
    (the outbox); sent at least once and marked done once."""

    key: str
    kind: NoticeKind
    user_id: int
    chat_id: int
    generation_id: str | None
    charge_id: str | None
    created_at: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class ReceivedUpdate:
    """A payment update kept as Telegram sent it, until its handler has finished."""

    update_id: int
    body: dict[str, Any]


class ModerationSource(StrEnum):
    """Who refused: the word list, the moderation API, or an admin's /block or /unblock."""

    LIST = "list"
    API = "api"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class NewModerationEvent:
    """One entry of the moderation audit trail: a refused prompt (`excerpt`, at most 200 characters) or a
    ban change. `category` is a rule category ("sexual", ...), "unchecked" (the API could not be asked
    and fails closed), or "block"/"unblock"; `reason` is what matched, for the admins' eyes only."""

    user_id: int
    source: ModerationSource
    category: str
    created_at: datetime
    reason: str | None = None
    excerpt: str | None = None
    admin_id: int | None = None


@dataclass(frozen=True, slots=True)
class ModerationEvent:
    id: int
    user_id: int
    source: ModerationSource
    category: str
    created_at: datetime
    reason: str | None
    excerpt: str | None
    admin_id: int | None


@dataclass(frozen=True, slots=True)
class BanOutcome:
    """The user after /block or /unblock; `changed` is False when they already were so (nothing was
    written, not even an audit entry)."""

    user: User
    changed: bool
