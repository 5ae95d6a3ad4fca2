"""Read a Kindle book (MOBI, AZW3/KF8) through the ``mobi`` library (KindleUnpack, offline).

``mobi`` unpacks a KF8 book into an EPUB and an old MOBI into one HTML file; either is then
read by this project's EPUB or HTML reader, with the same chapter rules. A DRM-protected
Kindle file cannot be unpacked: it gets a "protected" rejection.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from services.parse.book import Book, EbookError
from services.parse.limits import BookLimits
from services.parse.readers.epub import read_epub
from services.parse.readers.html import read_html


def _unpack(path: Path) -> tuple[str, str]:
    import mobi
    from loguru import logger

    logger.disable("mobi")  # the library logs every step to stderr
    try:
        folder, unpacked = mobi.extract(str(path))
    except Exception as exc:  # KindleUnpack raises bare Exceptions on bad or protected input
        text = str(exc).lower()
        if "drm" in text or "encrypt" in text:
            raise EbookError("refused: the Kindle book is protected by DRM; convert a DRM-free copy") from None
        raise EbookError(f"not a readable Kindle book: {exc}") from None
    return str(folder), str(unpacked)


CONTAINER = ('<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
             '<rootfiles><rootfile full-path="content.opf" media-type="application/oebps-package+xml"/></rootfiles>'
             '</container>')


def _as_epub(folder: Path) -> Path:
    """An old MOBI's unpacked parts (its HTML, an OPF and the NCX KindleUnpack writes from the book's
    index) zipped as the EPUB they almost are, so its chapters come from its table of contents."""
    epub = folder / "book.epub"
    with zipfile.ZipFile(epub, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/container.xml", CONTAINER)
        for part in sorted(folder.iterdir()):
            if part.name == "content.opf":  # its HTML is read as the XHTML an EPUB holds
                archive.writestr(part.name, part.read_bytes().replace(b'media-type="text/html"',
                                                                       b'media-type="application/xhtml+xml"'))
            elif part.is_file() and part != epub:
                archive.write(part, part.name, compress_type=zipfile.ZIP_DEFLATED)
    return epub


def read_kindle(path: Path, limits: BookLimits | None = None, fallback_title: str = "") -> Book:
    """A MOBI or AZW3 book as a Book; raises EbookError with a reason a person understands."""
    folder, unpacked = _unpack(path)
    try:
        if unpacked.endswith(".epub"):
            return read_epub(Path(unpacked), limits)
        if unpacked.endswith(".html"):
            package = Path(unpacked).with_name("content.opf")
            if package.exists() and Path(unpacked).with_name("toc.ncx").exists():
                return read_epub(_as_epub(package.parent), limits)  # its table of contents, as KindleUnpack wrote it
            return read_html(Path(unpacked).read_bytes(), fallback_title or path.stem)
        raise EbookError("not a readable Kindle book: it holds no text (a PDF or images only)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
