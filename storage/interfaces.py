"""The ports a backend implements, by role, and `MediaStore`.

`UserStore` (users), `LedgerStore` (wallet, ledger and Stars payments), `GenerationStore` (generations
and the poller's work queue), `ReportStore` (figures for the admin), `OutboxStore` (notices owed after
money changes, video uploads begun), `InboxStore` (payment updates kept until handled) and
`ModerationStore` (bans and the moderation audit trail) let each service name only what it uses
(`AccountStore` is users and ledger together, as Python has no intersection types); `Store` is all of
them plus `close()`, what both backends implement and the composition root holds.

Each money or lifecycle method is one atomic operation in the backend, so a crash or a second replica
can never leave a debit without its generation, a refund without its status, or a payment counted twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from storage.records import (
    BanOutcome,
    CreateOutcome,
    Generation,
    GenerationStatus,
    LedgerEntry,
    LedgerOutcome,
    ModerationEvent,
    NewGeneration,
    NewLedgerEntry,
    NewModerationEvent,
    NewPayment,
    Notice,
    NoticeOutcome,
    Payment,
    PaymentRefunded,
    ReceivedUpdate,
    RefundOutcome,
    Stats,
    User,
)

#: Columns a guarded transition may set besides the status.
MUTABLE_GENERATION_FIELDS = frozenset(
    {
        "route_provider",
        "route_model_id",
        "provider_task_id",
        "progress",
        "result_path",
        "file_id",
        "error_code",
        "error_message",
        "deadline_at",
        "next_poll_at",
        "delivered_at",
        "attempts",
        "provider_result",
        "result_meta",
        "status_message_id",
        "media_expired_at",
    }
)


class UserStore(ABC):
    """Telegram users: who they are, the language they chose, whether the bot may write to them."""

    @abstractmethod
    async def ensure_user(
        self,
        user_id: int,
        *,
        username: str | None = None,
        language: str | None = None,
        welcome_credits: int = 0,
    ) -> User:
        """Create the user if new; refresh the username; keep a chosen language.

        A user created by this call gets `welcome_credits` in the same transaction, as one ledger entry
        keyed `welcome:<user_id>`, so trial credits are granted once per user, whatever races or repeats.
        """

    @abstractmethod
    async def get_user(self, user_id: int) -> User | None: ...

    @abstractmethod
    async def find_user_by_username(self, username: str) -> User | None: ...

    @abstractmethod
    async def set_user_language(self, user_id: int, language: str) -> None: ...

    @abstractmethod
    async def set_user_blocked(self, user_id: int, blocked: bool) -> None: ...


class LedgerStore(ABC):
    """The wallet: an append-only ledger that moves each balance, and the Stars payments that credit it."""

    @abstractmethod
    async def apply_ledger_entry(self, entry: NewLedgerEntry) -> LedgerOutcome:
        """Append one entry and move the balance with it; a used key or a negative result changes nothing."""

    @abstractmethod
    async def record_payment(self, payment: NewPayment) -> LedgerOutcome:
        """Store a Stars payment and credit it as `purchase:<charge_id>`, once per charge id."""

    @abstractmethod
    async def get_payment(self, charge_id: str) -> Payment | None: ...

    @abstractmethod
    async def list_payments(self, user_id: int, *, limit: int = 10) -> list[Payment]:
        """Newest first."""

    @abstractmethod
    async def record_payment_refund(self, charge_id: str, *, now: datetime) -> PaymentRefunded | None:
        """Mark a Stars payment refunded and take back its credits, as far as the balance allows, once.

        The entry is `payment_refund:<charge_id>` (none when the balance is 0); None for an unknown charge.
        A second call changes nothing and returns the first outcome with `new=False`.
        """

    @abstractmethod
    async def list_ledger(self, user_id: int, *, limit: int = 50) -> list[LedgerEntry]:
        """Newest first."""


class AccountStore(UserStore, LedgerStore):
    """A user and their money together, for the wallet and the payments service: registering a user
    grants the trial credits, and a refund notice is written in the payer's language."""


