"""Read a Word document (.docx) into a Book with python-docx: chapters at its headings.

Paragraph styles ``Title`` and ``Heading 1``-``Heading 9`` are headings (``Title`` above them
all); chapters start at the shallowest heading level used more than once, as in HTML. The
title and author come from the document's properties, else its ``Title`` paragraph.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import docx
from docx.opc.exceptions import PackageNotFoundError

from services.parse.book import Book, EbookError
from services.parse.drafts import at_headings, chapters_of, kept_or_all
from services.parse.xhtml import INVISIBLE, SPACE, Block

HEADING_STYLE = re.compile(r"^heading (\d)$", re.IGNORECASE)


def _level(style: str) -> int:
    if style.lower() == "title":
        return 1
    found = HEADING_STYLE.match(style)
    return int(found.group(1)) + 1 if found else 0


def read_docx(path: Path, fallback_title: str) -> Book:
    """A .docx file as a Book; raises EbookError when it cannot be read or has no text."""
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise EbookError(f"not a readable Word document ({exc})") from None
    blocks = []
    for paragraph in document.paragraphs:
        text = SPACE.sub(" ", INVISIBLE.sub("", paragraph.text)).strip()
        if text:
            level = _level(paragraph.style.name if paragraph.style is not None else "")
            blocks.append(Block(text=text, heading=bool(level), level=level))
    properties = document.core_properties
    drafts, title = at_headings(blocks, (properties.title or "").strip())
    kept = kept_or_all(drafts)
    if not kept:
        raise EbookError("no readable text: the document has no paragraphs to read")
    return Book(title=title or fallback_title, author=(properties.author or "").strip(),
                language=(properties.language or "").strip(), chapters=chapters_of(kept))
