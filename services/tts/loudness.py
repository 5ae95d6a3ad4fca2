"""Speech at one loudness, with its own dynamics (pure): each voice is brought to the book's target
before a segment is encoded.

The target is EBU R 128 / ITU-R BS.1770 integrated loudness, -19 LUFS for mono speech, with the
true peak held at or under -3 dBTP (inside ACX's range). The gain is applied here, where the
worker still holds the segment's PCM, so assembly stays a stream copy: no decode, no re-encode.

One gain per voice, not per segment: levelling every segment to the target on its own made a
shouted "No!" as loud as a long, quiet sentence and halved the voice's loudness range (Piper's
joe on Frankenstein's first letter: LRA 4.7 LU raw, 2.5 levelled segment by segment). A voice is
measured once, on a calibration passage of narration and dialogue (:data:`CALIBRATION`), and
every segment it speaks gets the same gain and then the same limiter, so loud lines stay louder
than quiet ones. Neural voices are peaky (joe: about -21 LUFS with peaks at 0 dBTP, 21 dB apart
where -19 LUFS under -3 dBTP allows 16): a look-ahead limiter (FFmpeg's ``alimiter``) takes the
excess off their peaks, and the gain is found on the limited passage, so the book meets the
target after it.

Loudness is measured with pyloudnorm (BS.1770 K-weighting and gating); the true peak on a 4x
oversampled copy, as BS.1770 Annex 2 describes. A voice that cannot be calibrated (it speaks
silence, or fails on the passage) is levelled segment by segment, as before.

The signal libraries are imported on first use (scipy's signal package alone takes 1.7 s to
import): a worker of the instant engine never needs them, a real one loads them with its voice.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

import numpy as np

from events.audio import LOUDNESS_TARGET_LUFS, TRUE_PEAK_CEILING_DBTP

FULL_SCALE = 32768.0
MIN_SECONDS = 0.4  # one BS.1770 gating block
PEAK_MARGIN_DB = 0.5  # AAC encoding can raise peaks a little; leave room under the ceiling
MAX_GAIN_DB = 30.0  # never lift near-silence into noise
LIMITER_HEADROOM_DB = 1.0  # the limiter's threshold sits this much under what the excess asks
VOICE_HEADROOM_DB = 0.5  # a calibrated voice's limiter: this much under the ceiling and its margin
OVERSAMPLING = 4  # the true peak, and the limiter, on a copy at 4x the rate (BS.1770 Annex 2)
LIMITER_ATTACK_MS, LIMITER_RELEASE_MS = 0.5, 5.0  # look-ahead and release: the peaks only, not the syllables
LIMITER_FRAME = 8192  # samples pushed through the limiter at a time
LIMITER_PASSES = 3
CALIBRATION_PASSES, CALIBRATION_CLOSE_DB = 6, 0.05
# what books ask of a voice, mostly narration with some dialogue: openings of public-domain novels (Dickens,
# Brontë, Melville, Austen, Conan Doyle), none of them a book the tests or benchmarks read
CALIBRATION = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
    "foolishness, it was the epoch of belief, it was the epoch of incredulity.",
    "There was no possibility of taking a walk that day. We had been wandering, indeed, in the leafless "
    "shrubbery an hour in the morning; but since dinner the cold winter wind had brought with it clouds so "
    "sombre, and a rain so penetrating, that further out-door exercise was now out of the question.",
    "Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse, "
    "and nothing particular to interest me on shore, I thought I would sail about a little and see the watery "
    "part of the world.",
    "\u201cMy dear Mr. Bennet,\u201d said his lady to him one day, \u201chave you heard that Netherfield Park "
    "is let at last?\u201d Mr. Bennet replied that he had not.",
    "\u201cYou have been in Afghanistan, I perceive.\u201d \u201cHow on earth did you know that?\u201d I "
    "asked in astonishment.",
)


class _Signal(NamedTuple):
    """The signal libraries' parts used here."""

    meter: Any  # pyloudnorm.Meter: BS.1770 integrated loudness
    resample_poly: Callable[..., np.ndarray]  # scipy.signal.resample_poly


