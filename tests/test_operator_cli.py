"""The operator CLI (`python -m bot generate | batch`) end to end against the loopback provider fakes.

`bot.cli.main` runs its own event loop, as it does for an operator, so the fakes serve from a loop of
their own in a background thread. The test catalog's model "clip" goes to LaoZhang (the OpenAI Videos
fake) first and Runware second; "clip-rw" the other way round. A Ctrl-C is a real SIGINT, sent to the
main thread by a fake at the moment the scenario names.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from PIL import Image

from bot import cli
from bot.exit_status import ExitCode
from services.catalog import load_catalog
from services.operator_jobs import Job, JobResult, JobSpec, OperatorJobs, Phase, offers, plan
from services.providers.registry import DESCRIPTORS, Providers
from services.settings import load_settings
from storage.local_media import LocalMediaStore
from tests.conftest import TOKEN
from tests.fakes.providers.openai_videos import FakeOpenAIVideos, Outcome
from tests.fakes.providers.runware import VIDEO as RUNWARE_VIDEO
from tests.fakes.providers.runware import FakeRunware, Script
from tests.fakes.sleeps import Sleeps
from tests.test_cli import run_bot

LAOZHANG_KEY = "lz-test-key-0123456789"
RUNWARE_KEY = "rw-test-key"
T = TypeVar("T")

CATALOG = """
[[models]]
key = "clip"
name = "Test clip"
modes = ["t2v", "i2v"]
durations = [4, 8]
aspect_ratios = ["16:9", "9:16"]
resolutions = ["720p"]
audio = "always"
default_audio = true
default_duration = 8
default_aspect_ratio = "16:9"
default_resolution = "720p"
prompt_max = 2000
price = { per_clip = 10 }

[[models.routes]]
provider = "laozhang"
model_id = "veo-3.1-fast-generate-preview"
priority = 10

[[models.routes]]
provider = "runware"
model_id = "google:3@3"
priority = 20

[[models]]
key = "clip-rw"
name = "Test clip on Runware first"
modes = ["t2v"]
durations = [8]
aspect_ratios = ["16:9"]
resolutions = ["720p"]
audio = "always"
default_audio = true
default_duration = 8
default_aspect_ratio = "16:9"
default_resolution = "720p"
prompt_max = 2000
price = { per_clip = 10 }

[[models.routes]]
provider = "runware"
model_id = "google:3@3"
priority = 10

