"""Codec: every event and command survives a round trip; bad payloads are refused clearly."""

import re

import orjson
import pytest

from events.codec import UPCASTERS, DecodeError, decode_command, decode_event, encode
from events.types import (
    EVENT_TYPES,
    BookParsed,
    BookWarning,
    ChapterInfo,
    CheckOrder,
    JobAccepted,
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobPaused,
    JobRejected,
    JobReopened,
    JobResumed,
    Quality,
    SegmentChecked,
    SegmentFailed,
    SegmentSynthesized,
    SynthesizeSegment,
)

EXAMPLES = [
    JobAccepted("j1", "ab" * 32, "book.epub", "piper", "en_US-joe-medium", 1.0, "req-1"),
    JobRejected("r1", "request is not valid JSON"),
    BookParsed("j1", "Title", "Author", "en", (ChapterInfo(0, "One", 3, 900), ChapterInfo(1, "Two", 1, 12)),
               cover_object="covers/j1.jpg"),
    SegmentSynthesized("j1", 0, 2, "audio/k.wav", 44100, 22050, cache_hit=True, worker="w", synth_seconds=0.5),
    SegmentSynthesized("j1", 0, 3, "audio/k.aac", 44100, 22050, check=CheckOrder("Said.", "en", 1.25, 650)),
    SegmentChecked("j1", 0, 3, "audio/k.aac", False, "3 words missing: 'a b c'", 12, 9, 3, ("a b c",), (),
                   "A b c said.", "said", "en", 0.99, 0.8, 2.5, 0.1, 0.7, 0.0, "w", 1.5),
    SegmentFailed("j1", 1, 0, "text contains a NUL character", worker="w"),
    JobCompleted("j1", "books/j1.m4b", 12.5, 1000, 2),
    JobCompleted("j1", "books/j1.m4b", 12.5, 1000, 2, quality=Quality(10, 1, 300, 12, "en", 1.0)),
    JobFailed("j1", "1 segment(s) could not be synthesized", ((1, 0, "bad"),), generation=1),
    JobCancelled("j1", "changed my mind"),
    JobPaused("j1", "back after lunch", generation=2),
    JobResumed("j1", 2),
    JobReopened("j1", 3, ((0, 2, 1), (4, 17, 3))),
    JobCompleted("j1", "books/j1.m4b", 12.5, 1000, 2, generation=3),
    BookWarning("j1", ("chapter_007.xhtml is not readable XHTML; its text is not read",), generation=1),
]


def test_every_event_type_has_an_example() -> None:
    assert {type(e) for e in EXAMPLES} == set(EVENT_TYPES.values())


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.KIND)
def test_event_round_trip(event) -> None:
    data = encode(event)
    assert orjson.loads(data)["type"] == event.KIND
    assert orjson.loads(data)["v"] == event.VERSION
    assert decode_event(data) == event


def test_command_round_trip() -> None:
    command = SynthesizeSegment("j1", 2, 7, ("Heading", "First sentence. Second."), "piper", "v", 1.25, 650, "k")
    assert decode_command(encode(command)) == command
    assert command.msg_id() == "j1:synthesize:2:7:0"
    shared = SynthesizeSegment("j1", 2, 7, ("* * *",), "piper", "v", 1.0, 650, "k", duplicates=((3, 1), (9, 4)))
    assert decode_command(encode(shared)) == shared
    assert shared.positions() == ((2, 7), (3, 1), (9, 4))


