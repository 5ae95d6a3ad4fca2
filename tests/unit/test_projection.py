"""The fold: a job's state from its events alone, idempotent, snapshot-able."""

from dataclasses import replace

import orjson
import pytest

from events.folds import FOLDS
from events.projection import (
    ACCEPTED,
    CANCELLED,
    COMPLETED,
    FAILED,
    FINAL,
    PARSED,
    PAUSED,
    REJECTED,
    SNAPSHOT_ERRORS,
    JobState,
    JobStatus,
    Tracked,
    apply,
    fold,
    from_snapshot,
    to_snapshot,
)
from events.types import (
    EVENT_TYPES,
    BookParsed,
    BookWarning,
    ChapterInfo,
    JobAccepted,
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobPaused,
    JobRejected,
    JobResumed,
    SegmentChecked,
    SegmentFailed,
    SegmentSynthesized,
)

ACCEPT = JobAccepted("j", "s" * 64, "b.epub", "test", "default", 1.0)
PARSE = BookParsed("j", "T", "A", "en", (ChapterInfo(0, "One", 2, 10), ChapterInfo(1, "Two", 1, 5)))


def done(chapter: int, index: int, samples: int = 22050) -> SegmentSynthesized:
    return SegmentSynthesized("j", chapter, index, f"audio/{chapter}-{index}.wav", samples, 22050)


def test_progress_and_readiness() -> None:
    state = fold("j", [ACCEPT])
    assert state.status == ACCEPTED and not state.ready_to_assemble
    state = fold("j", [ACCEPT, PARSE, done(0, 0), done(1, 0)])
    assert state.status == PARSED
    assert (state.done_segments, state.total_segments) == (2, 3)
    assert not state.ready_to_assemble
    apply(state, done(0, 1))
    assert state.ready_to_assemble
    assert state.audio_seconds == 3.0
    apply(state, JobCompleted("j", "books/j.m4b", 3.0, 10, 2))
    assert state.status == COMPLETED and not state.ready_to_assemble


def test_duplicate_events_count_once() -> None:
    state = fold("j", [ACCEPT, PARSE, done(0, 0), done(0, 0), done(0, 0)])
    assert state.done_segments == 1 and state.audio_seconds == 1.0


def test_stream_sequence_guard_skips_replayed_events() -> None:
    tracked = Tracked(JobState("j"))
    for seq, event in enumerate([ACCEPT, PARSE, done(0, 0)], start=1):
        assert tracked.apply(event, seq)
    assert not tracked.apply(done(0, 1), 2)  # an older sequence number: already applied
    assert tracked.state.done_segments == 1 and tracked.seq == 3


def test_the_stream_sequence_is_beside_the_state_not_in_it() -> None:
    tracked = Tracked(JobState("j"))
    tracked.apply(ACCEPT, 7)
    assert tracked.seq == 7 and tracked.state == fold("j", [ACCEPT])
    assert "applied_seq" not in vars(tracked.state)
    assert tracked.apply(done(0, 0), 0) and tracked.seq == 7, "sequence 0: folded, the tracking stays"


def test_every_event_kind_has_its_own_fold() -> None:
    assert {kind for kind, cls in EVENT_TYPES.items() if cls not in FOLDS} == set()
    assert apply(JobState("j"), ACCEPT).status is JobStatus.ACCEPTED


def test_statuses_are_an_enum_of_the_wire_strings() -> None:
    assert [s.value for s in JobStatus] == ["", "accepted", "parsed", "completed", "failed", "rejected",
                                            "cancelled", "paused"]
    assert COMPLETED is JobStatus.COMPLETED and COMPLETED == "completed" and f"{PAUSED}" == "paused"
    assert "cancelled" in FINAL and "paused" not in FINAL
    assert orjson.dumps({"status": JobStatus.PARSED}) == b'{"status":"parsed"}'


def test_segments_arriving_before_parsed_are_not_lost_when_replayed() -> None:
    """parse publishes book.parsed before queueing, so a replay always sees it first."""
    state = fold("j", [ACCEPT, PARSE, done(1, 0)])
    assert state.chapters[1].done == {0}


def test_permanent_failures_make_the_job_stuck_and_a_later_success_clears_them() -> None:
    failed = SegmentFailed("j", 0, 1, "engine refused the text")
    state = fold("j", [ACCEPT, PARSE, done(0, 0), failed, done(1, 0)])
    assert state.stuck and state.failed_segments == [(0, 1, "engine refused the text")]
    apply(state, done(0, 1))
    assert not state.stuck and state.ready_to_assemble


def test_transient_failures_do_not_count() -> None:
    state = fold("j", [ACCEPT, PARSE, SegmentFailed("j", 0, 0, "timeout", permanent=False)])
    assert not state.failed_segments


