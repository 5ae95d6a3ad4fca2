"""Which kind of book a file is, and the reader for it.

The kind comes from the content (a ZIP with ``word/document.xml`` is Word, any other ZIP an
EPUB, ``%PDF`` a PDF, ``BOOKMOBI`` a Kindle book, ``<FictionBook`` FB2, an HTML tag HTML) and,
for plain text, from the name (``.md``/``.markdown`` is Markdown, else text).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from services.parse.book import Book
from services.parse.limits import BookLimits
from services.parse.readers.archive import check_archive
from services.parse.readers.docx import read_docx
from services.parse.readers.epub import read_epub
from services.parse.readers.fb2 import read_fb2, read_fb2_zip
from services.parse.readers.html import read_html, read_markdown
from services.parse.readers.kindle import read_kindle
from services.parse.readers.pdf import read_pdf
from services.parse.readers.plaintext import decode, read_text
from services.parse.readers.readalong import ReadAlongText, pieces_of, read_along_text

__all__ = ["ReadAlongText", "detect", "pieces_of", "read_along_text", "read_book", "source_suffix"]

SUFFIXES = {"epub": ".epub", "txt": ".txt", "markdown": ".md", "html": ".html", "docx": ".docx", "pdf": ".pdf",
            "mobi": ".azw3", "fb2": ".fb2", "fb2zip": ".fb2.zip"}


def detect(path: Path, name: str = "") -> str:
    """``epub``, ``docx``, ``pdf``, ``mobi`` (MOBI, AZW3), ``fb2``, ``fb2zip``, ``markdown``, ``html`` or ``txt``."""
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                if "word/document.xml" in names:
                    return "docx"
                if "META-INF/container.xml" not in names and any(n.lower().endswith(".fb2") for n in names):
                    return "fb2zip"
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
    title = Path(name).stem if name else path.stem
    if kind == "mobi":
        return read_kindle(path, limits, title)
    if kind == "fb2zip":
        return read_fb2_zip(path, limits or BookLimits(), title.removesuffix(".fb2"))
    if kind == "docx":
        check_archive(path, limits, "Word document")
        return read_docx(path, title)
    if kind == "pdf":
        return read_pdf(path, title)
    data = path.read_bytes()
    if kind == "txt":
        return read_text(data, title)
    if kind == "markdown":
        return read_markdown(decode(data), title)
    if kind == "fb2":
        return read_fb2(data, title)
    return read_html(data, title)


def source_suffix(path: Path, name: str = "") -> str:
    """The suffix a kept copy of this source is stored under (``.epub``, ``.txt``, ``.md``, ``.html``)."""
    return SUFFIXES.get(detect(path, name), ".epub")
