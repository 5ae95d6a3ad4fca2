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


def test_gating_follows_bs1770() -> None:
    """Blocks under -70 LUFS and those 10 LU under the rest are not counted."""
    from services.assemble.meter import integrated_loudness

    assert integrated_loudness([-20.0] * 10) == pytest.approx(-20.0)
    assert integrated_loudness([-20.0] * 10 + [-80.0] * 50) == pytest.approx(-20.0)  # silence: absolute gate
    assert integrated_loudness([-20.0] * 10 + [-45.0] * 10) == pytest.approx(-20.0)  # quiet: relative gate
    # two levels within 10 LU: the loudness of their mean power, not the mean of the numbers
    assert integrated_loudness([-20.0] * 10 + [-26.0] * 10) == pytest.approx(-22.03, abs=0.01)
    assert integrated_loudness([-80.0, -math.inf]) == -math.inf


def test_the_book_meter_agrees_with_one_pass_over_the_file(piper, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Three chapters measured apart and gated together give what one ffmpeg pass over the whole gives."""
    import asyncio

    from services.assemble.ffmpeg import ffmpeg_exe
    from services.assemble.meter import LoudnessMeter
    from services.tts.render import to_aac
    from tests.loudness import whole_file_loudness

    audio = tmp_path / "book.aac"
    bounds = []
    with open(audio, "wb") as book:
        for text, gain in ((TEXTS[0], 1.0), (TEXTS[3], 0.5), (TEXTS[0] + " " + TEXTS[1], 0.8)):
            pcm = np.frombuffer(b"".join(piper.speak([text], 1.0, "en")[0]), dtype=np.int16)
            start = book.tell()
            book.write(to_aac((pcm * gain).astype(np.int16).tobytes() + bytes(piper.sample_rate), piper.sample_rate)[0])
            bounds.append((start, book.tell()))

    async def measure():  # type: ignore[no-untyped-def]
        meter = LoudnessMeter(ffmpeg_exe(), audio, parallel=2)
        for start, end in bounds:
            meter.stretch_done(start, end, piper.sample_rate)
        return await meter.result()

    chapters = asyncio.run(measure())
    once = whole_file_loudness(audio)
    assert chapters is not None and once is not None
    # both figures are rounded to 0.1, and each chapter's first gating blocks start afresh (chapters of
    # seconds here, so that weighs more than in a book): 0.2 apart at most, with room for the float error
    assert abs(chapters.lufs - once.lufs) <= 0.2 + 1e-9
    assert abs(chapters.true_peak_dbtp - once.true_peak_dbtp) <= 0.1 + 1e-9
