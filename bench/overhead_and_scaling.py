"""Benchmarks 1 and 2: pipeline overhead vs raw Piper, and 1 vs 2 workers, on the same text.

    .venv/bin/python bench/overhead_and_scaling.py [CHAPTERS]

Runs, in one process, on the first CHAPTERS chapters of Alice (default 2):
raw Piper 1 thread, pipeline 1 worker x 1 thread, pipeline 2 workers x 1 thread,
raw Piper 2 threads (what a user would run), two raw Piper processes side by side (what the
hardware gives), and prints the ratios.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ProcessPoolExecutor

from bench.common import BOOKS, Stack, banner, raw_engine_seconds, subset_book, temp_folder


def main() -> None:
    chapters = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    folder = temp_folder("overhead")
    book = subset_book(BOOKS / "epub" / "alice_epub3-nav-only_epubjs.epub", chapters, folder)
    banner(f"book: Alice chapters 1-{chapters}")
    raw1, audio, segments = raw_engine_seconds(book, threads=1)
    print(f"raw piper, 1 thread:            {raw1:7.1f} s for {audio:.0f} s of audio in {segments} segments "
          f"(RTF {raw1 / audio:.3f})", flush=True)
    raw2, _, _ = raw_engine_seconds(book, threads=2)
    print(f"raw piper, 2 threads:           {raw2:7.1f} s", flush=True)
    started = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:  # the hardware's own scaling: two bare Piper processes
        list(pool.map(raw_engine_seconds, [book, book], [1, 1]))
    pair = time.perf_counter() - started
    print(f"two raw piper processes x 1 thread, the same text each: {pair:7.1f} s "
          f"(throughput {2 * raw1 / pair:.2f}x one process)", flush=True)
    results = {}
    for workers in (1, 2):
        with Stack(temp_folder(f"w{workers}"), workers=workers, threads=1, preload=("piper",)) as stack:
            run = stack.convert(book)
        results[workers] = run
        print(f"pipeline, {workers} worker(s) x 1 thread: {run.wall_s:7.1f} s to M4B, "
              f"{run.last_segment_s:7.1f} s to last segment ({run.model_runs} model runs)", flush=True)
    one, two = results[1], results[2]
    banner("ratios")
    print(f"overhead, pipeline 1x1 (to last segment) / raw 1 thread: {one.last_segment_s / raw1:.3f}x (target <= 1.05)")
    print(f"overhead, pipeline 1x1 (to M4B) / raw 1 thread:          {one.wall_s / raw1:.3f}x")
    print(f"scaling, 1 worker / 2 workers (to M4B):                  {one.wall_s / two.wall_s:.2f}x (target >= 1.85)")
    print(f"scaling, 1 worker / 2 workers (to last segment):         {one.last_segment_s / two.last_segment_s:.2f}x")
    print(f"best (2x1) vs raw piper 2 threads (to M4B):              {raw2 / two.wall_s:.2f}x faster (target >= 1.2)")
    print(f"tail (last segment -> M4B stored), 2 workers:            {two.wall_s - two.last_segment_s:.1f} s "
          f"= {100 * (two.wall_s - two.last_segment_s) / two.wall_s:.1f}% of total (target <= 5%)")


if __name__ == "__main__":
    main()
