"""Stop one job, for good (cancel) or until it is resumed (pause): an event, then its queue dropped.

Both are facts on the log first; the assembler also drops the queue when it folds one (for a
script that only publishes the event). Workers drop a stopped job's segments they already hold.
A resume request (``events.requests.resume_request``) continues either in the next generation.
"""

from __future__ import annotations

from nats.js import JetStreamContext

from events.types import JobCancelled, JobPaused
from services.bus.jobs import purge_job_queue
from services.bus.publish import publish_event


async def stop_job(js: JetStreamContext, event: JobCancelled | JobPaused) -> int:
    """Publish the cancellation or pause, then drop the job's queued segments; returns how many."""
    await publish_event(js, event)
    return await purge_job_queue(js, event.job_id)
