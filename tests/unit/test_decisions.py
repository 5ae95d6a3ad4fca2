"""Each stage's decisions, without a server: duplicates, resume, cancel, cache hit, the assembly claim."""

from __future__ import annotations

import orjson
import pytest

from events.audio import stored_audio
from events.projection import CANCELLED, COMPLETED, FAILED, PAUSED, JobState, fold
from events.requests import ConvertRequest
from events.types import (
    BookParsed,
    ChapterInfo,
    JobAccepted,
    JobCancelled,
    JobFailed,
    JobPaused,
    JobResumed,
    SegmentFailed,
    SegmentSynthesized,
    SynthesizeSegment,
)
from services.assemble import decide as assemble
from services.parse import decide as parse
from services.tts import decide as tts

ACCEPT = JobAccepted("j", "s" * 64, "b.epub", "test", "short", 1.0)
PARSE = BookParsed("j", "T", "A", "en", (ChapterInfo(0, "One", 2, 10), ChapterInfo(1, "Two", 2, 5)))


def done(chapter: int, index: int) -> SegmentSynthesized:
    return SegmentSynthesized("j", chapter, index, f"audio/{chapter}-{index}.aac", 1024, 22050)


def command(chapter: int, index: int, generation: int = 0,
            duplicates: tuple[tuple[int, int], ...] = ()) -> tuple[str, SynthesizeSegment]:
    job = SynthesizeSegment("j", chapter, index, (f"text {chapter} {index}",), "test", "short", 1.0, 250,
                            f"key-{chapter}-{index}", generation, duplicates)
    return f"synth.j.{chapter}.{index}", job


# parse ------------------------------------------------------------------------------------------

def _sized(index: int, chars: int) -> tuple[str, SynthesizeSegment]:
    from dataclasses import replace

    subject, job = command(0, index)
    return subject, replace(job, paragraphs=("x" * chars,))


def test_segments_far_longer_than_the_median_are_queued_first_longest_first() -> None:
    book = [_sized(0, 100), _sized(1, 120), _sized(2, 2400), _sized(3, 90), _sized(4, 900), _sized(5, 110),
            _sized(6, 100), _sized(7, 95)]
    order = [job.index for _, job in parse.dispatch_order(book)]
    assert order == [2, 4, 0, 1, 3, 5, 6, 7], "outliers first (longest first), the rest in reading order"
    assert parse.dispatch_order([]) == []


def test_the_books_last_quarter_is_queued_longest_first_so_the_fleet_runs_out_together() -> None:
    sizes = [150, 90, 160, 120, 100, 140, 80, 130, 170, 60, 110, 95]
    order = [job.index for _, job in parse.dispatch_order([_sized(i, n) for i, n in enumerate(sizes)])]
    assert order == [*range(9), 10, 11, 9], "the last 3 of 12, longest first; the rest in reading order"
    even = [_sized(i, 100) for i in range(40)]
    assert parse.dispatch_order(even) == even, "equal sizes keep reading order, tail included"
    long_book = [_sized(i, 100 + i % 7) for i in range(2000)]
    order = [job.index for _, job in parse.dispatch_order(long_book)]
    assert order[:2000 - parse.MAX_TAIL] == list(range(2000 - parse.MAX_TAIL)), "a long book's tail is capped"
    tail = [100 + i % 7 for i in order[2000 - parse.MAX_TAIL:]]
    assert tail == sorted(tail, reverse=True) and sorted(order) == list(range(2000))


def test_resume_queues_only_what_is_neither_done_nor_queued() -> None:
    state = fold("j", [ACCEPT, PARSE, done(0, 0)])
    jobs = [command(0, 0), command(0, 1), command(1, 0), command(1, 1)]
    todo = parse.to_queue(jobs, state, queued={(1, 0)})
    assert [(job.chapter, job.index) for _, job in todo] == [(0, 1), (1, 1)]


def test_a_command_whose_positions_are_all_done_is_not_queued_again() -> None:
    state = fold("j", [ACCEPT, PARSE, done(0, 1), done(1, 1)])
    merged = command(0, 1, duplicates=((1, 1),))
    assert parse.to_queue([merged], state, queued=set()) == []
    state = fold("j", [ACCEPT, PARSE, done(0, 1)])  # one of its positions still missing
    assert parse.to_queue([merged], state, queued=set()) == [merged]


