"""The bodies of the `audiobook` commands: convert, resume/retry, cancel, status, voices, sample-book, serve.

Each takes the parsed arguments and the process's Settings and returns an exit code; a
problem for a person is raised as a PipelineError and printed in one line by ``cli.main``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import nats
import orjson
from nats.aio.client import Client
from nats.js import JetStreamContext

from events import names
from events.audio import LOUDNESS_TARGET_LUFS, SPEECH_S_PER_CHAR, TRUE_PEAK_CEILING_DBTP
from events.errors import PipelineError
from events.names import control_subject, service_name
from events.projection import ACCEPTED, COMPLETED, FINAL, PARSED, PAUSED, JobState, waiting_for
from events.requests import ConvertRequest, RequestError, job_id_for, parse_request, request_ref, resume_request
from events.types import DeadLetter, JobCancelled, JobPaused, as_payload
from services.app.follow import Outcome, follow_job
from services.app.progress import ProgressBar, clock
from services.app.stack import embedded_stack, running_stack
from services.bus.connect import connect_client
from services.bus.control import fleet, fleet_status
from services.bus.jobs import dead_letters, known_jobs, queue_depths, rebuild_state, served_engines
from services.bus.pausing import pause_synthesis, resume_synthesis
from services.bus.stopping import stop_job
from services.bus.tracing import send_span
from services.bus.uploads import sha256_file, upload, upload_book
from services.parse.lexicon import LexiconError, parse_lexicon
from services.settings import Settings
from services.voices import check_requested_voice, choose_voice, engine_named, list_voices, runnable_engines, speaks

T = TypeVar("T")


class CliError(PipelineError):
    """A problem to report in one line, with a non-zero exit."""


@contextlib.asynccontextmanager
async def connection(args: argparse.Namespace, settings: Settings, services: bool = True) -> AsyncIterator[Client]:
    """A connection to the given server; else to the embedded stack of a ``convert`` running here (for
    commands that need no services of their own), else to an embedded stack started for this command."""
    url = getattr(args, "nats_url", None) or settings.nats_url
    if not url and not services and (attached := running_stack(settings)) is not None:
        settings, url = attached, attached.nats_url
    async with contextlib.AsyncExitStack() as stack:
        if not url:
            settings = await stack.enter_async_context(embedded_stack(settings, getattr(args, "workers", 1), services))
            url = str(settings.nats_url)
        nc = await connect_client(url, settings)
        stack.push_async_callback(nc.close)
        yield nc


@contextlib.asynccontextmanager
async def jetstream(args: argparse.Namespace, settings: Settings, services: bool = True
                    ) -> AsyncIterator[JetStreamContext]:
    """A JetStream context on the given server, or on an embedded stack started for this command."""
    async with connection(args, settings, services) as nc:
        yield nc.jetstream()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; a lost server is one line, not a traceback."""
    try:
        return asyncio.run(coro)
    except nats.errors.NoServersError:
        raise CliError("lost the connection to NATS and could not reconnect; run the command again") from None
    except nats.js.errors.NotFoundError:
        raise CliError("this NATS server has no audiobook pipeline yet (stream not found): "
                       "start `audiobook serve all` against it first") from None
    except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
        raise CliError("NATS did not answer; the server is overloaded, or these credentials may not do this "
                       "(see docs/security.md)") from None


async def submit(js: JetStreamContext, raw: bytes) -> None:
    """Publish an encoded request; the book's trace starts here."""
    with send_span(names.REQUEST_SUBJECT, f"cli:{uuid.uuid4()}") as headers:
        await js.publish(names.REQUEST_SUBJECT, raw, headers=headers)


async def submit_and_follow(
    js: JetStreamContext, request: ConvertRequest, job_id: str, output: Path, quiet: bool
) -> Outcome:
    """Publish a request (fresh Msg-Id per invocation) and follow the job to its end."""
    raw = request.encode()
    since = (await js.stream_info(names.EVENTS_STREAM)).state.last_seq
    await submit(js, raw)
    progress = None if quiet else ProgressBar()
    return await follow_job(js, job_id, request_ref(raw), since, output, progress)


