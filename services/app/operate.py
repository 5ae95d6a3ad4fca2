"""The commands that look after jobs and the fleet: status, cancel, pause/unpause, workers, drain, health.

Each takes the parsed arguments and the process's Settings and returns an exit code; the
verbs and their rules are the client's (``services.client``), the printing is here.
"""

from __future__ import annotations

import argparse
import socket
from datetime import timedelta
from typing import Any

import orjson

from events.errors import PipelineError
from events.projection import FINAL, JobState, waiting_for
from events.types import as_payload
from services.app.connecting import CliError, ask, client, run
from services.app.progress import clock
from services.client import DeadLetters
from services.client.guards import dropped_words
from services.settings import Settings

__all__ = ["cancel", "drain", "health", "job_summary", "pause", "status", "unpause", "workers"]


def cancel(args: argparse.Namespace, settings: Settings) -> int:
    """Mark a job cancelled and drop its queued segments."""
    dropped = ask(args, settings, lambda operator: operator.cancel(args.job, args.reason))
    print(f"cancelled {args.job}: {dropped_words(dropped)} dropped; `audiobook resume {args.job}` continues it")
    return 0


def status(args: argparse.Namespace, settings: Settings) -> int:
    """Print the state of one job (with its chapters and failures), or of every job in the store."""
    async def body() -> tuple[list[JobState], DeadLetters, list[str]]:
        async with client(args, settings, services=False) as operator:
            states = [await operator.job(args.job)] if args.job else await operator.jobs()
            letters = DeadLetters(0, []) if args.job else await operator.dead_letters()
            return states, letters, await operator.paused_engines()

    states, letters, paused = run(body())
    remote = getattr(args, "nats_url", None) or settings.nats_url  # embedded: no workers run between commands
    served = run(_served(args, settings)) if remote and any(s.status not in FINAL for s in states) else None
    if args.json:
        print(orjson.dumps({"jobs": [job_summary(s) for s in states], "dead_letters": letters.count,
                            "paused_engines": paused,
                            "latest_dead_letters": [as_payload(letter) for letter in letters.latest]},
                           option=orjson.OPT_INDENT_2).decode())
        return 0
    for state in states:
        title = state.title or state.source_name or "-"
        shown = (waiting_for(state, served) if served is not None else "") or state.status
        print(f"{state.job_id}  {shown:9}  {state.done_segments}/{state.total_segments} segments  "
              f"{clock(state.audio_seconds)} audio  {title}" + (f"  ({state.reason})" if state.reason else ""))
        if args.job:
            for number, part in enumerate(state.chapters, start=1):
                heard = (f"  heard {len(part.checked)}, flagged {len(part.flagged)}" if part.checked else "")
                print(f"  {number:3}  {len(part.done):4}/{part.total:<4} {part.title}{heard}")
            for chapter, index, reason in state.failed_segments:
                print(f"  failed: chapter {chapter + 1}, segment {index + 1}: {reason}")
            for chapter, index, reason in state.flagged_segments:
                print(f"  flagged: {chapter + 1}.{index + 1}: {reason}")
            if state.flagged_segments:
                print(f"  (the text and what was heard: audiobook check {state.job_id})")
    if paused:
        print(f"\nsynthesis paused for: {', '.join(paused)} (`audiobook unpause` continues)")
    if letters.count:
        print(f"\n{letters.count} message(s) given up on (dead letters); the latest:")
        for letter in letters.latest:
            print(f"  {letter.stage}: {letter.subject} (#{letter.seq}): {letter.reason}")
    return 0


async def _served(args: argparse.Namespace, settings: Settings) -> set[str] | None:
    """Engines the live tts workers run; None when no control plane answers the question."""
    try:
        async with client(args, settings, services=False) as operator:
            return await operator.served_engines()
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
            "chapters": [{"title": c.title, "done": len(c.done), "total": c.total, "checked": len(c.checked),
                          "flagged": len(c.flagged)} for c in state.chapters],
            "failed_segments": [{"chapter": c, "index": i, "reason": r} for c, i, r in state.failed_segments],
            "check": state.check or "off", "segments_checked": state.checked_segments,
            "word_errors": state.word_errors, "words_checked": state.words_checked,
            "flagged_segments": [{"chapter": c, "index": i, "reason": r} for c, i, r in state.flagged_segments]}


