"""One fold per event kind: how each event changes a job's state (pure, idempotent per event).

``fold_event(event, state)`` dispatches on the event's type (``functools.singledispatch``);
a new event kind adds one registered function here. Each fold returns the new state: for
speed on books of 100,000 segments it is the given state, updated in place.
"""

from __future__ import annotations

from functools import singledispatch

from events.names import book_object
from events.state import ChapterState, JobState, JobStatus
from events.types import (
    BookParsed,
    BookWarning,
    Event,
    JobAccepted,
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobPaused,
    JobRejected,
    JobResumed,
    SegmentFailed,
    SegmentSynthesized,
)


@singledispatch
def fold_event(event: Event, state: JobState) -> JobState:
    """An event kind that changes nothing in the state."""
    return state


@fold_event.register
def _accepted(event: JobAccepted, state: JobState) -> JobState:
    """The request as asked (a resume repeats it); the voice only until the parse has chosen one."""
    if state.status in (JobStatus.NEW, JobStatus.REJECTED):
        state.status = JobStatus.ACCEPTED
    state.requested_engine, state.requested_voice = event.engine, event.voice
    state.requested_language, state.speed = event.language, event.speed
    state.requested_speaker, state.requested_chapters = event.speaker_sha256, event.chapters
    state.requested_pauses, state.requested_lexicon = event.pauses, event.lexicon
    if not state.voice:
        state.engine, state.voice = event.engine, event.voice
    state.source_sha256, state.source_name = event.source_sha256, event.source_name
    state.source_object = event.source_object
    return state


@fold_event.register
def _warned(event: BookWarning, state: JobState) -> JobState:
    state.warnings = event.warnings
    return state


@fold_event.register
def _parsed(event: BookParsed, state: JobState) -> JobState:
    """The book's metadata; the first parse is the job's: its voice and its chapters."""
    if state.status in (JobStatus.NEW, JobStatus.ACCEPTED):
        state.status = JobStatus.PARSED
    state.title, state.author, state.language = event.title, event.author, event.language
    if not state.chapters:
        if event.voice:
            state.engine, state.voice = event.engine, event.voice
        state.chapters = [ChapterState(title=c.title, total=c.segments) for c in event.chapters]
    return state


@fold_event.register
def _synthesized(event: SegmentSynthesized, state: JobState) -> JobState:
    """A segment is done (counted once however often it is reported); its failure is forgotten."""
    if event.chapter < len(state.chapters):
        chapter = state.chapters[event.chapter]
        if event.index not in chapter.done:
            chapter.done.add(event.index)
            chapter.seconds += event.seconds
            state.synth_seconds += event.synth_seconds
            state.cache_hits += int(event.cache_hit)
        chapter.failed.pop(event.index, None)
    return state


@fold_event.register
def _segment_failed(event: SegmentFailed, state: JobState) -> JobState:
    """A permanent failure of this generation of a segment not done."""
    if event.chapter < len(state.chapters) and event.permanent and event.generation == state.generation:
        chapter = state.chapters[event.chapter]
        if event.index not in chapter.done:
            chapter.failed[event.index] = event.reason
    return state


@fold_event.register
def _completed(event: JobCompleted, state: JobState) -> JobState:
    """Only a completion that names the job's own book counts."""
    if event.output_object == book_object(event.job_id):
        state.status, state.output_object = JobStatus.COMPLETED, event.output_object
        if event.loudness_lufs is not None:  # a re-announcement may not repeat the measurement
            state.loudness_lufs, state.true_peak_dbtp = event.loudness_lufs, event.true_peak_dbtp
    return state


@fold_event.register
def _failed(event: JobFailed, state: JobState) -> JobState:
    if state.status != JobStatus.COMPLETED and event.generation == state.generation:
        state.status, state.reason = JobStatus.FAILED, event.reason
    return state


@fold_event.register
def _rejected(event: JobRejected, state: JobState) -> JobState:
    if state.status in (JobStatus.NEW, JobStatus.ACCEPTED, JobStatus.REJECTED):
        state.status, state.reason = JobStatus.REJECTED, event.reason
    return state


@fold_event.register
def _cancelled(event: JobCancelled, state: JobState) -> JobState:
    if state.status != JobStatus.COMPLETED and event.generation == state.generation:
        state.status, state.reason = JobStatus.CANCELLED, event.reason
    return state


@fold_event.register
def _paused(event: JobPaused, state: JobState) -> JobState:
    if state.status in (JobStatus.ACCEPTED, JobStatus.PARSED) and event.generation == state.generation:
        state.status, state.reason = JobStatus.PAUSED, event.reason
    return state


@fold_event.register
def _resumed(event: JobResumed, state: JobState) -> JobState:
    """A newer generation begins: a stopped job runs again, its failed segments are tried again."""
    if event.generation <= state.generation:
        return state
    state.generation = event.generation
    if state.status in (JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.PAUSED):
        state.status, state.reason = (JobStatus.PARSED if state.chapters else JobStatus.ACCEPTED), ""
    for chapter in state.chapters:
        chapter.failed.clear()
    return state
