"""A person's retake of a finished book's segments (pure): the request, the rule, the fold, the
commands queued, the take the book holds, the run of takes the check may add."""

from __future__ import annotations

import argparse
from dataclasses import replace

import pytest

from events import names
from events.projection import COMPLETED, PARSED, JobState, Tracked, apply, fold, from_snapshot, to_snapshot
from events.requests import MAX_RETAKE_POSITIONS, RequestError, parse_request, retake_refusal
from events.types import (
    BookParsed,
    ChapterInfo,
    CheckOrder,
    JobAccepted,
    JobCompleted,
    JobReopened,
    SegmentChecked,
    SegmentFailed,
    SegmentSynthesized,
    SynthesizeSegment,
)
from services.app.convert import segment_position
from services.assemble.decide import completion_of
from services.assemble.takes import Takes, chosen
from services.parse import decide as parse_decide
from services.tts import decide as tts_decide

ACCEPT = JobAccepted("j", "s" * 64, "b.epub", "test", "default", 1.0)
PARSE = BookParsed("j", "T", "A", "en", (ChapterInfo(0, "One", 3, 10), ChapterInfo(1, "Two", 2, 5)))
BOOK = JobCompleted("j", "books/j.m4b", 5.0, 10, 2)


def done(chapter: int, index: int, take: int = 0, generation: int = 0) -> SegmentSynthesized:
    return SegmentSynthesized("j", chapter, index, names.take_object(f"k{chapter}{index}", take), 22050, 22050,
                              take=take, generation=generation)


def finished() -> JobState:
    return fold("j", [ACCEPT, PARSE, *(done(c, i) for c, n in ((0, 3), (1, 2)) for i in range(n)), BOOK])


def test_a_request_names_positions_zero_based_each_once_in_reading_order() -> None:
    request = parse_request(b'{"source": {"object": "b.epub"}, "retake": [[1, 0], [0, 2], [1, 0]]}')
    assert request.retake == ((0, 2), (1, 0))
    assert parse_request(request.encode()).retake == request.retake, "it survives its own encoding"
    assert parse_request(b'{"source": {"object": "b.epub"}}').retake == ()
    for bad in (b'"3.12"', b"[]", b"[[1]]", b"[[1, -1]]", b"[[1, true]]", b'[["1", 2]]', b"[[1, 2.5]]"):
        with pytest.raises(RequestError, match="retake"):
            parse_request(b'{"source": {"object": "b.epub"}, "retake": ' + bad + b"}")
    too_many = ", ".join(f"[0, {i}]" for i in range(MAX_RETAKE_POSITIONS + 1)).encode()
    with pytest.raises(RequestError, match=f"the limit is {MAX_RETAKE_POSITIONS}"):
        parse_request(b'{"source": {"object": "b.epub"}, "retake": [' + too_many + b"]}")


def test_the_cli_reads_positions_as_check_shows_them() -> None:
    assert segment_position("3.12") == (2, 11)
    for bad in ("3", "0.1", "1.0", "a.b", "3.12.1", "-1.2", "٣.١"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"CHAPTER\.INDEX"):
            segment_position(bad)


def test_only_a_completed_books_own_segments_are_retaken() -> None:
    assert retake_refusal(finished(), ((0, 2), (1, 1))) == ""
    running = fold("j", [ACCEPT, PARSE])
    assert "is parsed: only a completed book's segments can be retaken (wait until it completes)" in retake_refusal(
        running, ((0, 0),))
    assert "no segment 3.1" in retake_refusal(finished(), ((2, 0),))
    assert "chapter 2 has 2 segments: there is no segment 2.3" in retake_refusal(finished(), ((1, 2),))
    assert "unknown" in retake_refusal(JobState("j"), ((0, 0),))


def test_a_reopened_job_waits_for_takes_at_least_as_new_as_those_asked_for() -> None:
    state = finished()
    assert state.status == COMPLETED and state.audio_seconds == 5.0
    reopened = JobReopened("j", 1, ((0, 1, 2),))
    apply(state, reopened)
    assert state.status == PARSED and state.generation == state.reopened == 1 and not state.ready_to_assemble
    assert state.done_segments == 4 and state.chapters[0].asked == {1: 2}
    apply(state, done(0, 1, take=1, generation=1))
    assert not state.ready_to_assemble, "a take older than the one asked for does not count"
    apply(state, done(0, 1, take=2, generation=1))
    assert state.ready_to_assemble and state.audio_seconds == 5.0, "its length is not counted twice"
    apply(state, BOOK)
    assert state.status == PARSED, "the book from before the reopening is not its completion"
    apply(state, replace(BOOK, generation=1))
    assert state.status == COMPLETED
    apply(state, reopened)
    assert state.status == COMPLETED and state.generation == 1, "a reopening is folded once"


def test_a_reopening_of_a_job_that_is_not_completed_changes_nothing() -> None:
    running = fold("j", [ACCEPT, PARSE, done(0, 0)])
    before = replace(running, chapters=[replace(c, done=set(c.done)) for c in running.chapters])
    assert apply(running, JobReopened("j", 1, ((0, 0, 1),))) == before


def test_a_failed_retake_fails_the_job_and_a_verdict_on_an_old_take_changes_no_flag() -> None:
    state = apply(finished(), JobReopened("j", 1, ((1, 0, 1),)))
    apply(state, SegmentChecked("j", 1, 0, "audio/k10.aac", False, "cut off", take=0))
    assert not state.flagged_segments
    apply(state, SegmentFailed("j", 1, 0, "the voice failed", generation=1))
    assert state.stuck and state.failed_segments == [(1, 0, "the voice failed")]


