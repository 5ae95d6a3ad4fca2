"""The assemble stage's decisions (pure): when to build, stop, report or clean up; who builds.

The service folds events into checkpoints and carries out these steps; nothing here touches
NATS, the object store or ffmpeg.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from events.codec import DecodeError, decode_event
from events.names import book_object
from events.projection import FINAL, STOPPED, JobState, JobStatus
from events.types import JobAccepted, JobCompleted, JobFailed

LEASE_S = 30.0  # a build claim lasts this long unless its holder renews it
LISTED_FAILURES = 100  # failed segments listed in ``job.failed`` (the count is in its reason; all are in the log)
REASON_CHARS = 500


@dataclass(frozen=True)
class StartBuild:
    """Claim the job and stream its audio into a book."""

    generation: int


@dataclass(frozen=True)
class StopBuild:
    """The job failed or was cancelled while its book was streaming: stop."""


@dataclass(frozen=True)
class Reannounce:
    """A request for a book already done: answer it with the book's completion."""

    request_seq: int


@dataclass(frozen=True)
class ReportFailure:
    """Every segment is done or failed, and some failed: the job fails, with the list."""

    event: JobFailed


Step = StartBuild | StopBuild | ReportFailure


def reannouncements(before: JobStatus, event: object) -> list[Reannounce]:
    """A ``job.accepted`` folded into a job that was already completed asks for its completion again."""
    if before == JobStatus.COMPLETED and isinstance(event, JobAccepted) and event.request_seq:
        return [Reannounce(event.request_seq)]
    return []


def next_steps(state: JobState, *, building: bool, busy: bool) -> list[Step]:
    """What to do about a job after its state changed.

    ``building``: a build of this job runs here. ``busy``: a chore for it is under way here, or
    this instance already built it (its completion may still be in flight). A cancelled or
    paused job's queue is not touched here: whoever stops a job drops its queue right after
    (``services.bus.stopping``), and workers drop what is left of a stopped generation. A purge
    from here, folded later than a quick resume, would drop the resume's fresh commands.
    """
    steps: list[Step] = []
    if state.status in FINAL and building:
        steps.append(StopBuild())
        building = False
    if busy or state.status in STOPPED:
        return steps
    if state.stuck:
        every = state.failed_segments
        failures = tuple((ci, si, why[:REASON_CHARS]) for ci, si, why in every[:LISTED_FAILURES])
        reason = f"{len(every)} segment(s) could not be synthesized; first: {failures[0][2]}"
        steps.append(ReportFailure(JobFailed(job_id=state.job_id, reason=reason, failed_segments=failures,
                                             generation=state.generation)))
    elif state.status == JobStatus.PARSED and not building:
        steps.append(StartBuild(state.generation))
    return steps


def claim(holder: str, now: float) -> bytes:
    """The KV value of a build claim held by ``holder`` until ``now + LEASE_S``."""
    return orjson.dumps({"by": holder, "until": now + LEASE_S})


def may_take_over(current: bytes | None, me: str, now: float) -> bool:
    """Whether an existing claim may be taken: it expired, it is ours, or it is unreadable."""
    try:
        held = orjson.loads(current or b"{}")
    except orjson.JSONDecodeError:
        return True
    if not isinstance(held, dict):
        return True
    until = held.get("until")
    if not isinstance(until, int | float):
        return True
    return held.get("by") == me or until <= now


def claimant(current: bytes | None) -> str:
    """Who holds a claim, for a log line."""
    try:
        held = orjson.loads(current or b"{}")
    except orjson.JSONDecodeError:
        return "?"
    return str(held.get("by", "?")) if isinstance(held, dict) else "?"


def completion_of(raw: bytes | None, job_id: str, generation: int = 0) -> JobCompleted | None:
    """The last ``job.completed`` record of a job, if it is a real completion of that job (of
    ``generation`` or later: a reopened job's earlier book is not its completion).

    Anything else on that subject (garbage, another job's record, a book stored elsewhere)
    does not stop the job from being built.
    """
    if raw is None:
        return None
    try:
        event = decode_event(raw)
    except DecodeError:
        return None
    if (isinstance(event, JobCompleted) and event.job_id == job_id and event.output_object == book_object(job_id)
            and event.generation >= generation):
        return event
    return None
