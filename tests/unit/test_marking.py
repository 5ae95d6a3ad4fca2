"""Sentences wrapped in spans in a book's own XHTML (pure), on markup made for it and on real books."""

from __future__ import annotations

import io
import zipfile

import pytest
from lxml import etree

from services.parse.formats import detect, pieces_of, read_along_text, read_book
from services.parse.plan import segment_book, text_map
from services.parse.readers.marking import Sentence, find_sentences, mark_documents
from tests.conftest import book

XHTML = "http://www.w3.org/1999/xhtml"


def page(body: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><html xmlns="{XHTML}"><head><title>t</title></head>'
            f"<body>{body}</body></html>").encode()


def marked(body: str, *texts: str) -> tuple[etree._Element, dict[str, str], int, int]:
    """The page with ``texts`` marked as s0, s1, ...: its root, each span's text, partial and missing counts."""
    result = mark_documents([("c.xhtml", page(body))], [Sentence(f"s{n}", t) for n, t in enumerate(texts)])
    data = result.documents.get("c.xhtml", page(body))
    root = etree.fromstring(data)
    spans = {el.get("id"): "".join(el.itertext()) for el in root.iter(f"{{{XHTML}}}span") if el.get("id")}
    return root, spans, result.partial, result.missing


def text_of(root: etree._Element) -> str:
    return "".join(root.itertext())


def test_sentences_in_one_run_of_text_each_get_a_span() -> None:
    root, spans, partial, missing = marked("<p>One fine day. Then it rained!</p>", "One fine day.", "Then it rained!")
    assert spans == {"s0": "One fine day.", "s1": "Then it rained!"}
    assert (partial, missing) == (0, 0)
    assert text_of(root) == "tOne fine day. Then it rained!", "the text is unchanged"


def test_a_sentence_across_inline_markup_takes_the_markup_into_its_span() -> None:
    root, spans, partial, _ = marked("<p>It was a <i>quiet</i> day. <b>Night</b> fell.</p>",
                                     "It was a quiet day.", "Night fell.")
    assert spans == {"s0": "It was a quiet day.", "s1": "Night fell."}
    assert partial == 0
    s0 = next(el for el in root.iter(f"{{{XHTML}}}span") if el.get("id") == "s0")
    assert [etree.QName(child).localname for child in s0] == ["i"], "the emphasis is kept, inside the span"
    assert text_of(root) == "tIt was a quiet day. Night fell."


def test_a_sentence_that_ends_where_an_element_ends_is_wrapped_whole() -> None:
    _, spans, partial, _ = marked("<p><em>Go away.</em> He left. <a href='#x'>See the note.</a></p>",
                                  "Go away.", "He left.", "See the note.")
    assert spans == {"s0": "Go away.", "s1": "He left.", "s2": "See the note."}
    assert partial == 0


def test_a_sentence_begun_inside_an_element_and_ended_outside_it_is_marked_in_part() -> None:
    root, spans, partial, missing = marked("<p><i>Go. Now</i> he said.</p>", "Go.", "Now he said.")
    assert spans["s0"] == "Go." and spans["s1"] == "Now", "its first run of text carries its id"
    assert (partial, missing) == (1, 0)
    assert text_of(root) == "tGo. Now he said."


def test_breaks_skipped_markup_and_entities_read_as_the_reader_reads_them() -> None:
    body = ("<p>First&#160;line<br/>second line. Page<span class='pagenum'>12</span> turned.</p>"
            "<p>Soft\u00adly\u200b said.</p>")
    _, spans, partial, missing = marked(body, "First line second line.", "Page turned.", "Softly said.")
    assert set(spans) == {"s0", "s1", "s2"} and (partial, missing) == (0, 0)
    assert "12" in spans["s1"], "a page number inside the sentence stays where it was, inside the span"


def test_a_sentence_the_book_does_not_have_is_missing_and_the_rest_are_marked() -> None:
    _, spans, _, missing = marked("<p>Alpha. Beta.</p>", "Alpha.", "Gamma.", "Beta.")
    assert set(spans) == {"s0", "s2"} and missing == 1


def test_a_document_that_is_not_well_formed_is_left_as_it_is() -> None:
    broken = page("<p>Alpha. <b>Beta.</p>")
    result = mark_documents([("c.xhtml", broken)], [Sentence("s0", "Alpha.")])
    assert result.documents == {} and result.missing == 1


def test_a_short_sentence_is_looked_for_near_the_last_one_a_long_one_anywhere() -> None:
    text = "Yes. " + "x " * 20_000 + "Yes. A sentence long enough to be unique in any book at all."
    found = find_sentences(text, [Sentence("a", "Yes."), Sentence("b", "No."),
                                  Sentence("c", "A sentence long enough to be unique in any book at all.")])
    assert found[0] == (0, 4) and found[1] is None and found[2] is not None


@pytest.mark.parametrize("relative", ["epub/alice_epub3-nav-only_epubjs.epub", "epub/pg14155_madame-bovary_fr.epub",
                                      "epub/pg22367_die-verwandlung_de.epub", "epub/se_jane-austen_unknown-novel.epub"])
def test_every_sentence_of_a_real_epub3_is_marked_in_its_own_xhtml(relative: str) -> None:
    """Real books by other hands: each sentence read aloud has a span whose text is the sentence,
    and every file of the book but the marked documents is the same bytes."""
    source = book(relative)
    parsed = read_book(source)
    pieces = pieces_of(text_map("j", [c.title for c in parsed.chapters], segment_book(parsed, 600)))
    result = read_along_text(source, detect(source), parsed, pieces, "j")
    assert result.original and result.marked == result.sentences
    assert result.partial <= result.sentences // 100
    wanted = {f"ra-{c}-{s}-{p}-{n}": " ".join(text.split())
              for c, chapter in enumerate(pieces) for s, segment in enumerate(chapter)
              for p, (_, texts) in enumerate(segment) for n, text in enumerate(texts)}
    spans: dict[str, str] = {}
    with zipfile.ZipFile(source) as before, zipfile.ZipFile(io.BytesIO(result.epub)) as after:
        files = sorted(name for name in before.namelist() if not name.endswith("/"))
        assert files == sorted(after.namelist())
        for name in files:
            if before.read(name) == after.read(name):
                continue
            root = etree.fromstring(after.read(name))
            assert text_of(root) == text_of(etree.fromstring(before.read(name))), f"{name}: its text is the same"
            spans.update({el.get("id"): " ".join("".join(el.itertext()).split())
                          for el in root.iter(f"{{{XHTML}}}span") if (el.get("id") or "").startswith("ra-")})
    whole = [key for key in wanted if spans.get(key) == wanted[key]]
    assert len(whole) >= len(wanted) - result.partial
    assert set(spans) == set(wanted)


def test_any_other_book_becomes_an_epub3_of_its_chapters() -> None:
    source = book("other/alice_excerpt.docx")
    parsed = read_book(source)
    pieces = pieces_of(text_map("j", [c.title for c in parsed.chapters], segment_book(parsed, 600)))
    result = read_along_text(source, detect(source), parsed, pieces, "j")
    assert not result.original and result.marked == result.sentences > 20
    with zipfile.ZipFile(io.BytesIO(result.epub)) as archive:
        text = b"".join(archive.read(n) for n in archive.namelist() if n.endswith(".xhtml"))
    assert text.count(b'id="ra-') == result.sentences
