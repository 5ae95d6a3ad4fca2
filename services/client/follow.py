"""Follow one job: fold its events (history, then live), report typed updates, fetch the finished book.

The follower calls ``on_update`` with what happened; how to show it (a progress bar, a
dashboard notice, a log line) is the caller's. It never prints.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, replace
from pathlib import Path

from events.names import EVENTS_VIEW_STREAM as VIEW
from events.names import all_events_filter, user_events_filter
from events.projection import CANCELLED, COMPLETED, FAILED, REJECTED, JobState, apply
from events.types import BookWarning, Event, JobCancelled, JobFailed, JobRejected
from services.bus.ephemeral import download_object
from services.bus.jobs import events_on, job_events
from services.bus.topology import object_store
from services.bus.uploads import own_store
from services.client.session import Session, Submission
from services.client.translation import translating

log = logging.getLogger(__name__)

__all__ = ["Assembling", "Followed", "Outcome", "Progress", "Update", "Warned"]


@dataclass(frozen=True)
class Progress:
    """Segments done so far. ``baseline``: the first update of this run (work before it is history,
    not speed); ``final``: worth showing now, whatever the refresh rate (a step ends)."""

    title: str
    done: int
    total: int
    audio_seconds: float
    baseline: bool = False
    final: bool = False


@dataclass(frozen=True)
class Warned:
    """A part of the book that is not read (``book.warning``)."""

    text: str


@dataclass(frozen=True)
class Assembling:
    """Every segment is done; the audiobook is being built."""

    total: int


Update = Progress | Warned | Assembling
OnUpdate = Callable[[Update], None]


@dataclass(frozen=True)
class Outcome:
    """How a followed job ended, and where its book was written (if it completed and was fetched)."""

    state: JobState
    output: Path | None = None

    @property
    def ok(self) -> bool:
        return self.state.status == COMPLETED


def _progress(state: JobState, baseline: bool = False, final: bool = False) -> Progress:
    return Progress(state.title, state.done_segments, state.total_segments, state.audio_seconds, baseline, final)


class Followed(Session):
    """Following a job to its end."""

    @translating
    async def follow(self, submission: Submission, output: Path | None = None,
                     on_update: OnUpdate | None = None) -> Outcome:
        """Fold the job's events until it completes, fails, is rejected or cancelled; fetch the book to
        ``output`` when it completes.

        Rejections, failures and cancellations recorded before the submission belong to earlier
        attempts and are ignored; a completion is final whenever it happened, except for a retake
        (``reopens``), which ends at the book built after it.
        """
        tell = on_update or (lambda update: None)
        state = JobState(job_id=submission.job_id)
        baseline_set = noted_assembly = False
        refs = [submission.request_ref] if submission.request_ref else []
        updates = job_events(self.js, submission.job_id, *refs, stream=VIEW, pulled=self.user is not None)
        async with contextlib.aclosing(updates):
            async for seq, event in updates:
                stale = seq <= submission.since_seq and isinstance(event, JobRejected | JobFailed | JobCancelled)
                if not stale:
                    apply(state, event)
                if submission.reopens and seq > submission.since_seq and isinstance(event, JobRejected):
                    return Outcome(replace(state, status=REJECTED, reason=event.reason))  # the retake was refused
                if isinstance(event, BookWarning):
                    for warning in event.warnings:
                        tell(Warned(warning))
                if state.total_segments:
                    first = not baseline_set and seq > submission.since_seq
                    baseline_set = baseline_set or first
                    tell(_progress(state, baseline=first))
                if state.ready_to_assemble and not noted_assembly:
                    tell(_progress(state, final=True))
                    tell(Assembling(state.total_segments))
                    noted_assembly = True
                if state.status in (REJECTED, FAILED, CANCELLED) and not stale:
                    return Outcome(state)
                if state.status == COMPLETED and not (submission.reopens and seq <= submission.since_seq):
                    tell(_progress(state, final=True))
                    if output:
                        await self.download(state.output_object, output)
                    return Outcome(state, output)
        raise AssertionError("the event stream of a job never ends")  # pragma: no cover

    def every_event(self) -> AsyncGenerator[tuple[int, float, Event], None]:
        """Every job's events as (stream sequence, server time, event): the history, then live.
        A dashboard's feed; close it (``contextlib.aclosing``) to stop following."""
        if self.user:
            return events_on(self.js, [user_events_filter(self.user)], VIEW, pulled=True)
        return events_on(self.js, [all_events_filter()], VIEW)

    @translating
    async def download(self, name: str, output: Path) -> None:
        """Write an object of the pipeline's store (a named user's own store) to ``output`` through a
        ``.part`` file (never a half-written book)."""
        store = await (own_store(self.js, self.uploads_bucket) if self.user else object_store(self.js))
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(output.name + ".part")
        with open(partial, "wb") as handle:
            await download_object(store, name, handle)
        partial.replace(output)
