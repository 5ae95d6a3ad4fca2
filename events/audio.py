"""What the stages agree on about audio (pure): pauses, the AAC frame, the sample format.

Parse decides where pauses go (``pause_after_ms`` of a segment), tts renders and encodes
them, assemble counts AAC frames: the numbers they share live here, not in one stage.
The cache key is here too: parse computes it to plan a book, and a worker recomputes it from
what it synthesizes, so the two can never disagree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import orjson

SENTENCE_PAUSE_MS = 250  # between sentences of one paragraph
PARAGRAPH_PAUSE_MS = 650  # between paragraphs
CHAPTER_PAUSE_MS = 1800  # after the last segment of a chapter

SAMPLE_WIDTH = 2  # bytes: engines speak 16-bit signed mono PCM
CHANNELS = 1
AAC_FRAME = 1024  # samples per AAC-LC frame; every stored segment is a whole number of frames
AAC_BITRATE = 64_000  # mono speech
DEFAULT_SAMPLE_RATE = 22_050  # Piper's medium voices; a book's rate is its segments' rate
SPEECH_S_PER_CHAR = 0.053  # the default voice's measured rate (en_US-joe-medium on Frankenstein)

RENDER_VERSION = 2  # bump when the worker's rendering (pauses, audio format) changes; 2: AAC segments


def cache_key(
    paragraphs: Sequence[str], engine: str, voice: str, model_version: str, speed: float, pause_after_ms: int,
    language: str = "",
) -> str:
    """Content address of a segment's audio: same text, voice, model and settings, same audio.

    ``language`` counts only for voices that speak several (one-language voices keep their keys).
    """
    fields = {
        "text": [" ".join(p.split()) for p in paragraphs], "engine": engine, "voice": voice,
        "model": model_version, "speed": round(speed, 3), "pause": pause_after_ms,
        "render": RENDER_VERSION,
    }
    material = orjson.dumps({**fields, "language": language} if language else fields)
    return hashlib.sha256(material).hexdigest()[:40]
