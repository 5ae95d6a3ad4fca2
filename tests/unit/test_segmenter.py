"""Segments: never split a sentence, never lose text, respect the size limit."""

import pytest

from events.audio import CHAPTER_PAUSE_MS, PARAGRAPH_PAUSE_MS, SENTENCE_PAUSE_MS
from services.parse.epub import read_epub
from services.parse.segmenter import segment_chapter, sentences
from tests.conftest import book


def squash(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("name", [
    "epub/alice_epub3-nav-only_epubjs.epub", "epub/pg22367_die-verwandlung_de.epub",
    "epub/pg14155_madame-bovary_fr.epub",
])
def test_no_text_lost_and_no_sentence_split(name: str) -> None:
    parsed = read_epub(book(name))
    for chapter in parsed.chapters[:6]:
        segments = segment_chapter(chapter.paragraphs, parsed.language, max_chars=400)
        assert squash("".join(s.text for s in segments)) == squash("".join(chapter.paragraphs))
        chapter_sentences = [s for p in chapter.paragraphs for s in sentences(p, parsed.language)]
        segment_sentences = [s for seg in segments for p in seg.paragraphs for s in sentences(p, parsed.language)]
        assert segment_sentences == chapter_sentences
        for segment in segments:
            pieces = [s for p in segment.paragraphs for s in sentences(p, parsed.language)]
            assert len(segment.text) <= 400 or len(pieces) == 1, "only a single long sentence may exceed"


def test_pauses_follow_structure() -> None:
    paragraphs = ["Heading", "One. Two. Three.", "Four."]
    segments = segment_chapter(paragraphs, "en", max_chars=12)
    assert [s.paragraphs for s in segments] == [("Heading",), ("One. Two.",), ("Three.",), ("Four.",)]
    assert [s.pause_after_ms for s in segments] == [
        PARAGRAPH_PAUSE_MS, SENTENCE_PAUSE_MS, PARAGRAPH_PAUSE_MS, CHAPTER_PAUSE_MS,
    ]


def test_small_paragraphs_share_a_segment() -> None:
    segments = segment_chapter(["Hello.", "World."], "en", max_chars=400)
    assert len(segments) == 1 and segments[0].paragraphs == ("Hello.", "World.")


def test_abbreviations_do_not_end_sentences() -> None:
    assert sentences("Mr. Smith met Dr. Who at 3 p.m. today. They talked.", "en") == [
        "Mr. Smith met Dr. Who at 3 p.m. today.", "They talked."]


def test_unsupported_language_falls_back_to_english_rules() -> None:
    assert sentences("Yksi. Kaksi.", "fi") == ["Yksi.", "Kaksi."]
