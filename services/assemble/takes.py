"""Which take of a segment goes into the book (pure).

A segment the job has checked may have several takes: the first, and a retake for each verdict
that flagged the one before while takes were left. The book holds the first take heard fine;
when none was and no other take is coming (the last verdict asked for none, or the retake
failed), the best of them: the least severe fault (``SEVERITY``: words misheard before words
missing or added, before another text or none), then the fewest word errors, then the earliest.

A segment a person asked to retake (``job.reopened``) has a ``floor``: the take they asked for.
Takes before it are out of the running, and the takes from it on are chosen from as above.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from events.types import Quality, SegmentChecked, SegmentSynthesized

# how bad a flagged take's fault is, by the rule that flagged it (docs/quality.md); unknown: the worst
SEVERITY = {"errors": 1, "fast": 1, "slow": 1, "lead": 1, "trail": 1, "clipped": 1,
            "missing": 2, "extra": 2, "cut_off": 2, "not_text": 3, "nothing": 3, "language": 3, "unheard": 3}
WORST = 4


@dataclass
class Takes:
    """What is known of one position of the book: its takes' audio and the verdicts on them."""

    heard: dict[int, SegmentSynthesized] = field(default_factory=dict)  # take -> its audio's event
    verdicts: dict[int, SegmentChecked] = field(default_factory=dict)  # take -> the verdict on it
    given_up: bool = False  # a take was given up on: no other is coming
    floor: int = 0  # the first take the book may hold (a person asked for a new take: ``job.reopened``)

    def verdicts_on_audio(self) -> dict[int, SegmentChecked]:
        """The verdicts on the audio the takes' events name (a verdict on other audio is not one),
        for the takes in the running."""
        return {take: verdict for take, verdict in self.verdicts.items()
                if take >= self.floor and take in self.heard and verdict.audio_object == self.heard[take].audio_object}


def chosen(takes: Takes) -> SegmentSynthesized | None:
    """The take to place in the book, or None while its verdicts (or another take) are awaited."""
    first = takes.heard.get(takes.floor)
    if first is None:
        return None
    if first.check is None:
        return first  # not checked: placed as it came
    valid = takes.verdicts_on_audio()
    fine = sorted(take for take, verdict in valid.items() if verdict.ok)
    if fine:
        return takes.heard[fine[0]]
    if not valid or not (takes.given_up or any(not verdict.retake for verdict in valid.values())):
        return None
    best = min(valid, key=lambda take: (SEVERITY.get(valid[take].rule, WORST), valid[take].errors, take))
    return takes.heard[best]


@dataclass(frozen=True)
class Heard:
    """What the check heard of one placed segment, for the book's quality summary."""

    first_flagged: bool
    retaken: bool
    ok: bool
    words: int
    errors: int
    language: str


def heard_of(takes: Takes, placed: SegmentSynthesized) -> Heard | None:
    """The summary of a placed segment's takes (None when it was not checked)."""
    verdict = takes.verdicts_on_audio().get(placed.take)
    if verdict is None:
        return None
    first = takes.verdicts.get(0)  # the book's first take, as first heard (a person's retake does not undo it)
    return Heard(first_flagged=first is not None and not first.ok, retaken=max(takes.heard) > 0, ok=verdict.ok,
                 words=verdict.words, errors=verdict.errors, language=verdict.language)


def quality_of(heard: list[Heard]) -> Quality | None:
    """What the check heard in a book, from its placed segments; None if none was checked."""
    if not heard:
        return None
    languages: dict[str, int] = {}
    for item in heard:
        if item.language:
            languages[item.language] = languages.get(item.language, 0) + 1
    language = max(languages, key=lambda name: languages[name], default="")
    return Quality(checked=len(heard), flagged=sum(h.first_flagged for h in heard),
                   words=sum(h.words for h in heard), errors=sum(h.errors for h in heard), language=language,
                   language_share=round(languages.get(language, 0) / len(heard), 3),
                   retaken=sum(h.retaken for h in heard), still_flagged=sum(not h.ok for h in heard))
