"""Broken EPUBs as found in the wild, made from the Alice test book (one file per chapter).

Each variant damages one chapter's part of the package the way real files are damaged;
a tolerant reader converts the rest and names what it skipped.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

from tests.conftest import book

ALICE = "epub/alice_epub3-nav-only_epubjs.epub"
OPF = "OPS/package.opf"
NAV = "OPS/toc.xhtml"

Files = dict[str, bytes]


def _missing_file(files: Files) -> None:
    """The manifest names chapter 3's file; the zip does not hold it."""
    del files["OPS/chapter_003.xhtml"]


def _duplicate_id(files: Files) -> None:
    """Two manifest items share chapter 4's id (the second points at a file that does not exist)."""
    files[OPF] = files[OPF].replace(
        b'<item id="chapter_004" href="chapter_004.xhtml" media-type="application/xhtml+xml"/>',
        b'<item id="chapter_004" href="chapter_004.xhtml" media-type="application/xhtml+xml"/>'
        b'<item id="chapter_004" href="old/chapter_004.xhtml" media-type="application/xhtml+xml"/>')


def _encoded_and_cased_hrefs(files: Files) -> None:
    """Chapter 5's file has a space in its name, written percent-encoded; chapter 6's href is in
    the wrong case (the zip holds ``chapter_006.xhtml``, the manifest says ``Chapter_006.xhtml``)."""
    files["OPS/chapter 005.xhtml"] = files.pop("OPS/chapter_005.xhtml")
    files[OPF] = files[OPF].replace(b'href="chapter_005.xhtml"', b'href="chapter%20005.xhtml"')
    files[NAV] = files[NAV].replace(b'href="chapter_005.xhtml', b'href="chapter%20005.xhtml')
    files[OPF] = files[OPF].replace(b'href="chapter_006.xhtml"', b'href="Chapter_006.xhtml"')


def _bad_xhtml(files: Files) -> None:
    """Chapter 7's file is not XHTML at all (a truncated binary blob)."""
    files["OPS/chapter_007.xhtml"] = b"\x00\x01\x02garbage\xff\xfe" * 10


VARIANTS: dict[str, Callable[[Files], None]] = {
    "missing-file": _missing_file, "duplicate-id": _duplicate_id,
    "encoded-and-cased-hrefs": _encoded_and_cased_hrefs, "bad-xhtml": _bad_xhtml,
}


def broken_alice(variant: str, folder: Path) -> Path:
    """Alice with one kind of damage (see VARIANTS); the path of the new EPUB."""
    with zipfile.ZipFile(book(ALICE)) as source:
        files = {info.filename: source.read(info) for info in source.infolist()}
    VARIANTS[variant](files)
    path = folder / f"alice-{variant}.epub"
    with zipfile.ZipFile(path, "w") as out:
        out.writestr("mimetype", files.pop("mimetype"), compress_type=zipfile.ZIP_STORED)
        for name, data in files.items():
            out.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return path
