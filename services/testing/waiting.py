"""The one poller and the one event reader of the tests and the benchmarks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.js import JetStreamContext

from events import names
from events.projection import JobState, fold
from events.types import Event, JobAccepted
from services.bus.connect import server_urls
from services.bus.jobs import event_of
from services.bus.publish import replay

T = TypeVar("T")
# what a read may raise while a server restarts or a cluster elects leaders: try again
UNREACHABLE: tuple[type[BaseException], ...] = (TimeoutError, OSError, nats.errors.Error)


async def wait_for(predicate: Callable[[], Awaitable[T | None]], timeout: float = 30.0, every: float = 0.05, *,
                   retry: tuple[type[BaseException], ...] = ()) -> T:
    """Poll an async predicate until it returns something truthy, and return that.

    ``retry``: exceptions that mean "not yet" (:data:`UNREACHABLE`, say). Raises AssertionError
    when ``timeout`` seconds pass first (``math.inf``: wait for ever).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            value = await predicate()
        except retry:
            value = None
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(every)


async def read_events(js: JetStreamContext, subject: str = names.all_events_filter()) -> list[Event]:
    """The events on ``subject`` now in the EVENTS stream, in order, read as the services read
    them: garbage and events on another job's subject are skipped."""
    try:
        messages = await replay(js, names.EVENTS_STREAM, subject)
    except nats.js.errors.NotFoundError:
        return []  # no stream yet: a stack stopped while starting logged nothing
    events = (event_of(m) for m in messages)
    return [e for e in events if e is not None]


async def accepted_job(js: JetStreamContext, request_id: str) -> str | None:
    """The job a request (by its ``request_id``) was accepted as, once it was; None before."""
    for event in await read_events(js):
        if isinstance(event, JobAccepted) and event.request_id == request_id:
            return event.job_id
    return None


async def job_events(js: JetStreamContext, job_id: str) -> list[Event]:
    """One job's events (:func:`read_events`)."""
    return await read_events(js, names.job_events_filter(job_id))


async def job_state(js: JetStreamContext, job_id: str) -> JobState:
    """One job's state: the fold of its events."""
    return fold(job_id, await job_events(js, job_id))


async def events_at(url: str, subject: str = names.all_events_filter()) -> list[Event]:
    """:func:`read_events` through a connection of its own to the server (or cluster) at ``url``."""
    nc = await nats.connect(server_urls(url))
    try:
        return await read_events(nc.jetstream(), subject)
    finally:
        await nc.close()


async def wait_for_events(url: str, check: Callable[[list[Event]], bool], timeout: float) -> list[Event]:
    """Poll the event log at ``url`` until ``check`` holds (reconnecting through server restarts)
    and return the events that passed."""
    async def passed() -> tuple[list[Event]] | None:
        events = await events_at(url)
        return (events,) if check(events) else None

    (events,) = await wait_for(passed, timeout, retry=UNREACHABLE)
    return events
