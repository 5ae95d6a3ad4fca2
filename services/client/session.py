"""A session: one NATS connection used as one kind of client, and the one way a request is sent.

Every ``convert.request`` a client sends (a submitted book, a resume, an unpause) goes through
:meth:`Session.send`: a fresh message id and the trace context in its headers, so the book's
trace starts at whoever asked for it, the CLI, the dashboard or a script.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import orjson
from nats.aio.client import Client
from nats.js import JetStreamContext
from opentelemetry.trace import Span

from events import names
from events.requests import ConvertRequest, request_ref
from services.bus.connect import connect_client, user_of
from services.bus.publish import last_seq_on
from services.bus.tracing import send_span, span
from services.client.translation import translated
from services.settings import Settings

VIEW_WAIT_S = 2.0  # a read waits at most this long for the clients' view of the events to catch up

__all__ = ["Session", "Submission", "open_connection"]


@dataclass(frozen=True)
class Submission:
    """A request on its way: the job it names, its reference (a request that never becomes a job is
    answered under it) and the events stream's last sequence before it (earlier ends are history).

    ``sent`` is False when the verb's rule sent nothing (resuming a completed job): following it
    still ends at the job's end. ``reopens``: the request asks a completed job for new takes, so
    its earlier completion is history too, and following it ends at the next one.
    """

    job_id: str
    request_ref: str | None
    since_seq: int
    sent: bool = True
    reopens: bool = False


async def open_connection(url: str, settings: Settings, origin: str = "script") -> Client:
    """Connect as a client (fail fast, then reconnect for a minute), named ``audiobook-<origin>``;
    ``Unreachable`` when no server answers or it refuses the credentials."""
    with translated():
        return await connect_client(url, settings, name=f"audiobook-{origin}")


class Session:
    """A connection used as one kind of client: ``origin`` names it in message ids and spans."""

    def __init__(self, nc: Client, origin: str = "script") -> None:
        self.nc, self.origin = nc, origin
        self.user = user_of(nc)  # a named user (``audiobook user add``): their own jobs, store and inbox

    @property
    def uploads_bucket(self) -> str:
        """Where this client's uploads go, and its finished books come from (a named user's own store)."""
        return names.user_bucket(self.user) if self.user else names.UPLOADS_BUCKET

    @property
    def js(self) -> JetStreamContext:
        return self.nc.jetstream()

    @contextmanager
    def traced(self, verb: str, job_id: str | None = None) -> Iterator[Span]:
        """The one trace context of a verb: everything it publishes is in this span's trace."""
        attributes = {"audiobook.client": self.origin, **({"audiobook.job_id": job_id} if job_id else {})}
        with span(f"audiobook {verb}", attributes) as current:
            yield current

    async def last_seq(self) -> int:
        """The events stream's last sequence now (for a named user: of their own events, as the
        mirror holds them; the log's is not theirs to read)."""
        if self.user:
            return await last_seq_on(self.js, names.EVENTS_VIEW_STREAM, names.user_events_filter(self.user))
        return (await self.js.stream_info(names.EVENTS_STREAM)).state.last_seq

    async def caught_up(self, wait_s: float = VIEW_WAIT_S) -> None:
        """Wait until the clients' view of the events holds everything the log held when asked (a
        moment, as a rule), so a read after a write sees it: a pause, then the job's state. (A
        named user reads the view as it is: they may not read the log's position.)"""
        if self.user:
            return
        target = await self.last_seq()
        deadline = asyncio.get_running_loop().time() + wait_s
        while (await self.js.stream_info(names.EVENTS_VIEW_STREAM)).state.last_seq < target:
            if asyncio.get_running_loop().time() > deadline:
                return  # a view that lags this far is read as it is
            await asyncio.sleep(0.02)

    async def send_stop(self, job_id: str, pause: bool, reason: str) -> Submission:
        """A named user's ``convert.stop.<user>``: parse cancels (or pauses) their job for them."""
        assert self.user is not None
        raw = orjson.dumps({"job_id": job_id, "action": "pause" if pause else "cancel", "reason": reason[:200]})
        since = await self.last_seq()
        with send_span(names.STOP_PREFIX, f"{self.origin}:{uuid.uuid4()}") as headers:
            await self.js.publish(names.stop_subject(self.user), raw, headers=headers)
        return Submission(job_id, request_ref(raw, self.user), since)

    async def send(self, request: ConvertRequest, job_id: str) -> Submission:
        """Publish a request with a fresh message id and the current trace context in its headers."""
        raw = request.encode()
        since = await self.last_seq()
        subject = names.request_subject(self.user)
        with send_span(names.REQUEST_SUBJECT, f"{self.origin}:{uuid.uuid4()}") as headers:
            await self.js.publish(subject, raw, headers=headers)
        return Submission(job_id, request_ref(raw, self.user), since)
