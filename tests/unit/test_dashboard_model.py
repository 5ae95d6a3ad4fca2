"""The dashboard's view model (pure): rows, chapter bars, and an ETA that counts only real work."""

from __future__ import annotations

from events.types import (
    BookParsed,
    ChapterInfo,
    JobAccepted,
    JobCompleted,
    SegmentChecked,
    SegmentFailed,
    SegmentSynthesized,
)
from tui.model import Board, WorkerRates, bar, in_flight_by_chapter

ACCEPT = JobAccepted("j", "s" * 64, "book.epub", "test", "short", 1.0)
PARSED = BookParsed("j", "The Book", "An Author", "en", (ChapterInfo(0, "One", 10, 100), ChapterInfo(1, "Two", 10, 90)))


def synthesized(chapter: int, index: int, cache_hit: bool = False) -> SegmentSynthesized:
    return SegmentSynthesized("j", chapter, index, "audio/x.aac", 22050, 22050, cache_hit=cache_hit)


def test_bar() -> None:
    assert bar(0, 10, 4) == "░░░░" and bar(5, 10, 4) == "██░░" and bar(10, 10, 4) == "████" and bar(1, 0, 4) == "░░░░"


def test_eta_from_measured_model_work_only() -> None:
    board = Board()
    board.apply(1, 100.0, ACCEPT)
    board.apply(2, 100.0, PARSED)
    for index in range(5):  # five cache hits at once: not speed
        board.apply(3 + index, 101.0, synthesized(0, index, cache_hit=True))
    assert board.row("j", 101.0).eta == "--:--"
    for step, index in enumerate(range(5, 10)):  # then one synthesized segment every 2 s
        board.apply(10 + step, 102.0 + 2 * step, synthesized(0, index))
    row = board.row("j", 110.0)
    assert (row.done, row.total, row.cache_hits) == (10, 20, 5)
    assert row.eta == "00:20", "10 left at 0.5 segments/s"
    assert row.expected == "00:20" and row.audio == "00:10", "20 segments of 1 s expected, 10 done"
    assert row.elapsed == "00:10" and row.status == "parsed" and row.title == "The Book"