def test_terminal_states() -> None:
    assert fold("r", [JobRejected("r", "not an EPUB")]).status == REJECTED
    failed = fold("j", [ACCEPT, PARSE, JobFailed("j", "gave up")])
    assert failed.status == FAILED and failed.reason == "gave up"
    completed = fold("j", [ACCEPT, PARSE, JobCompleted("j", "books/j.m4b", 1, 1, 1), JobFailed("j", "late")])
    assert completed.status == COMPLETED
    forged = fold("j", [ACCEPT, PARSE, JobCompleted("j", "books/someone-else.m4b", 1, 1, 1)])
    assert forged.status == PARSED, "a completion that names another book is not this job's"


def test_snapshot_round_trip() -> None:
    tracked = Tracked(JobState("j"))
    for seq, event in enumerate([ACCEPT, PARSE, done(0, 1), SegmentFailed("j", 1, 0, "bad")], start=1):
        tracked.apply(event, seq)
    restored = from_snapshot(to_snapshot(tracked))
    state = tracked.state
    assert restored.state == replace(state, chapters=[replace(c, title="") for c in state.chapters])
    assert restored.seq == 4 and restored.state.status is JobStatus.PARSED
    assert restored.state.failed_segments == [(1, 0, "bad")]


# A checkpoint as the release before the tracking moved out of the state wrote it (events 10, 20, ... 60).
OLD_CHECKPOINT = (
    b'{"job_id":"j","status":"failed","title":"T","author":"A","engine":"test","voice":"default","language":"en",'
    b'"requested_engine":"test","requested_voice":"default","requested_language":"","requested_speaker":"",'
    b'"requested_chapters":"","requested_pauses":"","cache_hits":0,"synth_seconds":0.0,'
    b'"reason":"1 segment failed","output_object":"","loudness_lufs":null,"true_peak_dbtp":null,"generation":0,'
    b'"source_sha256":"ssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss","source_name":"b.epub",'
    b'"source_object":"","speed":1.0,"applied_seq":60,"v":2,"warnings":["w1","w2"],"warning_count":2,'
    b'"totals":[2,1],"seconds":[1.0,0.0],"done":"Ag==","failed":"BA==","reasons":{"2":"bad"}}'
)


def test_an_old_checkpoint_loads_and_the_format_is_unchanged() -> None:
    events = [replace(ACCEPT, lexicon="a=b"), BookWarning("j", ("w1", "w2")), PARSE, done(0, 1),
              SegmentFailed("j", 1, 0, "bad"), JobFailed("j", "1 segment failed")]
    tracked = Tracked(JobState("j"))
    for seq, event in enumerate(events, start=1):
        tracked.apply(event, seq * 10)
    assert to_snapshot(tracked) == OLD_CHECKPOINT, "the checkpoint's bytes are those of the earlier release"
    restored = from_snapshot(OLD_CHECKPOINT)
    assert restored.seq == 60 and restored.state.status is JobStatus.FAILED
    assert restored.state.failed_segments == [(1, 0, "bad")] and restored.state.done_segments == 1
    assert to_snapshot(restored) == OLD_CHECKPOINT
    assert not restored.apply(done(0, 0), 60) and restored.apply(done(0, 0), 61), "replay resumes after 60"
    assert restored.state.done_segments == 2


def test_snapshot_is_bounded_at_every_limit() -> None:
    """A book at every documented limit: 2,000 chapters with 200-character titles, 100,000
    segments, a 32 KiB lexicon, 1,000 long warnings, every segment done, every tenth failed first."""
    chapters = tuple(ChapterInfo(i, "T" * 200, 50, 1000) for i in range(2000))
    state = JobState("j")
    apply(state, replace(ACCEPT, lexicon="word=" + "x" * 32_000))
    apply(state, BookWarning("j", tuple("w" * 2000 for _ in range(1000))))
    apply(state, BookParsed("j", "T" * 200, "A" * 200, "en", chapters))
    for ci in range(2000):
        for si in range(0, 50, 10):
            apply(state, SegmentFailed("j", ci, si, "r" * 2000))
        for si in range(50):
            if si % 10:
                apply(state, done(ci, si))
    snapshot = to_snapshot(Tracked(state, 1))
    assert len(snapshot) < 128 * 1024, len(snapshot)
    restored = from_snapshot(snapshot).state
    assert restored.total_segments == 100_000 and restored.done_segments == 90_000
    assert len(restored.failed_segments) == 10_000 and restored.stuck == state.stuck
    assert restored.failed_segments[0] == (0, 0, "r" * 2000)
    assert restored.failed_segments[-1][2] == "(the reason is in the job's log)"
    assert [len(c.done) for c in restored.chapters] == [45] * 2000
    assert restored.audio_seconds == state.audio_seconds


def test_a_checkpoint_of_another_version_is_refused() -> None:
    old = orjson.dumps({"job_id": "j", "chapters": [{"title": "x", "total": 1, "done": [0], "failed": {},
                                                     "seconds": 1.0}]})
    unknown_status = OLD_CHECKPOINT.replace(b'"status":"failed"', b'"status":"exploded"')
    for data in (old, b"", b"{", b"[]", unknown_status):
        with pytest.raises(SNAPSHOT_ERRORS):
            from_snapshot(data)