def report(outcome: Outcome, output: Path, name: str, started: float) -> int:
    """Print the result line (or raise the failure) of a followed job."""
    state = outcome.state
    if state.status != COMPLETED:
        failures = state.failed_segments
        detail = "".join(f"\n  chapter {c + 1} ({state.chapters[c].title}), segment {i + 1}: {r}"
                         for c, i, r in failures[:10])
        more = f"\n  ... and {len(failures) - 10} more" if len(failures) > 10 else ""
        hint = f"\n  fix the cause, then: audiobook retry {state.job_id}" if failures else ""
        raise CliError(f"{name}: {state.status or 'failed'}: {state.reason}{detail}{more}{hint}")
    elapsed = time.monotonic() - started
    audio = state.audio_seconds
    print(f"{output}: {len(state.chapters)} chapters, {clock(audio)} of audio, "
          f"{output.stat().st_size / 2**20:.1f} MiB in {clock(elapsed)} "
          f"({audio / elapsed if elapsed else 0:.1f}x real time, job {state.job_id})")
    if state.loudness_lufs is not None and state.true_peak_dbtp is not None:
        print(f"  loudness {state.loudness_lufs:.1f} LUFS, true peak {state.true_peak_dbtp:.1f} dBTP "
              f"(target {LOUDNESS_TARGET_LUFS:g} LUFS, peaks under {TRUE_PEAK_CEILING_DBTP:g} dBTP)")
    return 0


def existing_file(name: str) -> Path:
    """The path of a file the person named, or a one-line error saying it is not there."""
    path = Path(name)
    if not path.is_file():
        raise CliError(f"{path}: no such file")
    return path


def read_lexicon(path: Path) -> str:
    """A lexicon file's text, checked here so a mistake is named before anything is uploaded."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"{path}: cannot read the lexicon ({exc})") from None
    try:
        parse_lexicon(text)
    except LexiconError as exc:
        raise CliError(f"{path}: {exc}") from None
    return text


def convert(args: argparse.Namespace, settings: Settings) -> int:
    """Upload a book, request its conversion and follow it to the finished M4B."""
    book = existing_file(args.book)
    speaker = existing_file(args.speaker) if args.speaker else None
    speaker_sha = sha256_file(speaker) if speaker else None
    lexicon = read_lexicon(Path(args.lexicon)) if args.lexicon else None
    try:
        request = parse_request(orjson.dumps({
            "source": {"path": str(book)}, "engine": args.engine, "voice": args.voice, "language": args.language,
            "speed": args.speed, "speaker": f"speaker-{speaker_sha}.wav" if speaker_sha else None,
            "chapters": args.chapters, "pauses": ",".join(args.pause) or None, "lexicon": lexicon}))
    except RequestError as exc:
        raise CliError(str(exc)) from None
    if args.nats_url is None and not settings.nats_url:  # embedded: this machine's voices are the stack's
        check_requested_voice(request, settings.voice_dirs)
    output = Path(args.output) if args.output else book.with_suffix(".m4b")
    sha = sha256_file(book)
    job_id = job_id_for(sha, request.engine, request.voice, request.speed, request.language, speaker_sha,
                        request.chapters, request.pauses, request.lexicon)
    started = time.monotonic()

    async def body() -> Outcome:
        async with connection(args, settings) as nc:
            js = nc.jetstream()
            source = await upload_book(js, book, sha)
            if speaker is not None:
                await upload(js, speaker, str(request.speaker_object))
            submitted = replace(request, source_path=None, source_object=source, request_id=job_id)
            if not args.dashboard:
                return await submit_and_follow(js, submitted, job_id, output, args.quiet)
            return await follow_in_dashboard(nc, submitted, job_id, output)

    status = report(run(body()), output, book.name, started)
    return status or export_files(output, args.format, args.split_hours)


def export_files(book: Path, kind: str, hours: float | None) -> int:
    """Write the parts and per-chapter files asked for next to ``book``; say what was written."""
    from services.app.exports import check_split_hours, per_chapter, read_audiobook, split_parts
    from services.assemble.ffmpeg import ffmpeg_exe

    if hours is not None:
        check_split_hours(hours)
    if not hours and kind == "m4b":
        return 0
    audiobook = read_audiobook(book)
    written: list[Path] = []
    if hours:
        written += split_parts(ffmpeg_exe(), audiobook, hours)
    if kind != "m4b":
        written += per_chapter(ffmpeg_exe(), audiobook, kind, book.with_suffix(""))
    for path in written:
        print(f"  {path}")
    return 0


def export(args: argparse.Namespace, settings: Settings) -> int:
    """Cut a finished M4B into parts, or MP3/Opus files per chapter."""
    book = existing_file(args.book)
    if args.format == "m4b" and not args.split_hours:
        raise CliError("nothing to do: give --format mp3|opus and/or --split-hours H")
    return export_files(book, args.format, args.split_hours)


async def follow_in_dashboard(nc: Client, request: ConvertRequest, job_id: str, output: Path) -> Outcome:
    """Submit, then show the dashboard until the person closes it; the job's outcome if it ended."""
    from services.app.watch import ConversionDashboard

    js = nc.jetstream()
    raw = request.encode()
    since = (await js.stream_info(names.EVENTS_STREAM)).state.last_seq
    await submit(js, raw)
    app = ConversionDashboard(nc, job_id, request_ref(raw), since, output)
    await app.run_async()
    if app.outcome is None:
        raise CliError(f"closed before {job_id} was done; it continues when you run the same command again "
                       f"(`audiobook convert ... --dashboard`), from where it stopped")
    return app.outcome


