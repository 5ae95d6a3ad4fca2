"""TOC extraction on every test EPUB: chapter counts and titles as the TOC says, minus boilerplate."""

import zipfile
from pathlib import Path

import pytest

from services.parse.book import EbookError
from services.parse.limits import BookLimits
from services.parse.readers.archive import check_archive
from services.parse.readers.epub import read_epub
from tests.conftest import book

ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV"]

EXPECTED = {
    # file: (language, titles)
    "epub/alice_epub3-nav-only_epubjs.epub": ("en-US", [
        "Down The Rabbit-Hole", "The Pool Of Tears", "A Caucus-Race And A Long Tale",
        "The Rabbit Sends In A Little Bill", "Advice From A Caterpillar", "Pig And Pepper", "A Mad Tea-Party",
        "The Queen's Croquet Ground", "Who Stole The Tarts?", "Alice's Evidence",
    ]),
    # TOC: 2 title lines + CONTENTS + Letters 1-4 + Chapters 1-24 + licence; the book is letters and chapters.
    "epub/pg84_frankenstein_epub2-ncx.epub": ("en", [f"Letter {n}" for n in range(1, 5)]
                                              + [f"Chapter {n}" for n in range(1, 25)]),
    # TOC: 35 chapters in three parts, then the licence. The labels repeat ("II" once per part) and
    # only each part's first names the part ("PREMIÈRE PARTIE I"): every title keeps its part.
    "epub/pg14155_madame-bovary_fr.epub": ("fr", [f"{part} PARTIE — {n}" for part, count in (
        ("PREMIÈRE", 9), ("DEUXIÈME", 15), ("TROISIÈME", 11)) for n in ROMAN[:count]]),
    # TOC: title, I., II., III., licence.
    "epub/pg22367_die-verwandlung_de.epub": ("de", ["I", "II", "III"]),  # a title's closing period is not kept
    # TOC: Titlepage, Imprint, I, Colophon, Uncopyright.
    "epub/se_jane-austen_unknown-novel.epub": ("en-GB", ["I"]),
    "edge/se_jane-austen_unknown-novel_advanced_svg-cover.epub": ("en-GB", ["I"]),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_chapters_follow_the_toc(name: str) -> None:
    language, titles = EXPECTED[name]
    parsed = read_epub(book(name))
    assert [c.title for c in parsed.chapters] == titles
    assert parsed.language == language
    assert all(c.paragraphs for c in parsed.chapters)


def test_anchor_chapters_are_cut_at_the_right_place() -> None:
    """Die Verwandlung is one XHTML file: chapters start at their #fragment headings."""
    chapters = read_epub(book("epub/pg22367_die-verwandlung_de.epub")).chapters
    assert chapters[0].paragraphs[0] == "I."
    assert chapters[0].paragraphs[1].startswith("Als Gregor Samsa eines Morgens aus unruhigen Träumen erwachte")
    assert chapters[1].paragraphs[0] == "II." and chapters[2].paragraphs[0] == "III."
    assert chapters[2].paragraphs[-1].endswith("als erste sich erhob und ihren jungen Körper dehnte.")


def test_bovary_parts_do_not_bleed_into_each_other() -> None:
    chapters = read_epub(book("epub/pg14155_madame-bovary_fr.epub")).chapters
    assert chapters[0].paragraphs[2].startswith("Nous étions à l'Étude")
    assert chapters[-1].paragraphs[-1] == "Il vient de recevoir la croix d'honneur."


def test_no_boilerplate_is_read() -> None:
    for name in EXPECTED:
        text = " ".join(p for c in read_epub(book(name)).chapters for p in c.paragraphs)
        for phrase in ("Project Gutenberg", "PROJECT GUTENBERG", "Standard Ebooks", "Uncopyright",
                       "CONTENTS", "[Pg", "Illo1"):
            assert phrase not in text, (name, phrase)


def test_front_matter_is_dropped_from_the_short_book() -> None:
    """~90% of the SE test book is front and back matter; only the chapter is read."""
    parsed = read_epub(book("epub/se_jane-austen_unknown-novel.epub"))
    words = sum(len(p.split()) for c in parsed.chapters for p in c.paragraphs)
    assert 60 <= words <= 80


def test_metadata_and_cover() -> None:
    alice = read_epub(book("epub/alice_epub3-nav-only_epubjs.epub"))
    assert (alice.title, alice.author) == ("Alice's Adventures in Wonderland", "Lewis Carroll")
    assert alice.cover is not None and alice.cover.media_type == "image/jpeg" and alice.cover.data[:2] == b"\xff\xd8"
    frank = read_epub(book("epub/pg84_frankenstein_epub2-ncx.epub"))
    assert frank.cover is not None and len(frank.cover.data) > 10_000


def test_image_alt_text_and_page_numbers_are_not_read() -> None:
    text = " ".join(read_epub(book("epub/alice_epub3-nav-only_epubjs.epub")).chapters[0].paragraphs)
    assert "Illo" not in text and "[Pg" not in text
    assert "Alice was beginning to get very tired" in text


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("edge/not-an-epub.epub", "not a zip archive"),
        ("edge/not-an-epub-but-a-zip.epub", "no META-INF/container.xml"),
        ("edge/alice_without_cover_minimal.epub", "no readable text"),
    ],
)
def test_broken_inputs_are_rejected_with_a_reason(name: str, reason: str) -> None:
    with pytest.raises(EbookError, match=reason):
        read_epub(book(name))


