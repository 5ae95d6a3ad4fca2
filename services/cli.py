"""The ``audiobook`` command: convert, serve, voices, sample-book."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import nats
from nats.js.errors import ObjectNotFoundError

from events import names
from events.projection import COMPLETED, FINAL, JobState
from events.requests import ConvertRequest, job_id_for, request_ref
from events.types import JobCancelled
from services.bus import MSG_ID, publish_event
from services.embedded import (
    EmbeddedError,
    spawn_service,
    start_nats_server,
    stop_process,
    store_lock,
)
from services.follow import Outcome, follow_job
from services.jobstate import known_jobs, purge_job_queue, rebuild_state
from services.parse.source import sha256_file
from services.progress import ProgressBar, clock
from services.runner import default_threads, run_serve
from services.settings import Settings
from services.topology import ensure_topology, object_store
from services.tts.catalog import UnknownVoiceError, list_voices, resolve_voice

log = logging.getLogger("audiobook")


class CliError(Exception):
    """A problem to report in one line, with a non-zero exit."""


@contextlib.asynccontextmanager
async def embedded_stack(settings: Settings, workers: int, services: bool = True) -> AsyncIterator[str]:
    """nats-server plus (unless ``services`` is False) the three services; yields the URL."""
    store = settings.data_dir / "nats"
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with store_lock(store) as lock:
        nats_server, url = start_nats_server(store, hold=lock)
        children = []
        try:
            nc = await nats.connect(url)
            await ensure_topology(nc.jetstream(), settings)
            await nc.close()
            threads = settings.tts_threads if os.environ.get("AUDIOBOOK_TTS_THREADS") else default_threads(workers)
            if services:  # a stable name: a re-run's assembler takes over its predecessor's build claim
                name = f"{socket.gethostname()}-embedded"
                children.append(spawn_service(["parse", "assemble"], url, logs / "services.log", name))
                children.append(spawn_service(["tts", "--workers", str(workers), "--threads", str(threads)],
                                              url, logs / "tts.log", name))
            yield url
        finally:
            for child in children:
                stop_process(child)
            stop_process(nats_server)


async def upload_source(js: nats.js.JetStreamContext, path: Path, sha: str) -> str:
    """Put the ebook in the object store under its content hash (skipped if already there)."""
    store = await object_store(js)
    name = names.source_object(sha, path.suffix.lower() or ".epub")
    try:
        info = await store.get_info(name)
        if info.size == path.stat().st_size:
            return name
    except ObjectNotFoundError:
        pass
    with open(path, "rb") as handle:
        await store.put(name, handle)
    return name


@contextlib.asynccontextmanager
async def server(args: argparse.Namespace, settings: Settings, services: bool = True) -> AsyncIterator[str]:
    """The URL to talk to: the one given, or an embedded stack started for this command."""
    url = getattr(args, "nats_url", None) or settings.nats_url
    if url:
        yield url
        return
    async with embedded_stack(settings, getattr(args, "workers", 1), services) as embedded_url:
        yield embedded_url


@contextlib.asynccontextmanager
async def jetstream(
    args: argparse.Namespace, settings: Settings, services: bool = True
) -> AsyncIterator[nats.js.JetStreamContext]:
    """A JetStream context on the given or an embedded server, closed (and stopped) on exit."""
    async with server(args, settings, services) as url:
        nc = await connect_cli(url, settings)
        try:
            yield nc.jetstream()
        finally:
            await nc.close()


async def _quiet(exc: Exception) -> None:
    log.debug("nats: %s", exc)


async def _probe(url: str, timeout: float = 3.0) -> None:
    """Open a TCP connection and read the server's INFO line: is a NATS server there?"""
    parsed = urlparse(url if "://" in url else f"nats://{url}")
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 4222
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        greeting = await asyncio.wait_for(reader.readline(), timeout)
    finally:
        writer.close()
    if not greeting.startswith(b"INFO"):
        raise ConnectionError("the server there does not speak NATS")


