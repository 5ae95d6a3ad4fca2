"""Read a Word document (.docx) into a Book with python-docx: chapters at its headings.

Paragraph styles ``Title`` and ``Heading 1``-``Heading 9`` are headings (``Title`` above them
all); chapters start at the shallowest heading level used more than once, as in HTML. The
title and author come from the document's properties, else its ``Title`` paragraph.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import docx
from docx.enum.style import WD_STYLE_TYPE
from docx.opc.exceptions import PackageNotFoundError

from services.parse.book import Book, EbookError
from services.parse.readers.drafts import at_headings, chapters_of, kept_or_all
from services.parse.readers.plaintext import text_book
from services.parse.readers.xhtml import INVISIBLE, SPACE, Block

HEADING_STYLE = re.compile(r"^heading (\d)$", re.IGNORECASE)


def _level(style: str) -> int:
    if style.lower() == "title":
        return 1
    found = HEADING_STYLE.match(style)
    return int(found.group(1)) + 1 if found else 0


HEADING_RATIO, MAX_HEADING_CHARS = 1.15, 100  # as in a PDF: set this much larger than the body text


class _Styles:
    """A document's paragraph styles by id. (python-docx's ``paragraph.style`` scans every style of the
    document for each paragraph: 2 ms a paragraph in a plain file, quadratic in one of thousands of styles.)"""

    def __init__(self, document: Any) -> None:
        self.by_id: dict[str, Any] = {}
        for style in document.styles:
            self.by_id.setdefault(style.style_id, style)  # the first of an id, as python-docx finds it
        self.default = document.styles.default(WD_STYLE_TYPE.PARAGRAPH)

    def of(self, paragraph: Any) -> Any:
        """The paragraph's style, as ``paragraph.style`` is: its own, else the default (None if none)."""
        style = self.by_id.get(paragraph._p.style or "")
        return style if style is not None and style.type == WD_STYLE_TYPE.PARAGRAPH else self.default


def _size(paragraph: Any, style: Any) -> float:
    """The type size (pt) most of a paragraph is set in: its runs', else its ``style``'s, else 0."""
    weights: dict[float, int] = {}
    style = style.font.size.pt if style is not None and style.font.size else 0.0
    for run in paragraph.runs:
        size = run.font.size.pt if run.font.size else style
        weights[size] = weights.get(size, 0) + len(run.text.strip())
    return max(weights, key=lambda size: weights[size]) if weights else style


def _levels_by_size(blocks: list[Block], sizes: list[float]) -> None:
    """A document with no heading styles: paragraphs set clearly larger than its body text are
    headings, the largest level 1 (a title set in 36 pt, chapters in 18 pt), in place."""
    weights: dict[float, int] = {}
    for block, size in zip(blocks, sizes, strict=True):
        weights[size] = weights.get(size, 0) + len(block.text)
    body = max(weights, key=lambda size: weights[size]) if weights else 0.0
    if not body:
        return
    larger = sorted({size for block, size in zip(blocks, sizes, strict=True)
                     if size >= body * HEADING_RATIO and len(block.text) <= MAX_HEADING_CHARS}, reverse=True)
    rank = {size: level for level, size in enumerate(larger, start=1)}  # (a list searched per paragraph: quadratic)
    for block, size in zip(blocks, sizes, strict=True):
        if size in rank and len(block.text) <= MAX_HEADING_CHARS:
            block.heading, block.level = True, rank[size]


LINE_PER_PARAGRAPH = 0.3  # this share of empty paragraphs or more: a text pasted line by line


def _as_text(document: Any, properties: Any, fallback_title: str) -> Book:
    """A document with no headings by style or size, read as the plain text it holds (its empty
    paragraphs blank lines), with a text file's heading rules."""
    texts = [INVISIBLE.sub("", p.text) for p in document.paragraphs]
    lines = sum(not text.strip() for text in texts) >= LINE_PER_PARAGRAPH * max(1, len(texts))
    book = text_book(("\n" if lines else "\n\n").join(texts), fallback_title, (properties.title or "").strip(),
                     (properties.author or "").strip(), (properties.language or "").strip())
    return book


def read_docx(path: Path, fallback_title: str) -> Book:
    """A .docx file as a Book; raises EbookError when it cannot be read or has no text."""
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise EbookError(f"not a readable Word document ({exc})") from None
    blocks: list[Block] = []
    sizes: list[float] = []
    styles = _Styles(document)
    for paragraph in document.paragraphs:
        text = SPACE.sub(" ", INVISIBLE.sub("", paragraph.text)).strip()
        if text:
            style = styles.of(paragraph)
            level = _level(style.name if style is not None else "")
            blocks.append(Block(text=text, heading=bool(level), level=level))
            sizes.append(_size(paragraph, style))
    properties = document.core_properties
    if not any(b.level for b in blocks):
        _levels_by_size(blocks, sizes)
    if not any(b.level for b in blocks):  # no heading by style or size: what a text file would show
        return _as_text(document, properties, fallback_title)
    title = (properties.title or "").strip()
    if not title:
        top = min((b.level for b in blocks if b.level), default=0)
        title = next((b.text for b in blocks if top and b.level == top), "")
    drafts, title = at_headings(blocks, title)
    kept = kept_or_all(drafts)
    if not kept:
        raise EbookError("no readable text: the document has no paragraphs to read")
    return Book(title=title or fallback_title, author=(properties.author or "").strip(),
                language=(properties.language or "").strip(), chapters=chapters_of(kept))