@pytest.mark.parametrize(("events", "generation", "resumes"), [
    ([ACCEPT, PARSE], 0, False),  # still running: same generation
    ([ACCEPT, PARSE, JobFailed("j", "gave up")], 1, True),
    ([ACCEPT, PARSE, JobCancelled("j")], 1, True),
    ([ACCEPT, PARSE, JobPaused("j")], 1, True),  # unpause
    ([ACCEPT, PARSE, JobCancelled("j"), JobResumed("j", 1), JobFailed("j", "again", generation=1)], 2, True),
])
def test_a_failed_or_cancelled_job_asked_again_continues_in_a_new_generation(
        events: list, generation: int, resumes: bool) -> None:  # type: ignore[type-arg]
    got, resumed = parse.continuation(fold("j", events))
    assert got == generation
    assert (resumed == JobResumed("j", generation)) if resumes else resumed is None


def test_the_source_of_an_unfinished_job_is_kept_once() -> None:
    running, finished = fold("j", [ACCEPT]), JobState("j", status=COMPLETED)
    assert parse.keeps_source_copy(running, already_kept=False)
    assert not parse.keeps_source_copy(running, already_kept=True)
    assert not parse.keeps_source_copy(finished, already_kept=False)


def test_a_rejection_echoes_the_request_id_and_its_sequence() -> None:
    event = parse.rejected("r1", "not an EPUB", ConvertRequest(source_path="x", request_id="mine"), 7)
    assert (event.job_id, event.reason, event.request_id, event.msg_id()) == ("r1", "not an EPUB", "mine",
                                                                             "r1:job.rejected:7")


# tts --------------------------------------------------------------------------------------------

def test_cache_first_cancelled_first_of_all() -> None:
    audio = tts.StoredAudio(2048, 22050)
    assert tts.action(True, audio) == tts.Skip()
    assert tts.action(False, audio) == tts.Reuse(audio)
    assert tts.action(False, None) == tts.Synthesize()


def test_cancelled_only_in_the_commands_generation() -> None:
    _, job = command(0, 0, generation=0)
    cancelled = JobState("j", status=CANCELLED, generation=0)
    assert tts.cancelled(cancelled, job)
    assert not tts.cancelled(JobState("j", status=CANCELLED, generation=1), job), "resumed since"
    assert not tts.cancelled(JobState("j", status=FAILED), job)
    assert tts.cancelled(JobState("j", status=PAUSED, generation=0), job), "a paused job's segment waits"
    assert not tts.cancelled(None, job)


@pytest.mark.parametrize(("description", "expected"), [
    ('{"samples": 2048, "sample_rate": 22050}', tts.StoredAudio(2048, 22050)),
    (None, None), ("", None), ("not json", None), ("[1, 2]", None),
    ('{"samples": "2048", "sample_rate": 22050}', None),  # a forged or broken description: synthesize again
    ('{"samples": -1, "sample_rate": 22050}', None),
    ('{"samples": 2048}', None),
])
def test_only_a_complete_description_counts_as_stored_audio(description: str | None,
                                                             expected: tts.StoredAudio | None) -> None:
    assert stored_audio(description) == expected


def test_one_event_per_position_duplicates_as_cache_hits() -> None:
    _, job = command(0, 1, generation=2, duplicates=((1, 0), (1, 1)))
    events = tts.synthesized(job, "audio/k.aac", tts.StoredAudio(4096, 22050), worker="w", delivery=3,
                             cache_hit=False, synth_seconds=1.5)
    assert [(e.chapter, e.index, e.cache_hit, e.synth_seconds) for e in events] == [
        (0, 1, False, 1.5), (1, 0, True, 0.0), (1, 1, True, 0.0)]
    assert {(e.generation, e.delivery, e.audio_object) for e in events} == {(2, 3, "audio/k.aac")}
    failures = tts.failed(job, "engine refused", "w")
    assert [(f.chapter, f.index, f.generation) for f in failures] == [(0, 1, 2), (1, 0, 2), (1, 1, 2)]
    assert all(isinstance(f, SegmentFailed) and f.reason == "engine refused" for f in failures)


# assemble ---------------------------------------------------------------------------------------

def ready() -> JobState:
    return fold("j", [ACCEPT, PARSE, done(0, 0), done(0, 1), done(1, 0), done(1, 1)])


def test_a_parsed_job_is_built_once_per_instance() -> None:
    state = fold("j", [ACCEPT, PARSE])
    assert assemble.next_steps(state, building=False, busy=False) == [assemble.StartBuild(0)]
    assert assemble.next_steps(state, building=True, busy=False) == []
    assert assemble.next_steps(ready(), building=False, busy=True) == [], "built here already"


