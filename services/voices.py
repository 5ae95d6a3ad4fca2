"""The voice registry: which engines, voices and languages exist here, without loading a model.

A voice is named ``VOICE`` within an engine. The CLI lists and checks voices here, the parse
service picks the voice for a book's language here (:func:`choose_voice`), and tts workers look
voices up and load their models through here (:func:`load_voice`). Each engine is one module of
:mod:`services.engines` behind :class:`~services.engines.base.Engine`; :data:`REGISTRY` registers
them, one line each, best first.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from events.requests import ConvertRequest
from services.engines import coqui, damaged, espeak, instant, piper
from services.engines.base import Engine, LoadOptions, Synthesizer, UnknownVoiceError, VoiceInfo
from services.engines.cloning import cloned_parts, cloned_voice, cloning_model_named
from services.engines.tags import matching_tag, normal_tag, primary_language, tags_speak

__all__ = [
    "DEFAULT_ENGINE", "LISTED_ENGINES", "REGISTRY", "Registry", "UnknownVoiceError", "VoiceInfo",
    "available_engines", "check_requested_voice", "choose_voice", "cloned_parts", "cloned_voice", "cloning_model",
    "engine_named", "engine_voices", "list_voices", "load_voice", "matching_tag", "normal_tag", "primary_language",
    "resolve_voice", "runnable_engines", "speaks", "voice_language",
]


class Registry:
    """Engines by name, in order of preference, and the voice decisions made over them."""

    def __init__(self, *engines: Engine) -> None:
        self.engines = engines
        self.names = tuple(engine.name for engine in engines)  # every engine, best first
        self.default_engine = engines[0].name  # what a request naming no engine and no language gets

    def engine(self, name: str, voice_dirs: Iterable[Path] = ()) -> Engine:
        """The engine called ``name``; UnknownVoiceError naming the engines with voices here."""
        for engine in self.engines:
            if engine.name == name:
                return engine
        raise UnknownVoiceError(f"unknown engine {name!r}; available: {', '.join(self.available_engines(voice_dirs))}")

    def engine_voices(self, engine: str, voice_dirs: Iterable[Path] = ()) -> dict[str, VoiceInfo]:
        """Every voice of one engine available on this machine."""
        dirs = tuple(voice_dirs)
        return self.engine(engine, dirs).voices(dirs)

    def runnable_engines(self, voice_dirs: Iterable[Path] = ()) -> list[str]:
        """Engines this machine can run (what a tts worker serves by default)."""
        dirs = tuple(voice_dirs)
        return [engine.name for engine in self.engines if engine.voices(dirs) and engine.runnable()]

    def available_engines(self, voice_dirs: Iterable[Path] = ()) -> list[str]:
        """Engines with at least one voice here."""
        dirs = tuple(voice_dirs)
        return [engine.name for engine in self.engines if engine.voices(dirs)]

    def list_voices(self, voice_dirs: Iterable[Path] = ()) -> dict[str, list[VoiceInfo]]:
        """Engine name -> its voices, for ``audiobook voices``, help texts and error messages."""
        dirs = tuple(voice_dirs)
        listed = {engine.name: engine.voices(dirs) for engine in self.engines}
        return {name: [voices[voice] for voice in sorted(voices)] for name, voices in listed.items()}

    def resolve_voice(self, engine: str | None, voice: str | None, voice_dirs: Iterable[Path] = ()) -> VoiceInfo:
        """The voice a request names, with defaults filled in; UnknownVoiceError if absent.

        A cloned voice (``MODEL/@<sha256>``) resolves without its recording (``speaker_wav`` empty).
        """
        dirs = tuple(voice_dirs)
        return self.engine(engine or self.default_engine, dirs).resolve(voice, dirs)

    def load_voice(self, info: VoiceInfo, options: LoadOptions | None = None) -> Synthesizer:
        """Load the model behind ``info`` through its engine (its model files are touched only now)."""
        if info.engine not in self.names:
            raise ValueError(f"no engine {info.engine!r}")
        return self.engine(info.engine).load(info, options or LoadOptions())

    def cloning_engines(self) -> tuple[str, ...]:
        """Engines that speak as the person in a reference recording."""
        return tuple(engine.name for engine in self.engines if engine.clones)

    def cloning_model(self, name: str | None, voice_dirs: Iterable[Path] = ()) -> VoiceInfo:
        """The cloning model named ``name`` (or the only one there is); UnknownVoiceError otherwise."""
        dirs = tuple(voice_dirs)
        models = {model: info for engine in self.engines for model, info in engine.cloning_models(dirs).items()}
        return cloning_model_named(models, name)

    def check_requested_voice(self, request: ConvertRequest, voice_dirs: Iterable[Path] = ()) -> None:
        """UnknownVoiceError now, before the book is read, if the request names a voice or engine not here."""
        engine, voice, dirs = request.engine, request.voice, tuple(voice_dirs)
        if request.speaker_object:
            cloners = self.cloning_engines()
            if engine is not None and engine not in cloners:
                raise UnknownVoiceError(f"a reference recording needs the {' or '.join(cloners)} engine "
                                        f"(a cloning model), not {engine}")
            self.cloning_model(voice, dirs)
        elif voice:
            self.resolve_voice(engine, voice, dirs)
        elif engine and not self.engine_voices(engine, dirs):
            raise UnknownVoiceError(f"engine {engine!r} has no voices here; available: "
                                    f"{', '.join(self.available_engines(dirs))}")

    def choose_voice(self, language: str, engine: str | None = None, voice_dirs: Iterable[Path] = ()) -> VoiceInfo:
        """The best voice here for ``language``: the first engine's best voice that speaks it (a
        Piper voice, else a Coqui model, else espeak-ng).

        With ``engine``, only that engine's voices are considered. UnknownVoiceError (with what
        would help) when nothing here speaks the language.
        """
        dirs = tuple(voice_dirs)
        candidates = [self.engine(engine, dirs)] if engine else [e for e in self.engines if e.chosen_by_language]
        for candidate in candidates:
            chosen = candidate.choose(language, dirs)
            if chosen is not None:
                return chosen
        where = f"engine {engine}" if engine else "any engine here"
        raise UnknownVoiceError(
            f"no voice of {where} speaks {language!r}: install espeak-ng (every language), add a Piper voice "
            "or a Coqui model for it to AUDIOBOOK_VOICE_DIRS, or name a voice and --language")


# The engines of this installation, one line each, best first: for a language, a neural voice
# first, espeak-ng last; the first is the default.
REGISTRY = Registry(
    piper.ENGINE,
    coqui.ENGINE,
    espeak.ENGINE,
    instant.ENGINE,
    damaged.ENGINE,
)

DEFAULT_ENGINE = REGISTRY.default_engine
LISTED_ENGINES = REGISTRY.names  # every engine a synthesis job can name: its queue, consumer and pause
engine_named = REGISTRY.engine
engine_voices = REGISTRY.engine_voices
runnable_engines = REGISTRY.runnable_engines
available_engines = REGISTRY.available_engines
list_voices = REGISTRY.list_voices
resolve_voice = REGISTRY.resolve_voice
load_voice = REGISTRY.load_voice
cloning_model = REGISTRY.cloning_model
check_requested_voice = REGISTRY.check_requested_voice
choose_voice = REGISTRY.choose_voice


def speaks(info: VoiceInfo, language: str) -> bool:
    """Whether ``info`` speaks ``language`` (the same primary language)."""
    return tags_speak(info.languages, language)


def voice_language(info: VoiceInfo, language: str) -> str:
    """The tag a many-language voice (XTTS) is asked to speak for ``language``; "" for one-language voices."""
    if len(info.languages) < 2:
        return ""
    return matching_tag(info.languages, language) or language
