"""Storage contract for moderation: the audit trail (append, newest first, pages, a user's entries) and
admins' bans (with their audit entry, once). Runs unchanged on every backend."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta

import pytest

from storage.errors import StorageError, UnknownUserError
from storage.records import ModerationSource, NewModerationEvent
from tests.conftest import BackendUnderTest
from tests.contract.test_generations import NOW, fund


def refusal(user_id: int, minute: int, *, category: str = "sexual") -> NewModerationEvent:
    return NewModerationEvent(
        user_id=user_id,
        source=ModerationSource.LIST,
        category=category,
        created_at=NOW + timedelta(minutes=minute),
        reason=f"prompt: en word 'porn' ({minute})",
        excerpt=f"refused prompt {minute}",
    )


async def test_refusals_are_kept_and_listed_newest_first_in_pages(backend: BackendUnderTest) -> None:
    store = backend.store
    for user_id in (1, 2):
        await store.ensure_user(user_id)
    recorded = [await store.record_moderation_event(refusal(1 + i % 2, i)) for i in range(7)]
    first = recorded[0]
    assert (first.user_id, first.source, first.category, first.created_at) == (
        1,
        ModerationSource.LIST,
        "sexual",
        NOW,
    )
    assert (first.reason, first.excerpt, first.admin_id) == (
        "prompt: en word 'porn' (0)",
        "refused prompt 0",
        None,
    )
    assert [e.id for e in recorded] == sorted(e.id for e in recorded)

    pages, before = [], None
    while page := await store.list_moderation_events(limit=3, before=before):
        pages.append([e.excerpt for e in page])
        before = page[-1].id
    assert pages == [
        ["refused prompt 6", "refused prompt 5", "refused prompt 4"],
        ["refused prompt 3", "refused prompt 2", "refused prompt 1"],
        ["refused prompt 0"],
    ]
    mine = await store.list_moderation_events(limit=10, user_id=2)
    assert [e.excerpt for e in mine] == ["refused prompt 5", "refused prompt 3", "refused prompt 1"]
    older = await store.list_moderation_events(limit=10, user_id=2, before=mine[0].id)
    assert [e.excerpt for e in older] == ["refused prompt 3", "refused prompt 1"]
    assert await store.list_moderation_events(limit=10, user_id=3) == []


async def test_an_excerpt_is_at_most_200_characters_and_the_user_must_exist(
    backend: BackendUnderTest,
) -> None:
    store = backend.store
    await store.ensure_user(1)
    event = refusal(1, 0)
    kept = await store.record_moderation_event(replace(event, excerpt="ж" * 200))  # characters, not bytes
    assert kept.excerpt == "ж" * 200
    with pytest.raises((sqlite3.IntegrityError, StorageError)):  # the table's check, on either backend
        await store.record_moderation_event(replace(event, excerpt="x" * 201))
    with pytest.raises(UnknownUserError):
        await store.record_moderation_event(refusal(99, 0))
    assert len(await store.list_moderation_events(limit=10)) == 1


async def test_a_ban_is_set_and_lifted_once_with_its_audit_entry(backend: BackendUnderTest) -> None:
    store = backend.store
    await store.ensure_user(5, username="eve")
    user = await store.get_user(5)
    assert user is not None and (user.banned, user.banned_reason, user.banned_at) == (False, None, None)

    banned = await store.set_user_banned(5, banned=True, reason="spam prompts", admin_id=9, now=NOW)
    assert banned is not None and banned.changed
    assert (banned.user.banned, banned.user.banned_reason, banned.user.banned_at) == (
        True,
        "spam prompts",
        NOW,
    )
    assert banned.user.blocked is False, "a ban is not the user blocking the bot"
    later = NOW + timedelta(days=1)
    again = await store.set_user_banned(5, banned=True, reason="other", admin_id=9, now=later)
    assert again is not None and not again.changed
    assert (again.user.banned_reason, again.user.banned_at) == ("spam prompts", NOW)
    for read in (
        await store.get_user(5),
        await store.find_user_by_username("eve"),
        await store.ensure_user(5),
    ):
        assert read is not None and read.banned

    lifted = await store.set_user_banned(
        5, banned=False, reason=None, admin_id=9, now=NOW + timedelta(hours=1)
    )
    assert lifted is not None and lifted.changed
    assert (lifted.user.banned, lifted.user.banned_reason, lifted.user.banned_at) == (False, None, None)
    not_banned = await store.set_user_banned(5, banned=False, reason=None, admin_id=9, now=NOW)
    assert not_banned is not None and not not_banned.changed

    trail = await store.list_moderation_events(limit=10, user_id=5)
    assert [(e.source, e.category, e.reason, e.admin_id) for e in trail] == [
        (ModerationSource.ADMIN, "unblock", None, 9),
        (ModerationSource.ADMIN, "block", "spam prompts", 9),
    ]
    assert trail[0].created_at == NOW + timedelta(hours=1)
    assert await store.set_user_banned(404, banned=True, reason=None, admin_id=9, now=NOW) is None


async def test_a_ban_leaves_the_balance_alone(backend: BackendUnderTest) -> None:
    store = backend.store
    await fund(backend, 1, 30)
    banned = await store.set_user_banned(1, banned=True, reason=None, admin_id=9, now=NOW)
    assert banned is not None and banned.user.balance == 30
    assert [e.delta for e in await store.list_ledger(1)] == [30]
