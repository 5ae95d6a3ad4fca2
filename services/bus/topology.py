"""Create every stream, consumer and bucket idempotently, in one place, at start-up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import TypeVar

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    ObjectStoreConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamConsumerLimits,
    StreamSource,
    SubjectTransform,
)
from nats.js.errors import APIError, BucketNotFoundError, NotFoundError, ServiceUnavailableError
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from events import names
from events.errors import PermanentError
from services.settings import Settings
from services.voices import LISTED_ENGINES

log = logging.getLogger(__name__)
DEDUP_WINDOW_S = 600.0
MAX_REPLICAS = 3  # what JetStream needs to survive one node: more only costs writes
READY_TIMEOUT_S = 30.0  # a cluster just started elects its JetStream leaders first
NOT_READY = (ServiceUnavailableError, NatsTimeoutError, NoRespondersError, asyncio.TimeoutError)
# Byte limits (docs/security.md): when one is reached, new messages are refused, nothing old is dropped
# (but from the clients' view of the events, which keeps the newest).
STREAM_BYTES = {names.REQUESTS_STREAM: 64 * 2**20, names.EVENTS_STREAM: 1 * 2**30,
                names.EVENTS_VIEW_STREAM: 256 * 2**20, names.SYNTH_STREAM: 512 * 2**20, names.DEAD_STREAM: 64 * 2**20,
                names.EXHAUSTED_STREAM: 16 * 2**20}
CHECKPOINT_BYTES = 64 * 2**20
UPLOADS_BYTES = 4 * 2**30
NO_ROOM = (10023, 10047)  # JetStream: insufficient resources; insufficient storage resources
NO_PLACEMENT = 10005  # a cluster: no suitable peers for placement (insufficient storage, or other reasons)
NAME_IN_USE = 10058  # a stream of that name exists with another configuration (another process made it first)
MADE_ELSEWHERE_WAITS = (0.1, 0.2, 0.4, 0.8, 1.5, 2.0)  # seconds between asks for a bucket another service makes
MIN_FITTED_BYTES = 16 * 2**20


def cluster_size(server_info: Mapping[str, object]) -> int:
    """How many servers the connected server's cluster has, from its INFO (1 when it is alone)."""
    urls = server_info.get("connect_urls")
    if not server_info.get("cluster") or not isinstance(urls, list):
        return 1
    return max(1, len(urls))


def wanted_replicas(size: int, setting: int | None, existing: int = 0) -> int:
    """Replicas for a stream or bucket: the setting when given, else as many as the cluster allows,
    at most 3, and never fewer than it has now (a node down at start-up does not shrink a stream)."""
    if setting is not None:
        return max(1, setting)
    return max(min(size, MAX_REPLICAS), existing, 1)


VIEW_IDLE_S = 300.0  # the longest a consumer on the clients' mirror of the events lives idle


