"""Benchmark: a short book submitted a minute after a long one, on a fleet of simulated workers.

    .venv/bin/python -m bench.fairness [WORKERS] [RTF] [DELAY_S]     # default 8, 0.1, 60

The long book is Madame Bovary (2 h 14 min of the instant `short` voice, 35 chapters); the short
one is the first chapter of Die Verwandlung. Each worker sleeps for the audio's length times RTF
(model time that takes no CPU, as on a GPU). Three runs, each on a fresh stack:

1. idle: the short book alone;
2. shared: the long book, then the short one DELAY_S later, jobs released a window at a time
   (the default, ``AUDIOBOOK_RELEASE_WINDOW=0``);
3. first come, first served: the same with every command queued at once (a window of a million),
   as before the window.

Printed: the short book's time from its request to its M4B in each run, and its ratio to the
idle time; the long book's. Numbers are printed, never asserted.
"""

from __future__ import annotations

import sys
import threading
import time

from bench.common import BOOKS, PipelineRun, Stack, banner, temp_folder

LONG = BOOKS / "epub" / "pg14155_madame-bovary_fr.epub"
SHORT = BOOKS / "epub" / "pg22367_die-verwandlung_de.epub"
SHORT_REQUEST = {"chapters": "1"}


def run(name: str, workers: int, rtf: float, delay: float | None, window: int = 0) -> tuple[PipelineRun,
                                                                                             PipelineRun | None]:
    """The short book's run (and the long book's, when there is one) on a fresh stack."""
    env = {"AUDIOBOOK_RELEASE_WINDOW": str(window)} if window else {}
    speed = [{"AUDIOBOOK_SIMULATED_RTF": repr(rtf)}] * workers
    with Stack(temp_folder(f"fairness-{name}"), workers=workers, threads=1, env=env, worker_env=speed) as stack:
        if delay is None:
            return stack.convert(SHORT, engine="test", voice="short", extra=SHORT_REQUEST), None
        runs: dict[str, PipelineRun] = {}
        long = threading.Thread(target=lambda: runs.update(long=stack.convert(LONG, engine="test", voice="short")))
        long.start()
        time.sleep(delay)
        short = stack.convert(SHORT, engine="test", voice="short", extra=SHORT_REQUEST)
        long.join()
        return short, runs["long"]


def main(workers: int, rtf: float, delay: float) -> None:
    banner(f"fairness: {workers} workers at RTF {rtf}; the short book {delay:.0f} s after the long one")
    idle, _ = run("idle", workers, rtf, None)
    print(f"idle: the short book ({idle.segments} segments, {idle.audio_s / 60:.1f} min of audio) in "
          f"{idle.wall_s:.1f} s", flush=True)
    for name, window in (("shared", 0), ("first-come", 1_000_000)):
        short, long = run(name, workers, rtf, delay, window)
        assert long is not None
        print(f"{name}: the short book in {short.wall_s:.1f} s ({short.wall_s / idle.wall_s:.2f}x its idle time); "
              f"the long book ({long.segments} segments, {long.audio_s / 3600:.2f} h of audio) in "
              f"{long.wall_s:.1f} s", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 8, float(args[1]) if len(args) > 1 else 0.1,
         float(args[2]) if len(args) > 2 else 60.0)
