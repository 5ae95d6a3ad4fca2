"""Loudness levelling on the real default voice: every segment at -19 LUFS, true peak under -3 dBTP."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.tts.engines import load_engine
from services.tts.loudness import gain_db, level, loudness_lufs, peak_excess_db, true_peak_db
from services.voices import resolve_voice

TEXTS = [
    "It was on a dreary night of November that I beheld the accomplishment of my toils.",
    "Yes.",
    "Chapter 5",
    "I saw how the fine form of man was degraded and wasted; I beheld the corruption of death!",
]


@pytest.fixture(scope="module")
def piper():  # type: ignore[no-untyped-def]
    return load_engine(resolve_voice("piper", "en_US-joe-medium"))


def _measure(pcm: bytes, rate: int) -> tuple[float, float]:
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64) / 32768
    return loudness_lufs(samples, rate), true_peak_db(samples)


@pytest.mark.parametrize("text", TEXTS)
def test_piper_speech_is_levelled(piper, text: str) -> None:  # type: ignore[no-untyped-def]
    pcm = b"".join(piper.speak([text], 1.0, "en")[0]) + bytes(piper.sample_rate)  # half a second of pause
    before = _measure(pcm, piper.sample_rate)
    loudness, peak = _measure(level(pcm, piper.sample_rate), piper.sample_rate)
    assert before[1] > -3.0, "the voice's own peaks are over the ceiling (what the limiter is for)"
    assert loudness == pytest.approx(-19.0, abs=0.3)
    assert peak <= -3.0


def test_silence_and_quiet_cases() -> None:
    silence = bytes(44100)
    assert level(silence, 22050) is silence
    assert gain_db(-math.inf, -math.inf) == 0.0
    assert gain_db(-25.0, -12.0) == pytest.approx(6.0)  # simply louder
    assert gain_db(-25.0, -5.0) == pytest.approx(-3.5 - -5.0)  # held by the ceiling (0.5 dB margin)
    assert peak_excess_db(-20.0, 0.0) == pytest.approx(4.5)
    assert peak_excess_db(-20.0, -10.0) == 0.0
