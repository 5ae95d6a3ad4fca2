"""Job queries over the log and the queue, and the live read side (pure fold, read through NATS).

Every reader of job state (the assembler's checkpoints, `audiobook status`, the CLI's progress
bar, the dashboard) folds the same events with ``events.projection.apply``: the log is the
truth and the readers never disagree.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from events import names
from events.codec import DecodeError, decode_dead_letter, decode_event
from events.projection import SNAPSHOT_ERRORS, JobState, Tracked, from_snapshot
from events.state import CHECK_SERVED
from events.tickets import holds_ticket
from events.types import DeadLetter, Event, SegmentChecked
from services.bus.ephemeral import retried
from services.bus.publish import FETCH_TIMEOUTS, replay
from services.voices import LISTED_ENGINES

log = logging.getLogger(__name__)


def event_of(msg: Msg) -> Event | None:
    """The event a message carries, if it is a valid event on its own subject; else None (logged).

    An event counts only where it belongs: ``events.<its job>.<its kind>``. A message on one
    job's subject cannot change another job, and garbage is skipped, never folded.
    """
    try:
        event = decode_event(msg.data)
    except DecodeError as exc:
        log.warning("skipping undecodable event on %s: %s", msg.subject, exc)
        return None
    subject = names.event_subject(event.job_id, event.KIND)
    if msg.subject not in (subject, names.viewed(subject)):  # the log's subject, or the clients' mirror's
        log.warning("skipping a %s event for job %s published on %s", event.KIND, event.job_id, msg.subject)
        return None
    return event


async def rebuild(js: JetStreamContext, job_id: str, tracked: Tracked | None = None,
                  stream: str = names.EVENTS_STREAM, key: str | None = None) -> Tracked:
    """A job's state from nothing but its event log, tracked up to the last event folded; with
    ``tracked``, that state brought up to date with the events after it. ``stream``: EVENTS, or
    the clients' mirror of it (EVENTS_VIEW: a moment behind). ``key``: the core's command key,
    so segment events without their command's ticket are left out (events.tickets)."""
    tracked = tracked or Tracked(JobState(job_id=job_id))
    for msg in await replay(js, stream, on(stream, names.job_events_filter(job_id)), after=tracked.seq):
        event = event_of(msg)
        if event is not None and holds_ticket(event, key):
            tracked.apply(event, msg.metadata.sequence.stream)
    return tracked


async def checkpointed(js: JetStreamContext, kv: KeyValue, job_id: str,
                       key: str | None = None) -> tuple[Tracked, int | None]:
    """A job's state from the assembler's checkpoint, and the checkpoint's revision; folded from the
    log (:func:`rebuild`, ``key`` as there) when it has none, or one that is empty, of an older
    release or unreadable (the revision is then that entry's, None when there is no entry)."""
    try:
        entry = await kv.get(job_id)
    except KeyNotFoundError:
        return await rebuild(js, job_id, key=key), None
    try:
        return from_snapshot(entry.value or b""), entry.revision
    except SNAPSHOT_ERRORS:
        return await rebuild(js, job_id, key=key), entry.revision


async def segment_verdicts(js: JetStreamContext, job_id: str,
                           stream: str = names.EVENTS_STREAM) -> list[SegmentChecked]:
    """The check's latest verdict on each heard segment of a job, in reading order."""
    latest: dict[tuple[int, int], SegmentChecked] = {}
    for msg in await replay(js, stream, on(stream, names.event_subject(job_id, SegmentChecked.KIND))):
        event = event_of(msg)
        if isinstance(event, SegmentChecked):
            latest[(event.chapter, event.index)] = event
    return [latest[key] for key in sorted(latest)]


async def rebuild_state(js: JetStreamContext, job_id: str, stream: str = names.EVENTS_STREAM) -> JobState:
    """A job's state from nothing but its event log."""
    return (await rebuild(js, job_id, stream=stream)).state


