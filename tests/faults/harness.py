"""Fault-test helpers: what a job's log says and its finished book. The processes that the tests
kill with SIGKILL are started by ``services.testing.cluster.Cluster``; the log is read and
polled with ``services.testing.waiting``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nats
from mutagen.mp4 import MP4

from events import names
from events.projection import COMPLETED, JobState, fold
from events.types import BookParsed, Event, JobAccepted, JobCompleted, SegmentSynthesized
from services.bus.connect import server_urls
from services.bus.ephemeral import download_object, read_object
from services.bus.topology import ensure_topology, object_store
from services.settings import Settings
from services.testing.waiting import events_at


async def submit(url: str, raw: bytes, ack_wait_s: float) -> None:
    """Create the topology (with this ack wait) and publish a raw ``convert.request``."""
    nc = await nats.connect(server_urls(url))
    await ensure_topology(nc.jetstream(), Settings(nats_url=url, ack_wait_s=ack_wait_s))
    await nc.publish(names.REQUEST_SUBJECT, raw)
    await nc.flush()
    await nc.close()


def the_job(events: list[Event]) -> str | None:
    accepted = [e.job_id for e in events if isinstance(e, JobAccepted)]
    return accepted[0] if accepted else None


def synthesized(events: list[Event]) -> list[SegmentSynthesized]:
    return [e for e in events if isinstance(e, SegmentSynthesized)]


def completed(events: list[Event]) -> bool:
    job = the_job(events)
    return bool(job) and fold(job, [e for e in events if e.job_id == job]).status == COMPLETED  # type: ignore[arg-type]


@dataclass(frozen=True)
class Result:
    """What a finished job looks like: per-chapter samples from the log, and the M4B's chapters."""

    job_id: str
    chapter_samples: tuple[int, ...]
    m4b_chapters: tuple[tuple[str, float], ...]
    m4b_seconds: float
    model_runs: int
    segments: int
    distinct_audio: int
    completions: int
    read_along: str = ""  # the book's WebVTT cues

    @property
    def redone(self) -> int:
        """Model runs beyond one per distinct piece of audio: work done twice."""
        return self.model_runs - self.distinct_audio


async def result(url: str, tmp: Path) -> Result:
    events = await events_at(url)
    job = the_job(events)
    assert job
    mine = [e for e in events if e.job_id == job]
    state: JobState = fold(job, mine)
    assert state.status == COMPLETED
    parsed = next(e for e in mine if isinstance(e, BookParsed))
    latest = {(e.chapter, e.index): e for e in synthesized(mine)}
    assert set(latest) == {(c.index, i) for c in parsed.chapters for i in range(c.segments)}
    samples = tuple(sum(e.samples for (c, _), e in latest.items() if c == ch.index) for ch in parsed.chapters)
    nc = await nats.connect(server_urls(url))
    try:
        store = await object_store(nc.jetstream())
        path = tmp / f"{job}.m4b"
        with open(path, "wb") as handle:
            await download_object(store, state.output_object, handle)
        # read as the product reads objects: tried again on a time-out (a cluster node may be gone)
        cues = (await read_object(nc.jetstream(), store, names.OBJECT_BUCKET, state.read_along_object)
                if state.read_along_object else b"")
    finally:
        await nc.close()
    audio = MP4(str(path))
    return Result(
        job_id=job, chapter_samples=samples,
        m4b_chapters=tuple((c.title, round(c.start, 2)) for c in audio.chapters),
        m4b_seconds=audio.info.length,
        model_runs=sum(1 for e in synthesized(mine) if not e.cache_hit),
        segments=len(latest),
        distinct_audio=len({e.audio_object for e in latest.values()}),
        completions=sum(1 for e in mine if isinstance(e, JobCompleted)),
        read_along=cues.decode("utf-8"),
    )
