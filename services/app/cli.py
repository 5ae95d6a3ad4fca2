"""The ``audiobook`` command: argument parsing and ``main`` only (the bodies are in ``convert``,
``operate`` and ``commands``; the verbs under them are the client's, ``services.client``)."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

from events.audio import MAX_PAUSE_MS, Pauses
from events.checking import check_policy
from events.errors import PipelineError
from events.requests import MAX_RETAKE_POSITIONS, MAX_SPEED, MIN_SPEED, PRIORITIES
from services.app import commands, convert, operate, user_command
from services.app.exports import MAX_SPLIT_HOURS, MIN_SPLIT_HOURS
from services.bus.tracing import setup_tracing, shutdown_tracing
from services.settings import Settings
from services.voices import LISTED_ENGINES

BOOK_HELP = ("the book: EPUB, Kindle (AZW3/MOBI), FB2, PDF, Word (.docx), plain text (.txt), Markdown (.md) "
             "or HTML")


MAX_WORKERS = 64  # tts worker processes on one machine
MAX_THREADS = 256  # engine threads per tts worker
MIN_PAUSE_MINUTES, MAX_PAUSE_MINUTES = 1.0, 30 * 24 * 60.0  # `pause --minutes`: a minute to 30 days
MIN_WAIT_S, MAX_WAIT_S = 0.1, 60.0  # `health --wait`


def _default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def number(what: str, low: float, high: float, kind: Callable[[str], float] = float) -> Callable[[str], float]:
    """An argparse ``type``: a finite number from ``low`` to ``high`` (``kind`` int or float).

    Anything else (``nan``, ``inf``, ``0``, ``-1``, ``1e-9``) is refused by argparse as
    ``argument --OPTION: must be WHAT from LOW to HIGH, not 'TEXT'``.
    """
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {what} from {low:g} to {high:g}, not {text!r}")
        return value
    return parse


def check_option(text: str) -> str:
    """``--check``: a check policy, written one way."""
    try:
        return check_policy(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def pause_option(text: str) -> str:
    """An argparse ``type`` for ``--pause KIND=MS``: MS whole milliseconds, 0 (no pause) to MAX_PAUSE_MS."""
    try:
        Pauses.from_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _workers_option(parser: argparse.ArgumentParser, default: int, helptext: str | None = None) -> None:
    parser.add_argument("--workers", type=number("a whole number of tts worker processes", 1, MAX_WORKERS, int),
                        default=default, help=helptext)


def _export_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["m4b", "mp3", "opus"], default="m4b",
                        help="m4b (default): one audiobook file; mp3 or opus: also one file per chapter, in a "
                             "folder named after the book")
    parser.add_argument("--split-hours", metavar="H",
                        type=number("a number of hours", MIN_SPLIT_HOURS, MAX_SPLIT_HOURS),
                        help=f"also write the M4B as parts of at most H hours ({MIN_SPLIT_HOURS:g} to "
                             f"{MAX_SPLIT_HOURS:g}), cut at chapters")


def _read_along_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--read-along", action="store_true",
                        help="also write the book's text timed to its audio, sentence by sentence: BOOK.vtt beside it "
                             "(WebVTT: Audiobookshelf shows it as a transcript) and, for a conversion, "
                             "BOOK.read-along.epub (the text with its audio, EPUB 3 Media Overlays: Readest, Thorium)")


def _followed_job_options(parser: argparse.ArgumentParser) -> None:
    """What a command that follows a job to its book takes (resume, retry, retake)."""
    parser.add_argument("-o", "--output", help="output .m4b (default: the book's name in this folder)")
    _read_along_option(parser)
    _workers_option(parser, _default_workers())
    parser.add_argument("--nats-url")
    parser.add_argument("-q", "--quiet", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audiobook", description="Turn ebooks into audiobooks on NATS JetStream.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the services do")
    sub = parser.add_subparsers(dest="command", required=True)

    conv = sub.add_parser("convert", help="convert a book (EPUB, Kindle, FB2, PDF, Word, text, Markdown, "
                                                 "HTML) to an M4B audiobook")
    conv.add_argument("book", help=BOOK_HELP)
    conv.add_argument("-o", "--output", help="output .m4b (default: next to the book)")
    conv.add_argument("--engine", help="speech engine: piper, coqui, espeak, test (default: the best one "
                                       "for the book's language)")
    conv.add_argument("--voice", help="voice name (see `audiobook voices`; default: chosen by the book's language)")
    conv.add_argument("--chapters", metavar="LIST",
                      help="only these chapters, e.g. 1-5,8 (numbers from `audiobook chapters BOOK`)")
    conv.add_argument("--speaker", metavar="WAV",
                      help="a recording of the reader (WAV, 2 s to 2 min) for a cloning voice (coqui XTTS)")
    conv.add_argument("--language", help="read the book as this language, e.g. fr or de-AT (default: the "
                                         "book's own, checked against its text)")
    conv.add_argument("--speed", type=number("a speaking speed", MIN_SPEED, MAX_SPEED), default=1.0,
                      help=f"speaking speed, {MIN_SPEED:g}-{MAX_SPEED:g} (default 1)")
    conv.add_argument("--pause", metavar="KIND=MS", action="append", default=[], type=pause_option,
                      help=f"a pause in milliseconds (0 to {MAX_PAUSE_MS}): sentence (default 250), paragraph (650), "
                           "heading (1000), chapter (1800); repeat for several, e.g. --pause chapter=2500")
    conv.add_argument("--lexicon", metavar="FILE",
                      help="your pronunciations: lines of 'word = spoken form', [fr] sections per language "
                           "(docs/books.md)")
    conv.add_argument("--check", metavar="auto|all|sample:R|off", type=check_option,
                      help="which segments a speech-recognition check hears: all, a share (sample:0.1), off, or "
                           "auto: all where a check worker has a GPU, else sample:0.1 (default: the stack's "
                           "AUDIOBOOK_CHECK, auto)")
    conv.add_argument("--priority", choices=PRIORITIES,
                      help="this book's share of a shared fleet while other books run: urgent (four times a "
                           "normal book's), normal (the default) or background (a quarter); the stack may cap it "
                           "(AUDIOBOOK_MAX_PRIORITY). Asking again for the same book changes it")
    _export_options(conv)
    _read_along_option(conv)
    _workers_option(conv, _default_workers(),
                    f"tts worker processes in embedded mode, 1 to {MAX_WORKERS} (default: one per core, up to 8)")
    conv.add_argument("--nats-url", help="submit to this server instead of starting an embedded one")
    conv.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    conv.add_argument("--dashboard", action="store_true",
                      help="show the live dashboard instead of a progress bar (q closes it)")
    conv.set_defaults(func=convert.convert)

    exp = sub.add_parser("export", help="cut a finished M4B into parts of N hours, or MP3/Opus files per chapter")
    exp.add_argument("book", help="an M4B audiobook (from `audiobook convert`)")
    _export_options(exp)
    exp.set_defaults(func=convert.export)

    ch = sub.add_parser("chapters", help="list what will be read: chapters, words, estimated duration, voice")
    ch.add_argument("book", help=BOOK_HELP)
    ch.set_defaults(func=commands.chapters)

    srv = sub.add_parser("serve", help="run services against an existing NATS server")
    srv.add_argument("roles", nargs="+", choices=["parse", "tts", "assemble", "check", "all"])
    _workers_option(srv, 1, f"tts worker processes, 1 to {MAX_WORKERS} (default 1)")
    srv.add_argument("--threads", type=number("a whole number of engine threads", 1, MAX_THREADS, int),
                     help=f"engine threads per tts worker, 1 to {MAX_THREADS} (default: cores / workers)")
    srv.add_argument("--nats-url", help="NATS server URL (or AUDIOBOOK_NATS_URL)")
    srv.set_defaults(func=commands.serve)

    for name, helptext in (("resume", "continue a job from its event log (after a crash or a cancel)"),
                           ("retry", "queue a failed job's failed segments again and continue it")):
        cmd = sub.add_parser(name, help=helptext)
        cmd.add_argument("job", help="job id (see `audiobook status`)")
        _followed_job_options(cmd)
        cmd.set_defaults(func=convert.resume)

    rt = sub.add_parser("retake", help="new takes of some segments of a finished book (see `audiobook check`); "
                                       "the book is built again with them")
    rt.add_argument("job", help="job id (see `audiobook status`)")
    rt.add_argument("segments", nargs="+", metavar="CHAPTER.INDEX", type=convert.segment_position,
                    help=f"a segment as `audiobook check` shows it, e.g. 3.12 (up to {MAX_RETAKE_POSITIONS})")
    _followed_job_options(rt)
    rt.set_defaults(func=convert.retake)

    can = sub.add_parser("cancel", help="cancel a job: its queued segments are dropped")
    can.add_argument("job")
    can.add_argument("--reason", default="cancelled by the user")
    can.add_argument("--nats-url")
    can.set_defaults(func=operate.cancel)

    chk = sub.add_parser("check", help="what the speech-recognition check heard: a job's flagged segments")
    chk.add_argument("job")
    chk.add_argument("--all", action="store_true", help="every segment heard, not only the flagged ones")
    chk.add_argument("--json", action="store_true", help="machine-readable output (every verdict)")
    chk.add_argument("--nats-url")
    chk.set_defaults(func=operate.check)

    st = sub.add_parser("status", help="show jobs and their progress")
    st.add_argument("job", nargs="?")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.add_argument("--nats-url")
    st.set_defaults(func=operate.status)

    wk = sub.add_parser("workers", help="every service instance (nats micro) and what it is doing")
    wk.add_argument("--json", action="store_true", help="machine-readable output")
    wk.add_argument("--nats-url")
    wk.set_defaults(func=operate.workers)

    pa = sub.add_parser("pause", help="pause a job, or synthesis (every engine, or some): nothing is lost")
    pa.add_argument("job", nargs="?", help="only this job (its queued segments are set aside until unpause)")
    pa.add_argument("--reason", default="paused by the user")
    pa.add_argument("--engine", action="append", choices=list(LISTED_ENGINES),
                    help="only this engine's queue (repeatable)")
    pa.add_argument("--minutes", type=number("a number of minutes", MIN_PAUSE_MINUTES, MAX_PAUSE_MINUTES),
                    help=f"end the pause by itself after this long, {MIN_PAUSE_MINUTES:g} to {MAX_PAUSE_MINUTES:g} "
                         "minutes (default: until unpause)")
    pa.add_argument("--nats-url")
    pa.set_defaults(func=operate.pause)

    up = sub.add_parser("unpause", help="let a paused job, or paused synthesis, continue")
    up.add_argument("job", nargs="?", help="only this job (what is not done is queued again)")
    up.add_argument("--engine", action="append", choices=list(LISTED_ENGINES),
                    help="only this engine's queue (repeatable)")
    up.add_argument("--nats-url")
    up.set_defaults(func=operate.unpause)

    dr = sub.add_parser("drain", help="a tts worker finishes what it holds, takes no more, and exits")
    dr.add_argument("worker", help="its name (see `audiobook workers`)")
    dr.add_argument("--nats-url")
    dr.set_defaults(func=operate.drain)

    db = sub.add_parser("dashboard", help="the live dashboard: jobs, chapters, workers, queue")
    db.add_argument("--nats-url")
    db.set_defaults(func=commands.dashboard)

    he = sub.add_parser("health", help="exit 0 if a service of ROLE on this host answers (container health check)")
    he.add_argument("--role", required=True, choices=["parse", "tts", "assemble", "check"])
    he.add_argument("--wait", type=number("a number of seconds", MIN_WAIT_S, MAX_WAIT_S), default=1.0,
                    help=f"seconds to wait for answers, {MIN_WAIT_S:g} to {MAX_WAIT_S:g} (default 1)")
    he.add_argument("--nats-url")
    he.set_defaults(func=operate.health)

    vo = sub.add_parser("voices", help="list engines, voices and languages here and on the connected workers")
    vo.add_argument("--nats-url", help="also list what the tts workers of this stack serve")
    vo.add_argument("--language", help="only voices that speak this language (and the one a book in it gets)")
    vo.set_defaults(func=commands.voices)

    us = sub.add_parser("user", help="named users of a shared stack: each sees only their own books and jobs")
    us_sub = us.add_subparsers(dest="user_command", required=True)
    for verb, helptext in (("add", "add a user (prints their password once) and make their object store"),
                           ("remove", "remove a user: they lose access at once; their running jobs finish"),
                           ("list", "list the users")):
        one = us_sub.add_parser(verb, help=helptext)
        if verb != "list":
            one.add_argument("name", help="lowercase letters, digits and underscores, starting with a letter")
        one.add_argument("--compose", type=Path, metavar="DIR",
                         help="the compose stack's nats/ folder (its roles.conf is written again), "
                              "instead of the embedded stack's data directory")
        one.add_argument("--nats-url", help="make the user's store on this server (as AUDIOBOOK_NATS_USER=admin)")
    us.set_defaults(func=user_command.user)

    sb = sub.add_parser("sample-book", help="write the bundled sample EPUB")
    sb.add_argument("output", nargs="?", default="sample.epub")
    sb.set_defaults(func=commands.sample_book)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, build the one Settings from the environment, run the command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose or args.command == "serve" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings.from_env(os.environ)
    except ValueError as exc:  # a setting out of range: one line, not a traceback
        print(f"audiobook: error: {exc}", file=sys.stderr)
        return 2
    if args.command != "serve":  # serve sets up its own, named after its roles
        setup_tracing(settings.service_name or "audiobook-cli", settings.otlp_endpoint)
    try:
        return int(args.func(args, settings))
    except PipelineError as exc:
        print(f"audiobook: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\naudiobook: interrupted; run the same command again to continue", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `audiobook chapters BOOK | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        shutdown_tracing()
