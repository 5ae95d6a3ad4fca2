"""Render segments: each paragraph's sentences joined by natural pauses, then AAC for storage."""

from __future__ import annotations

import functools
import io
import math
import warnings
from collections import defaultdict
from dataclasses import dataclass, replace

import numpy as np

with warnings.catch_warnings():  # pydub warns at import when ffmpeg is not on PATH
    warnings.simplefilter("ignore", RuntimeWarning)
    from pydub import AudioSegment

from events.audio import AAC_BITRATE, AAC_FRAME, DEFAULT_SAMPLE_RATE, speakable
from events.types import SynthesizeSegment
from services.tts.engines import Engine, SynthesisError
from services.tts.loudness import CALIBRATION, VoiceLevel, audible, calibrate, level


def _silence(ms: int, rate: int) -> bytes:
    return bytes(AudioSegment.silent(ms, frame_rate=rate).set_sample_width(2).raw_data)


Span = tuple[int, int, int]  # (paragraph piece, first sample, end sample) of one piece of speech


@dataclass(frozen=True)
class Speech:
    """A segment's PCM (int16 mono) and where each piece of speech the engine returned lies in it:
    a sentence, as the engine split the paragraph piece it was given."""

    pcm: bytes
    spans: tuple[Span, ...] = ()


SPEECH_FLOOR = 300  # a sample this loud (about -40 dBFS) is speech; the engine's quiet lead-in is not


def _sounding(chunk: bytes) -> tuple[int, int]:
    """Where the speech in an engine's piece of audio begins and ends (the whole piece if it is
    quiet throughout): voices start a sentence after a quiet lead-in of their own (Piper: up to a
    quarter of a second), and a read-along cue starts with the first word, not before it."""
    samples = np.frombuffer(chunk, dtype=np.int16)
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > SPEECH_FLOOR)
    return (int(loud[0]), int(loud[-1]) + 1) if len(loud) else (0, len(samples))


def _join_timed(job: SynthesizeSegment, spoken: list[list[bytes]], rate: int) -> Speech:
    pieces: list[bytes] = []
    spans: list[Span] = []
    at = 0  # samples so far

    def add(data: bytes) -> None:
        nonlocal at
        pieces.append(data)
        at += len(data) // 2

    for number, chunks in enumerate(spoken):
        if number:
            add(_silence(job.paragraph_pause_ms, rate))
        for count, chunk in enumerate(chunks):
            if count:
                add(_silence(job.sentence_pause_ms, rate))
            if chunk:
                first, end = _sounding(chunk)
                spans.append((number, at + first, at + end))
            add(chunk)
    if not any(spoken) and any(speakable(p) for p in job.paragraphs):
        text = " ".join(job.paragraphs)
        quoted = text if len(text) <= 120 else text[:117] + "..."
        raise SynthesisError(f"the engine produced no audio for this text: {quoted!r}")
    add(_silence(job.pause_after_ms, rate))
    return Speech(b"".join(pieces), tuple(spans))


def _join(job: SynthesizeSegment, spoken: list[list[bytes]], rate: int) -> bytes:
    return _join_timed(job, spoken, rate).pcm


_LEVELS: dict[tuple[int, str], tuple[Engine, VoiceLevel | None]] = {}


def voice_level(engine: Engine, language: str = "") -> VoiceLevel | None:
    """The voice's levelling in ``language``, measured on its calibration passage once per process
    (a second or two of synthesis); None when it cannot be measured (levelled segment by segment)."""
    key = (id(engine), language)
    if key not in _LEVELS:
        passage = list(CALIBRATION)
        try:
            spoken = engine.speak(passage, 1.0, language) if language else engine.speak(passage, 1.0)
        except SynthesisError:
            spoken = []
        pause = _silence(400, engine.sample_rate)
        pcm = pause.join(b"".join(chunks) for chunks in spoken)
        _LEVELS[key] = (engine, calibrate(pcm, engine.sample_rate) if pcm else None)  # the engine kept: ids stay unique
    return _LEVELS[key][1]


def render_segments(engine: Engine, jobs: list[SynthesizeSegment]) -> list[bytes]:
    """PCM (int16 mono) of each segment, pauses included, from as few engine calls as possible."""
    return [speech.pcm for speech in render_timed(engine, jobs)]


def render_timed(engine: Engine, jobs: list[SynthesizeSegment]) -> list[Speech]:
    """Each segment's speech (PCM with pauses, and where its pieces lie), from as few engine calls
    as possible: segments with the same speed, language and take go to the engine as one batch of
    paragraphs."""
    out: dict[int, Speech] = {}
    groups: dict[tuple[float, str, int], list[int]] = defaultdict(list)
    for position, job in enumerate(jobs):
        groups[(job.speed, job.language, job.take)].append(position)
    for (speed, language, take), positions in groups.items():
        paragraphs = [p for i in positions for p in jobs[i].paragraphs]
        # a first take is asked as before: a synthesizer that knows no takes still speaks it
        spoken = engine.speak(paragraphs, speed, language, take) if take else engine.speak(paragraphs, speed, language)
        start = 0
        for i in positions:
            count = len(jobs[i].paragraphs)
            speech = _join_timed(jobs[i], spoken[start:start + count], engine.sample_rate)
            # a voice that speaks (not the instant engine's silence) is calibrated on its first sound
            if audible(speech.pcm):
                speech = replace(speech, pcm=level(speech.pcm, engine.sample_rate, voice_level(engine, language)))
            out[i] = speech
            start += count
    return [out[i] for i in range(len(jobs))]