class GenerationStore(ABC):
    """Generations, each debited or refunded in the same step that creates or ends it, and the poller's
    work queue (due work, leases)."""

    @abstractmethod
    async def create_generation(self, new: NewGeneration) -> CreateOutcome:
        """Debit `gen:<id>` and insert the row in `queued`, together or not at all.

        A repeated `request_key` returns the existing generation (`new=False`) and charges nothing.
        """

    @abstractmethod
    async def get_generation(self, generation_id: str) -> Generation | None: ...

    @abstractmethod
    async def transition_generation(
        self,
        generation_id: str,
        *,
        to: GenerationStatus,
        allowed_from: frozenset[GenerationStatus],
        fields: Mapping[str, Any] | None = None,
        now: datetime,
    ) -> Generation | None:
        """Move to `to` only if the current status is in `allowed_from`; None when it was not."""

    @abstractmethod
    async def update_generation(
        self,
        generation_id: str,
        *,
        only_if: frozenset[GenerationStatus],
        fields: Mapping[str, Any],
        now: datetime,
    ) -> Generation | None:
        """Set fields without a status change, only while the status is in `only_if`."""

    @abstractmethod
    async def begin_submit(
        self, generation_id: str, *, request_id: str, provider: str, provider_model_id: str, now: datetime
    ) -> Generation | None:
        """Record a create about to be sent (its client request id, when, and the route) on a queued
        generation without one, in one guarded step; None when it is not queued or already has one."""

    @abstractmethod
    async def end_submit(self, generation_id: str, *, request_id: str, now: datetime) -> Generation | None:
        """Forget create `request_id` of a queued generation: the provider refused it, so another may
        be sent. None when the generation moved on or records another create."""

    @abstractmethod
    async def requeue_generation(
        self, generation_id: str, *, failed_route: str, deadline_at: datetime, now: datetime
    ) -> Generation | None:
        """Send a running generation back to `queued` for another route, recording `failed_route` and
        forgetting its task and create: only if it never went this way before; None otherwise."""

    @abstractmethod
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
        """Move to failed/cancelled and credit `refund:<id>` with the cost, in one step, at most once."""

    @abstractmethod
    async def list_user_generations(
        self,
        user_id: int,
        *,
        before: tuple[datetime, str] | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 10,
    ) -> list[Generation]:
        """A library page, newest first, without hidden rows (keyset pagination).

        `before` is the (created_at, id) of the last row of the current page (the next, older page);
        `after` that of its first row (the previous, newer page: the `limit` rows just above it).
        """

    @abstractmethod
    async def hide_generation(self, generation_id: str, *, user_id: int, now: datetime) -> Generation | None:
        """Delete from the owner's library: set `hidden_at`, and `media_expired_at` when a video was
        stored (the caller then deletes the object). Only the owner's row, and only once nothing more
        can happen to it (not active, no delivery pending); None otherwise."""

    @abstractmethod
    async def count_active_generations(self, user_id: int) -> int: ...

    @abstractmethod
    async def count_generations_since(self, user_id: int, since: datetime) -> int:
        """Generations the user ordered at or after `since` (the submit rate limit)."""

    @abstractmethod
    async def find_generation_by_task(self, provider: str, task_id: str) -> Generation | None:
        """The generation a provider callback is about."""

    @abstractmethod
    async def claim_due_generations(
        self, *, now: datetime, owner: str, lease_seconds: float, limit: int, overdue_only: bool = False
    ) -> list[Generation]:
        """Lease up to `limit` generations with work due whose lease is free or expired.

        Due work: an active generation whose poll is due or whose hard timeout passed, and a produced
        video still waiting for delivery (`next_poll_at` set on succeeded, or on failed/cancelled after a
        late success). `overdue_only` leases only active generations past their hard timeout.
        """

    @abstractmethod
    async def claim_generation(
        self, generation_id: str, *, now: datetime, owner: str, lease_seconds: float
    ) -> Generation | None:
        """Lease one generation in any status if nobody holds an unexpired lease on it."""

    @abstractmethod
    async def extend_leases(
        self, generation_ids: Sequence[str], *, owner: str, now: datetime, lease_seconds: float
    ) -> int:
        """Push our leases forward while long work (a large download or upload) is still going."""

    @abstractmethod
    async def release_generation(
        self,
        generation_id: str,
        *,
        owner: str,
        next_poll_at: datetime | None,
        fields: Mapping[str, Any] | None = None,
    ) -> bool:
        """Drop our lease, schedule the next poll and write `fields`, in one step; False if the lease
        was not ours any more.

        `next_poll_at` applies to an active generation or a video still awaiting delivery; an ended one
        (cancelled or refunded meanwhile, delivered) keeps no next poll, so nothing picks it up again.
        """

    @abstractmethod
    async def list_expired_media(self, *, finished_before: datetime, limit: int) -> list[Generation]:
        """Generations whose stored video is older than the retention cut and no longer awaited."""


class ReportStore(ABC):
    """Read-only figures for the admin's /stats."""

    @abstractmethod
    async def stats(self, *, since: datetime) -> Stats:
        """Generations (by model, provider and status), payments, new users and uncertain submits (refunded
        with `error_code` "uncertain_submit") since `since`."""


class StateStore(ABC):
    """The bot's conversation state (aiogram FSM: a wizard in progress, Stars orders waiting for their
    payment) by an opaque key, kept in the backend so that a restart or another replica finds it.

    A key with no state and no data is not kept at all.
    """

    @abstractmethod
    async def get_fsm(self, key: str) -> tuple[str | None, dict[str, Any]]:
        """The state and the data stored under `key`; (None, {}) when there is none."""

    @abstractmethod
    async def set_fsm(self, key: str, state: str | None, data: Mapping[str, Any]) -> None:
        """Replace the state and the data (JSON values) under `key`; None and {} remove the key."""


