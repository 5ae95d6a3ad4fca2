"""Job queries over the log and the queue, and the live read side (pure fold, read through NATS).

Every reader of job state (the assembler's checkpoints, `audiobook status`, the CLI's progress
bar, the dashboard) folds the same events with ``events.projection.apply``: the log is the
truth and the readers never disagree.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from events import names
from events.codec import DecodeError, decode_event
from events.projection import JobState, apply
from events.types import Event
from services.bus.publish import replay

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
    info = await js.stream_info(names.SYNTH_STREAM, subjects_filter=names.job_synth_filter(job_id))
    positions = (names.synth_position(subject, job_id) for subject in (info.state.subjects or {}))
    return {p for p in positions if p is not None}


async def purge_job_queue(js: JetStreamContext, job_id: str) -> int:
    """Drop every queued segment job of ``job_id``; returns how many there were."""
    count = len(await queued_segments(js, job_id))
    await js.purge_stream(names.SYNTH_STREAM, subject=names.job_synth_filter(job_id))
    return count


async def known_jobs(js: JetStreamContext) -> list[str]:
    """Every job id (and rejected request reference) that has events in the log, oldest first."""
    info = await js.stream_info(names.EVENTS_STREAM, subjects_filter=f"{names.EVENTS_PREFIX}.*.job.>")
    seen: dict[str, None] = {}
    for subject in sorted(info.state.subjects or {}):
        seen.setdefault(subject.split(".")[1], None)
    return list(seen)


async def job_events(js: JetStreamContext, *job_ids: str) -> AsyncGenerator[tuple[int, Event], None]:
    """The events of the given jobs as (stream sequence, event): the history, then live, forever.

    Undecodable messages are skipped. The read side of every live view: fold what it yields
    with ``events.projection.apply``.
    """
    queue: asyncio.Queue[Msg] = asyncio.Queue()

    async def on_message(msg: Msg) -> None:
        await queue.put(msg)

    subs = [await js.subscribe(names.job_events_filter(job), cb=on_message, ordered_consumer=True,
                               deliver_policy=DeliverPolicy.ALL) for job in job_ids]
    try:
        while True:
            msg = await queue.get()
            try:
                event = decode_event(msg.data)
            except DecodeError as exc:
                log.warning("skipping undecodable event on %s: %s", msg.subject, exc)
                continue
            yield msg.metadata.sequence.stream, event
    finally:
        for sub in subs:
            await sub.unsubscribe()