def stream_configs() -> list[StreamConfig]:
    return [
        StreamConfig(
            name=names.REQUESTS_STREAM, subjects=[names.REQUEST_SUBJECT, names.user_requests_filter(),
                                               names.user_stops_filter()],
            retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE,
            duplicate_window=DEDUP_WINDOW_S, max_msg_size=1024 * 1024, max_bytes=STREAM_BYTES[names.REQUESTS_STREAM],
            discard=DiscardPolicy.NEW,
        ),
        StreamConfig(
            name=names.EVENTS_STREAM, subjects=[names.all_events_filter()],
            retention=RetentionPolicy.LIMITS, storage=StorageType.FILE,
            duplicate_window=DEDUP_WINDOW_S, max_age=30 * 24 * 3600.0,
            max_bytes=STREAM_BYTES[names.EVENTS_STREAM], discard=DiscardPolicy.NEW,
        ),
        # What clients read: the same messages and sequences, a moment later. A client may make
        # consumers only here, never beside the services' durables on EVENTS (a consumer created
        # by name is created or updated: on EVENTS, one could have re-pointed the assembler's).
        # Its newest 256 MiB (about a million events): the oldest jobs' events go first.
        StreamConfig(
            name=names.EVENTS_VIEW_STREAM, mirror=StreamSource(name=names.EVENTS_STREAM, subject_transforms=[
                SubjectTransform(src=names.VIEW_TRANSFORM[0], dest=names.VIEW_TRANSFORM[1])]),
            retention=RetentionPolicy.LIMITS, storage=StorageType.FILE, max_age=30 * 24 * 3600.0,
            max_bytes=STREAM_BYTES[names.EVENTS_VIEW_STREAM], discard=DiscardPolicy.OLD,
            # a consumer a client leaves (even one it made durable) goes when idle this long
            consumer_limits=StreamConsumerLimits(inactive_threshold=VIEW_IDLE_S),
        ),
        StreamConfig(
            name=names.SYNTH_STREAM, subjects=[names.all_synth_filter()],
            retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE,
            duplicate_window=DEDUP_WINDOW_S, max_bytes=STREAM_BYTES[names.SYNTH_STREAM], discard=DiscardPolicy.NEW,
        ),
        StreamConfig(
            name=names.DEAD_STREAM, subjects=[names.all_dead_letters_filter()],
            retention=RetentionPolicy.LIMITS, storage=StorageType.FILE, duplicate_window=DEDUP_WINDOW_S,
            max_age=30 * 24 * 3600.0, max_msgs=100_000, max_bytes=STREAM_BYTES[names.DEAD_STREAM],
        ),
        # The server's advisories of messages it stopped delivering, until a worker answers for them
        # (within a second while one runs). In memory: a store whose disk is already spoken for
        # still starts; a whole server restarting in that second loses one (services.bus.exhausted).
        StreamConfig(
            name=names.EXHAUSTED_STREAM, subjects=[names.exhausted_filter()],
            retention=RetentionPolicy.LIMITS, storage=StorageType.MEMORY, max_age=7 * 24 * 3600.0,
            max_bytes=STREAM_BYTES[names.EXHAUSTED_STREAM], discard=DiscardPolicy.OLD,
        ),
    ]


def consumer_configs(settings: Settings) -> list[tuple[str, ConsumerConfig]]:
    return [
        (names.REQUESTS_STREAM, ConsumerConfig(
            durable_name=names.PARSE_CONSUMER, ack_policy=AckPolicy.EXPLICIT,
            ack_wait=2 * settings.ack_wait_s, max_deliver=settings.max_deliver,
            filter_subjects=[names.REQUEST_SUBJECT, names.user_requests_filter(),
                                               names.user_stops_filter()], deliver_policy=DeliverPolicy.ALL,
        )),
        *((names.SYNTH_STREAM, ConsumerConfig(
            durable_name=names.engine_consumer(engine), ack_policy=AckPolicy.EXPLICIT,
            ack_wait=settings.ack_wait_s, max_deliver=settings.max_deliver,
            filter_subject=names.engine_synth_filter(engine), deliver_policy=DeliverPolicy.ALL,
            max_ack_pending=10_000,
        )) for engine in LISTED_ENGINES),
        (names.EVENTS_STREAM, ConsumerConfig(
            durable_name=names.ASSEMBLE_CONSUMER, ack_policy=AckPolicy.EXPLICIT,
            ack_wait=60.0, max_deliver=-1, filter_subject=names.all_events_filter(),
            deliver_policy=DeliverPolicy.ALL, max_ack_pending=20_000,
        )),
        (names.EVENTS_STREAM, ConsumerConfig(
            durable_name=names.CHECK_CONSUMER, ack_policy=AckPolicy.EXPLICIT,
            ack_wait=settings.ack_wait_s, max_deliver=settings.max_deliver,
            filter_subject=names.synthesized_filter(), deliver_policy=DeliverPolicy.ALL, max_ack_pending=10_000,
        )),
        (names.EVENTS_STREAM, ConsumerConfig(
            durable_name=names.RELEASE_CONSUMER, ack_policy=AckPolicy.EXPLICIT,
            ack_wait=settings.ack_wait_s, max_deliver=-1, filter_subject=names.segment_events_filter(),
            deliver_policy=DeliverPolicy.NEW, max_ack_pending=20_000,
        )),
        (names.EXHAUSTED_STREAM, ConsumerConfig(
            durable_name=names.EXHAUSTED_TTS_CONSUMER, ack_policy=AckPolicy.EXPLICIT,
            ack_wait=settings.ack_wait_s, max_deliver=settings.max_deliver,
            filter_subject=names.exhausted_filter(names.SYNTH_STREAM), deliver_policy=DeliverPolicy.ALL,
        )),
    ]


