"""No reader, nor the normaliser, the sentence segmenter or the lexicon, takes super-linear time.

A quadratic pattern in the text path froze the parse service (``_a _a _a ...``: 100 KB took 38 s).
Each test here builds an adversarial text of a repeated unit (hypothesis picks the unit, the mix of
pieces in it and where it stands in the book) at a size n and 8n, and asserts the time grows as the
size does: t(8n) < 20 t(n) + 50 ms, where a quadratic pattern takes 64 times as long. Time is this
process's CPU time, so what else runs on the machine does not count. The regression cases at the end
are each a pattern that was quadratic (or worse) before.
"""

from __future__ import annotations

import gc
import html
import io
import re
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import docx
import pysbd
import pytest
from hypothesis import HealthCheck, assume, currently_in_test_context, given, settings
from hypothesis import strategies as st

from services.parse.book import EbookError
from services.parse.formats import read_book
from services.parse.lexicon import Entry, LexiconError, parse_lexicon, speaker_for
from services.parse.readers.docx import read_docx
from services.parse.readers.drafts import clean_title
from services.parse.readers.epub import EDITION
from services.parse.readers.fb2 import read_fb2
from services.parse.readers.html import read_html, read_markdown
from services.parse.readers.pdf import PAGE_NUMBER
from services.parse.readers.plaintext import read_text
from services.parse.readers.xhtml import flatten
from services.parse.segmenter import WINDOW, segment_chapter, sentences
from services.spoken import normalize
from tests.built_epubs import build_epub as build_book
from tests.built_epubs import chapter

T = TypeVar("T")
RATIO, SLACK_S = 20, 0.05
N = 20_000  # characters; 8N is 160 KB
PROSE = "It was a bright cold day in April, and the clocks were striking thirteen. "

# the pieces adversarial text is made of: runs of markup characters, quotes of every kind, numbers with
# separators, abbreviations and initials, whitespace, Roman numerals, heading-like lines, addresses ...
ATOMS = (
    "_", "_a ", "*", "* ", "**", "[", "]", "[1]", "(", ")", "{:", "}", '"', "'", "“", "”", "‘", "’", "«", "»", "„",
    "<", ">", "</", "&", "&amp;", "&#", ";", "1", "1,", "1.", "1,000", ".000", "12:30", "1st", "3%", "$", "€", "¹",
    "†", "Mr. ", "Dr. ", "e.g. ", "St. ", "J. ", "J.", "M. ", "z. B. ", " ", "  ", "\n", "\n\n", " \n", "\t",
    "\u00a0", "IV", "XIV. ", "Chapter ", "CHAPTER I.", "Chapter 1", "Part II", "Henry VIII ", "Kapitel ", "a",
    "word ", "A", "é", "—", "-", "...", "…", ".", ",", ":", "!", "?", "#", "@", "a@b.c", "www.", "by ", "edition",
    "project gutenberg ", "licence ", "***", "=", "|", "~", "\\",
)
UNITS = st.lists(st.sampled_from(ATOMS), min_size=1, max_size=4).map("".join)
EXAMPLES = settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))


