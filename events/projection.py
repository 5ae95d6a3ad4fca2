"""A job's state is a pure fold of its events; the KV checkpoint is a snapshot of it.

The one entry point is :func:`apply` (one fold per event kind, in ``events.folds``); the
state and its statuses are in ``events.state``, the stream sequence a reader has folded up
to is tracked beside the state (``events.tracking``), and the checkpoint codec is in
``events.snapshot``. This module gathers them: readers import from here.
"""

from __future__ import annotations

from collections.abc import Iterable

from events.folds import fold_event
from events.snapshot import (
    SNAPSHOT_ERRORS,
    SNAPSHOT_REASONS,
    SNAPSHOT_TEXT,
    SNAPSHOT_VERSION,
    SNAPSHOT_WARNINGS,
    from_snapshot,
    to_snapshot,
)
from events.state import FINAL, RUNNING, STOPPED, ChapterState, JobState, JobStatus, waiting_for
from events.tracking import Tracked
from events.types import Event

# The statuses by their older names (``JobStatus.COMPLETED`` is ``COMPLETED``): same values.
ACCEPTED, PARSED, COMPLETED = JobStatus.ACCEPTED, JobStatus.PARSED, JobStatus.COMPLETED
FAILED, REJECTED, CANCELLED = JobStatus.FAILED, JobStatus.REJECTED, JobStatus.CANCELLED
PAUSED = JobStatus.PAUSED

__all__ = [
    "ACCEPTED", "CANCELLED", "COMPLETED", "FAILED", "FINAL", "PARSED", "PAUSED", "REJECTED", "RUNNING",
    "SNAPSHOT_ERRORS", "SNAPSHOT_REASONS", "SNAPSHOT_TEXT", "SNAPSHOT_VERSION", "SNAPSHOT_WARNINGS", "STOPPED",
    "ChapterState", "JobState", "JobStatus", "Tracked", "apply", "fold", "from_snapshot", "to_snapshot",
    "waiting_for",
]


def apply(state: JobState, event: Event) -> JobState:
    """Fold one event into the state and return the new state (the same object, updated).

    Idempotent per event: folding an event twice leaves the state as folding it once.
    """
    return fold_event(event, state)


def fold(job_id: str, events: Iterable[Event]) -> JobState:
    """The state of a job after all of ``events``, from nothing."""
    state = JobState(job_id=job_id)
    for event in events:
        state = apply(state, event)
    return state
