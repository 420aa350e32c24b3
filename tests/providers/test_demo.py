"""The demo provider: scripted outcomes, progress from an injected clock, tasks that survive a restart,
the bundled clip streamed with its size cap, and the clip itself checked against the declared constants."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.catalog import load_catalog
from services.http import ProviderHttp
from services.providers.base import NotFoundError, ResultRef, SubmitJob, TaskState, TaskStatus
from services.providers.demo import (
    CLIP_DURATION,
    CLIP_HEIGHT,
    CLIP_MIME,
    CLIP_WIDTH,
    NO_RESULT,
    OK,
    POLICY,
    DemoProvider,
    clip_path,
    make_task_id,
    parse_task_id,
    scripted_outcome,
    task_status,
)
from services.providers.descriptor import ProviderConfig
from services.settings import Settings
from services.video_request import VideoRequest
from storage.errors import MediaTooLargeError
from storage.local_media import LocalMediaStore

START = 1_760_000_000.25  # a Unix time with a fraction, as time.time() gives
DELAY = 6.0
CLIP = clip_path().read_bytes()


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def config(make_settings: Callable[..., Settings]) -> ProviderConfig:
    return make_settings().provider("demo")


@pytest.fixture
def clock() -> Clock:
    return Clock()


def provider(config: ProviderConfig, clock: Clock, delay: float = DELAY) -> DemoProvider:
    return DemoProvider(config, delay_seconds=delay, now=clock)


def job(prompt: str) -> SubmitJob:
    route = load_catalog().get("demo").routes[0]  # type: ignore[union-attr]
    return SubmitJob(request=VideoRequest(model="demo", mode="t2v", prompt=prompt), route=route)


@pytest.mark.parametrize(
    ("prompt", "outcome"),
    [
        ("a red fox in the snow", OK),
        ("", OK),
        ("a forbidden dance", POLICY),
        ("FORBIDDEN city at night", POLICY),
        ("the forbiddenness of it", OK),
        ("noresult please", NO_RESULT),
        ("noresult and forbidden", POLICY),
        ("noresults are fine", OK),
    ],
)
def test_scripted_outcome(prompt: str, outcome: str) -> None:
    assert scripted_outcome(prompt) == outcome


@pytest.mark.parametrize(
    ("outcome", "elapsed", "delay", "state", "progress", "error_code", "policy"),
    [
        (OK, 0.0, 6.0, TaskState.RUNNING, 0, None, False),
        (OK, -30.0, 6.0, TaskState.RUNNING, 0, None, False),  # a replica whose clock runs behind
        (OK, 1.5, 6.0, TaskState.RUNNING, 25, None, False),
        (OK, 3.0, 6.0, TaskState.RUNNING, 50, None, False),
        (OK, 5.99, 6.0, TaskState.RUNNING, 99, None, False),  # never 100 before it is done
        (OK, 6.0, 6.0, TaskState.SUCCEEDED, 100, None, False),
        (OK, 0.0, 0.0, TaskState.SUCCEEDED, 100, None, False),
        (POLICY, 3.0, 6.0, TaskState.RUNNING, 50, None, False),
        (POLICY, 6.0, 6.0, TaskState.FAILED, None, "content_policy", True),
        (NO_RESULT, 600.0, 6.0, TaskState.FAILED, None, "no_video", False),
    ],
)
def test_task_status(
    outcome: str,
    elapsed: float,
    delay: float,
    state: TaskState,
    progress: int | None,
    error_code: str | None,
    policy: bool,
) -> None:
    status = task_status("demo-x", outcome, elapsed, delay)
    assert (status.state, status.progress, status.error_code, status.content_policy) == (
        state,
        progress,
        error_code,
        policy,
    )
    if state is TaskState.RUNNING:
        assert status.poll_after == pytest.approx(delay - max(elapsed, 0.0)), "come back when it is done"
    if state is TaskState.SUCCEEDED:
        assert status.result == ResultRef(
            url="demo://demo-x",
            mime_type=CLIP_MIME,
            width=CLIP_WIDTH,
            height=CLIP_HEIGHT,
            duration=CLIP_DURATION,
        )
    else:
        assert status.result is None


@pytest.mark.parametrize(
    "task_id",
    [
        "",
        "demo-",
        "demo-0123456789abcdef0123456789abcdef-1760000000250",
        "demo-0123456789abcdef0123456789abcdef-1760000000250-boom",
        "demo-0123456789ABCDEF0123456789ABCDEF-1760000000250-ok",
        "demo-0123456789abcdef0123456789abcdef-soon-ok",
        "task-0123456789abcdef0123456789abcdef-1760000000250-ok",
        "demo-0123456789abcdef0123456789abcdef-1760000000250-ok\n",
    ],
)
async def test_unknown_task_ids_are_not_found(config: ProviderConfig, clock: Clock, task_id: str) -> None:
    assert parse_task_id(task_id) is None
    with pytest.raises(NotFoundError) as raised:
        await provider(config, clock).status(task_id)
    assert (raised.value.provider, raised.value.code) == ("demo", "not_found")


def test_task_id_round_trip() -> None:
    task_id = make_task_id(START, POLICY)
    assert parse_task_id(task_id) == (1_760_000_000.25, POLICY)
    assert make_task_id(START, OK) != make_task_id(START, OK), "unique even within one millisecond"


async def test_progress_rises_then_succeeds_and_survives_a_restart(
    config: ProviderConfig, clock: Clock
) -> None:
    demo = provider(config, clock)
    submitted = await demo.submit(job("a red fox in the snow"))
    assert submitted.status == TaskStatus(TaskState.RUNNING, progress=0)
    assert "fox" not in submitted.task_id
    assert parse_task_id(submitted.task_id) == (START, OK)
    seen = []
    for elapsed in (0.0, 1.2, 2.4, 3.6, 4.8):
        clock.now = START + elapsed
        status = await demo.status(submitted.task_id)
        assert status.state is TaskState.RUNNING
        seen.append(status.progress)
    assert seen == [0, 20, 40, 60, 80]
    await demo.close()

    restarted = provider(config, Clock(START + 3.0))
    assert (await restarted.status(submitted.task_id)).progress == 50, "no memory needed"
    restarted = provider(config, Clock(START + DELAY))
    done = await restarted.status(submitted.task_id)
    assert done.state is TaskState.SUCCEEDED
    assert done.result is not None
    assert done.result.url == f"demo://{submitted.task_id}"


async def test_a_create_cut_off_by_a_restart_is_found_from_its_time(
    config: ProviderConfig, clock: Clock
) -> None:
    """Nothing upstream to pay for: the task a create sent at `since` made is rebuilt, outcome and all."""
    demo = provider(config, clock)
    assert demo.finds_submitted
    found = await demo.find_submitted(job("noresult"), since=datetime.fromtimestamp(START, UTC))
    assert found is not None and parse_task_id(found.task_id) == (START, NO_RESULT)
    clock.now += DELAY
    assert (await demo.status(found.task_id)).error_code == "no_video"


@pytest.mark.parametrize(
    ("prompt", "error_code", "policy"),
    [("a Forbidden kiss", "content_policy", True), ("noresult", "no_video", False)],
)
async def test_scripted_failures(
    config: ProviderConfig, clock: Clock, prompt: str, error_code: str, policy: bool
) -> None:
    demo = provider(config, clock)
    task_id = (await demo.submit(job(prompt))).task_id
    assert (await demo.status(task_id)).state is TaskState.RUNNING
    clock.now += DELAY
    status = await demo.status(task_id)
    assert (status.state, status.error_code, status.content_policy) == (TaskState.FAILED, error_code, policy)
    assert status.error_message
    with pytest.raises(NotFoundError):
        await anext(demo.download(status, max_bytes=10**9))


async def finished(demo: DemoProvider, clock: Clock) -> TaskStatus:
    task_id = (await demo.submit(job("waves"))).task_id
    clock.now += DELAY
    return await demo.status(task_id)


async def test_download_streams_the_clip_in_chunks(config: ProviderConfig, clock: Clock) -> None:
    demo = provider(config, clock)
    status = await finished(demo, clock)
    chunks = [chunk async for chunk in demo.download(status, max_bytes=len(CLIP))]
    assert len(chunks) > 1
    assert b"".join(chunks) == CLIP


async def test_download_over_the_cap_yields_nothing(config: ProviderConfig, clock: Clock) -> None:
    demo = provider(config, clock)
    status = await finished(demo, clock)
    received: list[bytes] = []

    async def consume() -> None:
        async for chunk in demo.download(status, max_bytes=len(CLIP) - 1):
            received.append(chunk)

    with pytest.raises(MediaTooLargeError) as raised:
        await consume()
    assert raised.value.limit == len(CLIP) - 1
    assert received == [], "refused before the first byte, not after a partial file"


@pytest.mark.parametrize(
    "status",
    [
        TaskStatus(TaskState.RUNNING, progress=10),
        TaskStatus(TaskState.SUCCEEDED, result=ResultRef(url="https://cdn.example/video.mp4")),
        TaskStatus(TaskState.SUCCEEDED, result=ResultRef(url="demo://../../etc/passwd")),
    ],
)
async def test_download_refuses_foreign_results(
    config: ProviderConfig, clock: Clock, status: TaskStatus
) -> None:
    with pytest.raises(NotFoundError):
        await anext(provider(config, clock).download(status, max_bytes=10**9))


async def test_download_into_the_media_store(config: ProviderConfig, clock: Clock, tmp_path: Path) -> None:
    demo = provider(config, clock)
    status = await finished(demo, clock)
    store = LocalMediaStore(tmp_path, public_base_url=None, link_secret=b"k" * 32)
    assert await store.write("1/gen.mp4", demo.download(status, max_bytes=50_000_000)) == len(CLIP)
    assert (tmp_path / "1" / "gen.mp4").read_bytes() == CLIP


async def test_construction(config: ProviderConfig, clock: Clock) -> None:
    assert config.configured, "DEMO_MODE=true configures the demo without a real key"
    with pytest.raises(ValueError, match="negative"):
        DemoProvider(config, delay_seconds=-1)
    instant = provider(config, clock, delay=0)
    task_id = (await instant.submit(job("now"))).task_id
    assert (await instant.status(task_id)).state is TaskState.SUCCEEDED
    http = ProviderHttp("demo", config.base_url)
    session = http.session
    await DemoProvider(config, http=http).close()
    assert session.closed


# --- the bundled clip: a tiny ISO-BMFF reader checks it against the constants above ----------------


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, bytes]]:
    """(type, payload) of each box in data[start:end]."""
    end = len(data) if end is None else end
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, start + 8)
            header = 16
        elif size == 0:
            size = end - start
        assert size >= header, f"bad box size at {start}"
        yield kind, data[start + header : start + size]
        start += size


def child(payload: bytes, kind: bytes) -> list[bytes]:
    return [body for name, body in boxes(payload) if name == kind]


def movie_duration(mvhd: bytes) -> float:
    if mvhd[0] == 1:
        timescale, duration = struct.unpack_from(">IQ", mvhd, 20)
    else:
        timescale, duration = struct.unpack_from(">II", mvhd, 12)
    return duration / timescale


def track_size(tkhd: bytes) -> tuple[float, float]:
    offset = 88 if tkhd[0] == 1 else 76
    width, height = struct.unpack_from(">II", tkhd, offset)
    return width / 65536, height / 65536


def test_bundled_clip_matches_its_constants() -> None:
    assert 10_000 < len(CLIP) <= 300_000
    top = [kind for kind, _ in boxes(CLIP)]
    assert top[0] == b"ftyp"
    assert top.index(b"moov") < top.index(b"mdat"), "faststart: playable while still downloading"
    (moov,) = child(CLIP, b"moov")
    (mvhd,) = child(moov, b"mvhd")
    assert movie_duration(mvhd) == pytest.approx(CLIP_DURATION, abs=0.05)
    sizes = [track_size(tkhd) for trak in child(moov, b"trak") for tkhd in child(trak, b"tkhd")]
    video = [size for size in sizes if size != (0, 0)]
    assert video == [(CLIP_WIDTH, CLIP_HEIGHT)]
    assert len(sizes) == 2, "a video and a sound track"
    assert b"avc1" in moov, "H.264, which every Telegram client plays"
