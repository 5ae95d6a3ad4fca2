"""Books that are not EPUBs: plain text (any encoding, Project Gutenberg's wrapping), Markdown,
HTML, Kindle (AZW3) and FB2."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from services.parse.book import EbookError
from services.parse.formats import detect, read_book
from services.parse.readers.plaintext import decode
from tests.conftest import book


def test_a_windows_1252_gutenberg_text_with_crlf_lines() -> None:
    path = book("other/pg84_frankenstein_cp1252_crlf.txt")
    assert detect(path, path.name) == "txt"
    read = read_book(path, name=path.name)
    assert (read.title, read.author, read.language) == (
        "Frankenstein; Or, The Modern Prometheus", "Mary Wollstonecraft Shelley", "en")
    assert [c.title for c in read.chapters] == [f"Letter {n}" for n in range(1, 5)] + [
        f"Chapter {n}" for n in range(1, 25)], "the same 28 chapters as the EPUB's table of contents"
    assert read.chapters[0].paragraphs[:3] == ("Letter 1", "To Mrs. Saville, England.",
                                               "St. Petersburgh, Dec. 11th, 17—."), "the heading is read too"
    assert read.chapters[-1].paragraphs[-1].endswith("lost in darkness and distance.")
    text = " ".join(p for c in read.chapters for p in c.paragraphs)
    assert "Gutenberg" not in text and "\r" not in text and "_" not in text, "no licence, no CR, no _emphasis_"


def test_a_utf8_text_without_a_gutenberg_header_has_its_title_page_read() -> None:
    path = book("other/pg22367_die-verwandlung_de_utf8.txt")
    read = read_book(path, name=path.name)
    assert (read.title, read.author, read.language) == ("Die Verwandlung", "Franz Kafka", "")
    assert [c.title for c in read.chapters] == ["I", "II", "III"]
    assert read.chapters[0].paragraphs[0] == "I."
    assert read.chapters[0].paragraphs[1].startswith("Als Gregor Samsa eines Morgens")
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
    assert read.chapters[0].paragraphs == ("One", "It was a dark night, and the rain fell in torrents, except at "
                                           "occasional intervals.")
    assert read.chapters[1].paragraphs == ("Two", "a list item", "The end.")


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
    assert read.chapters[0].paragraphs[0] == "Premier" and read.chapters[0].paragraphs[2] == "Deux mots \u2014 fin."
    assert read.chapters[1].paragraphs[-2:] == ("Une note", "Encore."), "a deeper heading stays in its chapter"


def test_a_kindle_book_reads_as_its_epub_does() -> None:
    """The AZW3 build of the Standard Ebooks test book: the same chapter, words and metadata as the EPUB."""
    path = book("other/se_jane-austen_unknown-novel.azw3")
    assert detect(path, path.name) == "mobi"
    kindle = read_book(path, name=path.name)
    epub = read_book(book("epub/se_jane-austen_unknown-novel.epub"))
    assert [c.title for c in kindle.chapters] == ["I"]
    assert kindle.chapters == epub.chapters
    assert (kindle.title, kindle.author, kindle.year, kindle.publisher) == (epub.title, epub.author, "1900",
                                                                            "Standard Ebooks")


def test_a_damaged_kindle_book_is_refused_with_a_reason(tmp_path: Path) -> None:
    data = book("other/se_jane-austen_unknown-novel.azw3").read_bytes()
    path = tmp_path / "broken.azw3"
    path.write_bytes(data[:2000])  # the header survives, the records do not
    with pytest.raises(EbookError, match="not a readable Kindle book"):
        read_book(path, name=path.name)


FB2 = """<?xml version="1.0" encoding="utf-8"?>
<FictionBook xmlns="http://www.gribuser.ru/xml/fictionbook/2.0" xmlns:l="http://www.w3.org/1999/xlink">
<description><title-info><author><first-name>Ann</first-name><last-name>Writer</last-name></author>
<book-title>Two Tales</book-title><annotation><p>Stories &mdash; two of them.</p></annotation>
<date>1911</date><lang>en</lang><coverpage><image l:href="#cover.png"/></coverpage></title-info></description>
<body><title><p>Two Tales</p></title>
<section><title><p>The First Tale</p></title><epigraph><p>Quiet, please.</p></epigraph>
  <section><title><p>I</p></title><p>{prose}</p><poem><stanza><v>A line of verse,</v><v>and another.</v></stanza></poem>
    <section><title><p>A scene</p></title><p>{prose}</p></section></section>
  <section><title><p>II</p></title><p>{prose}</p></section></section>
