"""Videos the operator orders from the command line (`python -m bot generate | batch`), billed to the
operator's provider accounts: no wallet, no Telegram, no store.

A job goes plan → submit with failover → poll → download, through the same catalog validation, adapters
and failover rules as the bot's poller: routes in priority order (only enabled routes of configured
providers), the next route after a refusal that is not about the request (`ProviderError.failover`) and,
once, after a task the provider failed on its own side (`TaskStatus.provider_fault`); a content-policy
refusal is final, and a create whose outcome is uncertain is never sent again nor sent elsewhere.

Each job keeps a small JSON manifest in the output folder, `<job>.json`, written before every step that
costs money: a re-run skips a job whose video is there, resumes a job left half-way by looking up or
polling the create and task on record, and so never pays for one job twice. The job id is a hash of the
normalized request, so the same request is the same job whatever line or path it came from.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.catalog import AvailableModel, Catalog, Mode, Route
from services.generations import utcnow
from services.media import ImageRejected, inspect_image
from services.next_step import TRANSIENT, Failure, ProviderFault, RetryLater
from services.outcomes import failure_of
from services.poll_timing import backoff_gap, poll_gap
from services.providers.base import (
    ContentPolicyError,
    ErrorKind,
    InputImage,
    ProviderError,
    SubmitJob,
    Submitted,
    TaskState,
    TaskStatus,
    UncertainSubmitError,
    VideoProvider,
)
from services.providers.registry import Providers, submit
from services.settings import Settings
from services.submission import LOOKUP_GRACE_SECONDS, stop_task
from services.validation import Problem, validate_request
from services.video_request import ImageRef, VideoRequest
from storage.errors import MediaTooLargeError
from storage.interfaces import MediaStore

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1

#: A reason a job cannot run: a catalog problem (a translation key, rendered by the bot layer) or text.
Reason = Problem | str
Phase = Literal["submitting", "running", "downloading"]
JobState = Literal["new", "submitting", "running", "done", "failed"]


class JobSpec(BaseModel):
    """What the operator asked for: the flags of `generate`, or one line of a batch file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    prompt: str
    mode: Mode | None = None
    duration: int | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    audio: bool | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    image: str | None = None
    last_image: str | None = None
    ref: tuple[str, ...] = ()

    @field_validator("ref", mode="before")
    @classmethod
    def _one_ref_or_many(cls, value: Any) -> Any:
        """`"ref": "a.png"` is one reference image, like `"ref": ["a.png"]`."""
        return (value,) if isinstance(value, str) else value

    def inferred_mode(self) -> Mode:
        """The mode the images imply when none is given: references, two frames, one frame, or text."""
        if self.mode is not None:
            return self.mode
        if self.ref:
            return "ref2v"
        if self.last_image:
            return "fl2v"
        return "i2v" if self.image else "t2v"


@dataclass(frozen=True, slots=True)
class Job:
    """A request that passed the catalog's validation, with its identity and its routes, best first."""

    id: str
    label: str
    request: VideoRequest
    model_name: str
    routes: tuple[Route, ...]
    #: sha256 of each image file ("first", "last", "ref00" ...): part of the identity, re-checked on submit.
    digests: Mapping[str, str]
    identity: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A job that cannot run as asked (nothing was sent), with every reason."""

    label: str
    line: int | None
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A batch line asking for a job an earlier line already asks for: made once."""

    label: str
    line: int
    job: Job


@dataclass(frozen=True, slots=True)
class JobResult:
    job: Job
    status: Literal["done", "skipped", "failed"]
    route: str | None
    seconds: float
    file: Path | None = None
    error: str | None = None


class Watcher(Protocol):
    """Where the engine reports what each job is doing (the terminal's progress bars, a test's list)."""

    def phase(
        self,
        job: Job,
        phase: Phase,
        *,
        route: str | None = None,
        progress: int | None = None,
        received: int | None = None,
    ) -> None: ...

    def finished(self, result: JobResult) -> None: ...


