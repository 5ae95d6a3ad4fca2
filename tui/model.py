"""What the dashboard shows, computed from the event log alone (pure).

A :class:`Board` folds every job's events with the same ``events.projection.apply`` as
``audiobook status`` and the CLI's progress bar, and measures each job's throughput from the
events' own server times, counting only segments a model synthesized: work done before the
dashboard opened is history, not speed, and cache hits are not speed either.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from events.fairness import fleet_shares
from events.progress import Throughput, clock
from events.projection import FINAL, RUNNING, JobState, JobStatus, Tracked, waiting_for
from events.types import (
    BookParsed,
    Event,
    JobAccepted,
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobPaused,
    JobRejected,
    JobReopened,
    JobResumed,
    SegmentChecked,
    SegmentFailed,
    SegmentSynthesized,
)

BAR = 12
RECENT = 6  # latest events kept per job for its detail view


@dataclass(frozen=True)
class JobRow:
    job_id: str
    title: str
    author: str
    status: str
    done: int
    total: int
    audio: str
    expected: str
    elapsed: str
    eta: str
    failures: int
    cache_hits: int
    share: str = ""  # its share of the fleet now ("waits": its user's earlier jobs go first), while it runs

    def cells(self) -> tuple[str, ...]:
        progress = f"{bar(self.done, self.total)} {self.done}/{self.total}"
        return (self.title, self.status, self.share, progress, self.audio, self.expected, self.elapsed, self.eta,
                str(self.failures), str(self.cache_hits), self.job_id)


@dataclass(frozen=True)
class ChapterRow:
    index: int
    title: str
    done: int
    total: int
    failed: int
    in_flight: int = 0
    flagged: int = 0  # segments the check heard wrong
    checked: int = 0  # segments the check heard

    @property
    def queued(self) -> int:
        return max(0, self.total - self.done - self.failed - self.in_flight)

    def cells(self) -> tuple[str, ...]:
        drawn = bar(self.done, self.total, in_flight=self.in_flight, failed=self.failed)
        progress = f"{drawn} {self.done}/{self.total}"
        return (str(self.index + 1), self.title, progress, str(self.in_flight or ""), str(self.queued or ""),
                str(self.failed) if self.failed else "", f"{self.flagged}/{self.checked}" if self.checked else "")


def _share(share: float | None) -> str:
    if share is None:
        return ""
    return f"{share:.0%}" if share > 0 else "waits"


def bar(done: int, total: int, width: int = BAR, *, in_flight: int = 0, failed: int = 0) -> str:
    """A text progress bar: done ``█``, in flight ``▒``, failed ``✗``, queued ``░``."""
    if not total:
        return "░" * width
    cuts = [round(width * min(total, n) / total) for n in (done, done + in_flight, done + in_flight + failed)]
    return "█" * cuts[0] + "▒" * (cuts[1] - cuts[0]) + "✗" * (cuts[2] - cuts[1]) + "░" * (width - cuts[2])


def in_flight_by_chapter(statuses: Iterable[dict[str, object]], job_id: str) -> Counter[int]:
    """How many segments of each chapter of ``job_id`` live tts workers hold (their ``in_flight``)."""
    held: Counter[int] = Counter()
    for status in statuses:
        for position in status.get("in_flight") or ():  # type: ignore[attr-defined]
            if isinstance(position, list) and len(position) == 3 and position[0] == job_id:
                held[int(position[1])] += 1
    return held


def describe(event: Event) -> str:
    """One line about an event, for a job's latest events."""
    match event:
        case SegmentSynthesized():
            how = "from the cache" if event.cache_hit else f"{event.synth_seconds:.1f} s by {event.worker or '?'}"
            return f"segment {event.chapter + 1}.{event.index + 1} done: {event.seconds:.1f} s of audio {how}"
        case SegmentFailed():
            return f"segment {event.chapter + 1}.{event.index + 1} failed: {event.reason}"
        case SegmentChecked():
            verdict = f"flagged: {event.reason}" if not event.ok else f"heard ok ({event.errors} word errors)"
            return f"segment {event.chapter + 1}.{event.index + 1} {verdict}"
        case JobAccepted():
            return f"accepted {event.source_name}" + (f" (chapters {event.chapters})" if event.chapters else "")
        case BookParsed():
            return f"parsed: {len(event.chapters)} chapters, read by {event.engine}/{event.voice} ({event.language})"
        case JobCompleted():
            return f"completed: {clock(event.seconds)} of audio in {event.output_object}"
        case JobFailed() | JobRejected() | JobCancelled() | JobPaused():
            return f"{event.KIND.split('.')[1]}: {event.reason}"
        case JobResumed():
            return f"resumed (generation {event.generation})"
        case JobReopened():
            return f"reopened for new takes (generation {event.generation})"
    return event.KIND


@dataclass
class WorkerRates:
    """Each worker's segments per second over its last few status answers."""

    window: int = 6
    seen: dict[str, deque[tuple[float, int]]] = field(default_factory=dict)

    def record(self, instance: str, now: float, done: int) -> float | None:
        samples = self.seen.setdefault(instance, deque(maxlen=self.window))
        samples.append((now, done))
        (t0, d0), (t1, d1) = samples[0], samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else None


@dataclass
class _Clock:
    first: float = 0.0
    last: float = 0.0
    finished: float | None = None
    model_done: int = 0  # segments a model synthesized (not cache hits), as seen by this board
    throughput: Throughput = field(default_factory=Throughput)