def test_resume_clears_failures_and_starts_a_new_generation() -> None:
    failed = SegmentFailed("j", 0, 1, "engine refused the text")
    state = fold("j", [ACCEPT, PARSE, done(0, 0), done(1, 0), failed, JobFailed("j", "1 segment failed")])
    assert state.status == FAILED
    apply(state, JobResumed("j", 1))
    assert state.status == PARSED and state.generation == 1 and not state.failed_segments
    apply(state, SegmentFailed("j", 0, 1, "late failure from the old generation"))
    assert not state.failed_segments, "failures of an older generation are ignored"
    apply(state, JobFailed("j", "stale", generation=0))
    assert state.status == PARSED
    apply(state, done(0, 1))
    assert state.ready_to_assemble and state.done_segments == 3


def test_cancel_stops_assembly_until_resumed() -> None:
    state = fold("j", [ACCEPT, PARSE, done(0, 0), JobCancelled("j")])
    assert state.status == CANCELLED
    apply(state, done(0, 1))
    apply(state, done(1, 0))
    assert not state.ready_to_assemble
    apply(state, JobResumed("j", 1))
    assert state.ready_to_assemble


def test_pause_holds_a_running_job_until_resumed_and_keeps_its_work() -> None:
    state = fold("j", [ACCEPT, PARSE, done(0, 0), JobPaused("j", "lunch")])
    assert (state.status, state.reason) == (PAUSED, "lunch") and state.status not in FINAL
    apply(state, done(0, 1))  # a segment a worker held when the pause came still counts
    apply(state, done(1, 0))
    assert state.done_segments == 3 and not state.ready_to_assemble
    apply(state, JobResumed("j", 1))
    assert state.status == PARSED and state.ready_to_assemble


def test_a_pause_of_an_older_generation_or_a_finished_job_changes_nothing() -> None:
    state = fold("j", [ACCEPT, PARSE, JobPaused("j"), JobResumed("j", 1), JobPaused("j", generation=0)])
    assert state.status == PARSED
    finished = fold("j", [ACCEPT, PARSE, JobCancelled("j"), JobPaused("j")])
    assert finished.status == CANCELLED


def test_accepted_remembers_the_source_for_resume() -> None:
    state = fold("j", [ACCEPT])
    assert (state.source_sha256, state.source_name, state.engine, state.voice) == ("s" * 64, "b.epub", "test",
                                                                                   "default")


def checked(chapter: int, index: int, ok: bool = True, reason: str = "", words: int = 10,
            errors: int = 1) -> SegmentChecked:
    return SegmentChecked("j", chapter, index, f"audio/{chapter}-{index}.aac", ok, reason, words=words, errors=errors)


def test_verdicts_are_folded_once_and_a_later_one_replaces_the_flag() -> None:
    state = fold("j", [replace(ACCEPT, check="all"), PARSE, done(0, 0), done(0, 1), done(1, 0),
                       checked(0, 0), checked(0, 1, False, "3 words missing: 'a b c'", errors=4),
                       checked(0, 1, False, "3 words missing: 'a b c'", errors=4), checked(7, 0, False, "x")])
    assert state.requested_check == "all" and state.checked_segments == 2
    assert state.flagged_segments == [(0, 1, "3 words missing: 'a b c'")]
    assert (state.words_checked, state.word_errors) == (20, 5), "a repeated verdict counts once"
    apply(state, checked(0, 1, True))
    assert state.flagged_segments == [] and state.checked_segments == 2


def test_verdicts_survive_the_checkpoint_and_an_unchecked_job_keeps_the_old_bytes() -> None:
    tracked = Tracked(JobState("j"))
    for seq, event in enumerate([replace(ACCEPT, check="sample:0.1"), PARSE, done(0, 0), done(0, 1),
                                 checked(0, 1, False, "cut off")], start=1):
        tracked.apply(event, seq)
    restored = from_snapshot(to_snapshot(tracked)).state
    assert restored.flagged_segments == [(0, 1, "cut off")] and restored.checked_segments == 1
    assert (restored.requested_check, restored.words_checked, restored.word_errors) == ("sample:0.1", 10, 1)
    assert b"checked" not in to_snapshot(Tracked(fold("j", [ACCEPT, PARSE, done(0, 0)])))


def test_the_policy_asked_and_the_policy_planned_are_kept_apart() -> None:
    """A request naming no policy gets the stack's; book.parsed says what the plan used (a resume repeats
    the request's, so a test engine job stays unheard)."""
    state = fold("j", [ACCEPT, replace(PARSE, check="sample:0.1")])
    assert (state.requested_check, state.check) == ("", "sample:0.1")
    restored = from_snapshot(to_snapshot(Tracked(state))).state
    assert (restored.requested_check, restored.check) == ("", "sample:0.1")