ALICE_TITLES = EXPECTED["epub/alice_epub3-nav-only_epubjs.epub"][1]


@pytest.mark.parametrize(("variant", "lost", "warning"), [
    ("missing-file", "A Caucus-Race And A Long Tale", "chapter_003.xhtml is listed in the book but missing"),
    ("duplicate-id", None, "the manifest names id 'chapter_004' twice; its second file (old/chapter_004.xhtml)"),
    ("encoded-and-cased-hrefs", None, None),
    ("bad-xhtml", "A Mad Tea-Party", "chapter_007.xhtml is not readable XHTML"),
])
def test_a_broken_part_is_skipped_and_named(variant: str, lost: str | None, warning: str | None,
                                             tmp_path: Path) -> None:
    """A damaged chapter does not cost the book: the rest converts and the loss is named."""
    from tests.broken_epubs import broken_alice

    parsed = read_epub(broken_alice(variant, tmp_path))
    assert [c.title for c in parsed.chapters] == [t for t in ALICE_TITLES if t != lost]
    assert [w for w in parsed.warnings if warning and warning in w] == list(parsed.warnings)
    assert len(parsed.warnings) == (1 if warning else 0)


def _nested_book(path: Path) -> Path:
    """Two stories, each with numbered sections (and a third level), a part page of three words,
    and everything under one root entry, as some converters write it."""
    from ebooklib import epub

    made = epub.EpubBook()
    made.set_identifier("nested")
    made.set_title("Tales")
    made.set_language("en")
    prose = "It was a long and quiet evening, and nothing at all happened for a while, until it did. " * 3

    def page(name: str, heading: str, paragraphs: int = 2, anchor: str = "") -> epub.EpubHtml:
        item = epub.EpubHtml(title=heading, file_name=name, lang="en")
        extra = f'<h3 id="{anchor}">A finer mark</h3><p>{prose}</p>' if anchor else ""
        item.content = f"<html><body><h2>{heading}</h2>{('<p>' + prose + '</p>') * paragraphs}{extra}</body></html>"
        made.add_item(item)
        return item

    pages = [page("bug1.xhtml", "I."), page("bug2.xhtml", "II.", anchor="deep"), page("part.xhtml", "Part Two", 0),
             page("purloined1.xhtml", "I."), page("purloined2.xhtml", "II.")]
    made.toc = [(epub.Section("Tales"), [
        (epub.Section("The Gold-Bug", "bug1.xhtml"), [
            epub.Link("bug1.xhtml", "I.", "b1"),
            (epub.Section("II.", "bug2.xhtml"), [epub.Link("bug2.xhtml#deep", "A finer mark", "deep")]),
        ]),
        epub.Link("part.xhtml", "Part Two", "part"),
        (epub.Section("The Purloined Letter"), [
            epub.Link("purloined1.xhtml", "I.", "p1"), epub.Link("purloined2.xhtml", "II.", "p2")]),
    ])]
    made.spine = pages
    made.add_item(epub.EpubNcx())
    made.add_item(epub.EpubNav())
    epub.write_epub(str(path), made)
    return path


def test_nested_toc_titles_keep_their_parents(tmp_path: Path) -> None:
    """Sub-entries are chapters titled with their parent's name; a third level is a mark inside its
    chapter; a part page of three words is read with the chapter after it."""
    parsed = read_epub(_nested_book(tmp_path / "tales.epub"))
    assert [c.title for c in parsed.chapters] == [
        "The Gold-Bug — I", "The Gold-Bug — II", "The Purloined Letter — I", "The Purloined Letter — II"]
    assert parsed.chapters[2].paragraphs[:2] == ("Part Two", "I.")  # the part's page opens the next chapter
    assert "A finer mark" in parsed.chapters[1].paragraphs


@pytest.mark.parametrize("title", ["Transcriber's Note", "TRANSCRIBER’S NOTES", "Index", "Contents"])
def test_back_matter_entries_are_not_chapters(title: str) -> None:
    from services.parse.readers.drafts import Draft, keep
    from services.parse.readers.xhtml import Block

    prose = Block("It was the best of times, it was the worst of times, it was the age of wisdom, it was the age. " * 2)
    kept = keep([Draft("Chapter 1", [prose]), Draft(title, [prose])])
    assert [d.title for d in kept] == ["Chapter 1"]


