"""Versioned command and event types of the pipeline.

Every type is a frozen dataclass with a ``KIND`` (the last part of its subject) and a
``VERSION``. Events carry references to objects in the object store, never audio.
See docs/events.md for the contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

from events.audio import PARAGRAPH_PAUSE_MS, SENTENCE_PAUSE_MS


@dataclass(frozen=True)
class ChapterInfo:
    """One chapter of a parsed book: its TOC title and how many segments it has."""

    index: int
    title: str
    segments: int
    chars: int


SIGNED = "signed"
Level = Annotated[float, SIGNED]  # a level in dB (LUFS, dBTP): the one number in an event that may be negative


@dataclass(frozen=True)
class Event:
    """Base of all events: every event belongs to one job."""

    KIND: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1

    job_id: str

    def msg_id(self) -> str:
        """Deterministic ``Nats-Msg-Id``: publishing the same fact twice is a no-op."""
        return f"{self.job_id}:{self.KIND}"


@dataclass(frozen=True)
class JobAccepted(Event):
    """The parse service took a request and read its source.

    ``engine``, ``voice`` and ``language`` are what the request named ("" for "choose by the
    book's language"); the voice actually chosen is in ``book.parsed``.
    """

    KIND: ClassVar[str] = "job.accepted"

    source_sha256: str
    source_name: str
    engine: str
    voice: str
    speed: float
    request_id: str | None = None
    source_object: str = ""
    request_seq: int = 0
    language: str = ""
    speaker_sha256: str = ""  # the reference recording a cloning voice speaks as ("" for none)
    chapters: str = ""  # the chapters asked for ("1-5,8"); "" for all
    pauses: str = ""  # the pauses asked for that differ from the defaults ("chapter=2500"); "" for none
    lexicon: str = ""  # the reader's lexicon (text, at most 32 KiB); "" for none
    check: str = ""  # what the request asked a check worker to hear ("all", "sample:0.1", "off"; "": the default)
    read_along: bool = False  # the request asked for the read-along EPUB (text with Media Overlays)
    priority: str = ""  # what the request asked for ("urgent", "normal", "background"; "": normal)

    def msg_id(self) -> str:
        """One per request: a repeated request for a finished book is answered too."""
        return f"{self.job_id}:{self.KIND}:{self.request_seq}"


@dataclass(frozen=True)
class JobRejected(Event):
    """A request that cannot be converted, with a reason a person understands.

    ``request_seq`` is the request's sequence in the REQUESTS stream: a redelivered request
    is rejected once, a new request for the same book is rejected again.
    """

    KIND: ClassVar[str] = "job.rejected"

    reason: str
    request_id: str | None = None
    request_seq: int = 0

    def msg_id(self) -> str:
        return f"{self.job_id}:{self.KIND}:{self.request_seq}"


@dataclass(frozen=True)
class BookParsed(Event):
    """The book was split into chapters and segments; all segment jobs are queued."""

    KIND: ClassVar[str] = "book.parsed"

    title: str
    author: str
    language: str  # the language the book is read in
    chapters: tuple[ChapterInfo, ...]
    cover_object: str | None = None
    engine: str = ""  # the voice that reads it (chosen once per job: a resume keeps it)
    voice: str = ""
    year: str = ""  # the book's own metadata, for the audiobook's tags ("" where the book has none)
    publisher: str = ""
    description: str = ""  # plain text, at most 4,000 characters
    check: str = ""  # the check policy the segments were planned with ("all", "sample:0.1"; "" or "off": none)

    @property
    def total_segments(self) -> int:
        return sum(c.segments for c in self.chapters)


@dataclass(frozen=True)
class BookWarning(Event):
    """Parts of the book that could not be read were skipped; the rest is converted.

    Each warning names the part and why, for a person ("chapter_007.xhtml is not readable
    XHTML; its text is not read"). Published before ``book.parsed``, once per generation.
    """

    KIND: ClassVar[str] = "book.warning"

    warnings: tuple[str, ...]
    generation: int = 0

    def msg_id(self) -> str:
        return f"{self.job_id}:{self.KIND}:{self.generation}"


@dataclass(frozen=True)
class CheckOrder:
    """What a check worker needs to hear a segment: the text the engine was given (paragraphs
    joined by blank lines), its language, the speed and the pause the segment ends with; which
    take this is and how many the segment may have, and the command that asks for the next take
    (``None`` when no retake may follow: a voice that always says the same, a cached segment)."""

    text: str
    language: str
    speed: float = 1.0
    pause_after_ms: int = 0
    take: int = 0
    takes: int = 1
    retake: SynthesizeSegment | None = None


@dataclass(frozen=True)
class SegmentSynthesized(Event):
    """Audio for one segment is in the object store.

    ``check`` is set when the job has the segment checked (``segment.checked`` follows, from a
    check worker); the assembler then places the segment once it is checked.
    """

    KIND: ClassVar[str] = "segment.synthesized"

    chapter: int
    index: int
    audio_object: str
    samples: int
    sample_rate: int
    cache_hit: bool = False
    worker: str = ""
    synth_seconds: float = 0.0
    generation: int = 0
    delivery: int = 1
    check: CheckOrder | None = None
    take: int = 0  # 0: the first take; N: the Nth retake, asked for by the check (audio of its own)
    # where each piece of speech the engine returned (a sentence, as it split the text) lies in the
    # decoded audio: (paragraph piece, first sample, end sample), in order; () when not known
    spans: tuple[tuple[int, int, int], ...] = ()
    ticket: str = ""  # the command's ticket for this position (events.tickets)

    def msg_id(self) -> str:
        """One event per delivery of the job: a publish retry is a no-op, a redelivery is a new fact."""
        take = f".t{self.take}" if self.take else ""
        return f"{self.job_id}:{self.KIND}:{self.chapter}:{self.index}:{self.generation}.{self.delivery}{take}"

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate if self.sample_rate else 0.0


@dataclass(frozen=True)
class SegmentChecked(Event):
    """A check worker heard a segment's audio: what it heard, and its verdict.

    ``ok`` False is a flagged segment, ``reason`` saying why for a person ("3 words missing:
    'the red headed league'"). ``text`` (what the voice was given) and ``heard`` are kept for
    flagged segments only, at most ``CHECK_TEXT_CHARS`` each; ``missing``/``extra`` are the runs
    of words said and not heard, heard and not said (at most ``CHECK_RUNS``).
    """

    KIND: ClassVar[str] = "segment.checked"

    chapter: int
    index: int
    audio_object: str
    ok: bool
    reason: str = ""
    words: int = 0  # words in the text
    heard_words: int = 0
    errors: int = 0  # word errors (substituted, missing, extra), after normalising both sides
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    text: str = ""
    heard: str = ""
    language: str = ""  # the language heard
    language_probability: float = 0.0
    rate: float = 0.0  # speech time over what the text takes at the voice's pace (1: as expected)
    seconds: float = 0.0  # audio heard
    lead_seconds: float = 0.0  # silence before the speech
    trail_seconds: float = 0.0  # and after it
    clipped: float = 0.0  # fraction of samples at full scale
    worker: str = ""
    check_seconds: float = 0.0  # the listener's time on it
    take: int = 0  # which take of the segment was heard
    retake: bool = False  # flagged, and another take was asked for: the segment waits for its verdict
    rule: str = ""  # the rule that flagged it ("missing", "cut_off", "language", ... docs/quality.md)

    def msg_id(self) -> str:
        """One verdict per segment and audio: a redelivered check is a no-op."""
        return f"{self.job_id}:{self.KIND}:{self.chapter}:{self.index}:{self.audio_object}"


CHECK_TEXT_CHARS, CHECK_RUNS = 600, 10


@dataclass(frozen=True)
class Quality:
    """What the check heard in a finished book (``job.completed``)."""

    checked: int  # segments heard
    flagged: int  # segments whose first take was flagged
    words: int  # words of the checked segments' text
    errors: int  # word errors heard in the takes the book holds
    language: str = ""  # the language heard most
    language_share: float = 0.0  # of the checked segments, the share heard in it
    retaken: int = 0  # segments synthesized more than once
    still_flagged: int = 0  # segments whose take in the book is flagged (the best of their takes)

    @property
    def wer(self) -> float:
        return self.errors / self.words if self.words else 0.0


@dataclass(frozen=True)
class SegmentFailed(Event):
    """A segment that could not be synthesized, and why."""

    KIND: ClassVar[str] = "segment.failed"

    chapter: int
    index: int
    reason: str
    permanent: bool = True
    worker: str = ""
    generation: int = 0
    ticket: str = ""  # the command's ticket for this position (events.tickets)

    def msg_id(self) -> str:
        return f"{self.job_id}:{self.KIND}:{self.chapter}:{self.index}:{self.generation}"


@dataclass(frozen=True)
class ChapterLoudness:
    """One chapter of a finished book, as measured on its audio (``job.completed``)."""

    chapter: int
    lufs: Level  # integrated loudness
    range_lu: float  # loudness range (EBU Tech 3342)


@dataclass(frozen=True)
class JobCompleted(Event):
    """The audiobook is in the object store."""

    KIND: ClassVar[str] = "job.completed"

    output_object: str
    seconds: float
    size: int
    chapters: int
    request_seq: int = 0  # 0: the build's own; N: re-announced for request N of a book already done
    loudness_lufs: Level | None = None  # integrated loudness of the finished book (EBU R 128 / BS.1770)
    true_peak_dbtp: Level | None = None  # its true peak
    quality: Quality | None = None  # what the check heard (None: the job was not checked)
    loudness_range_lu: float | None = None  # the book's loudness range (EBU Tech 3342)
    chapter_loudness: tuple[ChapterLoudness, ...] = ()  # each chapter's loudness and range
    generation: int = 0  # the generation built (a reopened job is built again in a later one)
    read_along_object: str = ""  # the read-along cues (WebVTT) beside the book ("": none)
    read_along_unaligned: int = 0  # paragraph pieces timed as a whole, not sentence by sentence
    read_along_book: str = ""  # the read-along EPUB 3 (text with Media Overlays; "": not asked for)
    read_along_unmarked: int = 0  # cues whose sentence has no span in that EPUB's text (heard, not highlighted)

    def msg_id(self) -> str:
        """One for each build (a reopened job's in its generation), one per later request for the book."""
        built = f":g{self.generation}" if self.generation else ""
        return f"{self.job_id}:{self.KIND}{built}" + (f":{self.request_seq}" if self.request_seq else "")


@dataclass(frozen=True)
class JobFailed(Event):
    """The job cannot finish; ``reason`` says why. One per generation (see JobResumed)."""

    KIND: ClassVar[str] = "job.failed"

    reason: str
    failed_segments: tuple[tuple[int, int, str], ...] = field(default=())
    generation: int = 0

    def msg_id(self) -> str:
        return f"{self.job_id}:{self.KIND}:{self.generation}"


@dataclass(frozen=True)
class JobCancelled(Event):
    """A person or script cancelled the job: its queued segments are dropped."""

    KIND: ClassVar[str] = "job.cancelled"

    reason: str = "cancelled"
    generation: int = 0

    def msg_id(self) -> str:
        return f"{self.job_id}:{self.KIND}:{self.generation}"


@dataclass(frozen=True)
class JobPaused(Event):
    """A person or script paused the job: its queued segments are dropped until it is resumed.

    Unlike a cancellation it is not an end: ``audiobook unpause JOB`` (a resume) queues what is
    missing again in the next generation.
    """

    KIND: ClassVar[str] = "job.paused"

    reason: str = "paused"
    generation: int = 0

    def msg_id(self) -> str:
        return f"{self.job_id}:{self.KIND}:{self.generation}"


@dataclass(frozen=True)
class JobResumed(Event):
    """A failed, cancelled or paused job was asked to continue: generation ``generation`` begins.

    Segments that failed are queued again; segments already done are kept.
    """

    KIND: ClassVar[str] = "job.resumed"

    generation: int

    def msg_id(self) -> str:
        return f"{self.job_id}:{self.KIND}:{self.generation}"


MAX_RETAKES = 1_000  # positions a job may have asked retakes of, over all its reopenings


@dataclass(frozen=True)
class JobReopened(Event):
    """A completed job was asked for new takes of some segments (``audiobook retake``):
    generation ``generation`` begins, and the book is built again once they are done.

    ``retakes`` holds every position ever asked for in this job, with the take its book must
    hold from now on (a take at least this one): (chapter, index, take), zero-based. It is
    cumulative, so the last ``job.reopened`` alone says what a build of the book places.
    """

    KIND: ClassVar[str] = "job.reopened"

    generation: int
    retakes: tuple[tuple[int, int, int], ...] = ()

    def msg_id(self) -> str:
        return f"{self.job_id}:{self.KIND}:{self.generation}"

    def floors(self) -> dict[tuple[int, int], int]:
        """Each retaken position's first acceptable take."""
        return {(chapter, index): take for chapter, index, take in self.retakes}


EVENT_TYPES: dict[str, type[Event]] = {
    t.KIND: t
    for t in (
        JobAccepted,
        JobRejected,
        BookParsed,
        BookWarning,
        SegmentSynthesized,
        SegmentChecked,
        SegmentFailed,
        JobCompleted,
        JobFailed,
        JobCancelled,
        JobPaused,
        JobResumed,
        JobReopened,
    )
}


@dataclass(frozen=True)
class SynthesizeSegment:
    """Command on the work queue: synthesize one segment of a job.

    ``paragraphs`` holds the segment's text, one string per paragraph piece; the worker
    inserts a sentence pause between sentences, a paragraph pause between paragraphs,
    and ``pause_after_ms`` of silence at the end. ``duplicates`` lists the other (chapter,
    index) positions of the same job whose audio is identical (same cache key): the book
    queues one command for all of them, and the worker reports each position.
    """

    KIND: ClassVar[str] = "synthesize"
    VERSION: ClassVar[int] = 1

    job_id: str
    chapter: int
    index: int
    paragraphs: tuple[str, ...]
    engine: str
    voice: str
    speed: float
    pause_after_ms: int
    cache_key: str
    generation: int = 0
    duplicates: tuple[tuple[int, int], ...] = ()
    language: str = ""  # for a voice that speaks several (XTTS); "" for one-language voices
    sentence_pause_ms: int = SENTENCE_PAUSE_MS  # between sentences inside the segment
    paragraph_pause_ms: int = PARAGRAPH_PAUSE_MS  # between paragraphs inside the segment
    check_language: str = ""  # set when a check worker hears the audio: the language it is heard in
    take: int = 0  # 0: the first take; N: a retake the check asked for (synthesized anew, never from the cache)
    first_take: int = 0  # where this segment's takes start: 0, or the take a person asked for (`audiobook retake`)
    tickets: tuple[str, ...] = ()  # one per position (events.tickets): the worker copies it into its event

    def msg_id(self) -> str:
        take = f":take{self.take}" if self.take else ""
        return f"{self.job_id}:{self.KIND}:{self.chapter}:{self.index}:{self.generation}{take}"

    def positions(self) -> tuple[tuple[int, int], ...]:
        """Every (chapter, index) this command's audio is for: its own first, then duplicates."""
        return ((self.chapter, self.index), *self.duplicates)


def as_payload(obj: Any) -> dict[str, Any]:
    """Plain dict of a command or event with its envelope (``type``, ``v``)."""
    from dataclasses import asdict

    return {"type": obj.KIND, "v": obj.VERSION, **asdict(obj)}


@dataclass(frozen=True)
class DeadLetter:
    """A message a stage gave up on (not a job event: it may belong to no job at all).

    ``subject``/``stream``/``seq`` locate the original message; ``excerpt`` is its start, for a
    person looking at what came in.
    """

    KIND: ClassVar[str] = "dead.letter"
    VERSION: ClassVar[int] = 1

    stage: str
    subject: str
    stream: str
    seq: int
    delivery: int
    reason: str
    size: int
    excerpt: str

    def msg_id(self) -> str:
        return f"dead:{self.stream}:{self.seq}"
