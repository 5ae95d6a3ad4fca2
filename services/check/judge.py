"""The check's verdict on one segment: did the listener hear the text it was given? (pure)

The rules, each with a reason a person understands (docs/quality.md lists them with their
thresholds and what the corpus measured):

- **nothing heard**: the text has words, the listener heard none;
- **another language**: the listener is sure (``LANGUAGE_SURE``) it heard a language that is not
  the book's, in a segment long enough to tell (``LANGUAGE_MIN_WORDS``);
- **not the text**: word errors (below) for at least half of the text's words, or fewer than
  ``MATCHED`` of its words heard as written (from ``MATCHED_MIN_WORDS`` words: sounds alike
  excuse a misheard name, not a whole segment): another sentence, or speech no one can follow;
- **words missing**: a run of words of the text not heard (a dropped clause, a cut-off end), at
  least ``RUN_WORDS`` long and at least one in ``RUN_PER`` words of the text (the listener itself
  now and then skips a few words of a long segment);
- **cut off**: the text's last words not heard, at least one in ``RUN_PER`` words of the text
  (at least one word);
- **extra words**: a run of at least ``RUN_WORDS`` words heard but not in the text (a repeat, a
  hallucination);
- **too many errors**: word errors (substituted, missing, extra) past the budget
  ``ceil(words / ERRORS_PER)``, at least ``MIN_BUDGET``;
- **too fast** / **too slow**: speech lasting under ``FAST`` or over ``SLOW`` times what the text
  takes at the voice's pace (``CHARS_PER_SECOND`` at speed 1): truncated or stretched audio;
- **silence before** / **silence after**: more than ``LEAD_S`` of silence before the speech, or
  ``TRAIL_S`` past the segment's own pause after it;
- **clipped**: more than ``CLIPPED`` of the samples at full scale.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from services.check.words import spoken_words
from services.engines.tags import primary_language
from services.spoken import normalize

LANGUAGE_SURE, LANGUAGE_MIN_WORDS = 0.8, 6
UNHEARD = "unheard"  # the rule of audio that could not be fetched or decoded at all
RUN_WORDS, RUN_PER = 3, 12  # a run of max(RUN_WORDS, ceil(words / RUN_PER)) words
ERRORS_PER, MIN_BUDGET = 6, 3
CHARS_PER_SECOND = 19.0  # the default voice (en_US-joe-medium) at speed 1
FAST, SLOW = 0.45, 2.2
LEAD_S, TRAIL_S = 1.5, 2.0
CLIPPED = 0.001
SOUNDS_ALIKE = 0.5  # character similarity of a misheard run to what was said
MATCHED, MATCHED_MIN_WORDS = 0.5, 10  # a share of the text's words heard as written, from this many words
MISHEARD_RUN = 3  # the most words said in a difference tried whole: a name heard as other words
QUOTED_WORDS = 8  # words of a run quoted in a reason


@dataclass(frozen=True)
class Heard:
    """What the listener measured on a segment's audio."""

    text: str
    language: str
    language_probability: float
    seconds: float  # the whole segment
    speech_seconds: float  # from the first sound to the last
    lead_seconds: float  # silence before the first sound
    trail_seconds: float  # silence after the last sound
    clipped: float  # fraction of samples at full scale


@dataclass(frozen=True)
class Judgement:
    ok: bool
    reason: str  # "" when ok
    rule: str  # the rule that flagged it, by name ("missing", "language", ...; "" when ok)
    words: int  # words in the text
    heard_words: int
    errors: int  # substituted + missing + extra
    missing: tuple[str, ...]  # runs of the text's words not heard
    extra: tuple[str, ...]  # runs of heard words not in the text
    rate: float  # speech time over what the text takes at the voice's pace (1.0: as expected)

    @property
    def wer(self) -> float:
        return self.errors / self.words if self.words else 0.0


def misheard(said: list[str], heard: list[str]) -> bool:
    """Whether words heard in place of others sound like them ("labour" as "labor", "Copêt" as
    "Copper", "Petersburgh" as "Peter's Bird"): the listener's spelling, not the voice's fault.
    Compared letter by letter, spaces and apostrophes left out."""
    from rapidfuzz.distance import Levenshtein

    def letters(words: list[str]) -> str:
        return "".join(words).replace("'", "")

    return bool(said and heard) and Levenshtein.normalized_similarity(letters(said), letters(heard)) >= SOUNDS_ALIKE


@dataclass(frozen=True)
class Alignment:
    errors: int  # words substituted (and not misheard), missing or extra
    matched: int  # the text's words heard as written
    missing: list[list[str]]  # runs of the text's words not heard
    extra: list[list[str]]  # runs of words heard and not in the text
    ending: list[str]  # the text's last words, when none of them was heard


def _differences(chunks: list[Any]) -> Iterator[list[Any]]:
    """The alignment's runs of adjacent chunks that are not equal."""
    run: list[Any] = []
    for chunk in chunks:
        if chunk.type == "equal":
            if run:
                yield run
            run = []
        else:
            run.append(chunk)
    if run:
        yield run


