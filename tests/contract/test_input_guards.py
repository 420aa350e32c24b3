"""Storage contract for two guards on what users send (issue 13, item 11), on both backends: a @username
has one holder, and the cap on generations in flight holds for orders that arrive together."""

from __future__ import annotations

import asyncio
from collections import Counter

from storage.records import GenerationCreated, GenerationStatus, TooManyActive
from tests.conftest import BackendUnderTest
from tests.contract.test_generations import NOW, fund, new_generation


async def test_a_username_shown_by_one_user_is_taken_from_any_other(backend: BackendUnderTest) -> None:
    store = backend.store
    await store.ensure_user(1, username="Alice")
    await store.ensure_user(2, username="bob")
    await store.ensure_user(2, username="alice")  # user 2 renamed themselves to what user 1 had
    one, two = await store.get_user(1), await store.get_user(2)
    assert one is not None and two is not None
    assert (one.username, two.username) == (None, "alice")
    found = await store.find_user_by_username("@ALICE")
    assert found is not None and found.id == 2
    assert await store.find_user_by_username("bob") is None

    await store.ensure_user(1)  # an update without a username changes nobody's
    found = await store.find_user_by_username("alice")
    assert found is not None and found.id == 2
    await store.ensure_user(1, username="alice")  # and back
    found = await store.find_user_by_username("alice")
    assert found is not None and found.id == 1
    two = await store.get_user(2)
    assert two is not None and two.username is None


async def test_orders_arriving_together_never_pass_the_cap_on_generations_in_flight(
    backend: BackendUnderTest,
) -> None:
    await fund(backend, 1, 100)
    outcomes = await asyncio.gather(
        *(backend.store.create_generation(new_generation(f"g{i}", max_active=3)) for i in range(8))
    )
    assert Counter(type(o).__name__ for o in outcomes) == {"GenerationCreated": 3, "TooManyActive": 5}
    assert {o.limit for o in outcomes if isinstance(o, TooManyActive)} == {3}
    assert await backend.store.count_active_generations(1) == 3
    user = await backend.store.get_user(1)
    assert user is not None and user.balance == 70, "a refused order is not charged"

    created = [o.generation for o in outcomes if isinstance(o, GenerationCreated)]
    await backend.store.transition_generation(
        created[0].id,
        to=GenerationStatus.RUNNING,
        allowed_from=frozenset({GenerationStatus.QUEUED}),
        now=NOW,
    )
    assert isinstance(
        await backend.store.create_generation(new_generation("late", max_active=3)), TooManyActive
    ), "running counts as in flight"
    assert isinstance(await backend.store.create_generation(new_generation("uncapped")), GenerationCreated), (
        "no cap without max_active"
    )


async def test_a_repeated_request_key_returns_its_generation_even_at_the_cap(
    backend: BackendUnderTest,
) -> None:
    await fund(backend, 1, 100)
    first = await backend.store.create_generation(new_generation("g1", request_key="stars:c1", max_active=1))
    assert isinstance(first, GenerationCreated)
    again = await backend.store.create_generation(new_generation("g2", request_key="stars:c1", max_active=1))
    assert isinstance(again, GenerationCreated) and not again.new
    assert again.generation.id == "g1"
