"""Job verbs: submit a book (with its upload), status, cancel, resume/retry, retake, pause and unpause a job.

Each verb reads the job from its log, applies its one rule (``guards``) and acts in one trace.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from pathlib import Path

from events import names
from events.names import EVENTS_VIEW_STREAM as VIEW
from events.projection import JobState
from events.requests import ConvertRequest, job_id_for, resume_request
from events.types import DeadLetter, JobCancelled, JobPaused, JobRejected, SegmentChecked
from services.bus.jobs import dead_letters, job_events, known_jobs, rebuild_state, segment_verdicts, users_jobs
from services.bus.stopping import stop_job
from services.bus.uploads import sha256_file, upload, upload_book
from services.client import guards
from services.client.errors import JobNotFound, JobStateError, NoAnswer
from services.client.session import Session, Submission
from services.client.translation import translating

__all__ = ["DeadLetters", "JobVerbs", "speaker_upload_name"]


STOP_WAIT_S = 30.0  # how long a named user's cancel or pause waits to see parse carry it out


def speaker_upload_name(sha256: str) -> str:
    """The uploads-store name of a reader's recording (``speaker-<sha256>.wav``)."""
    return f"speaker-{sha256}.wav"


@dataclass(frozen=True)
class DeadLetters:
    """How many messages the stages gave up on, and the latest few records."""

    count: int
    latest: list[DeadLetter]


