"""orjson codec for events and commands, with upcasting of old versions on decode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from events.errors import PermanentError
from events.types import (
    EVENT_TYPES,
    BookParsed,
    ChapterInfo,
    Event,
    JobFailed,
    SynthesizeSegment,
    as_payload,
)


class DecodeError(PermanentError):
    """A message that is not a valid event or command of a known type and version."""


# (kind, version) -> function turning that version's payload into the next version's.
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


def encode(obj: Event | SynthesizeSegment) -> bytes:
    """Serialize an event or command with its envelope."""
    return orjson.dumps(as_payload(obj))


def _load(data: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise DecodeError("payload is not a JSON object")
    return payload


def _upcast(kind: str, payload: dict[str, Any], current: int) -> dict[str, Any]:
    version = payload.pop("v", 1)
    while version < current:
        step = UPCASTERS.get((kind, version))
        if step is None:
            raise DecodeError(f"no upcaster for {kind} v{version}")
        payload = step(payload)
        version += 1
    if version > current:
        raise DecodeError(f"{kind} v{version} is newer than this code (v{current})")
    return payload


def _build(cls: type, payload: dict[str, Any]) -> Any:
    try:
        return cls(**payload)
    except TypeError as exc:
        raise DecodeError(f"bad {cls.__name__} payload: {exc}") from None


def decode_event(data: bytes) -> Event:
    """Decode one event; raises DecodeError on anything unknown or malformed."""
    payload = _load(data)
    kind = payload.pop("type", None)
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise DecodeError(f"unknown event type {kind!r}")
    payload = _upcast(kind, payload, cls.VERSION)
    if cls is BookParsed:
        payload["chapters"] = tuple(_build(ChapterInfo, c) for c in payload.get("chapters", ()))
    elif cls is JobFailed:
        payload["failed_segments"] = tuple(tuple(f) for f in payload.get("failed_segments", ()))
    event: Event = _build(cls, payload)
    return event


def decode_command(data: bytes) -> SynthesizeSegment:
    """Decode a synthesis job from the work queue."""
    payload = _load(data)
    kind = payload.pop("type", None)
    if kind != SynthesizeSegment.KIND:
        raise DecodeError(f"not a synthesis job: type {kind!r}")
    payload = _upcast(kind, payload, SynthesizeSegment.VERSION)
    payload["paragraphs"] = tuple(payload.get("paragraphs", ()))
    payload["duplicates"] = tuple((int(c), int(i)) for c, i in payload.get("duplicates", ()))
    command: SynthesizeSegment = _build(SynthesizeSegment, payload)
    return command
