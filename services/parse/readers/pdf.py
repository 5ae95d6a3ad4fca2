"""Read a PDF into a Book with pypdf: its text as a reader sees it, without the page furniture.

* Each line's type size is read with the text (pypdf's text visitor): a line set clearly larger
  than the book's body text is a heading, lines of one heading on one page are joined ("CHAPTER
  I. MR." over "SHERLOCK HOLMES.") and a drop capital is joined to its word.
* Page numbers (a line that is only a number, ``Page 12``, ``- 12 -``) and running heads and feet
  (a first or last line that recurs, digits aside, on three pages or more) are dropped; a word
  hyphenated at a line end is joined.
* Lines are joined into paragraphs: a paragraph ends at a blank line, at a heading, or after a
  line that ends a sentence and is clearly shorter than the page's usual line.
* Chapters: the PDF's outline (bookmarks) when at least two of its entries lead to a page, two
  levels deep as in an EPUB ("Part One — Chapter I"), each from its heading on that page;
  otherwise its headings by type size, at the level that gives chapters
  (:func:`services.parse.readers.drafts.chapter_levels`); with none, heading lines as in a text file.
* The title is the document's, unless that is missing or a file name: then the first page's
  largest line.
* An encrypted PDF that opens with no password is read; one that needs a password is refused
  as protected.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pypdf import PdfReader
from pypdf.errors import LimitReachedError, PdfReadError

from services.parse.book import Book, EbookError
from services.parse.limits import BookTooBig
from services.parse.readers.drafts import TITLE_JOIN, Draft, at_headings, chapter_levels, chapters_of, kept_or_all
from services.parse.readers.plaintext import text_book
from services.parse.readers.xhtml import Block
from services.parse.segmenter import fold

# possessive runs: "1" + 8,000 spaces + "x" is refused at once (the spaces were split every way: 0.5 s a line)
PAGE_NUMBER = re.compile(r"^(?:\s*+[-–—])?\s*+(page\s++)?(\d{1,4}|[ivxlc]{1,6})(?:\s*+[-–—])?\s*$", re.IGNORECASE)
SENTENCE_END = re.compile(r"[.!?:;'\"’”)\]»]$")
HEADING_RATIO = 1.15  # a line set this much larger than the body text is a heading
MAX_HEADING_CHARS = 100
FURNITURE_PAGES = 3  # a first or last line recurring on this many pages is a running head or foot
FILE_NAME_TITLE = re.compile(r"(\.(pdf|docx?|odt|tex|rtf|indd)$)|^(microsoft word - |untitled)", re.IGNORECASE)


class ProtectedPdf(EbookError):
    """A PDF that needs a password to open."""


@dataclass
class Line:
    text: str
    size: float = 0.0  # the type size most of the line is set in (0: unknown)


def _open(path: Path) -> PdfReader:
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ProtectedPdf("the PDF is protected: it needs a password to open (DRM); remove the protection "
                               "and try again")
        return reader
    except (PdfReadError, ValueError, KeyError) as exc:
        raise EbookError(f"not a readable PDF ({exc})") from None


def page_lines(page: Any) -> list[Line]:
    """A page's lines as pypdf extracts them, each with its type size."""
    lines: list[Line] = []
    text: list[str] = []
    sizes: Counter[float] = Counter()

    def close() -> None:
        lines.append(Line("".join(text), sizes.most_common(1)[0][0] if sizes else 0.0))
        text.clear()
        sizes.clear()

    def visit(piece: str, cm: Any, tm: Any, font: Any, size: float) -> None:
        scale = abs(float(tm[3]) if tm else 1.0) or 1.0
        for number, part in enumerate(piece.split("\n")):
            if number:
                close()
            text.append(part)
            if part.strip():
                sizes[round(float(size) * scale * 2) / 2] += len(part.strip())

    page.extract_text(visitor_text=visit)
    close()
    return lines


