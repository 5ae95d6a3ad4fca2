"""A job's state, as its events leave it: the statuses, the per-chapter progress, the queries on them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job is. The values are the strings on the wire, in checkpoints and on screen."""

    NEW = ""  # no event of the job folded yet
    ACCEPTED = "accepted"
    PARSED = "parsed"
    COMPLETED = "completed"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    PAUSED = "paused"  # not an end: a resume continues it


FINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.REJECTED, JobStatus.CANCELLED})
STOPPED = frozenset({JobStatus.CANCELLED, JobStatus.PAUSED})  # no segment of the generation is synthesized
RUNNING = frozenset({JobStatus.ACCEPTED, JobStatus.PARSED})  # work is queued or under way


@dataclass
class ChapterState:
    title: str
    total: int
    done: set[int] = field(default_factory=set)
    failed: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0
    checked: set[int] = field(default_factory=set)  # segments a check worker heard
    flagged: dict[int, str] = field(default_factory=dict)  # of those, the ones it flagged, and why
    asked: dict[int, int] = field(default_factory=dict)  # retaken segments: the first take the book may hold

    @property
    def complete(self) -> bool:
        return len(self.done) >= self.total


@dataclass
class JobState:
    """Everything known about one job, rebuilt from its events (no transport position: see ``Tracked``)."""

    job_id: str
    status: JobStatus = JobStatus.NEW
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
    requested_check: str = ""  # the check policy the request named ("": the stack's default): a resume repeats it
    requested_read_along: bool = False  # the request asked for the read-along EPUB
    requested_priority: str = ""  # the job's share of the fleet as last asked ("": normal)
    check: str = ""  # the policy the job's segments were planned with (book.parsed; "": none heard)
    heard_language: str = ""  # the language the check heard most (job.completed)
    words_checked: int = 0  # words in the checked segments' text
    word_errors: int = 0  # word errors heard in them
    chapters: list[ChapterState] = field(default_factory=list)
    cache_hits: int = 0
    synth_seconds: float = 0.0
    reason: str = ""
    output_object: str = ""
    read_along_object: str = ""  # the book's read-along cues, WebVTT (job.completed)
    read_along_book: str = ""  # the book's read-along EPUB 3 with Media Overlays (job.completed)
    loudness_lufs: float | None = None  # measured on the finished book (job.completed)
    true_peak_dbtp: float | None = None
    loudness_range_lu: float | None = None  # the book's loudness range (EBU Tech 3342)
    generation: int = 0
    reopened: int = 0  # the generation of the last ``job.reopened`` (0: never reopened)
    source_sha256: str = ""
    source_name: str = ""
    source_object: str = ""
    speed: float = 1.0

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
    def checked_segments(self) -> int:
        return sum(len(c.checked) for c in self.chapters)

    @property
    def flagged_segments(self) -> list[tuple[int, int, str]]:
        return [(ci, si, r) for ci, c in enumerate(self.chapters) for si, r in sorted(c.flagged.items())]

    @property
    def audio_seconds(self) -> float:
        return sum(c.seconds for c in self.chapters)

    @property
    def ready_to_assemble(self) -> bool:
        """All segments are done and the job is not finished yet."""
        return self.status == JobStatus.PARSED and bool(self.chapters) and all(c.complete for c in self.chapters)

    @property
    def stuck(self) -> bool:
        """Every segment is either done or permanently failed, and some failed."""
        return self.status == JobStatus.PARSED and all(
            len(c.done) + len(set(c.failed) - c.done) >= c.total for c in self.chapters
        ) and any(set(c.failed) - c.done for c in self.chapters)


CHECK_SERVED = "(check)"  # in a set of served engines: a check worker answers (no engine has this name)


def waiting_for(state: JobState, served: set[str] | frozenset[str]) -> str:
    """Why an unfinished job makes no progress: no live worker runs its engine, or it is checked
    and no check worker answers ("" otherwise)."""
    if state.status not in RUNNING:
        return ""
    if state.engine and state.engine not in served:
        return f"waiting for a {state.engine} worker"
    if state.check not in ("", "off") and CHECK_SERVED not in served:
        return "waiting for a check worker"
    return ""
