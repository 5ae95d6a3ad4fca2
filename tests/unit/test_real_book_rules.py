"""The rules real books needed (pure): segments with words, language from the body, chapters as
their makers laid them out. The corpus (tests/corpus) checks them on real books; these pin each."""

from __future__ import annotations

from pathlib import Path

import pytest

from events.audio import decoration, speakable
from services.parse.book import Book, Chapter
from services.parse.formats import read_book
from services.parse.language import book_language, detect, samples
from services.parse.readers.drafts import at_headings, boilerplate, chapter_levels, clean_title, keep, kept_or_all
from services.parse.readers.html import book_title, markdown_metadata
from services.parse.readers.pdf import Line, page_blocks
from services.parse.readers.plaintext import heading, text_book, unwrap_emphasis
from services.parse.readers.xhtml import Block
from services.parse.segmenter import segment_chapter, sentences
from services.spoken import normalize
from tests.conftest import book

PROSE = "It was a bright cold day in April, and the clocks were striking thirteen, as they always did. " * 3


@pytest.mark.parametrize(("paragraph", "expected"), [
    ("He said, “Go away.” ’ Then he left.", ["He said, “Go away.” ’ Then he left."]),
    ("Wait.. . what?", ["Wait.. .", "what?"]),  # '. .' joins the sentence it closes
    ("’ Hello there.", ["’ Hello there."]),  # at the start: joins the sentence after it
    ("Hello there.  * * *  Next one.", ["Hello there.", "* * *  Next one."]),
    ("* * *", []), ("…", []), ("[…]", []), ("”", []),  # a paragraph without words has nothing to say
])
def test_every_sentence_holds_words(paragraph: str, expected: list[str]) -> None:
    assert sentences(paragraph) == expected
    assert all(speakable(s) for s in sentences(paragraph))


def test_no_segment_without_words_even_at_a_chapters_start() -> None:
    segments = segment_chapter(["”", "It began.", "* * *", "’", "And it ended."], "en", 12, title="I")
    assert [s.paragraphs for s in segments] == [("It began.",), ("And it ended.",)]


def test_ornaments_are_not_read_punctuation_is() -> None:
    assert decoration("* * *") and decoration("❦") and decoration("# #") and decoration("†")
    assert not decoration("’") and not decoration("—") and not decoration("%") and not decoration("€")
    assert normalize("* * * Next one ~ and •", "en") == "Next one and"
    assert normalize("fifty %", "en") == "fifty %"


def test_the_language_is_voted_by_the_body_not_its_first_line() -> None:
    german = "Gregor Samsa erwachte eines Morgens aus unruhigen Träumen und fand sich verwandelt. " * 4
    english = "Produced by Norbert H. Langkau, Jorge Barrera and the Online Distributed Proofreading Team."
    assert detect(english[:90] + " " + german * 5)[0] == "de", "the whole text is judged, not its first 80 characters"
    chapters = (Chapter("1", (english, *(german,) * 20)), Chapter("2", (german,) * 20))
    for declared in ("de", "en", ""):
        assert book_language(Book("T", "", declared, chapters)).language == "de"
    italian = ("Nel mezzo del cammin di nostra vita mi ritrovai per una selva oscura, "
               "ché la diritta via era smarrita. ") * 4
    epigraph = Chapter("Epigraph", ("Abandon all hope, ye who enter here: the words written over the gate.",))
    assert book_language(Book("T", "", "", (epigraph, Chapter("I", (italian,) * 30)))).language == "it"
    bilingual = (Chapter("1", (german,) * 10), Chapter("2", (italian,) * 10))
    assert book_language(Book("T", "", "de", bilingual)).language == "de", "no clear majority: the declaration stands"


def test_samples_are_spread_over_the_whole_book() -> None:
    chapters = tuple(Chapter(str(n), (f"Paragraph {n} " + "word " * 300,)) for n in range(40))
    taken = samples(Book("T", "", "", chapters))
    assert len(taken) == 9 and taken[0].startswith("Paragraph 2 ") and taken[-1].startswith("Paragraph 37 ")


@pytest.mark.parametrize(("lines", "title"), [
    (["Chapter the First"], "Chapter the First"), (["Erstes Kapitel"], "Erstes Kapitel"),
    (["Livre premier"], "Livre premier"), (["EERSTE HOOFDSTUK[1]"], "EERSTE HOOFDSTUK"),
    (["   CHAPTER IV."], "CHAPTER IV"), (["CHAPTER I.", "THE POOL."], "CHAPTER I"), (["XII"], "XII"),
    (["DI"], ""), (["MIX."], ""),  # Roman numerals of 501 and 1009 alone are words of a title page
    (["His book was gone."], ""), (["Part of the problem."], ""), (["Last chapter of my life."], ""),
    (["Part of the problem was that he never went to the shop and", "bought anything at all."], ""),
])
def test_text_headings(lines: list[str], title: str) -> None:
    assert heading(lines) == title


