"""Benchmark 4: the pipeline's own ceiling, with the instant test engine (a quiet tone of the
right length, no model time): segments per second end to end, and wall time for a ~100,000-word
book (Frankenstein + Die Verwandlung + Alice, distinct text so nothing is a cache hit).

    .venv/bin/python bench/ceiling.py [WORKERS]
"""

from __future__ import annotations

import sys
from html import escape

from ebooklib import epub

from bench.common import BOOKS, Stack, banner, temp_folder
from services.parse.epub import read_epub


def big_book(folder):  # type: ignore[no-untyped-def]
    out = epub.EpubBook()
    out.set_identifier("bench-100k")
    out.set_title("Three books")
    out.set_language("en")
    items, words = [], 0
    for name in ("pg84_frankenstein_epub2-ncx.epub", "pg22367_die-verwandlung_de.epub",
                 "alice_epub3-nav-only_epubjs.epub"):
        book = read_epub(BOOKS / "epub" / name)
        for chapter in book.chapters:
            item = epub.EpubHtml(title=chapter.title, file_name=f"c{len(items)}.xhtml", lang="en")
            item.content = "<section>" + "".join(f"<p>{escape(p)}</p>" for p in chapter.paragraphs) + "</section>"
            words += sum(len(p.split()) for p in chapter.paragraphs)
            out.add_item(item)
            items.append(item)
    out.toc = items
    out.add_item(epub.EpubNcx())
    out.add_item(epub.EpubNav())
    out.spine = items
    path = folder / "three-books.epub"
    epub.write_epub(str(path), out)
    return path, words


def main() -> None:
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    folder = temp_folder("ceiling")
    book, words = big_book(folder)
    banner(f"book: {words} words, instant engine, {workers} workers")
    with Stack(temp_folder("ceiling-stack"), workers=workers, threads=1) as stack:
        run = stack.convert(book, engine="test", voice="default")
    print(f"segments: {run.segments}, audio: {run.audio_s / 3600:.1f} h")
    print(f"request -> last segment: {run.last_segment_s:.1f} s = {run.segments / run.last_segment_s:.0f} segments/s "
          "(target >= 500)")
    print(f"request -> M4B stored:   {run.wall_s:.1f} s (target < 30 s for 100k words)")
    print(f"tail (last segment -> M4B): {run.wall_s - run.last_segment_s:.1f} s")


if __name__ == "__main__":
    main()