async def queued_segments(js: JetStreamContext, job_id: str) -> set[tuple[int, int]]:
    """(chapter, index) of every segment job of ``job_id`` still in the work queue (or in flight)."""
    info = await js.stream_info(names.SYNTH_STREAM, subjects_filter=names.job_synth_filter(job_id))
    positions = (names.synth_position(subject, job_id) for subject in (info.state.subjects or {}))
    return {p for p in positions if p is not None}


@dataclass(frozen=True)
class QueueDepth:
    """One engine's work queue, from its consumer: waiting, in a worker's hands, delivered again."""

    engine: str
    pending: int
    in_flight: int
    redelivered: int
    paused: bool = False


async def queue_depths(js: JetStreamContext) -> list[QueueDepth]:
    """Every engine's queue (engines whose consumer does not exist yet are left out)."""
    out = []
    for engine in LISTED_ENGINES:
        try:
            info = await js.consumer_info(names.SYNTH_STREAM, names.engine_consumer(engine))
        except NotFoundError:
            continue
        out.append(QueueDepth(engine, info.num_pending or 0, info.num_ack_pending or 0, info.num_redelivered or 0,
                              bool(info.paused)))
    return out


def served_engines(fleet_status: list[dict[str, object]]) -> set[str]:
    """Engines that at least one live tts worker serves, from the control plane's status replies,
    and ``CHECK_SERVED`` when a check worker answers too."""
    served: set[str] = set()
    for item in fleet_status:
        engines = item.get("engines")
        if item.get("role") == "tts" and isinstance(engines, list):
            served.update(str(engine) for engine in engines)
        elif item.get("role") == "check":
            served.add(CHECK_SERVED)
    return served


async def purge_job_queue(js: JetStreamContext, job_id: str) -> int:
    """Drop every queued segment job of ``job_id``; returns how many there were."""
    count = len(await queued_segments(js, job_id))
    await js.purge_stream(names.SYNTH_STREAM, subject=names.job_synth_filter(job_id))
    return count


async def known_jobs(js: JetStreamContext, stream: str = names.EVENTS_STREAM) -> list[str]:
    """Every job id (and rejected request reference) that has events in the log (in the mirror,
    named users' jobs too)."""
    filters = [f"{names.EVENTS_PREFIX}.*.job.>"]
    if stream == names.EVENTS_VIEW_STREAM:
        filters.append(f"{names.EVENTS_PREFIX}.*.*.job.>")  # a named user's job, split by the mirror
    seen: dict[str, None] = {}
    for subject_filter in filters:
        info = await js.stream_info(stream, subjects_filter=subject_filter)
        for subject in sorted(info.state.subjects or {}):
            tokens = subject.split(".")
            seen.setdefault(names.OWNER_MARK.join(tokens[1:-2]), None)
    return list(seen)


async def users_jobs(js: JetStreamContext, user: str) -> list[str]:
    """A named user's jobs (and rejected requests), oldest first: read from their own events in the
    mirror (their permissions allow no listing of its subjects)."""
    seen: dict[str, None] = {}
    for msg in await replay(js, names.EVENTS_VIEW_STREAM, f"{names.EVENTS_PREFIX}.{user}.*.job.>"):
        seen.setdefault(names.owned(user, msg.subject.split(".")[2]), None)
    return list(seen)


def on(stream: str, subject: str) -> str:
    """``subject`` as ``stream`` holds it: the clients' mirror splits a named user's job token."""
    return names.viewed(subject) if stream == names.EVENTS_VIEW_STREAM else subject


async def job_events(js: JetStreamContext, *job_ids: str, stream: str = names.EVENTS_STREAM,
                     pulled: bool = False) -> AsyncGenerator[tuple[int, Event], None]:
    """The events of the given jobs as (stream sequence, event): the history, then live, forever.

    Undecodable messages are skipped. The read side of every live view: fold what it yields
    with ``events.projection.apply``.
    """
    inner = events_on(js, [on(stream, names.job_events_filter(job)) for job in job_ids], stream, pulled)
    async with contextlib.aclosing(inner):  # its subscriptions end with this generator, not at GC
        async for seq, _, event in inner:
            yield seq, event


