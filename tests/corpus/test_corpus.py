"""Every real book of the corpus is read, planned and speakable as a person expects (no model run).

The corpus (``tests/corpus/manifest.json``) is real public-domain books made by other people,
each with a chapter list written by hand from the book itself. Per book: the exact chapters;
the language; no segment without speakable text; the real phonemizer of the voice chosen
(espeak-ng, as Piper and the espeak engine run it) gives phonemes for every piece of every
segment; the book's body, from a plain extraction made without the reader under test, is read
whole and in order; no licence, contents page, index or transcriber's note is read.

Books live outside the repository: ``../shared/`` (``testbooks/``, ``corpus/``) or the folder
``AUDIOBOOK_CORPUS_DIR`` names. A book that is not on this machine is skipped and says so;
docs/books.md says how the corpus is kept.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from events.audio import speakable
from services.parse.book import Book
from services.parse.formats import read_book
from services.parse.language import book_language
from services.parse.plan import JobPlan, plan_job
from services.testing.corpus import BOOKS, locate
from services.voices import UnknownVoiceError, VoiceInfo, choose_voice, primary_language
from tests.corpus.extract import units

IN_ORDER_SHARE = {"pdf": 0.95}  # a PDF's lines hold running heads and page numbers the reader drops
IN_ORDER_SHARE_DEFAULT = 0.98
NEVER_READ = ("Project Gutenberg License", "START OF THIS PROJECT GUTENBERG", "END OF THIS PROJECT GUTENBERG",
              "START OF THE PROJECT GUTENBERG", "END OF THE PROJECT GUTENBERG")


def fold(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


@cache
def _read(book_id: str) -> tuple[Book, str]:
    entry = next(e for e in BOOKS if e["id"] == book_id)
    path = locate(entry)
    if path is None:
        pytest.skip(f"{entry['path']} is not on this machine (docs/books.md: the corpus)")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], f"{path} is not the book listed"
    book = read_book(path, None, path.name)
    return book, book_language(book).language


@cache
def _plan(book_id: str) -> tuple[JobPlan, VoiceInfo]:
    book, language = _read(book_id)
    voice = choose_voice(language)
    return plan_job(replace(book, language=language), "corpus", voice, 1.0, 400), voice


def _entry(book_id: str) -> dict[str, Any]:
    return next(e for e in BOOKS if e["id"] == book_id)


IDS = [entry["id"] for entry in BOOKS]
# a book whose chapters the readers are known not to find yet, with why: the test fails when they do
CHAPTERS = [pytest.param(e["id"], marks=pytest.mark.xfail(strict=True, reason=e["known_gap"])) if "known_gap" in e
            else e["id"] for e in BOOKS]
ABSENT = [pytest.param(e["id"], marks=pytest.mark.xfail(strict=True, reason=e["known_gap_absent"]))
          if "known_gap_absent" in e else e["id"] for e in BOOKS]
SPOKEN = [entry["id"] for entry in BOOKS if entry.get("voice", True)]


def test_the_corpus_is_many_books_from_many_hands() -> None:
    """The manifest itself: at least 40 books from 10 producers in 6 languages, each with its source."""
    outside = [e for e in BOOKS if e["path"].startswith("corpus/")]
    assert len(outside) >= 40
    assert len({e["producer_kind"] for e in BOOKS}) >= 10
    assert len({e["language"] for e in BOOKS}) >= 6
    for entry in BOOKS:
        assert entry["chapters"] and entry["sha256"] and entry["source"]["repo"] and entry["source"]["commit"]


@pytest.mark.parametrize("book_id", CHAPTERS)
def test_chapters_are_the_books_own(book_id: str) -> None:
    book, _ = _read(book_id)
    assert [chapter.title for chapter in book.chapters] == _entry(book_id)["chapters"]


@pytest.mark.parametrize("book_id", IDS)
def test_the_book_is_read_in_its_language(book_id: str) -> None:
    _, language = _read(book_id)
    assert primary_language(language) == _entry(book_id)["language"]


@pytest.mark.parametrize("book_id", [e["id"] for e in BOOKS if not e.get("voice", True)])
def test_a_book_no_voice_here_speaks_is_refused_with_its_language(book_id: str) -> None:
    _, language = _read(book_id)
    with pytest.raises(UnknownVoiceError, match="no voice"):
        choose_voice(language)


@pytest.mark.parametrize("book_id", SPOKEN)
def test_every_segment_holds_words(book_id: str) -> None:
    plan, _ = _plan(book_id)
    silent = [(job.chapter, job.index, job.paragraphs) for _, job in plan.jobs
              if not all(speakable(piece) for piece in job.paragraphs)]
    assert not silent, f"segments without words: {silent[:5]}"


@cache
def _phonemizer() -> Any:
    from piper.phonemize_espeak import EspeakPhonemizer

    return EspeakPhonemizer()


def espeak_voice(voice: VoiceInfo) -> str:
    """The espeak-ng voice the engine phonemizes with (Piper's from its config)."""
    if voice.engine == "piper":
        return str(json.loads(Path(voice.config_path).read_text())["espeak"]["voice"])
    return voice.voice


@pytest.mark.parametrize("book_id", SPOKEN)
def test_every_piece_phonemizes_with_the_real_phonemizer(book_id: str) -> None:
    plan, voice = _plan(book_id)
    phonemizer = _phonemizer()
    name = espeak_voice(voice)
    try:
        phonemizer.phonemize(name, "a")
    except RuntimeError:
        name = primary_language(name)  # the bundled espeak-ng data names some voices by language alone
    mute = []
    for _, job in plan.jobs:
        for piece in job.paragraphs:
            phonemes = [p for sentence in phonemizer.phonemize(name, piece) for p in sentence]
            if not any(p.isalpha() for p in phonemes):
                mute.append((job.chapter, job.index, piece))
    assert not mute, f"{len(mute)} pieces give no phonemes in {name}: {mute[:5]}"


def in_order(expected: list[str], read: str) -> tuple[float, list[str]]:
    """The share of ``expected`` blocks found in ``read`` (both folded), each after the one before,
    and the blocks not found."""
    cursor, found, missing = 0, 0, []
    counted = [unit for unit in expected if len(fold(unit)) >= 20]
    for unit in counted:
        key = fold(unit)
        head, tail = key[:30], key[-30:]
        at = read.find(head, cursor)
        end = read.find(tail, at) if at >= 0 else -1
        if at >= 0 and end >= 0 and end - at <= len(key) * 2 + 200:
            found += 1
            cursor = end + len(tail)
        else:
            missing.append(unit[:100])
    return (found / len(counted) if counted else 1.0), missing


def body_span(blocks: list[str], first_words: str, last_words: str) -> tuple[int, int]:
    """The blocks from the one the body's first words start in to the one its last words end in."""
    ends, at = [], 0
    for block in blocks:
        at += len(fold(block))
        ends.append(at)
    stream = "".join(fold(block) for block in blocks)
    start = stream.find(fold(first_words))
    end = stream.rfind(fold(last_words))
    assert start >= 0 and end >= 0, "the body's first or last words are not in the plain extraction"
    end += len(fold(last_words)) - 1
    return (next(i for i, e in enumerate(ends) if e > start), next(i for i, e in enumerate(ends) if e > end))


@pytest.mark.parametrize("book_id", [e["id"] for e in BOOKS if e.get("body_first")])
def test_the_body_is_read_whole_and_in_order(book_id: str) -> None:
    entry = _entry(book_id)
    book, _ = _read(book_id)
    path = locate(entry)
    assert path is not None
    read = fold(" ".join(p for chapter in book.chapters for p in chapter.paragraphs))
    assert fold(entry["body_first"]) in read and fold(entry["body_last"]) in read
    blocks = units(path, entry["format"])
    first, last = body_span(blocks, entry["body_first"], entry["body_last"])
    share, missing = in_order(blocks[first:last + 1], read)
    assert share >= IN_ORDER_SHARE.get(entry["format"], IN_ORDER_SHARE_DEFAULT), (
        f"{share:.1%} of the body's blocks read in order; not found: {missing[:8]}")


def words(text: str) -> str:
    return " " + " ".join(re.findall(r"\w+", text.casefold())) + " "


@pytest.mark.parametrize("book_id", ABSENT)
def test_no_licence_contents_or_notes_are_read(book_id: str) -> None:
    book, _ = _read(book_id)
    read = words(" ".join(p for chapter in book.chapters for p in chapter.paragraphs))
    said = [phrase for phrase in [*_entry(book_id).get("absent", []), *NEVER_READ] if words(phrase) in read]
    assert not said, f"read aloud though it is not the book's: {said}"
