"""Small EPUB 3 books built in a test: chapter files, a navigation document, a package."""

from __future__ import annotations

import html
import zipfile
from pathlib import Path

import pytest


def chapter(body: str, doctype: str = "") -> str:
    """An XHTML chapter with ``body`` (and a ``doctype`` line before the root, if given)."""
    return ('<?xml version="1.0" encoding="utf-8"?>' + doctype + '<html xmlns="http://www.w3.org/1999/xhtml">'
            f"<head><title>c</title></head><body>{body}</body></html>")


def build_epub(path: Path, chapters: dict[str, str], title: str = "Book",
               entries: dict[str, str] | None = None, language: str = "en") -> Path:
    """An EPUB 3 of the given chapter files (name: XHTML), one TOC entry each: ``entries[name]``, else the
    file's name."""
    entries = entries or {}
    items = "".join(f'<item id="c{n}" href="{name}" media-type="application/xhtml+xml"/>'
                    for n, name in enumerate(chapters))
    spine = "".join(f'<itemref idref="c{n}"/>' for n in range(len(chapters)))
    toc = "".join(f'<li><a href="{name}">{html.escape(entries.get(name, name.removesuffix(".xhtml")))}</a></li>'
                  for name in chapters)
    opf = ('<?xml version="1.0" encoding="utf-8"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0" '
           'unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
           f'<dc:identifier id="id">x</dc:identifier><dc:title>{html.escape(title)}</dc:title>'
           f'<dc:language>{html.escape(language)}</dc:language>'
           '<meta property="dcterms:modified">2026-01-01T00:00:00Z</meta></metadata>'
           '<manifest><item id="nav" href="nav.xhtml" '
           f'media-type="application/xhtml+xml" properties="nav"/>{items}</manifest><spine>{spine}</spine></package>')
    nav = ('<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml" '
           'xmlns:epub="http://www.idpf.org/2007/ops"><head><title>toc</title></head><body>'
           f'<nav epub:type="toc"><ol>{toc}</ol></nav></body></html>')
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/container.xml",
                         '<?xml version="1.0"?><container version="1.0" '
                         'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
                         '<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
                         "</rootfiles></container>")
        for name, text in {"content.opf": opf, "nav.xhtml": nav, **chapters}.items():
            archive.writestr(f"OEBPS/{name}", text, compress_type=zipfile.ZIP_DEFLATED)
    return path


def _epubcheck_missing() -> bool:
    from services.testing.epubcheck import epubcheck_command, epubcheck_required

    return epubcheck_command() is None and not epubcheck_required()


# EPUBCheck (Debian's epubcheck, installed by `scripts/setup test` as root): skipped where it is not
# installed, except where AUDIOBOOK_REQUIRE_EPUBCHECK is set (CI), where its absence fails the test
needs_epubcheck = pytest.mark.skipif(_epubcheck_missing(), reason="EPUBCheck is not installed")