def test_a_text_book_with_headings_in_words_and_a_contents_list() -> None:
    body = "\n\n".join([
        "THE TITLE", "CONTENTS", " I Introduction\n II The Machine\n III The End", "Erstes Kapitel", PROSE,
        "Zweites Kapitel", PROSE, "Drittes Kapitel", PROSE])
    read = text_book(body, "fallback")
    assert [c.title for c in read.chapters] == ["Erstes Kapitel", "Zweites Kapitel", "Drittes Kapitel"]


def test_a_text_book_with_parts_over_chapters() -> None:
    body = "\n\n".join(["PART I", "CHAPTER I", PROSE, "CHAPTER II", PROSE, "PART II", "CHAPTER I", PROSE])
    assert [c.title for c in text_book(body, "x").chapters] == [
        "PART I — CHAPTER I", "PART I — CHAPTER II", "PART II — CHAPTER I"]


def test_titles_in_capitals_when_a_text_has_no_other_headings() -> None:
    body = "\n\n".join(["LA TORTUGA GIGANTE", PROSE, PROSE, "EL LORO PELADO", PROSE])
    assert [c.title for c in text_book(body, "Cuentos").chapters] == ["LA TORTUGA GIGANTE", "EL LORO PELADO"]


def test_emphasis_is_unwrapped_in_one_pass() -> None:
    assert unwrap_emphasis("He said _a few words_, then _left_.") == "He said a few words, then left."
    assert unwrap_emphasis("snake_case_name and _unclosed") == "snake_case_name and _unclosed"
    hostile = "_a " * 200_000  # quadratic for the pattern it replaced: minutes; here a linear scan
    assert unwrap_emphasis(hostile) == hostile


def _blocks(*spec: tuple[int, str]) -> list[Block]:
    return [Block(text, heading=bool(level), level=level) for level, text in spec]


def test_a_title_page_in_h2_over_chapters_in_h3() -> None:
    blocks = _blocks((2, "PRIDE AND PREJUDICE"), (2, "by Jane Austen"), (3, "Chapter 1"), (0, PROSE),
                     (3, "Chapter 2"), (0, PROSE), (3, "Chapter 3"), (0, PROSE))
    assert chapter_levels(blocks) == (3, 0)
    drafts, _ = at_headings(blocks, "")
    assert [d.title for d in kept_or_all(drafts)] == ["Chapter 1", "Chapter 2", "Chapter 3"]


def test_chapters_with_sections_stay_chapters_and_parts_name_their_chapters() -> None:
    sections = _blocks((2, "One"), (0, PROSE), (3, "A"), (0, PROSE), (3, "B"), (0, PROSE),
                       (2, "Two"), (0, PROSE), (3, "C"), (0, PROSE), (3, "D"), (0, PROSE))
    assert chapter_levels(sections)[0] == 2
    parts = _blocks((2, "Book One"), (3, "I"), (0, PROSE), (3, "II"), (0, PROSE),
                    (2, "Book Two"), (3, "I"), (0, PROSE), (3, "II"), (0, PROSE))
    drafts, _ = at_headings(parts, "")
    assert [d.title for d in kept_or_all(drafts)] == ["Book One — I", "Book One — II", "Book Two — I", "Book Two — II"]


def test_a_part_heading_set_like_a_chapter_is_put_above_it() -> None:
    blocks = _blocks((1, "PART I."), (1, "CHAPTER I. MR. HOLMES"), (0, PROSE), (1, "CHAPTER II. DEDUCTION"), (0, PROSE),
                     (1, "PART II."), (1, "CHAPTER I. THE PLAIN"), (0, PROSE))
    drafts, _ = at_headings(blocks, "", front=False)
    assert [clean_title(d.title) for d in kept_or_all(drafts)] == [
        "PART I — CHAPTER I. MR. HOLMES", "PART I — CHAPTER II. DEDUCTION", "PART II — CHAPTER I. THE PLAIN"]


@pytest.mark.parametrize(("title", "clean"), [
    ("Chapter XXII[1]", "Chapter XXII"), ("CHAPITRE XVIII Ce qu’ils virent dans le pays d’Eldorado[1].",
                                         "CHAPITRE XVIII Ce qu’ils virent dans le pays d’Eldorado"),
    ("Preface*", "Preface"), ("Notes¹", "Notes"), ("I.", "I"), ("And so on...", "And so on..."), ("A*B", "A*B"),
])
def test_titles_lose_note_markers_and_a_closing_period(title: str, clean: str) -> None:
    assert clean_title(title) == clean