async def ensure_topology(js: JetStreamContext, settings: Settings) -> None:
    """Create or update streams, durable consumers, the KV bucket and the object store.

    On a cluster, everything gets ``settings.replicas`` copies (default: the cluster's size, at
    most 3); consumers follow their stream. A cluster still electing its leaders is waited for.
    """
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_S
    while True:
        try:
            await _ensure(js, settings)
            return
        except (*NOT_READY, APIError) as exc:
            if not still_forming(exc) or asyncio.get_running_loop().time() > deadline:
                raise
            log.info("JetStream not ready (%s); trying again", exc or type(exc).__name__)
            await asyncio.sleep(0.5)


def still_forming(exc: BaseException) -> bool:
    """Whether ``exc`` says JetStream is not ready yet: no leader, no answer, (a cluster that is
    still forming) a peer it has not yet heard from counted as offline, or another service
    starting at the same time made a stream first (with a byte limit it halved sooner to fit):
    the next pass finds it."""
    if isinstance(exc, NOT_READY):
        return True
    if not isinstance(exc, APIError):
        return False
    return exc.err_code == NAME_IN_USE or (exc.err_code == NO_PLACEMENT and "offline" in (exc.description or ""))


async def _ensure(js: JetStreamContext, settings: Settings) -> None:
    size = cluster_size(getattr(js._nc, "_server_info", {}) or {})  # nats-py keeps the server's INFO private
    for config in stream_configs():
        try:
            info = await js.stream_info(str(config.name))
            replicas = wanted_replicas(size, settings.replicas, info.config.num_replicas or 1)
            wanted = replace(config, num_replicas=replicas)
            if mirror_differs(info.config, wanted):  # a mirror cannot be changed: made again (it is derived)
                await js.delete_stream(str(config.name))
                await fitting(js.add_stream, wanted)
            elif stream_differs(info.config, wanted):
                await fitting(js.update_stream, wanted)
        except NotFoundError:
            await fitting(js.add_stream, replace(config, num_replicas=wanted_replicas(size, settings.replicas)))
    await _retire_shared_tts_consumer(js)
    for stream, consumer in consumer_configs(settings):
        await js.add_consumer(stream, config=await _keeping_pause(js, stream, consumer))
    for bucket in (names.CHECKPOINT_BUCKET, names.UPLOADS_BUCKET, names.OBJECT_BUCKET, names.AUDIO_BUCKET):
        # (the largest last)
        await _scale_bucket(js, bucket, size, settings.replicas, bucket_bytes(bucket, settings))


TOPOLOGY_WAIT_S = 1.0  # how often a worker looks again for what the core services make


def worker_needs(engines: Sequence[str]) -> list[tuple[str, str | None]]:
    """The streams (and their consumers) a tts worker serving ``engines`` uses, made by the core."""
    return [(names.SYNTH_STREAM, None), *((names.SYNTH_STREAM, names.engine_consumer(e)) for e in engines),
            (names.EXHAUSTED_STREAM, names.EXHAUSTED_TTS_CONSUMER), (names.kv_stream(names.CHECKPOINT_BUCKET), None),
            (names.object_stream(names.AUDIO_BUCKET), None)]


def check_worker_needs() -> list[tuple[str, str | None]]:
    """The streams (and the consumer) a check worker uses, made by the core."""
    return [(names.EVENTS_STREAM, names.CHECK_CONSUMER), (names.SYNTH_STREAM, None),
            (names.object_stream(names.AUDIO_BUCKET), None)]


async def made_by_the_core(js: JetStreamContext, needs: list[tuple[str, str | None]],
                           wait_s: float = TOPOLOGY_WAIT_S) -> None:
    """Wait until the core services (parse, assemble) have made what a worker uses: a worker may
    not make or change streams, consumers or buckets (docs/security.md), so it waits for them."""
    said = False
    while True:
        missing = []
        for stream, consumer in needs:
            try:
                await (js.consumer_info(stream, consumer) if consumer else js.stream_info(stream))
            except NotFoundError:
                missing.append(f"{stream} consumer {consumer}" if consumer else stream)
            except NOT_READY:  # a cluster still electing its leaders, a server just started
                missing.append(f"{stream} (JetStream not ready)")
        if not missing:
            return
        if not said:
            log.info("waiting for the core services (parse, assemble) to make %s", ", ".join(missing))
            said = True
        await asyncio.sleep(wait_s)