def test_msg_ids_are_deterministic_and_distinct() -> None:
    ids = [e.msg_id() for e in EXAMPLES]
    assert ids == [e.msg_id() for e in EXAMPLES]
    assert SegmentSynthesized("j", 0, 1, "a", 1, 1).msg_id() != SegmentSynthesized("j", 0, 2, "a", 1, 1).msg_id()
    redelivered = SegmentSynthesized("j", 0, 1, "a", 1, 1, delivery=2)
    assert redelivered.msg_id() != SegmentSynthesized("j", 0, 1, "a", 1, 1).msg_id()
    assert JobRejected("j", "x", request_seq=1).msg_id() != JobRejected("j", "x", request_seq=2).msg_id()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"type": "nope", "v": 1, "job_id": "j"}', "unknown event type"),
        (b'{"type": "job.rejected", "v": 1, "job_id": "j"}', "bad JobRejected payload"),
        (b'{"type": "job.rejected", "v": 9, "job_id": "j", "reason": "x"}', "newer than this code"),
    ],
)
def test_decode_errors(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_event(data)


def test_old_versions_are_upcast(monkeypatch) -> None:
    """A v0 payload (reason under another name) is upcast before it is built."""
    def v0_to_v1(payload):
        payload["reason"] = payload.pop("why")
        return payload

    monkeypatch.setitem(UPCASTERS, ("job.rejected", 0), v0_to_v1)
    data = orjson.dumps({"type": "job.rejected", "v": 0, "job_id": "j", "why": "old"})
    assert decode_event(data) == JobRejected("j", "old")


def test_command_decoder_refuses_events() -> None:
    with pytest.raises(DecodeError, match="not a synthesis job"):
        decode_command(encode(EXAMPLES[0]))


@pytest.mark.parametrize(("raw", "message"), [
    (b'{"type":"segment.synthesized","v":1,"job_id":"j1","chapter":"0","index":0,"audio_object":"a",'
     b'"samples":1024,"sample_rate":22050}', "SegmentSynthesized.chapter"),
    (b'{"type":"segment.synthesized","v":1,"job_id":"j1","chapter":-1,"index":0,"audio_object":"a",'
     b'"samples":1024,"sample_rate":22050}', "SegmentSynthesized.chapter"),
    (b'{"type":"segment.synthesized","v":1,"job_id":"j1","chapter":true,"index":0,"audio_object":"a",'
     b'"samples":1024,"sample_rate":22050}', "SegmentSynthesized.chapter"),
    (b'{"type":"segment.synthesized","v":1,"job_id":"j1","chapter":0,"index":0,"audio_object":["a"],'
     b'"samples":1024,"sample_rate":22050}', "SegmentSynthesized.audio_object"),
    (b'{"type":"book.parsed","v":1,"job_id":"j1","title":"T","author":"A","language":"en",'
     b'"chapters":[{"index":0,"title":"x","segments":"many","chars":1}]}', "chapters[0].segments"),
    (b'{"type":"book.parsed","v":1,"job_id":"j1","title":"T","author":"A","language":"en","chapters":{}}',
     "BookParsed.chapters"),
    (b'{"type":"job.failed","v":1,"job_id":"j1","reason":"r","failed_segments":[[0,"1","x"]]}',
     "failed_segments[0][1]"),
    (b'{"type":"job.completed","v":1,"job_id":"j1","output_object":"o","seconds":1e400,"size":1,"chapters":1}',
     "not JSON"),
    (b'{"type":"job.rejected","v":1,"job_id":"../etc","reason":"r"}', "bad job id"),
    (b'{"type":"job.rejected","v":1,"job_id":"j1","reason":"r","colour":"red"}', "unknown field(s) colour"),
])
def test_wrong_types_and_ranges_are_decode_errors_not_crashes(raw: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=re.escape(message)):
        decode_event(raw)


def test_command_fields_are_checked_too() -> None:
    good = encode(SynthesizeSegment("j1", 0, 1, ("Hi.",), "test", "short", 1.0, 250, "k", 0, ((0, 2),)))
    assert decode_command(good).duplicates == ((0, 2),)
    for bad in (good.replace(b'"speed":1.0', b'"speed":"fast"'),
                good.replace(b'"paragraphs":["Hi."]', b'"paragraphs":"Hi."'),
                good.replace(b'"duplicates":[[0,2]]', b'"duplicates":[[0,2,3]]')):
        with pytest.raises(DecodeError):
            decode_command(bad)


def test_a_forged_pause_is_refused() -> None:
    """A command asking for hours of silence would make a worker allocate it: refused as garbage."""
    good = encode(SynthesizeSegment("j1", 0, 1, ("Hi.",), "test", "short", 1.0, 250, "k"))
    assert decode_command(good).paragraph_pause_ms == 650
    for field in (b'"pause_after_ms":250', b'"sentence_pause_ms":250', b'"paragraph_pause_ms":650'):
        name = field.split(b":")[0]
        with pytest.raises(DecodeError, match="the limit is 10000 ms"):
            decode_command(good.replace(field, name + b":36000000"))
