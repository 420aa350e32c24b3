"""Storage contract: users, ledger and Stars payments. Runs unchanged on every backend."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from storage.errors import UnknownUserError
from storage.records import (
    AlreadyApplied,
    Applied,
    InsufficientFunds,
    LedgerKind,
    NewLedgerEntry,
    NewPayment,
)
from tests.conftest import BackendUnderTest


async def test_new_user_starts_at_zero_and_keeps_the_chosen_language(backend: BackendUnderTest) -> None:
    store = backend.store
    user = await store.ensure_user(7, username="Alice", language="ru")
    assert (user.id, user.username, user.language, user.balance, user.blocked) == (7, "Alice", "ru", 0, False)

    await store.set_user_language(7, "zh")
    again = await store.ensure_user(7, username="alice_new", language="en")
    assert again.language == "zh", "a language the user picked is not overwritten by Telegram's"
    assert again.username == "alice_new"
    assert (await store.find_user_by_username("@ALICE_NEW")).id == 7  # type: ignore[union-attr]
    assert await store.find_user_by_username("nobody") is None
    await store.set_user_blocked(7, True)
    assert (await store.get_user(7)).blocked is True  # type: ignore[union-attr]
    with pytest.raises(UnknownUserError):
        await store.set_user_language(999, "en")


async def test_payment_credits_once_however_often_it_arrives(backend: BackendUnderTest) -> None:
    store = backend.store
    await store.ensure_user(1)
    payment = NewPayment(charge_id="tg-charge-1", user_id=1, stars=50, credits=100, payload="pack:100")
    first = await store.record_payment(payment)
    assert isinstance(first, Applied)
    assert first.balance == 100
    assert first.entry.kind is LedgerKind.PURCHASE
    assert first.entry.idempotency_key == "purchase:tg-charge-1"
    for _ in range(3):
        replay = await store.record_payment(payment)
        assert isinstance(replay, AlreadyApplied)
        assert replay.entry.id == first.entry.id
        assert replay.balance == 100
    stored = await store.get_payment("tg-charge-1")
    assert stored is not None
    assert (stored.user_id, stored.stars, stored.credits, stored.refunded) == (1, 50, 100, False)
    assert [e.delta for e in await store.list_ledger(1)] == [100]


async def test_payment_for_an_unknown_user_is_refused_and_leaves_nothing(backend: BackendUnderTest) -> None:
    with pytest.raises(UnknownUserError):
        await backend.store.record_payment(NewPayment("c", user_id=5, stars=1, credits=1, payload="p"))
    assert await backend.store.get_payment("c") is None


async def test_ledger_entries_are_idempotent_and_never_overdraw(backend: BackendUnderTest) -> None:
    store = backend.store
    await store.ensure_user(2)
    top_up = NewLedgerEntry(
        user_id=2, delta=30, kind=LedgerKind.ADMIN, idempotency_key="admin:9:100", admin_id=9
    )
    assert isinstance(await store.apply_ledger_entry(top_up), Applied)
    assert isinstance(await store.apply_ledger_entry(top_up), AlreadyApplied)

    too_much = NewLedgerEntry(user_id=2, delta=-31, kind=LedgerKind.ADMIN, idempotency_key="admin:9:101")
    outcome = await store.apply_ledger_entry(too_much)
    assert isinstance(outcome, InsufficientFunds)
    assert (outcome.balance, outcome.required, outcome.shortfall) == (30, 31, 1)

    exact = NewLedgerEntry(user_id=2, delta=-30, kind=LedgerKind.ADMIN, idempotency_key="admin:9:102")
    done = await store.apply_ledger_entry(exact)
    assert isinstance(done, Applied)
    assert done.balance == 0
    assert done.entry.balance_after == 0
    history = await store.list_ledger(2)
    assert [e.delta for e in history] == [-30, 30], "newest first, the refused deduction left no entry"
    assert (await store.get_user(2)).balance == 0  # type: ignore[union-attr]


async def test_ledger_entry_for_unknown_user_raises(backend: BackendUnderTest) -> None:
    with pytest.raises(UnknownUserError):
        await backend.store.apply_ledger_entry(
            NewLedgerEntry(user_id=404, delta=5, kind=LedgerKind.ADMIN, idempotency_key="admin:1:1")
        )


async def test_a_new_user_gets_the_trial_credits_once_in_the_same_step(backend: BackendUnderTest) -> None:
    store = backend.store
    user = await store.ensure_user(11, username="bob", language="en", welcome_credits=10)
    assert user.balance == 10, "the returned user already holds the trial credits"
    again = await store.ensure_user(11, username="bob2", language="ru", welcome_credits=10)
    assert (again.balance, again.username, again.language) == (10, "bob2", "en")
    [entry] = await store.list_ledger(11)
    assert (entry.kind, entry.delta, entry.idempotency_key, entry.balance_after) == (
        LedgerKind.WELCOME,
        10,
        "welcome:11",
        10,
    )

    await store.ensure_user(12, welcome_credits=0)
    assert await store.list_ledger(12) == [], "no entry when the setting is 0"
    assert (await store.ensure_user(12, welcome_credits=10)).balance == 0, "only new users get them"

    figures = await store.stats(since=entry.created_at - timedelta(minutes=1))
    assert (figures.welcome_credits, figures.welcome_users) == (10, 1)
    later = await store.stats(since=entry.created_at + timedelta(minutes=1))
    assert (later.welcome_credits, later.welcome_users) == (0, 0)


async def test_parallel_first_updates_grant_the_trial_credits_once(backend: BackendUnderTest) -> None:
    users = await asyncio.gather(*(backend.store.ensure_user(21, welcome_credits=7) for _ in range(20)))
    assert {u.balance for u in users} == {7}
    assert [e.kind for e in await backend.store.list_ledger(21)] == [LedgerKind.WELCOME]
