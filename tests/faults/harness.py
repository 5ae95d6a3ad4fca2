"""Fault-test harness: real nats-server and service processes that tests kill with SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nats
from mutagen.mp4 import MP4

from events import names
from events.codec import decode_event
from events.projection import COMPLETED, JobState, fold
from events.types import BookParsed, Event, JobAccepted, JobCompleted, SegmentSynthesized
from services.bus import replay
from services.embedded import free_port, nats_server_binary, wait_for_port
from services.topology import object_store
from tests.conftest import ROOT


@dataclass
class Cluster:
    """A nats-server on a fixed port plus named service processes, all killable."""

    root: Path
    env_extra: dict[str, str]
    port: int = field(default_factory=free_port)
    server: subprocess.Popen[bytes] | None = None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, AUDIOBOOK_NATS_URL=self.url, AUDIOBOOK_DATA_DIR=str(self.root / "data"),
                    **self.env_extra)

    def start_server(self) -> None:
        store = self.root / "jetstream"
        store.mkdir(parents=True, exist_ok=True)
        log = open(self.root / "nats.log", "ab")  # noqa: SIM115
        self.server = subprocess.Popen(
            [nats_server_binary(), "-js", "-sd", str(store), "-a", "127.0.0.1", "-p", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_for_port(self.port, proc=self.server)

    def start(self, name: str, *args: str) -> None:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115
        env = dict(self.env, AUDIOBOOK_WORKER_NAME=name)
        self.procs[name] = subprocess.Popen([sys.executable, "-m", "services", "serve", *args],
                                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def start_services(self, workers: int = 2) -> None:
        self.start("parse", "parse")
        self.start("assemble", "assemble")
        for number in range(workers):
            self.start(f"tts{number}", "tts", "--threads", "1")

    def kill(self, name: str) -> None:
        proc = self.server if name == "nats" else self.procs[name]
        assert proc is not None and proc.poll() is None, f"{name} is not running"
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.server and self.server.poll() is None:
            self.server.terminate()
            self.server.wait(15)


async def read_events(url: str, subject: str = names.all_events_filter()) -> list[Event]:
    nc = await nats.connect(url)
    try:
        return [decode_event(m.data) for m in await replay(nc.jetstream(), names.EVENTS_STREAM, subject)]
    finally:
        await nc.close()


def the_job(events: list[Event]) -> str | None:
    accepted = [e.job_id for e in events if isinstance(e, JobAccepted)]
    return accepted[0] if accepted else None


async def wait_until(url: str, check: Callable[[list[Event]], bool], timeout: float) -> list[Event]:
    """Poll the event log until ``check`` holds (reconnecting through server restarts)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            events = await read_events(url)
            if check(events):
                return events
        except (TimeoutError, OSError, nats.errors.Error):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout}s")
        await asyncio.sleep(0.05)


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

    @property
    def redone(self) -> int:
        """Model runs beyond one per distinct piece of audio: work done twice."""
        return self.model_runs - self.distinct_audio


async def result(url: str, tmp: Path) -> Result:
    events = await read_events(url)
    job = the_job(events)
    assert job
    mine = [e for e in events if e.job_id == job]
    state: JobState = fold(job, mine)
    assert state.status == COMPLETED
    parsed = next(e for e in mine if isinstance(e, BookParsed))
    latest = {(e.chapter, e.index): e for e in synthesized(mine)}
    assert set(latest) == {(c.index, i) for c in parsed.chapters for i in range(c.segments)}
    samples = tuple(sum(e.samples for (c, _), e in latest.items() if c == ch.index) for ch in parsed.chapters)
    nc = await nats.connect(url)
    try:
        store = await object_store(nc.jetstream())
        path = tmp / f"{job}.m4b"
        with open(path, "wb") as handle:
            await store.get(state.output_object, writeinto=handle)
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
    )
