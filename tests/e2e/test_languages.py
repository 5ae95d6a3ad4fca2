"""Each book in its own language, with no flag given: the real CLI, the real voices, Whisper listening.

The openings of Madame Bovary and Die Verwandlung (their first paragraphs, about two minutes of
speech, with their titles and declared languages) come out in French and German (espeak-ng:
no offline neural French or German voice ships on PyPI; a Piper voice in AUDIOBOOK_VOICE_DIRS
would be chosen first). Whisper base hears the first minute: it must recognise the book's
language and the book's words. The whole books' languages are judged in
``tests/unit/test_languages.py`` and the corpus tests. For contrast, the same French opening
read by the English voice (what happened before) is heard as English gibberish.
"""

from __future__ import annotations

import html
import wave
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson
import pytest
from mutagen.mp4 import MP4

from services.app.exports import read_cues
from services.engines.espeak import espeak_program
from services.parse.book import Book
from services.parse.readers.epub import read_epub
from services.parse.segmenter import sentences
from services.testing.whisper import hear, word_error_rate, words
from services.tts.engines import load_engine
from services.voices import resolve_voice
from tests.built_epubs import build_epub, chapter
from tests.conftest import book
from tests.e2e.test_cli import run_cli

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(espeak_program() is None, reason="espeak-ng is not installed (scripts/setup)")]


OPENING_CHARS = 1500  # about two minutes of espeak-ng: Whisper hears the first


def _opening(read: Book) -> list[str]:
    return words(" ".join(_paragraphs(read)))


def _paragraphs(read: Book) -> Iterator[str]:
    return (p for c in read.chapters for p in c.paragraphs)


def first_paragraphs(paragraphs: Iterable[str], chars: int) -> list[str]:
    """Paragraphs from the start until they hold more than ``chars`` characters (or all)."""
    taken: list[str] = []
    for paragraph in paragraphs:
        taken.append(paragraph)
        if sum(map(len, taken)) > chars:
            break
    return taken


def opening_epub(source: Book, path: Path) -> Path:
    """An EPUB of the first paragraphs of ``source``'s first chapter, with its title and language.

    The whole first chapter is 20-40 minutes of speech here (Madame Bovary whole: 3,900 segments
    and 15 hours): to hear one minute of it, two are enough.
    """
    first = source.chapters[0]
    paragraphs = first_paragraphs(first.paragraphs, OPENING_CHARS)
    body = f"<h1>{html.escape(first.title)}</h1>" + "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return build_epub(path, {"c1.xhtml": chapter(body)}, title=source.title,
                      entries={"c1.xhtml": first.title}, language=source.language)


@pytest.mark.parametrize(("name", "language", "voice"), [
    ("epub/pg22367_die-verwandlung_de.epub", "de", "de"),
    ("epub/pg14155_madame-bovary_fr.epub", "fr", "fr-fr"),
])
def test_a_book_is_read_in_its_own_language(tmp_path: Path, name: str, language: str, voice: str) -> None:
    read, output = read_epub(book(name)), tmp_path / "book.m4b"
    opening = opening_epub(read, tmp_path / "opening.epub")
    done = run_cli(["convert", str(opening), "-o", str(output), "-q", "--workers", "2", "--read-along"],
                   tmp_path / "data")
    assert done.returncode == 0, done.stderr[-3000:]
    # espeak-ng speaks a sentence at a time: the read-along times each sentence, not each paragraph
    said = [s for p in first_paragraphs(read.chapters[0].paragraphs, OPENING_CHARS) for s in sentences(p, language)]
    cues = read_cues(output.with_suffix(".vtt")) or []
    assert len(cues) >= 0.9 * (len(said) + 1), (len(cues), len(said))
    status = run_cli(["status", "--json"], tmp_path / "data")
    (job,) = orjson.loads(status.stdout)["jobs"]
    assert (job["engine"], job["voice"], job["language"]) == ("espeak", voice, language)
    assert MP4(str(output)).tags["\xa9nam"]  # a finished, tagged M4B
    heard = hear(output, 60)
    wer = word_error_rate(_opening(read), heard.text)
    print(f"\n{name}: Whisper hears {heard.language} ({heard.probability:.2f}), WER {wer:.2f} on the first minute")
    assert heard.language == language and heard.probability > 0.7
    assert wer < 0.8, heard.text


def test_the_english_voice_on_a_french_book_was_gibberish(tmp_path: Path) -> None:
    read = read_epub(book("epub/pg14155_madame-bovary_fr.epub"))
    paragraphs = first_paragraphs(_paragraphs(read), 700)  # about forty seconds of speech
    english = load_engine(resolve_voice("piper", None))
    pcm = b"".join(b"".join(chunks) for chunks in english.speak(paragraphs, 1.0))
    clip = tmp_path / "english-reads-french.wav"
    with wave.open(str(clip), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(english.sample_rate)
        out.writeframes(pcm)
    heard = hear(clip, 40)
    wer = word_error_rate(_opening(read), heard.text)
    print(f"\nEnglish voice on Madame Bovary: Whisper hears {heard.language} ({heard.probability:.2f}), WER {wer:.2f}")
    assert heard.language != "fr" or wer > 0.9