COMPARED_FIELDS = ("subjects", "retention", "storage", "duplicate_window", "max_age", "max_msgs", "max_msg_size",
                   "discard", "num_replicas")


def mirror_differs(existing: StreamConfig, wanted: StreamConfig) -> bool:
    """Whether a mirror must be made again to be ``wanted``: what it mirrors, or how it names subjects (pure)."""
    if wanted.mirror is None:
        return False
    if existing.mirror is None or existing.mirror.name != wanted.mirror.name:
        return True
    have = [(t.src, t.dest) for t in existing.mirror.subject_transforms or []]
    return have != [(t.src, t.dest) for t in wanted.mirror.subject_transforms or []]


def stream_differs(existing: StreamConfig, wanted: StreamConfig) -> bool:
    """Whether a stream must be updated to be ``wanted`` (pure). Its byte limit stands when it is
    at most the wanted one: a limit :func:`fitting` made smaller for a small disk is not asked
    for again at every start (the server refuses any update, even an unchanged one, once its
    disk has less room than the streams reserve: a user's disk filling up stopped the stack)."""
    for field_name in COMPARED_FIELDS:
        want, have = getattr(wanted, field_name), getattr(existing, field_name)
        if want is None or (not want and not have):  # not asked for, or unset on both sides (a mirror's window)
            continue
        if isinstance(want, float):
            if have is None or abs(float(have) - want) > 1e-3:
                return True
        elif isinstance(want, list):
            if sorted(have or []) != sorted(want):
                return True
        elif have != want:
            return True
    limit = existing.max_bytes or -1
    return not 0 < limit <= (wanted.max_bytes or -1)


async def _scale_bucket(js: JetStreamContext, bucket: str, size: int, setting: int | None, max_bytes: int) -> None:
    """Create ``bucket`` if missing, then give it the replicas (and the byte limit) it should have."""
    is_kv = bucket == names.CHECKPOINT_BUCKET
    stream = names.kv_stream(bucket) if is_kv else names.object_stream(bucket)
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        replicas = wanted_replicas(size, setting)
        await (checkpoints(js, replicas, max_bytes) if is_kv else object_store(js, bucket, replicas, max_bytes))
        if bucket in LEAVES_ROOM:
            await _leave_room(js, stream, max_bytes)
        return
    replicas = wanted_replicas(size, setting, info.config.num_replicas or 1)
    unbounded = (info.config.max_bytes or -1) < 0  # made by an older release: bound it now
    if replicas != (info.config.num_replicas or 1) or unbounded:
        await fitting(js.update_stream, replace(info.config, num_replicas=replicas,
                                                max_bytes=max_bytes if unbounded else info.config.max_bytes))


LEAVES_ROOM = (names.UPLOADS_BUCKET, names.OBJECT_BUCKET)  # fitted into less room than asked: half, for the next


