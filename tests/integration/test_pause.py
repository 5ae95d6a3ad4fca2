"""Pausing synthesis holds the queue (nothing lost, nothing handed out) until resumed; a restart keeps it."""

from __future__ import annotations

import asyncio
import shutil
from datetime import timedelta

from events.projection import COMPLETED
from events.types import JobAccepted
from services.bus.jobs import queue_depths, queued_segments
from services.bus.pausing import pause_synthesis, resume_synthesis
from services.bus.topology import ensure_topology
from services.testing.waiting import job_state, read_events, wait_for
from tests.conftest import book
from tests.integration.helpers import running


async def test_a_paused_queue_holds_its_work_until_resumed(js, client, settings) -> None:
    shutil.copy(book("epub/pg22367_die-verwandlung_de.epub"), settings.input_dir / "kafka.epub")
    await pause_synthesis(js, ["test"])
    await ensure_topology(js, settings)  # a service (re)starting must not undo the pause
    depths = {d.engine: d for d in await queue_depths(js)}
    assert depths["test"].paused and not depths["piper"].paused
    async with running(["parse", "tts", "assemble"], settings):
        await client.publish("convert.request", b'{"source": "kafka.epub", "engine": "test", "voice": "short"}')

        async def accepted() -> str | None:
            return next((e.job_id for e in await read_events(js) if isinstance(e, JobAccepted)), None)

        job = await wait_for(accepted)

        async def queued() -> bool:
            return (await job_state(js, job)).total_segments > 0

        await wait_for(queued)
        await asyncio.sleep(2.0)
        held = await job_state(js, job)
        depths = {d.engine: d for d in await queue_depths(js)}
        window = await queued_segments(js, job)  # the job's first window waits (parse.decide.release_window)
        assert held.done_segments == 0 and depths["test"].pending == len(window) > 0, "nothing handed out"
        await resume_synthesis(js, ["test"])

        async def done() -> bool:
            return (await job_state(js, job)).status == COMPLETED

        await wait_for(done, timeout=60)
    assert not {d.engine: d for d in await queue_depths(js)}["test"].paused


async def test_a_timed_pause_ends_by_itself(js, settings) -> None:
    until = await pause_synthesis(js, None, timedelta(seconds=2))
    assert all(d.paused for d in await queue_depths(js)) and until.tzinfo is not None
    await asyncio.sleep(3.5)
    assert not any(d.paused for d in await queue_depths(js))


async def test_pause_and_unpause_from_the_command_line(js, settings) -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "services", *args, "--nats-url", str(settings.nats_url)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "synthesis paused (piper, test) until `audiobook unpause`" in await asyncio.to_thread(
        cli, "pause", "--engine", "piper", "--engine", "test")
    assert "synthesis paused for: piper, test" in await asyncio.to_thread(cli, "status")
    assert {d.engine for d in await queue_depths(js) if d.paused} == {"piper", "test"}
    assert "synthesis continues (every engine)" in await asyncio.to_thread(cli, "unpause")
    assert not any(d.paused for d in await queue_depths(js))


async def test_one_job_paused_and_unpaused_from_the_command_line_loses_nothing(js, client, settings) -> None:
    """``pause JOB``: its queue is set aside, workers drop what they hold of it; ``unpause JOB`` finishes it."""
    import dataclasses
    import subprocess
    import sys

    from events.projection import PAUSED
    from events.types import SegmentSynthesized
    from services.app.sample import write_sample_book
    from services.bus.jobs import queued_segments
    from tests.conftest import ROOT

    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "services", *args, "--nats-url", str(settings.nats_url)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    write_sample_book(settings.input_dir / "sample.epub")
    slow = dataclasses.replace(settings, max_segment_chars=100)
    async with running(["parse", "tts", "assemble"], slow):
        await client.publish("convert.request", b'{"source": "sample.epub", "engine": "test", "voice": "slow"}')

        async def started() -> str | None:
            return next((e.job_id for e in await read_events(js) if isinstance(e, SegmentSynthesized)), None)

        job = await wait_for(started, timeout=60)
        said = await asyncio.to_thread(cli, "pause", job)
        assert said.startswith(f"paused {job}: ") and f"`audiobook unpause {job}`" in said
        paused = await job_state(js, job)
        assert paused.status == PAUSED

        async def nothing_queued() -> bool:  # (commands released as the pause came are taken back at once)
            return not await queued_segments(js, job)

        await wait_for(nothing_queued, timeout=10)
        await asyncio.sleep(3.0)  # what a worker held when the pause came may still finish; then nothing
        held = (await job_state(js, job)).done_segments
        await asyncio.sleep(2.0)
        assert (await job_state(js, job)).done_segments == held < paused.total_segments
        assert f"{job}" in (status := await asyncio.to_thread(cli, "status")) and "paused" in status

        assert "continues" in await asyncio.to_thread(cli, "unpause", job)

        async def done() -> bool:
            return (await job_state(js, job)).status == COMPLETED

        await wait_for(done, timeout=90)
    finished = await job_state(js, job)
    assert finished.generation == 1 and finished.done_segments == finished.total_segments
    positions = [(e.chapter, e.index) for e in await read_events(js)
                 if isinstance(e, SegmentSynthesized) and e.job_id == job]
    assert len(set(positions)) == finished.total_segments, "every segment once the job continued, none lost"