@pytest.mark.parametrize("title", ["Transcriber's Notes", "TRANSCRIBER’S NOTE:", "Note from the Transcriber",
                                   "Anmerkungen zur Transkription", "Note du transcripteur", "Informazioni",
                                   "A Propos", "Bibliography", "ERRATA", "Índice"])
def test_parts_that_are_not_the_book(title: str) -> None:
    assert boilerplate(title)


def test_producer_pages_and_lines_are_not_read() -> None:
    from services.parse.readers.drafts import Draft

    drafts = [Draft("Note", [Block("Produced by Jane Doe and the Online Distributed Proofreading Team.")]),
              Draft("I", [Block(PROSE), Block("Achevé d'imprimer en France le 5 Novembre 2016."),
                          Block("www.feedbooks.com Food for the mind"), Block("A note back to its marker. ↩︎")]),
              Draft("Nota redakcyjna", [Block("Przygotowanie oraz konwersja do formatów EPUB i MOBI: "
                                              "maciej@example.com Źródło: WikiŹródła http://pl.wikisource.org")])]
    kept = keep(drafts)
    assert [(d.title, [b.text for b in d.blocks]) for d in kept] == [("I", [PROSE])]


def test_markdown_metadata_is_not_read() -> None:
    meta, rest = markdown_metadata('---\ntitle: "The Book"\nauthor: Ann\ntoc:\n- One\n---\n\n## One\n')
    assert meta == {"title": "The Book", "author": "Ann"} and rest.strip() == "## One"
    meta, rest = markdown_metadata("# Title: The Prisoner of Zenda\n\n## Author: Anthony Hope\n\n-----\n\n## I\n")
    assert meta == {"title": "The Prisoner of Zenda", "author": "Anthony Hope"} and rest.strip() == "## I"
    assert markdown_metadata("% The Book\n% Ann\n\nText")[0] == {"title": "The Book", "author": "Ann"}


def test_gutenberg_html_titles() -> None:
    assert book_title("The Project Gutenberg eBook of The Time Machine, by H. G. Wells") == "The Time Machine"
    assert book_title("Ontboezemingen by Gabriël, a Project Gutenberg eBook") == "Ontboezemingen"


def test_pdf_headings_by_type_size_and_a_drop_capital() -> None:
    body = [Line("a line of ordinary length that goes on to the right margin of the page", 12.0)] * 3
    pages = [[Line("CHAPTER I. MR.", 24.8), Line("SHERLOCK HOLMES.", 24.8), Line("I", 29.5),
              Line("N the year 1878 I took my degree", 12.0), *body]]
    blocks = [block for page in page_blocks(pages) for block in page]
    assert blocks[0].heading and blocks[0].text == "CHAPTER I. MR. SHERLOCK HOLMES."
    assert blocks[1].text.startswith("IN the year 1878")


def test_a_word_document_with_no_heading_styles_takes_its_title_and_chapters_from_type_size(tmp_path: Path) -> None:
    import docx
    from docx.shared import Pt

    document = docx.Document()
    for text, size in [("Hans in Luck", 36), ("The First Part", 18), (PROSE, 11), ("The Second Part", 18), (PROSE, 11)]:
        document.add_paragraph().add_run(text).font.size = Pt(size)
    path = tmp_path / "story.docx"
    document.save(str(path))
    read = read_book(path, name=path.name)
    assert read.title == "Hans in Luck" and [c.title for c in read.chapters] == ["The First Part", "The Second Part"]


def test_a_pdf_outline_two_levels_deep(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(str(book("other/alice_excerpt.pdf"))))
    writer.add_outline_item("Down the Rabbit-Hole", 0, parent=writer.add_outline_item("Part One", 0))
    writer.add_outline_item("Onwards", 1, parent=writer.add_outline_item("Part Two", 1))
    path = tmp_path / "nested.pdf"
    with open(path, "wb") as handle:
        writer.write(handle)
    assert [c.title for c in read_book(path, name=path.name).chapters] == [
        "Part One — Down the Rabbit-Hole", "Part Two — Onwards"]


def test_a_heading_that_is_only_a_number_is_said_as_one() -> None:
    from services.parse.plan import plan_job
    from services.spoken import numbered_heading
    from services.voices import resolve_voice

    assert [numbered_heading(t, lang) for t, lang in [("I", "en"), ("II.", "en"), ("XII", "de"), ("3.", "fr")]] == [
        "One", "Two.", "Zwölf", "Trois."]
    assert numbered_heading("Chapter I", "en") == "Chapter I" and numbered_heading("I", "la") == "I"
    plan = plan_job(Book("T", "", "en", (Chapter("I", ("I", PROSE)),)), "j", resolve_voice("test", "short"), 1.0, 400)
    assert plan.jobs[0][1].paragraphs == ("One",), "not the word 'I'"
