"""The commands that need no job: voices, chapters, sample-book, serve, the dashboard.

The job commands are in ``convert`` (convert, export, resume/retry) and ``operate`` (status,
cancel, pause/unpause, workers, drain, health). Each takes the parsed arguments and the
process's Settings and returns an exit code; a problem for a person is raised as a
PipelineError and printed in one line by ``cli.main``.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

from events.audio import SPEECH_S_PER_CHAR
from events.errors import PipelineError
from services.app.connecting import CliError, client, run
from services.app.progress import clock
from services.app.stack import running_stack
from services.client import default_voice, local_voices
from services.client.guards import existing_file
from services.client.session import open_connection
from services.settings import Settings
from services.voices import choose_voice, engine_named

__all__ = ["CliError", "chapters", "dashboard", "sample_book", "serve", "voices"]


def voices(args: argparse.Namespace, settings: Settings) -> int:
    """List engines, voices and their languages here, and what the connected tts workers serve."""
    for listed in local_voices(settings.voice_dirs, args.language):
        engine, shown = listed.engine, listed.voices
        note = "" if listed.runnable else "  (listed from its files; this machine cannot run it)"
        print(f"{engine}: {len(shown)} voice(s){note}")
        if engine_named(engine).named_by_language:  # espeak-ng: one voice per language, named by it
            print(textwrap.fill(" ".join(info.voice for info in shown), width=100, initial_indent="  ",
                                subsequent_indent="  "))
            continue
        for info in shown:
            print(f"  {info.voice:32} {', '.join(info.languages) or '?'}")
    if args.language:
        try:
            best = default_voice(args.language, settings.voice_dirs)
            print(f"\na book in {args.language} is read by {best.engine}/{best.voice} unless you name a voice")
        except PipelineError as exc:
            print(f"\n{exc}")
    url = args.nats_url or settings.nats_url
    if url:
        async def body() -> list[dict[str, object]]:
            async with client(args, replace(settings, nats_url=url), services=False) as operator:
                return await operator.tts_workers()

        workers = run(body())
        print(f"\n{len(workers)} tts worker(s) at {url}")
        for item in workers:
            listed_voices = item.get("voices")
            voices_by_engine: dict[str, list[str]] = listed_voices if isinstance(listed_voices, dict) else {}
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
    Dashboard(lambda: open_connection(str(url), settings, "dashboard"), title=title).run()
    return 0
