"""The kit's one outcome policy (pure): which errors retry, which give up, how long to wait."""

from __future__ import annotations

import nats.errors
import orjson
import pytest

from events.codec import DecodeError
from events.errors import PermanentError, PipelineError, TransientError
from events.requests import RequestError
from services.app.connecting import CliError
from services.app.stack import StackError
from services.assemble.stream import AssemblyError
from services.bus.connect import NatsUnreachable
from services.bus.consume import GiveUp, Policy, Retry, backoff, classify
from services.parse.book import EbookError
from services.parse.source import SourceError
from services.tts.engines import SynthesisError
from services.voices import UnknownVoiceError

POLICY = Policy(max_deliver=5)


def test_one_backoff_doubles_up_to_a_ceiling() -> None:
    assert [backoff(n) for n in range(1, 7)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert backoff(0) == 2.0


@pytest.mark.parametrize("ack_wait", [0.6, 3.0, 10.0, 60.0, 120.0])
def test_a_held_message_is_kept_alive_inside_its_ack_wait(ack_wait: float) -> None:
    """The heartbeat looks every half beat, so the first in-progress ack comes by 1.5 beats: a worker
    whose consumer waits 3 s (the fault tests) must not let a queued command be redelivered."""
    policy = Policy.for_ack_wait(ack_wait, max_deliver=5)
    assert 1.5 * policy.heartbeat_s < ack_wait and policy.heartbeat_s <= 5.0
    assert policy.max_deliver == 5


@pytest.mark.parametrize("error", [
    EbookError("not an EPUB"), SourceError("missing"), UnknownVoiceError("no voice"), SynthesisError("NUL"),
    DecodeError("not JSON"), RequestError("bad"), AssemblyError("ffmpeg"),
])
def test_permanent_errors_give_up_at_once_with_their_message(error: PermanentError) -> None:
    assert classify(error, 1, POLICY) == GiveUp(str(error))


@pytest.mark.parametrize("error", [
    TimeoutError(), nats.errors.TimeoutError(), nats.errors.ConnectionClosedError(),
    ConnectionResetError("reset"), TransientError("store away"),
    KeyError("a bug on odd input"),  # bugs retry too, a bounded number of times
])
def test_other_errors_retry_with_backoff_then_give_up(error: Exception) -> None:
    first = classify(error, 1, POLICY)
    assert isinstance(first, Retry) and first.delay == 2.0
    assert isinstance(classify(error, 4, POLICY), Retry)
    last = classify(error, 5, POLICY)
    assert isinstance(last, GiveUp) and last.reason.startswith("gave up after 5 attempts")


def test_every_error_raised_on_purpose_shares_one_root() -> None:
    for kind in (EbookError, SourceError, UnknownVoiceError, SynthesisError, DecodeError, RequestError,
                 AssemblyError, StackError, NatsUnreachable, CliError, TransientError):
        assert issubclass(kind, PipelineError), kind


def test_a_message_too_large_for_the_server_is_given_up_at_once() -> None:
    from services.bus.publish import PayloadTooLarge

    assert isinstance(classify(nats.errors.MaxPayloadError(), 1, POLICY), GiveUp)
    given_up = classify(PayloadTooLarge("a message on x would be 2,000,000 bytes"), 1, POLICY)
    assert isinstance(given_up, GiveUp) and "2,000,000 bytes" in given_up.reason


def test_a_max_deliveries_advisory_is_read_and_anything_else_is_not() -> None:
    from services.bus.exhausted import ADVISORY_TYPE, Exhausted, exhausted_of

    advisory = {"type": ADVISORY_TYPE, "id": "x", "timestamp": "2026-12-04T22:36:53Z", "stream": "SYNTH",
                "consumer": "tts-piper", "stream_seq": 7, "deliveries": 5}
    assert exhausted_of(orjson.dumps(advisory)) == Exhausted("SYNTH", "tts-piper", 7, 5)
    for wrong in ({"type": "io.nats.jetstream.advisory.v1.terminated"}, {"stream_seq": 0}, {"stream_seq": True},
                  {"deliveries": -1}, {"stream": 3}):
        assert exhausted_of(orjson.dumps({**advisory, **wrong})) is None, wrong
    assert exhausted_of(b"not json") is None and exhausted_of(b"[1]") is None