<section><title><p>The Second Tale</p></title><p>{prose} It&rsquo;s done.</p></section>
</body>
<body name="notes"><section id="n1"><p>A note that is not read.</p></section></body>
<binary id="cover.png" content-type="image/png">iVBORw0KGgo=</binary>
</FictionBook>"""


def test_a_fictionbook_reads_with_its_sections(tmp_path: Path) -> None:
    prose = "It was the best of times, it was the worst of times, it was the age of wisdom. " * 4
    path = tmp_path / "tales.fb2"
    path.write_text(FB2.format(prose=prose), encoding="utf-8")
    assert detect(path, path.name) == "fb2"
    read = read_book(path, name=path.name)
    assert (read.title, read.author, read.language, read.year) == ("Two Tales", "Ann Writer", "en", "1911")
    assert read.description == "Stories — two of them."
    assert [c.title for c in read.chapters] == ["The First Tale — I", "The First Tale — II", "The Second Tale"]
    first = read.chapters[0].paragraphs
    assert first[:3] == ("The First Tale", "Quiet, please.", "I")  # the tale's page opens its first part
    assert "A line of verse," in first and "A scene" in first  # verse, and a third level inside its chapter
    assert read.chapters[2].paragraphs[-1].endswith("It’s done.")
    assert not any("note" in p for c in read.chapters for p in c.paragraphs)
    assert read.cover is not None and read.cover.data.startswith(b"\x89PNG")
    zipped = tmp_path / "tales.fb2.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(path, "tales.fb2")
    assert detect(zipped, zipped.name) == "fb2zip"
    assert read_book(zipped, name=zipped.name).chapters == read.chapters


def test_a_word_document_from_the_test_books_is_one_chapter() -> None:
    path = book("other/alice_excerpt.docx")
    read = read_book(path, name=path.name)
    assert (read.title, read.author) == ("Alice's Adventures in Wonderland, by Lewis Carroll", "Chuck")
    assert len(read.chapters) == 1 and len(read.chapters[0].paragraphs) == 15
    assert read.chapters[0].paragraphs[0].startswith("the trouble of getting up and picking the daisies")


def test_word_chapters_at_its_headings(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.core_properties.author = "Ann Author"
    document.add_heading("The Book", 0)
    prose = "It was a bright cold day in April, and the clocks were striking thirteen. " * 4  # 40 words: a chapter
    for name in ("One", "Two"):
        document.add_heading(name, 1)
        document.add_paragraph(prose)
        document.add_heading("A section", 2)
        document.add_paragraph("More.")
    path = tmp_path / "book.docx"
    document.save(str(path))
    assert detect(path, "") == "docx", "a ZIP holding word/document.xml, whatever its name"
    read = read_book(path, name=path.name)
    assert (read.title, read.author) == ("The Book", "Ann Author")
    assert [c.title for c in read.chapters] == ["One", "Two"]
    assert read.chapters[0].paragraphs == ("One", prose.strip(), "A section", "More.")


def test_a_pdf_reads_every_word_of_the_same_excerpt_as_the_word_document() -> None:
    pdf, word = book("other/alice_excerpt.pdf"), book("other/alice_excerpt.docx")
    assert detect(pdf, pdf.name) == "pdf"
    from_pdf, from_word = read_book(pdf, name=pdf.name), read_book(word, name=word.name)
    assert (from_pdf.title, from_pdf.author) == ("Alice's Adventures in Wonderland, by Lewis Carroll", "Chuck")
    words = [" ".join(p for c in b.chapters for p in c.paragraphs).split() for b in (from_pdf, from_word)]
    assert words[0] == words[1], "line ends joined, the page break healed, nothing lost"
    assert 12 <= len(from_pdf.chapters[0].paragraphs) <= 15
    assert from_pdf.chapters[0].paragraphs[7].endswith("Do you think you could manage it?) 'And what an "
                                                        "ignorant little girl she'll think me for asking! No, "
                                                        "it'll never do to ask: perhaps I shall see it written "
                                                        "up somewhere.'"), "one paragraph across the page break"


def test_pdf_page_furniture_and_hyphenation(tmp_path: Path) -> None:
    from services.parse.readers.pdf import paragraphs

    line = "a line of ordinary length that goes on to the right margin of the page"
    pages = [f"The Running Head\n{line}\n{line} and a hyphen-\nated word ends here.\n{n}" for n in range(1, 4)]
    assert paragraphs(pages) == [[f"{line} {line} and a hyphenated word ends here."]] * 3


def test_a_password_protected_pdf_is_refused_as_protected(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(str(book("other/alice_excerpt.pdf"))))
    writer.encrypt(user_password="secret", owner_password="owner")
    path = tmp_path / "locked.pdf"
    with open(path, "wb") as handle:
        writer.write(handle)
    with pytest.raises(EbookError, match="the PDF is protected"):
        read_book(path, name=path.name)
