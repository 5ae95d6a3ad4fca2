"""Follow one job on the bus: fold its events live, show progress, fetch the finished book."""

from __future__ import annotations

import contextlib
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from nats.js import JetStreamContext

from events.projection import JobState, JobStatus, apply
from events.types import BookWarning, JobCancelled, JobFailed, JobRejected
from services.app.progress import ProgressBar
from services.bus.ephemeral import download_object
from services.bus.jobs import job_events
from services.bus.topology import object_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    state: JobState
    output: Path | None = None

    @property
    def ok(self) -> bool:
        return self.state.status == JobStatus.COMPLETED


def _show(progress: ProgressBar, state: JobState, force: bool = False) -> None:
    progress.update(state.done_segments, state.total_segments, state.audio_seconds, label=state.title[:30],
                    force=force)


def _warn(event: BookWarning, progress: ProgressBar | None) -> None:
    """Say which parts of the book are not read, above the progress bar (or on stderr)."""
    for warning in event.warnings:
        if progress:
            progress.note(f"warning: {warning}")
        else:
            print(f"warning: {warning}", file=sys.stderr)


async def follow_job(
    js: JetStreamContext, job_id: str, request_ref: str | None, since_seq: int,
    output: Path | None, progress: ProgressBar | None,
) -> Outcome:
    """Fold the job's events (history, then live) until it completes, fails or is rejected.

    Rejections, failures and cancellations recorded before ``since_seq`` belong to earlier
    attempts and are ignored; a completion is final whenever it happened.
    """
    state = JobState(job_id=job_id)
    baseline_set = False
    noted_assembly = False
    updates = job_events(js, job_id, *([request_ref] if request_ref else []))
    try:
        async with contextlib.aclosing(updates):
            async for seq, event in updates:
                stale = seq <= since_seq and isinstance(event, JobRejected | JobFailed | JobCancelled)
                if not stale:
                    state = apply(state, event)
                if isinstance(event, BookWarning):
                    _warn(event, progress)
                if progress and state.total_segments:
                    if not baseline_set and seq > since_seq:
                        progress.baseline(state.done_segments)
                        baseline_set = True
                    _show(progress, state)
                if progress and state.ready_to_assemble and not noted_assembly:
                    _show(progress, state, force=True)
                    progress.note(f"all {state.total_segments} segments done; building the audiobook")
                    noted_assembly = True
                if state.status in (JobStatus.REJECTED, JobStatus.FAILED, JobStatus.CANCELLED) and not stale:
                    return Outcome(state)
                if state.status == JobStatus.COMPLETED:
                    if progress:
                        _show(progress, state, force=True)
                    if output:
                        await download(js, state.output_object, output)
                    return Outcome(state, output)
    finally:
        if progress:
            progress.close()
    raise AssertionError("the event stream of a job never ends")  # pragma: no cover


async def download(js: JetStreamContext, name: str, output: Path) -> None:
    """Write an object to ``output`` through a ``.part`` file (never a half-written book)."""
    store = await object_store(js)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".part")
    with open(partial, "wb") as handle:
        await download_object(store, name, handle)
    partial.replace(output)