async def events_on(js: JetStreamContext, subjects: list[str], stream: str = names.EVENTS_STREAM,
                    pulled: bool = False) -> AsyncGenerator[tuple[int, float, Event], None]:
    """Every valid event on ``subjects`` as (stream sequence, server time, event): history, then live.

    ``pulled``: through named pull consumers, whose filter is in the subject the server checks (a
    named user's permissions allow no other); else ordered push consumers."""
    if pulled:
        async with contextlib.aclosing(_pulled(js, subjects, stream)) as pulled_events:
            async for item in pulled_events:
                yield item
        return
    queue: asyncio.Queue[Msg] = asyncio.Queue()

    async def on_message(msg: Msg) -> None:
        await queue.put(msg)

    subs = [await retried(lambda subject=subject: js.subscribe(  # type: ignore[misc]
                subject, stream=stream, cb=on_message, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL),
                f"following {subject}") for subject in subjects]
    try:
        while True:
            msg = await queue.get()
            event = event_of(msg)
            if event is not None:
                yield msg.metadata.sequence.stream, msg.metadata.timestamp.timestamp(), event
    finally:
        for sub in subs:
            await sub.unsubscribe()


PULL_BATCH = 256


async def _pulled(js: JetStreamContext, subjects: list[str],
                  stream: str) -> AsyncGenerator[tuple[int, float, Event], None]:
    """:func:`events_on` through one pull consumer per subject, in stream order across them; a
    consumer the server lost (idle, restarted) is made again after the last message read."""
    last = 0
    subs: dict[str, JetStreamContext.PullSubscription] = {}

    async def subscribe(subject: str) -> JetStreamContext.PullSubscription:
        config = ConsumerConfig(ack_policy=AckPolicy.NONE, filter_subject=subject, inactive_threshold=60.0,
                                mem_storage=True, deliver_policy=DeliverPolicy.BY_START_SEQUENCE if last
                                else DeliverPolicy.ALL, opt_start_seq=last + 1 if last else None)
        return await retried(lambda: js.pull_subscribe(subject, stream=stream, config=config), f"following {subject}")

    try:
        for subject in subjects:
            subs[subject] = await subscribe(subject)
        while True:
            batch: list[Msg] = []
            for subject, sub in list(subs.items()):
                try:
                    batch.extend(await sub.fetch(PULL_BATCH, timeout=0.05 if batch else 1.0 / len(subs)))
                except FETCH_TIMEOUTS:
                    continue
                except NotFoundError:  # its consumer is gone: made again past what was read
                    await sub.unsubscribe()
                    subs[subject] = await subscribe(subject)
            for msg in sorted(batch, key=lambda m: m.metadata.sequence.stream):
                last = max(last, msg.metadata.sequence.stream)
                event = event_of(msg)
                if event is not None:
                    yield msg.metadata.sequence.stream, msg.metadata.timestamp.timestamp(), event
    finally:
        for sub in subs.values():
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


async def dead_letters(js: JetStreamContext, latest: int = 5) -> tuple[int, list[DeadLetter]]:
    """How many messages the stages gave up on, and the ``latest`` few records, oldest first."""
    try:
        state = (await js.stream_info(names.DEAD_STREAM)).state
    except NotFoundError:
        return 0, []
    if not state.messages:
        return 0, []
    letters = []
    for seq in range(max(state.first_seq, state.last_seq - latest + 1, 1), state.last_seq + 1):
        try:
            letters.append(decode_dead_letter((await js.get_msg(names.DEAD_STREAM, seq)).data or b""))
        except (NotFoundError, DecodeError):
            continue
    return state.messages, letters
