"""Speech engines. Each is loaded once per worker by :func:`load_engine` and then reused.

An engine turns one paragraph of text into PCM chunks (16-bit mono), one per sentence.
Engines are not thread-safe: a worker owns one instance and calls it from one thread.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Protocol

from services.tts.catalog import TEST_VOICES, VoiceInfo


class SynthesisError(ValueError):
    """The engine cannot speak this text (a permanent failure for this segment)."""


class Engine(Protocol):
    sample_rate: int

    def sentences(self, text: str, speed: float) -> Iterator[bytes]:
        """PCM (int16 mono, ``sample_rate``) for each sentence of ``text``."""
        ...


class PiperEngine:
    """Piper (ONNX) voice, with the ONNX runtime pinned to ``threads`` intra-op threads."""

    def __init__(self, info: VoiceInfo, threads: int = 1, use_cuda: bool = False) -> None:
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if use_cuda else ["CPUExecutionProvider"]
        session = onnxruntime.InferenceSession(info.model_path, sess_options=options, providers=providers)
        with open(info.config_path, encoding="utf-8") as handle:
            import json

            config = PiperConfig.from_dict(json.load(handle))
        self._voice = PiperVoice(session=session, config=config)
        self.sample_rate = config.sample_rate

    def sentences(self, text: str, speed: float) -> Iterator[bytes]:
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=1.0 / speed)
        try:
            for chunk in self._voice.synthesize(text, syn_config=config):
                yield chunk.audio_int16_bytes
        except (ValueError, KeyError, IndexError, RuntimeError) as exc:
            raise SynthesisError(f"piper could not speak this text: {exc}") from exc


class TestEngine:
    """Instant engine for tests and benchmarks: a quiet tone whose length follows the text."""

    sample_rate = 22050

    def __init__(self, info: VoiceInfo) -> None:
        self.ms_per_char, self.wait_ms_per_char = TEST_VOICES[info.voice]

    def sentences(self, text: str, speed: float) -> Iterator[bytes]:
        if "\x00" in text:
            raise SynthesisError("text contains a NUL character")
        if self.wait_ms_per_char:  # stands in for model time, without using the CPU
            time.sleep(len(text) * self.wait_ms_per_char / 1000)
        samples = int(len(text) * self.ms_per_char / speed * self.sample_rate / 1000)
        period = [int(300 * math.sin(2 * math.pi * 220 * i / self.sample_rate)) for i in range(100)]
        tone = b"".join(v.to_bytes(2, "little", signed=True) for v in period)
        yield (tone * (samples // 100 + 1))[: samples * 2]


def load_engine(info: VoiceInfo, threads: int = 1, use_cuda: bool = False) -> Engine:
    """Load the model behind ``info`` (the only place that touches model files)."""
    if info.engine == "piper":
        return PiperEngine(info, threads=threads, use_cuda=use_cuda)
    if info.engine == "test":
        return TestEngine(info)
    raise ValueError(f"no engine {info.engine!r}")
