"""The one interface every engine implements, and what it hands back (pure: nothing is loaded here).

An :class:`Engine` lists its voices without loading anything, resolves a voice name (with its
default), chooses its best voice for a language, and loads a voice's model on demand into a
:class:`Synthesizer`. A synthesizer speaks a batch of paragraphs and returns, per paragraph, PCM
chunks (16-bit mono at ``sample_rate``), one per sentence or one per paragraph. ``batch_size``
says how many segments it wants at once (1 for Piper and espeak-ng, more for Coqui VITS on a
GPU); ``device`` says where it runs. Synthesizers are not thread-safe: a worker owns one and
calls it from one thread.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from events.errors import PermanentError
from services.engines.tags import rank, tags_speak


class UnknownVoiceError(PermanentError):
    """The requested engine or voice does not exist here; the message lists what does."""


class SynthesisError(PermanentError):
    """The engine cannot speak this text (a permanent failure for this segment)."""


@dataclass(frozen=True)
class VoiceInfo:
    engine: str
    voice: str
    model_version: str
    model_path: str = ""
    config_path: str = ""
    languages: tuple[str, ...] = ()  # BCP 47 tags the voice speaks ("en-US", "fr"); empty: unknown
    speaker_wav: str = ""  # a cloning model's reference recording


@dataclass(frozen=True)
class LoadOptions:
    """How a worker wants a model loaded (each engine uses what applies to it)."""

    threads: int = 1  # intra-op threads (ONNX runtime, torch)
    use_cuda: bool = False
    device: str = ""  # torch engines: cpu, cuda, cuda:1; "": cuda when use_cuda, else cpu
    simulated_rtf: float = 0.0  # the instant engine's model time per second of audio

    def torch_device(self) -> str:
        return self.device or ("cuda" if self.use_cuda else "cpu")


class Synthesizer(Protocol):
    """A loaded model of one voice."""

    sample_rate: int
    batch_size: int
    device: str

    def speak(self, paragraphs: list[str], speed: float, language: str = "", take: int = 0) -> list[list[bytes]]:
        """For each paragraph, PCM (int16 mono, ``sample_rate``) of each of its sentences.

        ``language`` is for voices that speak several languages; others ignore it. ``take`` is
        which attempt at this text this is (0: the first; a retake after a check flagged it).
        """
        ...


def refuse_nul(paragraphs: list[str]) -> None:
    """A NUL cannot be spoken (and ends a C string early): the segment fails with that reason."""
    if any("\x00" in text for text in paragraphs):
        raise SynthesisError("text contains a NUL character")


class Engine(ABC):
    """One speech engine: its voices (listed without loading anything) and how to load one."""

    name: ClassVar[str]
    default_voice: ClassVar[str] = ""  # the voice a request naming none gets ("": the first by name)
    packaged_voice: ClassVar[str] = ""  # a voice shipped with the package: first among equals for a language
    chosen_by_language: ClassVar[bool] = True  # considered when no engine is named (the test engine is not)
    clones: ClassVar[bool] = False  # speaks as the person in a reference recording (Coqui XTTS)
    named_by_language: ClassVar[bool] = False  # one voice per language, named by its tag (espeak-ng)
    speaks_silence: ClassVar[bool] = False  # its audio is silence, nothing to level (the test engine)
    varies: ClassVar[bool] = False  # says the same text differently each time (sampling): a retake may help

    @abstractmethod
    def voices(self, voice_dirs: tuple[Path, ...] = ()) -> dict[str, VoiceInfo]:
        """Every voice of this engine on this machine, by name; reads files, loads no model."""

    @abstractmethod
    def load(self, info: VoiceInfo, options: LoadOptions) -> Synthesizer:
        """Load the model behind ``info`` (the only place that touches model files)."""

    def runnable(self) -> bool:
        """Whether this machine can run the voices it lists (Coqui: only with coqui-tts installed)."""
        return True

    def resolve(self, voice: str | None, voice_dirs: tuple[Path, ...] = ()) -> VoiceInfo:
        """The voice named ``voice`` (or the default); UnknownVoiceError listing the voices there are."""
        voices = self.voices(voice_dirs)
        name = voice or self.default_voice or next(iter(sorted(voices)), "")
        if name not in voices:
            known = ", ".join(sorted(voices)) or "none installed"
            raise UnknownVoiceError(f"unknown voice {name!r} for engine {self.name}; available: {known}")
        return voices[name]

    def choose(self, language: str, voice_dirs: tuple[Path, ...] = ()) -> VoiceInfo | None:
        """This engine's best voice for ``language``, or None if none of its voices speaks it."""
        speaking = [info for info in self.voices(voice_dirs).values() if tags_speak(info.languages, language)]
        return min(speaking, key=lambda info: rank(info.languages, info.voice, language, self.packaged_voice),
                   default=None)

    def cloning_models(self, voice_dirs: tuple[Path, ...] = ()) -> dict[str, VoiceInfo]:
        """Models that clone the voice of a reference recording, by name (none unless ``clones``)."""
        return {}
