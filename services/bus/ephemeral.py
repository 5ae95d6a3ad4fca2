"""Reads that need an ephemeral consumer, made to survive a cluster that has lost a node.

Replaying a subject, listing KV keys and reading an object each create a consumer of one
replica. Until a cluster marks a killed node offline (about two and a half minutes after
the node stops answering), the server may place that consumer on the dead node, and the
request times out. A second try is placed again, at random. So these reads are tried again
on a time-out, reading a one-chunk object (every segment's audio) needs no consumer at all, and
a larger object whose consumer cannot be made in time is read with one direct get per chunk.

A larger object is copied chunk by chunk, its bytes counted as they arrive: its description
(size, chunks) is whatever a client wrote, so a reader's limit is checked on what it reads.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import io
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import BinaryIO, TypeVar

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import ObjectInfo
from nats.js.errors import ObjectNotFoundError
from nats.js.object_store import ObjectStore

from events import names
from events.errors import PermanentError
from services.bus.objects import chunk_subject, last_on, next_on, object_info, read_chunk

log = logging.getLogger(__name__)
T = TypeVar("T")
# a cluster of 3 that lost a node places a third of new consumers on it until it is marked offline:
# 12 tries fail together about once in 500,000 reads (5 did once in 243, and a client polls often)
TRIES = 12
TIMEOUTS = (asyncio.TimeoutError,)  # nats.errors.TimeoutError derives from it
CHUNK_WAIT_S = 30.0  # the longest wait for an object's next chunk before the read is tried again


class ObjectDamaged(PermanentError):
    """A stored object's bytes do not match its digest."""


class ObjectTooBig(PermanentError):
    """An object holds more bytes than its reader accepts, whatever its description claims."""

    def __init__(self, name: str, limit: int) -> None:
        super().__init__(f"object {name} holds more than {limit:,} bytes")
        self.limit = limit


async def retried(make: Callable[[], Awaitable[T]], what: str, tries: int = TRIES) -> T:
    """``await make()``, called again (up to ``tries`` times in all) when it times out."""
    for attempt in range(1, tries + 1):
        try:
            return await make()
        except TIMEOUTS:
            if attempt == tries:
                raise
            log.info("%s timed out (try %d of %d); trying again", what, attempt, tries)
    raise AssertionError("unreachable")


async def read_object(js: JetStreamContext, store: ObjectStore, bucket: str, name: str) -> bytes:
    """The bytes of object ``name`` in ``bucket``: a one-chunk object in two direct reads (its
    description, its chunk; no consumer), a larger one chunk by chunk (:func:`download_object`,
    started again on a time-out)."""
    info = await object_info(js, bucket, name)
    if info is None:
        raise ObjectNotFoundError
    if info.chunks == 1 and info.nuid and info.digest:
        data = await read_chunk(js, bucket, info)
        if data is None:
            raise ObjectDamaged(f"object {name}: its chunk is missing")
        _check_digest(data, info.digest, name)
        return data
    buffer = io.BytesIO()  # (nats-py's own get looks the stream up by subject: a worker's role may not list streams)
    await download_object(store, name, buffer)
    return buffer.getvalue()


async def read_audio(js: JetStreamContext, audio: ObjectStore, name: str, earlier: ObjectStore | None = None) -> bytes:
    """A segment's audio from the audio bucket. Audio stored before audio had a bucket of its own
    (``audio/`` names only) is read from the services' store, ``earlier``, if given."""
    try:
        return await read_object(js, audio, names.AUDIO_BUCKET, name)
    except ObjectNotFoundError:
        if earlier is None or not name.startswith(names.AUDIO_PREFIX):
            raise
        return await read_object(js, earlier, names.OBJECT_BUCKET, name)


async def download_object(store: ObjectStore, name: str, handle: BinaryIO, max_bytes: int | None = None) -> int:
    """Write object ``name`` into ``handle``; the bytes written (started again from the top on a time-out).

    Past ``max_bytes`` bytes read the copy stops with ObjectTooBig, whatever size the object's
    description claims; bytes that do not match its digest raise ObjectDamaged.
    """
    async def once() -> int:
        handle.seek(0)
        handle.truncate()
        return await _copy_chunks(store, name, handle, max_bytes)
    return await retried(once, f"reading {name}")


async def _copy_chunks(store: ObjectStore, name: str, handle: BinaryIO, max_bytes: int | None) -> int:
    """One copy of object ``name``'s chunks into ``handle``, counted and hashed as they arrive."""
    js, bucket, stream = store._js, store._name, store._stream  # nats-py reads a whole object only
    info = await store.get_info(name)
    if not info.nuid or info.is_link():
        raise ObjectDamaged(f"object {name}: its description names no chunks of its own")
    subject = chunk_subject(bucket, info.nuid)
    if await last_on(js, stream, subject) is None:  # an empty object has no chunk
        if info.size:
            raise ObjectDamaged(f"object {name}: its chunks are missing")
        _check_sha(hashlib.sha256().digest(), info, name)
        return 0
    digest, written = hashlib.sha256(), 0
    async with contextlib.aclosing(_chunks(js, stream, subject, name)) as chunks:
        async for data in chunks:
            written += len(data)
            if max_bytes is not None and written > max_bytes:
                raise ObjectTooBig(name, max_bytes)
            digest.update(data)
            await asyncio.to_thread(handle.write, data)
    _check_sha(digest.digest(), info, name)
    return written


async def _chunks(js: JetStreamContext, stream: str, subject: str, name: str) -> AsyncGenerator[bytes, None]:
    """The chunks on ``subject`` in order: through an ordered consumer (a stream of them), or, when
    no consumer can be made in time (a cluster that lost the node it was placed on), one direct get
    each (:func:`chunks_by_get`)."""
    try:
        # (the stream named: nats-py's look-up by subject lists streams, which a user may not)
        sub = await js.subscribe(subject, stream=stream, ordered_consumer=True)
    except TIMEOUTS:
        log.info("no consumer to read %s in time; reading its chunks one by one", name)
        async for data in chunks_by_get(js, stream, subject):
            yield data
        return
    try:
        while True:
            msg = await sub.next_msg(timeout=CHUNK_WAIT_S)
            yield msg.data
            if msg.metadata.num_pending == 0:
                break
    finally:
        with contextlib.suppress(nats.errors.Error):  # a lost connection took the subscription with it
            await sub.unsubscribe()


async def chunks_by_get(js: JetStreamContext, stream: str, subject: str) -> AsyncGenerator[bytes, None]:
    """The messages on ``subject`` in order, each by a get of the next one after the last (no
    consumer: :func:`services.bus.objects.next_on`)."""
    seq = 1
    while (msg := await next_on(js, stream, subject, seq)) is not None:
        yield msg.data or b""
        seq = (msg.seq or seq) + 1


def _check_sha(sha: bytes, info: ObjectInfo, name: str) -> None:
    """Raise ObjectDamaged unless ``sha`` (of the bytes read) is the SHA-256 digest ``info`` names."""
    algorithm, _, encoded = (info.digest or "").partition("=")
    try:
        want = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        want = b""
    if algorithm.upper() != "SHA-256" or sha != want:
        raise ObjectDamaged(f"object {name}: its bytes do not match its digest")


def _check_digest(data: bytes, digest: str, name: str) -> None:
    algorithm, _, encoded = digest.partition("=")
    if algorithm.upper() != "SHA-256":
        return
    want = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    if hashlib.sha256(data).digest() != want:
        raise ObjectDamaged(f"object {name}: its bytes do not match its digest")