def repeat(unit: str, size: int) -> str:
    """``unit`` again and again, ``size`` characters in all."""
    return (unit * (size // len(unit) + 1))[:size]


def _cpu_s(action: Callable[[T], object], argument: T) -> tuple[float, str]:
    """The CPU time ``action`` takes, and what came of it: "read", or why it was refused."""
    gc.collect()
    gc.disable()
    outcome = "read"
    start = time.process_time()
    try:
        action(argument)
    except (EbookError, LexiconError) as exc:
        outcome = str(exc).split(":")[0]  # garbage may well be refused; the time to refuse it counts
    finally:
        elapsed = time.process_time() - start
        gc.enable()
    return elapsed, outcome


def assert_linear(build: Callable[[int], T], action: Callable[[T], object], n: int = N) -> None:
    """``action`` on what ``build`` makes at size 8n takes no more than RATIO times as long as at size n.

    (Where one is refused and the other read, a hypothesis example is passed over: the two times are of
    different work. Charset detection, for one, finds no encoding for some text at one size, not another.)
    """
    small, large = build(n), build(8 * n)
    _cpu_s(action, build(n // 8))  # caches filled, lazy imports done
    (small_s, small_outcome), (large_s, large_outcome) = _cpu_s(action, small), _cpu_s(action, large)
    if currently_in_test_context():
        assume(small_outcome == large_outcome)
    assert large_s < RATIO * small_s + SLACK_S, f"{small_s:.3f} s at size {n:,}, {large_s:.3f} s at {8 * n:,}"


# -- where the adversarial text stands -----------------------------------------------------------------------

TEXT_SHAPES: dict[str, Callable[[str, int], str]] = {
    "paragraph": lambda unit, n: f"A Title\n\nby Some One\n\n{repeat(unit, n)}\n\n{PROSE}\n",
    "lines": lambda unit, n: repeat(unit.replace("\n", " ") + "\n", n),  # one paragraph of many lines
    "paragraphs": lambda unit, n: repeat(unit + "\n\n", n),
    "headings": lambda unit, n: repeat(f"CHAPTER {unit.strip() or 'I'}\n\n{PROSE}\n\n", n),
    "bare": repeat,
}
HTML_SHAPES: dict[str, Callable[[str, int], str]] = {
    "escaped": lambda unit, n: f"<html><body><p>{html.escape(repeat(unit, n))}</p><p>{PROSE}</p></body></html>",
    "markup": lambda unit, n: f"<html><body><p>{repeat(unit, n)}</p></body></html>",  # < and & as they come
    "title": lambda unit, n: f"<html><head><title>{html.escape(repeat(unit, n))}</title></head>"
                             f"<body><p>{PROSE}</p></body></html>",
    "headings": lambda unit, n: "<html><body>" + repeat(f"<h2>{html.escape(unit)}</h2><p>{PROSE}</p>", n)
                                + "</body></html>",
    "long heading": lambda unit, n: f"<html><body><h2>{html.escape(repeat(unit, n))}</h2><p>{PROSE}</p>"
                                    f"<h2>Two</h2><p>{PROSE}</p></body></html>",
    "nested": lambda unit, n: "<html><body>" + "<div><span>" * 100 + html.escape(repeat(unit, n))
                              + "</span></div>" * 100 + "</body></html>",
    "siblings": lambda unit, n: "<html><body><p>" + repeat(f"<b><i><a href='#x'>{html.escape(unit)}</a></i></b>", n)
                                + "</p></body></html>",
}


@EXAMPLES
@given(unit=UNITS, shape=st.sampled_from(sorted(TEXT_SHAPES)), encoding=st.sampled_from(["utf-8", "cp1252"]))
def test_plain_text_is_read_in_linear_time(unit: str, shape: str, encoding: str) -> None:
    assert_linear(lambda n: TEXT_SHAPES[shape](unit + "é", n).encode(encoding, errors="replace"),
                  lambda data: read_text(data, "t"))


@EXAMPLES
@given(unit=UNITS, shape=st.sampled_from([*sorted(TEXT_SHAPES), "metadata"]))
def test_markdown_is_read_in_linear_time(unit: str, shape: str) -> None:
    def build(n: int) -> str:
        if shape == "metadata":
            return f"title: {repeat(unit, n).replace(chr(10), ' ')}\n\n# One\n\n{PROSE}\n"
        return TEXT_SHAPES[shape](unit, n)

    assert_linear(build, lambda text: read_markdown(text, "t"), N // 2)  # markdown-it: 30 µs a character


@EXAMPLES
@given(unit=UNITS, shape=st.sampled_from(sorted(HTML_SHAPES)))
def test_html_is_read_in_linear_time(unit: str, shape: str) -> None:
    assert_linear(lambda n: HTML_SHAPES[shape](unit, n).encode(), lambda data: read_html(data, "t"))


@EXAMPLES
@given(unit=UNITS, shape=st.sampled_from(sorted(HTML_SHAPES)))
def test_an_xhtml_chapter_is_flattened_in_linear_time(unit: str, shape: str) -> None:
    def build(n: int) -> bytes:
        return HTML_SHAPES[shape](unit, n).replace("<html>", '<html xmlns="http://www.w3.org/1999/xhtml">').encode()

    assert_linear(build, lambda data: flatten(data, {"x"}))


def build_epub(folder: Path, name: str, title: str, entry: str, body: str) -> Path:
    """A small EPUB 3: one chapter (``body`` is its XHTML body), its TOC entry named ``entry``."""
    return build_book(folder / name, {"chapter_001.xhtml": chapter(body)}, title, {"chapter_001.xhtml": entry})


@EXAMPLES
@given(unit=UNITS, where=st.sampled_from(["chapter", "toc entry", "book title"]))
def test_an_epub_is_read_in_linear_time(unit: str, where: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("epub")

    def build(n: int) -> Path:
        text = repeat(unit, n)
        body = f"<h1>One</h1><p>{html.escape(text) if where == 'chapter' else PROSE * 3}</p>"
        return build_epub(folder, f"{n}.epub", text if where == "book title" else "Book",
                          text if where == "toc entry" else "One", body)

    assert_linear(build, read_book)


def build_fb2(unit: str, n: int, where: str) -> bytes:
    text = html.escape(repeat(unit, n))
    title = text if where == "book title" else "Book"
    if where == "sections":
        sections = repeat(f"<section><title><p>{html.escape(unit)}</p></title><p>{PROSE * 2}</p></section>", n)
    else:
        heading = text if where == "section title" else "One"
        sections = f"<section><title><p>{heading}</p></title><p>{text if where == 'paragraph' else PROSE}</p></section>"
    return ('<?xml version="1.0" encoding="utf-8"?><FictionBook xmlns="http://www.gribuser.ru/xml/fictionbook/2.0">'
            f"<description><title-info><book-title>{title}</book-title><lang>en</lang></title-info></description>"
            f"<body>{sections}</body></FictionBook>").encode()


@EXAMPLES
@given(unit=UNITS, where=st.sampled_from(["paragraph", "section title", "book title", "sections"]))
def test_fb2_is_read_in_linear_time(unit: str, where: str) -> None:
    assert_linear(lambda n: build_fb2(unit, n, where), lambda data: read_fb2(data, "t"))


def _printable(text: str) -> str:
    """What a Word paragraph can hold (XML 1.0 characters, no line breaks)."""
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\n]", " ", text)


def build_docx(folder: Path, unit: str, n: int, shape: str) -> Path:
    document = docx.Document()
    if shape == "paragraph":
        document.add_paragraph(_printable(repeat(unit, n)))
    elif shape == "headings":
        for _ in range(n // (len(unit) + len(PROSE))):
            document.add_heading(_printable(unit).strip() or "I", level=1)
            document.add_paragraph(PROSE)
    else:  # lines: a text pasted line by line, one paragraph each
        for line in repeat(unit + " of a line\n", n).split("\n"):
            document.add_paragraph(_printable(line))
    path = folder / f"{shape}-{n}.docx"
    document.save(str(path))
    return path


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(unit=UNITS, shape=st.sampled_from(["paragraph", "headings", "lines"]))
def test_a_word_document_is_read_in_linear_time(unit: str, shape: str,
                                                tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("docx")
    assert_linear(lambda n: build_docx(folder, unit, n, shape), lambda path: read_docx(path, "t"), N // 4)


@EXAMPLES
@given(unit=UNITS, language=st.sampled_from(["en", "fr", "de", "it", "fi"]))
def test_the_normaliser_takes_linear_time(unit: str, language: str) -> None:
    assert_linear(lambda n: repeat(unit, n), lambda text: normalize(text, language))


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(unit=UNITS, shape=st.sampled_from(["one paragraph", "paragraphs"]), language=st.sampled_from(["en", "fr"]))
def test_the_segmenter_takes_linear_time(unit: str, shape: str, language: str) -> None:
    def build(n: int) -> list[str]:
        text = repeat(unit, n)
        return [text] if shape == "one paragraph" else [p for p in text.split("\n") if p.strip()] or [text]

    # from a window on: pysbd's own time is quadratic inside one
    assert_linear(build, lambda paragraphs: segment_chapter(paragraphs, language, title="One"), WINDOW)


LEXICON = """\
Hermione = Her-my-oh-nee
St. John = Saint John
st. = street
US = you ess
a.m. = ay em
_ = underscore
[fr]
M. = Monsieur
"""


@EXAMPLES
@given(unit=UNITS)
def test_the_lexicon_is_applied_in_linear_time(unit: str) -> None:
    say = speaker_for(parse_lexicon(LEXICON), "en")
    assert_linear(lambda n: repeat(unit, n), say)


@EXAMPLES
@given(unit=UNITS)
def test_a_lexicon_of_words_sharing_their_beginnings_is_applied_in_linear_time(unit: str) -> None:
    word = re.sub(r"[=#\[\]\s]", "", unit) or "a"
    entries = tuple(Entry("", (word * count)[:100], "x") for count in range(1, 101))
    say = speaker_for(entries, "en")
    assert_linear(lambda n: repeat(word + " ", n), say)


def test_a_lexicon_and_a_text_eight_times_larger_take_eight_times_as_long() -> None:
    """An alternation of every word, tried at each character, took time in the product of the two
    (200 µs a character with 5,000 entries)."""
    words = [f"w{number:05d}x" for number in range(5_000)]

    def build(count: int) -> tuple[tuple[Entry, ...], str]:
        return tuple(Entry("", word, "said") for word in words[:count]), repeat(PROSE, 32 * count)

    def apply(lexicon_and_text: tuple[tuple[Entry, ...], str]) -> str:
        entries, text = lexicon_and_text
        speaker_for.cache_clear()
        return speaker_for(entries, "en")(text)

    assert_linear(build, apply, 625)


# -- the patterns that were super-linear -------------------------------------------------------------------------

def page(body: str, title: str = "") -> bytes:
    return f"<html><head><title>{title}</title></head><body>{body}</body></html>".encode()


REGRESSIONS: dict[str, tuple[Callable[[int], Any], Callable[[Any], object]]] = {
    # "^\s*" over blank lines (Project Gutenberg's markers): each line re-scanned the run after it
    "blank lines": (lambda n: ("x\n" + "\n" * n + "y").encode(), lambda data: read_text(data, "t")),
    # a mail address's name tried from each character of "1.1.1.1..."
    "dotted numbers": (lambda n: repeat("1.", n).encode(), lambda data: read_text(data, "t")),
    # a contents line "Chapter 1    ...": the spaces before a subtitle split every way between two quantifiers
    "spaced contents": (lambda n: (f"Chapter 1{' ' * n}{'x' * 80}\n" * 3).encode(),
                        lambda data: read_text(data, "t")),
    # a title of punctuation, tested as boilerplate ("^\W*(...|.*project gutenberg.*licence.*)")
    "punctuation title": (lambda n: page(f"<h2>{'!' * n}</h2><p>{PROSE * 4}</p><h2>b</h2><p>{PROSE * 4}</p>"),
                          lambda data: read_html(data, "t")),
    # a document title of " by by by ..." (Project Gutenberg's "..., by X, a Project Gutenberg eBook")
    "by title": (lambda n: page(f"<p>{PROSE}</p>", repeat("by ", n)),
                 lambda data: read_html(data, "t")),
    # a footnote marker looked for after each space of a run
    "spaced title": (lambda n: " " * n + "x", clean_title),
    # Markdown metadata with spaces inside its value, a line of unclosed "{:"
    "metadata spaces": (lambda n: f"title: a{' ' * n}b\n\n{PROSE}", lambda text: read_markdown(text, "t")),
    "attribute lists": (lambda n: repeat("{:", n), lambda text: read_markdown(text, "t")),
    # "(Spanish Edition)" looked for after each space of a run, and between many "edition"s
    "edition spaces": (lambda n: " " * n + "x", lambda title: EDITION.sub("", title)),
    "editions": (lambda n: "(" + repeat("edition ", n) + ") x", lambda title: EDITION.sub("", title)),
    # a run of initials before a name looked for from each initial
    "initials": (lambda n: repeat("J. ", n), lambda text: normalize(text, "en")),
    # parts named at the chapters' level: a list searched (by value) for each heading
    "parts": (lambda n: page(repeat(f"<h2>Part I</h2><h2>Chapter 1</h2><p>{PROSE}</p>", n)),
              lambda data: read_html(data, "t")),
    # pysbd re-scans a paragraph for each abbreviation in it; marks after a sentence were added one by one
    "abbreviations": (lambda n: repeat("Mr. ", n), lambda text: sentences(text)),
    "marks": (lambda n: "Yes" + repeat(" .", n), lambda text: sentences(text)),
    # a PDF line "1", spaces, "x" tested as a page number: the spaces split every way between two quantifiers
    "page number": (lambda n: "1" + " " * n + "x", lambda line: PAGE_NUMBER.match(line)),
}


@pytest.mark.parametrize("case", sorted(REGRESSIONS))
def test_a_pattern_that_was_quadratic_is_linear(case: str) -> None:
    build, action = REGRESSIONS[case]
    sizes = {"abbreviations": WINDOW, "marks": WINDOW, "parts": 2 * N}
    assert_linear(build, action, sizes.get(case, N // 4))


def build_styled_docx(path: Path, count: int) -> Path:
    """A Word document of ``count`` headings, each in a paragraph style (and type size) of its own, between
    paragraphs of prose: its package written here, python-docx adds styles in quadratic time."""
    template = io.BytesIO()
    docx.Document().save(template)
    with zipfile.ZipFile(template) as source:
        files = {info.filename: source.read(info) for info in source.infolist()}
    styles = "".join(f'<w:style w:type="paragraph" w:styleId="S{n}"><w:name w:val="Size {n}"/><w:rPr>'
                     f'<w:sz w:val="{28 + n}"/></w:rPr></w:style>' for n in range(count))
    body = "".join(f'<w:p><w:r><w:rPr><w:sz w:val="20"/></w:rPr><w:t>{PROSE * 3}</w:t></w:r></w:p>'
                   f'<w:p><w:pPr><w:pStyle w:val="S{n}"/></w:pPr><w:r><w:t>A heading</w:t></w:r></w:p>'
                   for n in range(count))
    files["word/styles.xml"] = files["word/styles.xml"].replace(b"</w:styles>", styles.encode() + b"</w:styles>")
    files["word/document.xml"] = files["word/document.xml"].replace(b"<w:body>", b"<w:body>" + body.encode())
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def test_a_word_document_of_many_styles_is_read_in_linear_time(tmp_path: Path) -> None:
    """python-docx looks a paragraph's style up among all the document's (and the sizes of headings were
    a list searched per paragraph): 800 headings in styles of their own took 34 s, 100 took 1.2 s."""
    assert_linear(lambda count: build_styled_docx(tmp_path / f"{count}.docx", count),
                  lambda path: read_docx(path, "t"), 100)


def test_the_books_built_here_are_read(tmp_path: Path) -> None:
    """The builders above make books the readers read (the times above are not those of refusals)."""
    path = build_epub(tmp_path, "b.epub", "Book", "One", f"<h1>One</h1><p>{PROSE * 3}</p>")
    assert read_book(path).chapters[0].paragraphs[-1].startswith(PROSE.strip())
    assert read_fb2(build_fb2("a ", 400, "paragraph"), "t").chapters[0].paragraphs[-1].startswith("a a a")
    assert read_docx(build_docx(tmp_path, "Chapter 1 ", 300, "headings"), "t").chapters


def test_a_long_paragraph_is_split_as_pysbd_splits_it_whole() -> None:
    """Read a window at a time, a long paragraph of plain sentences has the sentences it had read at once."""
    words = re.findall(r"\w+", PROSE.lower())
    paragraph = " ".join(f"{' '.join(words[n % 7:n % 7 + 3 + n % 9]).capitalize()}{'.!?'[n % 3]}" for n in range(900))
    assert len(paragraph) > 5 * WINDOW
    whole = [s.strip() for s in pysbd.Segmenter(language="en", clean=False).segment(paragraph)]
    assert sentences(paragraph) == whole
