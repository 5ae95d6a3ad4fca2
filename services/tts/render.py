"""Render one segment: sentences from the engine joined by natural pauses (pydub)."""

from __future__ import annotations

import io
import warnings

with warnings.catch_warnings():  # pydub warns at import when ffmpeg is not on PATH
    warnings.simplefilter("ignore", RuntimeWarning)
    from pydub import AudioSegment

from events.types import SynthesizeSegment
from services.parse.segmenter import PARAGRAPH_PAUSE_MS, SENTENCE_PAUSE_MS
from services.tts.engines import Engine, SynthesisError


def _pcm(data: bytes, rate: int) -> AudioSegment:
    return AudioSegment(data=data, sample_width=2, frame_rate=rate, channels=1)


def render_segment(engine: Engine, job: SynthesizeSegment) -> AudioSegment:
    """Audio of a segment: sentence and paragraph pauses inside, ``pause_after_ms`` at the end."""
    rate = engine.sample_rate
    pieces: list[AudioSegment] = []
    for number, paragraph in enumerate(job.paragraphs):
        if number:
            pieces.append(AudioSegment.silent(PARAGRAPH_PAUSE_MS, frame_rate=rate))
        for count, chunk in enumerate(engine.sentences(paragraph, job.speed)):
            if count:
                pieces.append(AudioSegment.silent(SENTENCE_PAUSE_MS, frame_rate=rate))
            pieces.append(_pcm(chunk, rate))
    if not pieces:
        raise SynthesisError("the engine produced no audio for this text")
    pieces.append(AudioSegment.silent(job.pause_after_ms, frame_rate=rate))
    raw = b"".join(p.set_sample_width(2).set_channels(1).raw_data for p in pieces)
    return _pcm(raw, rate)


def to_wav(audio: AudioSegment) -> bytes:
    """16-bit mono WAV bytes of ``audio``."""
    buffer = io.BytesIO()
    audio.export(buffer, format="wav")
    return buffer.getvalue()
