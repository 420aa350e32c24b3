"""The operator CLI: `python -m bot generate ...` makes one video, `python -m bot batch FILE.jsonl` many,
billed to the operator's provider accounts, with a progress bar per job and a summary table at the end.

This is only the terminal: flags, the batch file, progress and the summary. The jobs themselves (plan,
submit with failover, poll, download, the manifests that make a re-run skip or resume) are
`services.operator_jobs`. Exit statuses are ExitCode members (README, "Exit status").
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from bot.exit_status import ExitCode
from bot.i18n import Translator
from bot.startup import RedactingFormatter, redact, secrets
from services.catalog import Catalog, CatalogError, load_catalog
from services.operator_jobs import (
    Duplicate,
    Job,
    JobResult,
    JobSpec,
    OperatorJobs,
    Phase,
    Reason,
    Rejected,
    offers,
    parse_batch,
    plan,
)
from services.providers.registry import DESCRIPTORS, Providers
from services.settings import ConfigError, Settings, load_settings
from storage.local_media import LocalMediaStore

#: The modes a job from the command line can have: extend and remix continue a bot user's video.
CLI_MODES = ("t2v", "i2v", "fl2v", "ref2v")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser(
        "generate",
        help="make one video",
        description="Make one video through the catalog's routes; the MP4 and its manifest go to --out.",
    )
    generate.add_argument("--model", required=True, help="a model key of the catalog (`python -m bot check`)")
    generate.add_argument("--prompt", required=True)
    generate.add_argument("--mode", choices=CLI_MODES, help="default: implied by the images given")
    generate.add_argument("--duration", type=int, help="seconds (default: the model's)")
    generate.add_argument("--aspect", dest="aspect_ratio", help="aspect ratio, e.g. 16:9")
    generate.add_argument("--resolution", help="e.g. 720p")
    generate.add_argument("--audio", action=argparse.BooleanOptionalAction, help="default: the model's")
    generate.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="PATH",
        help="the first frame; a second --image is the last frame",
    )
    generate.add_argument("--last-image", metavar="PATH", help="the last frame")
    generate.add_argument("--ref", action="append", default=[], metavar="PATH", help="a reference image")
    generate.add_argument("--negative-prompt")
    generate.add_argument("--seed", type=int)
    _common(generate)

    batch = commands.add_parser(
        "batch",
        help="make the videos of a JSON-lines file",
        description="One JSON object per line with the fields of `generate` (model, prompt, mode, duration, "
        "aspect_ratio, resolution, audio, image, last_image, ref, negative_prompt, seed); image paths are "
        "relative to the file. Bad lines are reported with their number; the others still run.",
    )
    batch.add_argument("file", type=Path, metavar="FILE.jsonl")
    batch.add_argument("--concurrency", type=_positive, default=2, help="jobs in flight at once (default 2)")
    _common(batch)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="where MP4s and manifests go")
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="run again the jobs an earlier run failed (never one whose create may have made a paid task)",
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """`generate` or `batch`; the exit status is an ExitCode."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "generate" and len([*args.image, *([args.last_image] if args.last_image else [])]) > 2:
        parser.error("give at most two frames: --image FIRST [--image LAST | --last-image LAST]")
    try:
        settings = load_settings()
        catalog = load_catalog(settings.catalog_path, providers=DESCRIPTORS)
    except (ConfigError, CatalogError) as error:
        print(error, file=sys.stderr)
        print("See .env.example and README.md for every setting.", file=sys.stderr)
        return ExitCode.CONFIG
    err = Console(stderr=True)
    texts = Translator("en")

    def say(reason: Reason) -> str:
        return reason if isinstance(reason, str) else texts("en", reason.key, **reason.params)

    with _logging(err, settings):
        try:
            entries = _entries(args, settings, catalog, say)
            if isinstance(entries, ExitCode):
                return entries
            problem = _output_problem(args.out)
            if problem is not None:
                print(problem, file=sys.stderr)
                return ExitCode.STORAGE_PATH
            jobs = [entry for entry in entries if isinstance(entry, Job)]
            display = Display(err, total=len(jobs), hidden=secrets(settings))
            engine = OperatorJobs(
                settings=settings,
                catalog=catalog,
                providers=Providers(settings),
                # the output folder, written like the bot's media folder; nothing here is ever linked
                out=LocalMediaStore(args.out, public_base_url=None, link_secret=b""),
                out_dir=args.out,
                watcher=display,
                retry_failed=args.retry_failed,
            )
            interrupted = _run(engine, display, jobs, 1 if args.command == "generate" else args.concurrency)
        except KeyboardInterrupt:  # while planning: nothing was sent
            print("Interrupted before any job started.", file=sys.stderr)
            return ExitCode.INTERRUPTED
    Console().print(_summary(entries, engine.results, display.routes, say, secrets(settings)))
    if interrupted:
        print(
            f"Interrupted: run the same command again to resume (manifests in {args.out}).", file=sys.stderr
        )
        return ExitCode.INTERRUPTED
    return _status(entries, engine.results)


