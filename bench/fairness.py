"""Benchmark: a short book submitted a minute after a long one, on a fleet of simulated workers.

    .venv/bin/python -m bench.fairness [WORKERS] [RTF] [DELAY_S]     # default 8, 0.1, 60
    .venv/bin/python -m bench.fairness priority [WORKERS] [RTF]      # an urgent and a normal book at once

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

``priority``: Madame Bovary asked for as urgent and Die Verwandlung as normal at the same moment;
printed: each one's segments done while both run, and the urgent book's share of them.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import threading
import time

import nats
import orjson

from bench.common import BOOKS, PipelineRun, Stack, banner, temp_folder
from events import names
from events.types import JobAccepted, SegmentSynthesized
from services.bus.connect import server_urls
from services.testing.waiting import read_events

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


async def _shares(url: str, seconds: float) -> dict[str, int]:
    """Each request's segments done (by request id) after ``seconds`` of both running."""
    nc = await nats.connect(server_urls(url))
    js = nc.jetstream()
    try:
        await asyncio.sleep(seconds)
        events = await read_events(js)
        jobs = {e.job_id: e.request_id or "" for e in events if isinstance(e, JobAccepted)}
        done: dict[str, int] = {}
        for event in events:
            if isinstance(event, SegmentSynthesized) and event.job_id in jobs:
                done[jobs[event.job_id]] = done.get(jobs[event.job_id], 0) + 1
        return done
    finally:
        await nc.close()


def priority(workers: int, rtf: float, seconds: float = 30.0) -> None:
    banner(f"priority: an urgent and a normal book at once, {workers} workers at RTF {rtf}")
    speed = [{"AUDIOBOOK_SIMULATED_RTF": repr(rtf)}] * workers
    with Stack(temp_folder("fairness-priority"), workers=workers, threads=1, worker_env=speed) as stack:
        async def submit() -> None:
            nc = await nats.connect(server_urls(stack.url))
            for book, level in ((LONG, "urgent"), (SHORT, "normal")):
                shutil.copy(book, stack.folder / book.name)
                await nc.publish(names.REQUEST_SUBJECT, orjson.dumps({
                    "source": book.name, "engine": "test", "voice": "short", "priority": level,
                    "request_id": level}))
            await nc.flush()
            await nc.close()

        asyncio.run(submit())
        done = asyncio.run(_shares(stack.url, seconds))
    urgent, normal = done.get("urgent", 0), done.get("normal", 0)
    print(f"after {seconds:.0f} s: urgent {urgent} segments, normal {normal}: the urgent book had "
          f"{urgent / max(1, urgent + normal):.0%} of the fleet (its window weighs 4, the normal one's 1)", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "priority":
        priority(int(args[1]) if len(args) > 1 else 8, float(args[2]) if len(args) > 2 else 0.25)
        sys.exit(0)
    main(int(args[0]) if args else 8, float(args[1]) if len(args) > 1 else 0.1,
         float(args[2]) if len(args) > 2 else 60.0)