[[models.routes]]
provider = "laozhang"
model_id = "veo-3.1-fast-generate-preview"
priority = 20
"""


def interrupt() -> None:
    """Ctrl-C as the terminal sends it: SIGINT, handled by the main thread (where the CLI runs)."""
    main = threading.main_thread().ident
    assert main is not None
    signal.pthread_kill(main, signal.SIGINT)


class LaoZhang(FakeOpenAIVideos):
    """The OpenAI Videos fake, which can press Ctrl-C when the first status poll arrives."""

    interrupt_on_poll = False

    async def _retrieve(self, request: web.Request) -> web.Response:
        if self.interrupt_on_poll:
            self.interrupt_on_poll = False
            interrupt()
        return await super()._retrieve(request)


class Runware(FakeRunware):
    """The Runware fake, which can press Ctrl-C while it handles a create (after making the task)."""

    interrupt_on_create = False

    async def _api(self, request: web.Request) -> web.Response:
        answer = await super()._api(request)
        if self.interrupt_on_create and self.creates():
            self.interrupt_on_create = False
            interrupt()
        return answer


@dataclass
class Fakes:
    laozhang: LaoZhang
    runware: Runware
    loop: asyncio.AbstractEventLoop

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=30)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Fakes]:
    """Both fakes on a loop in a thread, and the settings that point the CLI at them."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="provider-fakes", daemon=True)
    thread.start()
    laozhang = LaoZhang(LAOZHANG_KEY)
    laozhang.polls_to_complete = 0
    running = Fakes(laozhang, Runware(api_key=RUNWARE_KEY), loop)
    running.call(laozhang.start())
    running.call(running.runware.start())
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CATALOG, encoding="utf-8")
    for name, value in {
        "BOT_TOKEN": TOKEN,
        "CATALOG_PATH": str(catalog),
        "LAOZHANG_API_KEY": LAOZHANG_KEY,
        "LAOZHANG_BASE_URL": f"{laozhang.url}/v1",
        "RUNWARE_API_KEY": RUNWARE_KEY,
        "RUNWARE_BASE_URL": running.runware.api_url,
        "POLL_INTERVAL_SECONDS": "0.01",
        "MIN_POLL_INTERVALS": "runware=0",
        "COLUMNS": "200",
    }.items():
        monkeypatch.setenv(name, value)
    try:
        yield running
    finally:
        running.runware.release_slow.set()
        running.call(laozhang.close())
        running.call(running.runware.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def manifests(out: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(out.glob("*.json"))]


def leftovers(out: Path) -> list[str]:
    """Temporary files: a finished or stopped run leaves none."""
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


def frame(path: Path) -> Path:
    Image.new("RGB", (1280, 720), (40, 120, 200)).save(path, format="PNG")
    return path


# ---------------------------------------------------------------------------------------- generate


def test_generate_writes_the_video_and_its_manifest(
    fakes: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = cli.main(["generate", "--model", "clip", "--prompt", "a red fox in the snow", "--out", str(out)])
    assert code == ExitCode.OK
    (manifest,) = manifests(out)
    assert manifest["state"] == "done"
    assert manifest["provider"] == "laozhang"
    assert manifest["task_id"] in fakes.laozhang.videos
    assert manifest["request"]["duration"] == 8, "the model's defaults are part of the request"
    video = out / f"{manifest['job']}.mp4"
    assert video.read_bytes() == fakes.laozhang.video_bytes
    assert manifest["size"] == video.stat().st_size
    assert fakes.laozhang.hits["create"] == 1 and fakes.runware.creates() == 0
    assert leftovers(out) == []
    summary = capsys.readouterr().out
    assert manifest["job"] in summary and "laozhang:veo-3.1-fast-generate-preview" in summary
    assert "done" in summary


def test_failover_to_the_second_route_when_the_first_is_out_of_balance(fakes: Fakes, tmp_path: Path) -> None:
    fakes.laozhang.fail_next("create", 402, message="Insufficient balance", code="insufficient_quota")
    fakes.runware.script(Script(polls=0))
    out = tmp_path / "out"
    code = cli.main(["generate", "--model", "clip", "--prompt", "a red fox", "--out", str(out)])
    assert code == ExitCode.OK
    (manifest,) = manifests(out)
    assert (manifest["state"], manifest["provider"]) == ("done", "runware")
    assert (out / f"{manifest['job']}.mp4").read_bytes() == RUNWARE_VIDEO
    assert fakes.laozhang.hits["create"] == 1 and fakes.runware.creates() == 1


@pytest.mark.parametrize("when", ["at create", "after acceptance"])
def test_a_content_policy_failure_is_final(
    fakes: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str], when: str
) -> None:
    prompt = "a forbidden scene" if when == "at create" else "a scene the moderation blocks later"
    fakes.laozhang.outcome = "moderation"
    out = tmp_path / "out"
    code = cli.main(["generate", "--model", "clip", "--prompt", prompt, "--out", str(out)])
    assert code == ExitCode.JOBS_FAILED
    (manifest,) = manifests(out)
    assert (manifest["state"], manifest["error_code"]) == ("failed", "content_policy")
    assert fakes.laozhang.hits["create"] == 1
    assert fakes.runware.creates() == 0, "no second route after a content-policy failure"
    assert list(out.glob("*.mp4")) == []
    assert "content_policy" in capsys.readouterr().out
    assert cli.main(["generate", "--model", "clip", "--prompt", prompt, "--out", str(out)]) == 8
    assert fakes.laozhang.hits["create"] == 1, "a failed job is not sent again without --retry-failed"


def test_an_uncertain_create_without_a_look_up_is_never_sent_again(fakes: Fakes, tmp_path: Path) -> None:
    """LaoZhang cannot be asked what a create made: the job fails, and no route is sent another."""
    fakes.laozhang.break_next("create", "malformed", made=True)
    out = tmp_path / "out"
    argv = ["generate", "--model", "clip", "--prompt", "a red fox", "--out", str(out)]
    assert cli.main(argv) == ExitCode.JOBS_FAILED
    (manifest,) = manifests(out)
    assert (manifest["state"], manifest["error_code"]) == ("failed", "uncertain_submit")
    assert manifest["request_id"] is not None
    assert cli.main([*argv, "--retry-failed"]) == ExitCode.JOBS_FAILED
    assert fakes.laozhang.hits["create"] == 1 and fakes.runware.creates() == 0


def test_an_uncertain_create_is_looked_up_not_sent_again(fakes: Fakes, tmp_path: Path) -> None:
    """Runware finds a create by its taskUUID: the task it made is adopted and polled."""
    fakes.runware.break_next_ack("malformed", made=True)
    fakes.runware.script(Script(polls=0))
    out = tmp_path / "out"
    assert cli.main(["generate", "--model", "clip-rw", "--prompt", "a red fox", "--out", str(out)]) == 0
    (manifest,) = manifests(out)
    assert (manifest["state"], manifest["provider"]) == ("done", "runware")
    assert manifest["task_id"] == manifest["request_id"]
    assert fakes.runware.creates() == 1 and fakes.laozhang.hits["create"] == 0


def test_an_invalid_request_is_refused_before_anything_is_sent(
    fakes: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["generate", "--model", "clip", "--prompt", "x", "--duration", "5", "--image", "gone.png"]
    assert cli.main([*argv, "--out", str(out)]) == ExitCode.CONFIG
    errors = capsys.readouterr().err
    assert "generate: This duration is not available. Choose one of: 4, 8 seconds." in errors
    assert f"generate: image not found: {tmp_path / 'gone.png'}" in errors
    assert not out.exists() and fakes.laozhang.hits["create"] == 0


# ---------------------------------------------------------------------------------------- batch


def test_a_batch_reports_each_bad_line_runs_the_rest_and_skips_them_when_run_again(
    fakes: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "jobs"
    folder.mkdir()
    frame(folder / "frame.png")
    lines = [
        {"model": "clip", "prompt": "a red fox in the snow"},
        "{not json",
        {"model": "nope", "prompt": "a fox"},
        {"model": "clip", "prompt": "a fox", "duration": 5},
        {"model": "clip", "prompt": "a fox", "image": "missing.png"},
        "",
        {"model": "clip", "prompt": "the fox starts to run", "image": "frame.png", "aspect_ratio": "16:9"},
        {"model": "clip", "prompt": "a fox", "colour": "red"},
        {"model": "clip", "prompt": "  a red fox in the snow ", "duration": 8},
    ]
    batch = folder / "jobs.jsonl"
    batch.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    argv = ["batch", str(batch), "--concurrency", "2", "--out", str(out)]
    assert cli.main(argv) == ExitCode.PARTIAL
    captured = capsys.readouterr()
    errors = captured.err
    assert f"{batch}:2: not JSON" in errors
    assert f"{batch}:3: unknown model 'nope'; available: clip, clip-rw" in errors
    assert f"{batch}:4: This duration is not available. Choose one of: 4, 8 seconds." in errors
    assert f"{batch}:5: image not found: {folder / 'missing.png'}" in errors
    assert f"{batch}:8: unknown field 'colour'" in errors
    assert f"{batch}:9: the same job as line 1" in errors, "the same request, written differently"
    done = {m["request"]["mode"]: m for m in manifests(out)}
    assert set(done) == {"t2v", "i2v"} and all(m["state"] == "done" for m in done.values())
    assert all((out / f"{m['job']}.mp4").read_bytes() == fakes.laozhang.video_bytes for m in done.values())
    (sent,) = [r for r in fakes.laozhang.requests if r.files]
    assert sent.files[0][3] == (1280, 720), "the first frame went with its create"
    assert fakes.laozhang.hits["create"] == 2 and fakes.runware.creates() == 0
    assert "invalid" in captured.out and "duplicate" in captured.out

    assert cli.main(argv) == ExitCode.PARTIAL, "the bad lines are still bad"
    again = capsys.readouterr()
    assert fakes.laozhang.hits["create"] == 2 and fakes.runware.creates() == 0, "finished jobs are skipped"
    assert again.out.count("skipped") == 2
    assert f"{batch}:2: not JSON" in again.err


def test_a_batch_with_only_bad_lines_makes_nothing(
    fakes: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = tmp_path / "jobs.jsonl"
    batch.write_text('[1, 2]\n{"model": "clip"}\n', encoding="utf-8")
    assert cli.main(["batch", str(batch), "--out", str(tmp_path / "out")]) == ExitCode.JOBS_FAILED
    errors = capsys.readouterr().err
    assert f"{batch}:1: not a JSON object but list" in errors
    assert f"{batch}:2: missing field 'prompt'" in errors


@pytest.mark.parametrize("outcome", ["completed", "moderation"])
def test_a_job_interrupted_after_submit_resumes_without_a_second_create(
    fakes: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str], outcome: Outcome
) -> None:
    fakes.laozhang.interrupt_on_poll = True
    fakes.laozhang.outcome = outcome
    batch = tmp_path / "jobs.jsonl"
    batch.write_text(json.dumps({"model": "clip", "prompt": "a red fox"}) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    argv = ["batch", str(batch), "--out", str(out)]
    assert cli.main(argv) == ExitCode.INTERRUPTED
    (manifest,) = manifests(out)
    assert manifest["state"] == "running" and manifest["task_id"] in fakes.laozhang.videos
    assert list(out.glob("*.mp4")) == [] and leftovers(out) == []
    assert "interrupted" in capsys.readouterr().out

    task = manifest["task_id"]
    if outcome == "completed":
        assert cli.main(argv) == ExitCode.OK
        (manifest,) = manifests(out)
        assert manifest["state"] == "done"
        assert (out / f"{manifest['job']}.mp4").read_bytes() == fakes.laozhang.video_bytes
    else:
        assert cli.main(argv) == ExitCode.JOBS_FAILED
        (manifest,) = manifests(out)
        assert (manifest["state"], manifest["error_code"]) == ("failed", "content_policy")
    assert manifest["task_id"] == task
    assert fakes.laozhang.hits["create"] == 1, "the task on record was polled, not created again"


def test_a_job_interrupted_while_its_create_was_sent_is_looked_up_when_run_again(
    fakes: Fakes, tmp_path: Path
) -> None:
    fakes.runware.interrupt_on_create = True
    fakes.runware.script(Script(polls=0))
    out = tmp_path / "out"
    argv = ["generate", "--model", "clip-rw", "--prompt", "a red fox", "--out", str(out)]
    assert cli.main(argv) == ExitCode.INTERRUPTED
    (manifest,) = manifests(out)
    assert manifest["state"] in ("submitting", "running") and manifest["request_id"] is not None
    assert cli.main(argv) == ExitCode.OK
    (manifest,) = manifests(out)
    assert manifest["state"] == "done" and manifest["task_id"] == manifest["request_id"]
    assert fakes.runware.creates() == 1 and fakes.laozhang.hits["create"] == 0


# ---------------------------------------------------------------------------------------- polling pace


@dataclass
class Recorder:
    phases: list[tuple[str, Phase]]
    results: list[JobResult]

    def phase(self, job: Job, phase: Phase, **_: object) -> None:
        self.phases.append((job.id, phase))

    def finished(self, result: JobResult) -> None:
        self.results.append(result)


@pytest.mark.parametrize(("floor", "gap"), [("1", 2.5), ("4", 4.0)])
async def test_polls_wait_for_the_providers_hint_and_never_below_its_minimum(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, floor: str, gap: float
) -> None:
    fake = FakeOpenAIVideos(LAOZHANG_KEY)
    fake.polls_to_complete = 2
    fake.poll_after_ms = 2500
    await fake.start()
    catalog_path = tmp_path / "catalog.toml"
    catalog_path.write_text(CATALOG, encoding="utf-8")
    settings = load_settings(
        bot_token=TOKEN,
        catalog_path=catalog_path,
        laozhang_api_key=LAOZHANG_KEY,
        laozhang_base_url=f"{fake.url}/v1",
        min_poll_intervals=f"laozhang={floor}",
    )
    catalog = load_catalog(catalog_path, providers=DESCRIPTORS)
    job = plan(
        JobSpec(model="clip", prompt="a fox"),
        base=tmp_path,
        catalog=catalog,
        offered=offers(catalog, settings),
        settings=settings,
        label="test",
    )
    assert isinstance(job, Job)
    sleeps, recorder, providers = Sleeps(), Recorder([], []), Providers(settings)
    engine = OperatorJobs(
        settings=settings,
        catalog=catalog,
        providers=providers,
        out=LocalMediaStore(tmp_path / "out", public_base_url=None, link_secret=b""),
        out_dir=tmp_path / "out",
        watcher=recorder,
        sleep=sleeps,
    )
    try:
        (result,) = await engine.run([job], concurrency=1)
    finally:
        await providers.close()
        await fake.close()
    assert result.status == "done", result.error
    assert sleeps == [gap, gap, gap], "after the create's answer and after each running poll"
    assert [phase for _, phase in recorder.phases][:2] == ["submitting", "running"]
    assert recorder.results == [result]


# ---------------------------------------------------------------------------------------- the process


def test_python_m_bot_generate_with_the_demo_provider(tmp_path: Path) -> None:
    result = run_bot(
        "generate",
        "--model",
        "demo",
        "--prompt",
        "a lighthouse at dusk",
        "--out",
        "videos",
        cwd=tmp_path,
        BOT_TOKEN=TOKEN,
        DEMO_MODE="true",
        DEMO_DELAY_SECONDS="0.2",
        POLL_INTERVAL_SECONDS="0.05",
        COLUMNS="200",
    )
    assert result.returncode == 0, result.stderr
    (manifest,) = manifests(tmp_path / "videos")
    assert (manifest["state"], manifest["provider"]) == ("done", "demo")
    video = (tmp_path / "videos" / f"{manifest['job']}.mp4").read_bytes()
    assert video[4:8] == b"ftyp" and len(video) == manifest["size"]
    assert "Summary" in result.stdout and "demo:demo-clip" in result.stdout
    assert "Traceback" not in result.stderr
    assert TOKEN not in result.stdout + result.stderr
    assert not (tmp_path / "data").exists(), "no store is made"
