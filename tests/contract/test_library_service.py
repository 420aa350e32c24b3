"""The library service on each backend: pages both ways without hidden rows, only the user's own
generations, hiding that deletes the video once, and the file_id kept after an upload."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.catalog import load_catalog
from services.generations import GenerationService
from services.library import Library, Page
from services.notifications import StoredVideo
from services.providers.registry import Providers
from services.settings import Settings
from storage.errors import StorageError
from storage.records import ACTIVE_STATUSES, GenerationStatus
from tests.conftest import BackendUnderTest
from tests.contract.test_generations import NOW, _chunks, fund, new_generation
from tests.contract.test_library_and_admin import finish


def gen_id(number: int) -> str:
    """A well-formed generation id (32 hex characters), as the bot makes them."""
    return f"{number:032x}"


@pytest.fixture
def library(backend: BackendUnderTest, settings: Settings) -> Library:
    generations = GenerationService(backend.store, load_catalog(), settings, Providers(settings))
    return Library(backend.store, backend.media, generations, clock=lambda: NOW)


async def test_pages_go_older_and_back_newer_without_hidden_rows(
    backend: BackendUnderTest, library: Library
) -> None:
    await fund(backend, 1, 1000)
    for i in range(13):
        await backend.store.create_generation(new_generation(gen_id(i), at=NOW + timedelta(seconds=i)))
    for hidden in (gen_id(4), gen_id(9)):
        await finish(backend, hidden, video=False)
        assert await library.hide(hidden, 1) is not None
    visible = [gen_id(i) for i in reversed(range(13)) if i not in (4, 9)]

    first = await library.page(1)
    second = await library.page(1, before=(first.rows[-1].created_at, first.rows[-1].id))
    last = await library.page(1, before=(second.rows[-1].created_at, second.rows[-1].id))
    shown = [[g.id for g in page.rows] for page in (first, second, last)]
    assert shown == [visible[:5], visible[5:10], visible[10:]]
    assert [(p.newer, p.older) for p in (first, second, last)] == [(False, True), (True, True), (True, False)]

    back = await library.page(1, after=(last.rows[0].created_at, last.rows[0].id))
    assert back == second
    top = await library.page(1, after=(second.rows[0].created_at, second.rows[0].id))
    assert top == first, "a newer page that is the first one is shown as the first page"
    assert await library.page(2) == Page([], newer=False, older=False), "another user's rows are not theirs"


async def test_only_the_users_own_generation_is_found(backend: BackendUnderTest, library: Library) -> None:
    await fund(backend, 1, 100)
    await fund(backend, 2, 100)
    for number, user_id in ((1, 1), (2, 2), (3, 1)):
        await backend.store.create_generation(new_generation(gen_id(number), user_id=user_id))
    found = await library.own(gen_id(1), 1)
    assert found is not None and found.id == gen_id(1)
    assert await library.own(gen_id(2), 1) is None, "another user's id looks like an unknown one"
    assert await library.own(gen_id(99), 1) is None, "missing"
    assert await library.own("not-an-id", 1) is None, "malformed (forged callback data)"
    await finish(backend, gen_id(3), video=False)
    assert await library.hide(gen_id(3), 1) is not None
    assert await library.own(gen_id(3), 1) is None, "deleted from the library"


async def test_hiding_deletes_the_video_once_and_keeps_the_row(
    backend: BackendUnderTest, library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fund(backend, 1, 100)
    await fund(backend, 2, 100)
    for number, user_id in ((1, 1), (2, 1), (3, 2)):
        await backend.store.create_generation(new_generation(gen_id(number), user_id=user_id))
    await finish(backend, gen_id(1))
    await finish(backend, gen_id(3), user_id=2)
    deleted: list[str] = []
    delete = backend.media.delete

    async def counting_delete(path: str) -> bool:
        deleted.append(path)
        return await delete(path)

    monkeypatch.setattr(backend.media, "delete", counting_delete)
    assert await library.hide(gen_id(3), 1) is None, "not the owner"
    assert await library.hide(gen_id(2), 1) is None, "still in flight"
    hidden = await library.hide(gen_id(1), 1)
    assert hidden is not None and hidden.hidden_at == NOW
    assert await library.hide(gen_id(1), 1) is None, "once"
    assert deleted == [f"1/{gen_id(1)}.mp4"]
    assert not await backend.media.exists(f"1/{gen_id(1)}.mp4")
    row = await backend.store.get_generation(gen_id(1))
    assert row is not None and row.status is GenerationStatus.DELIVERED, "the row stays for the books"
    assert await library.stored_video(row) is None, "nothing left to resend"
    await finish(backend, gen_id(2), video=False)


async def test_a_video_that_cannot_be_deleted_is_hidden_all_the_same(
    backend: BackendUnderTest, library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fund(backend, 1, 100)
    await backend.store.create_generation(new_generation(gen_id(1)))
    await finish(backend, gen_id(1))

    async def failing_delete(path: str) -> bool:
        raise StorageError("bucket unavailable")

    monkeypatch.setattr(backend.media, "delete", failing_delete)
    hidden = await library.hide(gen_id(1), 1)
    assert hidden is not None and hidden.media_expired_at is not None
    assert await library.own(gen_id(1), 1) is None


async def test_an_uploaded_videos_file_id_is_remembered(backend: BackendUnderTest, library: Library) -> None:
    await fund(backend, 1, 100)
    await backend.store.create_generation(new_generation(gen_id(1)))
    path = f"1/{gen_id(1)}.mp4"
    await backend.media.write(path, _chunks(b"video"))
    succeeded = await backend.store.transition_generation(
        gen_id(1),
        to=GenerationStatus.SUCCEEDED,
        allowed_from=ACTIVE_STATUSES,
        fields={"result_path": path, "result_meta": {"width": 720, "height": 1280, "duration": 4.0}},
        now=NOW,
    )
    assert succeeded is not None and succeeded.file_id is None
    video = await library.stored_video(succeeded)
    assert video == StoredVideo(path=path, size=5, width=720, height=1280, duration=4.0)

    await library.remember_file_id(succeeded, "F1")
    row = await backend.store.get_generation(gen_id(1))
    assert row is not None and row.file_id == "F1" and row.status is GenerationStatus.SUCCEEDED
    delivered = await backend.store.transition_generation(
        gen_id(1),
        to=GenerationStatus.DELIVERED,
        allowed_from=frozenset({GenerationStatus.SUCCEEDED}),
        fields={"next_poll_at": None},
        now=NOW,
    )
    assert delivered is not None
    await library.remember_file_id(succeeded, "F2")
    row = await backend.store.get_generation(gen_id(1))
    assert row is not None and row.file_id == "F1", "not once the status has moved on"
