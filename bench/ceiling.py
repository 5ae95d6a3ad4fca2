"""Benchmark 4: the pipeline's own ceiling, with the instant test engine (silence of the
right length, no model time): segments per second end to end, and wall time for a ~100,000-word
book (Frankenstein + Die Verwandlung + Alice, distinct text so nothing is a cache hit).

    .venv/bin/python -m bench.ceiling [WORKERS] [VOICE]

VOICE "default" (the default) speaks at the real voice's rate (53 ms per character), so the
book is ~9 hours of audio and the workers' AAC encoding dominates; "short" (8 ms per character)
makes the audio 6.6x shorter and shows the per-segment coordination cost.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench.common import BOOKS, Stack, banner, temp_folder, write_book
from services.parse.readers.epub import read_epub


def big_book(folder: Path) -> tuple[Path, int]:
    chapters = [(c.title, c.paragraphs)
                for name in ("pg84_frankenstein_epub2-ncx.epub", "pg22367_die-verwandlung_de.epub",
                             "alice_epub3-nav-only_epubjs.epub")
                for c in read_epub(BOOKS / "epub" / name).chapters]
    words = sum(len(p.split()) for _, paragraphs in chapters for p in paragraphs)
    return write_book(folder / "three-books.epub", "bench-100k", "Three books", "en", "", chapters), words


def main() -> None:
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    voice = sys.argv[2] if len(sys.argv) > 2 else "default"
    folder = temp_folder("ceiling")
    book, words = big_book(folder)
    banner(f"book: {words} words, instant engine (voice {voice!r}), {workers} workers")
    # parse and assemble in processes of their own, so each central process's CPU is its own
    with Stack(temp_folder("ceiling-stack"), workers=workers, threads=1, roles=(("parse",), ("assemble",))) as stack:
        before = stack.cpu_seconds()  # start-up (imports, models) is not the book's
        run = stack.convert(book, engine="test", voice=voice)
        cpu = {name: seconds - before.get(name, 0.0) for name, seconds in stack.cpu_seconds().items()}
    print(f"segments: {run.segments}, audio: {run.audio_s / 3600:.1f} h")
    print(f"request -> last segment: {run.last_segment_s:.1f} s = {run.segments / run.last_segment_s:.0f} segments/s "
          "(target >= 500)")
    print(f"request -> M4B stored:   {run.wall_s:.1f} s (target < 30 s for 100k words)")
    print(f"tail (last segment -> M4B): {run.wall_s - run.last_segment_s:.1f} s")
    print(f"request -> book parsed (all segments queued): {run.parsed_s:.1f} s")
    print("CPU seconds during the conversion: " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items()))
    print("CPU per segment: " + ", ".join(f"{name} {seconds / run.segments * 1000:.2f} ms"
                                          for name, seconds in cpu.items()))
    cores = os.cpu_count() or 1
    print(f"CPU per segment, all processes: {sum(cpu.values()) / run.segments * 1000:.2f} ms "
          f"(500 segments/s on {cores} cores allows {cores / 500 * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