class OutboxStore(ABC):
    """Notices owed to users after money changes, and uploads of videos begun.

    The backend writes a notice in the same transaction as the change it follows (a Stars payment's
    credit, the debit of an order, a generation's refund, a Stars payment's refund; keys in `notice_key`),
    whichever operation made it.
    Senders lease a notice, send it, and mark it done, so it goes out at least once and, unless a kill
    lands between the send and the mark, once.
    """

    @abstractmethod
    async def claim_notice(
        self, key: str, *, now: datetime, owner: str, lease_seconds: float
    ) -> Notice | None:
        """Lease one pending notice; None when it is done, leased by someone else, not due or absent."""

    @abstractmethod
    async def claim_due_notices(
        self, *, now: datetime, created_before: datetime, owner: str, lease_seconds: float, limit: int
    ) -> list[Notice]:
        """Lease up to `limit` pending notices written at or before `created_before`, oldest first."""

    @abstractmethod
    async def finish_notice(
        self,
        key: str,
        *,
        owner: str,
        now: datetime,
        outcome: NoticeOutcome | None,
        retry_at: datetime | None = None,
    ) -> bool:
        """Mark our leased notice done with `outcome`; with None it was not sent: the attempt is counted
        and it may be leased again from `retry_at`. False when the lease was not ours."""

    @abstractmethod
    async def begin_upload(self, generation_id: str, *, now: datetime) -> int:
        """Count one more upload of the generation's video before it leaves; the count including it."""

    @abstractmethod
    async def upload_refused(self, generation_id: str, *, now: datetime) -> None:
        """Telegram refused the upload for certain (it never reached the chat): it does not count."""


class InboxStore(ABC):
    """Payment updates kept from before Telegram is told they arrived until their handler finished."""

    @abstractmethod
    async def keep_update(self, update_id: int, body: Mapping[str, Any], *, now: datetime) -> None:
        """Store the update as received; a repeat changes nothing."""

    @abstractmethod
    async def finish_update(self, update_id: int, *, now: datetime) -> None:
        """Its handler finished: it is not replayed."""

    @abstractmethod
    async def pending_updates(self, *, limit: int) -> list[ReceivedUpdate]:
        """Kept updates whose handler never finished (a kill, a failure), oldest first."""


class ModerationStore(UserStore):
    """Admins' bans and the moderation audit trail (refused prompts, bans and their lifting), beside the
    users they are about (a ban is read from the user)."""

    @abstractmethod
    async def record_moderation_event(self, event: NewModerationEvent) -> ModerationEvent:
        """Append one audit entry; UnknownUserError for a user who does not exist."""

    @abstractmethod
    async def list_moderation_events(
        self, *, limit: int, before: int | None = None, user_id: int | None = None
    ) -> list[ModerationEvent]:
        """Newest first; `before` is the id of the last entry of the current page (the next, older
        page starts below it); `user_id` keeps only that user's entries."""

    @abstractmethod
    async def set_user_banned(
        self, user_id: int, *, banned: bool, reason: str | None, admin_id: int, now: datetime
    ) -> BanOutcome | None:
        """Ban or lift the ban, with its audit entry (category "block" or "unblock"), in one step; a
        user already so is returned unchanged and nothing is written. None for an unknown user."""


class Store(AccountStore, GenerationStore, ReportStore, StateStore, OutboxStore, InboxStore, ModerationStore):
    """Every port of one backend (SQLite or Supabase), and the connection behind them."""

    @abstractmethod
    async def close(self) -> None: ...

    async def open_lane(self) -> Store:
        """The same data through a path of its own, for the poller: its reads and writes never queue
        behind the update handlers' (a second SQLite connection, a second HTTP pool). The lane is
        closed with its own `close()`; a backend without such a path returns itself."""
        return self


class MediaStore(ABC):
    """Finished videos at `<user_id>/<generation_id>.mp4`."""

    @abstractmethod
    async def write(
        self,
        path: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str = "video/mp4",
        max_bytes: int | None = None,
    ) -> int:
        """Stream `chunks` into `path`; the object appears only once complete. Returns its size."""

    @abstractmethod
    async def exists(self, path: str) -> bool: ...

    @abstractmethod
    async def size(self, path: str) -> int | None: ...

    @abstractmethod
    def read(self, path: str, *, chunk_size: int = 1 << 16) -> AsyncIterator[bytes]: ...

    @abstractmethod
    async def delete(self, path: str) -> bool: ...

    @abstractmethod
    async def link(self, path: str, *, expires_in: int) -> str:
        """A URL that lets a person download the object until it expires."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections (local stores have none)."""


def media_path(user_id: int, generation_id: str) -> str:
    return f"{user_id}/{generation_id}.mp4"
