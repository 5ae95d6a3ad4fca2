"""The parse stage's decisions (pure): which generation a request works in, what to queue.

The service fetches what these need (the job's folded state, the queue's contents) and
publishes what they return; nothing here touches NATS.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import replace

from events.fairness import (  # noqa: F401 - the release loop's decisions, re-exported
    MAX_WINDOW,
    MIN_WINDOW,
    PRIORITY_WEIGHTS,
    WINDOW_ROUNDS,
    owners_share,
    release_window,
)
from events.names import synth_subject
from events.projection import JobState, JobStatus
from events.requests import ConvertRequest
from events.types import JobRejected, JobReopened, JobResumed, SynthesizeSegment

Command = tuple[str, SynthesizeSegment]


def continuation(state: JobState) -> tuple[int, JobResumed | None]:
    """The generation a new request for this job works in, and the event that opens it.

    A failed, cancelled or paused job asked again continues in the next generation: its failures
    are forgotten and its done segments kept. Any other job continues where it is.
    """
    if state.status in (JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.PAUSED):
        generation = state.generation + 1
        return generation, JobResumed(job_id=state.job_id, generation=generation)
    return state.generation, None


def keeps_source_copy(state: JobState, already_kept: bool) -> bool:
    """An unfinished job's source is kept in the services' store (from a path or the uploads), so
    the job resumes from anywhere, even after the upload is gone."""
    return state.status != JobStatus.COMPLETED and not already_kept


def done_positions(state: JobState) -> set[tuple[int, int]]:
    return {(c, i) for c, chapter in enumerate(state.chapters) for i in chapter.done}


def to_queue(jobs: Iterable[Command], state: JobState, queued: set[tuple[int, int]]) -> list[Command]:
    """The commands still needed: some position not done, and not already in the queue.

    A command speaks for every position with the same audio; it is needed again while any of
    them is missing (resume after any crash), never while it is still queued.
    """
    done = done_positions(state)
    return [(subject, job) for subject, job in jobs
            if (job.chapter, job.index) not in queued and not set(job.positions()) <= done]


def with_takes(commands: Iterable[Command], state: JobState, heard_in: str = "") -> list[Command]:
    """The commands with the takes a person asked for (``audiobook retake``): each retaken
    position gets a command of its own at its take (never a cached one), heard in ``heard_in``
    when the job is checked; the positions left keep the command, the first of them its head."""
    out: list[Command] = []
    for subject, job in commands:
        floors = {(c, i): state.chapters[c].asked[i] for c, i in job.positions()
                  if c < len(state.chapters) and i in state.chapters[c].asked}
        if not floors:
            out.append((subject, job))
            continue
        rest = [position for position in job.positions() if position not in floors]
        if rest:
            (chapter, index), *others = rest
            out.append((synth_subject(job.engine, job.job_id, chapter, index),
                        replace(job, chapter=chapter, index=index, duplicates=tuple(others))))
        for (chapter, index), take in sorted(floors.items()):
            out.append((synth_subject(job.engine, job.job_id, chapter, index),
                        replace(job, chapter=chapter, index=index, duplicates=(), take=take, first_take=take,
                                check_language=heard_in or job.check_language)))
    return out


def retake_under_way(state: JobState, positions: Iterable[tuple[int, int]]) -> bool:
    """Whether these retakes are the ones the job was last reopened for and is still making: the
    same request again (redelivered after parse stopped before acking it), to be queued again,
    not refused as "not completed" and not reopened twice."""
    return (state.status == JobStatus.PARSED and 0 < state.reopened == state.generation
            and all(c < len(state.chapters) and i in state.chapters[c].asked for c, i in positions))


def reopening(state: JobState, takes: Mapping[tuple[int, int], int]) -> JobReopened:
    """The event that reopens a completed job for new ``takes`` of some positions (position ->
    the take asked for); it lists every position retaken so far, with its latest take."""
    floors = {(c, i): take for c, chapter in enumerate(state.chapters) for i, take in chapter.asked.items()}
    floors.update(takes)
    return JobReopened(job_id=state.job_id, generation=state.generation + 1,
                       retakes=tuple((c, i, take) for (c, i), take in sorted(floors.items())))


def next_take(state: JobState, position: tuple[int, int], latest_asked_by_check: int) -> int:
    """The first take number a person's retake of ``position`` may use: past every take the
    check asked for (``latest_asked_by_check``) and every retake asked before."""
    chapter, index = position
    return max(state.chapters[chapter].asked.get(index, 0), latest_asked_by_check) + 1


OUTLIER = 3  # a segment this many times the book's median length is queued first
TAIL_SHARE, MAX_TAIL = 4, 256  # the last quarter of the book, at most 256 segments, is queued longest first


def queue_plan(commands: list[Command], state: JobState, queued: set[tuple[int, int]]) -> list[Command]:
    """The job's commands still to queue (:func:`to_queue`), in the dispatch order of all its commands.

    Ordered before they are filtered, so every handling of a job plans in one order, whatever it
    saw queued: two handlings of one job at once (a request sent again while the first was being
    queued) each see part of the other's window, and what one queued is then always ahead of what
    the other plans. :func:`to_release` counts on that: everything before the last command known
    released was released. (Ordering only what is left moved a queued command behind unqueued
    ones, which were then never released: a book waited for ever for its last segments.)
    """
    return to_queue(dispatch_order(commands), state, queued)


def dispatch_order(commands: list[Command]) -> list[Command]:
    """The order to queue commands in: reading order, except at both ends.

    A fleet finishes a book when its last segment is done, so what is taken last decides how
    long the other workers sit idle (longest-processing-time first, at the ends only):

    - the few segments far longer than the book's median (a single 2,000-character sentence) go
      first, longest first: taken late, one would keep a worker busy long after the others;
    - the book's last segments (a quarter of it, at most ``MAX_TAIL``: two rounds of a fleet of
      128) go longest first, so the last ones taken are the shortest and the workers run out of
      work within a short segment of each other.

    Everything between stays in reading order, so the streaming assembly receives the book in
    order until its tail, which it joins as the tail lands.
    """
    if len(commands) < 3:
        return list(commands)
    sizes = [sum(map(len, job.paragraphs)) for _, job in commands]
    limit = OUTLIER * statistics.median(sizes)
    first = sorted((i for i, size in enumerate(sizes) if size > limit), key=lambda i: -sizes[i])
    hoisted = set(first)
    rest = [i for i in range(len(commands)) if i not in hoisted]
    cut = len(rest) - min(MAX_TAIL, len(rest) // TAIL_SHARE)
    tail = sorted(rest[cut:], key=lambda i: -sizes[i])  # stable: equal sizes stay in reading order
    return [commands[i] for i in (*first, *rest[:cut], *tail)]


def rejected(job_id: str, reason: str, request: ConvertRequest | None, seq: int) -> JobRejected:
    """The answer to a request that cannot be converted, under the id its sender can compute."""
    return JobRejected(job_id=job_id, reason=reason, request_seq=seq,
                       request_id=request.request_id if request else None)



# -- releasing: each job keeps a window of its commands in the work queue, so jobs share the fleet

# (the share itself is the contract's, events.fairness: the dashboard shows it too)


def settled_positions(state: JobState) -> set[tuple[int, int]]:
    """Positions with nothing more to synthesize in this generation: done, or failed."""
    return done_positions(state) | {(c, i) for c, chapter in enumerate(state.chapters) for i in chapter.failed}


def to_release(plan: list[Command], state: JobState, queued: set[tuple[int, int]], window: int) -> list[Command]:
    """The next commands of a job's ``plan`` (released in its order) that fit in its ``window``.

    Everything before the last command known released (settled, or still queued) was released;
    from there, commands neither settled nor queued go in until the job has ``window`` queued.
    A job that is not running (paused, cancelled, finished) releases nothing.
    """
    if state.status not in (JobStatus.ACCEPTED, JobStatus.PARSED):
        return []
    room = window - len(queued)
    if room <= 0:
        return []
    settled = settled_positions(state)

    def released(job: SynthesizeSegment) -> bool:
        return (job.chapter, job.index) in queued or set(job.positions()) <= settled

    last = max((number for number, (_, job) in enumerate(plan) if released(job)), default=-1)
    out: list[Command] = []
    for subject, job in plan[last + 1:]:
        if len(out) == room:
            break
        if not released(job) and job.generation == state.generation:
            out.append((subject, job))
    return out
