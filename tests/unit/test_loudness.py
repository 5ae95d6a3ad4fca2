"""Loudness levelling on the real default voice: the voice at -19 LUFS with its own dynamics, true
peak under -3 dBTP."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.tts.engines import load_engine
from services.tts.loudness import (
    CALIBRATION,
    calibrate,
    gain_db,
    level,
    loudness_lufs,
    peak_excess_db,
    true_peak_db,
)
from services.tts.render import _join, to_aac, voice_level
from services.voices import resolve_voice
from tests.conftest import book
from tests.loudness import whole_file_loudness

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
def test_a_segment_alone_is_levelled_to_the_target(piper, text: str) -> None:  # type: ignore[no-untyped-def]
    """A voice that cannot be calibrated: each segment to the target on its own."""
    pcm = b"".join(piper.speak([text], 1.0, "en")[0]) + bytes(piper.sample_rate)  # half a second of pause
    before = _measure(pcm, piper.sample_rate)
    loudness, peak = _measure(level(pcm, piper.sample_rate), piper.sample_rate)
    assert before[1] > -3.0, "the voice's own peaks are over the ceiling (what the limiter is for)"
    assert loudness == pytest.approx(-19.0, abs=0.3)
    assert peak <= -3.0


def test_a_voice_gets_one_gain_and_the_limiter_touches_only_peaks(piper) -> None:  # type: ignore[no-untyped-def]
    """The calibration passage lands on the target; every segment gets the voice's one gain: a line
    whose peaks stay under the limit is only that much louder (not brought to the target), and a
    line with peaks over it has them held under the ceiling."""
    voice = voice_level(piper, "en")
    assert voice is not None and voice is voice_level(piper, "en"), "measured once"
    passage = b"".join(b"".join(chunks) for chunks in piper.speak(list(CALIBRATION), 1.0, "en"))
    assert _measure(level(passage, piper.sample_rate, voice), piper.sample_rate)[0] == pytest.approx(-19.0, abs=0.5)
    line = np.frombuffer(b"".join(piper.speak([TEXTS[0]], 1.0, "en")[0]), dtype=np.int16)
    quiet = (line * 10 ** (-10 / 20)).astype(np.int16).tobytes()  # the same line 10 dB down: a quiet line
    raw = _measure(quiet, piper.sample_rate)
    levelled = _measure(level(quiet, piper.sample_rate, voice), piper.sample_rate)
    assert raw[1] + voice.gain_db < voice.threshold_db, "its peaks stay under the limit"
    assert levelled[0] == pytest.approx(raw[0] + voice.gain_db, abs=0.2), (raw, levelled, voice)
    loud = _measure(level(line.tobytes(), piper.sample_rate, voice), piper.sample_rate)
    assert loud[1] <= -3.0 and loud[0] > levelled[0] + 5, (loud, levelled)
    assert calibrate(bytes(44100), piper.sample_rate) is None, "silence: levelled segment by segment"


def test_a_chapter_keeps_the_voice_s_loudness_range(piper, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A chapter of a book, as workers store it (AAC) and the assembler joins it: the loudness range of
    the raw voice within 1 LU, at -19 LUFS within 1, true peak under -3 dBTP. (Levelling each segment
    on its own halved the range: 4.4 LU raw, 2.4 levelled.)"""
    from services.parse.formats import read_book
    from services.parse.plan import plan_job

    info = resolve_voice("piper", "en_US-joe-medium")
    plan = plan_job(read_book(book("epub/pg84_frankenstein_epub2-ncx.epub")), "jrange", info, 1.0, 400)
    jobs = [job for _, job in plan.jobs if job.chapter == 5][:20]
    raw = [_join(job, piper.speak(list(job.paragraphs), 1.0, "en"), piper.sample_rate) for job in jobs]
    voice = voice_level(piper, "en")
    found = {}
    for name, pcms in (("raw", raw), ("book", [level(pcm, piper.sample_rate, voice) for pcm in raw])):
        path = tmp_path / f"{name}.aac"
        path.write_bytes(b"".join(to_aac(pcm, piper.sample_rate)[0] for pcm in pcms))
        found[name] = whole_file_loudness(path)
    assert found["raw"] is not None and found["book"] is not None
    assert found["raw"].range_lu >= 3.0, "a chapter with dynamics to keep"
    assert abs(found["book"].range_lu - found["raw"].range_lu) <= 1.0, found
    assert abs(found["book"].lufs - -19.0) <= 1.0 and found["book"].true_peak_dbtp <= -3.0, found


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


def test_the_loudness_range_follows_ebu_tech_3342() -> None:
    """The spread of short-term loudness from the 10th to the 95th percentile, gated at -70 LUFS and
    20 LU under the rest."""
    from services.assemble.meter import loudness_range

    assert loudness_range([-20.0] * 50) == 0.0
    values = [-30.0 + i * 0.1 for i in range(101)]  # -30 to -20, evenly
    assert loudness_range(values) == pytest.approx(8.5, abs=0.01)
    assert loudness_range(values + [-80.0] * 100 + [-55.0] * 100) == pytest.approx(8.5, abs=0.01), "gated"
    assert loudness_range([-math.inf, -90.0]) == 0.0


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