class Manifest(BaseModel):
    """`<job>.json`: where a job stands, written before each step that could cost money."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = MANIFEST_VERSION
    job: str
    request: dict[str, Any]
    state: JobState = "new"
    provider: str | None = None
    provider_model_id: str | None = None
    #: Our id of the create on record (sent, or about to be): an uncertain one is looked up by it.
    request_id: str | None = None
    submitted_at: datetime | None = None
    task_id: str | None = None
    accepted_at: datetime | None = None
    #: The route that failed the task on its own side: the job went on to the next route, once.
    rerouted_from: str | None = None
    error_code: str | None = None
    error: str | None = None
    file: str | None = None
    size: int | None = None
    updated_at: datetime

    @property
    def route(self) -> str | None:
        return None if self.provider is None else f"{self.provider}:{self.provider_model_id}"


# ---------------------------------------------------------------------------------------------- planning


def offers(catalog: Catalog, settings: Settings) -> dict[str, AvailableModel]:
    """The models the bot would offer now, by key: only enabled routes of configured providers."""
    return {o.model.key: o for o in catalog.available(settings.usable_providers())}


def plan(
    spec: JobSpec,
    *,
    base: Path,
    catalog: Catalog,
    offered: Mapping[str, AvailableModel],
    settings: Settings,
    label: str,
    line: int | None = None,
) -> Job | Rejected:
    """Validate `spec` as the bot validates an order (image paths relative to `base`), or say why not."""
    offer = offered.get(spec.model)
    if offer is None:
        known = catalog.get(spec.model)
        reason = (
            f"unknown model {spec.model!r}; available: {', '.join(sorted(offered)) or 'none'}"
            if known is None
            else f"model {spec.model!r} has no enabled route of a configured provider"
        )
        return Rejected(label, line, (reason,))
    reasons: list[Reason] = []
    refs: dict[str, ImageRef] = {}
    digests: dict[str, str] = {}
    paths = {"first": spec.image, "last": spec.last_image} | {
        f"ref{i:02d}": path for i, path in enumerate(spec.ref)
    }
    for key, path in paths.items():
        if path is None:
            continue
        loaded = _inspect(base / path, settings.max_image_bytes)
        if isinstance(loaded, tuple):
            refs[key], digests[key] = loaded
        else:
            reasons.append(loaded)
            refs[key] = ImageRef(source=str(base / path))  # still counted by the mode's checks
    request = VideoRequest(
        model=spec.model,
        mode=spec.inferred_mode(),
        prompt=spec.prompt.strip(),
        duration=spec.duration,
        aspect_ratio=spec.aspect_ratio,
        resolution=spec.resolution,
        audio=spec.audio,
        negative_prompt=spec.negative_prompt,
        seed=spec.seed,
        first_frame=refs.get("first"),
        last_frame=refs.get("last"),
        reference_images=tuple(ref for key, ref in sorted(refs.items()) if key.startswith("ref")),
    )
    reasons.extend(validate_request(request, offer))
    if reasons:
        return Rejected(label, line, tuple(reasons))
    request = request.with_defaults(offer.model)
    assert request.duration is not None and request.resolution and request.aspect_ratio
    routes = offer.routes_for(
        mode=request.mode,
        duration=request.duration,
        resolution=request.resolution,
        aspect_ratio=request.aspect_ratio,
    )
    identity = request.model_dump(mode="json") | {
        "first_frame": digests.get("first"),
        "last_frame": digests.get("last"),
        "reference_images": [digests[key] for key in sorted(digests) if key.startswith("ref")],
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":")).encode())
    return Job(
        id=f"{spec.model}-{digest.hexdigest()[:12]}",
        label=label,
        request=request,
        model_name=offer.model.name,
        routes=tuple(routes),
        digests=digests,
        identity=identity,
    )


def _inspect(path: Path, max_bytes: int) -> tuple[ImageRef, str] | Reason:
    """The image at `path` checked as the bot checks an upload, and its file's sha256; or why not."""
    try:
        with path.open("rb") as source:
            data = source.read(max_bytes + 1)  # one byte more tells "too large" without reading it all
    except FileNotFoundError:
        return f"image not found: {path}"
    except OSError as error:
        return f"cannot read image {path}: {error.strerror or error}"
    try:
        image = inspect_image(data, max_bytes=max_bytes)
    except ImageRejected as rejected:
        return rejected.problem
    ref = ImageRef(
        source=str(path),
        mime_type=image.mime_type,
        width=image.width,
        height=image.height,
        size_bytes=len(data),
    )
    return ref, hashlib.sha256(data).hexdigest()


