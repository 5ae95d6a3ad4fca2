"""What the stages agree on about audio (pure): pauses, the AAC frame, the sample format.

Parse decides where pauses go (``pause_after_ms`` of a segment), tts renders and encodes
them, assemble counts AAC frames: the numbers they share live here, not in one stage.
The cache key is here too: parse computes it to plan a book, and a worker recomputes it from
what it synthesizes, so the two can never disagree.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import orjson

SENTENCE_PAUSE_MS = 250  # between sentences of one paragraph
PARAGRAPH_PAUSE_MS = 650  # between paragraphs
CHAPTER_PAUSE_MS = 1800  # after the last segment of a chapter
HEADING_PAUSE_MS = 1000  # after the heading read at a chapter's start
MAX_PAUSE_MS = 10_000


@dataclass(frozen=True)
class Pauses:
    """Silences a narrator leaves, in milliseconds; a request may set each (``pauses``)."""

    sentence: int = SENTENCE_PAUSE_MS
    paragraph: int = PARAGRAPH_PAUSE_MS
    chapter: int = CHAPTER_PAUSE_MS
    heading: int = HEADING_PAUSE_MS

    def spec(self) -> str:
        """``sentence=300,chapter=2500``: the settings that differ from the defaults ("" for none)."""
        return ",".join(f"{k}={v}" for k, v in asdict(self).items() if v != getattr(DEFAULT_PAUSES, k))

    @classmethod
    def from_spec(cls, spec: str) -> Pauses:
        """The pauses a :meth:`spec` string names; raises ValueError for anything else."""
        values: dict[str, int] = {}
        for part in filter(None, spec.replace(" ", "").split(",")):
            key, sep, value = part.partition("=")
            if not sep or key not in PAUSE_KINDS:
                raise ValueError(f"a pause is KIND=MILLISECONDS with KIND one of {', '.join(PAUSE_KINDS)}, "
                                 f"not {part!r}")
            values[key] = pause_ms(key, value)
        return cls(**values)


def pause_ms(kind: str, text: str) -> int:
    """The milliseconds a ``kind`` pause written ``text`` lasts: whole, 0 (no pause) to MAX_PAUSE_MS.

    Raises ValueError naming the pause and the range for anything else (``-5``, ``nan``, ``1e-9``, ``2.5``).
    """
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise ValueError(f"the {kind} pause must be whole milliseconds from 0 to {MAX_PAUSE_MS}, not {text!r}")
    if int(text) > MAX_PAUSE_MS:
        raise ValueError(f"the {kind} pause is {int(text)} ms; the limit is {MAX_PAUSE_MS} ms (0 to {MAX_PAUSE_MS})")
    return int(text)


DEFAULT_PAUSES = Pauses()
PAUSE_KINDS = tuple(asdict(DEFAULT_PAUSES))

SAMPLE_WIDTH = 2  # bytes: engines speak 16-bit signed mono PCM
CHANNELS = 1
AAC_FRAME = 1024  # samples per AAC-LC frame; every stored segment is a whole number of frames
AAC_BITRATE = 64_000  # mono speech
DEFAULT_SAMPLE_RATE = 22_050  # Piper's medium voices; a book's rate is its segments' rate
SPEECH_S_PER_CHAR = 0.053  # the default voice's measured rate (en_US-joe-medium on Frankenstein)

def speakable(text: str) -> bool:
    """Does the text hold something a voice says: a letter or a digit, in any script?

    A closing quotation mark, an ellipsis or a dash alone gives no audio at all (Piper, espeak-ng);
    planning never makes a segment of such text, and a worker renders one as its pauses alone.
    """
    return any(ch.isalnum() for ch in text)


ORNAMENTS = frozenset("*#~•·◦●○■□▪◆◇★☆✦✧✱✲✳⁂⁎⁑†‡=_|")


def decoration(text: str) -> bool:
    """Is this text without words a scene break or an ornament (``* * *``, ``#``, ``•``, ``❦``)?

    Ornaments (and dingbats) with at most punctuation beside them are; quotation marks, brackets,
    dashes, sentence punctuation, ``%`` or ``€`` alone are not (they belong to the words beside
    them). An ornament is not read at all (Piper reads ``*`` as "asterisk").
    """
    marks = [ch for ch in text if not ch.isspace()]
    return (not speakable(text) and any(ch in ORNAMENTS or unicodedata.category(ch) == "So" for ch in marks)
            and all(ch in ORNAMENTS or unicodedata.category(ch)[0] in "PS" for ch in marks))


RENDER_VERSION = 4  # bump when the rendering changes; 2: AAC segments, 3: loudness levelled, 4: one gain per voice
LOUDNESS_TARGET_LUFS = -19.0  # integrated loudness of mono speech (ACX: -23 to -18)
TRUE_PEAK_CEILING_DBTP = -3.0  # ACX: peaks at or under -3 dB


def cache_key(
    paragraphs: Sequence[str], engine: str, voice: str, model_version: str, speed: float, pause_after_ms: int,
    language: str = "", inner_pauses: tuple[int, int] = (SENTENCE_PAUSE_MS, PARAGRAPH_PAUSE_MS),
) -> str:
    """Content address of a segment's audio: same text, voice, model and settings, same audio.

    ``language`` counts only for voices that speak several (one-language voices keep their keys);
    ``inner_pauses`` (between sentences, between paragraphs) only when not the defaults.
    """
    fields: dict[str, object] = {
        "text": [" ".join(p.split()) for p in paragraphs], "engine": engine, "voice": voice,
        "model": model_version, "speed": round(speed, 3), "pause": pause_after_ms,
        "render": RENDER_VERSION,
    }
    if language:
        fields["language"] = language
    if inner_pauses != (SENTENCE_PAUSE_MS, PARAGRAPH_PAUSE_MS):
        fields["pauses"] = list(inner_pauses)
    material = orjson.dumps(fields)
    return hashlib.sha256(material).hexdigest()[:40]


@dataclass(frozen=True)
class StoredAudio:
    """What the object store says about a segment's audio, in its description: its exact length,
    and where each piece of speech lies in it ((paragraph piece, first sample, end sample); none
    for audio stored before they were kept). The tts worker writes it with the audio; the check
    writes it again when a retake it heard fine becomes the cached audio."""

    samples: int
    sample_rate: int
    spans: tuple[tuple[int, int, int], ...] = ()

    def description(self) -> str:
        """The stored object's description (what :func:`stored_audio` reads back)."""
        return orjson.dumps({"samples": self.samples, "sample_rate": self.sample_rate,
                             **({"spans": self.spans} if self.spans else {})}).decode()


def stored_audio(description: str | None) -> StoredAudio | None:
    """The stored object's description, if it is a complete segment's (else: synthesize again)."""
    try:
        meta = orjson.loads(description or "{}")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(meta, dict):
        return None
    samples, rate = meta.get("samples"), meta.get("sample_rate")
    if type(samples) is not int or type(rate) is not int or samples <= 0 or rate <= 0:
        return None
    return StoredAudio(samples, rate, _spans(meta.get("spans"), samples))


def _spans(value: object, samples: int) -> tuple[tuple[int, int, int], ...]:
    """Spans as stored, if every one is three whole numbers in order inside the audio (else none)."""
    if not isinstance(value, list):
        return ()
    spans = []
    for span in value:
        if (not isinstance(span, list) or len(span) != 3 or any(type(n) is not int for n in span)
                or not (span[0] >= 0 and 0 <= span[1] <= span[2] <= samples)):
            return ()
        spans.append((span[0], span[1], span[2]))
    return tuple(spans)
