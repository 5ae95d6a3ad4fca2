"""Coqui (``coqui-tts``, import ``TTS``, on torch): every folder in the voice directories holding a
Coqui ``config.json`` and its weights (XTTS, VITS, ...).

Voices are listed from their files alone, so a CPU-only parse service can accept jobs for GPU
workers; :meth:`Coqui.runnable` says whether this machine can run them (``pip install .[coqui]``).
A cloning model's reference recordings go in ``NAME/speakers/SPEAKER.wav`` and are voices of their
own, ``NAME/SPEAKER``; a recording uploaded with a request makes ``NAME/@<sha256 of the WAV>``.
The model is loaded by :mod:`services.engines.coqui_model`, imported only then (``import TTS``
takes over ten seconds).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from services.engines.base import Engine, LoadOptions, Synthesizer, VoiceInfo
from services.engines.cloning import cloned_parts, cloned_voice, cloning_model_named
from services.engines.files import file_version

CLONING_MODELS = ("xtts",)  # Coqui models that speak as the person in a reference recording
WEIGHTS = ("model.pth", "model_file.pth", "best_model.pth", "checkpoint.pth", "model.safetensors")


def coqui_installed() -> bool:
    return importlib.util.find_spec("TTS") is not None


def _languages(config: dict[str, object]) -> tuple[str, ...]:
    languages = config.get("languages")
    if isinstance(languages, list) and languages:
        return tuple(str(code) for code in languages)
    for key in ("language", "phoneme_language"):
        value = config.get(key)
        if isinstance(value, str) and value:
            return (value,)
    return ()


def coqui_models(voice_dirs: Iterable[Path] = ()) -> list[tuple[VoiceInfo, str]]:
    """Every Coqui model folder in ``voice_dirs`` (no speaker), with its model kind (``xtts``, ``vits``)."""
    found: list[tuple[VoiceInfo, str]] = []
    for directory in voice_dirs:
        for config_path in sorted(Path(directory).glob("*/config.json")):
            folder = config_path.parent
            weights = next((folder / name for name in WEIGHTS if (folder / name).exists()), None)
            try:
                config = json.loads(config_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if weights is None or not isinstance(config, dict) or not isinstance(config.get("model"), str):
                continue
            version = f"{config['model']}:{file_version(config_path)}:{file_version(weights)}"
            found.append((VoiceInfo("coqui", folder.name, version, str(weights), str(config_path),
                                    _languages(config)), config["model"]))
    return found


def coqui_voices(voice_dirs: Iterable[Path] = ()) -> dict[str, VoiceInfo]:
    """Coqui voices: each single-speaker model, and each reference recording of a cloning model."""
    voices: dict[str, VoiceInfo] = {}
    for info, kind in coqui_models(voice_dirs):
        if kind not in CLONING_MODELS:  # XTTS speaks only as someone: one voice per recording
            voices[info.voice] = info
        for wav in sorted((Path(info.config_path).parent / "speakers").glob("*.wav")):
            name = f"{info.voice}/{wav.stem}"
            voices[name] = replace(info, voice=name, model_version=f"{info.model_version}:{file_version(wav)}",
                                   speaker_wav=str(wav))
    return voices


class Coqui(Engine):
    name = "coqui"
    clones = True
    varies = True  # XTTS samples; VITS has noise

    def voices(self, voice_dirs: tuple[Path, ...] = ()) -> dict[str, VoiceInfo]:
        return coqui_voices(voice_dirs)

    def runnable(self) -> bool:
        return coqui_installed()

    def cloning_models(self, voice_dirs: tuple[Path, ...] = ()) -> dict[str, VoiceInfo]:
        return {info.voice: info for info, kind in coqui_models(voice_dirs) if kind in CLONING_MODELS}

    def resolve(self, voice: str | None, voice_dirs: tuple[Path, ...] = ()) -> VoiceInfo:
        """A cloned voice (``MODEL/@<sha256>``) resolves without its recording (``speaker_wav`` empty)."""
        cloned = cloned_parts(voice or "")
        if cloned is not None:
            return cloned_voice(cloning_model_named(self.cloning_models(voice_dirs), cloned[0]), cloned[1])
        return super().resolve(voice, voice_dirs)

    def load(self, info: VoiceInfo, options: LoadOptions) -> Synthesizer:
        from services.engines.coqui_model import CoquiSynthesizer  # imports torch and TTS: only here

        return CoquiSynthesizer(info, threads=options.threads, device=options.torch_device())


ENGINE = Coqui()