def test_history_is_measured_by_its_own_times_and_a_finished_job_stops_its_clock() -> None:
    board = Board()
    for seq, (at, event) in enumerate([(0.0, ACCEPT), (0.0, PARSED)] + [
            (float(i), synthesized(i // 10, i % 10)) for i in range(20)], start=1):
        board.apply(seq, at, event)
    board.apply(30, 25.0, JobCompleted("j", "books/j.m4b", 20.0, 1, 2))
    row = board.row("j", 1000.0)
    assert row.status == "completed" and row.eta == "done" and row.elapsed == "00:25"
    assert [c.cells()[2] for c in board.chapters("j")] == [f"{bar(10, 10)} 10/10"] * 2
    assert board.take_dirty() == {"j"} and board.take_dirty() == set()


def test_a_job_whose_engine_no_live_worker_runs_shows_as_waiting() -> None:
    board = Board()
    board.apply(1, 0.0, JobAccepted("j", "s" * 64, "book.epub", "coqui", "xtts/reader", 1.0))
    board.apply(2, 0.0, BookParsed("j", "The Book", "", "fr", (ChapterInfo(0, "One", 3, 30),), engine="coqui",
                                   voice="xtts/reader"))
    assert board.row("j", 1.0, served={"piper", "test"}).status == "waiting for a coqui worker"
    assert board.row("j", 1.0, served={"coqui"}).status == "parsed"
    assert board.row("j", 1.0).status == "parsed", "before the first look at the workers, no claim"


def test_a_bar_shows_done_in_flight_failed_and_queued() -> None:
    assert bar(4, 12, 12, in_flight=2, failed=3) == "████▒▒✗✗✗░░░"
    assert bar(12, 12, 12, in_flight=5) == "█" * 12, "never longer than the bar"


def test_chapters_count_what_workers_hold_from_their_in_flight() -> None:
    board = Board()
    board.apply(1, 0.0, ACCEPT)
    board.apply(2, 0.0, PARSED)
    board.apply(3, 1.0, synthesized(0, 0))
    board.apply(4, 1.0, SegmentFailed("j", 1, 4, "voice refused the text", permanent=True))
    statuses = [{"in_flight": [["j", 0, 1], ["j", 0, 2], ["other", 0, 3]]}, {"in_flight": [["j", 1, 5]]},
                {"in_flight": "garbage"}, {}]
    held = in_flight_by_chapter(statuses, "j")
    assert held == {0: 2, 1: 1}
    one, two = board.chapters("j", held)
    assert (one.done, one.in_flight, one.queued, one.failed) == (1, 2, 7, 0)
    assert (two.done, two.in_flight, two.queued, two.failed) == (0, 1, 8, 1)
    assert one.cells()[3:] == ("2", "7", "", "") and two.cells()[3:] == ("1", "8", "1", "")


def test_the_detail_lists_failures_with_reasons_then_the_latest_events() -> None:
    board = Board()
    board.apply(1, 0.0, ACCEPT)
    board.apply(2, 0.0, PARSED)
    for index in range(5):
        board.apply(3 + index, 60.0, SegmentFailed("j", 0, index, f"reason {index}", permanent=True))
    board.apply(9, 61.0, synthesized(1, 0))
    lines = board.detail("j", failures=3).splitlines()
    assert lines[:4] == ["segment 1.1 failed: reason 0", "segment 1.2 failed: reason 1", "segment 1.3 failed: reason 2",
                         "... and 2 more failed segment(s) (`audiobook status j`)"]
    assert lines[4].startswith("00:01:01  segment 2.1 done: 1.0 s of audio") and len(lines) == 4 + 6
    assert board.detail("nobody") == ""


def test_model_audio_counts_synthesized_audio_once_and_no_cache_hits() -> None:
    board = Board()
    board.apply(1, 0.0, ACCEPT)
    board.apply(2, 0.0, PARSED)
    board.apply(3, 1.0, synthesized(0, 0))
    board.apply(4, 1.0, synthesized(0, 0))  # a redelivery: the same position again
    board.apply(5, 1.0, synthesized(0, 1, cache_hit=True))
    assert board.model_audio == 1.0


def test_worker_rates_over_the_last_answers() -> None:
    rates = WorkerRates(window=3)
    assert rates.record("w", 0.0, 0) is None
    assert rates.record("w", 2.0, 10) == 5.0
    rates.record("w", 4.0, 30)
    assert rates.record("w", 6.0, 30) == 5.0, "the oldest answer leaves the window"


def test_what_the_check_heard_shows_per_chapter_and_in_the_detail() -> None:
    board = Board()
    board.apply(1, 0.0, ACCEPT)
    board.apply(2, 0.0, PARSED)
    board.apply(3, 1.0, synthesized(0, 0))
    board.apply(4, 1.0, synthesized(0, 1))
    board.apply(5, 2.0, SegmentChecked("j", 0, 0, "audio/x.aac", True, words=12, errors=1))
    board.apply(6, 2.0, SegmentChecked("j", 0, 1, "audio/x.aac", False, "3 words missing: 'a b c'"))
    one, two = board.chapters("j")
    assert one.cells()[-1] == "1/2" and two.cells()[-1] == ""
    lines = board.detail("j").splitlines()
    assert lines[0] == "segment 1.2 flagged: 3 words missing: 'a b c'"
    assert lines[1].endswith("segment 1.2 flagged: 3 words missing: 'a b c'")
    assert lines[2].endswith("segment 1.1 heard ok (1 word errors)")


def test_each_running_job_shows_its_share_of_the_fleet() -> None:
    """As the release loop shares the fleet: a user's jobs split one window, the oldest first, and an
    urgent job weighs four times a normal one; a finished job has no share."""
    board = Board()
    jobs = [("alice-j1", ""), ("alice-j2", ""), ("bob-j1", ""), ("j9", "urgent"), ("j8", "")]
    for seq, (job, priority) in enumerate(jobs, start=1):
        board.apply(seq, float(seq), JobAccepted(job, "s" * 64, "b.epub", "test", "short", 1.0, priority=priority))
    board.apply(10, 10.0, JobCompleted("j8", "books/j8.m4b", 1.0, 1, 1))
    shares = board.shares({"test": 0})  # an idle fleet: each user's window is 16 commands
    assert shares["alice-j1"] == shares["alice-j2"] == shares["bob-j1"] / 2
    assert "j8" not in shares and abs(sum(shares.values()) - 1.0) < 1e-9
    assert board.row("bob-j1", 11.0, shares=shares).share == f"{shares['bob-j1']:.0%}"
    assert board.row("j8", 11.0, shares=shares).share == ""
    crowd = Board()
    for seq in range(1, 21):  # twenty jobs of one user split a window of 16: the last four wait
        crowd.apply(seq, float(seq), JobAccepted(f"mallory-j{seq}", "s" * 64, "b.epub", "test", "short", 1.0))
    rows = [crowd.row(f"mallory-j{seq}", 30.0, shares=crowd.shares({})).share for seq in range(1, 21)]
    assert rows[:16] == ["6%"] * 16 and rows[16:] == ["waits"] * 4
