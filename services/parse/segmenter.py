"""Split chapter text into sentences and group them into segments (pure).

A segment is the unit of synthesis work: consecutive sentences of one chapter, at most
``max_chars`` long unless a single sentence is longer (a sentence is never split).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pysbd
from pysbd.languages import LANGUAGE_CODES

from events.audio import CHAPTER_PAUSE_MS, PARAGRAPH_PAUSE_MS, SENTENCE_PAUSE_MS

DEFAULT_MAX_CHARS = 400


@dataclass(frozen=True)
class Segment:
    """Sentences to synthesize together; one string per paragraph piece."""

    paragraphs: tuple[str, ...]
    pause_after_ms: int

    @property
    def text(self) -> str:
        return " ".join(self.paragraphs)


@lru_cache(maxsize=16)
def _segmenter(language: str) -> pysbd.Segmenter:
    code = language.split("-")[0].split("_")[0].lower()
    return pysbd.Segmenter(language=code if code in LANGUAGE_CODES else "en", clean=False)


def sentences(paragraph: str, language: str = "en") -> list[str]:
    """Sentences of one paragraph, stripped; their concatenation is the paragraph's text."""
    return [s.strip() for s in _segmenter(language).segment(paragraph) if s.strip()]


def segment_chapter(
    paragraphs: tuple[str, ...] | list[str], language: str = "en", max_chars: int = DEFAULT_MAX_CHARS
) -> list[Segment]:
    """Group a chapter's sentences into segments of at most ``max_chars`` characters."""
    segments: list[Segment] = []
    pieces: list[list[str]] = []
    size = 0

    def close(pause: int) -> None:
        nonlocal pieces, size
        if pieces:
            segments.append(Segment(tuple(" ".join(p) for p in pieces), pause))
        pieces, size = [], 0

    for paragraph in paragraphs:
        new_paragraph = True
        for sentence in sentences(paragraph, language):
            if pieces and size + len(sentence) + 1 > max_chars:
                close(PARAGRAPH_PAUSE_MS if new_paragraph else SENTENCE_PAUSE_MS)
            if new_paragraph or not pieces:
                pieces.append([])
            pieces[-1].append(sentence)
            size += len(sentence) + 1
            new_paragraph = False
    close(CHAPTER_PAUSE_MS)
    return segments