async def connect_cli(url: str, settings: Settings) -> nats.NATS:
    """Connect, or fail at once with one clear line; later drops reconnect for up to a minute."""
    first = url.split(",")[0]
    try:
        await _probe(first)
        return await asyncio.wait_for(nats.connect(
            url, max_reconnect_attempts=60, reconnect_time_wait=1.0, error_cb=_quiet,
            user=settings.nats_user, password=settings.nats_password), 15)
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        reason = str(exc) or type(exc).__name__
        raise CliError(f"cannot reach NATS at {first} ({reason})") from None


async def submit_and_follow(
    js: nats.js.JetStreamContext, request: ConvertRequest, job_id: str, output: Path, quiet: bool
) -> Outcome:
    """Publish a request (fresh Msg-Id per invocation) and follow the job to its end."""
    raw = request.encode()
    since = (await js.stream_info(names.EVENTS_STREAM)).state.last_seq
    await js.publish(names.REQUEST_SUBJECT, raw, headers={MSG_ID: f"cli:{uuid.uuid4()}"})
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
    return 0


def convert(args: argparse.Namespace, settings: Settings) -> int:
    book = Path(args.book)
    if not book.is_file():
        raise CliError(f"{book}: no such file")
    try:
        voice = resolve_voice(args.engine, args.voice, settings.voice_dirs)
    except UnknownVoiceError as exc:
        raise CliError(str(exc)) from None
    output = Path(args.output) if args.output else book.with_suffix(".m4b")
    sha = sha256_file(book)
    job_id = job_id_for(sha, voice.engine, voice.voice, args.speed)
    started = time.monotonic()

    async def run() -> Outcome:
        async with jetstream(args, settings) as js:
            source = await upload_source(js, book, sha)
            request = ConvertRequest(source_object=source, engine=voice.engine, voice=voice.voice,
                                     speed=args.speed, request_id=job_id)
            return await submit_and_follow(js, request, job_id, output, args.quiet)

    return report(_run(run()), output, book.name, started)