def _entries(
    args: argparse.Namespace, settings: Settings, catalog: Catalog, say: Callable[[Reason], str]
) -> list[Job | Rejected | Duplicate] | ExitCode:
    """The jobs the command line asks for, every bad one reported on stderr; CONFIG when `generate`'s
    request is invalid or the batch file cannot be read (nothing is sent then)."""
    offered = offers(catalog, settings)
    if args.command == "generate":
        frames = [*args.image, *([args.last_image] if args.last_image else [])]
        spec = JobSpec(
            model=args.model,
            prompt=args.prompt,
            mode=args.mode,
            duration=args.duration,
            aspect_ratio=args.aspect_ratio,
            resolution=args.resolution,
            audio=args.audio,
            negative_prompt=args.negative_prompt,
            seed=args.seed,
            image=frames[0] if frames else None,
            last_image=frames[1] if len(frames) > 1 else None,
            ref=tuple(args.ref),
        )
        planned = plan(
            spec, base=Path.cwd(), catalog=catalog, offered=offered, settings=settings, label="generate"
        )
        if isinstance(planned, Rejected):
            for reason in planned.reasons:
                print(f"generate: {say(reason)}", file=sys.stderr)
            return ExitCode.CONFIG
        return [planned]
    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        print(f"Cannot read the batch file {args.file}: {error}", file=sys.stderr)
        return ExitCode.CONFIG
    entries = parse_batch(text, base=args.file.parent, catalog=catalog, offered=offered, settings=settings)
    for entry in entries:
        if isinstance(entry, Rejected):
            for reason in entry.reasons:
                print(f"{args.file}:{entry.line}: {say(reason)}", file=sys.stderr)
        elif isinstance(entry, Duplicate):
            print(
                f"{args.file}:{entry.line}: the same job as {entry.job.label} ({entry.job.id}); made once",
                file=sys.stderr,
            )
    return entries


