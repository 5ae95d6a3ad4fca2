"""Measure the finished book's loudness while it is being built, a stretch at a time.

The book's audio is read by ffmpeg's EBU R 128 meter (``ebur128``) stretch by stretch, as soon
as each stretch is appended: a chapter, or about two minutes of whole segments of a longer one
(segments end in a pause and start their own AAC stream, so a cut there is as clean as a
chapter's). What is left when the last segment lands is one short stretch, not a chapter. The
measurement is of the very bytes the M4B holds (the remux is a stream copy). Stretches are
measured in parallel, one ffmpeg per core, so the meter keeps up with any fleet the assembler
keeps up with.

The meter reports each 400 ms block's momentary loudness (every 100 ms: the gating blocks of
ITU-R BS.1770); the book's integrated loudness is those blocks of all stretches, gated once
(:func:`integrated_loudness`), so it is the book's, not an average of chapters'. The true peak
is the highest stretch's, each read as BS.1770 Annex 2 describes: the peak of a 4x oversampled
copy (``aresample`` then ``astats``; ``ebur128``'s own true peak oversamples 22 kHz speech to
192 kHz and cost three times the rest of the meter, for the same figure within 0.05 dB). The
loudness range (EBU Tech 3342) is read from the short-term (3 s) loudness the meter logs with
each block, for the book and for each chapter, so a book can show it kept the voice's dynamics
(each stretch's first seconds have no full 3 s window; a stretch is two minutes). A meter that
fails never fails the book: it reports nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MOMENTARY = re.compile(rb"TARGET:.*?\bM:\s*(-?\d+(?:\.\d+)?|-inf|nan)\s+S:\s*(-?\d+(?:\.\d+)?|-inf|nan)")
TRUE_PEAK = re.compile(r"Peak level dB:\s*(-?\d+(?:\.\d+)?|-inf)")
OVERSAMPLING = 4
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
RANGE_GATE_LU = -20.0  # EBU Tech 3342: the loudness range's relative gate
RANGE_LOW, RANGE_HIGH = 10, 95  # ... and the percentiles of short-term loudness it spans


@dataclass(frozen=True)
class ChapterLevel:
    """One chapter's integrated loudness and loudness range."""

    chapter: int
    lufs: float
    range_lu: float


@dataclass(frozen=True)
class Loudness:
    lufs: float  # integrated loudness
    true_peak_dbtp: float
    range_lu: float = 0.0  # loudness range (EBU Tech 3342)
    chapters: tuple[ChapterLevel, ...] = ()


def _power(lufs: float) -> float:
    """The mean square a loudness (LUFS) stands for, as BS.1770 sums blocks."""
    return float(10 ** ((lufs + 0.691) / 10))


def _lufs(mean_power: float) -> float:
    return -0.691 + 10 * math.log10(mean_power)


def integrated_loudness(momentary: list[float]) -> float:
    """BS.1770 integrated loudness of gating blocks given as their loudness (LUFS); -inf if all are gated.

    Blocks under -70 LUFS are dropped (absolute gate), then those more than 10 LU under the
    loudness of the rest (relative gate); the result is the loudness of the mean power left.
    """
    audible = [_power(m) for m in momentary if m > ABSOLUTE_GATE_LUFS]
    if not audible:
        return -math.inf
    threshold = _lufs(sum(audible) / len(audible)) + RELATIVE_GATE_LU
    kept = [p for p in audible if _lufs(p) > threshold]
    return _lufs(sum(kept) / len(kept))


def loudness_range(short_term: list[float]) -> float:
    """EBU Tech 3342 loudness range (LU) of short-term (3 s) loudness values taken every 100 ms: the
    spread from the 10th to the 95th percentile of those above -70 LUFS and within 20 LU of their
    mean power; 0 when nothing is left."""
    audible = [s for s in short_term if s > ABSOLUTE_GATE_LUFS]
    if not audible:
        return 0.0
    mean = _lufs(sum(map(_power, audible)) / len(audible))
    kept = sorted(s for s in audible if s > mean + RANGE_GATE_LU)
    if not kept:
        return 0.0
    import numpy as np

    low, high = np.percentile(kept, [RANGE_LOW, RANGE_HIGH])
    return float(high - low)


