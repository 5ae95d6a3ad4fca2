"""The commands that make audiobooks: convert (and export its parts), resume/retry, retake.

Each takes the parsed arguments and the process's Settings and returns an exit code; the
verbs are the client's (``services.client``), the printing is here.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson

from events.audio import LOUDNESS_TARGET_LUFS, TRUE_PEAK_CEILING_DBTP
from events.projection import COMPLETED, JobState
from events.requests import MAX_RETAKE_POSITIONS, RequestError, parse_request
from services.app.connecting import CliError, client, run
from services.app.follow import follow_with_bar
from services.app.progress import clock
from services.bus.uploads import sha256_file
from services.client import Outcome, PipelineClient, Submission
from services.client.guards import existing_file
from services.client.jobs import speaker_upload_name
from services.parse.lexicon import LexiconError, parse_lexicon
from services.settings import Settings
from services.voices import check_requested_voice

__all__ = ["CliError", "convert", "existing_file", "export", "export_files", "report", "resume", "retake"]


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
        spread = f", range {state.loudness_range_lu:.1f} LU" if state.loudness_range_lu is not None else ""
        print(f"  loudness {state.loudness_lufs:.1f} LUFS, true peak {state.true_peak_dbtp:.1f} dBTP{spread} "
              f"(target {LOUDNESS_TARGET_LUFS:g} LUFS, peaks under {TRUE_PEAK_CEILING_DBTP:g} dBTP)")
    if state.checked_segments:
        flagged = state.flagged_segments
        rate = state.word_errors / state.words_checked if state.words_checked else 0.0
        print(f"  heard {state.checked_segments} segments: {len(flagged)} flagged, word error rate {rate:.1%}"
              + (f" (audiobook check {state.job_id})" if flagged else ""))
        for chapter, index, reason in flagged[:5]:
            print(f"    {chapter + 1}.{index + 1}: {reason}")
        if 2 * len(flagged) > state.checked_segments:
            print("  most of the book failed the check: " + failed_check_hint(state.heard_language, state.language,
                                                                               state.job_id))
    return 0


def failed_check_hint(heard: str, read_as: str, job_id: str) -> str:
    """What to look at when most of a book failed the check: the language only when it differs."""
    if not heard:
        return "nothing was heard. Does the voice speak? (audiobook check " + job_id + ")"
    if heard.split("-")[0].lower() != read_as.split("-")[0].lower():
        return f"heard {heard}, read as {read_as}. Is the voice's language the book's? (--language, --voice)"
    return (f"heard {heard} as read, but not the book's words. Look at the flagged segments (audiobook check "
            f"{job_id}); retake them (audiobook retake {job_id} CH.SEG) or try another --voice")


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
    speaker_name = speaker_upload_name(sha256_file(speaker)) if speaker else None
    lexicon = read_lexicon(Path(args.lexicon)) if args.lexicon else None
    try:
        request = parse_request(orjson.dumps({
            "source": {"path": str(book)}, "engine": args.engine, "voice": args.voice, "language": args.language,
            "speed": args.speed, "speaker": speaker_name, "chapters": args.chapters,
            "pauses": ",".join(args.pause) or None, "lexicon": lexicon, "check": args.check,
            "read_along": args.read_along, "priority": args.priority}))
    except RequestError as exc:
        raise CliError(str(exc)) from None
    if args.nats_url is None and not settings.nats_url:  # embedded: this machine's voices are the stack's
        check_requested_voice(request, settings.voice_dirs)
    output = Path(args.output) if args.output else book.with_suffix(".m4b")
    started = time.monotonic()

    async def body() -> Outcome:
        async with client(args, settings) as operator:
            submission = await operator.submit(book, request, speaker)
            if not args.dashboard:
                outcome = await follow_with_bar(operator, submission, output, args.quiet)
            else:
                outcome = await follow_in_dashboard(operator, submission, output)
            return await with_read_along(operator, outcome, output, args.read_along)

    status = report(run(body()), output, book.name, started)
    return status or export_files(output, args.format, args.split_hours)


async def with_read_along(operator: PipelineClient, outcome: Outcome, output: Path, wanted: bool) -> Outcome:
    """Write the book's read-along beside it when asked: its cues (``BOOK.vtt``, the Audiobookshelf
    convention) and, for a job that asked for it, its text with Media Overlays (``BOOK.epub``)."""
    if wanted and outcome.ok:
        state = outcome.state
        if not state.read_along_object:
            raise CliError(f"{output}: this book has no read-along cues (it was made before they were kept; "
                           "convert it again)")
        await operator.download(state.read_along_object, output.with_suffix(".vtt"))
        if state.read_along_book:
            await operator.download(state.read_along_book, read_along_epub_path(output))
        elif state.requested_read_along:
            raise CliError(f"{output}: no read-along EPUB was made for this book (its text could not be made "
                           "into one: the parse service's log says why); its cues are in "
                           f"{output.with_suffix('.vtt')}")
    return outcome


def read_along_epub_path(output: Path) -> Path:
    """Where the read-along EPUB goes: ``BOOK.read-along.epub`` (never over the EPUB the book was read from)."""
    return output.with_suffix(".read-along.epub")


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


async def follow_in_dashboard(operator: PipelineClient, submission: Submission, output: Path) -> Outcome:
    """Show the dashboard on a submitted job until the person closes it; the job's outcome if it ended."""
    from services.app.watch import ConversionDashboard

    app = ConversionDashboard(operator, submission, output)
    await app.run_async()
    if app.outcome is None:
        raise CliError(f"closed before {submission.job_id} was done; it continues when you run the same command "
                       f"again (`audiobook convert ... --dashboard`), from where it stopped")
    return app.outcome