@cache
def _signal() -> _Signal:
    """The signal libraries, imported once."""
    import pyloudnorm
    from scipy.signal import resample_poly

    return _Signal(pyloudnorm.Meter, resample_poly)


def warm_up() -> None:
    """Import the signal libraries now (a worker does it while it loads its voice)."""
    _signal()


def true_peak_db(samples: np.ndarray) -> float:
    """True peak of float samples (full scale 1.0) in dBTP: the peak of a 4x oversampled copy."""
    if not len(samples):
        return -math.inf
    peak = float(np.max(np.abs(_signal().resample_poly(samples, OVERSAMPLING, 1))))
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def loudness_lufs(samples: np.ndarray, rate: int) -> float:
    """Integrated loudness of float samples (mono), or -inf when silent. A piece shorter than one
    gating block ("Yes.") is measured repeated to that length."""
    if not len(samples):
        return -math.inf
    if len(samples) < MIN_SECONDS * rate:
        samples = np.tile(samples, math.ceil(MIN_SECONDS * rate / len(samples)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyloudnorm warns on clipping; the gain below takes care of it
        return float(_signal().meter(rate).integrated_loudness(samples))


def gain_db(loudness: float, peak: float, target: float = LOUDNESS_TARGET_LUFS,
            ceiling: float = TRUE_PEAK_CEILING_DBTP) -> float:
    """The gain that brings speech to ``target`` without its true peak passing ``ceiling`` (0 if unmeasurable)."""
    if not math.isfinite(loudness):
        return 0.0
    gain = min(target - loudness, ceiling - PEAK_MARGIN_DB - peak, MAX_GAIN_DB)
    return gain


def peak_excess_db(loudness: float, peak: float, target: float = LOUDNESS_TARGET_LUFS,
                   ceiling: float = TRUE_PEAK_CEILING_DBTP) -> float:
    """How far the peaks stand too high above the speech for both target and ceiling to hold (0 if not)."""
    if not math.isfinite(loudness) or not math.isfinite(peak):
        return 0.0
    return max(0.0, (peak - loudness) - (ceiling - PEAK_MARGIN_DB - target))


@dataclass(frozen=True)
class VoiceLevel:
    """One voice's levelling: the gain every segment gets, then the limiter's threshold."""

    gain_db: float
    threshold_db: float  # the limiter's, on the gained signal (dBFS)


def _samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype=np.int16).astype(np.float64) / FULL_SCALE


def _pcm(samples: np.ndarray) -> bytes:
    return np.clip(np.round(samples * FULL_SCALE), -32768, 32767).astype(np.int16).tobytes()


def _limited(samples: np.ndarray, rate: int, threshold_db: float) -> np.ndarray:
    """``samples`` with their true peaks held at ``threshold_db``: FFmpeg's look-ahead limiter
    (``alimiter``, through PyAV's filter graph, its delay compensated) on a 4x oversampled copy,
    so the peaks between samples are held too and the limit can sit close to the ceiling. Only the
    peaks are touched (pedalboard's limiter, JUCE's, runs a 4:1 compressor over everything above
    -10 dBFS first: that took a third of the voice's loudness range)."""
    resample = _signal().resample_poly
    held = _held(resample(samples, OVERSAMPLING, 1), rate * OVERSAMPLING, threshold_db)
    return np.asarray(resample(held, 1, OVERSAMPLING), dtype=np.float64)[:len(samples)]


def _held(samples: np.ndarray, rate: int, threshold_db: float) -> np.ndarray:
    """``samples`` through ``alimiter`` at ``threshold_db`` (dBFS), as long as they came."""
    import av
    import av.filter

    graph = av.filter.Graph()
    source = graph.add_abuffer(format="dbl", sample_rate=rate, layout="mono")
    limiter = graph.add("alimiter", f"limit={10 ** (threshold_db / 20):.6f}:attack={LIMITER_ATTACK_MS}"
                                    f":release={LIMITER_RELEASE_MS}:level=0:latency=1")
    sink = graph.add("abuffersink")
    source.link_to(limiter)
    limiter.link_to(sink)
    graph.configure()
    out: list[np.ndarray] = []

    def drain() -> None:
        while True:
            try:
                out.append(graph.pull().to_ndarray().reshape(-1))
            except (av.BlockingIOError, av.EOFError):
                return

    for start in range(0, len(samples), LIMITER_FRAME):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[start:start + LIMITER_FRAME],
                                                                dtype=np.float64).reshape(1, -1),
                                           format="dbl", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        graph.push(frame)
        drain()
    graph.push(None)
    drain()
    return np.concatenate(out)[:len(samples)] if out else samples


