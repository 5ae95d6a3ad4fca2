"""A whole book to its M4B on the pipeline against raw Piper over the same text, side by side.

    .venv/bin/python -m bench.end_to_end [CHAPTERS] [WORKERS]

Alice (all 10 chapters unless CHAPTERS is given): raw Piper with WORKERS threads in one
process over exactly the pipeline's segments (pauses joined and levelled, as the workers do;
no encoding, no NATS), then the pipeline with WORKERS tts workers of one thread each, from the
request to the stored M4B, its processes' CPU seconds, and the ratio pipeline / raw.
"""

from __future__ import annotations

import sys

from bench.common import BOOKS, Stack, banner, raw_engine_seconds, subset_book, temp_folder


def main() -> None:
    chapters = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    folder = temp_folder("end-to-end")
    book = subset_book(BOOKS / "epub" / "alice_epub3-nav-only_epubjs.epub", chapters, folder)
    banner(f"book: Alice chapters 1-{chapters}, {workers} workers")
    raw, audio, segments = raw_engine_seconds(book, threads=workers)
    print(f"raw piper, {workers} threads:   {raw:7.1f} s for {audio:.0f} s of audio in {segments} segments", flush=True)
    with Stack(temp_folder("pipeline"), workers=workers, threads=1) as stack:
        before = stack.cpu_seconds()
        run = stack.convert(book)
        after = stack.cpu_seconds()
    print(f"pipeline, {workers} x 1 thread: {run.wall_s:7.1f} s to the M4B stored; book parsed at "
          f"{run.parsed_s:.1f} s, first segment at {run.first_segment_s:.1f} s, last at {run.last_segment_s:.1f} s",
          flush=True)
    print("CPU seconds during the conversion: " + ", ".join(
        f"{name} {after[name] - before.get(name, 0.0):.1f}" for name in after))
    banner("ratio")
    print(f"pipeline to M4B / raw piper {workers} threads: {run.wall_s / raw:.3f}x (target <= 0.85)")


if __name__ == "__main__":
    main()
