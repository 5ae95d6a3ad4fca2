"""Reads that need an ephemeral consumer, made to survive a cluster that has lost a node.

Replaying a subject, listing KV keys and reading an object each create a consumer of one
replica. Until a cluster marks a killed node offline (about two and a half minutes after
the node stops answering), the server may place that consumer on the dead node, and the
request times out. A second try is placed again, at random. So these reads are tried again
on a time-out, and reading a one-chunk object (every segment's audio) needs no consumer at all.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import BinaryIO, TypeVar

from nats.js import JetStreamContext
from nats.js.errors import ObjectNotFoundError
from nats.js.object_store import ObjectStore

from events.errors import PermanentError
from services.bus.objects import object_info, read_chunk

log = logging.getLogger(__name__)
T = TypeVar("T")
TRIES = 5
TIMEOUTS = (asyncio.TimeoutError,)  # nats.errors.TimeoutError derives from it


class ObjectDamaged(PermanentError):
    """A stored object's bytes do not match its digest."""


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
    description, its chunk; no consumer), a larger one through the object store (tried again on
    a time-out)."""
    info = await object_info(js, bucket, name)
    if info is None:
        raise ObjectNotFoundError
    if info.chunks == 1 and info.nuid and info.digest:
        data = await read_chunk(js, bucket, info)
        if data is None:
            raise ObjectDamaged(f"object {name}: its chunk is missing")
        _check_digest(data, info.digest, name)
        return data
    result = await retried(lambda: store.get(name), f"reading {name}")
    return result.data or b""


async def download_object(store: ObjectStore, name: str, handle: BinaryIO) -> None:
    """Write object ``name`` into ``handle`` (started again from the top on a time-out)."""
    async def once() -> None:
        handle.seek(0)
        handle.truncate()
        await store.get(name, writeinto=handle)  # type: ignore[arg-type]
    await retried(once, f"reading {name}")


def _check_digest(data: bytes, digest: str, name: str) -> None:
    algorithm, _, encoded = digest.partition("=")
    if algorithm.upper() != "SHA-256":
        return
    want = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    if hashlib.sha256(data).digest() != want:
        raise ObjectDamaged(f"object {name}: its bytes do not match its digest")
