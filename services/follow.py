"""Follow one job on the bus: fold its events live, show progress, fetch the finished book."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from events import names
from events.codec import DecodeError, decode_event
from events.projection import CANCELLED, COMPLETED, FAILED, REJECTED, JobState, apply
from events.types import JobCancelled, JobFailed, JobRejected
from services.progress import ProgressBar
from services.topology import object_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    state: JobState
    output: Path | None = None

    @property
    def ok(self) -> bool:
        return self.state.status == COMPLETED


async def follow_job(
    js: JetStreamContext, job_id: str, request_ref: str | None, since_seq: int,
    output: Path | None, progress: ProgressBar | None,
) -> Outcome:
    """Fold the job's events (history, then live) until it completes, fails or is rejected.

    Rejections, failures and cancellations recorded before ``since_seq`` belong to earlier
    attempts and are ignored; a completion is final whenever it happened.
    """
    queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()

    async def on_message(msg: object) -> None:
        await queue.put((msg.metadata.sequence.stream, msg.data))  # type: ignore[attr-defined]

    subjects = [names.job_events_filter(job_id)] + ([names.job_events_filter(request_ref)] if request_ref else [])
    subs = [await js.subscribe(s, cb=on_message, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
            for s in subjects]
    state = JobState(job_id=job_id)
    baseline_set = False
    noted_assembly = False
    try:
        while True:
            seq, data = await queue.get()
            try:
                event = decode_event(data)
            except DecodeError as exc:
                log.warning("skipping undecodable event: %s", exc)
                continue
            stale = seq <= since_seq and isinstance(event, (JobRejected, JobFailed, JobCancelled))
            if not stale:
                apply(state, event)
            if progress and state.total_segments:
                if not baseline_set and seq > since_seq:
                    progress.baseline(state.done_segments)
                    baseline_set = True
                progress.update(state.done_segments, state.total_segments, state.audio_seconds,
                                label=state.title[:30])
            if progress and state.ready_to_assemble and not noted_assembly:
                progress.update(state.done_segments, state.total_segments, state.audio_seconds,
                                label=state.title[:30], force=True)
                progress.note(f"all {state.total_segments} segments done; building the audiobook")
                noted_assembly = True
            if state.status in (REJECTED, FAILED, CANCELLED) and not stale:
                return Outcome(state)
            if state.status == COMPLETED:
                if progress:
                    progress.update(state.done_segments, state.total_segments, state.audio_seconds,
                                    label=state.title[:30], force=True)
                if output:
                    store = await object_store(js)
                    output.parent.mkdir(parents=True, exist_ok=True)
                    partial = output.with_name(output.name + ".part")
                    with open(partial, "wb") as handle:
                        await store.get(state.output_object, writeinto=handle)
                    partial.replace(output)
                return Outcome(state, output)
    finally:
        for sub in subs:
            await sub.unsubscribe()
        if progress:
            progress.close()