async def known_job(js: JetStreamContext, job_id: str) -> JobState:
    state = await rebuild_state(js, job_id)
    if not state.status:
        raise CliError(f"no job {job_id!r} in this store (see `audiobook status`)")
    return state


def resume(args: argparse.Namespace, settings: Settings) -> int:
    """Continue a job from its log: done segments are kept, missing or failed ones are queued."""
    started = time.monotonic()

    async def body() -> tuple[Outcome, Path]:
        async with jetstream(args, settings) as js:
            state = await known_job(js, args.job)
            if not state.source_object:
                raise CliError(f"job {args.job} was never accepted ({state.status}: {state.reason})")
            output = Path(args.output) if args.output else Path(Path(state.source_name).stem + ".m4b")
            request = resume_request(state, args.job)
            return await submit_and_follow(js, request, args.job, output, args.quiet), output

    outcome, output = run(body())
    return report(outcome, output, args.job, started)


def cancel(args: argparse.Namespace, settings: Settings) -> int:
    """Mark a job cancelled and drop its queued segments."""
    async def body() -> None:
        async with jetstream(args, settings, services=False) as js:
            state = await known_job(js, args.job)
            if state.status in FINAL:
                raise CliError(f"job {args.job} is already {state.status}")
            dropped = await stop_job(js, JobCancelled(job_id=args.job, reason=args.reason,
                                                      generation=state.generation))
            print(f"cancelled {args.job}: {dropped} queued segment(s) dropped; "
                  f"`audiobook resume {args.job}` continues it")

    run(body())
    return 0


