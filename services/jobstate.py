"""Read a job's state: the fold of its events (the truth) and what is queued for it."""

from __future__ import annotations

import logging

from nats.js import JetStreamContext

from events import names
from events.codec import DecodeError, decode_event
from events.projection import JobState, apply
from services.bus import replay

log = logging.getLogger(__name__)


async def rebuild_state(js: JetStreamContext, job_id: str) -> JobState:
    """A job's state from nothing but its event log."""
    state = JobState(job_id=job_id)
    for msg in await replay(js, names.EVENTS_STREAM, names.job_events_filter(job_id)):
        try:
            apply(state, decode_event(msg.data), msg.metadata.sequence.stream)
        except DecodeError as exc:
            log.error("job %s: skipping undecodable event: %s", job_id, exc)
    return state


async def queued_segments(js: JetStreamContext, job_id: str) -> set[tuple[int, int]]:
    """(chapter, index) of every segment job of ``job_id`` still in the work queue (or in flight)."""
    prefix = f"{names.SYNTH_PREFIX}.{job_id}."
    info = await js.stream_info(names.SYNTH_STREAM, subjects_filter=prefix + ">")
    queued = set()
    for subject in (info.state.subjects or {}):
        chapter, index = subject[len(prefix):].split(".")
        queued.add((int(chapter), int(index)))
    return queued


async def purge_job_queue(js: JetStreamContext, job_id: str) -> int:
    """Drop every queued segment job of ``job_id``; returns how many there were."""
    count = len(await queued_segments(js, job_id))
    await js.purge_stream(names.SYNTH_STREAM, subject=f"{names.SYNTH_PREFIX}.{job_id}.>")
    return count


async def known_jobs(js: JetStreamContext) -> list[str]:
    """Every job id (and rejected request reference) that has events in the log, oldest first."""
    info = await js.stream_info(names.EVENTS_STREAM, subjects_filter=f"{names.EVENTS_PREFIX}.*.job.>")
    seen: dict[str, None] = {}
    for subject in sorted(info.state.subjects or {}):
        seen.setdefault(subject.split(".")[1], None)
    return list(seen)
