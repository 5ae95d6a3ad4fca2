"""Benchmark: what the check adds to a whole conversion. The same book to its M4B on the pipeline
with ``check`` off, a sample of a tenth, and every segment heard, side by side.

    .venv/bin/python -m bench.check_cost [CHAPTERS] [WORKERS]

Alice (chapters 1-CHAPTERS, default 2) with WORKERS tts workers of one thread (default 2) and,
when checking, one check worker of one thread, on this machine's cores. Printed per run: the
wall time from request to stored M4B, the last segment's and the last verdict's times, the
check worker's CPU seconds, the audio it heard, and each run's wall over the unchecked one.
Each run has a fresh store: nothing comes from the cache.
"""

from __future__ import annotations

import asyncio
import sys

import nats

from bench.common import BOOKS, Stack, banner, subset_book, temp_folder
from events import names
from events.types import SegmentChecked
from services.bus.connect import server_urls
from services.bus.publish import replay
from services.testing.waiting import job_events

POLICIES = ("off", "sample:0.1", "all")


async def verdicts(url: str, job: str) -> tuple[int, float, float]:
    """How many segments were heard, the audio they hold, and the last verdict's time (server clock)."""
    nc = await nats.connect(server_urls(url))
    try:
        heard = [e for e in await job_events(nc.jetstream(), job) if isinstance(e, SegmentChecked)]
        msgs = await replay(nc.jetstream(), names.EVENTS_STREAM, names.event_subject(job, SegmentChecked.KIND))
        last = max((m.metadata.timestamp.timestamp() for m in msgs), default=0.0)
        return len(heard), sum(e.seconds for e in heard), last
    finally:
        await nc.close()


def main() -> None:
    chapters = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    folder = temp_folder("check-cost")
    book = subset_book(BOOKS / "epub" / "alice_epub3-nav-only_epubjs.epub", chapters, folder)
    banner(f"book: Alice chapters 1-{chapters}, {workers} tts workers x 1 thread, one check worker x 1 thread")
    walls: dict[str, float] = {}
    for policy in POLICIES:
        roles = (("parse", "assemble"),) if policy == "off" else (("parse", "assemble"), ("check",))
        with Stack(temp_folder(f"check-{policy}"), workers=workers, threads=1, preload=("piper",), roles=roles,
                   check=policy, env={"AUDIOBOOK_TTS_THREADS": "1"}) as stack:
            before = stack.cpu_seconds()
            run = stack.convert(book)
            after = stack.cpu_seconds()
            heard, audio, _ = asyncio.run(verdicts(stack.url, run.job_id))
        walls[policy] = run.wall_s
        check_cpu = after.get("check", 0.0) - before.get("check", 0.0)
        print(f"check {policy:10}: {run.wall_s:6.1f} s to the M4B ({run.audio_s:.0f} s of audio, {run.segments} "
              f"segments; last segment at {run.last_segment_s:.1f} s); heard {heard} segments, {audio:.0f} s of "
              f"audio, check worker {check_cpu:.1f} CPU s"
              + (f" = {audio / check_cpu:.1f} s of audio per CPU s" if check_cpu else ""), flush=True)
    for policy in POLICIES[1:]:
        print(f"check {policy} / off: {walls[policy] / walls['off']:.3f}x the wall time")


if __name__ == "__main__":
    main()
