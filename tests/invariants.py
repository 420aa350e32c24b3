"""The money invariants of ARCHITECTURE §4, checked against a live store and media store.

Tests call `check_invariants` at the end of every scenario, failures included. It only reads, through
the per-backend audit queries of tests/audit.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.interfaces import MediaStore, Store
from storage.records import ACTIVE_STATUSES, PRODUCED_STATUSES, REFUNDED_STATUSES
from tests.audit import audit_of


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: int
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"invariant {self.invariant} broken for {self.subject}: {self.detail}"


async def check_invariants(
    store: Store, media: MediaStore, *, now: datetime, poll_interval_seconds: float
) -> list[Violation]:
    """Every violation found; an empty list means the books are straight."""
    violations: list[Violation] = []
    audit = audit_of(store)

    # 1. balance = sum of the ledger, and never negative
    for wallet in await audit.wallets():
        subject = f"user {wallet.user_id}"
        if wallet.balance != wallet.ledger_sum:
            violations.append(
                Violation(1, subject, f"balance {wallet.balance} != ledger sum {wallet.ledger_sum}")
            )
        if wallet.balance < 0:
            violations.append(Violation(1, subject, f"negative balance {wallet.balance}"))

    grace = timedelta(seconds=poll_interval_seconds)
    for gen in await audit.generations():
        subject = f"generation {gen.id}"
        # 2. exactly one debit of the cost; a refund of the cost iff failed/cancelled
        if gen.debits != [-gen.cost]:
            violations.append(Violation(2, subject, f"debits {gen.debits}, expected one of {-gen.cost}"))
        expected_refunds = [gen.cost] if gen.status in REFUNDED_STATUSES else []
        if gen.refunds != expected_refunds:
            violations.append(
                Violation(
                    2, subject, f"status {gen.status} with refunds {gen.refunds}, expected {expected_refunds}"
                )
            )
        # 4. nothing stays in flight past its hard timeout plus one poll interval
        if gen.status in ACTIVE_STATUSES and gen.deadline_at is not None and now > gen.deadline_at + grace:
            violations.append(
                Violation(4, subject, f"still {gen.status} after its deadline {gen.deadline_at}")
            )
        # 5. a produced video exists in the media store (also a late one kept after a refund)
        produced = gen.status in PRODUCED_STATUSES or gen.result_path is not None
        must_exist = produced and not gen.media_expired  # retention may delete old videos on purpose
        if must_exist and (gen.result_path is None or not await media.exists(gen.result_path)):
            violations.append(
                Violation(5, subject, f"{gen.status} but no stored object at {gen.result_path}")
            )

    # 3. a Telegram charge id credits at most once
    for payment in await audit.payments():
        if payment.payment_rows > 1 or payment.purchase_entries > 1:
            violations.append(
                Violation(
                    3,
                    f"charge {payment.charge_id}",
                    f"{payment.payment_rows} payment rows and {payment.purchase_entries} purchase entries",
                )
            )
        elif payment.payment_rows != payment.purchase_entries:
            violations.append(
                Violation(3, f"charge {payment.charge_id}", "payment and its credit are out of step")
            )
    return violations
