"""Speech at one loudness (pure): each segment is brought to the book's target before it is encoded.

The target is EBU R 128 / ITU-R BS.1770 integrated loudness, -19 LUFS for mono speech, with the
true peak held at or under -3 dBTP (inside ACX's range). The gain is applied here, where the
worker still holds the segment's PCM, so assembly stays a stream copy: no decode, no re-encode.
Loudness is measured with pyloudnorm (BS.1770 K-weighting and gating); the true peak on a 4x
oversampled copy, as BS.1770 Annex 2 describes. Neural voices are peaky (Piper's joe: about
-20 LUFS with peaks at 0 dBTP, 20 dB apart where -19 LUFS under -3 dBTP allows 16): such a
segment first goes through a limiter (pedalboard's) that takes the excess off its peaks.

The signal libraries are imported on first use (scipy's signal package alone takes 1.7 s to
import): a worker of the instant engine never needs them, a real one loads them with its voice.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from functools import cache
from typing import Any, NamedTuple

import numpy as np

from events.audio import LOUDNESS_TARGET_LUFS, TRUE_PEAK_CEILING_DBTP

FULL_SCALE = 32768.0
MIN_SECONDS = 0.4  # one BS.1770 gating block
PEAK_MARGIN_DB = 0.5  # AAC encoding can raise peaks a little; leave room under the ceiling
MAX_GAIN_DB = 30.0  # never lift near-silence into noise
LIMITER_HEADROOM_DB = 1.0  # the limiter's threshold sits this much under what the excess asks
LIMITER_RELEASE_MS = 50.0
LIMITER_PASSES = 3


class _Signal(NamedTuple):
    """The signal libraries' parts used here."""

    meter: Any  # pyloudnorm.Meter: BS.1770 integrated loudness
    limiter: Any  # pedalboard.Limiter
    resample_poly: Callable[..., np.ndarray]  # scipy.signal.resample_poly


@cache
def _signal() -> _Signal:
    """The signal libraries, imported once."""
    import pyloudnorm
    from pedalboard import Limiter
    from scipy.signal import resample_poly

    return _Signal(pyloudnorm.Meter, Limiter, resample_poly)


def warm_up() -> None:
    """Import the signal libraries now (a worker does it while it loads its voice)."""
    _signal()


def true_peak_db(samples: np.ndarray) -> float:
    """True peak of float samples (full scale 1.0) in dBTP: the peak of a 4x oversampled copy."""
    if not len(samples):
        return -math.inf
    peak = float(np.max(np.abs(_signal().resample_poly(samples, 4, 1))))
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


def level(pcm: bytes, rate: int) -> bytes:
    """16-bit mono PCM at the target loudness with its true peak under the ceiling."""
    raw = np.frombuffer(pcm, dtype=np.int16)
    if not raw.any():
        return pcm  # silence (the instant test engine speaks it) stays silence, at no cost
    samples = raw.astype(np.float64) / FULL_SCALE
    loudness, peak = loudness_lufs(samples, rate), true_peak_db(samples)
    limited = False
    for _ in range(LIMITER_PASSES):  # a short, peaky segment may need a second pass to get under the ceiling
        excess = peak_excess_db(loudness, peak)
        if excess <= 0:
            break
        limiter = _signal().limiter(threshold_db=peak - excess - LIMITER_HEADROOM_DB, release_ms=LIMITER_RELEASE_MS)
        samples = limiter(samples.astype(np.float32).reshape(1, -1), rate).reshape(-1).astype(np.float64)
        loudness, peak = loudness_lufs(samples, rate), true_peak_db(samples)
        limited = True
    gain = gain_db(loudness, peak)
    if gain == 0.0 and not limited:
        return pcm
    scaled = np.clip(np.round(samples * (10 ** (gain / 20)) * FULL_SCALE), -32768, 32767)
    return scaled.astype(np.int16).tobytes()
