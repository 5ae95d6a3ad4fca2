"""The ``audiobook`` command: convert, serve, voices, sample-book."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import nats
from nats.js.errors import ObjectNotFoundError

from events import names
from events.projection import COMPLETED
from events.requests import ConvertRequest, job_id_for, request_ref
from services.bus import MSG_ID
from services.embedded import (
    EmbeddedError,
    spawn_service,
    start_nats_server,
    stop_process,
    store_lock,
)
from services.follow import Outcome, follow_job
from services.parse.source import sha256_file
from services.progress import ProgressBar, clock
from services.runner import default_threads, run_serve
from services.settings import Settings
from services.topology import ensure_topology, object_store
from services.tts.catalog import UnknownVoiceError, list_voices, resolve_voice

log = logging.getLogger("audiobook")


class CliError(Exception):
    """A problem to report in one line, with a non-zero exit."""


@dataclass(frozen=True)
class Stack:
    url: str
    logs: Path | None


@contextlib.asynccontextmanager
async def embedded_stack(settings: Settings, workers: int) -> AsyncIterator[Stack]:
    """nats-server plus the three services on this machine, stopped on exit."""
    store = settings.data_dir / "nats"
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with store_lock(store):
        server, url = start_nats_server(store)
        children = []
        try:
            nc = await nats.connect(url)
            await ensure_topology(nc.jetstream(), settings)
            await nc.close()
            threads = settings.tts_threads if os.environ.get("AUDIOBOOK_TTS_THREADS") else default_threads(workers)
            children.append(spawn_service(["parse", "assemble"], url, logs / "services.log"))
            children.append(spawn_service(["tts", "--workers", str(workers), "--threads", str(threads)],
                                          url, logs / "tts.log"))
            yield Stack(url, logs)
        finally:
            for child in children:
                stop_process(child)
            stop_process(server)


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


async def submit_and_follow(
    url: str, book: Path, request: ConvertRequest, job_id: str, output: Path, quiet: bool
) -> Outcome:
    nc = await nats.connect(url, max_reconnect_attempts=-1)
    try:
        js = nc.jetstream()
        sha = await asyncio.to_thread(sha256_file, book)
        source = await upload_source(js, book, sha)
        request = ConvertRequest(source_object=source, engine=request.engine, voice=request.voice,
                                 speed=request.speed, request_id=request.request_id)
        raw = request.encode()
        since = (await js.stream_info(names.EVENTS_STREAM)).state.last_seq
        await js.publish(names.REQUEST_SUBJECT, raw, headers={MSG_ID: f"cli:{uuid.uuid4()}"})
        progress = None if quiet else ProgressBar()
        return await follow_job(js, job_id, request_ref(raw), since, output, progress)
    finally:
        await nc.close()


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
    request = ConvertRequest(source_path=str(book), engine=voice.engine, voice=voice.voice,
                             speed=args.speed, request_id=job_id)
    url = args.nats_url or settings.nats_url
    started = time.monotonic()

    async def run() -> Outcome:
        if url:
            return await submit_and_follow(url, book, request, job_id, output, args.quiet)
        async with embedded_stack(settings, args.workers) as stack:
            return await submit_and_follow(stack.url, book, request, job_id, output, args.quiet)

    try:
        outcome = asyncio.run(run())
    except EmbeddedError as exc:
        raise CliError(str(exc)) from None
    elapsed = time.monotonic() - started
    state = outcome.state
    if state.status != COMPLETED:
        raise CliError(f"{book.name}: {state.status or 'failed'}: {state.reason}")
    audio = state.audio_seconds
    print(f"{output}: {len(state.chapters)} chapters, {clock(audio)} of audio, "
          f"{output.stat().st_size / 2**20:.1f} MiB in {clock(elapsed)} "
          f"({audio / elapsed if elapsed else 0:.1f}x real time, job {job_id})")
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