@dataclass
class Board:
    """Every job's state and measured speed; ``dirty`` holds the jobs changed since the last look.

    ``tracked`` keeps each state with the stream sequence folded into it (an event seen twice
    is folded once); ``jobs`` is each job's state, for the screens.
    """

    jobs: dict[str, JobState] = field(default_factory=dict)
    tracked: dict[str, Tracked] = field(default_factory=dict)
    clocks: dict[str, _Clock] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    recent: dict[str, deque[tuple[float, str]]] = field(default_factory=dict)
    model_audio: float = 0.0  # seconds of audio models produced (cache hits excluded), every job

    def apply(self, seq: int, at: float, event: Event) -> None:
        """Fold one event that the server stored at time ``at`` (constant time per segment event:
        a 6,000-segment book's log is folded without summing over its chapters each time)."""
        tracked = self.tracked.setdefault(event.job_id, Tracked(JobState(job_id=event.job_id)))
        times = self.clocks.setdefault(event.job_id, _Clock(first=at))
        chapter = None
        state = tracked.state
        if isinstance(event, SegmentSynthesized) and not event.cache_hit and event.chapter < len(state.chapters):
            chapter = state.chapters[event.chapter]
            done, seconds = len(chapter.done), chapter.seconds
        tracked.apply(event, seq)
        state = self.jobs[event.job_id] = tracked.state
        if chapter is not None and len(chapter.done) > done:  # a segment a model made, counted once
            self.model_audio += chapter.seconds - seconds
            times.model_done += 1
            times.throughput.record(at, times.model_done)
        self.recent.setdefault(event.job_id, deque(maxlen=RECENT)).append((at, describe(event)))
        times.last = max(times.last, at)
        if isinstance(event, JobAccepted | JobReopened) and state.status not in FINAL:
            times.finished = None
        if state.status in FINAL and times.finished is None:
            times.finished = at
        self.dirty.add(event.job_id)

    def shares(self, slots: Mapping[str, int]) -> dict[str, float]:
        """Each running job's share of its engine's fleet (``slots``: what each engine's workers hold),
        as the release loop gives it: oldest first, by priority, a user's jobs splitting one window."""
        by_engine: dict[str, list[tuple[str, str]]] = {}
        for job_id in sorted(self.jobs, key=lambda job: self.clocks[job].first):
            state = self.jobs[job_id]
            if state.status in RUNNING and state.engine:
                by_engine.setdefault(state.engine, []).append((job_id, state.requested_priority))
        return {job: share for engine, running in by_engine.items()
                for job, share in fleet_shares(running, slots.get(engine, 0)).items()}

    def row(self, job_id: str, now: float, served: set[str] | None = None,
            shares: Mapping[str, float] | None = None) -> JobRow:
        """One job's row; with ``served`` (engines live workers run), a job nobody serves says so; with
        ``shares`` (:meth:`shares`), a running job's share of the fleet."""
        state, times = self.jobs[job_id], self.clocks[job_id]
        waiting = waiting_for(state, served) if served is not None else ""
        done, total = state.done_segments, state.total_segments
        expected = state.audio_seconds / done * total if done else None
        end = times.finished if times.finished is not None else now
        eta = None
        if state.status in RUNNING and total:
            eta = times.throughput.eta(total - done)
        return JobRow(
            job_id=job_id, title=state.title or state.source_name or job_id, author=state.author,
            status=waiting or str(state.status) or "-", done=done, total=total, audio=clock(state.audio_seconds),
            expected=clock(expected) if expected is not None else "--:--", elapsed=clock(end - times.first),
            eta="done" if state.status == JobStatus.COMPLETED else clock(eta), failures=len(state.failed_segments),
            cache_hits=state.cache_hits, share=_share((shares or {}).get(job_id)),
        )

    def chapters(self, job_id: str, in_flight: Counter[int] | None = None) -> list[ChapterRow]:
        """One row per chapter; ``in_flight``: segments workers hold, per chapter."""
        state = self.jobs.get(job_id)
        if state is None:
            return []
        held = in_flight or Counter()
        return [ChapterRow(i, c.title, len(c.done), c.total, len(set(c.failed) - c.done),
                           min(held[i], c.total - len(c.done)), len(c.flagged), len(c.checked))
                for i, c in enumerate(state.chapters)]

    def detail(self, job_id: str, failures: int = 3) -> str:
        """A job's failed segments with their reasons, then its latest events (server times, UTC).

    Segments are numbered as people count them: chapter 1, segment 1 (the CLI's report does too).
    """
        state = self.jobs.get(job_id)
        if state is None:
            return ""
        failed = state.failed_segments
        lines = [f"segment {c + 1}.{i + 1} failed: {reason}" for c, i, reason in failed[:failures]]
        if len(failed) > failures:
            lines.append(f"... and {len(failed) - failures} more failed segment(s) (`audiobook status {job_id}`)")
        flagged = state.flagged_segments
        lines += [f"segment {c + 1}.{i + 1} flagged: {reason}" for c, i, reason in flagged[:failures]]
        if len(flagged) > failures:
            lines.append(f"... and {len(flagged) - failures} more flagged segment(s) (`audiobook check {job_id}`)")
        if state.reason and state.status not in RUNNING:
            lines.append(f"{state.status}: {state.reason}")
        lines += [f"{time.strftime('%H:%M:%S', time.gmtime(at))}  {text}"
                  for at, text in reversed(self.recent.get(job_id, ()))]
        return "\n".join(lines)

    def take_dirty(self) -> set[str]:
        changed, self.dirty = self.dirty, set()
        return changed
