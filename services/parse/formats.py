"""Which kind of book a file is, and the reader for it.

The kind comes from the content (a ZIP with ``word/document.xml`` is Word, any other ZIP an
EPUB, ``%PDF`` a PDF, ``BOOKMOBI`` a Kindle book, ``<FictionBook`` FB2, an HTML tag HTML) and,
for plain text, from the name (``.md``/``.markdown`` is Markdown, else text).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from services.parse.book import Book, EbookError
from services.parse.docxbook import read_docx
from services.parse.epub import read_epub
from services.parse.htmlbook import read_html, read_markdown
from services.parse.limits import BookLimits
from services.parse.pdfbook import read_pdf
from services.parse.plaintext import decode, read_text

SUFFIXES = {"epub": ".epub", "txt": ".txt", "markdown": ".md", "html": ".html", "docx": ".docx", "pdf": ".pdf"}
NOT_YET = {"mobi": "Kindle (MOBI/AZW3)", "fb2": "FictionBook (FB2)"}


def detect(path: Path, name: str = "") -> str:
    """``epub``, ``txt``, ``markdown``, ``html``, or a kind not read yet (``pdf``, ``docx``, ``mobi``, ``fb2``)."""
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                if "word/document.xml" in archive.namelist():
                    return "docx"
        except zipfile.BadZipFile:
            pass
        return "epub"
    if head.startswith(b"%PDF"):
        return "pdf"
    if head[60:68] == b"BOOKMOBI":
        return "mobi"
    lower = head.lower()
    if b"<fictionbook" in lower:
        return "fb2"
    suffix = Path(name).suffix.lower()
    if suffix in (".md", ".markdown"):
        return "markdown"
    if suffix in (".html", ".htm", ".xhtml") or any(tag in lower for tag in (b"<html", b"<!doctype html", b"<body")):
        return "html"
    if suffix == ".epub":
        return "epub"  # not a ZIP: the EPUB reader says what is wrong with it
    return "txt"


def read_book(path: Path, limits: BookLimits | None = None, name: str = "") -> Book:
    """Read a book of any kind read here; raises EbookError with a reason a person understands."""
    kind = detect(path, name)
    if kind == "epub":
        return read_epub(path, limits)
    if kind in NOT_YET:
        raise EbookError(f"{NOT_YET[kind]} books are not read yet; EPUB, PDF, Word, text, Markdown and HTML are "
                         "(Calibre's `ebook-convert book.{0} book.epub` makes an EPUB)".format(
                             "azw3" if kind == "mobi" else kind))
    title = Path(name).stem if name else path.stem
    if kind == "docx":
        return read_docx(path, title)
    if kind == "pdf":
        return read_pdf(path, title)
    data = path.read_bytes()
    if kind == "txt":
        return read_text(data, title)
    if kind == "markdown":
        return read_markdown(decode(data), title)
    return read_html(data, title)


def source_suffix(path: Path, name: str = "") -> str:
    """The suffix a kept copy of this source is stored under (``.epub``, ``.txt``, ``.md``, ``.html``)."""
    return SUFFIXES.get(detect(path, name), ".epub")
