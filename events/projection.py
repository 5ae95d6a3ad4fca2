"""A job's state is a pure fold of its events. The KV checkpoint is a snapshot of it."""

from __future__ import annotations

import base64
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from events.names import book_object
from events.types import (
    BookParsed,
    BookWarning,
    Event,
    JobAccepted,
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobPaused,
    JobRejected,
    JobResumed,
    SegmentFailed,
    SegmentSynthesized,
)

ACCEPTED, PARSED, COMPLETED = "accepted", "parsed", "completed"
FAILED, REJECTED, CANCELLED = "failed", "rejected", "cancelled"
PAUSED = "paused"  # not an end: a resume continues it
FINAL = frozenset({COMPLETED, FAILED, REJECTED, CANCELLED})
STOPPED = frozenset({CANCELLED, PAUSED})  # no segment of the generation is synthesized


@dataclass
class ChapterState:
    title: str
    total: int
    done: set[int] = field(default_factory=set)
    failed: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return len(self.done) >= self.total


@dataclass
class JobState:
    """Everything known about one job, rebuilt from its events."""

    job_id: str
    status: str = ""
    title: str = ""
    author: str = ""
    engine: str = ""  # the voice reading the book (book.parsed), else the one requested
    voice: str = ""
    language: str = ""  # the language it is read in (book.parsed)
    requested_engine: str = ""  # what the request named ("" = chosen by language): a resume repeats it
    requested_voice: str = ""
    requested_language: str = ""
    requested_speaker: str = ""  # sha256 of the request's reference recording
    requested_chapters: str = ""  # the chapters asked for ("1-5,8"; "" = all)
    warnings: tuple[str, ...] = ()  # parts of the book skipped as unreadable (book.warning)
    requested_pauses: str = ""  # the pauses asked for ("chapter=2500"; "" = the defaults)
    requested_lexicon: str = ""  # the reader's lexicon ("" = none)
    chapters: list[ChapterState] = field(default_factory=list)
    cache_hits: int = 0
    synth_seconds: float = 0.0
    reason: str = ""
    output_object: str = ""
    loudness_lufs: float | None = None  # measured on the finished book (job.completed)
    true_peak_dbtp: float | None = None
    generation: int = 0
    source_sha256: str = ""
    source_name: str = ""
    source_object: str = ""
    speed: float = 1.0
    applied_seq: int = 0

    @property
    def total_segments(self) -> int:
        return sum(c.total for c in self.chapters)

    @property
    def done_segments(self) -> int:
        return sum(len(c.done) for c in self.chapters)

    @property
    def failed_segments(self) -> list[tuple[int, int, str]]:
        return [(ci, si, r) for ci, c in enumerate(self.chapters) for si, r in sorted(c.failed.items())]

    @property
    def audio_seconds(self) -> float:
        return sum(c.seconds for c in self.chapters)

    @property
    def ready_to_assemble(self) -> bool:
        """All segments are done and the job is not finished yet."""
        return self.status == PARSED and bool(self.chapters) and all(c.complete for c in self.chapters)

    @property
    def stuck(self) -> bool:
        """Every segment is either done or permanently failed, and some failed."""
        return self.status == PARSED and all(
            len(c.done) + len(set(c.failed) - c.done) >= c.total for c in self.chapters
        ) and any(set(c.failed) - c.done for c in self.chapters)


def apply(state: JobState, event: Event, seq: int = 0) -> JobState:
    """Fold one event into the state (mutates and returns it). Idempotent per event."""
    if seq and seq <= state.applied_seq:
        return state
    if seq:
        state.applied_seq = seq
    if isinstance(event, JobAccepted):
        if not state.status or state.status == REJECTED:
            state.status = ACCEPTED
        state.requested_engine, state.requested_voice = event.engine, event.voice
        state.requested_language, state.speed = event.language, event.speed
        state.requested_speaker, state.requested_chapters = event.speaker_sha256, event.chapters
        state.requested_pauses, state.requested_lexicon = event.pauses, event.lexicon
        if not state.voice:
            state.engine, state.voice = event.engine, event.voice
        state.source_sha256, state.source_name = event.source_sha256, event.source_name
        state.source_object = event.source_object
    elif isinstance(event, BookWarning):
        state.warnings = event.warnings
    elif isinstance(event, BookParsed):
        if state.status in ("", ACCEPTED):
            state.status = PARSED
        state.title, state.author, state.language = event.title, event.author, event.language
        if not state.chapters:  # the first parse is the job's: its voice and its chapters
            if event.voice:
                state.engine, state.voice = event.engine, event.voice
            state.chapters = [ChapterState(title=c.title, total=c.segments) for c in event.chapters]
    elif isinstance(event, SegmentSynthesized):
        if event.chapter < len(state.chapters):
            chapter = state.chapters[event.chapter]
            if event.index not in chapter.done:
                chapter.done.add(event.index)
                chapter.seconds += event.seconds
                state.synth_seconds += event.synth_seconds
                state.cache_hits += int(event.cache_hit)
            chapter.failed.pop(event.index, None)
    elif isinstance(event, SegmentFailed):
        if event.chapter < len(state.chapters) and event.permanent and event.generation == state.generation:
            chapter = state.chapters[event.chapter]
            if event.index not in chapter.done:
                chapter.failed[event.index] = event.reason
    elif isinstance(event, JobCompleted):
        if event.output_object == book_object(event.job_id):  # a completion names the job's own book
            state.status, state.output_object = COMPLETED, event.output_object
            if event.loudness_lufs is not None:  # a re-announcement may not repeat the measurement
                state.loudness_lufs, state.true_peak_dbtp = event.loudness_lufs, event.true_peak_dbtp
    elif isinstance(event, JobFailed):
        if state.status != COMPLETED and event.generation == state.generation:
            state.status, state.reason = FAILED, event.reason
    elif isinstance(event, JobRejected):
        if state.status in ("", ACCEPTED, REJECTED):
            state.status, state.reason = REJECTED, event.reason
    elif isinstance(event, JobCancelled):
        if state.status != COMPLETED and event.generation == state.generation:
            state.status, state.reason = CANCELLED, event.reason
    elif isinstance(event, JobPaused):
        if state.status in (ACCEPTED, PARSED) and event.generation == state.generation:
            state.status, state.reason = PAUSED, event.reason
    elif isinstance(event, JobResumed) and event.generation > state.generation:
        state.generation = event.generation
        if state.status in (FAILED, CANCELLED, PAUSED):
            state.status, state.reason = (PARSED if state.chapters else ACCEPTED), ""
        for chapter in state.chapters:
            chapter.failed.clear()
    return state