def parse_batch(
    text: str,
    *,
    base: Path,
    catalog: Catalog,
    offered: Mapping[str, AvailableModel],
    settings: Settings,
) -> list[Job | Rejected | Duplicate]:
    """One entry per non-blank line of a JSON-lines batch file, in file order; every bad line says why."""
    entries: list[Job | Rejected | Duplicate] = []
    seen: dict[str, Job] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        label = f"line {number}"
        spec = _spec(line)
        if not isinstance(spec, JobSpec):
            entries.append(Rejected(label, number, spec))
            continue
        planned = plan(
            spec, base=base, catalog=catalog, offered=offered, settings=settings, label=label, line=number
        )
        if isinstance(planned, Job) and planned.id in seen:
            entries.append(Duplicate(label, number, seen[planned.id]))
            continue
        if isinstance(planned, Job):
            seen[planned.id] = planned
        entries.append(planned)
    return entries


def _spec(line: str) -> JobSpec | tuple[str, ...]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        return (f"not JSON: {error.msg} (column {error.colno})",)
    if not isinstance(data, dict):
        return (f"not a JSON object but {type(data).__name__}",)
    try:
        return JobSpec.model_validate(data)
    except ValidationError as error:
        return tuple(_describe(item) for item in error.errors(include_url=False))


def _describe(item: Mapping[str, Any]) -> str:
    where = ".".join(str(part) for part in item["loc"])
    if item["type"] == "extra_forbidden":
        return f"unknown field {where!r}; known: {', '.join(JobSpec.model_fields)}"
    if item["type"] == "missing":
        return f"missing field {where!r}"
    return f"{where}: {item['msg']}"


# ---------------------------------------------------------------------------------------------- running


@dataclass
class _Task:
    """A task a route accepted, being followed."""

    adapter: VideoProvider
    #: The status to act on next (the create's answer); None: poll for it.
    status: TaskStatus | None = None
    #: Polls in a row that failed: a "not found" right after another failure means the task is gone.
    failed_polls: int = 0


