"""Expected-revision writes to a KV bucket: a lost race is an answer (None), not an error."""

from __future__ import annotations

from nats.js.errors import APIError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

WRONG_LAST_SEQUENCE = 10071  # JetStream error code: the key's revision is not the expected one


def lost_race(exc: BaseException) -> bool:
    """Whether ``exc`` says another writer changed the key first (create on an existing key too)."""
    return isinstance(exc, KeyWrongLastSequenceError) or (
        isinstance(exc, APIError) and exc.err_code == WRONG_LAST_SEQUENCE)


async def create(kv: KeyValue, key: str, value: bytes) -> int | None:
    """Create ``key``; its revision, or None if it already exists."""
    try:
        return await kv.create(key, value)
    except APIError as exc:
        if lost_race(exc):
            return None
        raise


async def update(kv: KeyValue, key: str, value: bytes, last: int) -> int | None:
    """Write ``key`` if its revision is still ``last``; the new revision, or None if not."""
    try:
        return await kv.update(key, value, last=last)
    except APIError as exc:
        if lost_race(exc):
            return None
        raise