def test_a_failed_or_cancelled_job_stops_its_build() -> None:
    cancelled = fold("j", [ACCEPT, PARSE, JobCancelled("j")])
    assert assemble.next_steps(cancelled, building=True, busy=False) == [assemble.StopBuild()]
    # its queue is the canceller's to drop: a late purge here would race a resume's fresh commands
    assert assemble.next_steps(cancelled, building=False, busy=False) == []
    paused = fold("j", [ACCEPT, PARSE, JobPaused("j")])
    assert assemble.next_steps(paused, building=False, busy=False) == [], "paused: nothing built"
    failed = fold("j", [ACCEPT, PARSE, JobFailed("j", "x")])
    assert assemble.next_steps(failed, building=True, busy=False) == [assemble.StopBuild()]


def test_a_stuck_job_is_reported_in_its_generation() -> None:
    state = fold("j", [ACCEPT, PARSE, JobCancelled("j"), JobResumed("j", 1), done(0, 0), done(0, 1), done(1, 0),
                       SegmentFailed("j", 1, 1, "engine refused", generation=1)])
    (step,) = assemble.next_steps(state, building=False, busy=False)
    assert isinstance(step, assemble.ReportFailure)
    assert step.event.generation == 1 and step.event.failed_segments == ((1, 1, "engine refused"),)
    assert step.event.reason == "1 segment(s) could not be synthesized; first: engine refused"


def test_nothing_to_do_for_finished_jobs() -> None:
    completed = JobState("j", status=COMPLETED)
    assert assemble.next_steps(completed, building=False, busy=False) == []


@pytest.mark.parametrize(("current", "me", "now", "takes"), [
    (assemble.claim("other", 100.0), "me", 110.0, False),  # held, not expired
    (assemble.claim("other", 100.0), "me", 100.0 + assemble.LEASE_S, True),  # expired
    (assemble.claim("me", 100.0), "me", 110.0, True),  # ours (a restarted assembler of the same name)
    (b"garbage", "me", 0.0, True),
    (orjson.dumps({"by": "x", "until": "soon"}), "me", 0.0, True),
    (None, "me", 0.0, True),
])
def test_the_build_claim(current: bytes | None, me: str, now: float, takes: bool) -> None:
    assert assemble.may_take_over(current, me, now) is takes


def test_only_a_real_completion_record_counts() -> None:
    from events.codec import encode
    from events.types import JobCompleted

    real = JobCompleted("j", "books/j.m4b", 10.0, 100, 1)
    assert assemble.completion_of(encode(real), "j") == real
    assert assemble.completion_of(None, "j") is None
    assert assemble.completion_of(b"not json at all", "j") is None, "garbage on the subject is not a completion"
    assert assemble.completion_of(encode(JobCompleted("k", "books/k.m4b", 1.0, 1, 1)), "j") is None
    assert assemble.completion_of(encode(JobCompleted("j", "books/other.m4b", 1.0, 1, 1)), "j") is None


def test_a_request_for_a_finished_book_is_answered_with_its_completion() -> None:
    again = JobAccepted("j", "s" * 64, "b.epub", "test", "short", 1.0, request_seq=9)
    assert assemble.reannouncements(COMPLETED, again) == [assemble.Reannounce(9)]
    assert assemble.reannouncements("parsed", again) == [], "a running job completes on its own"
    assert assemble.reannouncements(COMPLETED, done(0, 0)) == []


def test_a_reannounced_completion_has_its_own_message_id() -> None:
    from events.types import JobCompleted

    first = JobCompleted("j", "books/j.m4b", 1.0, 1, 1)
    assert first.msg_id() == "j:job.completed"
    assert JobCompleted("j", "books/j.m4b", 1.0, 1, 1, request_seq=9).msg_id() == "j:job.completed:9"


# parse: releasing a job a window at a time --------------------------------------------------------

def test_a_jobs_window_is_two_rounds_of_its_fleet_within_bounds() -> None:
    assert parse.release_window(0) == parse.MIN_WINDOW, "an idle fleet: a first round"
    assert parse.release_window(8) == parse.MIN_WINDOW + 16
    assert parse.release_window(10_000) == parse.MAX_WINDOW
    assert parse.release_window(8, setting=5) == 5 and parse.release_window(8, setting=10**6) == 10**6


