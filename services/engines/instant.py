"""The ``test`` engine: instant silence whose length follows the text, for tests and benchmarks.

It speaks every language (its voices declare ``*``), but is chosen only when named.
"""

from __future__ import annotations

import time
from pathlib import Path

from services.engines.base import Engine, LoadOptions, Synthesizer, VoiceInfo, refuse_nul
from services.engines.tags import ANY_LANGUAGE

# voices: (ms of audio per character, ms of wall time per character it takes). "default" speaks at
# the rate of the real default voice (en_US-joe-medium: 53 ms per character of speech, measured on
# Frankenstein), so instant-engine books have realistic lengths.
TEST_VOICES = {"default": (53, 0.0), "short": (8, 0.0), "slow": (8, 4.0)}


def instant_voices() -> dict[str, VoiceInfo]:
    return {name: VoiceInfo("test", name, f"test-{ms}ms", languages=(ANY_LANGUAGE,))
            for name, (ms, _) in TEST_VOICES.items()}


class InstantSynthesizer:
    """Silence whose length follows the text.

    ``rtf`` (``AUDIOBOOK_SIMULATED_RTF``) makes it sleep for the audio's length times ``rtf``:
    model time that takes no CPU, so a fleet of simulated GPU workers on a small machine waits
    on "inference" instead of fighting for cores. It is the worker's setting, not the voice's:
    workers of different speeds share one book.
    """

    sample_rate = 22050
    batch_size = 1
    device = "cpu"

    def __init__(self, info: VoiceInfo, rtf: float = 0.0) -> None:
        self.ms_per_char, self.wait_ms_per_char = TEST_VOICES[info.voice]
        self.rtf = rtf

    def speak(self, paragraphs: list[str], speed: float, language: str = "", take: int = 0) -> list[list[bytes]]:
        refuse_nul(paragraphs)
        chars = sum(map(len, paragraphs))
        audio = [[bytes(2 * int(len(text) * self.ms_per_char / speed * self.sample_rate / 1000))]
                 for text in paragraphs]
        wait_s = chars * self.wait_ms_per_char / 1000 + self.rtf * sum(len(c[0]) for c in audio) / 2 / self.sample_rate
        if wait_s:  # stands in for model time, without using the CPU
            time.sleep(wait_s)
        return audio


class Instant(Engine):
    name = "test"
    default_voice = "default"
    chosen_by_language = False
    speaks_silence = True

    def voices(self, voice_dirs: tuple[Path, ...] = ()) -> dict[str, VoiceInfo]:
        return instant_voices()

    def choose(self, language: str, voice_dirs: tuple[Path, ...] = ()) -> VoiceInfo | None:
        return instant_voices()[self.default_voice]  # any language: it speaks silence

    def load(self, info: VoiceInfo, options: LoadOptions) -> Synthesizer:
        return InstantSynthesizer(info, rtf=options.simulated_rtf)


ENGINE = Instant()
