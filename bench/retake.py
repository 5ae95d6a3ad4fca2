"""Benchmark: what a person's retake costs. A book converted once on the default voice (Piper)
with 2 workers, then one segment retaken (``audiobook retake``), through the client API.

    .venv/bin/python -m bench.retake [FIRST_CHAPTER LAST_CHAPTER]

The book is Frankenstein's chapters (default 5-6) as Markdown. It prints the first conversion's
time, then the retake's, split where the log says: request -> ``job.reopened`` (the book read
again and the segment queued), -> the new take's ``segment.synthesized``, -> the rebuilt book's
``job.completed`` (streaming the whole book again from the store, the remux and the meter); and
the retake's share of the first conversion's time.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import nats

from bench.common import Stack, banner, temp_folder
from bench.edits import write_book
from events import names
from events.codec import decode_event
from events.types import JobCompleted, JobReopened, SegmentSynthesized
from services.bus.connect import server_urls
from services.bus.publish import replay
from services.client import PipelineClient


async def retake(url: str, job_id: str, position: tuple[int, int], output: Path) -> dict[str, float]:
    """Retake ``position`` of the job and follow it to its rebuilt book: the seconds to each step."""
    nc = await nats.connect(server_urls(url))
    try:
        operator = PipelineClient(nc, "bench")
        started = time.time()
        _, submission = await operator.retake(job_id, (position,))
        outcome = await operator.follow(submission, output)
        assert outcome.ok, outcome.state.reason
        steps: dict[str, float] = {}
        for msg in await replay(nc.jetstream(), names.EVENTS_STREAM, names.job_events_filter(job_id)):
            if msg.metadata.sequence.stream <= submission.since_seq:
                continue
            event, at = decode_event(msg.data), msg.metadata.timestamp.timestamp() - started
            if isinstance(event, JobReopened):
                steps.setdefault("reopened", at)
            elif isinstance(event, SegmentSynthesized) and (event.chapter, event.index) == position:
                steps.setdefault("new take", at)
            elif isinstance(event, JobCompleted):
                steps.setdefault("rebuilt", at)
        steps["followed"] = time.time() - started
        return steps
    finally:
        await nc.close()


def main() -> None:
    first, last = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (5, 6)
    folder = temp_folder("retake")
    book = write_book(folder / "frankenstein.md", first, last)
    banner(f"Frankenstein chapters {first}-{last}, Piper, 2 workers")
    with Stack(temp_folder("retake-stack"), workers=2, threads=1) as stack:
        run = stack.convert(book)
        print(f"first conversion   {run.wall_s:7.1f} s  {run.segments} segments, {run.audio_s / 60:.1f} min of audio")
        position = (run.chapters - 1, 3)
        steps = asyncio.run(retake(stack.url, run.job_id, position, folder / "retaken.m4b"))
    banner(f"retake of {position[0] + 1}.{position[1] + 1}")
    before = 0.0
    for name in ("reopened", "new take", "rebuilt"):
        print(f"  -> {name:9} {steps[name]:6.2f} s  (+{steps[name] - before:.2f} s)")
        before = steps[name]
    print(f"  followed to the book on disk: {steps['followed']:.2f} s")
    banner("ratio")
    print(f"retake: {steps['followed'] / run.wall_s:.1%} of the first conversion's time "
          f"({run.wall_s / steps['followed']:.0f}x faster)")


if __name__ == "__main__":
    main()
