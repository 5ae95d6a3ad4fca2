"""Create every stream, consumer and bucket idempotently, in one place, at start-up."""

from __future__ import annotations

import logging
from dataclasses import replace

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    ObjectStoreConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from events import names
from services.settings import Settings

log = logging.getLogger(__name__)
DEDUP_WINDOW_S = 600.0


def stream_configs() -> list[StreamConfig]:
    return [
        StreamConfig(
            name=names.REQUESTS_STREAM, subjects=[names.REQUEST_SUBJECT],
            retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE,
            duplicate_window=DEDUP_WINDOW_S, max_msg_size=1024 * 1024,
        ),
        StreamConfig(
            name=names.EVENTS_STREAM, subjects=[names.all_events_filter()],
            retention=RetentionPolicy.LIMITS, storage=StorageType.FILE,
            duplicate_window=DEDUP_WINDOW_S, max_age=30 * 24 * 3600.0,
        ),
        StreamConfig(
            name=names.SYNTH_STREAM, subjects=[names.all_synth_filter()],
            retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE,
            duplicate_window=DEDUP_WINDOW_S,
        ),
        StreamConfig(
            name=names.DEAD_STREAM, subjects=[names.all_dead_letters_filter()],
            retention=RetentionPolicy.LIMITS, storage=StorageType.FILE, duplicate_window=DEDUP_WINDOW_S,
            max_age=30 * 24 * 3600.0, max_msgs=100_000,
        ),
    ]


def consumer_configs(settings: Settings) -> list[tuple[str, ConsumerConfig]]:
    return [
        (names.REQUESTS_STREAM, ConsumerConfig(
            durable_name=names.PARSE_CONSUMER, ack_policy=AckPolicy.EXPLICIT,
            ack_wait=2 * settings.ack_wait_s, max_deliver=settings.max_deliver,
            filter_subject=names.REQUEST_SUBJECT, deliver_policy=DeliverPolicy.ALL,
        )),
        *((names.SYNTH_STREAM, ConsumerConfig(
            durable_name=names.engine_consumer(engine), ack_policy=AckPolicy.EXPLICIT,
            ack_wait=settings.ack_wait_s, max_deliver=settings.max_deliver,
            filter_subject=names.engine_synth_filter(engine), deliver_policy=DeliverPolicy.ALL,
            max_ack_pending=10_000,
        )) for engine in names.ENGINES),
        (names.EVENTS_STREAM, ConsumerConfig(
            durable_name=names.ASSEMBLE_CONSUMER, ack_policy=AckPolicy.EXPLICIT,
            ack_wait=60.0, max_deliver=-1, filter_subject=names.all_events_filter(),
            deliver_policy=DeliverPolicy.ALL, max_ack_pending=20_000,
        )),
    ]


async def ensure_topology(js: JetStreamContext, settings: Settings) -> None:
    """Create or update streams, durable consumers, the KV bucket and the object store."""
    for config in stream_configs():
        try:
            await js.stream_info(str(config.name))
            await js.update_stream(config)
        except NotFoundError:
            await js.add_stream(config)
    await _retire_shared_tts_consumer(js)
    for stream, consumer in consumer_configs(settings):
        await js.add_consumer(stream, config=await _keeping_pause(js, stream, consumer))
    await checkpoints(js)
    await object_store(js)
    await object_store(js, names.UPLOADS_BUCKET)


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


async def checkpoints(js: JetStreamContext) -> KeyValue:
    try:
        return await js.key_value(names.CHECKPOINT_BUCKET)
    except BucketNotFoundError:
        return await js.create_key_value(
            config=KeyValueConfig(bucket=names.CHECKPOINT_BUCKET, history=1, storage=StorageType.FILE)
        )


async def object_store(js: JetStreamContext, bucket: str = names.OBJECT_BUCKET) -> ObjectStore:
    """The object store ``bucket`` (audio and books by default; ``names.UPLOADS_BUCKET`` for uploads)."""
    try:
        return await js.object_store(bucket)
    except (BucketNotFoundError, NotFoundError):
        return await js.create_object_store(bucket, config=ObjectStoreConfig(storage=StorageType.FILE))