class JobVerbs(Session):
    """What a client does to jobs."""

    @translating
    async def submit(self, book: Path, request: ConvertRequest | None = None, speaker: Path | None = None
                     ) -> Submission:
        """Upload ``book`` (and the reader's recording ``speaker``), then ask for its conversion.

        ``request`` carries the choices (engine, voice, language, chapters, ...); its source,
        speaker and request id are set here. The job id is computed from the book's content and
        the choices, as the parse service computes it.
        """
        request = request or ConvertRequest()
        guards.existing_file(book)
        speaker_sha = sha256_file(guards.existing_file(speaker)) if speaker is not None else None
        if speaker_sha:
            request = replace(request, speaker_object=speaker_upload_name(speaker_sha))
        sha = sha256_file(book)
        job_id = job_id_for(sha, request.engine, request.voice, request.speed, request.language, speaker_sha,
                            request.chapters, request.pauses, request.lexicon, request.read_along, self.user)
        with self.traced("submit", job_id):
            source = await upload_book(self.js, book, sha, self.uploads_bucket)
            if speaker is not None and request.speaker_object:
                await upload(self.js, speaker, request.speaker_object, self.uploads_bucket)
            return await self.send(replace(request, source_path=None, source_object=source, request_id=job_id),
                                   job_id)

    @translating
    async def job(self, job_id: str) -> JobState:
        """A job's state, folded from its log; ``JobNotFound`` if it has none (or, for a named user,
        if it is not theirs: its events are not theirs to read)."""
        if self.user and names.owner_of(job_id) != self.user:
            raise JobNotFound(f"no job {job_id!r} among yours (see `audiobook status`)")
        await self.caught_up()
        return guards.known(await rebuild_state(self.js, job_id, VIEW), job_id)

    @translating
    async def verdicts(self, job_id: str) -> list[SegmentChecked]:
        """What the check heard in each checked segment of a job (the latest verdict), in reading order."""
        await self.job(job_id)
        return await segment_verdicts(self.js, job_id, VIEW)

    @translating
    async def jobs(self) -> list[JobState]:
        """Every job in the store (a named user's: their own), oldest first (a subject with nothing
        readable on it is no job)."""
        await self.caught_up()
        found = await (users_jobs(self.js, self.user) if self.user else known_jobs(self.js, VIEW))
        states = [await rebuild_state(self.js, job_id, VIEW) for job_id in found]
        return [state for state in states if state.status]

    @translating
    async def dead_letters(self, latest: int = 5) -> DeadLetters:
        """How many messages the stages gave up on, and the ``latest`` few, oldest first (none for a
        named user: the records are anyone's; their own jobs' failures are in their events)."""
        if self.user:
            return DeadLetters(0, [])
        return DeadLetters(*await dead_letters(self.js, latest))

    @translating
    async def resume(self, job_id: str) -> tuple[JobState, Submission]:
        """Ask for the job again: done segments are kept, failed and missing ones queued (``retry`` too).

        Returns the job and its submission; for a completed job nothing is sent (``sent`` is False,
        see ``guards``), and following it fetches the finished book.
        """
        state = await self.job(job_id)
        if not guards.resume_sends(state):
            return state, Submission(job_id, None, await self.last_seq(), sent=False)
        with self.traced("resume", job_id):
            return state, await self.send(resume_request(state, job_id), job_id)

    @translating
    async def retake(self, job_id: str, positions: tuple[tuple[int, int], ...]) -> tuple[JobState, Submission]:
        """Ask a completed job for new takes of some segments ((chapter, index), zero-based): they
        are synthesized again (the cache's audio is what is being replaced) and the book is rebuilt."""
        state = await self.job(job_id)
        guards.check_retake(state, positions)
        with self.traced("retake", job_id):
            submission = await self.send(replace(resume_request(state, job_id), retake=positions), job_id)
        return state, replace(submission, reopens=True)

    @translating
    async def cancel(self, job_id: str, reason: str = "cancelled by the user") -> int | None:
        """Record the job cancelled and drop its queued segments; returns how many were dropped (None
        for a named user: parse stops their job for them, and the queue is not theirs to count)."""
        state = await self.job(job_id)
        guards.check_cancel(state)
        with self.traced("cancel", job_id):
            if self.user:
                await self._stop_as_user(state, pause=False, reason=reason)
                return None
            return await stop_job(self.js, JobCancelled(job_id=job_id, reason=reason, generation=state.generation))

    @translating
    async def pause_job(self, job_id: str, reason: str = "paused by the user") -> int | None:
        """Record the job paused and set its queued segments aside (done ones are kept); returns how many
        (None for a named user, as for :meth:`cancel`)."""
        state = await self.job(job_id)
        guards.check_pause(state)
        with self.traced("pause", job_id):
            if self.user:
                await self._stop_as_user(state, pause=True, reason=reason)
                return None
            return await stop_job(self.js, JobPaused(job_id=job_id, reason=reason, generation=state.generation))

    async def _stop_as_user(self, state: JobState, pause: bool, reason: str) -> None:
        """A named user's stop: asked of parse on ``convert.stop.<user>``, and waited for in their log
        (``JobStateError`` with parse's reason if it refuses, as the operator's guards would)."""
        kind = JobPaused if pause else JobCancelled
        submission = await self.send_stop(state.job_id, pause, reason)
        updates = job_events(self.js, state.job_id, *([submission.request_ref] if submission.request_ref else []),
                             stream=VIEW, pulled=True)
        try:
            async with contextlib.aclosing(updates), asyncio.timeout(STOP_WAIT_S):
                async for seq, event in updates:
                    if seq <= submission.since_seq:
                        continue
                    if isinstance(event, kind) and event.generation == state.generation:
                        return
                    if isinstance(event, JobRejected) and event.job_id == submission.request_ref:
                        raise JobStateError(event.reason)
        except TimeoutError:
            raise NoAnswer(f"the stop of {state.job_id} was sent, and the parse service did not carry it out "
                           f"within {STOP_WAIT_S:.0f} s (is it running?)") from None

    @translating
    async def unpause_job(self, job_id: str) -> Submission:
        """Ask for a paused job again: what is not done is queued in a new generation."""
        state = await self.job(job_id)
        guards.check_unpause(state)
        with self.traced("unpause", job_id):
            return await self.send(resume_request(state, job_id), job_id)
