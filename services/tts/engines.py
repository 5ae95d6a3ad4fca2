"""Speech engines. Each is loaded once per worker by :func:`load_engine` and then reused.

An engine speaks a batch of paragraphs and returns, per paragraph, PCM chunks (16-bit mono)
one per sentence. ``batch_size`` says how many segments it wants at once: 1 for engines that
gain nothing from batching (Piper on CPU), more for engines that do (Coqui on a GPU).
Engines are not thread-safe: a worker owns one instance and calls it from one thread.
"""

from __future__ import annotations

import time
from typing import Protocol

from events.errors import PermanentError
from services.voices import TEST_VOICES, VoiceInfo


class SynthesisError(PermanentError):
    """The engine cannot speak this text (a permanent failure for this segment)."""


class Engine(Protocol):
    sample_rate: int
    batch_size: int

    def speak(self, paragraphs: list[str], speed: float) -> list[list[bytes]]:
        """For each paragraph, PCM (int16 mono, ``sample_rate``) of each of its sentences."""
        ...


class PiperEngine:
    """Piper (ONNX) voice, with the ONNX runtime pinned to ``threads`` intra-op threads."""

    batch_size = 1

    def __init__(self, info: VoiceInfo, threads: int = 1, use_cuda: bool = False) -> None:
        import json

        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if use_cuda else ["CPUExecutionProvider"]
        session = onnxruntime.InferenceSession(info.model_path, sess_options=options, providers=providers)
        with open(info.config_path, encoding="utf-8") as handle:
            config = PiperConfig.from_dict(json.load(handle))
        self._voice = PiperVoice(session=session, config=config)
        self.sample_rate = config.sample_rate

    def speak(self, paragraphs: list[str], speed: float) -> list[list[bytes]]:
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=1.0 / speed)
        try:
            return [[chunk.audio_int16_bytes for chunk in self._voice.synthesize(text, syn_config=config)]
                    for text in paragraphs]
        except (ValueError, KeyError, IndexError, RuntimeError) as exc:
            raise SynthesisError(f"piper could not speak this text: {exc}") from exc


class TestEngine:
    """Instant engine for tests and benchmarks: silence whose length follows the text."""

    __test__ = False  # not a pytest class

    sample_rate = 22050
    batch_size = 1

    def __init__(self, info: VoiceInfo) -> None:
        self.ms_per_char, self.wait_ms_per_char = TEST_VOICES[info.voice]

    def speak(self, paragraphs: list[str], speed: float) -> list[list[bytes]]:
        if any("\x00" in text for text in paragraphs):
            raise SynthesisError("text contains a NUL character")
        chars = sum(map(len, paragraphs))
        if self.wait_ms_per_char:  # stands in for model time, without using the CPU
            time.sleep(chars * self.wait_ms_per_char / 1000)
        return [[bytes(2 * int(len(text) * self.ms_per_char / speed * self.sample_rate / 1000))]
                for text in paragraphs]


def load_engine(info: VoiceInfo, threads: int = 1, use_cuda: bool = False) -> Engine:
    """Load the model behind ``info`` (the only place that touches model files)."""
    if info.engine == "piper":
        return PiperEngine(info, threads=threads, use_cuda=use_cuda)
    if info.engine == "test":
        return TestEngine(info)
    raise ValueError(f"no engine {info.engine!r}")
