"""What the dashboard shows, computed from the event log alone (pure).

A :class:`Board` folds every job's events with the same ``events.projection.apply`` as
``audiobook status`` and the CLI's progress bar, and measures each job's throughput from the
events' own server times, counting only segments a model synthesized: work done before the
dashboard opened is history, not speed, and cache hits are not speed either.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from events.progress import Throughput, clock
from events.projection import ACCEPTED, COMPLETED, FINAL, PARSED, JobState, apply, waiting_for
from events.types import Event, JobAccepted, SegmentSynthesized

BAR = 12


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

    def cells(self) -> tuple[str, ...]:
        progress = f"{bar(self.done, self.total)} {self.done}/{self.total}"
        return (self.title, self.status, progress, self.audio, self.expected, self.elapsed, self.eta,
                str(self.failures), str(self.cache_hits), self.job_id)


@dataclass(frozen=True)
class ChapterRow:
    index: int
    title: str
    done: int
    total: int
    failed: int

    def cells(self) -> tuple[str, ...]:
        return (str(self.index + 1), self.title, f"{bar(self.done, self.total)} {self.done}/{self.total}",
                str(self.failed) if self.failed else "")


def bar(done: int, total: int, width: int = BAR) -> str:
    """A text progress bar: ``█████░░░░░░░``."""
    filled = round(width * done / total) if total else 0
    return "█" * filled + "░" * (width - filled)


@dataclass
class _Clock:
    first: float = 0.0
    last: float = 0.0
    finished: float | None = None
    throughput: Throughput = field(default_factory=Throughput)


@dataclass
class Board:
    """Every job's state and measured speed; ``dirty`` holds the jobs changed since the last look."""

    jobs: dict[str, JobState] = field(default_factory=dict)
    clocks: dict[str, _Clock] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)

    def apply(self, seq: int, at: float, event: Event) -> None:
        """Fold one event that the server stored at time ``at``."""
        state = self.jobs.setdefault(event.job_id, JobState(job_id=event.job_id))
        apply(state, event, seq)
        times = self.clocks.setdefault(event.job_id, _Clock(first=at))
        times.last = max(times.last, at)
        if isinstance(event, JobAccepted) and state.status not in FINAL:
            times.finished = None
        if state.status in FINAL and times.finished is None:
            times.finished = at
        if isinstance(event, SegmentSynthesized) and not event.cache_hit:
            times.throughput.record(at, state.done_segments - state.cache_hits)
        self.dirty.add(event.job_id)

    def row(self, job_id: str, now: float, served: set[str] | None = None) -> JobRow:
        """One job's row; with ``served`` (engines live workers run), a job nobody serves says so."""
        state, times = self.jobs[job_id], self.clocks[job_id]
        waiting = waiting_for(state, served) if served is not None else ""
        done, total = state.done_segments, state.total_segments
        expected = state.audio_seconds / done * total if done else None
        end = times.finished if times.finished is not None else now
        eta = None
        if state.status in (ACCEPTED, PARSED) and total:
            eta = times.throughput.eta(total - done)
        return JobRow(
            job_id=job_id, title=state.title or state.source_name or job_id, author=state.author,
            status=waiting or state.status or "-", done=done, total=total, audio=clock(state.audio_seconds),
            expected=clock(expected) if expected is not None else "--:--", elapsed=clock(end - times.first),
            eta="done" if state.status == COMPLETED else clock(eta), failures=len(state.failed_segments),
            cache_hits=state.cache_hits,
        )

    def chapters(self, job_id: str) -> list[ChapterRow]:
        state = self.jobs.get(job_id)
        if state is None:
            return []
        return [ChapterRow(i, c.title, len(c.done), c.total, len(set(c.failed) - c.done))
                for i, c in enumerate(state.chapters)]

    def take_dirty(self) -> set[str]:
        changed, self.dirty = self.dirty, set()
        return changed
