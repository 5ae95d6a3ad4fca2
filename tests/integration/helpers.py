"""Helpers for integration tests: run services in-process, read a job's events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from nats.js import JetStreamContext

from events import names
from events.projection import JobState, fold
from events.types import Event
from services.app.serve import serve
from services.bus.jobs import event_of
from services.bus.publish import replay
from services.settings import Settings


@contextlib.asynccontextmanager
async def running(roles: list[str], settings: Settings) -> AsyncIterator[asyncio.Task[None]]:
    """Run service roles in this event loop until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(roles, settings, stop=stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def job_events(js: JetStreamContext, job_id: str) -> list[Event]:
    """A job's valid events, read as the services read them (garbage and misplaced events skipped)."""
    events = (event_of(m) for m in await replay(js, names.EVENTS_STREAM, names.job_events_filter(job_id)))
    return [e for e in events if e is not None]


async def job_state(js: JetStreamContext, job_id: str) -> JobState:
    return fold(job_id, await job_events(js, job_id))


async def all_events(js: JetStreamContext) -> list[Event]:
    events = (event_of(m) for m in await replay(js, names.EVENTS_STREAM, names.all_events_filter()))
    return [e for e in events if e is not None]