def test_the_next_commands_follow_the_last_released_up_to_the_window() -> None:
    from events.types import SegmentFailed

    plan = [command(0, 0), command(0, 1), command(1, 0), command(1, 1, duplicates=((0, 1),))]
    state = fold("j", [ACCEPT, PARSE])
    assert parse.to_release(plan, state, queued=set(), window=2) == plan[:2], "a window from the start"
    assert parse.to_release(plan, state, queued={(0, 0), (0, 1)}, window=2) == [], "the window is full"
    landed = fold("j", [ACCEPT, PARSE, done(0, 0)])
    assert parse.to_release(plan, landed, queued={(0, 1)}, window=2) == [plan[2]], "one landed: the next one"
    # what was released before the last released one is not released again, whatever its state
    assert parse.to_release(plan, landed, queued={(1, 0)}, window=3) == [plan[3]]
    failed = fold("j", [ACCEPT, PARSE, done(0, 0), SegmentFailed("j", 0, 1, "no")])
    assert parse.to_release(plan, failed, queued=set(), window=4) == plan[2:], "a failed one is settled"
    merged = fold("j", [ACCEPT, PARSE, done(1, 1), done(0, 1)])
    assert plan[3] not in parse.to_release(plan, merged, queued=set(), window=4), "all its positions landed"


def test_two_handlings_of_one_job_at_once_leave_no_command_unreleased() -> None:
    """A request sent again while the first was being queued: the second handling saw 7 of the 8
    commands the first queued, and plans the rest. Everything not queued is released from its plan.
    (Planned in the order of only what was left, the hoisted 130-character segment went ahead of
    the unseen queued one and was never released: the book waited for ever.)"""
    book = [_sized(i, n) for i, n in enumerate([100] * 8 + [40, 40, 130, 40])]
    state = fold("j", [ACCEPT, PARSE])
    first = parse.queue_plan(book, state, queued=set())
    assert first == parse.dispatch_order(book), "nothing queued: the whole book in its dispatch order"
    queued = {(0, job.index) for _, job in first[:8]}  # the first handling's window
    seen = {(0, job.index) for _, job in first[:7]}  # what the second saw of it
    second = parse.queue_plan(book, state, queued=seen)
    assert parse.dispatch_order(parse.to_queue(book, state, seen)) != second, "ordering what is left reorders"
    released = parse.to_release(second, state, queued, window=20)
    assert {job.index for _, job in released} == {8, 9, 10, 11}, "every command not queued"


def test_a_job_that_is_not_running_releases_nothing_and_old_generations_stay_out() -> None:
    from events.types import JobCancelled, JobPaused

    plan = [command(0, 0), command(0, 1, generation=1)]
    for stop in (JobPaused("j", "paused"), JobCancelled("j", "cancelled")):
        assert parse.to_release(plan, fold("j", [ACCEPT, PARSE, stop]), set(), 4) == []
    assert parse.to_release(plan, fold("j", [ACCEPT, PARSE]), set(), 4) == [plan[0]], "generation 0 only"


def test_a_queue_plan_reads_back_only_as_its_own_jobs() -> None:
    from services.parse.plan import plan_bytes, plan_of

    plan = [command(0, 0), command(1, 1, duplicates=((0, 1),))]
    data = plan_bytes("j", 0, plan)
    assert plan_of(data, "j") == plan
    assert plan_of(data, "k") is None and plan_of(b"nope", "j") is None
    assert plan_of(orjson.dumps({"v": 1, "job_id": "j", "commands": [["s", "{}"]]}), "j") is None


def test_a_worker_far_from_the_servers_holds_enough_to_hide_its_round_trips() -> None:
    assert tts.io_cover(None) == tts.io_cover(0.001) == tts.IO_COVER_S, "near: the floor"
    assert tts.io_cover(0.15) == pytest.approx(0.9), "150 ms away: six round trips a segment"
    near, far = tts.in_hand(0.1, 1), tts.in_hand(0.1, 1, tts.io_cover(0.15))
    assert (near, far) == (4, 10), "0.1 s segments: 1 in the model plus 0.25 s, or 0.9 s, of them"
    assert tts.wanted_in_hand(far, 2, 0.3, 0.1, tts.io_cover(0.15)) == 8, "fills 0.6 s more of work"
    assert tts.room_in(1.0, tts.io_cover(0.15)) == pytest.approx(0.1)


def test_a_jobs_priority_weighs_its_share_of_the_fleet() -> None:
    slots = 32
    normal = parse.release_window(slots)
    assert parse.release_window(slots, priority="normal") == normal
    assert parse.release_window(slots, priority="urgent") == parse.MIN_WINDOW + 4 * 2 * slots
    assert parse.release_window(slots, priority="background") == parse.MIN_WINDOW + 2 * slots // 4
    assert parse.release_window(slots, setting=50, priority="urgent") == 50, "the admin's fixed window stands"