def align(reference: list[str], hypothesis: list[str]) -> Alignment:
    """Word errors, runs of words said but not heard, runs of words heard but not said.

    Words heard in place of others are no error when :func:`misheard`, tried on each short
    difference whole (at most ``MISHEARD_RUN`` words said: "Saint Petersburgh" heard as "St Peter's
    Bird", a substitution and an insertion) and then on each substitution in it; otherwise they
    count as errors, but not as missing or extra: a clause left out or a phrase said twice leaves
    a gap or an addition, where the listener's own mistakes mostly replace words.
    """
    import jiwer

    if not reference or not hypothesis:
        return Alignment(len(reference) + len(hypothesis), 0, [reference] if reference else [],
                         [hypothesis] if hypothesis else [], reference)
    chunks = jiwer.process_words(" ".join(reference), " ".join(hypothesis)).alignments[0]
    errors = 0
    missing: list[list[str]] = []
    extra: list[list[str]] = []
    last = chunks[-1]
    ending = reference[last.ref_start_idx:last.ref_end_idx] if last.type == "delete" else []
    for run in _differences(chunks):
        whole_said = reference[run[0].ref_start_idx:run[-1].ref_end_idx]
        whole_heard = hypothesis[run[0].hyp_start_idx:run[-1].hyp_end_idx]
        if len(run) > 1 and len(whole_said) <= MISHEARD_RUN and misheard(whole_said, whole_heard):
            ending = [] if run[-1] is last else ending
            continue
        for chunk in run:
            said = reference[chunk.ref_start_idx:chunk.ref_end_idx]
            heard = hypothesis[chunk.hyp_start_idx:chunk.hyp_end_idx]
            if chunk.type == "substitute" and misheard(said, heard):
                continue
            errors += max(len(said), len(heard))
            if not heard:
                missing.append(said)
            elif not said:
                extra.append(heard)
    matched = sum(chunk.ref_end_idx - chunk.ref_start_idx for chunk in chunks if chunk.type == "equal")
    return Alignment(errors, matched, missing, extra, ending)


def _quoted(words: list[str]) -> str:
    shown = " ".join(words[:QUOTED_WORDS])
    return f"'{shown}{' ...' if len(words) > QUOTED_WORDS else ''}'"


def judge(text: str, language: str, heard: Heard, speed: float = 1.0, pause_after_s: float = 0.0,
          chars_per_second: float = CHARS_PER_SECOND) -> Judgement:
    """The verdict on a segment whose text is ``text`` (as the engine was given it) in ``language``."""
    reference = spoken_words(text, language)
    hypothesis = spoken_words(normalize(heard.text, language), language)  # "Mr." as "Mister", as parse reads it
    found = align(reference, hypothesis)
    errors, missing, extra, ending = found.errors, found.missing, found.extra, found.ending
    expected_s = len(" ".join(reference)) / (chars_per_second * speed) if reference else 0.0
    rate = heard.speech_seconds / expected_s if expected_s else 1.0
    run_words = max(RUN_WORDS, math.ceil(len(reference) / RUN_PER))
    long_missing = [run for run in missing if len(run) >= run_words]
    long_extra = [run for run in extra if len(run) >= RUN_WORDS]
    budget = max(MIN_BUDGET, math.ceil(len(reference) / ERRORS_PER))
    rule = reason = ""
    if reference and not hypothesis:
        rule, reason = "nothing", f"no speech heard ({len(reference)} words expected)"
    elif (language and len(reference) >= LANGUAGE_MIN_WORDS and heard.language_probability >= LANGUAGE_SURE
          and primary_language(heard.language) != primary_language(language)):
        sure = f"{heard.language_probability:.0%} sure"
        rule, reason = "language", f"heard {heard.language} ({sure}), not {language}"
    elif errors > budget and errors * 2 >= len(reference):
        rule, reason = "not_text", f"not the text: {errors} word errors in {len(reference)} words"
    elif len(reference) >= MATCHED_MIN_WORDS and found.matched < MATCHED * len(reference):
        rule, reason = "not_text", f"not the text: {found.matched} of {len(reference)} words heard as written"
    elif ending and len(ending) >= math.ceil(len(reference) / RUN_PER):
        rule, reason = "cut_off", f"cut off: the last {len(ending)} words not heard: {_quoted(ending)}"
    elif long_missing:
        run = max(long_missing, key=len)
        rule, reason = "missing", f"{len(run)} words missing: {_quoted(run)}"
    elif long_extra:
        run = max(long_extra, key=len)
        rule, reason = "extra", f"{len(run)} extra words: {_quoted(run)}"
    elif errors > budget:
        rule, reason = "errors", f"{errors} word errors in {len(reference)} words (at most {budget})"
    elif reference and rate < FAST:
        rule, reason = "fast", f"too fast: {heard.speech_seconds:.1f} s of speech for about {expected_s:.1f} s of text"
    elif reference and rate > SLOW:
        rule, reason = "slow", f"too slow: {heard.speech_seconds:.1f} s of speech for about {expected_s:.1f} s of text"
    elif reference and heard.lead_seconds > LEAD_S:
        rule, reason = "lead", f"{heard.lead_seconds:.1f} s of silence before the speech"
    elif reference and heard.trail_seconds > pause_after_s + TRAIL_S:
        after = heard.trail_seconds - pause_after_s
        rule, reason = "trail", f"{after:.1f} s of silence after the speech, past its pause"
    elif heard.clipped > CLIPPED:
        rule, reason = "clipped", f"clipped: {heard.clipped:.2%} of the samples at full scale"
    return Judgement(ok=not reason, reason=reason, rule=rule, words=len(reference), heard_words=len(hypothesis),
                     errors=errors, missing=tuple(" ".join(run) for run in missing),
                     extra=tuple(" ".join(run) for run in extra), rate=rate)