def voice_threshold_db(ceiling: float = TRUE_PEAK_CEILING_DBTP) -> float:
    """Where a calibrated voice's limiter holds its peaks: under the ceiling by the margin and headroom."""
    return ceiling - PEAK_MARGIN_DB - VOICE_HEADROOM_DB


def calibrate(pcm: bytes, rate: int, target: float = LOUDNESS_TARGET_LUFS) -> VoiceLevel | None:
    """The gain that brings a voice's calibration passage (``pcm``) to ``target`` after the limiter;
    None when it is silent (no voice to measure)."""
    raw = _samples(pcm)
    loudness = loudness_lufs(raw, rate)
    if not math.isfinite(loudness):
        return None
    threshold = voice_threshold_db()
    gain = min(target - loudness, MAX_GAIN_DB)
    for _ in range(CALIBRATION_PASSES):  # the limiter takes some loudness with the peaks: gain again on what is left
        reached = loudness_lufs(_limited(raw * 10 ** (gain / 20), rate, threshold), rate)
        if not math.isfinite(reached) or abs(target - reached) < CALIBRATION_CLOSE_DB:
            break
        gain = min(gain + target - reached, MAX_GAIN_DB)
    return VoiceLevel(round(gain, 2), threshold)


def audible(pcm: bytes) -> bool:
    """Whether 16-bit PCM holds any sound (the instant test engine speaks silence)."""
    return bool(np.frombuffer(pcm, dtype=np.int16).any())


def level(pcm: bytes, rate: int, voice: VoiceLevel | None = None) -> bytes:
    """16-bit mono PCM levelled: with ``voice``, its gain then its limiter (the segment keeps its loudness
    against the voice's other segments); without, the segment alone at the target. The true peak is
    under the ceiling either way."""
    if not audible(pcm):
        return pcm  # silence (the instant test engine speaks it) stays silence, at no cost
    if voice is None:
        return _alone(pcm, rate)
    samples = _limited(_samples(pcm) * 10 ** (voice.gain_db / 20), rate, voice.threshold_db)
    over = true_peak_db(samples) - (TRUE_PEAK_CEILING_DBTP - PEAK_MARGIN_DB)
    if over > 0:  # a peak between samples the limiter did not see: the segment a little quieter
        samples = samples * 10 ** (-over / 20)
    return _pcm(samples)


def _alone(pcm: bytes, rate: int) -> bytes:
    """One segment at the target loudness with its true peak under the ceiling."""
    samples = _samples(pcm)
    loudness, peak = loudness_lufs(samples, rate), true_peak_db(samples)
    limited = False
    for _ in range(LIMITER_PASSES):  # a short, peaky segment may need a second pass to get under the ceiling
        excess = peak_excess_db(loudness, peak)
        if excess <= 0:
            break
        threshold = peak - excess - LIMITER_HEADROOM_DB
        samples = _limited(samples, rate, threshold)
        loudness, peak = loudness_lufs(samples, rate), true_peak_db(samples)
        limited = True
    gain = gain_db(loudness, peak)
    if gain == 0.0 and not limited:
        return pcm
    return _pcm(samples * (10 ** (gain / 20)))
