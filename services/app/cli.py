"""The ``audiobook`` command: argument parsing and ``main`` only (the bodies are in ``commands``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from events.errors import PipelineError
from events.names import ENGINES
from services.app import commands
from services.bus.tracing import setup_tracing, shutdown_tracing
from services.settings import Settings

BOOK_HELP = ("the book: EPUB, Kindle (AZW3/MOBI), FB2, PDF, Word (.docx), plain text (.txt), Markdown (.md) "
             "or HTML")


def _default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def _export_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["m4b", "mp3", "opus"], default="m4b",
                        help="m4b (default): one audiobook file; mp3 or opus: also one file per chapter, in a "
                             "folder named after the book")
    parser.add_argument("--split-hours", type=float, metavar="H",
                        help="also write the M4B as parts of at most H hours, cut at chapters")


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
    conv.add_argument("--speed", type=float, default=1.0, help="speaking speed, 0.25-4 (default 1)")
    conv.add_argument("--pause", metavar="KIND=MS", action="append", default=[],
                      help="a pause in milliseconds: sentence (default 250), paragraph (650), heading (1000), "
                           "chapter (1800); repeat for several, e.g. --pause chapter=2500")
    conv.add_argument("--lexicon", metavar="FILE",
                      help="your pronunciations: lines of 'word = spoken form', [fr] sections per language "
                           "(docs/books.md)")
    _export_options(conv)
    conv.add_argument("--workers", type=int, default=_default_workers(),
                      help="tts worker processes in embedded mode (default: one per core, up to 8)")
    conv.add_argument("--nats-url", help="submit to this server instead of starting an embedded one")
    conv.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    conv.add_argument("--dashboard", action="store_true",
                      help="show the live dashboard instead of a progress bar (q closes it)")
    conv.set_defaults(func=commands.convert)

    exp = sub.add_parser("export", help="cut a finished M4B into parts of N hours, or MP3/Opus files per chapter")
    exp.add_argument("book", help="an M4B audiobook (from `audiobook convert`)")
    _export_options(exp)
    exp.set_defaults(func=commands.export)

    ch = sub.add_parser("chapters", help="list what will be read: chapters, words, estimated duration, voice")
    ch.add_argument("book", help=BOOK_HELP)
    ch.set_defaults(func=commands.chapters)

    srv = sub.add_parser("serve", help="run services against an existing NATS server")
    srv.add_argument("roles", nargs="+", choices=["parse", "tts", "assemble", "all"])
    srv.add_argument("--workers", type=int, default=1, help="tts worker processes (default 1)")
    srv.add_argument("--threads", type=int, help="engine threads per tts worker (default: cores / workers)")
    srv.add_argument("--nats-url", help="NATS server URL (or AUDIOBOOK_NATS_URL)")
    srv.set_defaults(func=commands.serve)

    for name, helptext in (("resume", "continue a job from its event log (after a crash or a cancel)"),
                           ("retry", "queue a failed job's failed segments again and continue it")):
        cmd = sub.add_parser(name, help=helptext)
        cmd.add_argument("job", help="job id (see `audiobook status`)")
        cmd.add_argument("-o", "--output", help="output .m4b (default: the book's name in this folder)")
        cmd.add_argument("--workers", type=int, default=_default_workers())
        cmd.add_argument("--nats-url")
        cmd.add_argument("-q", "--quiet", action="store_true")
        cmd.set_defaults(func=commands.resume)

    can = sub.add_parser("cancel", help="cancel a job: its queued segments are dropped")
    can.add_argument("job")
    can.add_argument("--reason", default="cancelled by the user")
    can.add_argument("--nats-url")
    can.set_defaults(func=commands.cancel)

    st = sub.add_parser("status", help="show jobs and their progress")
    st.add_argument("job", nargs="?")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.add_argument("--nats-url")
    st.set_defaults(func=commands.status)

    wk = sub.add_parser("workers", help="every service instance (nats micro) and what it is doing")
    wk.add_argument("--json", action="store_true", help="machine-readable output")
    wk.add_argument("--nats-url")
    wk.set_defaults(func=commands.workers)

    pa = sub.add_parser("pause", help="pause a job, or synthesis (every engine, or some): nothing is lost")
    pa.add_argument("job", nargs="?", help="only this job (its queued segments are set aside until unpause)")
    pa.add_argument("--reason", default="paused by the user")
    pa.add_argument("--engine", action="append", choices=list(ENGINES), help="only this engine's queue (repeatable)")
    pa.add_argument("--minutes", type=float, help="end the pause by itself after this long (default: until unpause)")
    pa.add_argument("--nats-url")
    pa.set_defaults(func=commands.pause)

    up = sub.add_parser("unpause", help="let a paused job, or paused synthesis, continue")
    up.add_argument("job", nargs="?", help="only this job (what is not done is queued again)")
    up.add_argument("--engine", action="append", choices=list(ENGINES), help="only this engine's queue (repeatable)")
    up.add_argument("--nats-url")
    up.set_defaults(func=commands.unpause)

    dr = sub.add_parser("drain", help="a tts worker finishes what it holds, takes no more, and exits")
    dr.add_argument("worker", help="its name (see `audiobook workers`)")
    dr.add_argument("--nats-url")
    dr.set_defaults(func=commands.drain)

    db = sub.add_parser("dashboard", help="the live dashboard: jobs, chapters, workers, queue")
    db.add_argument("--nats-url")
    db.set_defaults(func=commands.dashboard)

    he = sub.add_parser("health", help="exit 0 if a service of ROLE on this host answers (container health check)")
    he.add_argument("--role", required=True, choices=["parse", "tts", "assemble"])
    he.add_argument("--wait", type=float, default=1.0, help="seconds to wait for answers")
    he.add_argument("--nats-url")
    he.set_defaults(func=commands.health)

    vo = sub.add_parser("voices", help="list engines, voices and languages here and on the connected workers")
    vo.add_argument("--nats-url", help="also list what the tts workers of this stack serve")
    vo.add_argument("--language", help="only voices that speak this language (and the one a book in it gets)")
    vo.set_defaults(func=commands.voices)

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
    settings = Settings.from_env(os.environ)
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