def fold(job_id: str, events: list[Event]) -> JobState:
    """The state of a job after all of ``events``, from nothing."""
    state = JobState(job_id=job_id)
    for event in events:
        apply(state, event)
    return state


SNAPSHOT_VERSION = 2
SNAPSHOT_TEXT = 2_000  # characters kept of any one string in a checkpoint
SNAPSHOT_WARNINGS = 5  # warnings kept in a checkpoint (the log holds them all)
SNAPSHOT_REASONS = 20  # failure reasons kept in a checkpoint (the first ones, by position)
_LEFT_OUT = ("chapters", "warnings", "requested_lexicon")
SNAPSHOT_ERRORS = (ValueError, KeyError, TypeError, IndexError)  # orjson's decode error is a ValueError


def to_snapshot(state: JobState) -> bytes:
    """Serialize a state for the KV checkpoint: small and bounded whatever the book.

    The checkpoint holds what the assembler and the workers decide on: counts, per-chapter
    totals and seconds, and which segments are done or failed as two bitmaps over the book's
    segments in order (100,000 segments: 25 KB). Chapter titles, the lexicon and all but a few
    warnings and failure reasons are not in it: they are in the log, which every reader that
    shows them folds (``services.bus.jobs``). A restored state has empty chapter titles.
    """
    data: dict[str, Any] = {k: (v[:SNAPSHOT_TEXT] if isinstance(v, str) else v)
                            for k, v in vars(state).items() if k not in _LEFT_OUT}
    starts = _chapter_starts(state.chapters)
    failed = {starts[ci] + si: reason for ci, c in enumerate(state.chapters) for si, reason in c.failed.items()
              if si < c.total}
    data.update(
        v=SNAPSHOT_VERSION,
        warnings=[w[:SNAPSHOT_TEXT] for w in state.warnings[:SNAPSHOT_WARNINGS]],
        warning_count=len(state.warnings),
        totals=[c.total for c in state.chapters],
        seconds=[round(c.seconds, 3) for c in state.chapters],
        done=_bitmap((starts[ci] + si for ci, c in enumerate(state.chapters) for si in c.done if si < c.total),
                     starts[-1]),
        failed=_bitmap(failed, starts[-1]),
        reasons={str(k): failed[k][:SNAPSHOT_TEXT] for k in sorted(failed)[:SNAPSHOT_REASONS]},
    )
    return orjson.dumps(data)


def from_snapshot(data: bytes) -> JobState:
    """Inverse of :func:`to_snapshot` (titles empty; failures past the kept reasons say "see the log")."""
    raw = orjson.loads(data)
    if raw.pop("v", 1) != SNAPSHOT_VERSION:  # a checkpoint of an older release: rebuilt from the log
        raise ValueError("checkpoint of another version")
    totals, seconds = raw.pop("totals"), raw.pop("seconds")
    starts = _chapter_starts([ChapterState("", total) for total in totals])
    chapters = [ChapterState(title="", total=total, seconds=sec) for total, sec in zip(totals, seconds, strict=True)]
    reasons = {int(k): v for k, v in raw.pop("reasons").items()}
    for kind in ("done", "failed"):
        for position in _positions(raw.pop(kind)):
            ci = bisect_right(starts, position) - 1
            chapter, index = chapters[ci], position - starts[ci]
            if kind == "done":
                chapter.done.add(index)
            else:
                chapter.failed[index] = reasons.get(position, "(the reason is in the job's log)")
    raw.pop("warning_count", None)
    raw["warnings"] = tuple(raw.get("warnings", ()))
    return replace(JobState(job_id=raw.pop("job_id")), chapters=chapters, **raw)


def _chapter_starts(chapters: list[ChapterState]) -> list[int]:
    """Each chapter's first position among the book's segments, then the total."""
    starts = [0]
    for chapter in chapters:
        starts.append(starts[-1] + chapter.total)
    return starts


def _bitmap(positions: Iterable[int], size: int) -> str:
    bits = bytearray((size + 7) // 8)
    for position in positions:
        bits[position >> 3] |= 1 << (position & 7)
    return base64.b64encode(bytes(bits)).decode("ascii")


def _positions(bitmap: str) -> Iterator[int]:
    for byte_index, byte in enumerate(base64.b64decode(bitmap)):
        if byte:
            for bit in range(8):
                if byte >> bit & 1:
                    yield byte_index * 8 + bit


def waiting_for(state: JobState, served: set[str] | frozenset[str]) -> str:
    """Why an unfinished job makes no progress, if no live worker runs its engine ("" otherwise)."""
    if state.status not in (ACCEPTED, PARSED) or not state.engine or state.engine in served:
        return ""
    return f"waiting for a {state.engine} worker"
