"""Publishing with deterministic message ids, replaying a subject, reading the last event."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RawStreamMsg
from nats.js.errors import NotFoundError

from events.codec import encode
from events.errors import PermanentError
from events.names import EVENTS_STREAM, dead_letter_subject, event_subject
from events.types import DeadLetter, Event, SynthesizeSegment
from services.bus.ephemeral import retried
from services.bus.tracing import MSG_ID, send_span

__all__ = ["MSG_ID", "Command", "PayloadTooLarge", "check_size", "last_event", "last_message", "publish_all",
           "publish_command", "publish_dead_letter", "publish_event", "replay"]
COMMAND_WINDOW = 256  # synthesis commands published concurrently (one round trip per window)
FETCH_TIMEOUTS = (asyncio.TimeoutError,)  # nats.errors.TimeoutError derives from it

Command = tuple[str, SynthesizeSegment]  # (subject, command)
HEADER_ROOM = 64  # the server's own framing of a message with headers (NATS/1.0 line, blank line)


class PayloadTooLarge(PermanentError):
    """A message larger than the server accepts: sending it would close the connection, so it is never sent.

    Permanent: the same message is as large next time. The consume loop gives up on what led to it,
    with a dead letter and the stage's failure event.
    """


def check_size(js: JetStreamContext, subject: str, payload: bytes, headers: dict[str, str] | None = None) -> None:
    """Refuse a message the server would not take (payload and headers over its ``max_payload``)."""
    limit = js._nc.max_payload or 1024 * 1024  # the limit the server announced
    size = len(payload) + HEADER_ROOM + sum(len(k) + len(v) + 4 for k, v in (headers or {}).items())
    if size > limit:
        raise PayloadTooLarge(f"a message on {subject} would be {size:,} bytes; the server accepts up to "
                              f"{limit:,} bytes")


async def publish_event(js: JetStreamContext, event: Event) -> None:
    """Publish an event on its job's subject; a repeat of the same fact is deduplicated."""
    subject, payload = event_subject(event.job_id, event.KIND), encode(event)
    with send_span(subject, event.msg_id()) as headers:
        check_size(js, subject, payload, headers)
        await js.publish(subject, payload, headers=headers)


async def publish_command(js: JetStreamContext, subject: str, command: SynthesizeSegment) -> int:
    """Queue one synthesis command (deduplicated by its deterministic id); its sequence in the queue."""
    payload = encode(command)
    with send_span(subject, command.msg_id()) as headers:
        check_size(js, subject, payload, headers)
        return (await js.publish(subject, payload, headers=headers)).seq


async def publish_dead_letter(js: JetStreamContext, stage: str, msg: Msg, reason: str) -> None:
    """Record that ``stage`` gave up on ``msg``, and why (once per original message)."""
    meta = msg.metadata
    await record_dead_letter(js, stage, msg.subject, meta.stream or "", meta.sequence.stream, meta.num_delivered or 1,
                             reason, msg.data)


async def record_dead_letter(js: JetStreamContext, stage: str, subject: str, stream: str, seq: int, delivery: int,
                             reason: str, data: bytes) -> None:
    """Record that ``stage`` gave up on the message ``seq`` of ``stream``, and why (once per message)."""
    letter = DeadLetter(stage=stage, subject=subject, stream=stream, seq=seq, delivery=delivery,
                        reason=reason[:2000], size=len(data), excerpt=data[:200].decode("utf-8", errors="replace"))
    to = dead_letter_subject(stage)
    with send_span(to, letter.msg_id()) as headers:
        await js.publish(to, encode(letter), headers=headers)


async def publish_all(js: JetStreamContext, items: Iterable[Event | Command]) -> None:
    """Publish events and commands in order; runs of commands go out in concurrent windows."""
    window: list[Command] = []

    async def flush() -> None:
        await asyncio.gather(*(publish_command(js, subject, command) for subject, command in window))
        window.clear()

    for item in items:
        if isinstance(item, tuple):
            window.append(item)
            if len(window) >= COMMAND_WINDOW:
                await flush()
            continue
        await flush()
        await publish_event(js, item)
    await flush()


async def last_message(js: JetStreamContext, job_id: str, kind: str) -> RawStreamMsg | None:
    """The latest event message of ``kind`` for a job (payload and headers), or None."""
    try:
        return await js.get_last_msg(EVENTS_STREAM, event_subject(job_id, kind))
    except NotFoundError:
        return None


async def last_event(js: JetStreamContext, job_id: str, kind: str) -> bytes | None:
    """Payload of the latest event of ``kind`` for a job, or None."""
    msg = await last_message(js, job_id, kind)
    return msg.data if msg is not None else None


async def replay(js: JetStreamContext, stream: str, subject: str, batch: int = 500, after: int = 0) -> Sequence[Msg]:
    """Every message on ``subject`` now in ``stream`` (past stream sequence ``after``), in order (an
    ephemeral pull consumer)."""
    config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE if after else DeliverPolicy.ALL,
                            opt_start_seq=after + 1 if after else None, ack_policy=AckPolicy.NONE,
                            filter_subject=subject, inactive_threshold=30.0)
    sub = await retried(lambda: js.pull_subscribe(subject, stream=stream, config=config), f"replaying {subject}")
    try:
        pending = (await sub.consumer_info()).num_pending or 0
        out: list[Msg] = []
        while len(out) < pending:
            try:
                out.extend(await sub.fetch(min(batch, pending - len(out)), timeout=2.0))
            except FETCH_TIMEOUTS:
                break
        return out
    finally:
        await sub.unsubscribe()


async def last_seq_on(js: JetStreamContext, stream: str, subject: str) -> int:
    """The stream sequence of the last message on ``subject`` in ``stream`` (0: none), through a
    consumer whose filter is in its subject (what a named user's permissions allow)."""
    config = ConsumerConfig(deliver_policy=DeliverPolicy.LAST, ack_policy=AckPolicy.NONE, filter_subject=subject,
                            inactive_threshold=10.0, mem_storage=True)
    sub = await retried(lambda: js.pull_subscribe(subject, stream=stream, config=config), f"reading {subject}")
    try:
        if not (await sub.consumer_info()).num_pending:
            return 0
        msgs = await sub.fetch(1, timeout=2.0)
        return msgs[0].metadata.sequence.stream if msgs else 0
    except FETCH_TIMEOUTS:
        return 0
    finally:
        await sub.unsubscribe()
