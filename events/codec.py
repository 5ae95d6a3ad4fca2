"""orjson codec for events and commands, with upcasting of old versions on decode."""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Union, get_args, get_origin

import orjson

from events.audio import MAX_PAUSE_MS
from events.errors import PermanentError
from events.types import EVENT_TYPES, SIGNED, DeadLetter, Event, SynthesizeSegment, as_payload


class DecodeError(PermanentError):
    """A message that is not a valid event or command of a known type and version."""


JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # a subject token: what events.names accepts

# (kind, version) -> function turning that version's payload into the next version's.
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


def encode(obj: Event | SynthesizeSegment | DeadLetter) -> bytes:
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
    if type(version) is not int or version < 0:
        raise DecodeError(f"{kind}: version {version!r:.20} is not a version number")
    while version < current:
        step = UPCASTERS.get((kind, version))
        if step is None:
            raise DecodeError(f"no upcaster for {kind} v{version}")
        payload = step(payload)
        version += 1
    if version > current:
        raise DecodeError(f"{kind} v{version} is newer than this code (v{current})")
    return payload


_MAX_INT = 2**53  # larger ids, counts and lengths are forgeries or corruption


def _shaped(value: Any, hint: Any, where: str) -> Any:
    """``value`` in the shape ``hint`` asks for (JSON lists become tuples); DecodeError if it is not.

    Every number must be a non-negative, finite value: the events and commands hold indices,
    counts, lengths, durations and sequence numbers, never negative ones.
    """
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return value
    if origin is Annotated:  # Signed: a level in dB, the one kind of number that may be negative
        if args[0] is float and SIGNED in args[1:] and type(value) in (int, float) and math.isfinite(value) \
                and abs(value) <= _MAX_INT:
            return float(value)
        raise DecodeError(f"{where}: {value!r:.60} is not a finite number")
    if origin in (Union, types.UnionType):
        for option in args:
            try:
                return _shaped(value, option, where)
            except DecodeError:
                continue
        raise DecodeError(f"{where}: {value!r:.60} is not {hint}")
    if hint is type(None):
        if value is None:
            return None
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if type(value) is int and 0 <= value <= _MAX_INT:
            return value
    elif hint is float:
        if type(value) in (int, float) and math.isfinite(value) and 0 <= value <= _MAX_INT:
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif origin is tuple and isinstance(value, list | tuple):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_shaped(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) == len(value):
            return tuple(_shaped(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    elif dataclasses.is_dataclass(hint) and isinstance(hint, type) and isinstance(value, dict):
        return _build(hint, value, where)
    raise DecodeError(f"{where}: {value!r:.60} is not {getattr(hint, '__name__', hint)}")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """Each dataclass field's resolved annotation (ClassVars are not fields)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def warm_up() -> None:
    """Resolve every event's and the command's field types now (typing takes ~10 ms a type on
    its first decode): a service calls this before taking work."""
    for cls in (*EVENT_TYPES.values(), SynthesizeSegment):
        _hints(cls)


def _build(cls: type, payload: dict[str, Any], where: str = "") -> Any:
    """An instance of ``cls`` from ``payload``, every field checked against its annotation."""
    hints = _hints(cls)
    where = where or cls.__name__
    unknown = set(payload) - set(hints)
    if unknown:
        raise DecodeError(f"bad {where} payload: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    fields = {name: _shaped(value, hints[name], f"{where}.{name}") for name, value in payload.items()}
    try:
        return cls(**fields)
    except TypeError as exc:
        raise DecodeError(f"bad {where} payload: {exc}") from None


def decode_event(data: bytes) -> Event:
    """Decode one event; raises DecodeError on anything unknown, malformed or out of range."""
    payload = _load(data)
    kind = payload.pop("type", None)
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise DecodeError(f"unknown event type {kind!r:.40}")
    event: Event = _build(cls, _upcast(kind, payload, cls.VERSION))
    if not JOB_ID.match(event.job_id):
        raise DecodeError(f"bad job id {event.job_id!r:.40}")
    return event


def decode_command(data: bytes) -> SynthesizeSegment:
    """Decode a synthesis job from the work queue."""
    payload = _load(data)
    kind = payload.pop("type", None)
    if kind != SynthesizeSegment.KIND:
        raise DecodeError(f"not a synthesis job: type {kind!r:.40}")
    command: SynthesizeSegment = _build(SynthesizeSegment, _upcast(kind, payload, SynthesizeSegment.VERSION))
    if not JOB_ID.match(command.job_id):
        raise DecodeError(f"bad job id {command.job_id!r:.40}")
    longest = max(command.pause_after_ms, command.sentence_pause_ms, command.paragraph_pause_ms)
    if longest > MAX_PAUSE_MS:
        raise DecodeError(f"a pause of {longest} ms; the limit is {MAX_PAUSE_MS} ms")
    return command


def decode_dead_letter(data: bytes) -> DeadLetter:
    """Decode a dead-letter record."""
    payload = _load(data)
    if payload.pop("type", None) != DeadLetter.KIND:
        raise DecodeError("not a dead-letter record")
    letter: DeadLetter = _build(DeadLetter, _upcast(DeadLetter.KIND, payload, DeadLetter.VERSION))
    return letter