def status(args: argparse.Namespace, settings: Settings) -> int:
    """Print the state of one job (with its chapters and failures), or of every job in the store."""
    async def body() -> tuple[list[JobState], int, list[DeadLetter], list[str]]:
        async with jetstream(args, settings, services=False) as js:
            if args.job:
                states = [await known_job(js, args.job)]
            else:  # a subject with nothing readable on it (garbage, a forged event) is no job: left out
                states = [s for s in [await rebuild_state(js, job_id) for job_id in await known_jobs(js)] if s.status]
            count, latest = (0, []) if args.job else await dead_letters(js)
            paused = [depth.engine for depth in await queue_depths(js) if depth.paused]
            return states, count, latest, paused

    states, count, latest, paused = run(body())
    remote = getattr(args, "nats_url", None) or settings.nats_url  # embedded: no workers run between commands
    served = run(_served(args, settings)) if remote and any(s.status not in FINAL for s in states) else None
    if args.json:
        print(orjson.dumps({"jobs": [job_summary(s) for s in states], "dead_letters": count, "paused_engines": paused,
                            "latest_dead_letters": [as_payload(letter) for letter in latest]},
                           option=orjson.OPT_INDENT_2).decode())
        return 0
    for state in states:
        title = state.title or state.source_name or "-"
        shown = (waiting_for(state, served) if served is not None else "") or state.status
        print(f"{state.job_id}  {shown:9}  {state.done_segments}/{state.total_segments} segments  "
              f"{clock(state.audio_seconds)} audio  {title}" + (f"  ({state.reason})" if state.reason else ""))
        if args.job:
            for number, part in enumerate(state.chapters, start=1):
                print(f"  {number:3}  {len(part.done):4}/{part.total:<4} {part.title}")
            for chapter, index, reason in state.failed_segments:
                print(f"  failed: chapter {chapter + 1}, segment {index + 1}: {reason}")
    if paused:
        print(f"\nsynthesis paused for: {', '.join(paused)} (`audiobook unpause` continues)")
    if count:
        print(f"\n{count} message(s) given up on (dead letters); the latest:")
        for letter in latest:
            print(f"  {letter.stage}: {letter.subject} (#{letter.seq}): {letter.reason}")
    return 0


async def _served(args: argparse.Namespace, settings: Settings) -> set[str] | None:
    """Engines the live tts workers run; None when no control plane answers the question."""
    try:
        async with connection(args, settings, services=False) as nc:
            return served_engines(await fleet_status(nc))
    except PipelineError:
        return None


def job_summary(state: JobState) -> dict[str, Any]:
    """A job as ``status --json`` gives it: the fold, in plain values."""
    return {"job_id": state.job_id, "status": state.status, "title": state.title, "author": state.author,
            "engine": state.engine, "voice": state.voice, "language": state.language,
            "generation": state.generation, "reason": state.reason,
            "segments_done": state.done_segments, "segments_total": state.total_segments,
            "audio_seconds": round(state.audio_seconds, 3), "cache_hits": state.cache_hits,
            "output_object": state.output_object or None,
            "chapters": [{"title": c.title, "done": len(c.done), "total": c.total} for c in state.chapters],
            "failed_segments": [{"chapter": c, "index": i, "reason": r} for c, i, r in state.failed_segments]}


def voices(args: argparse.Namespace, settings: Settings) -> int:
    """List engines, voices and their languages here, and what the connected tts workers serve."""
    runnable = set(runnable_engines(settings.voice_dirs))
    for engine, infos in list_voices(settings.voice_dirs).items():
        shown = [info for info in infos if not args.language or speaks(info, args.language)]
        if not shown:
            continue
        note = "" if engine in runnable else "  (listed from its files; this machine cannot run it)"
        print(f"{engine}: {len(shown)} voice(s){note}")
        if engine_named(engine).named_by_language:  # espeak-ng: one voice per language, named by it
            print(textwrap.fill(" ".join(info.voice for info in shown), width=100, initial_indent="  ",
                                subsequent_indent="  "))
            continue
        for info in shown:
            print(f"  {info.voice:32} {', '.join(info.languages) or '?'}")
    if args.language:
        try:
            best = choose_voice(args.language, None, settings.voice_dirs)
            print(f"\na book in {args.language} is read by {best.engine}/{best.voice} unless you name a voice")
        except PipelineError as exc:
            print(f"\n{exc}")
    url = args.nats_url or settings.nats_url
    if url:
        async def body() -> list[dict[str, Any]]:
            async with connection(args, replace(settings, nats_url=url), services=False) as nc:
                return await fleet_status(nc)

        workers = [item for item in run(body()) if item.get("role") == "tts"]
        print(f"\n{len(workers)} tts worker(s) at {url}")
        for item in workers:
            listed = item.get("voices")
            voices_by_engine: dict[str, list[str]] = listed if isinstance(listed, dict) else {}
            counts = ", ".join(f"{engine} ({len(names_)} voices)" for engine, names_ in voices_by_engine.items())
            print(f"  {item.get('name', '?'):28} {item.get('device', '?'):6} {counts}")
    return 0


