"""The check's pure parts: words as spoken, the verdict rules at their thresholds, the policy."""

from __future__ import annotations

import math

import pytest

from events.checking import automatic, check_policy, is_checked, share_checked
from services.check import judge as rules
from services.check.judge import Heard, align, judge
from services.check.words import spoken_words
from services.engines.damage import KINDS, OTHER_TEXT, damage_pcm, damage_text, damaged

TEXT = ("It was a dark and stormy night, and the rain fell in torrents, except at occasional intervals, "
        "when it was checked by a violent gust of wind which swept up the streets.")  # 32 words


def heard(text: str, *, language: str = "en", sure: float = 0.99, speech: float | None = None,
          lead: float = 0.1, trail: float = 0.4, clipped: float = 0.0) -> Heard:
    """What a listener measured: ``text``, spoken at the voice's pace unless ``speech`` says otherwise."""
    pace = len(" ".join(spoken_words(TEXT, "en"))) / rules.CHARS_PER_SECOND
    seconds = pace if speech is None else speech
    return Heard(text, language, sure, lead + seconds + trail, seconds, lead, trail, clipped)


def test_words_are_compared_as_a_narrator_says_them() -> None:
    assert spoken_words("In 1865, on the 3rd — he paid 12 pounds!", "en") == [
        "in", "eighteen", "sixty", "five", "on", "the", "third", "he", "paid", "twelve", "pounds"]
    assert spoken_words("“Don’t,” said the red-headed League.", "en") == [
        "don't", "said", "the", "red", "headed", "league"]
    assert spoken_words("Le 21 juin", "fr") == ["le", "vingt", "et", "un", "juin"]
    assert spoken_words("x 42 y", "xx") == ["x", "42", "y"], "a language num2words lacks keeps its digits"


def test_clean_speech_is_ok_even_as_a_weak_listener_spells_it() -> None:
    misheard = TEXT.replace("rain", "reign").replace("occasional", "ocasional").replace(",", ".")
    verdict = judge(TEXT, "en", heard(misheard))
    assert verdict.ok and verdict.reason == "" and verdict.words == 32 and verdict.errors == 0


def test_a_name_heard_as_other_words_and_written_abbreviations_are_no_errors() -> None:
    """Frankenstein's first line, as Whisper base wrote it on a clean take: a misheard name split in two
    words, "St." and digits where the text has words."""
    text = "Saint Petersburgh, December eleventh, seventeen—."
    verdict = judge(text, "en", heard("St. Peter's Bird, Dec. 11th, 17th.", speech=2.5))
    assert verdict.ok and verdict.errors == 0, verdict
    assert judge("Mister and Missus Smith met Doctor Watson.", "en", heard("Mr. and Mrs. Smith met Dr. Watson.",
                                                                          speech=2.0)).ok
    assert align(["i", "saw", "saint", "petersburgh"], ["i", "saw", "saintpetersburgh"]).ending == []
    dropped = align(["i", "saw", "the", "red", "headed", "league", "go", "by"], ["i", "saw", "a", "go", "by"])
    assert dropped.errors == 4 and dropped.missing == [["red", "headed", "league"]], "a gap is not misheard"


def test_speech_that_only_sounds_like_the_text_is_not_the_text() -> None:
    """German read by the English voice, as Whisper base wrote it: its pieces sound like the text, but
    few words were heard as written."""
    text = ("Gregors Blick richtete sich dann zum Fenster, und das trübe Wetter – man hörte Regentropfen auf das "
            "Fensterblech aufschlagen – machte ihn ganz melancholisch.")
    said = ("Gregor's Blick-Rich-Titsich-Dan-Zum-Fenster Undass-Troob-Water Man-Hurt-Regent-Trop-An-Off-Dass-"
            "Fenster-Blutch-Offligeant-Matched-Ingant-Smell-In-Collish")
    verdict = judge(text, "de", heard(said, speech=9.0, sure=0.5))
    assert verdict.rule == "not_text" and verdict.reason == "not the text: 3 of 22 words heard as written"
    # a short sentence misheard word by word is the listener, not another text (a clean take, Whisper base)
    assert judge("A rotate is a gaumless debt.", "en", heard("Arotate as a gumless step.", speech=1.4)).ok


@pytest.mark.parametrize(("said", "reason"), [
    (TEXT.replace("and the rain fell in torrents, ", ""), "6 words missing: 'and the rain fell in torrents'"),
    (TEXT.replace("a violent gust", "a violent gust a violent gust"), "3 extra words: 'a violent gust'"),
    (TEXT.split(" when ")[0], "cut off: the last 15 words not heard"),
    (OTHER_TEXT, "not the text: 31 word errors in 32 words"),
    ("", "no speech heard (32 words expected)"),
])
def test_each_fault_is_flagged_with_a_reason_a_person_understands(said: str, reason: str) -> None:
    verdict = judge(TEXT, "en", heard(said))
    assert not verdict.ok and reason in verdict.reason and verdict.rule