def test_the_takes_asked_for_survive_the_checkpoint() -> None:
    tracked = Tracked(finished())
    tracked.apply(JobReopened("j", 1, ((0, 1, 2), (1, 1, 4))), 20)
    restored = from_snapshot(to_snapshot(tracked)).state
    assert restored.reopened == 1 and restored.chapters[0].asked == {1: 2} and restored.chapters[1].asked == {1: 4}
    assert restored.done_segments == 3
    assert b'"asked"' not in to_snapshot(Tracked(finished())), "a job never retaken keeps its checkpoint's bytes"


COMMAND = SynthesizeSegment("j", 0, 1, ("Said.",), "piper", "v", 1.0, 250, "k", duplicates=((1, 0), (1, 1)))


def test_a_retaken_position_gets_a_command_of_its_own_at_its_take() -> None:
    state = apply(finished(), JobReopened("j", 1, ((1, 0, 3),)))
    (head_subject, head), (own_subject, own) = parse_decide.with_takes([("s", COMMAND)], state, "en")
    assert head == replace(COMMAND, duplicates=((1, 1),)), "the command keeps its other positions"
    assert head_subject == names.synth_subject("piper", "j", 0, 1)
    assert own_subject == names.synth_subject("piper", "j", 1, 0)
    assert (own.chapter, own.index, own.duplicates, own.take, own.first_take) == (1, 0, (), 3, 3)
    assert own.check_language == "en", "a retake of a checked book is heard"
    head_retaken = apply(finished(), JobReopened("j", 1, ((0, 1, 1),)))
    (subject, rest), (_, retaken) = parse_decide.with_takes([("s", COMMAND)], head_retaken)
    assert (rest.chapter, rest.index, rest.duplicates) == (1, 0, ((1, 1),)) and subject.endswith(".j.1.0")
    assert (retaken.chapter, retaken.index, retaken.take, retaken.check_language) == (0, 1, 1, "")
    queued = parse_decide.to_queue(parse_decide.with_takes([("s", COMMAND)], head_retaken), head_retaken, set())
    assert [job.take for _, job in queued] == [1], "only the retaken position is missing"


def test_a_reopening_lists_every_retake_so_far_and_takes_pass_the_checks() -> None:
    state = apply(finished(), JobReopened("j", 1, ((0, 1, 2),)))
    again = parse_decide.reopening(state, {(1, 0): 1, (0, 1): 3})
    assert again == JobReopened("j", 2, ((0, 1, 3), (1, 0, 1)))
    assert parse_decide.next_take(state, (0, 1), 1) == 3, "past the take asked before"
    assert parse_decide.next_take(state, (1, 0), 2) == 3, "past the takes the check asked for"
    assert parse_decide.next_take(state, (1, 1), 0) == 1


def test_a_persons_take_starts_a_run_the_check_may_extend() -> None:
    job = replace(COMMAND, duplicates=(), check_language="en", take=4, first_take=4)
    audio = tts_decide.StoredAudio(1024, 22050)
    order = tts_decide.synthesized(job, "audio/k.take4.aac", audio, worker="w", delivery=1, cache_hit=False,
                                   takes=3)[0].check
    assert order is not None and order.retake is not None and (order.retake.take, order.takes) == (5, 7)
    last = replace(job, take=6)
    order = tts_decide.synthesized(last, "a", audio, worker="w", delivery=1, cache_hit=False, takes=3)[0].check
    assert order is not None and order.retake is None


def placed(take: int, checked: bool = False) -> SegmentSynthesized:
    order = CheckOrder("Said.", "en", take=take, takes=3) if checked else None
    return replace(done(0, 1, take), check=order)


def test_the_book_holds_a_take_from_the_one_asked_for() -> None:
    takes = Takes({0: placed(0), 1: placed(1)}, floor=2)
    assert chosen(takes) is None, "the takes before the one asked for are out of the running"
    takes.heard[2] = placed(2)
    assert chosen(takes) == placed(2)
    heard = Takes({0: placed(0, True), 2: placed(2, True)}, {0: SegmentChecked(
        "j", 0, 1, placed(0).audio_object, True, take=0)}, floor=2)
    assert chosen(heard) is None, "a fine verdict on a take replaced is no verdict"
    heard.verdicts[2] = SegmentChecked("j", 0, 1, placed(2).audio_object, False, "cut off", take=2, retake=False)
    assert chosen(heard) == placed(2, True), "the best of the takes from the one asked for"


def test_a_completion_before_a_reopening_is_not_the_builds() -> None:
    from events.codec import encode
    assert completion_of(encode(BOOK), "j", 1) is None
    assert completion_of(encode(replace(BOOK, generation=1)), "j", 1) is not None
    assert completion_of(encode(BOOK), "j") is not None
    assert BOOK.msg_id() != replace(BOOK, generation=1).msg_id(), "a rebuilt book's completion is not a duplicate"


def test_a_retake_request_delivered_again_is_queued_again_not_refused_or_reopened_twice() -> None:
    state = apply(finished(), JobReopened("j", 1, ((0, 1, 2),)))
    assert parse_decide.retake_under_way(state, ((0, 1),))
    assert not parse_decide.retake_under_way(state, ((0, 1), (1, 0))), "another segment: a new request"
    assert not parse_decide.retake_under_way(finished(), ((0, 1),)), "a completed job is reopened"
    apply(state, done(0, 1, take=2, generation=1))
    apply(state, replace(BOOK, generation=1))
    assert not parse_decide.retake_under_way(state, ((0, 1),)), "done: the same retake again is a new one"
    assert not parse_decide.retake_under_way(fold("j", [ACCEPT, PARSE]), ((0, 0),))