def resume(args: argparse.Namespace, settings: Settings) -> int:
    """Continue a job from its log: done segments are kept, missing or failed ones are queued."""
    return follow_job(args, settings, lambda operator: operator.resume(args.job))


def follow_job(args: argparse.Namespace, settings: Settings,
               ask: Callable[[PipelineClient], Awaitable[tuple[JobState, Submission]]], saying: str = "") -> int:
    """Ask for a job again (``ask``: resume, retake), follow it to its book and write it (the book's
    name in this folder unless ``-o``), with its read-along when asked; print ``saying`` first."""
    started = time.monotonic()

    async def body() -> tuple[Outcome, Path]:
        async with client(args, settings) as operator:
            state, submission = await ask(operator)
            output = Path(args.output) if args.output else Path(Path(state.source_name).stem + ".m4b")
            if saying and not args.quiet:
                print(saying)
            outcome = await follow_with_bar(operator, submission, output, args.quiet)
            return await with_read_along(operator, outcome, output, args.read_along), output

    outcome, output = run(body())
    return report(outcome, output, args.job, started)


def segment_position(text: str) -> tuple[int, int]:
    """``CHAPTER.INDEX`` as ``audiobook check`` shows it (from 1), as a zero-based position."""
    chapter, dot, index = text.strip().partition(".")
    if not (dot and chapter.isdigit() and index.isdigit() and chapter.isascii() and index.isascii()
            and int(chapter) >= 1 and int(index) >= 1):
        raise argparse.ArgumentTypeError(f"a segment is CHAPTER.INDEX as `audiobook check` shows it (e.g. 3.12), "
                                         f"not {text!r}")
    return int(chapter) - 1, int(index) - 1


def retake(args: argparse.Namespace, settings: Settings) -> int:
    """New takes of some segments of a finished book; the book is built again with them."""
    positions = tuple(sorted(set(args.segments)))
    if len(positions) > MAX_RETAKE_POSITIONS:
        raise CliError(f"{len(positions)} segments named; one retake asks for at most {MAX_RETAKE_POSITIONS}")
    saying = f"asking new takes of {', '.join(f'{c + 1}.{i + 1}' for c, i in positions)} in {args.job}"
    return follow_job(args, settings, lambda operator: operator.retake(args.job, positions), saying)