def check(args: argparse.Namespace, settings: Settings) -> int:
    """What the check heard in a job: its flagged segments (or, with ``--all``, every one heard), each
    by its latest take's verdict."""
    verdicts = ask(args, settings, lambda operator: operator.verdicts(args.job))
    if args.json:
        print(orjson.dumps([as_payload(v) for v in verdicts], option=orjson.OPT_INDENT_2).decode())
        return 0
    flagged = [v for v in verdicts if not v.ok]
    words, errors = sum(v.words for v in verdicts), sum(v.errors for v in verdicts)
    print(f"{args.job}: {len(verdicts)} segments heard, {len(flagged)} flagged, "
          f"word error rate {errors / words if words else 0:.1%}")
    for verdict in verdicts if args.all else flagged:
        take = f" (take {verdict.take + 1})" if verdict.take else ""
        print(f"\n  {verdict.chapter + 1}.{verdict.index + 1}{take}  {'ok' if verdict.ok else 'flagged'}"
              f"{': ' + verdict.reason if verdict.reason else ''}")
        if verdict.text:
            print(f"    text:  {verdict.text}")
        if verdict.heard or not verdict.ok:
            language = f"  [{verdict.language}]" if verdict.language else ""
            print(f"    heard: {verdict.heard or '(nothing)'}{language}")
    return 0


def workers(args: argparse.Namespace, settings: Settings) -> int:
    """Every service instance answering nats micro, and what it is doing."""
    found = ask(args, settings, lambda operator: operator.workers())
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

    duration = timedelta(minutes=args.minutes) if args.minutes else None
    until = ask(args, settings, lambda operator: operator.pause_engines(args.engine, duration))
    shown = f"until {until:%Y-%m-%d %H:%M} UTC" if duration else "until `audiobook unpause`"
    print(f"synthesis paused ({', '.join(args.engine or ['every engine'])}) {shown}")
    return 0


def pause_job(args: argparse.Namespace, settings: Settings) -> int:
    """``job.paused`` and its queued segments dropped; ``unpause JOB`` queues what is missing again."""
    dropped = ask(args, settings, lambda operator: operator.pause_job(args.job, args.reason))
    print(f"paused {args.job}: {dropped_words(dropped)} set aside, done ones kept; "
          f"`audiobook unpause {args.job}` continues it")
    return 0


def unpause(args: argparse.Namespace, settings: Settings) -> int:
    """Let a paused job, or paused synthesis, continue."""
    if args.job:
        if args.engine:
            raise CliError("unpause a job, or engines (--engine), not both")
        return unpause_job(args, settings)

    ask(args, settings, lambda operator: operator.unpause_engines(args.engine))
    print(f"synthesis continues ({', '.join(args.engine or ['every engine'])})")
    return 0


def unpause_job(args: argparse.Namespace, settings: Settings) -> int:
    """Ask for the job again (a resume request): what is not done is queued in a new generation."""
    ask(args, settings, lambda operator: operator.unpause_job(args.job))
    print(f"job {args.job} continues (`audiobook status {args.job}` follows it)")
    return 0


def drain(args: argparse.Namespace, settings: Settings) -> int:
    """Ask a tts worker to finish the segments in its hands, take no more, and exit."""
    ask(args, settings, lambda operator: operator.drain(args.worker))
    print(f"draining {args.worker}: it finishes the segments in its hands, then exits")
    return 0


def health(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 if a service of ``--role`` on this host answers nats micro (a container health check)."""
    if not ask(args, settings, lambda operator: operator.answering(args.role, socket.gethostname(), wait=args.wait)):
        raise CliError(f"no {args.role} service on {socket.gethostname()} answers nats micro")
    return 0
