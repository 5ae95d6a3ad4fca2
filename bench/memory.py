"""Benchmark 5b: peak memory (RSS) of the assemble service, on a short book and on a synthetic
30-hour book, both voiced by the instant test engine. The assemble process (and any ffmpeg it
starts) is sampled every 50 ms; its kernel-kept peak (VmHWM) is read at the end.

    .venv/bin/python -m bench.memory [HOURS]
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from bench.common import BOOKS, Stack, banner, temp_folder, write_book
from services.engines.instant import TEST_VOICES
from services.parse.readers.epub import read_epub

SOURCES = ("pg84_frankenstein_epub2-ncx.epub", "pg22367_die-verwandlung_de.epub", "alice_epub3-nav-only_epubjs.epub")


def synthetic_book(folder: Path, hours: float) -> tuple[Path, float]:
    """The three books' chapters, repeated with numbered paragraphs until ``hours`` of speech."""
    ms_per_char = TEST_VOICES["default"][0]
    chapters = [c for name in SOURCES for c in read_epub(BOOKS / "epub" / name).chapters]
    out: list[tuple[str, tuple[str, ...]]] = []
    chars, volume = 0, 0
    while chars * ms_per_char / 3_600_000 < hours:
        volume += 1
        for chapter in chapters:
            paragraphs = tuple(f"{volume}.{n}. {p}" for n, p in enumerate(chapter.paragraphs))  # no cache hits
            out.append((f"{volume}: {chapter.title}", paragraphs))
            chars += sum(map(len, paragraphs))
            if chars * ms_per_char / 3_600_000 >= hours:
                break
    path = write_book(folder / f"synthetic-{hours:g}h.epub", f"bench-{hours:g}h", f"{hours:g} hours", "en", "", out)
    return path, chars * ms_per_char / 3_600_000


def _vm(pid: int, field: str) -> int:
    """A /proc/PID/status size in KiB (0 once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def measure(book: Path) -> tuple[float, float, float, int]:
    """(peak RSS of assemble MiB, of its ffmpeg children MiB, wall s, segments) for one book."""
    with Stack(temp_folder("memory-stack"), workers=2, threads=1, roles=(("parse",), ("assemble",))) as stack:
        pid = stack.services["assemble"].pid
        peak_children = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak_children
            while not done.wait(0.05):
                for child in _children(pid):
                    peak_children = max(peak_children, _vm(child, "VmHWM"), _vm(child, "VmRSS"))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        run = stack.convert(book, engine="test", voice="default")
        done.set()
        sampler.join()
        return _vm(pid, "VmHWM") / 1024, peak_children / 1024, run.wall_s, run.segments


def main() -> None:
    hours = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    folder = temp_folder("memory")
    rows = []
    for target in (hours / 10, hours):
        book, length = synthetic_book(folder, target)
        banner(f"book of {length:.1f} h (instant engine, 2 workers)")
        peak, ffmpeg_peak, wall, segments = measure(book)
        rows.append((length, peak, ffmpeg_peak))
        print(f"segments: {segments}, wall: {wall:.1f} s")
        print(f"assemble peak RSS: {peak:.0f} MiB; its ffmpeg (remux) peak RSS: {ffmpeg_peak:.0f} MiB "
              "(target <= 300 MB)")
    (short, p1, f1), (long, p2, f2) = rows
    print(f"\n{long / short:.1f}x the audio: assemble peak {p2 / p1:.2f}x ({p1:.0f} -> {p2:.0f} MiB), "
          f"ffmpeg peak {f1:.0f} -> {f2:.0f} MiB")


if __name__ == "__main__":
    main()
