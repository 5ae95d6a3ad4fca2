"""Thin NATS adapter: connect, publish events with deterministic ids, the one pull loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from events.codec import encode
from events.names import EVENTS_STREAM, event_subject
from events.types import Event, SynthesizeSegment
from services.settings import Settings
from services.tracing import inject_headers

log = logging.getLogger(__name__)
MSG_ID = "Nats-Msg-Id"
FETCH_ERRORS = (asyncio.TimeoutError, nats.errors.TimeoutError)
TRANSIENT = (asyncio.TimeoutError, nats.errors.Error, ConnectionError)


async def connect(settings: Settings, name: str) -> Client:
    """Connect for a long-running service: reconnect forever."""
    return await nats.connect(
        settings.nats_url or "nats://127.0.0.1:4222",
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        user=settings.nats_user,
        password=settings.nats_password,
    )


async def publish_event(js: JetStreamContext, event: Event) -> None:
    """Publish an event on its job's subject; a repeat of the same fact is deduplicated."""
    subject = event_subject(event.job_id, event.KIND)
    headers = inject_headers({MSG_ID: event.msg_id()})
    await js.publish(subject, encode(event), headers=headers)


async def publish_command(js: JetStreamContext, subject: str, command: SynthesizeSegment) -> None:
    headers = inject_headers({MSG_ID: command.msg_id()})
    await js.publish(subject, encode(command), headers=headers)


async def last_event(js: JetStreamContext, job_id: str, kind: str) -> bytes | None:
    """Payload of the latest event of ``kind`` for a job, or None."""
    try:
        msg = await js.get_last_msg(EVENTS_STREAM, event_subject(job_id, kind))
    except NotFoundError:
        return None
    return msg.data


async def fetched(fetch: Awaitable[list[Msg]], stop: asyncio.Event) -> list[Msg]:
    """The messages of one fetch; none on a timeout, or while the server restarts (after a pause).

    A closed connection is re-raised unless the service is stopping.
    """
    try:
        return await fetch
    except FETCH_ERRORS:
        return []
    except (nats.errors.ConnectionClosedError, nats.errors.NoServersError):
        if stop.is_set():
            return []
        raise
    except nats.errors.Error as exc:  # server unavailable mid-restart: wait and retry
        log.warning("fetch failed (%s); retrying", exc)
        await asyncio.sleep(0.5)
        return []


async def pull_loop(
    sub: JetStreamContext.PullSubscription,
    handle: Callable[[list[Msg]], Awaitable[None]],
    stop: asyncio.Event,
    batch: int = 1,
    timeout: float = 1.0,
) -> None:
    """The one canonical pull loop: bounded fetch, only timeouts and reconnects suppressed."""
    while not stop.is_set():
        msgs = await fetched(sub.fetch(batch, timeout=timeout), stop)
        if not msgs:
            continue
        try:
            await handle(msgs)
        except TRANSIENT as exc:  # e.g. the server restarting mid-message: it will be redelivered
            log.warning("lost contact while handling %d message(s) (%s); continuing", len(msgs), exc)
            await asyncio.sleep(0.5)


def delivery_count(msg: Msg) -> int:
    meta: Any = msg.metadata
    return int(meta.num_delivered or 1)


async def replay(js: JetStreamContext, stream: str, subject: str, batch: int = 500) -> list[Msg]:
    """Every message on ``subject`` now in ``stream``, in order (an ephemeral pull consumer)."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE,
                            filter_subject=subject, inactive_threshold=30.0)
    sub = await js.pull_subscribe(subject, stream=stream, config=config)
    try:
        pending = (await sub.consumer_info()).num_pending or 0
        out: list[Msg] = []
        while len(out) < pending:
            try:
                out.extend(await sub.fetch(min(batch, pending - len(out)), timeout=2.0))
            except FETCH_ERRORS:
                break
        return out
    finally:
        await sub.unsubscribe()