def chapters(args: argparse.Namespace, settings: Settings) -> int:
    """List the chapters a conversion reads, with words, estimated duration, language and voice."""
    from services.parse.formats import read_book
    from services.parse.language import book_language
    from services.parse.limits import BookLimits

    path = existing_file(args.book)
    book = read_book(path, BookLimits.from_settings(settings), path.name)
    language = book_language(book).language
    try:
        voice = choose_voice(language, None, settings.voice_dirs)
        reader = f"read in {language} by {voice.engine}/{voice.voice}"
    except PipelineError as exc:
        reader = str(exc)
    print(f"{book.title}" + (f" by {book.author}" if book.author else "") + f": {len(book.chapters)} chapters, "
          f"{reader}")
    total = 0.0
    for number, chapter in enumerate(book.chapters, start=1):
        chars = sum(map(len, chapter.paragraphs))
        words = sum(len(p.split()) for p in chapter.paragraphs)
        seconds = chars * SPEECH_S_PER_CHAR
        total += seconds
        print(f"{number:4}  {words:7,} words  ~{clock(seconds):>8}  {chapter.title}")
    print(f"      total ~{clock(total)} (at the default voice's pace); pick some with --chapters 1-5,8")
    for warning in book.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def sample_book(args: argparse.Namespace, settings: Settings) -> int:
    """Write the bundled sample EPUB."""
    from services.app.sample import write_sample_book

    print(write_sample_book(Path(args.output)))
    return 0


def serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run service roles against a server until SIGTERM."""
    from services.app.serve import run_serve

    url = args.nats_url or settings.nats_url
    if not url:
        raise CliError("serve needs a server: --nats-url URL or AUDIOBOOK_NATS_URL")
    run_serve(args.roles, replace(settings, nats_url=url), args.workers, args.threads)
    return 0


def workers(args: argparse.Namespace, settings: Settings) -> int:
    """Every service instance answering nats micro, and what it is doing."""
    async def body() -> list[dict[str, Any]]:
        async with connection(args, settings, services=False) as nc:
            return await fleet_status(nc)

    found = run(body())
    if args.json:
        print(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode())
        return 0
    if not found:
        print("no service answers (start `audiobook serve ...`)")
    for item in found:
        rtf = item.get("real_time_factor")
        print(f"{item.get('role', '?'):9} {item.get('name', '?'):28} {item.get('state', '?'):9} "
              f"done {item.get('segments_done', item.get('requests', item.get('builds', 0)))!s:>6}  "
              f"audio {clock(float(item.get('audio_seconds') or 0))}  rtf {rtf if rtf is not None else '-'}  "
              f"up {clock(float(item.get('uptime_s') or 0))}  {item.get('current') or ''}")
    return 0


def pause(args: argparse.Namespace, settings: Settings) -> int:
    """Pause one job, or synthesis on the server: workers finish what they hold, nothing is lost."""
    if args.job:
        if args.engine or args.minutes:
            raise CliError("pause a job, or engines (--engine/--minutes), not both")
        return pause_job(args, settings)

    async def body() -> str:
        async with jetstream(args, settings, services=False) as js:
            duration = timedelta(minutes=args.minutes) if args.minutes else None
            until = await pause_synthesis(js, args.engine, duration)
            return f"until {until:%Y-%m-%d %H:%M} UTC" if duration else "until `audiobook unpause`"

    print(f"synthesis paused ({', '.join(args.engine or ['every engine'])}) {run(body())}")
    return 0


def pause_job(args: argparse.Namespace, settings: Settings) -> int:
    """``job.paused`` and its queued segments dropped; ``unpause JOB`` queues what is missing again."""
    async def body() -> int:
        async with jetstream(args, settings, services=False) as js:
            state = await known_job(js, args.job)
            if state.status not in (ACCEPTED, PARSED):
                raise CliError(f"job {args.job} is {state.status}: only a running job can be paused")
            return await stop_job(js, JobPaused(job_id=args.job, reason=args.reason, generation=state.generation))

    dropped = run(body())
    print(f"paused {args.job}: {dropped} queued segment(s) set aside, done ones kept; "
          f"`audiobook unpause {args.job}` continues it")
    return 0


def unpause(args: argparse.Namespace, settings: Settings) -> int:
    """Let a paused job, or paused synthesis, continue."""
    if args.job:
        if args.engine:
            raise CliError("unpause a job, or engines (--engine), not both")
        return unpause_job(args, settings)

    async def body() -> None:
        async with jetstream(args, settings, services=False) as js:
            await resume_synthesis(js, args.engine)

    run(body())
    print(f"synthesis continues ({', '.join(args.engine or ['every engine'])})")
    return 0


def unpause_job(args: argparse.Namespace, settings: Settings) -> int:
    """Ask for the job again (a resume request): what is not done is queued in a new generation."""
    async def body() -> None:
        async with jetstream(args, settings, services=False) as js:
            state = await known_job(js, args.job)
            if state.status != PAUSED:
                raise CliError(f"job {args.job} is {state.status}, not paused")
            await submit(js, resume_request(state, args.job).encode())

    run(body())
    print(f"job {args.job} continues (`audiobook status {args.job}` follows it)")
    return 0


def drain(args: argparse.Namespace, settings: Settings) -> int:
    """Ask a tts worker to finish the segments in its hands, take no more, and exit."""
    async def body() -> None:
        async with connection(args, settings, services=False) as nc:
            targets = [r for r in await fleet(nc) if r.get("name") == service_name("tts")
                       and r.get("metadata", {}).get("worker") == args.worker]
            if not targets:
                raise CliError(f"no tts worker named {args.worker!r} answers (see `audiobook workers`)")
            for target in targets:
                await nc.request(control_subject("tts", str(target["id"]), "drain"), b"", timeout=5)
            print(f"draining {args.worker}: it finishes the segments in its hands, then exits")

    run(body())
    return 0


def health(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 if a service of ``--role`` on this host answers nats micro (a container health check)."""
    async def body() -> bool:
        async with connection(args, settings, services=False) as nc:
            host = socket.gethostname()
            return any(r.get("name") == service_name(args.role) and r.get("metadata", {}).get("host") == host
                       for r in await fleet(nc, wait=args.wait))

    if not run(body()):
        raise CliError(f"no {args.role} service on {socket.gethostname()} answers nats micro")
    return 0


def dashboard(args: argparse.Namespace, settings: Settings) -> int:
    """The live dashboard against a server (``--nats-url`` or AUDIOBOOK_NATS_URL), or attached to the
    embedded stack of an ``audiobook convert`` running on this machine."""
    from tui.app import Dashboard

    url = args.nats_url or settings.nats_url
    title = None
    if not url and (attached := running_stack(settings)) is not None:
        settings, url, title = attached, attached.nats_url, f"attached to the conversion in {settings.data_dir}"
    if not url:
        raise CliError("no server to watch: give --nats-url URL (or AUDIOBOOK_NATS_URL), or start "
                       "`audiobook convert BOOK` on this machine first (the dashboard attaches to it), "
                       "or run `audiobook convert BOOK --dashboard`")
    Dashboard(lambda: connect_client(str(url), settings, name="audiobook-dashboard"), title=title).run()
    return 0