async def _leave_room(js: JetStreamContext, stream: str, asked: int) -> None:
    """A bucket the server had less room for than ``asked`` takes half of what it got: fitting takes
    the most that fits, and the buckets made after it (the audio last) would have had almost nothing."""
    info = await js.stream_info(stream)
    got = info.config.max_bytes or -1
    if 0 < got < asked:
        await js.update_stream(replace(info.config, max_bytes=got // 2))


async def _keeping_pause(js: JetStreamContext, stream: str, config: ConsumerConfig) -> ConsumerConfig:
    """``config`` with the existing consumer's pause, so a service restarting never resumes paused work."""
    try:
        existing = await js.consumer_info(stream, str(config.durable_name))
    except NotFoundError:
        return config
    if existing.paused and existing.config.pause_until:
        return replace(config, pause_until=existing.config.pause_until)
    return config


async def _retire_shared_tts_consumer(js: JetStreamContext) -> None:
    """A store from before per-engine queues has one ``tts`` consumer over every synthesis job.

    A work queue allows no overlapping consumers, so it goes, with the commands queued in the old
    subject layout that no worker would read; ``audiobook resume JOB`` queues them again.
    """
    try:
        await js.consumer_info(names.SYNTH_STREAM, names.TTS_CONSUMER)
    except NotFoundError:
        return
    log.warning("removing the single tts consumer of an older version; resume unfinished jobs to queue them again")
    await js.delete_consumer(names.SYNTH_STREAM, names.TTS_CONSUMER)
    await js.purge_stream(names.SYNTH_STREAM)


async def checkpoints(js: JetStreamContext, replicas: int = 1, max_bytes: int = CHECKPOINT_BYTES) -> KeyValue:
    """The checkpoint KV bucket (created with ``replicas`` copies if missing)."""
    try:
        return await js.key_value(names.CHECKPOINT_BUCKET)
    except BucketNotFoundError:
        pass
    try:
        return await fitting(lambda config: js.create_key_value(config=config), KeyValueConfig(
            bucket=names.CHECKPOINT_BUCKET, history=1, storage=StorageType.FILE, replicas=replicas,
            max_bytes=max_bytes))
    except APIError as exc:
        if exc.err_code != NAME_IN_USE:
            raise
        # another service made it first (its size fitted first)
        return await _made_elsewhere(lambda: js.key_value(names.CHECKPOINT_BUCKET))


async def _made_elsewhere(get: Callable[[], Awaitable[R]]) -> R:
    """A bucket another service is creating: on a cluster its name is taken a moment before its
    stream answers, so ask again for a few seconds before saying it is not there."""
    for wait in MADE_ELSEWHERE_WAITS:
        try:
            return await get()
        except (BucketNotFoundError, NotFoundError):
            await asyncio.sleep(wait)
    return await get()


async def object_store(js: JetStreamContext, bucket: str = names.OBJECT_BUCKET, replicas: int = 1,
                       max_bytes: int | None = None) -> ObjectStore:
    """The object store ``bucket`` (audio and books by default; ``names.UPLOADS_BUCKET`` for uploads)."""
    try:
        return await js.object_store(bucket)
    except (BucketNotFoundError, NotFoundError):
        limit = max_bytes or bucket_bytes(bucket, Settings())
    try:
        return await fitting(lambda config: js.create_object_store(bucket, config=config), ObjectStoreConfig(
            storage=StorageType.FILE, replicas=replicas, max_bytes=limit))
    except APIError as exc:
        if exc.err_code != NAME_IN_USE:
            raise
        # another service made it first, halving its size sooner
        return await _made_elsewhere(lambda: js.object_store(bucket))


async def user_store(js: JetStreamContext, user: str, settings: Settings, replicas: int = 1) -> ObjectStore:
    """A named user's own object store (``user-NAME``), made when missing: only the operator (admin)
    makes one, at `audiobook user add` or the embedded stack's start; a user may not."""
    return await object_store(js, names.user_bucket(user), replicas, bucket_bytes(names.user_bucket(user), settings))


def bucket_bytes(bucket: str, settings: Settings) -> int:
    """The byte limit of a bucket: the audio's and the books' are a setting, the others fixed (docs/security.md)."""
    if bucket in (names.OBJECT_BUCKET, names.AUDIO_BUCKET):
        return int(settings.max_store_gb * 10**9)
    if bucket.startswith(names.USER_BUCKET_PREFIX):
        return int(settings.user_store_gb * 10**9)
    return UPLOADS_BYTES if bucket == names.UPLOADS_BUCKET else CHECKPOINT_BYTES


class NoRoom(PermanentError):
    """The server cannot reserve even a small byte limit for a stream: its disk is full."""


C = TypeVar("C", StreamConfig, KeyValueConfig, ObjectStoreConfig)
R = TypeVar("R")


async def fitting(create: Callable[[C], Awaitable[R]], config: C) -> R:
    """Create or update with ``config``; where the server has less room than its byte limit, a smaller one.

    A server reserves each stream's byte limit from its own storage (by default 75% of the disk
    it found at start-up): on a small disk the limit is halved until it fits, with a warning.
    """
    while True:
        try:
            return await create(config)
        except APIError as exc:
            limit = config.max_bytes or -1
            no_room = exc.err_code in NO_ROOM or (
                exc.err_code == NO_PLACEMENT and "storage" in (exc.description or ""))
            if no_room and limit < 2 * MIN_FITTED_BYTES and not isinstance(exc, NOT_READY):
                what = getattr(config, "name", None) or getattr(config, "bucket", None) or "a stream"
                raise NoRoom(f"the NATS server has no room to store {what} "
                             f"({exc.description}): free disk space, or give JetStream more "
                             "(max_file_store in its config)") from exc
            if not no_room:
                raise
            log.info("the server has no room for %s bytes (%s); trying half", f"{limit:,}", exc.description)
            config = replace(config, max_bytes=limit // 2)
