"""Benchmark 3: a second conversion reuses audio (content-addressed cache).

    .venv/bin/python bench/cache.py [CHAPTERS]

First conversion of Alice chapters 1-N with Piper (2 workers), then (a) the same book again
(the finished job is found and its book returned) and (b) another edition with the same text
(a different file, so a new job: every segment is a cache hit, only assembly runs).
"""

from __future__ import annotations

import sys

from bench.common import BOOKS, Stack, banner, subset_book, temp_folder


def main() -> None:
    chapters = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    folder = temp_folder("cache")
    source = BOOKS / "epub" / "alice_epub3-nav-only_epubjs.epub"
    book = subset_book(source, chapters, folder)
    edition = folder / "other-edition"
    edition.mkdir()
    other = subset_book(source, chapters, edition, edition=" (second edition)")  # same text, another file
    banner(f"book: Alice chapters 1-{chapters}")
    with Stack(temp_folder("cache-stack"), workers=2, threads=1) as stack:
        first = stack.convert(book)
        print(f"first conversion:   {first.wall_s:7.1f} s ({first.model_runs} model runs, {first.cache_hits} hits)")
        again = stack.convert(book)
        print(f"same book again:    {again.wall_s:7.2f} s (finished job reused)")
        second = stack.convert(other)
        print(f"another edition:    {second.wall_s:7.1f} s ({second.model_runs} model runs, "
              f"{second.cache_hits} cache hits)")
    banner("ratios")
    print(f"first / same book again:   {first.wall_s / max(again.wall_s, 1e-3):.0f}x (target >= 20)")
    print(f"first / another edition:   {first.wall_s / second.wall_s:.1f}x")


if __name__ == "__main__":
    main()
