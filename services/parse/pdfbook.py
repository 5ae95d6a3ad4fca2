"""Read a PDF into a Book with pypdf: its text as a reader sees it, without the page furniture.

* Page numbers (a line that is only a number, or ``Page 12``) and running heads and feet (a
  first or last line that recurs, digits aside, on at least half of three or more pages) are
  dropped; a word hyphenated at a line end is joined.
* Lines are joined into paragraphs: a paragraph ends at a blank line, or after a line that ends
  a sentence and is clearly shorter than the page's usual line.
* Chapters: the PDF's outline (bookmarks) when it has one, each top-level entry from its page
  on; otherwise heading lines, as in a text file (``Chapter 1``, ``II.`` ...).
* An encrypted PDF that opens with no password is read; one that needs a password is refused
  as protected.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from services.parse.book import Book, EbookError
from services.parse.drafts import Draft, chapters_of, kept_or_all
from services.parse.plaintext import text_book
from services.parse.xhtml import Block

PAGE_NUMBER = re.compile(r"^\s*(page\s+)?(\d{1,4}|[ivxlc]{1,6})\s*$", re.IGNORECASE)
SENTENCE_END = re.compile(r"[.!?:;'\"’”)\]»]$")


class ProtectedPdf(EbookError):
    """A PDF that needs a password to open."""


def _open(path: Path) -> PdfReader:
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ProtectedPdf("the PDF is protected: it needs a password to open (DRM); remove the protection "
                               "and try again")
        return reader
    except (PdfReadError, ValueError, KeyError) as exc:
        raise EbookError(f"not a readable PDF ({exc})") from None


def _furniture(pages: list[list[str]]) -> set[str]:
    """Running heads and feet: first/last lines that recur (digits aside) on half the pages or more."""
    if len(pages) < 3:
        return set()
    edges = Counter(re.sub(r"\d+", "#", line.strip()) for lines in pages if lines
                    for line in {lines[0], lines[-1]})
    return {line for line, count in edges.items() if count * 2 >= len(pages) and line}


def paragraphs(pages: list[str]) -> list[list[str]]:
    """Each page's paragraphs, page furniture dropped and lines joined."""
    split = [[line.rstrip() for line in page.split("\n")] for page in pages]
    furniture = _furniture([[line for line in lines if line.strip()] for lines in split])
    lengths = [len(line) for lines in split for line in lines if len(line.strip()) > 20]
    usual = statistics.median(lengths) if lengths else 60
    out: list[list[str]] = []
    current: list[str] = []
    for lines in split:
        page: list[str] = []
        for line in lines:
            bare = line.strip()
            if (PAGE_NUMBER.match(bare) and bare) or re.sub(r"\d+", "#", bare) in furniture:
                continue
            if not bare:
                if current:
                    page.append(" ".join(current))
                    current = []
                continue
            if current and current[-1].endswith("-") and bare[:1].islower():
                current[-1] = current[-1][:-1] + bare.split(" ", 1)[0]
                rest = bare.split(" ", 1)[1] if " " in bare else ""
                if rest:
                    current.append(rest)
            else:
                current.append(bare)
            if SENTENCE_END.search(bare) and len(line) < 0.85 * usual:
                page.append(" ".join(current))
                current = []
        out.append(page)
    if current:
        out.append([" ".join(current)])
    return out


def _outline(reader: PdfReader) -> list[tuple[str, int]]:
    """Top-level bookmarks as (title, page index), in page order."""
    entries: list[tuple[str, int]] = []
    for item in reader.outline:
        if isinstance(item, list):
            continue  # sub-entries: finer marks inside a chapter
        try:
            page = reader.get_destination_page_number(item)
        except (AttributeError, KeyError, TypeError, ValueError):
            continue
        if page is not None:
            entries.append((str(item.title).strip(), page))
    return sorted((e for e in entries if e[0]), key=lambda e: e[1])


def read_pdf(path: Path, fallback_title: str) -> Book:
    """A PDF as a Book; raises EbookError (ProtectedPdf for a password-protected one)."""
    reader = _open(path)
    meta: Any = reader.metadata or {}
    title = str(meta.get("/Title") or "").strip()
    author = str(meta.get("/Author") or "").strip()
    try:
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError) as exc:
        raise EbookError(f"not a readable PDF ({exc})") from None
    by_page = paragraphs(pages)
    if not any(by_page):
        raise EbookError("no readable text: the PDF has no text layer (a scan needs OCR first)")
    outline = _outline(reader)
    if not outline:
        body = "\n\n".join(p for page in by_page for p in page)
        return text_book(body, fallback_title, title, author)
    drafts = [Draft(title=title or fallback_title, blocks=[Block(p) for page in by_page[:outline[0][1]] for p in page])]
    for number, (heading, first) in enumerate(outline):
        last = outline[number + 1][1] if number + 1 < len(outline) else len(by_page)
        blocks = [Block(p) for page in by_page[first:last] for p in page]
        if not blocks or blocks[0].text.strip().lower() != heading.lower():
            blocks.insert(0, Block(text=heading, heading=True))  # the title is read, as in an EPUB
        else:
            blocks[0].heading = True
        drafts.append(Draft(title=heading, blocks=blocks))
    kept = kept_or_all(drafts)
    if not kept:
        raise EbookError("no readable text: the PDF has no paragraphs to read")
    return Book(title=title or fallback_title, author=author, language="", chapters=chapters_of(kept))