@dataclass
class OperatorJobs:
    """Runs jobs with bounded concurrency; each job's files are `<job>.json` and `<job>.mp4` in `out`."""

    settings: Settings
    catalog: Catalog
    providers: Providers
    out: MediaStore
    out_dir: Path
    watcher: Watcher
    #: Run again jobs a previous run failed (never one whose create may have made a paid task).
    retry_failed: bool = False
    clock: Callable[[], datetime] = utcnow
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    results: dict[str, JobResult] = field(default_factory=dict)
    #: Each job's manifest as last written: a failure is recorded on top of the create it may follow.
    _written: dict[str, Manifest] = field(default_factory=dict, init=False, repr=False)

    async def run(self, jobs: Sequence[Job], *, concurrency: int) -> list[JobResult]:
        """Every job to its end (done, skipped or failed); at most `concurrency` in flight at once."""
        slots = asyncio.Semaphore(concurrency)

        async def one(job: Job) -> JobResult:
            async with slots:
                return await self.run_one(job)

        return list(await asyncio.gather(*(one(job) for job in jobs)))

    async def run_one(self, job: Job) -> JobResult:
        started = time.monotonic()
        try:
            result = await self._advance(job, self._load(job), started)
        except Exception as error:  # an unreadable manifest, a full disk, a bug: the other jobs go on
            log.debug("job %s stopped on this error", job.id, exc_info=error)
            failed = f"{type(error).__name__}: {error}"
            result = JobResult(job, "failed", None, time.monotonic() - started, error=failed)
        self.results[job.id] = result
        self.watcher.finished(result)
        return result

    async def _advance(self, job: Job, record: Manifest | None, started: float) -> JobResult:
        if record is not None and record.state == "done" and await self._made(job, record):
            return JobResult(job, "skipped", record.route, 0.0, file=self.out_dir / f"{job.id}.mp4")
        if record is not None and record.state == "failed":
            if not self.retry_failed or record.error_code == "uncertain_submit":
                return JobResult(job, "failed", record.route, 0.0, error=f"earlier run: {record.error}")
            record = None
        if record is None:
            record = self._save(Manifest(job=job.id, request=dict(job.identity), updated_at=self.clock()))
        self._written[job.id] = record
        try:
            record = await self._make(job, record)
        except Failure as failure:
            record = self._save(
                self._written[job.id].model_copy(
                    update={
                        "state": "failed",
                        "error_code": failure.code,
                        "error": str(failure),
                        "updated_at": self.clock(),
                    }
                )
            )
            return JobResult(job, "failed", record.route, time.monotonic() - started, error=str(failure))
        return JobResult(
            job, "done", record.route, time.monotonic() - started, file=self.out_dir / f"{job.id}.mp4"
        )

    async def _made(self, job: Job, record: Manifest) -> bool:
        return await self.out.size(f"{job.id}.mp4") == record.size

    async def _make(self, job: Job, record: Manifest) -> Manifest:
        """Submit (or settle the create on record), follow the task, fail over once after a provider
        fault, and download; returns the manifest of the finished job, raises Failure otherwise."""
        while True:
            if record.state == "submitting":
                record, task = await self._settle(job, record)
            elif record.state in ("running", "done") and record.task_id is not None:
                task = self._resume(job, record)
            else:
                record, task = await self._submit(job, record)
            try:
                return await self._follow(job, record, task)
            except ProviderFault as fault:
                record = self._reroute(job, record, fault)

    # submitting

    async def _submit(self, job: Job, record: Manifest) -> tuple[Manifest, _Task]:
        """The routes in priority order, as the poller's submission tries them: the next route after a
        refusal that says nothing about the request, a final failure otherwise, and all of them again
        after a backoff while they were only busy or down (until the first route's hard timeout)."""
        routes = [r for r in job.routes if _route_name(r, job.request.mode) != record.rerouted_from]
        if not routes:
            raise Failure("no_route")
        images = await asyncio.to_thread(self._images, job)
        deadline = self.clock() + timedelta(minutes=self._hard_timeout(routes[0].provider))
        attempt = 0
        while True:
            last: ProviderError | None = None
            transient = False
            for route in routes:
                adapter = self.providers.for_route(route)
                sent = self._job(job, route, str(uuid.uuid4()), images)
                record = self._save(
                    record.model_copy(
                        update={
                            "state": "submitting",
                            "provider": route.provider,
                            "provider_model_id": sent.provider_model_id,
                            "request_id": sent.request_id,
                            "submitted_at": self.clock(),
                            "task_id": None,
                            "updated_at": self.clock(),
                        }
                    )
                )
                self.watcher.phase(job, "submitting", route=record.route)
                try:
                    submitted = await submit(adapter, sent)
                except UncertainSubmitError as error:
                    log.warning(
                        "job %s: create on %s has no certain outcome (%s)", job.id, record.route, error
                    )
                    return await self._look_up(job, record, adapter, sent, error.message)
                except ContentPolicyError as error:
                    raise Failure("content_policy", error.message) from None
                except ProviderError as error:
                    if not error.failover and error.kind not in TRANSIENT:
                        raise Failure("invalid_request", error.message) from None
                    log.warning("job %s: route %s refused (%s); trying the next", job.id, record.route, error)
                    record = self._save(
                        record.model_copy(
                            update={"state": "new", "request_id": None, "updated_at": self.clock()}
                        )
                    )
                    last, transient = error, transient or error.kind in TRANSIENT
                    continue
                return self._accepted(job, record, adapter, submitted)
            if not transient or self.clock() >= deadline:
                raise Failure("no_route", None if last is None else last.message)
            attempt += 1
            await self.sleep(backoff_gap(self.settings, None, attempt, last.retry_after if last else None))

    def _images(self, job: Job) -> dict[str, InputImage]:
        """The job's image files read again and checked again; a file changed since planning fails."""
        refs = {"first": job.request.first_frame, "last": job.request.last_frame} | {
            f"ref{i:02d}": ref for i, ref in enumerate(job.request.reference_images)
        }
        images = {}
        limit = self.settings.max_image_bytes
        for key, ref in refs.items():
            if ref is None:
                continue
            try:
                data = Path(ref.source).read_bytes()
                if hashlib.sha256(data).hexdigest() != job.digests[key]:
                    raise Failure("image_changed", f"{ref.source} changed since the job was planned")
                images[key] = inspect_image(data, max_bytes=limit)
            except (OSError, ImageRejected) as error:
                raise Failure("image_unavailable", f"{ref.source}: {error}") from None
        return images

    def _job(self, job: Job, route: Route, request_id: str, images: Mapping[str, InputImage]) -> SubmitJob:
        """The create for `route`: the request without the options it does not take, and no callback
        URL (nothing here receives callbacks; the task is polled)."""
        return SubmitJob(
            request=job.request.for_route(route),
            route=route,
            first_frame=images.get("first"),
            last_frame=images.get("last"),
            reference_images=tuple(v for k, v in sorted(images.items()) if k.startswith("ref")),
            request_id=request_id,
        )

    def _accepted(
        self, job: Job, record: Manifest, adapter: VideoProvider, submitted: Submitted
    ) -> tuple[Manifest, _Task]:
        """The task is on record before anything else happens: a re-run polls it, never creates another."""
        record = self._save(
            record.model_copy(
                update={
                    "state": "running",
                    "task_id": submitted.task_id,
                    "accepted_at": self.clock(),
                    "updated_at": self.clock(),
                }
            )
        )
        log.info("job %s: submitted to %s as task %s", job.id, record.route, submitted.task_id)
        return record, _Task(adapter, submitted.status)

    async def _settle(self, job: Job, record: Manifest) -> tuple[Manifest, _Task]:
        """A create on record without its answer (the previous run stopped while it was being sent):
        look it up as it was sent, never send it again."""
        route = self._route(job, record)
        if route is None:
            raise Failure("uncertain_submit", f"the route {record.route} of the create left the catalog")
        assert record.request_id is not None
        sent = self._job(job, route, record.request_id, {})
        return await self._look_up(
            job, record, self.providers.for_route(route), sent, "sent before the last run stopped"
        )

    async def _look_up(
        self, job: Job, record: Manifest, adapter: VideoProvider, sent: SubmitJob, reason: str
    ) -> tuple[Manifest, _Task]:
        """Adopt the task an uncertain create made, where the provider can be asked; otherwise, or when
        it knows no such task after LOOKUP_GRACE_SECONDS, the job fails as "uncertain submit" and is
        never sent again (a second create could be a second paid task)."""
        if not adapter.finds_submitted:
            raise Failure("uncertain_submit", f"{sent.route.provider} has no look-up: {reason}")
        assert record.submitted_at is not None
        deadline = record.submitted_at + timedelta(minutes=self._hard_timeout(sent.route.provider))
        attempt = 0
        while True:
            try:
                found = await adapter.find_submitted(sent, since=record.submitted_at)
            except UncertainSubmitError as error:
                raise Failure("uncertain_submit", error.message) from None
            except ProviderError as error:
                if self.clock() >= deadline:
                    raise Failure("uncertain_submit", f"look-up failed: {error.message}") from None
                attempt += 1
                await self.sleep(backoff_gap(self.settings, sent.route.provider, attempt, error.retry_after))
                continue
            if found is not None:
                log.info("job %s: create %s found as task %s", job.id, sent.request_id, found.task_id)
                return self._accepted(job, record, adapter, found)
            waited = (self.clock() - record.submitted_at).total_seconds()
            if waited >= LOOKUP_GRACE_SECONDS or self.clock() >= deadline:
                raise Failure("uncertain_submit", f"{sent.route.provider} knows no task for it: {reason}")
            await self.sleep(poll_gap(self.settings, sent.route.provider, None))

    # following

    def _resume(self, job: Job, record: Manifest) -> _Task:
        """A task accepted in an earlier run: polled again, never created again."""
        route = self._route(job, record)
        assert record.provider is not None
        adapter = (
            self.providers.for_route(route) if route is not None else self.providers.for_key(record.provider)
        )
        return _Task(adapter)

    async def _follow(self, job: Job, record: Manifest, task: _Task) -> Manifest:
        """Poll until the task ends, at the provider's pace; download a finished video. Raises Failure,
        or ProviderFault when the provider failed the task on its own side (the next route may make it)."""
        assert record.task_id is not None and record.provider is not None
        provider = record.provider
        started = record.accepted_at or self.clock()
        deadline = started + timedelta(minutes=self._hard_timeout(provider))
        while True:
            if task.status is None:
                try:
                    task.status = await task.adapter.status(record.task_id)
                    task.failed_polls = 0
                except ProviderError as error:
                    await self._poll_failed(record, task, error, deadline)
                    continue
            status, task.status = task.status, None
            if status.state is TaskState.SUCCEEDED:
                try:
                    return await self._download(job, record, task.adapter, status)
                except RetryLater as later:
                    log.info("job %s: %s", job.id, later)
                    await self.sleep(backoff_gap(self.settings, provider, 1, later.retry_after))
                    continue
            if status.state is TaskState.FAILED:
                raise failure_of(status)
            if self.clock() >= deadline:
                await stop_task(task.adapter, record.task_id)
                raise Failure("timeout")
            self.watcher.phase(job, "running", route=record.route, progress=status.progress)
            await self.sleep(poll_gap(self.settings, provider, status.poll_after))

    async def _poll_failed(
        self, record: Manifest, task: _Task, error: ProviderError, deadline: datetime
    ) -> None:
        """A poll that errs is no verdict: back off and poll again, until the hard timeout."""
        if self.clock() >= deadline:
            raise Failure("timeout", error.message)
        if error.kind is ErrorKind.NOT_FOUND and task.failed_polls:
            raise ProviderFault("provider_failed", f"the task is gone: {error.message}")
        task.failed_polls += 1
        log.info("job %s: status poll failed: %s", record.job, error)
        await self.sleep(backoff_gap(self.settings, record.provider, task.failed_polls, error.retry_after))

    async def _download(
        self, job: Job, record: Manifest, adapter: VideoProvider, status: TaskStatus
    ) -> Manifest:
        """Stream the video into `<job>.mp4` (a temporary file renamed when complete), within MAX_VIDEO_MB."""
        result = status.result
        if result is None or (not result.url and not result.extra):
            raise Failure("no_video", status.error_message)
        limit = self.settings.max_video_bytes

        async def counted() -> AsyncIterator[bytes]:
            received = 0
            async for chunk in adapter.download(status, max_bytes=limit):
                received += len(chunk)
                self.watcher.phase(job, "downloading", route=record.route, progress=100, received=received)
                yield chunk

        try:
            size = await self.out.write(f"{job.id}.mp4", counted(), max_bytes=limit)
        except MediaTooLargeError:
            raise Failure("too_large", f"over MAX_VIDEO_MB ({self.settings.max_video_mb} MB)") from None
        except ProviderError as error:
            if error.kind in TRANSIENT:
                raise RetryLater(f"download failed: {error}", retry_after=error.retry_after) from None
            raise Failure("download_failed", error.message) from None
        return self._save(
            record.model_copy(
                update={
                    "state": "done",
                    "file": f"{job.id}.mp4",
                    "size": size,
                    "error_code": None,
                    "error": None,
                    "updated_at": self.clock(),
                }
            )
        )

    def _reroute(self, job: Job, record: Manifest, fault: ProviderFault) -> Manifest:
        """The provider failed the accepted task on its own side: the next route, once, as the poller
        requeues a generation; a second fault, or no other route, ends the job."""
        failed = record.route
        others = [r for r in job.routes if _route_name(r, job.request.mode) != failed]
        if record.rerouted_from is not None or not others:
            raise Failure(fault.code, fault.detail)
        log.warning("job %s: %s failed on its side (%s); trying the next route", job.id, failed, fault.detail)
        return self._save(
            record.model_copy(
                update={
                    "state": "new",
                    "rerouted_from": failed,
                    "request_id": None,
                    "task_id": None,
                    "updated_at": self.clock(),
                }
            )
        )

    # helpers

    def _route(self, job: Job, record: Manifest) -> Route | None:
        """The catalog route of the create or task on record, while the catalog still lists it."""
        model = self.catalog.get(job.request.model)
        routes = model.routes if model is not None else ()
        return next(
            (
                r
                for r in routes
                if r.provider == record.provider
                and r.provider_model_id(job.request.mode) == record.provider_model_id
            ),
            None,
        )

    def _hard_timeout(self, provider: str) -> int:
        return self.settings.provider(provider).hard_timeout_minutes

    def _load(self, job: Job) -> Manifest | None:
        """The job's manifest from an earlier run; one that cannot be read stops the job (it may hold a
        task on record, and guessing could pay twice)."""
        path = self.out_dir / f"{job.id}.json"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return Manifest.model_validate_json(text)
        except ValidationError:
            raise ValueError(
                f"{path} is not a manifest this version can read; move it away to start over"
            ) from None

    def _save(self, record: Manifest) -> Manifest:
        """Written whole, synced, then renamed over the old one, and without an await: a Ctrl-C cannot cut
        it, so the create or task on record is on disk before anything else happens."""
        path = self.out_dir / f"{record.job}.json"
        temp = path.with_name(f".{path.name}.part")
        with temp.open("w", encoding="utf-8") as out:
            out.write(record.model_dump_json(indent=2))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
        self._written[record.job] = record
        return record


def _route_name(route: Route, mode: str) -> str:
    return f"{route.provider}:{route.provider_model_id(mode)}"