def test_a_transcribers_note_inside_a_chapter_is_not_read() -> None:
    from services.parse.readers.xhtml import Block, flatten

    page = (b'<html xmlns="http://www.w3.org/1999/xhtml"><body><div class="transnote"><p>Obvious typos fixed.</p>'
            b"</div><p>The story begins.</p></body></html>")
    assert [b.text for b in flatten(page, set()) if isinstance(b, Block)] == ["The story begins."]


@pytest.mark.parametrize(("titles", "unique"), [
    (["Chapter 1", "Chapter 2"], ["Chapter 1", "Chapter 2"]),
    (["BOOK ONE 1", "2", "BOOK TWO 1", "2"], ["BOOK ONE — 1", "BOOK ONE — 2", "BOOK TWO — 1", "BOOK TWO — 2"]),
    (["Chapter 1", "Notes", "Chapter 2", "Notes"], ["Chapter 1", "Notes", "Chapter 2", "Notes (2)"]),
    (["Notes", "Notes"], ["Notes", "Notes (2)"]),
])
def test_titles_are_made_unique(titles: list[str], unique: list[str]) -> None:
    from services.parse.readers.drafts import unique_titles

    assert unique_titles(titles) == unique


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def test_zip_bomb_is_refused(tmp_path: Path) -> None:
    bomb = _zip(tmp_path / "bomb.epub", {"META-INF/container.xml": b"<x/>", "big.xhtml": b"\0" * (3 * 2**20)})
    with pytest.raises(EbookError, match="unpacks to more than 2 MiB"):
        check_archive(bomb, BookLimits(max_unpacked_bytes=2 * 2**20))


def test_escaping_entry_names_are_refused(tmp_path: Path) -> None:
    evil = _zip(tmp_path / "evil.epub", {"META-INF/container.xml": b"<x/>", "../../etc/passwd": b"x"})
    with pytest.raises(EbookError, match="unsafe path"):
        check_archive(evil)


def test_zip_that_understates_its_size_is_refused(tmp_path: Path) -> None:
    """Headers claim 100 bytes for 5 MiB of data: reading stops at the claim and fails the CRC."""
    import struct

    path = _zip(tmp_path / "liar.epub", {
        "mimetype": b"application/epub+zip",
        "META-INF/container.xml": (
            b'<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
            b'<rootfiles><rootfile full-path="content.opf" media-type="application/oebps-package+xml"/>'
            b"</rootfiles></container>"),
        "content.opf": b"a" * (5 * 2**20),
    })
    data = path.read_bytes()
    real = struct.pack("<I", 5 * 2**20)
    assert data.count(real) == 2  # local header and central directory
    path.write_bytes(data.replace(real, struct.pack("<I", 100)))
    with pytest.raises(EbookError, match="not a readable EPUB: the zip archive is damaged"):
        check_archive(path)  # inflating stops at the declared 100 bytes and the CRC fails
    with pytest.raises(EbookError, match="not a readable EPUB"):
        read_epub(path)


XHTML11 = (b'<?xml version="1.0" encoding="%s"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" '
           b'"http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">\n<html xmlns="http://www.w3.org/1999/xhtml"><body>'
           b"<p>%s</p></body></html>")


@pytest.mark.parametrize(("markup", "read"), [
    (b"Hello&nbsp;world &mdash; it&rsquo;s", "Hello world \u2014 it\u2019s"),  # the case from the issue
    (b"caf&eacute; na&iuml;ve &AElig;sop", "caf\u00e9 na\u00efve \u00c6sop"),
    (b"&ldquo;Quoted&rdquo; &lsquo;single&rsquo; &laquo;guillemets&raquo;",
     "\u201cQuoted\u201d \u2018single\u2019 \u00abguillemets\u00bb"),
    (b"Wait&hellip; &ndash; then", "Wait\u2026 \u2013 then"),
    (b"extra&shy;ordinary zero&#8203;width", "extraordinary zerowidth"),  # soft hyphens and zero-width spaces vanish
    # XML's own and numeric references are kept; an unknown name is dropped
    (b"&amp; &lt;tag&gt; &#233; &#x263A; &unknownentity;", "& <tag> \u00e9 \u263a"),
])
def test_every_character_of_the_text_survives(markup: bytes, read: str) -> None:
    from services.parse.readers.xhtml import Block, flatten

    for encoding in (b"utf-8", b"iso-8859-1"):
        blocks = [b for b in flatten(XHTML11 % (encoding, markup), set()) if isinstance(b, Block)]
        assert [b.text for b in blocks] == [read], encoding
