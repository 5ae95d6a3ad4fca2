"""espeak-ng (the program): one voice per language it speaks, named by it (``fr-fr``, ``de``); no
model files, on the CPU. Debian: ``apt-get install espeak-ng``.

A paragraph is spoken a sentence at a time (pysbd splits it, as the book's sentences were split),
so each sentence is a piece of audio of its own and the read-along times it exactly; the pause
between sentences is the job's, as for every other engine. A run costs about 11 ms here, so a
sentence at a time is about four times the CPU of a paragraph at a time, still over 60x real time.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from functools import lru_cache
from pathlib import Path

import pysbd
from pysbd.languages import LANGUAGE_CODES

from services.engines.base import Engine, LoadOptions, SynthesisError, Synthesizer, VoiceInfo, refuse_nul
from services.engines.tags import primary_language

WORDS_PER_MINUTE = 165  # espeak-ng's own default (175) is brisk for a book
TIMEOUT_S = 120.0
# languages espeak-ng lists but cannot read as books write them: its Japanese reads every kanji as
# "Chinese letter" (tests/corpus: a Japanese novel). A book in one is refused, not read as noise.
CANNOT_READ = frozenset({"ja"})
AUDIO_VERSION = " by sentence"  # in the voice's version (the cache key): paragraphs spoken whole are other audio


@lru_cache(maxsize=1)
def espeak_program() -> str | None:
    """The ``espeak-ng`` program, if installed."""
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
        if len(fields) >= 4 and fields[1] not in voices and primary_language(fields[1]) not in CANNOT_READ:
            voices[fields[1]] = VoiceInfo("espeak", fields[1], f"espeak-ng {release}{AUDIO_VERSION}", program, "",
                                          (fields[1],))
    return voices


class EspeakSynthesizer:
    """espeak-ng speaking one of its languages, one program run per paragraph."""

    batch_size = 1
    device = "cpu"

    def __init__(self, info: VoiceInfo) -> None:
        self.program, self.voice = info.model_path, info.voice
        self.sample_rate = self._wav("a", 1.0)[1]  # what this voice speaks at (22,050 Hz for espeak-ng's own)

    def _wav(self, text: str, speed: float) -> tuple[bytes, int]:
        with tempfile.NamedTemporaryFile(suffix=".wav") as out:
            command = [self.program, "-v", self.voice, "-s", str(round(WORDS_PER_MINUTE * speed)),
                       "-b", "1", "-w", out.name]
            try:
                done = subprocess.run(command, input=text.encode(), capture_output=True, timeout=TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise SynthesisError(f"espeak-ng failed: {exc}") from exc
            if done.returncode != 0:
                raise SynthesisError(f"espeak-ng failed: {done.stderr.decode(errors='replace').strip()[:300]}")
            with wave.open(str(Path(out.name)), "rb") as audio:
                if audio.getsampwidth() != 2 or audio.getnchannels() != 1:
                    raise SynthesisError("espeak-ng wrote audio that is not 16-bit mono")
                return audio.readframes(audio.getnframes()), audio.getframerate()

    def speak(self, paragraphs: list[str], speed: float, language: str = "", take: int = 0) -> list[list[bytes]]:
        refuse_nul(paragraphs)
        out = []
        for text in paragraphs:
            chunks = []
            for sentence in spoken_sentences(text, language or self.voice):
                pcm, rate = self._wav(sentence, speed)
                if rate != self.sample_rate:
                    raise SynthesisError(f"espeak-ng changed its sample rate ({rate} Hz, not {self.sample_rate})")
                chunks.append(pcm)
            out.append(chunks)
        return out


def spoken_sentences(text: str, language: str) -> list[str]:
    """The sentences of a paragraph as it is spoken (pysbd, in the language where pysbd knows it); a
    piece without a letter or digit (a closing quotation mark) stays with the sentence before it."""
    code = primary_language(language)
    if code not in LANGUAGE_CODES or not text.strip():
        return [text] if text.strip() else []
    out: list[str] = []
    for piece in pysbd.Segmenter(language=code, clean=False).segment(text):
        if out and not any(char.isalnum() for char in piece):
            out[-1] += piece
        elif piece.strip():
            out.append(piece)
    return [sentence.strip() for sentence in out] or [text]


class Espeak(Engine):
    name = "espeak"
    default_voice = "en-us"
    named_by_language = True

    def voices(self, voice_dirs: tuple[Path, ...] = ()) -> dict[str, VoiceInfo]:
        return espeak_voices()

    def load(self, info: VoiceInfo, options: LoadOptions) -> Synthesizer:
        return EspeakSynthesizer(info)


ENGINE = Espeak()