@contextmanager
def _logging(console: Console, settings: Settings) -> Iterator[None]:
    """Log lines at LOG_LEVEL, secrets replaced by their settings' names: above the progress bars on a
    terminal, plain lines otherwise. Taken off again at the end, so an in-process caller keeps its own."""
    handler: logging.Handler
    if console.is_terminal:
        handler = RichHandler(console=console, show_path=False, markup=False, rich_tracebacks=False)
        handler.setFormatter(RedactingFormatter("%(name)s: %(message)s", settings))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", settings))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _output_problem(out: Path) -> str | None:
    """Why the output folder cannot take files, found before anything is sent; None when it can."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            return None
    except OSError as error:
        return f"The output folder {out} is not writable: {error.strerror or error}"


def _run(engine: OperatorJobs, display: Display, jobs: list[Job], concurrency: int) -> bool:
    """Run the jobs with their progress bars; True when Ctrl-C stopped them (their manifests resume)."""

    async def work() -> None:
        try:
            await engine.run(jobs, concurrency=concurrency)
        finally:
            await engine.providers.close()

    with display:
        try:
            asyncio.run(work())
        except KeyboardInterrupt:
            return True
    return False


class Display:
    """One progress bar per job in flight, under one for the whole run; in a log (no terminal) one line
    per step instead."""

    def __init__(self, console: Console, *, total: int, hidden: dict[str, str]) -> None:
        self._console = console
        self._hidden = hidden
        self._live = console.is_terminal
        self._progress = Progress(
            TextColumn("{task.fields[job]}"),
            TextColumn("{task.fields[route]}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not self._live,
        )
        self._overall = self._progress.add_task("", total=total, job="all jobs", route="", note="")
        self._rows: dict[str, TaskID] = {}
        self._phases: dict[str, tuple[Phase, str | None]] = {}
        self.routes: dict[str, str] = {}

    def __enter__(self) -> Display:
        self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.stop()

    def phase(
        self,
        job: Job,
        phase: Phase,
        *,
        route: str | None = None,
        progress: int | None = None,
        received: int | None = None,
    ) -> None:
        if route is not None:
            self.routes[job.id] = route
        label = phase if received is None else f"{phase} {received / 1_000_000:.1f} MB"
        row = self._rows.get(job.id)
        if row is None:
            row = self._rows[job.id] = self._progress.add_task("", total=100, job=job.id, route="", note="")
        self._progress.update(row, completed=progress, route=route or "", note=label)
        if not self._live and self._phases.get(job.id) != (phase, route):
            self._line(f"{job.id} ({job.label}): {phase} {route or ''}".rstrip())
        self._phases[job.id] = (phase, route)

    def finished(self, result: JobResult) -> None:
        row = self._rows.pop(result.job.id, None)
        if row is not None:
            self._progress.remove_task(row)
        self._progress.advance(self._overall)
        if result.route is not None:
            self.routes[result.job.id] = result.route
        ending = f"{result.file}" if result.error is None else f"{result.error}"
        self._line(f"{result.job.id} ({result.job.label}): {result.status}: {ending}")

    def _line(self, text: str) -> None:
        """One line above the bars (or in the log), unwrapped, never read as markup, secrets hidden."""
        self._console.print(Text(redact(text, self._hidden)), soft_wrap=True)


def _summary(
    entries: Sequence[Job | Rejected | Duplicate],
    results: dict[str, JobResult],
    routes: dict[str, str],
    say: Callable[[Reason], str],
    hidden: dict[str, str],
) -> Table:
    """job, model, route used, status, seconds, file or error: one row per line or job (plain text,
    never read as markup; secrets hidden)."""
    table = Table(title="Summary")
    for column in ("job", "model", "route", "status", "seconds", "file / error"):
        table.add_column(column, overflow="fold", justify="right" if column == "seconds" else "left")

    def row(*cells: str) -> None:
        table.add_row(*(Text(redact(cell, hidden)) for cell in cells))

    for entry in entries:
        if isinstance(entry, Rejected):
            row(entry.label, "", "", "invalid", "", "; ".join(say(reason) for reason in entry.reasons))
        elif isinstance(entry, Duplicate):
            row(entry.label, entry.job.model_name, "", "duplicate", "", f"same job as {entry.job.label}")
        elif (result := results.get(entry.id)) is None:
            job = f"{entry.id} ({entry.label})"
            row(job, entry.model_name, routes.get(entry.id, ""), "interrupted", "", "resumable: run again")
        else:
            ending = str(result.file) if result.error is None else result.error
            job = f"{entry.id} ({entry.label})"
            row(job, entry.model_name, result.route or "", result.status, f"{result.seconds:.1f}", ending)
    return table


def _status(entries: Sequence[Job | Rejected | Duplicate], results: dict[str, JobResult]) -> ExitCode:
    """OK when every job made its video; PARTIAL when some did; JOBS_FAILED when none did."""
    made = sum(1 for r in results.values() if r.status in ("done", "skipped"))
    failed = sum(1 for r in results.values() if r.status == "failed")
    failed += sum(1 for e in entries if isinstance(e, Rejected))
    if not failed:
        return ExitCode.OK
    return ExitCode.PARTIAL if made else ExitCode.JOBS_FAILED