def meter_command(ffmpeg: str, source: str, rate: int) -> list[str]:
    """ffmpeg reading ADTS of ``rate`` Hz from ``source``, logging each block's loudness and then
    the peak of the audio oversampled 4x, writing no audio."""
    peak = (f"aresample={OVERSAMPLING * rate},"
            "astats=measure_perchannel=none:measure_overall=Peak_level")
    return [ffmpeg, "-hide_banner", "-nostats", "-loglevel", "info", "-f", "aac", "-i", source,
            "-af", f"ebur128=peak=none:framelog=info,{peak}", "-f", "null", "-"]


def byte_range(path: Path, start: int, end: int) -> str:
    """ffmpeg's name for bytes [start, end) of a file (its ``subfile`` protocol)."""
    return f"subfile,,start,{start},end,{end},,:{path.resolve()}"


@dataclass
class _Measured:
    momentary: list[float]
    short_term: list[float]
    true_peak: float
    chapter: int = -1


async def _measure_range(ffmpeg: str, path: Path, start: int, end: int, rate: int) -> _Measured:
    """One ffmpeg meter over bytes [start, end) of the book's ADTS audio.

    ffmpeg reads the range from the file itself and logs to a file read once it is done: piped,
    its log (ten lines a second of audio, each line several writes) woke the assembler's event
    loop thousands of times a minute."""
    with tempfile.TemporaryFile() as log_file:
        proc = await asyncio.create_subprocess_exec(*meter_command(ffmpeg, byte_range(path, start, end), rate),
                                                    stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.DEVNULL, stderr=log_file)
        try:
            await proc.wait()
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise
        log_file.seek(0)
        text = log_file.read()
    def level(value: bytes) -> float:
        return -math.inf if value in (b"-inf", b"nan") else float(value)

    found = MOMENTARY.findall(text)
    blocks, short_term = [level(m) for m, _ in found], [level(s) for _, s in found]
    log = text.decode(errors="replace")
    peak = TRUE_PEAK.findall(log)
    if proc.returncode or not peak:
        raise RuntimeError(f"ffmpeg's meter failed ({proc.returncode}): {log[-300:]}")
    return _Measured(blocks, short_term, -math.inf if peak[-1] == "-inf" else float(peak[-1]))


class LoudnessMeter:
    """Measures the book's audio file stretch by stretch while it grows.

    ``stretch_done(start, end, rate)`` after a stretch's last byte is written; ``result()`` once
    the book is built. At most one ffmpeg per core runs at a time, so a stretch may open the
    file only when ``result()`` is awaited: the file must stay until it returns.
    """

    def __init__(self, ffmpeg: str, audio: Path, parallel: int | None = None) -> None:
        self.ffmpeg, self.audio = ffmpeg, audio
        self.slots = asyncio.Semaphore(parallel or os.cpu_count() or 1)
        self.tasks: list[asyncio.Task[_Measured]] = []

    def stretch_done(self, start: int, end: int, rate: int, chapter: int = -1) -> None:
        """Measure bytes [start, end) of the audio file (whole segments at ``rate`` Hz, already written),
        a stretch of ``chapter`` (-1: of none in particular)."""
        if end > start:
            self.tasks.append(asyncio.create_task(self._measure(start, end, rate, chapter)))

    async def _measure(self, start: int, end: int, rate: int, chapter: int) -> _Measured:
        async with self.slots:
            measured = await _measure_range(self.ffmpeg, self.audio, start, end, rate)
        measured.chapter = chapter
        return measured

    async def result(self) -> Loudness | None:
        """The book's integrated loudness and true peak (None if a meter failed or the book is silent)."""
        try:
            measured = await asyncio.gather(*self.tasks)
        except (OSError, RuntimeError) as exc:
            log.warning("no loudness measurement: %s", exc)
            return None
        momentary = [m for stretch in measured for m in stretch.momentary]
        lufs = integrated_loudness(momentary)
        peak = max((stretch.true_peak for stretch in measured), default=-math.inf)
        if not math.isfinite(lufs) or not math.isfinite(peak):
            return None
        chapters = []
        for chapter in sorted({stretch.chapter for stretch in measured if stretch.chapter >= 0}):
            stretches = [stretch for stretch in measured if stretch.chapter == chapter]
            level = integrated_loudness([m for stretch in stretches for m in stretch.momentary])
            if math.isfinite(level):
                spread = loudness_range([s for stretch in stretches for s in stretch.short_term])
                chapters.append(ChapterLevel(chapter, round(level, 1), round(spread, 1)))
        spread = loudness_range([s for stretch in measured for s in stretch.short_term])
        return Loudness(round(lufs, 1), round(peak, 1), round(spread, 1), tuple(chapters))

    async def close(self) -> None:
        """Stop any meter still running (a book that was not finished)."""
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
