"""Read-along cues: each sentence of the book, when it is said in the finished audio (pure).

Every segment's event says where each piece of speech the engine returned lies in its audio
(``spans``: a sentence, as the engine split the paragraph piece it was given); the job's text map
(``texts/<job>.json``, written by parse) holds each piece's sentences as the book wrote them. When
a piece has as many spans as sentences, each sentence is a cue of its own, timed exactly;
otherwise (the engine split the text its own way, or the audio predates timings) the piece, or
the whole segment, is one cue, and it is counted as not aligned. Mapping never fails a book.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from events.names import sentence_id
from events.types import SegmentSynthesized

Pieces = list[tuple[int, list[str]]]  # a segment's paragraph pieces: (chapter paragraph, sentences)


@dataclass(frozen=True)
class Cue:
    """One stretch of the book's audio and the text said in it (samples from the book's start)."""

    start: int
    end: int
    text: str
    id: str = ""  # the span of its (first) sentence in the read-along text (events.names.sentence_id)


@dataclass(frozen=True)
class TextMap:
    """The book's sentences by chapter, segment and paragraph piece (``services.parse.plan.text_map``)."""

    chapters: list[list[Pieces]]

    def pieces(self, chapter: int, index: int) -> Pieces | None:
        if chapter < len(self.chapters) and index < len(self.chapters[chapter]):
            return self.chapters[chapter][index]
        return None


def text_map_of(data: bytes, job_id: str) -> TextMap | None:
    """The text map in ``data``, if it is one of this job's (anything else: no read-along)."""
    try:
        raw: Any = orjson.loads(data)
        if raw.get("v") != 1 or raw.get("job_id") != job_id:
            return None
        chapters = [[[(int(place), [str(s) for s in sentences]) for place, sentences in segment]
                     for segment in chapter["segments"]] for chapter in raw["chapters"]]
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        return None
    return TextMap(chapters)


def segment_cues(event: SegmentSynthesized, offset: int, pieces: Pieces | None) -> tuple[list[Cue], int]:
    """The cues of one placed segment that begins ``offset`` samples into the book, and how many
    of its paragraph pieces could not be timed sentence by sentence."""
    if not pieces:
        return [], 0
    first = sentence_id(event.chapter, event.index, 0, 0)
    if not event.spans:  # audio stored before timings were kept: the segment as a whole
        text = " ".join(sentence for _, sentences in pieces for sentence in sentences)
        return [Cue(offset, offset + event.samples, text, first)], len(pieces)
    cues: list[Cue] = []
    unaligned = 0
    for number, (_, sentences) in enumerate(pieces):
        spans = [(start, end) for piece, start, end in event.spans if piece == number]
        if not spans:
            unaligned += 1  # nothing was said for it ("* * *"): its text joins no cue
            continue
        ids = [sentence_id(event.chapter, event.index, number, sentence) for sentence in range(len(sentences))]
        if len(spans) == len(sentences):
            cues += [Cue(offset + start, offset + end, text, span_id)
                     for (start, end), text, span_id in zip(spans, sentences, ids, strict=True)]
        else:
            unaligned += 1
            cues.append(Cue(offset + spans[0][0], offset + spans[-1][1], " ".join(sentences), ids[0]))
    return cues, unaligned


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def webvtt_of(cues: list[Cue], rate: int) -> str:
    """The cues as a WebVTT file (webvtt-py), times from the audio's start."""
    return webvtt_text([(cue.start / rate, cue.end / rate, cue.text) for cue in cues])


def webvtt_text(cues: list[tuple[float, float, str]]) -> str:
    """Cues of (start, end) seconds and text as a WebVTT file (webvtt-py); empty ones left out."""
    from webvtt import Caption, WebVTT

    captions = [Caption(_timestamp(start), _timestamp(end), " ".join(text.split()))
                for start, end, text in cues if round(end * 1000) > round(start * 1000) and text.strip()]
    return str(WebVTT(captions=captions).content)
