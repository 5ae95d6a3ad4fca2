"""A whole book to its M4B on the pipeline against raw Piper over the same text, side by side.

    .venv/bin/python -m bench.end_to_end [CHAPTERS] [WORKERS] [ROUNDS]

Alice (all 10 chapters unless CHAPTERS is given): raw Piper with WORKERS threads in one
process over exactly the pipeline's segments (pauses joined and levelled, as the workers do;
no encoding, no NATS), the same segments shared out to WORKERS raw processes of one thread
(the floor: what the workers' synthesis alone takes), then the pipeline with WORKERS tts
workers of one thread each, from the request to the stored M4B, its processes' CPU seconds;
ROUNDS times over (this machine's speed drifts by up to 10% between minutes), and the ratios
of the medians.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from bench.common import BOOKS, Stack, banner, raw_engine_processes, raw_engine_seconds, subset_book, temp_folder


def one_round(book: Path, workers: int, number: int) -> tuple[float, float, float]:
    """Raw Piper with ``workers`` threads, the floor, then the pipeline: their walls (s)."""
    banner(f"round {number}")
    raw, audio, segments = raw_engine_seconds(book, threads=workers)
    print(f"raw piper, {workers} threads:   {raw:7.1f} s for {audio:.0f} s of audio in {segments} segments", flush=True)
    floor = raw_engine_processes(book, workers)
    print(f"raw piper, {workers} processes x 1 thread, the segments shared out: {floor:7.1f} s", flush=True)
    with Stack(temp_folder("pipeline"), workers=workers, threads=1, preload=("piper",)) as stack:
        before = stack.cpu_seconds()
        run = stack.convert(book)
        after = stack.cpu_seconds()
    print(f"pipeline, {workers} x 1 thread: {run.wall_s:7.1f} s to the M4B stored; book parsed at "
          f"{run.parsed_s:.1f} s, first segment at {run.first_segment_s:.1f} s, last at {run.last_segment_s:.1f} s",
          flush=True)
    print("CPU seconds during the conversion: " + ", ".join(
        f"{name} {after[name] - before.get(name, 0.0):.1f}" for name in after))
    print(f"this round: pipeline / raw {run.wall_s / raw:.3f}x, floor / raw {floor / raw:.3f}x, "
          f"pipeline / floor {run.wall_s / floor:.3f}x", flush=True)
    return raw, floor, run.wall_s


def main() -> None:
    chapters = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    folder = temp_folder("end-to-end")
    book = subset_book(BOOKS / "epub" / "alice_epub3-nav-only_epubjs.epub", chapters, folder)
    banner(f"book: Alice chapters 1-{chapters}, {workers} workers, {rounds} round(s) side by side")
    walls = [one_round(book, workers, number) for number in range(1, rounds + 1)]
    raw, floor, pipeline = (statistics.median(column) for column in zip(*walls, strict=True))
    banner(f"ratios (medians of {rounds} round(s): raw {raw:.1f} s, floor {floor:.1f} s, pipeline {pipeline:.1f} s)")
    print(f"pipeline to M4B / raw piper {workers} threads: {pipeline / raw:.3f}x (target <= 0.85)")
    print(f"raw piper {workers} processes / raw piper {workers} threads: {floor / raw:.3f}x "
          "(the pipeline's floor: its workers' synthesis alone)")
    print(f"pipeline to M4B / raw piper {workers} processes: {pipeline / floor:.3f}x (what the pipeline adds)")


if __name__ == "__main__":
    main()
