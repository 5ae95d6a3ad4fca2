"""The dashboard, driven by Pilot against a real nats-server and a real pipeline (instant engine)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import shutil
from pathlib import Path

import nats
import pytest
from textual.widgets import DataTable

from events import names
from events.projection import CANCELLED, COMPLETED, PARSED, PAUSED
from events.types import JobAccepted
from services.app.sample import write_sample_book
from services.bus.jobs import queue_depths, queued_segments, rebuild_state
from services.bus.topology import checkpoints, object_store
from services.testing.waiting import read_events
from services.tts.worker import TtsWorker
from tests.conftest import book
from tests.integration.helpers import running
from tui.app import Dashboard

pytestmark = pytest.mark.slow


def cells(table: DataTable, key: str) -> list[str]:  # type: ignore[type-arg]
    return [str(c) for c in table.get_row(key)]


async def until(pilot, check, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    """Let the app run until ``check()`` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (found := check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the dashboard did not show it in time")
        await pilot.pause(0.2)
    return found


async def eventually(pilot, read, check, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    """Let the app run until ``check(await read())`` holds; returns what was read."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check(found := await read()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not seen in time: {found!r}")
        await pilot.pause(0.1)
    return found


async def test_jobs_chapters_workers_and_actions(js, client, settings, tmp_path: Path) -> None:
    write_sample_book(settings.input_dir / "sample.epub")
    slow = dataclasses.replace(settings, max_segment_chars=100)
    stop = asyncio.Event()
    worker = TtsWorker(js, await object_store(js, names.AUDIO_BUCKET), await checkpoints(js),
                       dataclasses.replace(slow, worker_name="dash-worker"), client)
    working = asyncio.create_task(worker.run(stop))
    app = Dashboard(lambda: nats.connect(settings.nats_url), tick=0.3)
    async with running(["parse", "assemble"], slow), app.run_test(size=(120, 36)) as pilot:
        await client.publish("convert.request", b'{"source": "sample.epub", "engine": "test", "voice": "slow"}')
        jobs = app.query_one("#job-table", DataTable)
        job = await until(pilot, lambda: next(iter(jobs.rows), None))
        job_id = str(job.value)
        row = await until(pilot, lambda: cells(jobs, job_id)[1] == "parsed" and cells(jobs, job_id))
        assert row[0] == "The Lantern Keeper" and row[-1] == job_id
        chapters = app.query_one("#chapter-table", DataTable)
        await until(pilot, lambda: chapters.row_count == 3)
        assert "The Lantern Keeper" in cells(chapters, "0")[1]

        await pilot.press("2")  # workers: the tts worker answers the control plane, busy
        table = app.query_one("#worker-table", DataTable)
        await until(pilot, lambda: any(cells(table, k)[1] == "dash-worker" and cells(table, k)[2] == "busy"
                                       for k in table.rows))
        app.save_screenshot(str(tmp_path / "workers.svg"))

        await pilot.press("1", "c")  # cancel the running job, after a confirmation
        await pilot.press("y")

        async def cancelled() -> bool:
            return (await rebuild_state(js, job_id)).status == CANCELLED

        for _ in range(100):
            if await cancelled():
                break
            await pilot.pause(0.1)
        assert await cancelled()
        await until(pilot, lambda: cells(jobs, job_id)[1] == "cancelled")

        await pilot.press("2")  # drain the tts worker (asked first): it finishes, exits, and shows as lost
        mine = next(k for k in table.rows if cells(table, k)[1] == "dash-worker")
        table.move_cursor(row=table.get_row_index(mine))
        await pilot.press("d", "y")
        await asyncio.wait_for(working, 120)  # it finishes what it holds first (slower while other tests run)
        await until(pilot, lambda: cells(table, mine)[2] == "LOST", timeout=20)
        app.save_screenshot(str(tmp_path / "lost.svg"))

        await pilot.press("1", "r")  # resume the cancelled job: a request on the bus, never a state change

        async def resumed() -> bool:
            return (await rebuild_state(js, job_id)).status not in (CANCELLED, "")

        for _ in range(100):
            if await resumed():
                break
            await pilot.pause(0.1)
        assert await resumed() and (await rebuild_state(js, job_id)).generation == 1

        # pause the job (no worker runs: its segments wait in the queue), then p again continues it
        await until(pilot, lambda: app.board.jobs[job_id].status == PARSED)  # shown as "waiting for a test worker"
        assert await queued_segments(js, job_id)
        await pilot.press("p")
        await eventually(pilot, lambda: rebuild_state(js, job_id), lambda s: s.status == PAUSED)
        assert not await queued_segments(js, job_id), "a paused job's queued segments are set aside"
        await until(pilot, lambda: cells(jobs, job_id)[1] == "paused")
        await pilot.press("p")
        state = await eventually(pilot, lambda: rebuild_state(js, job_id), lambda s: s.generation == 2)
        assert state.status == PARSED
        await eventually(pilot, lambda: queued_segments(js, job_id), bool)

        mine = tmp_path / "from-the-dashboard.epub"  # submit another book by its path on this machine
        shutil.copy(book("epub/pg22367_die-verwandlung_de.epub"), mine)
        await pilot.press("s")
        await pilot.click("#book-path")
        await pilot.press(*str(mine), "enter")
        sha = hashlib.sha256(mine.read_bytes()).hexdigest()

        async def submitted() -> bool:
            return any(isinstance(e, JobAccepted) and e.source_sha256 == sha for e in await read_events(js))

        for _ in range(150):
            if await submitted():
                break
            await pilot.pause(0.1)
        assert await submitted(), "the submitted book reached the parse service through the uploads store"

        await pilot.press("P", "y")  # pause all synthesis (asked first), then P again continues it
        for _ in range(50):
            if all(d.paused for d in await queue_depths(js)):
                break
            await pilot.pause(0.1)
        assert all(d.paused for d in await queue_depths(js))
        await until(pilot, lambda: app.paused)
        await pilot.press("P")
        for _ in range(50):
            if not any(d.paused for d in await queue_depths(js)):
                break
            await pilot.pause(0.1)
        assert not any(d.paused for d in await queue_depths(js))
    svg = (tmp_path / "workers.svg").read_text(encoding="utf-8")
    assert "dash-worker" in svg and "busy" in svg


async def test_a_finished_book_reopens_with_the_same_picture(js, client, settings) -> None:
    """Closing and reopening shows the same state: it is all rebuilt from the log."""
    write_sample_book(settings.input_dir / "sample.epub")
    async with running(["parse", "tts", "assemble"], settings):
        await client.publish("convert.request", b'{"source": "sample.epub", "engine": "test", "voice": "short"}')
        for _ in range(300):
            jobs = [k for k in (await js.stream_info("EVENTS", subjects_filter="events.*.job.completed")).state.subjects
                    or {}]
            if jobs:
                break
            await asyncio.sleep(0.1)
    job_id = jobs[0].split(".")[1]
    state = await rebuild_state(js, job_id)
    assert state.status == COMPLETED
    pictures = [await _completed_row(settings.nats_url, job_id) for _ in range(2)]
    assert pictures[0] == pictures[1]
    total = state.total_segments
    assert pictures[0][6] == "done" and pictures[0][3].endswith(f"{total}/{total}"), pictures[0]


async def _completed_row(url: str, job_id: str) -> list[str]:
    """Open the dashboard at 80x24, read the finished job's row (all but "elapsed"), close it."""
    app = Dashboard(lambda: nats.connect(url), tick=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one("#job-table", DataTable)
        row = await until(pilot, lambda: job_id in table.rows and cells(table, job_id)[1] == "completed"
                          and cells(table, job_id))
    return [value for index, value in enumerate(row) if index != 6]


async def test_convert_with_the_dashboard_follows_its_book_to_the_file(js, client, settings, tmp_path: Path) -> None:
    """`convert --dashboard`: the job is chosen when it appears, and the finished book is written."""
    from events.requests import ConvertRequest, job_id_for
    from services.app.watch import ConversionDashboard
    from services.client import PipelineClient

    sample = tmp_path / "sample.epub"
    write_sample_book(sample)
    sha = hashlib.sha256(sample.read_bytes()).hexdigest()
    job_id = job_id_for(sha, "test", "short", 1.0, None, None, None)
    output = tmp_path / "out" / "sample.m4b"
    async with running(["parse", "tts", "assemble"], settings):
        operator = PipelineClient(client, "cli")
        submission = await operator.submit(sample, ConvertRequest(engine="test", voice="short"))
        assert submission.job_id == job_id, "the client names the job as the parse service does"
        app = ConversionDashboard(operator, submission, output, tick=0.2)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.outcome is not None)
            jobs = app.query_one("#job-table", DataTable)
            # a short book can finish before the first refresh draws its row: then it is chosen as it appears
            await until(pilot, lambda: app.selected_job() == job_id)
            await until(pilot, lambda: app.query_one("#chapter-table", DataTable).row_count == 3)
            assert str(app.sub_title) == f"done: {output}"
            await until(pilot, lambda: cells(jobs, job_id)[1] == "completed")
    assert app.outcome is not None and app.outcome.ok and output.stat().st_size > 1000
