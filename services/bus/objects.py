"""Segment audio in the object store, one message each way.

Every segment's audio is a small object (one chunk), read and written once per segment, so
its round trips are the pipeline's per-segment cost. nats-py's object store reads an object's
description through the JetStream API (a JSON request, the message base64-encoded), and its
``put`` makes four round trips: the description, the chunk, the new description and, when the
name existed, a purge of the old chunk (the last writer wins). Here, in the store's own format
(nats-py's subjects, ``ObjectInfo`` and digest), so everything else reads these objects with
nats-py as before:

- descriptions and chunks are read with a direct get (the raw message from any replica; a
  replica that has not yet caught up answers "not found", so a miss is asked of the leader);
- a one-chunk object is written in two publishes, the description with an expected last
  sequence of its subject, so the first writer of a name wins and a later one removes its own
  chunk: audio is content-addressed, and both wrote the same segment.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from datetime import UTC, datetime

import orjson
from nats.js import JetStreamContext
from nats.js.api import Header, ObjectInfo, ObjectMeta, ObjectMetaOptions, RawStreamMsg
from nats.js.errors import APIError, NotFoundError
from nats.js.kv import MSG_ROLLUP_SUBJECT
from nats.js.object_store import (
    OBJ_CHUNKS_PRE_TEMPLATE,
    OBJ_DEFAULT_CHUNK_SIZE,
    OBJ_DIGEST_TEMPLATE,
    OBJ_META_PRE_TEMPLATE,
    ObjectStore,
)
from nats.nuid import NUID

from events import names
from services.bus.kv import lost_race

_nuid = NUID()  # the unique chunk subjects nats-py's put makes, from the same generator


def meta_subject(bucket: str, name: str) -> str:
    """The subject holding object ``name``'s description (as nats-py names it)."""
    return OBJ_META_PRE_TEMPLATE.format(bucket=bucket, obj=base64.urlsafe_b64encode(name.encode()).decode())


def chunk_subject(bucket: str, nuid: str) -> str:
    return OBJ_CHUNKS_PRE_TEMPLATE.format(bucket=bucket, obj=nuid)


def digest_of(data: bytes) -> str:
    """The object store's digest of ``data`` (``SHA-256=`` and URL-safe base64)."""
    return OBJ_DIGEST_TEMPLATE.format(digest=base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode())


async def last_on(js: JetStreamContext, stream: str, subject: str) -> RawStreamMsg | None:
    """The last message on ``subject``: a direct get, then the leader when a replica had none."""
    try:
        return await js.get_msg(stream, subject=subject, direct=True)
    except NotFoundError:
        pass
    try:
        return await js.get_last_msg(stream, subject)
    except NotFoundError:
        return None


async def next_on(js: JetStreamContext, stream: str, subject: str, seq: int) -> RawStreamMsg | None:
    """The first message on ``subject`` at or after stream sequence ``seq``, read as :func:`last_on` reads."""
    try:
        return await js.get_msg(stream, seq=seq, subject=subject, next=True, direct=True)
    except NotFoundError:
        pass
    try:
        return await js.get_msg(stream, seq=seq, subject=subject, next=True)
    except NotFoundError:
        return None


def _described(msg: RawStreamMsg | None) -> ObjectInfo | None:
    """The description a stored message holds, deleted or not (None for no message)."""
    return ObjectInfo.from_response(orjson.loads(msg.data)) if msg is not None and msg.data else None


async def object_info(js: JetStreamContext, bucket: str, name: str) -> ObjectInfo | None:
    """Object ``name``'s description, or None when there is none (or it was deleted)."""
    info = _described(await last_on(js, names.object_stream(bucket), meta_subject(bucket, name)))
    return None if info is None or info.deleted else info


async def read_chunk(js: JetStreamContext, bucket: str, info: ObjectInfo) -> bytes | None:
    """The bytes of a one-chunk object as stored (not yet checked against its digest)."""
    msg = await last_on(js, names.object_stream(bucket), chunk_subject(bucket, info.nuid or ""))
    return None if msg is None else (msg.data or b"")


async def put_once(js: JetStreamContext, store: ObjectStore, bucket: str, name: str, data: bytes,
                   description: str) -> bool:
    """Store ``data`` as object ``name`` unless someone stored that name first; whether we did.

    Larger than one chunk, it goes through nats-py's ``put`` (which replaces).
    """
    if len(data) > OBJ_DEFAULT_CHUNK_SIZE:
        await store.put(name, data, meta=ObjectMeta(name=name, description=description))
        return True
    stream = names.object_stream(bucket)
    nuid = _nuid.next().decode()
    chunk = chunk_subject(bucket, nuid)
    await js.publish(chunk, data, stream=stream)
    info = ObjectInfo(name=name, bucket=bucket, nuid=nuid, size=len(data), chunks=1, digest=digest_of(data),
                      description=description, options=ObjectMetaOptions(max_chunk_size=OBJ_DEFAULT_CHUNK_SIZE),
                      mtime=datetime.now(UTC).isoformat())
    subject, expected = meta_subject(bucket, name), 0
    while True:
        try:
            await js.publish(subject, orjson.dumps(info.as_dict()), stream=stream, headers={
                Header.ROLLUP: MSG_ROLLUP_SUBJECT, Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(expected)})
            return True
        except APIError as exc:
            if not lost_race(exc):
                with contextlib.suppress(Exception):  # the error says what went wrong, not the clean-up
                    await js.purge_stream(stream, subject=chunk)
                raise
        last = await last_on(js, stream, subject)  # someone wrote the name first: kept, unless deleted
        if last is not None and (earlier := _described(last)) is not None and earlier.deleted:
            expected = last.seq or 0
            continue
        await js.purge_stream(stream, subject=chunk)
        return False