def render_each(engine: Engine, jobs: list[SynthesizeSegment]) -> list[Speech | SynthesisError]:
    """Like :func:`render_timed`, but a segment the engine cannot speak fails alone."""
    try:
        return list(render_timed(engine, jobs))
    except SynthesisError as exc:
        if len(jobs) == 1:
            return [exc]
    results: list[Speech | SynthesisError] = []
    for job in jobs:  # find which segment of the batch failed
        try:
            results.append(render_timed(engine, [job])[0])
        except SynthesisError as exc:
            results.append(exc)
    return results


# ffmpeg's "fast" AAC coder: on Piper speech 2.7x faster than the default "twoloop" at the same
# size, and no worse (SNR 31.8 vs 28.2 dB on an 11 s Alice sentence; docs/performance.md).
# Without perceptual noise substitution (noise bands sent as "noise here", not coded): 21% less
# CPU on 5 minutes of Piper, the same size and SNR (28.6 dB either way); at 64 kb/s for one
# 22 kHz channel there are bits to code them.
AAC_OPTIONS = {"aac_coder": "fast", "aac_pns": "0"}
# digital silence kept in the encoded part after a segment's last sound, before the copied silent frames
SILENCE_TAIL = 2 * AAC_FRAME


def aac_frames(pcm_samples: int) -> int:
    """Frames :func:`to_aac` makes of this many PCM samples: the priming frame replaces the last
    frame's worth of the trailing pause, and the rest is padded to a whole frame."""
    return math.ceil(max(1, pcm_samples - AAC_FRAME) / AAC_FRAME) + 1


def encode_adts(samples: np.ndarray, rate: int, keep: slice = slice(None)) -> bytes:
    """ADTS of int16 mono ``samples`` (a whole number of frames); ``keep``: which packets to write."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="adts") as container:
        stream = container.add_stream("aac", rate=rate, layout="mono", options=AAC_OPTIONS)
        stream.bit_rate = AAC_BITRATE
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)][keep]:
            container.mux(packet)
    return buffer.getvalue()


@functools.cache
def silent_frame(rate: int) -> bytes:
    """One ADTS frame of digital silence as this encoder writes it (taken from the middle of
    encoded silence: every frame there is the same 11 bytes)."""
    return encode_adts(np.zeros(8 * AAC_FRAME, dtype=np.int16), rate, slice(4, 5))


def warm_up(rate: int = DEFAULT_SAMPLE_RATE) -> None:
    """Load the encoder (PyAV: 50 ms of CPU) and make its silent frame now, not on the first segment."""
    silent_frame(rate)


def decoded_spans(spans: tuple[Span, ...], samples: int) -> tuple[Span, ...]:
    """Where the pieces of speech lie in the segment's decoded AAC (:func:`to_aac`): one frame later,
    behind the encoder's priming frame, and never past the decoded end."""
    return tuple((piece, min(start + AAC_FRAME, samples), min(end + AAC_FRAME, samples))
                 for piece, start, end in spans)


def to_aac(pcm: bytes, rate: int) -> tuple[bytes, int]:
    """AAC-LC in ADTS of 16-bit mono PCM, and its exact decoded length in samples.

    Segments are encoded here, by the workers, so assembly only concatenates: ADTS frames are
    self-contained. The encoder prepends one frame of priming silence, so the segment's
    trailing pause is shortened by that frame and padded to a whole frame: the encoded segment
    lasts as long as the PCM, within one frame, and always a whole number of frames.

    Digital silence at the end (every segment's pause) is not encoded: the encoder gets the
    audio up to two frames past the last sound, and copies of :func:`silent_frame` make up the
    rest. A segment of silence alone (the instant test engine's) opens no encoder at all.
    """
    samples = np.frombuffer(pcm, dtype=np.int16)
    frames = aac_frames(len(samples))
    sounding = np.flatnonzero(samples)
    if not len(sounding):
        return silent_frame(rate) * frames, frames * AAC_FRAME
    encoded = min(frames, math.ceil((int(sounding[-1]) + 1 + SILENCE_TAIL) / AAC_FRAME) + 1)
    head = samples[: min((encoded - 1) * AAC_FRAME, max(1, len(samples) - AAC_FRAME))]
    head = np.concatenate([head, np.zeros((encoded - 1) * AAC_FRAME - len(head), dtype=np.int16)])
    return encode_adts(head, rate) + silent_frame(rate) * (frames - encoded), frames * AAC_FRAME
