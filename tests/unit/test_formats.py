"""Books that are not EPUBs: plain text (any encoding, Project Gutenberg's wrapping), Markdown,
HTML; the kinds not read yet are named in the rejection."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.parse.book import EbookError
from services.parse.formats import detect, read_book
from services.parse.plaintext import decode
from tests.conftest import book


def test_a_windows_1252_gutenberg_text_with_crlf_lines() -> None:
    path = book("other/pg84_frankenstein_cp1252_crlf.txt")
    assert detect(path, path.name) == "txt"
    read = read_book(path, name=path.name)
    assert (read.title, read.author, read.language) == (
        "Frankenstein; Or, The Modern Prometheus", "Mary Wollstonecraft Shelley", "en")
    assert [c.title for c in read.chapters] == [f"Letter {n}" for n in range(1, 5)] + [
        f"Chapter {n}" for n in range(1, 25)], "the same 28 chapters as the EPUB's table of contents"
    assert read.chapters[0].paragraphs[:2] == ("To Mrs. Saville, England.", "St. Petersburgh, Dec. 11th, 17—.")
    assert read.chapters[-1].paragraphs[-1].endswith("lost in darkness and distance.")
    text = " ".join(p for c in read.chapters for p in c.paragraphs)
    assert "Gutenberg" not in text and "\r" not in text and "_" not in text, "no licence, no CR, no _emphasis_"


def test_a_utf8_text_without_a_gutenberg_header_has_its_title_page_read() -> None:
    path = book("other/pg22367_die-verwandlung_de_utf8.txt")
    read = read_book(path, name=path.name)
    assert (read.title, read.author, read.language) == ("Die Verwandlung", "Franz Kafka", "")
    assert [c.title for c in read.chapters] == ["I", "II", "III"]
    assert read.chapters[0].paragraphs[0].startswith("Als Gregor Samsa eines Morgens")
    assert "Gutenberg" not in " ".join(p for c in read.chapters for p in c.paragraphs)


def test_encodings_are_detected() -> None:
    english = ("“I shall go to the café,” she said – and the naïve waiter, whose résumé was short, "
               "bowed. ‘Très bien,’ he answered. ") * 3
    assert decode(english.encode("cp1252")) == english
    assert decode("\ufeffÜber\r\nzwei".encode()) == "Über\nzwei"
    assert decode("Grüße aus Köln, schön".encode("utf-16")) == "Grüße aus Köln, schön"
    with pytest.raises(EbookError, match="not a text file"):
        decode(bytes(range(256)) * 8)


def test_a_text_without_headings_is_one_chapter(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("A Short Story\n\n" + "It was a dark and stormy night. " * 10 + "\n\nThe end came soon.\n")
    read = read_book(path, name=path.name)
    assert read.title == "A Short Story" and len(read.chapters) == 1
    assert read.chapters[0].paragraphs[-1] == "The end came soon."


def test_markdown_chapters_at_its_headings(tmp_path: Path) -> None:
    path = tmp_path / "story.md"
    path.write_text("# The Story\n\n## One\n\nIt *was* a **dark** night, and [the rain](http://x) fell "
                    "in torrents, except at occasional intervals.\n\n## Two\n\n- a list item\n\nThe end.\n")
    assert detect(path, path.name) == "markdown"
    read = read_book(path, name=path.name)
    assert read.title == "The Story"
    assert [c.title for c in read.chapters] == ["One", "Two"]
    assert read.chapters[0].paragraphs == ("It was a dark night, and the rain fell in torrents, except at "
                                           "occasional intervals.",)
    assert read.chapters[1].paragraphs == ("a list item", "The end.")


def test_html_chapters_title_author_and_language(tmp_path: Path) -> None:
    path = tmp_path / "book.html"
    prose = "It was the best of times, it was the worst of times, it was the age of wisdom. " * 2
    path.write_text(f"""<!DOCTYPE html><html lang="fr"><head><title>Un Livre</title>
        <meta name="author" content="Une Autrice"></head><body>
        <section id="pg-header"><p>The Project Gutenberg eBook of Un Livre</p></section>
        <h1>Un Livre</h1><h2>Premier</h2><p>{prose}</p><p>Deux&nbsp;mots &mdash; fin.</p>
        <h2>Second</h2><p>{prose}</p><h3>Une note</h3><p>Encore.</p></body></html>""")
    read = read_book(path, name=path.name)
    assert (read.title, read.author, read.language) == ("Un Livre", "Une Autrice", "fr")
    assert [c.title for c in read.chapters] == ["Premier", "Second"]
    assert read.chapters[0].paragraphs[1] == "Deux mots \u2014 fin."
    assert read.chapters[1].paragraphs[-2:] == ("Une note", "Encore."), "a deeper heading stays in its chapter"


@pytest.mark.parametrize(("name", "kind", "said"), [
    ("other/alice_excerpt.pdf", "pdf", "PDF books are not read yet"),
    ("other/alice_excerpt.docx", "docx", "Word (DOCX) books are not read yet"),
    ("other/se_jane-austen_unknown-novel.azw3", "mobi", "Kindle (MOBI/AZW3) books are not read yet"),
])
def test_kinds_not_read_yet_are_named(name: str, kind: str, said: str) -> None:
    path = book(name)
    assert detect(path, path.name) == kind
    with pytest.raises(EbookError, match=re.escape(said)):
        read_book(path, name=path.name)
