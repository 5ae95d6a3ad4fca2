"""Split chapter text into sentences and group them into segments (pure).

A segment is the unit of synthesis work: consecutive sentences of one chapter, at most
``max_chars`` long unless a single sentence is longer (a sentence is never split).

Where one segment ends and the next begins is decided by the text itself, not by a running
count of characters: a segment starts before a sentence whose first word hashes to a chosen
residue ("content-defined" cut points, as in rsync or restic). An edit inside one sentence
therefore moves no boundary elsewhere in the chapter, so every other segment keeps its text,
its cache key and its audio. Only a group that outgrows ``max_chars`` is cut further, again by
content (a second and third hash), and last by size, inside that group alone.
A chapter's opening heading is a segment of its own, followed by the heading pause.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field

import pysbd
from pysbd.languages import LANGUAGE_CODES

from events.audio import DEFAULT_PAUSES, Pauses, decoration, speakable

DEFAULT_MAX_CHARS = 400
# pysbd's time grows with the square of its input (each abbreviation it meets re-scans the whole text: a
# paragraph of 160,000 characters of "Mr. " took minutes), so a longer paragraph is split a window at a time
WINDOW = 4_000
CUT_EVERY = (3, 2, 2)  # a cut before about one sentence in 3; inside an over-long group, one in 2, twice
FIRST_WORD = re.compile(r"\w+")
MAX_HEADING_CHARS = 200


@dataclass(frozen=True)
class Segment:
    """Sentences to synthesize together; one string per paragraph piece. ``sentences`` holds each
    piece's sentences as the book wrote them, and ``places`` the chapter paragraph each piece is
    from (the read-along's map of the text; not part of what a segment is)."""

    paragraphs: tuple[str, ...]
    pause_after_ms: int
    sentences: tuple[tuple[str, ...], ...] = field(default=(), compare=False)
    places: tuple[int, ...] = field(default=(), compare=False)

    @property
    def text(self) -> str:
        return " ".join(self.paragraphs)


@dataclass(frozen=True)
class _Sentence:
    paragraph: int
    text: str


_local = threading.local()


def _segmenter(language: str) -> pysbd.Segmenter:
    """This thread's pysbd segmenter for the language: a Segmenter keeps the text it is working on
    in itself, so two threads sharing one (two requests planned at once) lose sentences."""
    code = language.split("-")[0].split("_")[0].lower()
    code = code if code in LANGUAGE_CODES else "en"
    cache: dict[str, pysbd.Segmenter] = _local.__dict__.setdefault("segmenters", {})
    if code not in cache:
        cache[code] = pysbd.Segmenter(language=code, clean=False, char_span=True)
    return cache[code]


def _window_end(paragraph: str, start: int) -> int:
    """Where a window of the paragraph from ``start`` ends: after its last space in its second half, if any."""
    end = start + WINDOW
    if end >= len(paragraph):
        return len(paragraph)
    space = paragraph.rfind(" ", start + WINDOW // 2, end)
    return space + 1 if space >= 0 else end


def _pysbd_sentences(paragraph: str, language: str) -> list[str]:
    """pysbd's sentences of a paragraph as written (each with the spaces after it), in time linear in its length.

    A paragraph longer than WINDOW is read a window at a time: the sentences of a window but its last, then
    the next window from where that last one starts (it may go on past the window). A sentence that starts
    in a window's first quarter and goes on past its end (over 3,000 characters) is cut there.
    """
    segmenter = _segmenter(language)
    if len(paragraph) <= WINDOW:
        return [span.sent for span in segmenter.segment(paragraph)]
    out: list[str] = []
    start = 0
    while start < len(paragraph):
        end = _window_end(paragraph, start)
        spans = segmenter.segment(paragraph[start:end])
        if end < len(paragraph) and len(spans) > 1 and spans[-1].start >= WINDOW // 4:
            out.extend(span.sent for span in spans[:-1])
            start += spans[-1].start
        else:
            out.extend(span.sent for span in spans)
            start = end
    return out


def sentences(paragraph: str, language: str = "en") -> list[str]:
    """Sentences of one paragraph, stripped; each holds words (:func:`events.audio.speakable`).

    A piece the splitter leaves without words joins the sentence before it as written (a closing
    quotation mark, ``..``, a dash), or the one after it at the paragraph's start; an ornament
    (``* * *``) is not read. A paragraph without words has no sentences.
    """
    pieces: list[list[str]] = []  # joined at the end: adding to a string again and again is quadratic
    lead: list[str] = []
    for piece in _pysbd_sentences(paragraph, language):
        if speakable(piece):
            pieces.append([*lead, piece])
            lead = []
        elif decoration(piece):
            continue
        elif pieces:
            pieces[-1].append(piece)
        else:
            lead.append(piece)
    return ["".join(p).strip() for p in pieces]


def _cut_before(sentence: str, level: int) -> bool:
    """Does a segment start at this sentence? Decided by its first word alone (and the level)."""
    match = FIRST_WORD.search(sentence.casefold())
    word = match.group(0) if match else sentence
    digest = hashlib.blake2b(word.encode(), digest_size=2, salt=bytes([level])).digest()
    return int.from_bytes(digest, "big") % CUT_EVERY[level] == 0


def _size(group: list[_Sentence]) -> int:
    return sum(len(s.text) + 1 for s in group)


def _split(group: list[_Sentence], max_chars: int, level: int = 0) -> list[list[_Sentence]]:
    """Cut a run of sentences into groups of at most ``max_chars``: by content, then by size."""
    if level == 0 or _size(group) > max_chars:
        if level < len(CUT_EVERY):
            pieces: list[list[_Sentence]] = []
            for sentence in group:
                if not pieces or _cut_before(sentence.text, level):
                    pieces.append([])
                pieces[-1].append(sentence)
            return [out for piece in pieces for out in _split(piece, max_chars, level + 1)]
        return _by_size(group, max_chars)
    return [group]


def _by_size(group: list[_Sentence], max_chars: int) -> list[list[_Sentence]]:
    pieces: list[list[_Sentence]] = []
    size = 0
    for sentence in group:
        if not pieces or size + len(sentence.text) + 1 > max_chars:
            pieces.append([])
            size = 0
        pieces[-1].append(sentence)
        size += len(sentence.text) + 1
    return pieces


def fold(text: str) -> str:
    """Letters and digits only, case-folded: text as compared, whatever its punctuation."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def opens_with_heading(title: str, paragraphs: tuple[str, ...] | list[str]) -> bool:
    """Is the chapter's first paragraph its heading (the title, or a part of it, read aloud)?"""
    if not paragraphs or not title or len(paragraphs[0]) > MAX_HEADING_CHARS:
        return False
    first, name = fold(paragraphs[0]), fold(title)
    return bool(first) and (first in name or name in first)


def segment_chapter(
    paragraphs: tuple[str, ...] | list[str], language: str = "en", max_chars: int = DEFAULT_MAX_CHARS,
    pauses: Pauses = DEFAULT_PAUSES, title: str = "",
) -> list[Segment]:
    """Group a chapter's sentences into segments of at most ``max_chars`` characters, cut by content.

    With ``title``, a first paragraph that is the chapter's heading is a segment of its own.
    """
    units = [_Sentence(number, s) for number, p in enumerate(paragraphs) for s in sentences(p, language)]
    heading = opens_with_heading(title, paragraphs)
    head = [u for u in units if u.paragraph == 0] if heading else []
    groups = ([head] if head else []) + (_split(units[len(head):], max_chars) if units[len(head):] else [])
    segments = []
    for number, group in enumerate(groups):
        pieces: list[list[str]] = []
        places: list[int] = []
        for position, unit in enumerate(group):
            if not position or unit.paragraph != group[position - 1].paragraph:
                pieces.append([])
                places.append(unit.paragraph)
            pieces[-1].append(unit.text)
        if number == len(groups) - 1:
            pause = pauses.chapter
        elif head and number == 0:
            pause = pauses.heading
        else:
            pause = pauses.paragraph if groups[number + 1][0].paragraph != group[-1].paragraph else pauses.sentence
        segments.append(Segment(tuple(" ".join(p) for p in pieces), pause, tuple(map(tuple, pieces)), tuple(places)))
    return segments
