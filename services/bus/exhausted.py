"""Messages JetStream stopped delivering: the server's max-deliveries advisories (pure).

A message whose every delivery ended unanswered (the worker holding it was killed each time:
a text that crashes the engine, a segment that exhausts memory) is delivered ``max_deliver``
times and then never again, and no handler is left to report it. The server says so in an
advisory on ``$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>``; the
``EXHAUSTED`` stream keeps them (``services.bus.topology``), so the stage answers for the
message whenever one of its workers runs, even if the last one was killed by it.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

ADVISORY_TYPE = "io.nats.jetstream.advisory.v1.max_deliver"


@dataclass(frozen=True)
class Exhausted:
    """One message the server stopped delivering: where it lies and how often it was delivered."""

    stream: str
    consumer: str
    stream_seq: int
    deliveries: int


def exhausted_of(data: bytes) -> Exhausted | None:
    """The advisory in ``data``; None for anything else (garbage, another advisory, wrong types)."""
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict) or payload.get("type") != ADVISORY_TYPE:
        return None
    stream, consumer = payload.get("stream"), payload.get("consumer")
    seq, deliveries = payload.get("stream_seq"), payload.get("deliveries")
    if not (isinstance(stream, str) and isinstance(consumer, str) and type(seq) is int and seq > 0
            and type(deliveries) is int and deliveries >= 0):
        return None
    return Exhausted(stream, consumer, seq, deliveries)
