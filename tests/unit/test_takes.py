"""Retakes (pure): which take goes into the book, when another take is asked for, what it is called."""

from __future__ import annotations

from dataclasses import replace

from events import names
from events.types import CheckOrder, SegmentChecked, SegmentSynthesized, SynthesizeSegment
from services.assemble.takes import Takes, chosen, heard_of, quality_of
from services.check.service import next_take
from services.tts import decide

COMMAND = SynthesizeSegment("j", 2, 5, ("Said.",), "piper", "v", 1.0, 250, "k", check_language="en")


def take(number: int, checked: bool = True) -> SegmentSynthesized:
    order = CheckOrder("Said.", "en", take=number, takes=3) if checked else None
    return SegmentSynthesized("j", 2, 5, names.take_object("k", number), 1024, 22050, check=order, take=number)


def verdict(number: int, ok: bool, errors: int = 0, retake: bool = True) -> SegmentChecked:
    return SegmentChecked("j", 2, 5, names.take_object("k", number), ok, "" if ok else "cut off", words=9,
                          errors=errors, language="en", take=number, retake=retake and not ok)


def test_an_unchecked_segment_is_placed_as_it_comes_and_a_checked_one_waits_for_its_verdict() -> None:
    assert chosen(Takes({0: take(0, checked=False)})) == take(0, checked=False)
    waiting = Takes({0: take(0)})
    assert chosen(waiting) is None
    waiting.verdicts[0] = verdict(0, True)
    assert chosen(waiting) == take(0)
    assert chosen(Takes({}, {0: verdict(0, True)})) is None, "a verdict before its audio: wait for the audio"


def test_the_first_take_heard_fine_is_placed_and_a_flagged_one_waits_for_its_retake() -> None:
    takes = Takes({0: take(0)}, {0: verdict(0, False)})
    assert chosen(takes) is None, "another take is coming"
    takes.heard[1] = take(1)
    assert chosen(takes) is None, "its verdict is not in yet"
    takes.verdicts[1] = verdict(1, True)
    assert chosen(takes) == take(1)
    summary = heard_of(takes, take(1))
    assert summary is not None and summary.first_flagged and summary.retaken and summary.ok


def test_when_no_take_was_fine_the_best_is_placed_once_no_other_comes() -> None:
    takes = Takes({0: take(0), 1: take(1), 2: take(2)},
                  {0: verdict(0, False, errors=5), 1: verdict(1, False, errors=2), 2: verdict(2, False, 3, False)})
    assert chosen(takes) == take(1), "the fewest errors"
    misheard = replace(verdict(2, False, errors=6, retake=False), rule="errors")
    dropped = Takes({0: take(0), 1: take(1)}, {0: replace(verdict(0, False, errors=3), rule="missing"), 1: misheard})
    assert chosen(dropped) is None, "take 2's verdict is on other audio: not in yet"
    dropped.heard[2], dropped.verdicts[2] = take(2), misheard
    assert chosen(dropped) == take(2), "words misheard are better than words missing, whatever the count"
    given_up = Takes({0: take(0)}, {0: verdict(0, False, errors=4)}, given_up=True)
    assert chosen(given_up) == take(0), "the retake failed: the take there is goes in"
    other_audio = Takes({0: take(0)}, {0: replace(verdict(0, True), audio_object="audio/other.aac")})
    assert chosen(other_audio) is None, "a verdict on other audio is no verdict"


def test_a_flagged_segment_gets_its_next_take_and_only_its_own() -> None:
    event = SegmentSynthesized("j", 2, 5, "audio/k.aac", 1024, 22050,
                               check=CheckOrder("Said.", "en", takes=3, retake=replace(COMMAND, take=1)))
    subject, command = next_take(event, verdict(0, False))
    assert subject == names.synth_subject("piper", "j", 2, 5) and command.take == 1
    assert next_take(event, verdict(0, True)) is None, "heard fine: no retake"
    forged = replace(event, check=replace(event.check, retake=replace(COMMAND, job_id="other", take=1)))
    assert next_take(forged, verdict(0, False)) is None, "never a retake of another job"
    last = replace(event, check=replace(event.check, retake=None))
    assert next_take(last, verdict(0, False)) is None
    assert next_take(event, replace(verdict(0, False), rule="language")) is None, "another language every take"


def test_the_worker_offers_a_retake_while_takes_are_left_and_never_for_cached_audio() -> None:
    audio = decide.StoredAudio(1024, 22050)
    (first,) = decide.synthesized(COMMAND, "audio/k.aac", audio, worker="w", delivery=1, cache_hit=False, takes=3)
    assert first.check is not None and first.check.retake == replace(COMMAND, take=1) and first.check.takes == 3
    (cached,) = decide.synthesized(COMMAND, "audio/k.aac", audio, worker="w", delivery=1, cache_hit=True, takes=3)
    assert cached.check is not None and cached.check.retake is None
    (last,) = decide.synthesized(replace(COMMAND, take=2), names.take_object("k", 2), audio, worker="w",
                                 delivery=1, cache_hit=False, takes=3)
    assert last.take == 2 and last.check is not None and last.check.retake is None
    assert last.msg_id() != first.msg_id() and replace(COMMAND, take=1).msg_id() != COMMAND.msg_id()


def test_take_objects_and_the_quality_of_a_book() -> None:
    assert names.take_object("k", 0) == "audio/k.aac" and names.take_object("k", 2) == "audio/k.take2.aac"
    assert names.first_take_object("audio/k.take2.aac") == "audio/k.aac"
    assert names.first_take_object("audio/k.aac") == "audio/k.aac"
    fine = Takes({0: take(0), 1: take(1)}, {0: verdict(0, False, 4), 1: verdict(1, True, 1)})
    bad = Takes({0: take(0)}, {0: verdict(0, False, 6, retake=False)})
    heard = [heard_of(fine, take(1)), heard_of(bad, take(0))]
    quality = quality_of([h for h in heard if h is not None])
    assert quality is not None
    assert (quality.checked, quality.flagged, quality.retaken, quality.still_flagged) == (2, 2, 1, 1)
    assert (quality.words, quality.errors, quality.language) == (18, 7, "en")
    assert quality_of([]) is None