def _run(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except EmbeddedError as exc:
        raise CliError(str(exc)) from None
    except nats.errors.NoServersError:
        raise CliError("lost the connection to NATS and could not reconnect; run the command again") from None


async def _known_job(js: nats.js.JetStreamContext, job_id: str) -> JobState:
    state = await rebuild_state(js, job_id)
    if not state.status:
        raise CliError(f"no job {job_id!r} in this store (see `audiobook status`)")
    return state


def resume(args: argparse.Namespace, settings: Settings) -> int:
    """Continue a job from its log: done segments are kept, missing or failed ones are queued."""
    started = time.monotonic()
    holder: dict[str, Path] = {}

    async def run() -> Outcome:
        async with jetstream(args, settings) as js:
            state = await _known_job(js, args.job)
            if not state.source_object:
                raise CliError(f"job {args.job} was never accepted ({state.status}: {state.reason})")
            output = Path(args.output) if args.output else Path(Path(state.source_name).stem + ".m4b")
            holder["output"] = output
            request = ConvertRequest(source_object=state.source_object, engine=state.engine,
                                     voice=state.voice, speed=state.speed, request_id=args.job)
            return await submit_and_follow(js, request, args.job, output, args.quiet)

    outcome = _run(run())
    return report(outcome, holder["output"], args.job, started)


def cancel(args: argparse.Namespace, settings: Settings) -> int:
    """Mark a job cancelled and drop its queued segments."""
    async def run() -> None:
        async with jetstream(args, settings, services=False) as js:
            state = await _known_job(js, args.job)
            if state.status in FINAL:
                raise CliError(f"job {args.job} is already {state.status}")
            await publish_event(js, JobCancelled(job_id=args.job, reason=args.reason,
                                                 generation=state.generation))
            dropped = await purge_job_queue(js, args.job)
            print(f"cancelled {args.job}: {dropped} queued segment(s) dropped; "
                  f"`audiobook resume {args.job}` continues it")

    _run(run())
    return 0


def status(args: argparse.Namespace, settings: Settings) -> int:
    """Print the state of one job, or of every job in the store."""
    async def run() -> None:
        async with jetstream(args, settings, services=False) as js:
            jobs = [args.job] if args.job else await known_jobs(js)
            for job_id in jobs:
                state = await _known_job(js, job_id)
                title = state.title or state.source_name or "-"
                print(f"{job_id}  {state.status:9}  {state.done_segments}/{state.total_segments} segments  "
                      f"{clock(state.audio_seconds)} audio  {title}"
                      + (f"  ({state.reason})" if state.reason else ""))

    _run(run())
    return 0


def voices(args: argparse.Namespace, settings: Settings) -> int:
    for engine, names_ in list_voices(settings.voice_dirs).items():
        for name in names_:
            print(f"{engine}\t{name}")
    return 0


def sample_book(args: argparse.Namespace, settings: Settings) -> int:
    from services.sample import write_sample_book

    path = write_sample_book(Path(args.output))
    print(path)
    return 0


def serve(args: argparse.Namespace, settings: Settings) -> int:
    url = args.nats_url or settings.nats_url
    if not url:
        raise CliError("serve needs a server: --nats-url URL or AUDIOBOOK_NATS_URL")
    from dataclasses import replace

    run_serve(args.roles, replace(settings, nats_url=url), args.workers, args.threads)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audiobook", description="Turn ebooks into audiobooks on NATS JetStream.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the services do")
    sub = parser.add_subparsers(dest="command", required=True)

    conv = sub.add_parser("convert", help="convert an EPUB to an M4B audiobook")
    conv.add_argument("book", help="path to the .epub")
    conv.add_argument("-o", "--output", help="output .m4b (default: next to the book)")
    conv.add_argument("--engine", help="speech engine (default: piper)")
    conv.add_argument("--voice", help="voice name (see `audiobook voices`)")
    conv.add_argument("--speed", type=float, default=1.0, help="speaking speed, 0.25-4 (default 1)")
    conv.add_argument("--workers", type=int, default=max(1, min(os.cpu_count() or 1, 8)),
                      help="tts worker processes in embedded mode (default: one per core, up to 8)")
    conv.add_argument("--nats-url", help="submit to this server instead of starting an embedded one")
    conv.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    conv.set_defaults(func=convert)

    srv = sub.add_parser("serve", help="run services against an existing NATS server")
    srv.add_argument("roles", nargs="+", choices=["parse", "tts", "assemble", "all"])
    srv.add_argument("--workers", type=int, default=1, help="tts worker processes (default 1)")
    srv.add_argument("--threads", type=int, help="engine threads per tts worker (default: cores / workers)")
    srv.add_argument("--nats-url", help="NATS server URL (or AUDIOBOOK_NATS_URL)")
    srv.set_defaults(func=serve)

    for name, helptext in (("resume", "continue a job from its event log (after a crash or a cancel)"),
                           ("retry", "queue a failed job's failed segments again and continue it")):
        cmd = sub.add_parser(name, help=helptext)
        cmd.add_argument("job", help="job id (see `audiobook status`)")
        cmd.add_argument("-o", "--output", help="output .m4b (default: the book's name in this folder)")
        cmd.add_argument("--workers", type=int, default=max(1, min(os.cpu_count() or 1, 8)))
        cmd.add_argument("--nats-url")
        cmd.add_argument("-q", "--quiet", action="store_true")
        cmd.set_defaults(func=resume)

    can = sub.add_parser("cancel", help="cancel a job: its queued segments are dropped")
    can.add_argument("job")
    can.add_argument("--reason", default="cancelled by the user")
    can.add_argument("--nats-url")
    can.set_defaults(func=cancel)

    st = sub.add_parser("status", help="show jobs and their progress")
    st.add_argument("job", nargs="?")
    st.add_argument("--nats-url")
    st.set_defaults(func=status)

    vo = sub.add_parser("voices", help="list engines and voices")
    vo.set_defaults(func=voices)

    sb = sub.add_parser("sample-book", help="write the bundled sample EPUB")
    sb.add_argument("output", nargs="?", default="sample.epub")
    sb.set_defaults(func=sample_book)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose or args.command == "serve" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = Settings.from_env(os.environ)
    try:
        return int(args.func(args, settings))
    except CliError as exc:
        print(f"audiobook: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\naudiobook: interrupted; run the same command again to continue", file=sys.stderr)
        return 130
