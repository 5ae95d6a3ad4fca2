"""The bundled sample book: an EPUB 3 built with ebooklib from the project's own text."""

from __future__ import annotations

import html
import struct
import zlib
from importlib.resources import files
from pathlib import Path

from ebooklib import epub


def _cover_png(width: int = 320, height: int = 480) -> bytes:
    """A small gradient cover, so the sample shows cover art in players."""
    rows = b"".join(
        b"\x00" + bytes((20 + y * 60 // height, 40 + y * 120 // height, 90 + y * 140 // height)) * width
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _chapters(text: str) -> tuple[str, list[tuple[str, list[str]]]]:
    title = ""
    chapters: list[tuple[str, list[str]]] = []
    for block in text.split("\n\n"):
        for line in block.strip().splitlines():
            if line.startswith("## "):
                chapters.append((line[3:].strip(), []))
            elif line.startswith("# "):
                title = line[2:].strip()
            elif chapters and line.strip():
                chapters[-1][1].append(line.strip())
    return title, chapters


def write_sample_book(path: Path) -> Path:
    """Write the sample EPUB to ``path`` and return it."""
    title, chapters = _chapters(files("services.app.data").joinpath("sample.txt").read_text(encoding="utf-8"))
    book = epub.EpubBook()
    book.set_identifier("audiobook-pipeline-sample-1")
    book.set_title(title)
    book.set_language("en")
    book.add_author("The audiobook-pipeline authors")
    book.set_cover("cover.png", _cover_png())
    items = []
    for number, (heading, paragraphs) in enumerate(chapters, start=1):
        item = epub.EpubHtml(title=heading, file_name=f"chapter-{number}.xhtml", lang="en")
        body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
        item.content = f'<section epub:type="chapter"><h2>{html.escape(heading)}</h2>{body}</section>'
        book.add_item(item)
        items.append(item)
    book.toc = items
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    path.parent.mkdir(parents=True, exist_ok=True)
    epub.write_epub(str(path), book)
    return path
