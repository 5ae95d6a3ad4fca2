"""The engine registry: one module per engine behind one interface, registered by one line each."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from events import names
from events.types import SynthesizeSegment
from services.engines import instant
from services.engines.base import Engine, LoadOptions, Synthesizer, VoiceInfo
from services.tts.render import render_segments
from services.voices import REGISTRY, Registry, UnknownVoiceError

ROOT = Path(__file__).resolve().parents[2]


class Beep:
    """A tone for each character: a synthesizer as small as one can be."""

    sample_rate = 8000
    batch_size = 1
    device = "cpu"

    def __init__(self, info: VoiceInfo, hz: float) -> None:
        self.voice, self.hz = info.voice, hz

    def speak(self, paragraphs: list[str], speed: float, language: str = "") -> list[list[bytes]]:
        out = []
        for text in paragraphs:
            samples = int(len(text) * self.sample_rate / 100 / speed)  # 10 ms a character
            tone = (int(8000 * math.sin(2 * math.pi * self.hz * n / self.sample_rate)) for n in range(samples))
            out.append([b"".join(s.to_bytes(2, "little", signed=True) for s in tone)])
        return out


class Beeper(Engine):
    """An engine defined here and nowhere else: it speaks Klingon, which no other engine here does."""

    name = "beeper"
    default_voice = "low"

    def __init__(self) -> None:
        self.loads: list[str] = []  # voices loaded, to show that listing loads nothing

    def voices(self, voice_dirs: tuple[Path, ...] = ()) -> dict[str, VoiceInfo]:
        return {voice: VoiceInfo("beeper", voice, f"beeper-{voice}", languages=("tlh",)) for voice in ("high", "low")}

    def load(self, info: VoiceInfo, options: LoadOptions) -> Synthesizer:
        self.loads.append(info.voice)
        return Beep(info, 880.0 if info.voice == "high" else 220.0)


def test_the_registry_is_the_one_list_of_engines() -> None:
    """Queues, consumers and pauses are made per registered engine: the contract names none."""
    assert not hasattr(names, "ENGINES"), "the engines are listed once, in services.voices.REGISTRY"
    assert all(names.engine_consumer(name) == f"tts-{name}" for name in REGISTRY.names)
    assert len(REGISTRY.names) == len(set(REGISTRY.names)), "one registration per engine"
    assert all(isinstance(engine, Engine) for engine in REGISTRY.engines)


def test_an_engine_is_one_module_and_one_registration_line() -> None:
    beeper = Beeper()
    registry = Registry(*REGISTRY.engines, beeper)  # the one line; nothing else changes
    assert [info.voice for info in registry.list_voices()["beeper"]] == ["high", "low"]
    assert "beeper" in registry.available_engines() and "beeper" in registry.runnable_engines()
    assert beeper.loads == [], "listing loads no model"
    assert registry.resolve_voice("beeper", None).voice == "low", "its default voice"
    assert registry.resolve_voice("beeper", "high").model_version == "beeper-high"
    with pytest.raises(UnknownVoiceError, match="unknown voice 'mid' for engine beeper; available: high, low"):
        registry.resolve_voice("beeper", "mid")
    chosen = registry.choose_voice("tlh")
    assert (chosen.engine, chosen.voice) == ("beeper", "high"), "the only engine speaking Klingon; then by name"
    with pytest.raises(UnknownVoiceError, match="no voice of any engine here speaks 'tlh'"):
        REGISTRY.choose_voice("tlh")  # the installation's registry never heard of it
    synthesizer = registry.load_voice(chosen)
    assert beeper.loads == ["high"], "loaded when asked, not before"
    job = SynthesizeSegment(job_id="j", chapter=0, index=0, paragraphs=("Qapla'!",), engine="beeper", voice="high",
                            speed=1.0, cache_key="k", pause_after_ms=0)
    (pcm,) = render_segments(synthesizer, [job])
    assert len(pcm) >= 2 * len("Qapla'!") * synthesizer.sample_rate // 100, "it speaks through the tts stage's render"


def test_the_instant_engine_exists_by_its_registration_line_alone() -> None:
    without = Registry(*(engine for engine in REGISTRY.engines if engine is not instant.ENGINE))
    assert "test" in REGISTRY.list_voices() and "test" not in without.list_voices()
    with pytest.raises(UnknownVoiceError, match="unknown engine 'test'"):
        without.resolve_voice("test", "short")
    with pytest.raises(ValueError, match="no engine 'test'"):
        without.load_voice(REGISTRY.resolve_voice("test", "short"))
    spoken = REGISTRY.load_voice(REGISTRY.resolve_voice("test", "short")).speak(["x" * 100], 1.0)
    assert len(spoken[0][0]) == 2 * 22050 * 800 // 1000, "8 ms of silence a character"


def test_listing_every_voice_imports_no_model_runtime(tmp_path: Path) -> None:
    """Voices come from files alone: no ONNX runtime, Piper, torch or Coqui is imported to list them."""
    (tmp_path / "fr_FR-x-medium.onnx").write_bytes(b"never loaded")
    (tmp_path / "fr_FR-x-medium.onnx.json").write_text(json.dumps({"language": {"code": "fr_FR"}}))
    (tmp_path / "vits-de").mkdir()
    (tmp_path / "vits-de" / "config.json").write_text(json.dumps({"model": "vits", "phoneme_language": "de"}))
    (tmp_path / "vits-de" / "model.pth").write_bytes(b"never loaded")
    script = (
        "import sys\n"
        "from services.voices import list_voices, choose_voice\n"
        f"voices = list_voices([{str(tmp_path)!r}])\n"
        "print(sorted(voices['piper'][i].voice for i in range(len(voices['piper']))), "
        "[info.voice for info in voices['coqui']], choose_voice('de', 'coqui', "
        f"[{str(tmp_path)!r}]).voice)\n"
        "print(sorted(m for m in ('onnxruntime', 'piper', 'torch', 'TTS') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    listed, imported = done.stdout.splitlines()
    assert listed == "['en_US-joe-medium', 'fr_FR-x-medium'] ['vits-de'] vits-de"
    assert imported == "[]", "listing loaded a model runtime"
