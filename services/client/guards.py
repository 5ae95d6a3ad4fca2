"""The rule of each verb, decided once (pure: a job's folded state in, a decision or an error out).

The CLI and the dashboard both act through these, so a verb never means two things:

- **cancel**: any job that is not finished (``completed``, ``failed``, ``rejected``, ``cancelled``).
- **pause** a job: only a running one (``accepted`` or ``parsed``); pausing a paused job is an
  error that says so, never a silent toggle.
- **unpause** a job: only a ``paused`` one.
- **resume** / **retry**: any job that was accepted (it has a kept source). A failed, cancelled
  or paused job continues in a new generation; a running one has its missing segments queued.
  A **completed** job is allowed and sends nothing: there is nothing left to synthesize
  (``audiobook resume`` then fetches the finished book, as it always has).
- **retake**: only a completed job, and only segments its book has (``retake_refusal``).
- **drain**: only tts workers drain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from events.names import service_name
from events.projection import ACCEPTED, COMPLETED, PARSED, PAUSED, JobState
from events.requests import retake_refusal, stop_refusal
from services.client.errors import JobNotFound, JobStateError, NoSuchFile

RUNNING = (ACCEPTED, PARSED)

__all__ = ["check_cancel", "check_pause", "check_retake", "check_unpause", "drain_targets", "existing_file", "is_tts",
           "known", "resume_sends"]


def existing_file(path: str | Path) -> Path:
    """The path of a file the person named, or ``NoSuchFile`` saying it is not there."""
    found = Path(path)
    if not found.is_file():
        raise NoSuchFile(f"{found}: no such file")
    return found


def known(state: JobState, job_id: str) -> JobState:
    """The state of a job that has events; ``JobNotFound`` for one that has none."""
    if not state.status:
        raise JobNotFound(f"no job {job_id!r} in this store (see `audiobook status`)")
    return state


def check_cancel(state: JobState) -> None:
    """A job may be cancelled until it is finished."""
    if refusal := stop_refusal(state, pause=False):
        raise JobStateError(refusal)


def check_pause(state: JobState) -> None:
    """Only a running job (accepted or parsed) may be paused."""
    if refusal := stop_refusal(state, pause=True):
        raise JobStateError(refusal)


def check_retake(state: JobState, positions: tuple[tuple[int, int], ...]) -> None:
    """New takes are asked only of a completed book's own segments."""
    refusal = retake_refusal(state, positions)
    if refusal:
        raise JobStateError(refusal)


def check_unpause(state: JobState) -> None:
    """Only a paused job may be unpaused."""
    if state.status != PAUSED:
        raise JobStateError(f"job {state.job_id} is {state.status}, not paused")


def resume_sends(state: JobState) -> bool:
    """Whether resuming sends a request: True for an unfinished job, False for a completed one
    (nothing to do); ``JobStateError`` for a job that was never accepted (no kept source)."""
    if not state.source_object:
        raise JobStateError(f"job {state.job_id} was never accepted ({state.status}: {state.reason})")
    return state.status != COMPLETED


def is_tts(status: Mapping[str, Any]) -> bool:
    """Whether a control-plane status is a tts worker's (the only role that drains)."""
    return status.get("role") == "tts"


def drain_targets(replies: Iterable[Mapping[str, Any]], worker: str) -> list[Mapping[str, Any]]:
    """The tts instances (``$SRV.STATS`` replies) named ``worker``, by worker name or instance id."""
    return [r for r in replies if r.get("name") == service_name("tts")
            and worker in (r.get("metadata", {}).get("worker"), r.get("id"))]


def dropped_words(count: int | None) -> str:
    """The queued segments a stop dropped, in words (a named user's stop does not count them)."""
    return "its queued segments" if count is None else f"{count} queued segment(s)"