def test_the_error_budget_is_a_sixth_of_the_words_and_at_least_three() -> None:
    budget = max(rules.MIN_BUDGET, math.ceil(32 / rules.ERRORS_PER))
    words = TEXT.split()
    within = [w + "x" * 8 if i in range(0, 2 * budget, 2) else w for i, w in enumerate(words)]
    past = [w + "x" * 8 if i in range(0, 2 * budget + 2, 2) else w for i, w in enumerate(words)]
    assert judge(TEXT, "en", heard(" ".join(within))).ok
    verdict = judge(TEXT, "en", heard(" ".join(past)))
    assert not verdict.ok and f"{budget + 1} word errors in 32 words (at most {budget})" == verdict.reason
    assert max(rules.MIN_BUDGET, math.ceil(3 / rules.ERRORS_PER)) == 3, "a short segment is allowed three"


def test_a_short_skip_in_a_long_segment_is_the_listener_not_the_voice() -> None:
    long_text = " ".join([TEXT] * 2)  # 64 words: a missing run must be 6 long
    assert judge(long_text, "en", heard(long_text.replace("a dark and stormy night,", "a", 1))).ok
    verdict = judge(long_text, "en", heard(long_text.replace("a dark and stormy night, and the rain", "a rain", 1)))
    assert verdict.reason == "6 words missing: 'dark and stormy night and the'"


def test_another_language_is_named_when_the_listener_is_sure() -> None:
    verdict = judge(TEXT, "en", heard(TEXT, language="de", sure=0.97))
    assert not verdict.ok and verdict.reason == "heard de (97% sure), not en" and verdict.rule == "language"
    assert judge(TEXT, "en", heard(TEXT, language="de", sure=0.6)).ok, "unsure: the words decide"
    assert judge(TEXT, "en-GB", heard(TEXT, language="en")).ok
    assert judge("Yes.", "en", heard("Yes.", language="nn", sure=0.95, speech=0.25)).ok, "too short to tell"


@pytest.mark.parametrize(("measures", "reason"), [
    ({"speech": 1.0}, "too fast"),
    ({"speech": 30.0}, "too slow"),
    ({"lead": 2.0}, "2.0 s of silence before the speech"),
    ({"trail": 3.0}, "2.6 s of silence after the speech, past its pause"),
    ({"clipped": 0.01}, "clipped: 1.00% of the samples"),
])
def test_timing_silence_and_clipping_are_judged(measures: dict[str, float], reason: str) -> None:
    verdict = judge(TEXT, "en", heard(TEXT, **measures), pause_after_s=0.4)
    assert not verdict.ok and reason in verdict.reason


def test_alignment_names_the_runs() -> None:
    found = align(["a", "b", "c", "d", "e", "f"], ["a", "b", "x", "y", "c", "d", "e"])
    assert found.extra == [["x", "y"]] and found.missing == [["f"]] and found.ending == ["f"]
    assert found.errors == 3


def test_the_policy_is_written_one_way_and_refuses_nonsense() -> None:
    assert [check_policy(v) for v in ("ALL", " off", "sample", "sample:0.25", "sample:1", "sample:0")] == [
        "all", "off", "sample:0.1", "sample:0.25", "all", "off"]
    for bad in ("some", "sample:2", "sample:x", "sample:-0.1", ""):
        with pytest.raises(ValueError, match="sample:R"):
            check_policy(bad)
    assert share_checked("") == 0.0 and share_checked("garbage") == 0.0 and share_checked("sample:0.3") == 0.3
    assert check_policy(" Auto") == "auto" and automatic(0) == "sample:0.1" and automatic(1) == "all"


def test_a_sample_is_the_same_every_time_and_about_its_share() -> None:
    picked = [is_checked("sample:0.1", "jbook", c, i) for c in range(20) for i in range(2, 102)]
    assert 0.08 < sum(picked) / len(picked) < 0.12
    other = [is_checked("sample:0.1", "jother", c, i) for c in range(20) for i in range(2, 102)]
    assert other != picked, "another job samples other segments"
    assert all(is_checked("sample:0.01", "jbook", c, 1) for c in range(20)), "every chapter is heard"
    assert all(is_checked("all", "j", 0, i) for i in range(10)) and not any(is_checked("off", "j", 0, i)
                                                                            for i in range(10))


def test_the_damage_is_what_it_says() -> None:
    import random

    words = TEXT.split()
    dropped = damage_text([TEXT], "drop", random.Random(1))[0].split()
    assert len(dropped) == len(words) - len(words) // 4
    repeated = damage_text([TEXT], "repeat", random.Random(1))[0].split()
    assert 4 <= len(repeated) - len(words) <= 6
    assert damage_text(["Chapter one"], "drop", random.Random(1)) == [OTHER_TEXT], "too short to drop from"
    pcm = (b"\x00\x10" * 1000) + bytes(1000)
    assert damage_pcm(pcm, "silence") == bytes(len(pcm))
    cut = damage_pcm(pcm, "cut")
    assert len(cut) == len(pcm) and cut[:1200] == pcm[:1200] and not any(cut[1200:])
    texts = [f"segment {n}" for n in range(2000)]
    assert 0.25 < sum(bool(damaged(t, 0.3, "mixed")) for t in texts) / 2000 < 0.35
    assert {damaged(t, 1.0, "mixed") for t in texts} == set(KINDS)
