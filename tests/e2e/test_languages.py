"""Each book in its own language, with no flag given: the real CLI, the real voices, Whisper listening.

Madame Bovary comes out in French and Die Verwandlung in German (espeak-ng: no offline neural
French or German voice ships on PyPI; a Piper voice in AUDIOBOOK_VOICE_DIRS would be chosen
first). Whisper base hears the first minute: it must recognise the book's language and the
book's words. For contrast, the same French opening read by the English voice (what happened
before) is heard as English gibberish.
"""

from __future__ import annotations

import wave
from pathlib import Path

import orjson
import pytest
from mutagen.mp4 import MP4

from services.engines.espeak import espeak_program
from services.parse.readers.epub import read_epub
from services.testing.whisper import hear, word_error_rate, words
from services.tts.engines import load_engine
from services.voices import resolve_voice
from tests.conftest import book
from tests.e2e.test_cli import run_cli

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(espeak_program() is None, reason="espeak-ng is not installed (scripts/setup)")]


def _opening(source: Path) -> list[str]:
    return words(" ".join(p for c in read_epub(source).chapters for p in c.paragraphs))


@pytest.mark.parametrize(("name", "language", "voice"), [
    ("epub/pg22367_die-verwandlung_de.epub", "de", "de"),
    ("epub/pg14155_madame-bovary_fr.epub", "fr", "fr-fr"),
])
def test_a_book_is_read_in_its_own_language(tmp_path: Path, name: str, language: str, voice: str) -> None:
    source, output = book(name), tmp_path / "book.m4b"
    # the language is judged on the whole book; its first chapter is enough to hear it (20-40 minutes of
    # speech here; Madame Bovary whole is 3,900 segments and 15 hours: ten minutes of this machine)
    done = run_cli(["convert", str(source), "-o", str(output), "-q", "--workers", "2", "--chapters", "1"],
                   tmp_path / "data")
    assert done.returncode == 0, done.stderr[-3000:]
    status = run_cli(["status", "--json"], tmp_path / "data")
    (job,) = orjson.loads(status.stdout)["jobs"]
    assert (job["engine"], job["voice"], job["language"]) == ("espeak", voice, language)
    assert MP4(str(output)).tags["\xa9nam"]  # a finished, tagged M4B
    heard = hear(output, 60)
    wer = word_error_rate(_opening(source), heard.text)
    print(f"\n{name}: Whisper hears {heard.language} ({heard.probability:.2f}), WER {wer:.2f} on the first minute")
    assert heard.language == language and heard.probability > 0.7
    assert wer < 0.8, heard.text


def test_the_english_voice_on_a_french_book_was_gibberish(tmp_path: Path) -> None:
    source = book("epub/pg14155_madame-bovary_fr.epub")
    paragraphs: list[str] = []
    for paragraph in (p for chapter in read_epub(source).chapters for p in chapter.paragraphs):
        paragraphs.append(paragraph)
        if sum(map(len, paragraphs)) > 1300:  # a little over a minute of speech
            break
    english = load_engine(resolve_voice("piper", None))
    pcm = b"".join(b"".join(chunks) for chunks in english.speak(paragraphs, 1.0))
    clip = tmp_path / "english-reads-french.wav"
    with wave.open(str(clip), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(english.sample_rate)
        out.writeframes(pcm)
    heard = hear(clip, 60)
    wer = word_error_rate(_opening(source), heard.text)
    print(f"\nEnglish voice on Madame Bovary: Whisper hears {heard.language} ({heard.probability:.2f}), WER {wer:.2f}")
    assert heard.language != "fr" or wer > 0.9