def _furniture(pages: list[list[str]]) -> set[str]:
    """Running heads and feet: first/last lines that recur (digits aside) on several pages."""
    if len(pages) < 3:
        return set()
    edges = Counter(re.sub(r"\d+", "#", line.strip()) for lines in pages if lines
                    for line in {lines[0], lines[-1]})
    least = min(FURNITURE_PAGES, (len(pages) + 1) // 2)
    return {line for line, count in edges.items() if count >= least and line}


def body_size(pages: list[list[Line]]) -> float:
    """The type size most of the book's characters are set in."""
    sizes: Counter[float] = Counter()
    for lines in pages:
        for line in lines:
            sizes[line.size] += len(line.text.strip())
    return sizes.most_common(1)[0][0] if sizes else 0.0


def _heading_levels(pages: list[list[Line]], body: float) -> dict[float, int]:
    """Heading sizes, largest first, as levels 1, 2 ..."""
    sizes = {line.size for lines in pages for line in lines if _is_heading(line, body)}
    return {size: level for level, size in enumerate(sorted(sizes, reverse=True), start=1)}


def _is_heading(line: Line, body: float) -> bool:
    bare = line.text.strip()
    return (bool(body) and line.size >= body * HEADING_RATIO and len(bare) <= MAX_HEADING_CHARS
            and any(ch.isalpha() for ch in bare) and not PAGE_NUMBER.match(bare))


def _caps_line(bare: str) -> bool:
    return 3 <= len(bare) <= 60 and bare.isupper() and not SENTENCE_END.search(bare) and " " in bare


def page_blocks(pages: list[list[Line]]) -> list[list[Block]]:
    """Each page's paragraphs and headings, page furniture dropped and lines joined."""
    furniture = _furniture([[line.text for line in lines if line.text.strip()] for lines in pages])
    body = body_size(pages)
    levels = _heading_levels(pages, body)
    lengths = [len(line.text.rstrip()) for lines in pages for line in lines if len(line.text.strip()) > 20]
    usual = statistics.median(lengths) if lengths else 60
    out: list[list[Block]] = []
    current: list[str] = []

    def close(page: list[Block]) -> None:
        if current:
            page.append(Block(" ".join(current)))
            current.clear()

    for lines in pages:
        page: list[Block] = []
        drop = ""  # a drop capital, joined to the word it begins
        for line in lines:
            bare = line.text.strip()
            if len(bare) == 1 and bare.isupper() and body and line.size > body * HEADING_RATIO:
                drop = bare  # (before page numbers: a drop capital "I" is no page "i")
                continue
            if (PAGE_NUMBER.match(bare) and bare) or re.sub(r"\d+", "#", bare) in furniture:
                continue
            bare, drop = drop + bare, ""
            if not bare:
                close(page)
                continue
            if _is_heading(line, body):
                close(page)
                level = levels[line.size]
                if page and page[-1].heading and page[-1].level == level:
                    page[-1].text += " " + bare
                else:
                    page.append(Block(bare, heading=True, level=level))
                continue
            if _caps_line(bare):  # a line in capitals alone (a title set in the body's type) is a paragraph
                close(page)
                page.append(Block(bare))
                continue
            if current and current[-1].endswith("-") and bare[:1].islower():
                current[-1] = current[-1][:-1] + bare.split(" ", 1)[0]
                rest = bare.split(" ", 1)[1] if " " in bare else ""
                if rest:
                    current.append(rest)
            else:
                current.append(bare)
            if SENTENCE_END.search(bare) and len(line.text.rstrip()) < 0.85 * usual:
                close(page)
        out.append(page)
    if current:
        out.append([Block(" ".join(current))])
    for page in out:
        for block in page:
            if block.heading:
                block.text = block.text.strip()
    return out


def paragraphs(pages: list[str]) -> list[list[str]]:
    """Each page's paragraphs from plain page texts (no type sizes): furniture dropped, lines joined."""
    blocks = page_blocks([[Line(text) for text in page.split("\n")] for page in pages])
    return [[block.text for block in page] for page in blocks]


def _destination(reader: PdfReader, item: Any) -> int | None:
    try:
        return reader.get_destination_page_number(item)
    except (AttributeError, KeyError, TypeError, ValueError, PdfReadError):
        return None


def outline_entries(reader: PdfReader) -> list[tuple[str, int]]:
    """Bookmarks two levels deep as (title, page index), a sub-entry titled with its parent's
    ("Part One — I"); an outline whose only top entry holds the rest is read from its children."""
    def walk(items: list[Any], parent: str, depth: int) -> list[tuple[str, int]]:
        if depth == 1 and len(items) == 2 and not isinstance(items[0], list) and isinstance(items[1], list):
            return walk(items[1], "", 1)  # the book's own entry holding everything
        out: list[tuple[str, int]] = []
        title = ""
        for item in items:
            if isinstance(item, list):
                if depth < 2:
                    out.extend(walk(item, title, depth + 1))
                continue
            title = " ".join(str(item.title or "").split())
            named = title if not parent or parent in title else f"{parent}{TITLE_JOIN}{title}"
            page = _destination(reader, item)
            if title and page is not None:
                out.append((named, page))
        return out

    try:
        entries = walk(list(reader.outline), "", 1)
    except (PdfReadError, ValueError, KeyError, TypeError, RecursionError):
        return []
    return entries if len({page for _, page in entries}) >= 2 else []


def _start(blocks: list[tuple[int, Block]], title: str, page: int, after: int) -> int:
    """Where the chapter named ``title`` opens: its heading on ``page`` (or the next), else the page's top."""
    name = fold(title.split(TITLE_JOIN)[-1])
    first = next((i for i, (p, _) in enumerate(blocks) if p >= page and i >= after), len(blocks))
    for i in range(first, len(blocks)):
        p, block = blocks[i]
        if p > page + 1:
            break
        text = fold(block.text)
        near = len(block.text) <= 2 * len(title) + 20
        if text and name and near and (text.startswith(name) or name.startswith(text)):
            return i
    return first


def _by_outline(by_page: list[list[Block]], outline: list[tuple[str, int]]) -> list[Draft]:
    blocks = [(number, block) for number, page in enumerate(by_page) for block in page]
    starts: list[int] = []
    for heading, page in outline:
        starts.append(_start(blocks, heading, page, starts[-1] if starts else 0))
    drafts = []  # what comes before the first entry is title matter, as in an EPUB
    for number, (heading, _) in enumerate(outline):
        end = starts[number + 1] if number + 1 < len(outline) else len(blocks)
        chapter = [b for _, b in blocks[starts[number]:end]]
        if chapter and fold(chapter[0].text) and fold(heading).endswith(fold(chapter[0].text)[:40]):
            chapter[0].heading = True
        else:
            chapter.insert(0, Block(text=heading.split(TITLE_JOIN)[-1], heading=True))  # read, as in an EPUB
        drafts.append(Draft(title=heading, blocks=chapter))
    return drafts


def _first_page_title(by_page: list[list[Block]]) -> str:
    """The first page's largest heading, else its first short line."""
    for page in by_page[:2]:
        headings = [b for b in page if b.heading]
        if headings:
            return min(headings, key=lambda b: b.level).text
    first = next((b.text for page in by_page for b in page), "")
    return first if len(first) <= MAX_HEADING_CHARS else ""


def read_pdf(path: Path, fallback_title: str) -> Book:
    """A PDF as a Book; raises EbookError (ProtectedPdf for a password-protected one)."""
    reader = _open(path)
    meta: Any = reader.metadata or {}
    title = " ".join(str(meta.get("/Title") or "").split())
    author = " ".join(str(meta.get("/Author") or "").split())
    try:
        root: Any = reader.trailer["/Root"]
        language = str(root.get("/Lang") or "")
    except (KeyError, TypeError, PdfReadError):
        language = ""
    try:
        by_page = page_blocks([page_lines(page) for page in reader.pages])
    except LimitReachedError:
        raise BookTooBig("refused: a page of the PDF unpacks to more than its reader allows (a PDF bomb?)") from None
    except (PdfReadError, ValueError, KeyError) as exc:
        raise EbookError(f"not a readable PDF ({exc})") from None
    if not any(by_page):
        raise EbookError("no readable text: the PDF has no text layer (a scan needs OCR first)")
    if not title or FILE_NAME_TITLE.search(title):
        title = _first_page_title(by_page) or fallback_title
    outline = outline_entries(reader)
    blocks = [block for page in by_page for block in page]
    if outline:
        drafts = _by_outline(by_page, outline)
    elif chapter_levels(blocks)[0]:
        drafts, title = at_headings(blocks, title, front=False)
    else:
        return text_book("\n\n".join(block.text for block in blocks), fallback_title, title, author, language)
    kept = kept_or_all(drafts)
    if not kept:
        raise EbookError("no readable text: the PDF has no paragraphs to read")
    return Book(title=title, author=author, language=language, chapters=chapters_of(kept))
