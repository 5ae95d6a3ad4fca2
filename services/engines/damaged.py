"""The ``damaged`` test engine: the real default Piper voice, saying some segments wrong on purpose.

For proving the check service (and benchmarking it): voice ``KIND-PCT`` damages PCT% of the
segments with ``KIND`` (:mod:`damage`: drop, repeat, cut, other, silence, or mixed), chosen by
a hash of each segment's text and take, so a resume damages the same ones and a retake is
damaged again with the same chance. Chosen only when named.
"""

from __future__ import annotations

import random
from pathlib import Path

from services.engines import piper
from services.engines.base import Engine, LoadOptions, Synthesizer, VoiceInfo
from services.engines.damage import KINDS, damage_pcm, damage_text, damaged

SHARES = (100, 50, 30, 10)


def damaged_voices() -> dict[str, VoiceInfo]:
    base = piper.piper_voices().get(piper.DEFAULT_VOICE)
    if base is None:
        return {}
    return {f"{kind}-{share}": VoiceInfo("damaged", f"{kind}-{share}", f"{base.model_version}+damaged",
                                         base.model_path, base.config_path, base.languages)
            for kind in (*KINDS, "mixed") for share in SHARES}


class DamagedSynthesizer:
    """Piper, with the chosen share of its segments damaged."""

    batch_size = 1

    def __init__(self, info: VoiceInfo, options: LoadOptions) -> None:
        kind, _, share = info.voice.rpartition("-")
        self.kind, self.share = kind, int(share) / 100
        self._piper = piper.PiperSynthesizer(info, threads=options.threads, use_cuda=options.use_cuda)
        self.sample_rate, self.device = self._piper.sample_rate, self._piper.device

    def speak(self, paragraphs: list[str], speed: float, language: str = "", take: int = 0) -> list[list[bytes]]:
        fault = damaged("\n\n".join(paragraphs), self.share, self.kind, take)
        if not fault:
            return self._piper.speak(paragraphs, speed, language)
        said = damage_text(paragraphs, fault, random.Random("\n\n".join(paragraphs)))
        spoken = self._piper.speak(said, speed, language)
        if fault in ("cut", "silence"):
            whole = damage_pcm(b"".join(chunk for chunks in spoken for chunk in chunks), fault)
            spoken = [[whole]]
        # the segment keeps its paragraph count (the renderer joins them with pauses)
        return [*spoken[:1], *([[]] * (len(paragraphs) - 1))] if len(spoken) != len(paragraphs) else spoken


class Damaged(Engine):
    name = "damaged"
    default_voice = "mixed-30"
    chosen_by_language = False
    varies = True  # each take is damaged, or not, anew

    def voices(self, voice_dirs: tuple[Path, ...] = ()) -> dict[str, VoiceInfo]:
        return damaged_voices()

    def load(self, info: VoiceInfo, options: LoadOptions) -> Synthesizer:
        return DamagedSynthesizer(info, options)


ENGINE = Damaged()
