"""Speech engines behind one interface. Each is loaded once per worker by :func:`load_engine`.

An engine speaks a batch of paragraphs and returns, per paragraph, PCM chunks (16-bit mono at
``sample_rate``), one per sentence or one per paragraph. ``batch_size`` says how many segments
it wants at once: 1 for engines that gain nothing from batching (Piper on CPU, espeak-ng), more
for engines that do (Coqui VITS on a GPU). ``device`` says where it runs. Engines are not
thread-safe: a worker owns one instance and calls it from one thread.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
import wave
from pathlib import Path
from typing import Protocol

from events.errors import PermanentError
from services.voices import TEST_VOICES, VoiceInfo

ESPEAK_WORDS_PER_MINUTE = 165  # espeak-ng's own default (175) is brisk for a book
ESPEAK_TIMEOUT_S = 120.0


class SynthesisError(PermanentError):
    """The engine cannot speak this text (a permanent failure for this segment)."""


def refuse_nul(paragraphs: list[str]) -> None:
    """A NUL cannot be spoken (and ends a C string early): the segment fails with that reason."""
    if any("\x00" in text for text in paragraphs):
        raise SynthesisError("text contains a NUL character")


class Engine(Protocol):
    sample_rate: int
    batch_size: int
    device: str

    def speak(self, paragraphs: list[str], speed: float, language: str = "") -> list[list[bytes]]:
        """For each paragraph, PCM (int16 mono, ``sample_rate``) of each of its sentences.

        ``language`` is for voices that speak several languages; others ignore it.
        """
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
        self.device = "cuda" if use_cuda else "cpu"

    def speak(self, paragraphs: list[str], speed: float, language: str = "") -> list[list[bytes]]:
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=1.0 / speed)
        try:
            return [[chunk.audio_int16_bytes for chunk in self._voice.synthesize(text, syn_config=config)]
                    for text in paragraphs]
        except (ValueError, KeyError, IndexError, RuntimeError) as exc:
            raise SynthesisError(f"piper could not speak this text: {exc}") from exc


class EspeakEngine:
    """espeak-ng (the program): every language it knows, on the CPU, no model files."""

    batch_size = 1
    device = "cpu"

    def __init__(self, info: VoiceInfo) -> None:
        self.program, self.voice = info.model_path, info.voice
        self.sample_rate = self._wav("a", 1.0)[1]  # what this voice speaks at (22,050 Hz for espeak-ng's own)

    def _wav(self, text: str, speed: float) -> tuple[bytes, int]:
        with tempfile.NamedTemporaryFile(suffix=".wav") as out:
            command = [self.program, "-v", self.voice, "-s", str(round(ESPEAK_WORDS_PER_MINUTE * speed)),
                       "-b", "1", "-w", out.name]
            try:
                done = subprocess.run(command, input=text.encode(), capture_output=True, timeout=ESPEAK_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise SynthesisError(f"espeak-ng failed: {exc}") from exc
            if done.returncode != 0:
                raise SynthesisError(f"espeak-ng failed: {done.stderr.decode(errors='replace').strip()[:300]}")
            with wave.open(str(Path(out.name)), "rb") as audio:
                if audio.getsampwidth() != 2 or audio.getnchannels() != 1:
                    raise SynthesisError("espeak-ng wrote audio that is not 16-bit mono")
                return audio.readframes(audio.getnframes()), audio.getframerate()

    def speak(self, paragraphs: list[str], speed: float, language: str = "") -> list[list[bytes]]:
        refuse_nul(paragraphs)
        out = []
        for text in paragraphs:
            pcm, rate = self._wav(text, speed)
            if rate != self.sample_rate:
                raise SynthesisError(f"espeak-ng changed its sample rate ({rate} Hz, not {self.sample_rate})")
            out.append([pcm])
        return out


class TestEngine:
    """Instant engine for tests and benchmarks: silence whose length follows the text.

    ``rtf`` (``AUDIOBOOK_SIMULATED_RTF``) makes it sleep for the audio's length times ``rtf``:
    model time that takes no CPU, so a fleet of simulated GPU workers on a small machine waits
    on "inference" instead of fighting for cores. It is the worker's setting, not the voice's:
    workers of different speeds share one book.
    """

    __test__ = False  # not a pytest class

    sample_rate = 22050
    batch_size = 1
    device = "cpu"

    def __init__(self, info: VoiceInfo, rtf: float = 0.0) -> None:
        self.ms_per_char, self.wait_ms_per_char = TEST_VOICES[info.voice]
        self.rtf = rtf

    def speak(self, paragraphs: list[str], speed: float, language: str = "") -> list[list[bytes]]:
        refuse_nul(paragraphs)
        chars = sum(map(len, paragraphs))
        audio = [[bytes(2 * int(len(text) * self.ms_per_char / speed * self.sample_rate / 1000))]
                 for text in paragraphs]
        wait_s = chars * self.wait_ms_per_char / 1000 + self.rtf * sum(len(c[0]) for c in audio) / 2 / self.sample_rate
        if wait_s:  # stands in for model time, without using the CPU
            time.sleep(wait_s)
        return audio


def load_engine(info: VoiceInfo, threads: int = 1, use_cuda: bool = False, device: str = "",
                simulated_rtf: float = 0.0) -> Engine:
    """Load the model behind ``info`` (the only place that touches model files).

    ``device`` is for torch engines (``cpu``, ``cuda``, ``cuda:1``); empty: CUDA when
    ``use_cuda`` and a GPU is there, else the CPU. ``simulated_rtf``: the instant test
    engine's model time per second of audio.
    """
    if info.engine == "piper":
        return PiperEngine(info, threads=threads, use_cuda=use_cuda)
    if info.engine == "espeak":
        return EspeakEngine(info)
    if info.engine == "coqui":
        from services.tts.coqui import CoquiEngine

        return CoquiEngine(info, threads=threads, device=device or ("cuda" if use_cuda else "cpu"))
    if info.engine == "test":
        return TestEngine(info, rtf=simulated_rtf)
    raise ValueError(f"no engine {info.engine!r}")
