"""Voices: what this machine lists (the registry, ``services.voices``) and what the tts workers serve."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.client import guards
from services.client.fleet import FleetVerbs
from services.voices import VoiceInfo, choose_voice, list_voices, runnable_engines, speaks

__all__ = ["EngineVoices", "VoiceVerbs", "default_voice", "local_voices"]


@dataclass(frozen=True)
class EngineVoices:
    """One engine's voices here; ``runnable``: this machine can run it (else listed from its files)."""

    engine: str
    voices: list[VoiceInfo]
    runnable: bool


def local_voices(voice_dirs: Iterable[Path] = (), language: str | None = None) -> list[EngineVoices]:
    """Every engine with voices here (those that speak ``language``, when given; test voices speak all)."""
    dirs = tuple(voice_dirs)
    runnable = set(runnable_engines(dirs))
    listed = []
    for engine, infos in list_voices(dirs).items():
        shown = [info for info in infos if not language or speaks(info, language)]
        if shown:
            listed.append(EngineVoices(engine, shown, engine in runnable))
    return listed


def default_voice(language: str, voice_dirs: Iterable[Path] = ()) -> VoiceInfo:
    """The voice a book in ``language`` is read by unless the request names one (``UnknownVoiceError``: none)."""
    return choose_voice(language, None, voice_dirs)


class VoiceVerbs(FleetVerbs):
    """What the connected tts workers serve."""

    async def tts_workers(self, wait: float = 0.5) -> list[dict[str, Any]]:
        """The tts instances' statuses (each lists its ``voices`` by engine)."""
        return [status for status in await self.workers(wait) if guards.is_tts(status)]
