"""Voices cloned from a recording uploaded with a request: their names, and the model that clones (pure).

A cloned voice is named ``MODEL/@<sha256 of the WAV>``: the recording's hash keys the cache.
"""

from __future__ import annotations

from dataclasses import replace

from services.engines.base import UnknownVoiceError, VoiceInfo

CLONED = "/@"  # a voice cloned from an uploaded recording: MODEL/@<sha256 of the WAV>


def cloned_voice(model: VoiceInfo, speaker_sha256: str, speaker_wav: str = "") -> VoiceInfo:
    """``model`` speaking as the uploaded recording whose content hash is ``speaker_sha256``.

    The recording's hash is in the name and the model version, so it keys the cache; a worker
    fills in ``speaker_wav`` once it has the file.
    """
    return replace(model, voice=f"{model.voice}{CLONED}{speaker_sha256}",
                   model_version=f"{model.model_version}:sha256:{speaker_sha256[:16]}", speaker_wav=speaker_wav)


def cloned_parts(voice: str) -> tuple[str, str] | None:
    """(model, recording sha256) of a cloned voice's name, else None."""
    model, mark, sha = voice.partition(CLONED)
    if not mark or len(sha) != 64 or not all(c in "0123456789abcdef" for c in sha):
        return None
    return model, sha


def cloning_model_named(models: dict[str, VoiceInfo], name: str | None) -> VoiceInfo:
    """The cloning model named ``name`` (or the only one there is); UnknownVoiceError otherwise."""
    if name is None and len(models) == 1:
        return next(iter(models.values()))
    if name in models:
        return models[name]
    known = ", ".join(sorted(models)) or "none installed (an XTTS model folder in AUDIOBOOK_VOICE_DIRS)"
    raise UnknownVoiceError(f"a reference recording needs a cloning model (coqui XTTS) as the voice; "
                            f"{'name one' if name is None else f'{name!r} is not one'}: {known}")
