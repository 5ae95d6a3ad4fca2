"""Text a reader could not place is named in the book's warnings, never dropped in silence.

lxml stops at 256 levels of nesting (more is refused, not read) and never expands the entities a
document declares in its own DTD (a billion laughs would fill memory); what is lost that way is
said, per part, in the Book's warnings, which reach the ``book.warning`` event. The warnings are
bounded where they are gathered: the first 20, each cut to 300 characters, then how many more.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from services.parse.book import EbookError
from services.parse.formats import read_book
from services.parse.readers.drafts import MAX_WARNING_CHARS, MAX_WARNINGS, bounded_warnings
from tests.built_epubs import build_epub, chapter

PROSE = "It was a bright cold day in April, and the clocks were striking thirteen. " * 3
DEEP = 300
BILLION_LAUGHS = ('<!DOCTYPE html [<!ENTITY lol "lol">'
                  + "".join(f'<!ENTITY lol{n} "{(f"&lol{n - 1};" if n > 1 else "&lol;") * 10}">' for n in range(1, 10))
                  + "]>")


def plain(number: int) -> str:
    return chapter(f"<h1>Chapter {number}</h1><p>Chapter {number} begins. {PROSE}</p>")


def test_text_nested_too_deep_is_named_with_its_part(tmp_path: Path) -> None:
    deep = chapter(f"<h1>Chapter 7</h1><p>Before the deep part. {PROSE}</p>" + "<div>" * DEEP
                   + "<p>Deep inside.</p>" + "</div>" * DEEP + "<p>After the deep part.</p>")
    chapters = {f"chapter_{n:03d}.xhtml": plain(n) for n in range(1, 10)}
    chapters["chapter_007.xhtml"] = deep
    book = read_book(build_epub(tmp_path / "deep.epub", chapters))
    assert book.warnings == ("chapter_007.xhtml: text nested deeper than 256 levels was not read, nor anything "
                             "after it",)
    text = [p for c in book.chapters for p in c.paragraphs]
    assert any(p.startswith("Before the deep part.") for p in text)  # what comes before is read
    assert all(any(p.startswith(f"Chapter {n} begins.") for p in text) for n in (1, 6, 8, 9))  # and the rest


def test_entities_of_a_chapters_own_dtd_are_named_and_not_expanded(tmp_path: Path) -> None:
    dtd = '<!DOCTYPE html [ <!ENTITY hero "Alice"> ]>'
    chapters = {"chapter_001.xhtml": plain(1),
                "chapter_002.xhtml": chapter(f"<h1>Chapter 2</h1><p>&hero; went on. {PROSE}</p>", dtd)}
    book = read_book(build_epub(tmp_path / "dtd.epub", chapters))
    assert book.warnings == ("chapter_002.xhtml: it declares its own entities (an internal DTD), which are not "
                             "read: the words they stand for are missing",)
    assert book.chapters[1].paragraphs[1].startswith("went on.")  # the rest of its text is read
    assert "Alice" not in str(book.chapters)


def test_a_billion_laughs_is_named_not_expanded(tmp_path: Path) -> None:
    chapters = {"chapter_001.xhtml": plain(1),
                "chapter_002.xhtml": chapter(f"<h1>Chapter 2</h1><p>{PROSE}</p><p>a &lol9; b</p>", BILLION_LAUGHS)}
    start = time.process_time()
    book = read_book(build_epub(tmp_path / "lol.epub", chapters))
    assert time.process_time() - start < 5
    assert book.warnings == ("chapter_002.xhtml: it declares entities that expand without bound (an internal "
                             "DTD); its text from the first of them on was not read",)
    assert "lollol" not in str(book.chapters)


def test_an_html_file_and_an_fb2_book_name_what_they_could_not_read(tmp_path: Path) -> None:
    page = tmp_path / "deep.html"
    page.write_text(f"<html><body><h1>One</h1><p>{PROSE}</p>" + "<div>" * DEEP + "<p>deep</p>" + "</div>" * DEEP
                    + "</body></html>")
    assert read_book(page).warnings == ("the document: text nested deeper than 256 levels was not read, nor "
                                        "anything after it",)
    fb2 = tmp_path / "deep.fb2"
    fb2.write_text('<?xml version="1.0" encoding="utf-8"?><FictionBook '
                   'xmlns="http://www.gribuser.ru/xml/fictionbook/2.0"><description><title-info>'
                   "<book-title>Deep</book-title></title-info></description><body><section><title><p>One</p></title>"
                   f"<p>{PROSE}</p>" + "<cite>" * DEEP + "<p>deep</p>" + "</cite>" * DEEP + "</section></body>"
                   "</FictionBook>")
    assert read_book(fb2).warnings == ("the FB2 book: text nested deeper than 256 levels was not read, nor "
                                       "anything after it",)


def test_a_document_with_nothing_readable_says_why(tmp_path: Path) -> None:
    page = tmp_path / "deep.html"
    page.write_text("<html><body>" + "<div>" * DEEP + f"<p>{PROSE}</p>" + "</div>" * DEEP + "</body></html>")
    with pytest.raises(EbookError, match=r"no readable text.*nested deeper than 256 levels"):
        read_book(page)


def test_a_reference_to_a_lone_surrogate_is_read_as_a_replacement_character(tmp_path: Path) -> None:
    chapters = {"chapter_001.xhtml": chapter(f"<h1>Chapter 1</h1><p>A &#xD800; B &#55296; C. {PROSE}</p>")}
    book = read_book(build_epub(tmp_path / "surrogate.epub", chapters))
    assert book.chapters[0].paragraphs[1].startswith("A \ufffd B \ufffd C.")


def test_the_warnings_are_bounded_where_they_are_gathered(tmp_path: Path) -> None:
    deep = "<div>" * DEEP + "<p>deep</p>" + "</div>" * DEEP
    chapters = {f"chapter_{n:03d}_{'x' * 250}.xhtml": chapter(f"<h1>Chapter {n}</h1><p>{PROSE}</p>{deep}")
                for n in range(1, 31)}
    warnings = read_book(build_epub(tmp_path / "many.epub", chapters)).warnings
    assert len(warnings) == MAX_WARNINGS + 1
    assert warnings[-1] == f"… and {30 - MAX_WARNINGS} more parts were not read"
    assert all(len(w) <= MAX_WARNING_CHARS for w in warnings)
    assert warnings[0].startswith("chapter_001_") and warnings[0].endswith("…")


def test_bounded_warnings_keep_each_once_in_order() -> None:
    assert bounded_warnings(["b", "a", "b"]) == ("b", "a")
    assert bounded_warnings([]) == ()
    assert bounded_warnings("x" * 400 for _ in range(1)) == ("x" * (MAX_WARNING_CHARS - 1) + "…",)



def test_markdown_nested_past_its_limit_is_named_and_a_deep_list_is_read(tmp_path: Path) -> None:
    """markdown-it reads no deeper than its nesting limit: 20 levels dropped a list 10 deep in silence."""
    outline = tmp_path / "outline.md"
    outline.write_text(f"# One\n\n{PROSE}\n\n" + "".join("  " * n + f"- item {n}\n" for n in range(12)) + "\nAfter.\n")
    book = read_book(outline, name="outline.md")
    assert book.chapters[0].paragraphs[-2:] == ("item 11", "After.") and book.warnings == ()
    deep = tmp_path / "deep.md"
    deep.write_text(f"# One\n\n{PROSE}\n\n" + "> " * 130 + "deep\n\nAfter.\n")
    book = read_book(deep, name="deep.md")
    assert book.warnings == ("the document: text nested deeper than 100 levels (lists, quotes) was not read",)
    assert book.chapters[0].paragraphs[-1] == "After."
